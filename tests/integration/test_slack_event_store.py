"""Slack events are taken once by the store, and approvals decided once, whichever process asks (SQLite and
PostgreSQL through the shared ``engine`` fixture)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from sales.approvals import ApprovalClosed, decide_approval, mark_executed, request_approval
from store.db import session_scope
from store.models import Approval, AuditEvent, SlackEventReceipt
from store.slack_events import claim_slack_event
from tests.unit.test_agent_support import seed_team


def test_an_event_or_its_message_is_claimed_once(engine: Engine) -> None:
    assert claim_slack_event(engine, "Ev1", client_msg_id="m-1", kind="app_mention")
    assert not claim_slack_event(engine, "Ev1", client_msg_id="m-1", kind="app_mention")  # Slack's retry
    # the same message delivered again as a `message` event (a thread reply that also mentions the bot)
    assert not claim_slack_event(engine, "Ev2", client_msg_id="m-1", kind="message")
    assert claim_slack_event(engine, "Ev3", kind="message")  # another event, no client_msg_id
    with session_scope(engine) as s:
        assert sorted(r.event_id for r in s.exec(select(SlackEventReceipt)).all()) == ["Ev1", "Ev3"]


def test_two_concurrent_deciders_record_one_decision(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        approval, _ = request_approval(
            s, team.rep, action="qualify_lead", arguments={"lead_id": team.lead_id, "amount": 1},
            record_type="lead", record_id=team.lead_id, owner_id=team.rep.user_id,
        )  # fmt: skip
        approval_id = approval.id
    assert approval_id is not None
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def decide(decider: Any, decision: Any) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as s:
                outcomes.append(decide_approval(s, decider, approval_id, decision).approval.status)
        except ApprovalClosed as exc:
            outcomes.append(exc)

    threads = [
        threading.Thread(target=decide, args=(team.manager, "approve")),
        threading.Thread(target=decide, args=(team.admin, "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 2 and sum(isinstance(o, ApprovalClosed) for o in outcomes) == 1
    with session_scope(engine) as s:
        decided = s.exec(select(AuditEvent).where(AuditEvent.record_type == "approval")).all()
        assert sorted(e.action for e in decided)[0] in ("approve_approval", "reject_approval")
        assert len([e for e in decided if e.action != "request_approval"]) == 1
        row = s.get(Approval, approval_id)
        assert row is not None and row.status in ("approved", "rejected")


def test_an_approval_is_carried_out_once(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        approval, _ = request_approval(
            s, team.rep, action="qualify_lead", arguments={"lead_id": team.lead_id},
            record_type="lead", record_id=team.lead_id, owner_id=team.rep.user_id,
        )  # fmt: skip
        decide_approval(s, team.manager, approval.id or 0, "approve")
    with session_scope(engine) as s:
        stale = s.get(Approval, approval.id)  # a second process read the row before the first carried it out
        assert stale is not None and stale.executed_at is None
        s.expunge(stale)
    with session_scope(engine) as s:
        mark_executed(s, s.get(Approval, approval.id))  # type: ignore[arg-type]
    with session_scope(engine) as s, pytest.raises(ApprovalClosed, match="already carried out"):
        mark_executed(s, stale)


def test_a_conversation_lock_makes_a_second_process_wait(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the cross-process lock is PostgreSQL's advisory lock; SQLite is one host, one process")
    from store.locks import advisory_lock

    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(10)
        with advisory_lock(engine, "conversation:slack:T:C:1"):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    with advisory_lock(engine, "conversation:slack:T:C:1"):
        inside.set()
        waiter.join(0.5)
        assert waiter.is_alive()  # still waiting for the lock
        order.append("first")
    waiter.join(10)
    assert order == ["first", "second"]
    with advisory_lock(engine, "conversation:slack:T:C:2"):  # another conversation is not held up
        pass


def test_a_cli_decision_holds_the_conversation_a_slack_click_would(engine: Engine) -> None:
    """`salesgraph approvals approve` takes the same conversation lock as a Slack app process, so a CLI
    decision racing a click on the card resumes the waiting thread once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the cross-process lock is PostgreSQL's advisory lock; SQLite is one host, one process")
    from types import SimpleNamespace

    from sqlalchemy import text

    from bots.commands.approvals import _conversation_of
    from store.locks import lock_key

    team = seed_team(engine)
    with session_scope(engine) as s:
        approval, _ = request_approval(
            s, team.rep, action="qualify_lead", arguments={"lead_id": team.lead_id, "amount": 1},
            record_type="lead", record_id=team.lead_id, owner_id=team.rep.user_id, thread_id="slack:T:C:9",
        )  # fmt: skip
        approval_id = approval.id
    assert approval_id is not None
    key = lock_key("conversation:slack:T:C:9")
    with engine.connect() as probe:
        with _conversation_of(SimpleNamespace(engine=engine), approval_id):
            assert not probe.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        assert probe.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        probe.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
