"""Automation (issue 14), the must-show behaviours, on SQLite and PostgreSQL, with a real SMTP server on loopback:

- a stalled deal notifies its owner once and its manager once, across many scheduler ticks and a restart;
- a crash between a rule's firing and the event being marked done does not fire the rule twice;
- a reply stops a sequence (its waiting draft is withdrawn and nothing more is drafted or sent);
- a sequence email never leaves without an approved approval row, or a manager's standing approval of its template;
- an opted-out address is never emailed, by a direct send, a sequence, or the agent's send tool.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from app.services import Services
from app.settings import Settings
from bots.briefings import scheduler as sched
from bots.briefings.config import BriefingsConfig
from sales.approvals import ApprovalClosed, decide_approval
from sales.automation import RulesError, current_rule_set, parse_rules, process_outbox, set_rule_set, tick
from sales.deals import DealInput, create_deal
from sales.events import LEAD_CREATED, emit
from sales.interactions import InteractionInput, log_interaction
from sales.leads import LeadInput, create_lead
from sales.outbound import (
    DeliveryConfig,
    SmtpConfig,
    create_draft,
    record_opt_out,
    request_send,
    send_message,
)
from sales.permissions import SYSTEM
from sales.sequences import grant_standing_approval, revoke_standing_approval
from store.db import session_scope
from store.models import (
    Approval,
    AuditEvent,
    Deal,
    DomainEvent,
    Notification,
    OutboundMessage,
    RuleFiring,
    SequenceEnrolment,
)
from store.types import utcnow
from tests.integration.test_smtp_send import Inbox, smtp_server  # noqa: F401  (the loopback SMTP fixture)
from tests.unit.test_agent_support import Team, seed_team

RULES: dict[str, Any] = {
    "templates": {
        "nurture-1": {
            "subject": "Ideas for {{company}}",
            "body": "Hi {{first_name}},\n\nA few ideas for {{company}} after {{last_topic}}.\n\n{{sender_name}}",
        },
        "nurture-2": {"subject": "Checking in", "body": "Hi {{first_name}},\n\nStill interested?\n\n{{sender_name}}"},
    },
    "sequences": {
        "nurture": {"steps": [{"day": 0, "template": "nurture-1"}, {"day": 2, "template": "nurture-2"}]},
    },
    "rules": [
        {
            "name": "new-web-leads-nurture",
            "when": "lead_created",
            "if": {"source": ["web", "webinar"]},
            "then": [{"enrol_in_sequence": {"sequence": "nurture"}}],
        },
        {
            "name": "call-new-leads",
            "when": "lead_created",
            "then": [{"create_task": {"title": "Call {{name}} at {{company}}", "due_in_days": 1}}],
        },
    ],
    "escalation": {"manager_after_days": 3},
}


def _set_rules(engine: Engine, team: Team, rules: dict[str, Any] = RULES) -> None:
    with session_scope(engine) as s:
        set_rule_set(s, team.manager, parse_rules(rules, "test"))


def _smtp(port: int) -> DeliveryConfig:
    return DeliveryConfig("smtp", SmtpConfig("127.0.0.1", port, "rita@example.com"))


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with session_scope(engine, read_only=True) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def _web_lead(engine: Engine, team: Team, email: str = "lee@beta.example") -> int:
    with session_scope(engine) as s:
        result = create_lead(s, team.rep, LeadInput(name="Lee Park", email=email, company="Beta Ltd", source="Web"))
        assert result.lead.id is not None
        return result.lead.id


def test_rules_file_problems_are_all_named_and_nothing_is_stored(engine: Engine) -> None:
    team = seed_team(engine)
    bad = {
        "rules": [
            {"name": "x", "when": "lead_creatd", "then": [{"enrol_in_sequence": {"sequence": "missing"}}]},
            {"name": "x", "when": {"event": "no_reply"}, "if": {"colour": "red"}, "then": [{"shout": {}}]},
        ],
        "templates": {"t": {"subject": "Hi {{nickname}}", "body": ""}},
    }
    with pytest.raises(RulesError) as caught:
        parse_rules(bad)
    problems = caught.value.problems
    assert "rules[0] (x).when" in problems and "lead_creatd" in problems["rules[0] (x).when"]
    assert "rules[0] (x).then[0].sequence" in problems
    assert "rules[1].name" in problems and "rules[1] (x).if.colour" in problems
    assert "rules[1] (x).then[0]" in problems and "rules[1] (x).when" in problems
    assert "templates.t.subject" in problems and "templates.t.body" in problems
    with session_scope(engine) as s:
        assert current_rule_set(s).rules == ()
    with session_scope(engine) as s, pytest.raises(Exception, match="manager"):
        set_rule_set(s, team.rep, parse_rules(RULES))


def test_stalled_deal_escalates_exactly_once_across_ticks_and_a_restart(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    _set_rules(engine, team)
    with session_scope(engine) as s:
        deal = create_deal(s, team.rep, DealInput(name="Acme renewal", amount=12000)).deal
        deal_id = deal.id
    with session_scope(engine) as s:  # the deal has sat in its first stage for 40 days (the limit is 21)
        stored = s.get(Deal, deal_id)
        assert stored is not None
        stored.stage_entered_at = utcnow() - timedelta(days=40)
        s.add(stored)
    settings = Settings(home=tmp_path, database_url=engine.url.render_as_string(hide_password=False))
    sched.configure_runtime(Services(settings=settings, engine=engine), BriefingsConfig())

    owner = Notification.kind == "deal_stalled"
    manager = Notification.kind == "deal_escalated"
    for _ in range(12):
        sched.run_automation()
    assert _count(engine, Notification, owner) == 1 and _count(engine, Notification, manager) == 0
    with session_scope(engine, read_only=True) as s:
        note = s.exec(select(Notification).where(owner)).one()
        assert note.user_id == team.rep.user_id and f"#{deal_id}" in note.text

    # The scheduler process stops; three days pass (the owner was told 4 days ago); a new process starts.
    engine.dispose()
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE domain_events SET occurred_at = :at WHERE kind = 'deal_stalled'"),
            {"at": utcnow() - timedelta(days=4)},
        )
    sched.configure_runtime(Services(settings=settings, engine=engine), BriefingsConfig())
    for _ in range(12):
        sched.run_automation()
    assert _count(engine, Notification, owner) == 1
    assert _count(engine, Notification, manager) == 1
    with session_scope(engine, read_only=True) as s:
        escalated = s.exec(select(Notification).where(manager)).one()
        assert escalated.user_id == team.manager.user_id
    assert _count(engine, DomainEvent, col(DomainEvent.kind).in_(("deal_stalled", "deal_escalated"))) == 2


def test_a_crash_between_firing_and_marking_done_does_not_fire_twice(engine: Engine) -> None:
    team = seed_team(engine)
    _set_rules(engine, team)
    lead_id = _web_lead(engine, team)
    # The first run fires the rules and commits, then "crashes" before the event is marked processed.
    process_outbox(engine)
    with session_scope(engine) as s:
        s.execute(text("UPDATE domain_events SET processed_at = NULL"))
    firings = _count(engine, RuleFiring)
    assert firings == 2  # the nurture enrolment and the call task, once each
    again = process_outbox(engine)
    assert again.firings == [] and again.already_fired == 2
    assert _count(engine, RuleFiring) == 2
    assert _count(engine, SequenceEnrolment, SequenceEnrolment.lead_id == lead_id) == 1
    assert _count(engine, AuditEvent, AuditEvent.action == "fire_rule") == 2


def test_a_reply_stops_a_sequence(engine: Engine, smtp_server: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp_server
    team = seed_team(engine)
    _set_rules(engine, team)
    lead_id = _web_lead(engine, team)
    now = utcnow()
    tick(engine, _smtp(port), now=now)
    with session_scope(engine, read_only=True) as s:
        enrolment = s.exec(select(SequenceEnrolment)).one()
        assert enrolment.status == "active" and enrolment.next_step == 1
        waiting = s.exec(select(Approval).where(Approval.status == "pending")).one()
    with session_scope(engine) as s:
        log_interaction(
            s,
            team.rep,
            InteractionInput(lead_id=lead_id, channel="email", direction="inbound", subject="Re: Ideas", body="Yes!"),
        )
    for day in (0, 3, 10, 30):
        tick(engine, _smtp(port), now=now + timedelta(days=day))
    with session_scope(engine, read_only=True) as s:
        stopped = s.get(SequenceEnrolment, enrolment.id)
        assert stopped is not None and stopped.status == "stopped" and "replied" in (stopped.stop_reason or "")
        approval = s.get(Approval, waiting.id)
        assert approval is not None and approval.status == "rejected"
        assert s.exec(select(func.count()).select_from(OutboundMessage)).one() == 1  # step 2 never drafted
    assert inbox.messages == []
    with session_scope(engine) as s, pytest.raises(ApprovalClosed):
        decide_approval(s, team.manager, waiting.id or 0, "approve")


def test_a_sequence_email_leaves_only_with_an_approval_or_a_standing_approval(
    engine: Engine,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    team = seed_team(engine)
    _set_rules(engine, team)
    _web_lead(engine, team)
    now = utcnow()
    for _ in range(5):
        tick(engine, _smtp(port), now=now)
    assert inbox.messages == []  # drafted, waiting for the owner or their manager
    with session_scope(engine, read_only=True) as s:
        first = s.exec(select(Approval).where(Approval.status == "pending")).one()
    with session_scope(engine) as s:
        decide_approval(s, team.manager, first.id or 0, "approve")
    tick(engine, _smtp(port), now=now)
    tick(engine, _smtp(port), now=now)
    assert len(inbox.messages) == 1 and inbox.messages[0][2]["Subject"] == "Ideas for Beta Ltd"

    # Mia approves the second template once; it is then revoked, so the step waits for a person after all.
    rule_set = parse_rules(RULES)
    with session_scope(engine) as s:
        standing = grant_standing_approval(s, team.manager, rule_set, "nurture-2", "fine to send")
        assert standing.id is not None and standing.receipt_id is not None
        revoke_standing_approval(s, team.manager, standing.id)
    with session_scope(engine) as s:
        granted = grant_standing_approval(s, team.manager, rule_set, "nurture-2")
    for _ in range(3):
        tick(engine, _smtp(port), now=now + timedelta(days=3))
    assert len(inbox.messages) == 2 and inbox.messages[1][2]["Subject"] == "Checking in"
    with session_scope(engine, read_only=True) as s:
        sent = s.exec(select(OutboundMessage).where(OutboundMessage.status == "sent")).all()
        assert len(sent) == 2
        for message in sent:
            approval = s.get(Approval, message.approval_id)
            assert approval is not None and approval.status == "approved" and approval.executed_at is not None
            assert approval.decided_by_id == team.manager.user_id
        second = s.get(Approval, sent[1].approval_id)
        assert second is not None and second.reason == f"standing approval #{granted.id} of template 'nurture-2'"
    # A message that reached neither is never delivered, however it is asked for.
    with session_scope(engine) as s:
        draft = create_draft(s, team.rep, to="lee@beta.example", subject="Hi", body="Hello", lead_id=sent[0].lead_id)
        message_id = draft.message.id or 0
        request_send(s, team.rep, message_id)
    with pytest.raises(Exception, match="approv"):
        send_message(engine, team.rep, message_id, _smtp(port))
    assert len(inbox.messages) == 2


def test_an_opted_out_contact_is_never_emailed_by_any_path(
    engine: Engine,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    team = seed_team(engine)
    _set_rules(engine, team)
    lead_id = _web_lead(engine, team)
    now = utcnow()
    tick(engine, _smtp(port), now=now)  # enrolled, step 1 drafted and waiting
    with session_scope(engine) as s:
        waiting = s.exec(select(Approval).where(Approval.status == "pending")).one()
        # a standing approval for every template, so only the opt-out stands in the way
        for name in ("nurture-1", "nurture-2"):
            grant_standing_approval(s, team.manager, parse_rules(RULES), name)
        decide_approval(s, team.manager, waiting.id or 0, "approve")
        record_opt_out(s, team.rep, "Lee@Beta.example", reason="asked to stop")
    # 1. the sequence (its approved step, and every later one)
    for day in (0, 3, 10):
        tick(engine, _smtp(port), now=now + timedelta(days=day))
    # 2. a direct send of an approved one-off message (and one whose address the approver edits to the opted-out one)
    with session_scope(engine) as s:
        direct = create_draft(s, team.rep, to="lee@beta.example", subject="One-off", body="Hi", lead_id=lead_id)
        approval, _ = request_send(s, team.rep, direct.message.id or 0)
        decide_approval(s, team.manager, approval.id or 0, "approve")
        other = create_draft(s, team.rep, to="dana@acme.example", subject="Hi", body="Hi", lead_id=team.lead_id)
        edited, _ = request_send(s, team.rep, other.message.id or 0)
        decide_approval(s, team.manager, edited.id or 0, "edit", arguments={"to": "LEE@beta.example"})
    for message_id in (direct.message.id, other.message.id):
        result = send_message(engine, team.rep, message_id or 0, _smtp(port))
        assert not result.delivered and result.message.status == "blocked" and "opted out" in result.note
        again = send_message(engine, team.rep, message_id or 0, _smtp(port))
        assert not again.delivered
    # 3. a new enrolment is refused
    with session_scope(engine) as s:
        emit(s, LEAD_CREATED, "lead", lead_id)
    process_outbox(engine)
    assert inbox.messages == []
    with session_scope(engine, read_only=True) as s:
        enrolment = s.exec(select(SequenceEnrolment)).one()
        assert enrolment.status == "stopped" and "opted out" in (enrolment.stop_reason or "")
        blocked = s.exec(select(AuditEvent).where(AuditEvent.action == "send_blocked")).all()
        assert len(blocked) >= 2


def test_the_agents_send_tool_cannot_email_an_opted_out_contact(
    sqlite_engine: Engine,
    tmp_path: Path,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from agent.graph import build_graph
    from tests.integration.test_smtp_send import SCRIPT, _graph_run
    from tests.unit.test_agent_support import ScriptedChatModel

    inbox, port = smtp_server
    team = seed_team(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        record_opt_out(s, SYSTEM, "dana@acme.example", source="reply")
    graph = build_graph(ScriptedChatModel(steps=SCRIPT), checkpointer=InMemorySaver())
    _graph_run(sqlite_engine, tmp_path, port, team.rep, {"messages": [HumanMessage("send Dana the proposal")]}, graph)
    decision = {"decision": "approve", "decided_by": "mia@example.com"}
    _graph_run(sqlite_engine, tmp_path, port, team.rep, Command(resume=decision), graph)
    assert inbox.messages == []
    with session_scope(sqlite_engine, read_only=True) as s:
        stored = s.exec(select(OutboundMessage)).one()
        assert stored.status == "blocked" and "opted out" in (stored.error or "")


def test_the_frequency_cap_holds_a_send_without_using_up_its_approval(
    engine: Engine,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    team = seed_team(engine)
    capped = DeliveryConfig("smtp", SmtpConfig("127.0.0.1", port, "rita@example.com"), cap_messages=1, cap_days=7)
    ids = []
    with session_scope(engine) as s:
        for n in range(2):
            draft = create_draft(s, team.rep, to="dana@acme.example", subject=f"#{n}", body="Hi", lead_id=team.lead_id)
            approval, _ = request_send(s, team.rep, draft.message.id or 0)
            decide_approval(s, team.manager, approval.id or 0, "approve")
            ids.append(draft.message.id or 0)
    assert send_message(engine, team.rep, ids[0], capped).delivered
    held = send_message(engine, team.rep, ids[1], capped)
    assert not held.delivered and "frequency cap" in held.note and len(inbox.messages) == 1
    with session_scope(engine, read_only=True) as s:
        kept = s.get(Approval, held.approval.id)
        assert kept is not None and kept.executed_at is None  # it can still go once the cap allows
