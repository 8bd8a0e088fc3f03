"""Fixing mistakes from the command line: `deals edit`, `deals reopen`, `leads edit`, `undo`, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)
    env.pop("SALESGRAPH_USER", None)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
        )
        assert result.returncode == code, result.stderr + result.stdout
        return result

    return run


def test_edit_undo_and_reopen_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    cli("users", "add", "--name", "Mo Manager", "--email", "mo@x.example", "--role", "manager", "--as", "ada@x.example")
    cli(
        "users",
        "add",
        "--name",
        "Rob Rep",
        "--email",
        "rob@x.example",
        "--manager",
        "mo@x.example",
        "--as",
        "ada@x.example",
    )
    cli("deals", "create", "--name", "Acme platform", "--amount", "42000", "--as", "rob@x.example")

    edited = json.loads(
        cli(
            "deals", "edit", "1", "--amount", "45000", "--close-date", "2027-03-31", "--json", "--as", "rob@x.example"
        ).stdout
    )
    assert edited["changed"]["amount"][1] == 45000 and edited["changed"]["expected_close_date"][1] == "2027-03-31"
    refused = cli("deals", "edit", "1", "--owner", "mo@x.example", "--as", "rob@x.example", code=1)
    assert "only a manager or an admin" in refused.stderr
    nothing = cli("deals", "edit", "1", "--as", "rob@x.example", code=2)
    assert "say what to change" in nothing.stderr
    bad_date = cli("deals", "edit", "1", "--close-date", "someday maybe", "--as", "rob@x.example", code=1)
    assert "--close-date" in bad_date.stderr

    undone = cli("undo", "--as", "rob@x.example")
    assert "Undid edit deal" in undone.stdout and "amount → 42000" in undone.stdout

    cli("deals", "move", "1", "Qualified", "--as", "rob@x.example")
    cli("deals", "move", "1", "Lost", "--reason", "went quiet", "--as", "rob@x.example")
    rep = cli("deals", "reopen", "1", "--reason", "they came back", "--as", "rob@x.example", code=1)
    assert "manager" in rep.stderr
    reopened = json.loads(
        cli("deals", "reopen", "1", "--reason", "they came back", "--json", "--as", "mo@x.example").stdout
    )
    assert reopened["from_stage"] == "Lost" and reopened["to_stage"] == "Qualified"
    shown = json.loads(cli("deals", "show", "1", "--json", "--as", "mo@x.example").stdout)
    assert shown["deal"]["stage"] == "Qualified"
    log = cli("audit", "log", "--json").stdout
    actions = [event["action"] for event in json.loads(log)]
    assert {"edit_deal", "undo", "reopen_deal"} <= set(actions)
