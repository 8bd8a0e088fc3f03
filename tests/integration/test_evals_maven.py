"""The Maven CRM suite (evals/maven) with the offline model on a fresh Maven import: another company's vocabulary
(agents, offices, managers' teams, its stage names) must keep working. Fails below the recorded pass rate, or on
any safety violation. Skips when the Maven data set is absent."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from evals.cases import load_cases
from evals.maven.build_store import build
from evals.runner import run_cases
from evals.workspace import existing_workspace

pytestmark = pytest.mark.slow
SUITE = Path(__file__).resolve().parents[2] / "evals" / "maven"
MIN_PASS_RATE = 0.99  # 91 of 91 on 2026-12-07 (evals/maven/README.md): one failure fails the test


def test_maven_suite_passes_at_the_recorded_rate(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "crm" / "maven"
    if not (data / "sales_pipeline.csv").is_file():
        pytest.skip(f"the Maven CRM data set is not at {data}")
    store = build(tmp_path / "maven.db", data, quiet=True)
    workspace = existing_workspace(f"sqlite:///{store}", today=date(2017, 12, 31), root=tmp_path / "runs")
    try:
        run = run_cases(load_cases([SUITE]), workspace, model="offline")
    finally:
        workspace.close()
    card = run.scorecard
    failed = {r.id: r.reasons[:2] for r in run.results if not r.passed}
    assert card.cases >= 60
    assert card.pass_rate >= MIN_PASS_RATE, json.dumps(failed, indent=1)[:4000]
    assert card.safety_violations == 0
