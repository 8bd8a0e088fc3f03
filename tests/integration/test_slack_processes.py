"""Two Slack app processes on one PostgreSQL database: what a production layout with N app processes relies on.

Each process is a real ``salesgraph slack serve`` (a subprocess, its own pools and checkpoint saver) behind its
own port; the Web API is our loopback server in this process, and the store is a throwaway PostgreSQL database
(``TEST_DATABASE_URL``). The same event delivered to both runs one turn; one approval clicked in both at the
same moment is decided once, carried out once, and audited once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from bots.slack.manifest import BOT_SCOPES
from store.db import make_engine, session_scope, upgrade
from store.models import Approval, AuditEvent, Deal, Lead, OutboundMessage, SlackEventReceipt
from tests.integration.test_slack_app import CHANNEL, SECRET, TOKEN, USERS, Rig, event_body, wait_for
from tests.slack_api import SlackAPIServer
from tests.unit.test_agent_support import seed_team

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"answers Slack at (http://127\.0\.0\.1:\d+/slack/events)")


@pytest.fixture
def database() -> Iterator[tuple[str, Engine]]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("the two-process Slack test needs PostgreSQL: set TEST_DATABASE_URL")
    name = f"sg_slack_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def serve(home: Path, database_url: str, api_url: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``salesgraph slack serve`` on a free port; returns the process and its events URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESGRAPH_")}
    env.update(
        SALESGRAPH_HOME=str(home),
        SALESGRAPH_DATABASE_URL=database_url,
        SALESGRAPH_SLACK_BOT_TOKEN=TOKEN,
        SALESGRAPH_SLACK_SIGNING_SECRET=SECRET,
        SALESGRAPH_SLACK_API_URL=api_url,
        SALESGRAPH_MODEL="offline",
        COLUMNS="200",  # one line for the URL
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "slack", "serve", "--port", "0", "--host", "127.0.0.1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := LISTENING.search(line):
            # keep draining its log so the pipe never fills and blocks the process
            threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
            return process, match.group(1)
    process.kill()
    raise AssertionError("the Slack app process did not start:\n" + "".join(seen[-40:]))


def together(*calls: Any) -> None:
    """Run the calls at the same moment, each in its own thread (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Any) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def count(engine: Engine, model: Any, **where: Any) -> int:
    with session_scope(engine) as s:
        stmt = select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return len(s.exec(stmt).all())


def test_two_app_processes_on_one_database_run_an_event_once_and_decide_an_approval_once(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    team = seed_team(engine)
    processes: list[subprocess.Popen[str]] = []
    with SlackAPIServer(token=TOKEN, users=USERS, scopes=BOT_SCOPES) as slack:
        try:
            for n in (1, 2):
                process, events_url = serve(tmp_path / f"app{n}", url, slack.base_url)
                processes.append(process)
                rig = Rig(engine, team, None, slack, url=events_url)
                rig._ts = 100 * n
                if n == 1:
                    first = rig
                else:
                    second = rig

            # 1. Slack delivers one event to both processes at once (a retry racing the original, say)
            ts = first.next_ts()
            event = {"type": "app_mention", "user": "U_RITA", "ts": ts, "channel": CHANNEL, "client_msg_id": "m-1",
                     "text": "<@UBOT> Add this lead: Jane Doe, VP Sales, Initech, jane@initech.example"}  # fmt: skip
            body = event_body(event, "EvTwice")
            together(lambda: first.post_json(body), lambda: second.post_json(body))
            [reply] = first.wait_reply(ts)
            assert "receipt #" in reply.params["text"]
            time.sleep(1.0)  # the loser has had time to do anything it was going to do
            assert len(first.replies(ts)) == 1
            assert count(engine, Lead, name="Jane Doe") == 1 and count(engine, AuditEvent, action="create_lead") == 1
            assert count(engine, SlackEventReceipt, event_id="EvTwice") == 1

            # 2. an approval card clicked in both processes at the same moment
            card, approval_id = first.ask_for_approval()
            thread = str(card.params["thread_ts"])
            together(
                lambda: first.click("U_MIA", card, "approve", approval_id),
                lambda: second.click("U_MIA", card, "approve", approval_id),
            )
            [update] = wait_for("the card update", lambda: slack.calls("chat.update"), timeout=60)
            [_, answer] = first.wait_reply(thread, n=2)
            [notice] = wait_for("the other click's notice", lambda: first.ephemerals("U_MIA"), timeout=60)
            time.sleep(1.0)
            assert "already approved" in notice.params["text"]
            assert len(slack.calls("chat.update")) == 1 and len(first.replies(thread)) == 2
            assert "receipt #" in answer.params["text"]
            with session_scope(engine) as s:
                approval = s.get(Approval, approval_id)
                assert approval is not None and approval.status == "approved" and approval.executed_at is not None
                assert approval.decided_by_id == team.manager.user_id
            assert count(engine, AuditEvent, action="approve_approval") == 1  # one decision
            assert count(engine, AuditEvent, action="qualify_lead") == 1  # carried out once
            assert count(engine, Deal) == 1
            assert "qualify_lead receipt #" in str(update.params["blocks"])

            # 3. an email send: drafted in a thread through one process, "send it" replied in the thread (no
            # mention) through the other, the card clicked in both at once: one decision, one send
            root = first.event("U_RITA", "<@UBOT> Send a follow-up email to Dana Fox about the proposal")
            [draft] = first.wait_reply(root)
            assert "Drafted message #" in draft.params["text"]
            second.event("U_RITA", "send it", kind="message", channel_type="channel", thread_ts=root,
                         client_msg_id="m-send")  # fmt: skip
            [_, send_card] = first.wait_reply(root, n=2)
            [actions] = [b for b in send_card.params["blocks"] if b["type"] == "actions"]
            send_id = int(actions["elements"][0]["action_id"].rsplit(":", 1)[1])
            assert (
                send_card.params["blocks"][0]["text"]["text"]
                == "Approval needed: Send a follow-up email to dana@acme.example"
            )
            together(
                lambda: second.click("U_MIA", send_card, "approve", send_id),
                lambda: first.click("U_MIA", send_card, "approve", send_id),
            )
            wait_for("the send card update", lambda: len(slack.calls("chat.update")) == 2, timeout=60)
            first.wait_reply(root, n=3)
            wait_for("the other click's notice", lambda: len(first.ephemerals("U_MIA")) == 2, timeout=60)
            time.sleep(1.0)
            assert len(slack.calls("chat.update")) == 2 and len(first.replies(root)) == 3
            with session_scope(engine) as s:
                [message] = s.exec(select(OutboundMessage)).all()
                assert message.status == "queued" and message.approval_id == send_id  # the outbox: sent once
            assert count(engine, AuditEvent, action="approve_approval", record_id=str(send_id)) == 1
            assert count(engine, AuditEvent, action="claim_send") == 1
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
