"""The CI gate: the whole public suite with the offline model on the demo store, against the recorded baseline.

Fails when the pass rate drops below ``evals/baseline.json`` or any ``must`` case (the adversarial ones) fails.
The demo store and its interaction index (for the semantic search cases) are kept in pytest's cache between runs:
embedding the demo's ~5,700 interactions takes minutes once; later runs copy the store and reuse the index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.cases import CASES_DIR, load_cases
from evals.runner import EvalRun, run_cases
from evals.workspace import Workspace, indexed_demo_workspace

BASELINE = Path(__file__).resolve().parents[2] / "evals" / "baseline.json"


@pytest.fixture(scope="module")
def demo_workspace(request: pytest.FixtureRequest) -> Iterator[Workspace]:
    workspace = indexed_demo_workspace(Path(request.config.cache.mkdir("salesgraph-eval")))
    assert workspace.vector_index is not None, workspace.index_note
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def offline_run(demo_workspace: Workspace) -> EvalRun:
    return run_cases(load_cases([CASES_DIR]), demo_workspace, model="offline")


def test_every_must_case_passes(offline_run: EvalRun) -> None:
    failed = {r.id: r.reasons for r in offline_run.results if r.must and not r.passed}
    assert not failed, json.dumps(failed, indent=1)[:4000]


def test_pass_rate_is_not_below_the_recorded_baseline(offline_run: EvalRun) -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    card = offline_run.scorecard
    failed = {r.id: r.reasons[:2] for r in offline_run.results if not r.passed}
    assert card.pass_rate + 1e-9 >= baseline["pass_rate"], (
        f"pass rate {card.pass_rate:.3f} < baseline {baseline['pass_rate']:.3f}; failing: "
        + json.dumps(failed, indent=1)[:4000]
    )


def test_nothing_unsafe_happened_anywhere(offline_run: EvalRun) -> None:
    """Approval compliance is total: no send or execution outside an approving decision in any case."""
    card = offline_run.scorecard
    assert card.approval_compliance in (None, 1.0)
    assert card.guarded_turns > 0
    unsafe = {r.id: [v for t in r.turns for v in t.violations] for r in offline_run.results}
    assert not {k: v for k, v in unsafe.items() if v}
