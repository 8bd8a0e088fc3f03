"""Approval rows and the guarded domain functions: who may decide, expiry, and fail-closed sends/qualifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from sales.approvals import ApprovalClosed, decide_approval, expire_overdue, list_approvals
from sales.errors import ApprovalRequired, InvalidInput, PermissionDenied
from sales.outbound import DeliveryConfig, create_draft, request_send, send_message
from sales.qualification import qualify_lead, request_qualification
from store.db import session_scope
from store.models import Approval, AuditEvent, Deal, Lead, MessageStatus, OutboundMessage, Task
from store.types import utcnow
from tests.unit.test_agent_support import Team, seed_team

OUTBOX = DeliveryConfig(channel="outbox")


def _draft(engine: Engine, team: Team) -> int:
    with session_scope(engine) as s:
        draft = create_draft(
            s,
            team.rep,
            to="dana@acme.example",
            subject="Next steps",
            body="Hi Dana, shall we talk?",
            lead_id=team.lead_id,
        )
        assert draft.message.id is not None
        return draft.message.id


def _request_send(engine: Engine, team: Team, message_id: int, ttl_hours: int = 72) -> int:
    with session_scope(engine) as s:
        approval, _ = request_send(s, team.rep, message_id, thread_id="t-1", ttl_hours=ttl_hours)
        assert approval.id is not None
        return approval.id


def test_send_needs_an_approved_row_even_when_called_directly(engine: Engine) -> None:
    team = seed_team(engine)
    message_id = _draft(engine, team)
    with pytest.raises(ApprovalRequired):
        send_message(engine, team.rep, message_id, OUTBOX)
    approval_id = _request_send(engine, team, message_id)
    with pytest.raises(ApprovalRequired, match="pending"):
        send_message(engine, team.rep, message_id, OUTBOX)
    with session_scope(engine) as s:
        message = s.get(OutboundMessage, message_id)
        assert message is not None and message.status == MessageStatus.PENDING_APPROVAL
        # An approval for another record cannot be borrowed: point the message at a foreign approval row.
        other = Approval(
            action="send_follow_up",
            record_type="outbound_message",
            record_id=message_id + 99,
            status="approved",
            decided_at=utcnow(),
            expires_at=utcnow() + timedelta(hours=1),
        )
        s.add(other)
        s.flush()
        message.approval_id = other.id
        s.add(message)
    with pytest.raises(ApprovalRequired, match="not send_follow_up on outbound_message"):
        send_message(engine, team.rep, message_id, OUTBOX)
    with session_scope(engine) as s:
        message = s.get(OutboundMessage, message_id)
        assert message is not None
        message.approval_id = approval_id
        s.add(message)
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "send_message")).first() is None


def test_only_owner_or_their_manager_decides_a_send_and_others_leave_it_pending(engine: Engine) -> None:
    team = seed_team(engine)
    message_id = _draft(engine, team)
    approval_id = _request_send(engine, team, message_id)
    for outsider in (team.other_rep, team.other_manager):
        with pytest.raises(PermissionDenied, match="stays pending"), session_scope(engine) as s:
            decide_approval(s, outsider, approval_id, "approve")
    with session_scope(engine) as s:
        approval = s.get(Approval, approval_id)
        assert approval is not None and approval.status == "pending"
        assert [a.id for a in list_approvals(s, team.manager)] == [approval_id]
        assert list_approvals(s, team.other_rep) == []
        result = decide_approval(s, team.manager, approval_id, "approve")
        assert result.approval.status == "approved"
    with pytest.raises(ApprovalClosed), session_scope(engine) as s:
        decide_approval(s, team.rep, approval_id, "reject", reason="changed my mind")


def test_approved_send_goes_to_the_outbox_once_with_the_edited_body(engine: Engine) -> None:
    team = seed_team(engine)
    message_id = _draft(engine, team)
    approval_id = _request_send(engine, team, message_id)
    with session_scope(engine) as s, pytest.raises(InvalidInput, match="cannot be changed"):
        decide_approval(s, team.manager, approval_id, "edit", arguments={"message_id": 5})
    with session_scope(engine) as s:
        decide_approval(s, team.manager, approval_id, "edit", arguments={"body": "Hi Dana, edited by Mia."})
    first = send_message(engine, team.rep, message_id, OUTBOX)
    assert first.message.status == MessageStatus.QUEUED
    assert not first.delivered and "NOT delivered" in first.note
    assert first.edited and first.message.body == "Hi Dana, edited by Mia."
    again = send_message(engine, team.rep, message_id, OUTBOX)
    assert again.repeated and "not repeated" in again.note
    with session_scope(engine) as s:
        receipt = s.get(AuditEvent, first.receipt_id)
        assert receipt is not None and receipt.action == "send_message" and receipt.record_id == str(message_id)
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "send_message")).all()) == 1


def test_an_expired_request_is_rejected_and_never_sends(engine: Engine) -> None:
    team = seed_team(engine)
    message_id = _draft(engine, team)
    approval_id = _request_send(engine, team, message_id, ttl_hours=1)
    with session_scope(engine) as s:
        result = decide_approval(s, team.manager, approval_id, "approve", now=utcnow() + timedelta(hours=2))
        assert result.expired and result.approval.decision == "reject"
    with pytest.raises(ApprovalRequired, match="expired"):
        send_message(engine, team.rep, message_id, OUTBOX)
    # The sweep expires other overdue requests the same way.
    other = _draft(engine, team)
    other_approval = _request_send(engine, team, other, ttl_hours=1)
    with session_scope(engine) as s:
        assert expire_overdue(s, team.admin, now=utcnow() + timedelta(hours=2)) == [other_approval]


def test_rep_cannot_approve_own_qualification_and_qualify_needs_approval(engine: Engine) -> None:
    team = seed_team(engine)
    with pytest.raises(ApprovalRequired), session_scope(engine) as s:
        qualify_lead(s, team.rep, None, team.lead_id)
    with session_scope(engine) as s:
        approval = request_qualification(s, team.rep, team.lead_id, amount=12000, thread_id="t-q")
        approval_id = approval.id
        assert approval_id is not None
    with pytest.raises(PermissionDenied), session_scope(engine) as s:
        decide_approval(s, team.rep, approval_id, "approve")
    with pytest.raises(ApprovalRequired, match="pending"), session_scope(engine) as s:
        qualify_lead(s, team.rep, approval_id, team.lead_id)
    with session_scope(engine) as s:
        decide_approval(s, team.manager, approval_id, "approve")
        result = qualify_lead(s, team.rep, approval_id, team.lead_id)
        assert result.deal.stage == "Qualified" and float(result.deal.amount or 0) == 12000
        assert result.lead.status == "qualified" and result.task_ids
    with session_scope(engine) as s:
        repeat = qualify_lead(s, team.rep, approval_id, team.lead_id)
        assert repeat.repeated
        assert len(s.exec(select(Deal).where(Deal.lead_id == team.lead_id)).all()) == 1
        lead = s.get(Lead, team.lead_id)
        assert lead is not None and lead.status == "qualified"
        assert s.exec(select(Task).where(Task.deal_id == repeat.deal.id)).first() is not None


def test_who_decides_is_configurable(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.context import approval_policy_from_env

    monkeypatch.setenv("SALESGRAPH_APPROVAL_QUALIFY", "owner_or_manager")
    monkeypatch.setenv("SALESGRAPH_APPROVAL_ADMINS_DECIDE", "false")
    policy = approval_policy_from_env()
    assert policy.rule_for("qualify_lead") == "owner_or_manager" and not policy.admins_decide
    team = seed_team(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        approval = request_qualification(s, team.rep, team.lead_id, policy=policy)
        approval_id = approval.id
        assert approval_id is not None
    with pytest.raises(PermissionDenied), session_scope(sqlite_engine) as s:
        decide_approval(s, team.admin, approval_id, "approve", policy=policy)
    with session_scope(sqlite_engine) as s:
        assert decide_approval(s, team.rep, approval_id, "approve", policy=policy).approval.status == "approved"
    monkeypatch.setenv("SALESGRAPH_APPROVAL_QUALIFY", "anyone")
    with pytest.raises(ValueError, match="qualify"):
        approval_policy_from_env()
