"""The command line as a user drives it: real processes on a fresh workspace, checking output and exit codes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    run.home = tmp_path / "home"  # type: ignore[attr-defined]
    return run


def test_records_lifecycle_and_refusals(cli) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    cli("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--region", "East", "--as", "ada@x.example")

    created = cli(
        "leads",
        "create",
        "--name",
        "Jane Roe",
        "--email",
        "jane@acme.example",
        "--phone",
        "415 555 0123",
        "--as",
        "rob@x.example",
    )
    assert "Created lead #1 Jane Roe" in created.stdout
    assert "receipt" in created.stdout

    dup = cli(
        "leads", "create", "--name", "Jane Roe", "--email", "JANE@acme.example", "--as", "rob@x.example", ok=False
    )
    assert dup.returncode == 1
    assert "already has the same email" in dup.stderr
    assert "Traceback" not in dup.stderr

    bad = cli("leads", "create", "--name", "Bob", "--email", "bob@", "--as", "rob@x.example", ok=False)
    assert bad.returncode == 1
    assert "email" in bad.stderr

    cli("deals", "create", "--name", "Acme platform", "--account", "Acme", "--amount", "42000", "--as", "rob@x.example")
    refused = cli("deals", "move", "1", "Negotiation", "--as", "rob@x.example", ok=False)
    assert refused.returncode == 1
    assert "it can move to Qualified, Lost" in " ".join(refused.stderr.split())

    listing = cli("leads", "list", "--as", "rob@x.example")
    assert listing.stdout.count("Jane Roe") == 1

    assert "intact" in cli("audit", "verify").stdout


def test_tampering_with_the_audit_log_is_reported(cli) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    cli("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--as", "ada@x.example")
    cli("leads", "create", "--name", "Jane Roe", "--email", "jane@acme.example", "--as", "rob@x.example")
    with sqlite3.connect(cli.home / "salesgraph.db") as db:
        db.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")
    result = cli("audit", "verify", ok=False)
    assert result.returncode == 2
    assert "broken at event #2" in result.stderr
