"""Kill the process while an approval is pending, start again, and the conversation resumes where it stopped.

Runs with the SQLite checkpointer (embedded default) and the PostgreSQL one (TEST_DATABASE_URL; a throwaway
database per run). The first half runs in a real subprocess that is killed with SIGKILL while it waits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from store.db import make_engine, session_scope, upgrade
from store.models import Approval, AuditEvent, Deal
from tests.unit.test_agent_support import ScriptedChatModel, answer_with_receipt, call, seed_team

REPO = Path(__file__).resolve().parents[2]
THREAD = "restart-thread"


def _model() -> ScriptedChatModel:
    return ScriptedChatModel(steps=[call("qualify_lead", lead_name="Dana Fox", amount=18000), answer_with_receipt])


def _phase(phase: str) -> None:
    """Runs inside the subprocesses: 'ask' waits forever once the approval is pending; 'resume' decides it."""
    from agent.approval import ApprovalDecision
    from agent.context import Context
    from agent.turns import decide, open_agent, pending_requests, run_turn
    from app.services import build_services
    from sales.permissions import load_actor

    services = build_services()
    with open_agent(services, _model()) as graph:
        if phase == "ask":
            with session_scope(services.engine) as s:
                rep = load_actor(s, "rita@example.com")
            outcome = run_turn(graph, Context(actor=rep, services=services), THREAD, text="qualify Dana, 18k")
            print(json.dumps(outcome.interrupts, default=str), flush=True)
            signal.pause()  # waiting for the decision, as a chat session would, until the test kills us
        else:
            # The CLI's listing, run in this fresh process (one interpreter start instead of two).
            from typer.testing import CliRunner

            from bots.cli import app

            listed = CliRunner().invoke(app, ["approvals", "list", "--as", "mia@example.com"], env={"COLUMNS": "250"})
            waiting = pending_requests(graph, THREAD)
            decided = decide(
                graph,
                services,
                int(waiting[0]["approval_id"]),
                ApprovalDecision(decision="approve", decided_by="mia@example.com"),
            )
            assert decided.turn is not None
            report = {"listed": listed.output, "waiting": waiting, "turn": decided.turn.to_json()}
            print(json.dumps(report, default=str), flush=True)


def _env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESGRAPH_")}
    env.update({"SALESGRAPH_HOME": str(home), "PYTHONPATH": str(REPO)})
    if database_url:
        env["SALESGRAPH_DATABASE_URL"] = database_url
    return env


@pytest.fixture(params=["sqlite", "postgresql"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str | None, Any]]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'salesgraph.db'}")
        upgrade(engine)
        yield tmp_path, None, engine
        engine.dispose()
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("the PostgreSQL checkpointer test needs TEST_DATABASE_URL")
    name = f"sg_ckpt_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield tmp_path, url, engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_pending_approval_survives_a_killed_process(workspace: tuple[Path, str | None, Any]) -> None:
    home, database_url, engine = workspace
    seed_team(engine)
    env = _env(home, database_url)
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_checkpoint_restart", "ask"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        if not line:
            pytest.fail(f"the first process ended early: {first.stderr.read() if first.stderr else ''}")
        [request] = json.loads(line)
        assert request["action"] == "qualify_lead" and request["approvers"] == ["mia@example.com"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    # After the crash the request is in the approvals table (and `salesgraph approvals list` shows it, below).
    with session_scope(engine) as s:
        approval = s.exec(select(Approval)).one()
        assert approval.status == "pending" and approval.thread_id == THREAD
        assert s.exec(select(Deal)).first() is None
    # A fresh process finds the thread waiting in the checkpointer and resumes it with the decision.
    resumed = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_checkpoint_restart", "resume"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    listed = report["listed"]  # `salesgraph approvals list`, run before the decision
    assert "qualify_lead" in listed and "pending" in listed and THREAD in listed
    assert report["waiting"][0]["approval_id"] == approval.id
    answer = report["turn"]["answer"]
    receipt = int(answer.split("receipt #")[1].rstrip("."))
    with session_scope(engine) as s:
        deal = s.exec(select(Deal)).one()
        assert deal.stage == "Qualified" and float(deal.amount or 0) == 18000
        event = s.get(AuditEvent, receipt)
        assert event is not None and event.action == "qualify_lead"
        assert s.exec(select(Approval)).one().executed_at is not None
    if database_url:  # LangGraph's tables stay out of the store's schema (migrations never see them)
        with engine.connect() as conn:
            schemas = set(
                conn.execute(
                    text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'checkpoints'")
                ).scalars()
            )
        assert schemas == {"salesgraph_checkpoints"}


if __name__ == "__main__":
    _phase(sys.argv[1])
