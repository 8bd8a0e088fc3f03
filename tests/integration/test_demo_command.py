"""`salesgraph demo` — what `make demo` runs — seeds, trains, tours, and leaves a usable workspace behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_seeds_trains_runs_the_tour_and_can_run_again(tmp_path: Path) -> None:
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "demo"), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)

    def demo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", "demo", "--reset", "--no-index"],  # indexing: test_memory_ready
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=300,
        )

    first = demo()
    assert first.returncode == 0, first.stderr
    assert "Trained lead-scoring model lead-score-v1" in first.stdout
    assert "approval needed: qualify_lead" in first.stdout
    assert "recorded in the outbox" in first.stdout
    assert "Traceback" not in first.stderr

    with sqlite3.connect(tmp_path / "demo" / "salesgraph.db") as db:
        (status,) = db.execute("SELECT status FROM outbound_messages ORDER BY id").fetchone()
        approvals = db.execute("SELECT action, status FROM approvals ORDER BY id").fetchall()
    assert status == "queued"  # the outbox records it as not delivered
    # the tour's two, then the nurture sequence's first email a rule drafted, waiting for a person
    assert approvals == [("qualify_lead", "approved"), ("send_follow_up", "approved"), ("send_follow_up", "pending")]
    assert "rule 'nurture-new-web-leads' fired on event" in first.stdout
    assert "drafted and waiting for approval" in first.stdout and "notified once, notification #" in first.stdout

    again = demo()  # `make demo` runs it on every call: the reset must leave nothing behind to trip over
    assert again.returncode == 0, again.stderr
    assert "lead-score-v1" in again.stdout  # the old model files were cleared, so numbering restarts
