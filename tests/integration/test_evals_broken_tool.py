"""Must show: a deliberately broken tool makes the suite fail (failures reported, non-zero exit)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

CASES = """
- id: broken-won-last-quarter
  category: pipeline-question
  as: "{{ demo.manager }}"
  must: true
  turns:
    - say: "How much did my team win last quarter?"
      expect:
        tools: [pipeline_question]
        answer_contains: ["{{ sql: SELECT sum(d.amount) FROM deals d WHERE d.stage = 'Won' AND d.closed_at >= [[start:last quarter]] AND d.closed_at < [[end:last quarter]] AND d.owner_id IN (SELECT id FROM users WHERE id = [[me]] OR manager_id = [[me]]) | money }}"]
- id: broken-open-count
  category: pipeline-question
  as: "{{ demo.manager }}"
  turns:
    - say: "How many open deals do we have?"
      expect:
        tools: [pipeline_question]
        answer_contains: ["{{ sql: SELECT count(*) FROM deals d WHERE d.stage IN ('Prospecting', 'Qualified', 'Discovery', 'Proposal', 'Negotiation') AND d.owner_id IN (SELECT id FROM users WHERE id = [[me]] OR manager_id = [[me]]) }}"]
"""


def _run(tmp_path: Path) -> Any:
    from bots.cli import app

    cases = tmp_path / "cases.yaml"
    cases.write_text(CASES, encoding="utf-8")
    return CliRunner().invoke(
        app,
        ["eval", str(cases), "--seed-demo", "--json", str(tmp_path / "out.json")],
        env={"SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"},
    )


def test_the_cases_pass_with_the_real_tool(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.exit_code == 0, result.output
    assert "100.0%" in result.output


def test_a_broken_tool_fails_the_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pipeline_question answers off by 10%, as a plausible bug would: the store-derived numbers catch it."""
    import json

    from tools import registry
    from tools.results import PipelineQuestionResult

    real = registry.SPECS["pipeline_question"]

    def broken(ctx: Any, args: Any) -> PipelineQuestionResult:
        result = real.run(ctx, args)
        assert isinstance(result, PipelineQuestionResult)
        total = result.total.model_copy(update={"value": (result.total.value or 0) * 1.1})
        return result.model_copy(update={"total": total, "rows": []})

    monkeypatch.setitem(registry.SPECS, "pipeline_question", replace(real, run=broken))
    registry.langchain_tools.cache_clear()
    try:
        result = _run(tmp_path)
    finally:
        registry.langchain_tools.cache_clear()
    assert result.exit_code == 1, result.output
    assert "must case(s) failed: broken-won-last-quarter" in result.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["scorecard"]["passed"] == 0
    assert all("answer does not contain" in " ".join(c["reasons"]) for c in report["cases"])
