"""``salesgraph eval`` refuses bad input with one clear line and exit code 2, before any store is prepared."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "/no/such/cases.yaml"], "no such case file or folder"),
        (["eval", "--db", "sqlite:///x.db", "--seed-demo"], "not both"),
        (["eval", "--only", "no-such-case"], "no case id or category matches no-such-case"),
        (["eval", "--model", "claude", "--only", "adversarial"], "unknown model 'claude'"),
        (["eval", "--today", "yesterday", "--db", "sqlite:///x.db"], "not a date"),
        (["eval", "--db", "sqlite:////no/such/store.db", "--no-index", "--only", "adversarial"], "no SQLite database"),
    ],
)
def test_bad_input_exits_2_with_a_reason(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, args, env={"SALESGRAPH_HOME": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_malformed_case_file_names_the_key(tmp_path: Path) -> None:
    cases = tmp_path / "bad.yaml"
    cases.write_text("- id: x\n  category: c\n  as: a@b.example\n  turns: [{say: hi, expect: {tool: [a]}}]\n")
    result = CliRunner().invoke(app, ["eval", str(cases)], env={"SALESGRAPH_HOME": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 2
    assert "x: turns.0.expect.tool" in result.output
