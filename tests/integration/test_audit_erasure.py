"""Personal values in audit snapshots are sealed beside the chain: readable, erasable, and still tamper-evident."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from memory.privacy import forget_contact
from sales.approvals import decide_approval
from sales.leads import LeadInput, create_lead
from sales.outbound import create_draft, request_send
from sales.qualification import request_qualification
from store.audit import ERASED, readable_events, record_event, verify_chain
from store.db import session_scope
from store.models import Approval, ApprovalStatus, AuditEvent
from tests.unit.test_agent_support import Team, seed_team

EMAIL = "zelda.quixote@acme.example"
NAME = "Zelda Quixote"
PHONE = "4155550199"
TRACES = ("zelda", "quixote", PHONE)


def _raw_text(engine: Engine) -> str:
    """Everything the audit tables and approval rows hold, as the database stores it (no model in between)."""
    queries = (
        "SELECT CAST(before AS TEXT), CAST(after AS TEXT) FROM audit_events",
        "SELECT subject, value FROM audit_personal_values",
        "SELECT CAST(arguments AS TEXT), CAST(decided_arguments AS TEXT), reason FROM approvals",
    )
    with engine.connect() as conn:
        return "\n".join(str(tuple(row)) for q in queries for row in conn.execute(text(q))).lower()


def _lead(engine: Engine, team: Team) -> int:
    with session_scope(engine) as s:
        result = create_lead(
            s, team.rep, LeadInput(name=NAME, email=EMAIL, phone=f"+1 {PHONE}", company="Acme Corp", title="CTO")
        )
        assert result.lead.id is not None
        return result.lead.id


def _person_with_history(engine: Engine, team: Team) -> int:
    """Zelda: a lead, a qualification approved (not yet executed) and a follow-up waiting for approval."""
    lead_id = _lead(engine, team)
    with session_scope(engine) as s:
        qualification = request_qualification(s, team.rep, lead_id, amount=5000, note="Zelda wants a pilot")
        assert qualification.id is not None
        decide_approval(s, team.manager, qualification.id, "approve", reason="fine, Zelda is serious")
        draft = create_draft(
            s, team.rep, to=EMAIL, subject="Pilot for Zelda", body="Hi Zelda, here is the plan.", lead_id=lead_id
        )
        assert draft.message.id is not None
        request_send(s, team.rep, draft.message.id)
    return lead_id


def test_personal_fields_are_sealed_in_the_row_and_rejoined_when_read(engine: Engine) -> None:
    team = seed_team(engine)
    lead_id = _lead(engine, team)
    with engine.connect() as conn:
        stored = " ".join(str(r) for r in conn.execute(text("SELECT CAST(after AS TEXT) FROM audit_events")))
    assert "zelda" not in stored.lower() and PHONE not in stored and '"pii"' in stored
    with session_scope(engine) as s:
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "create_lead")).all()
        [readable] = readable_events(s, [event])
        assert readable.after is not None
        assert (readable.after["name"], readable.after["email"]) == (NAME, EMAIL)
        assert readable.after["status"] == "new" and readable.after["owner_id"] == team.rep.user_id  # not personal
        assert event.record_id == str(lead_id)
        report = verify_chain(s)
    assert report.ok and report.personal_checked >= 4 and report.personal_erased == 0


def test_forgetting_erases_the_person_from_audit_and_approvals_and_the_chain_still_verifies(engine: Engine) -> None:
    team = seed_team(engine)
    _person_with_history(engine, team)
    assert all(t in _raw_text(engine) for t in ("zelda", PHONE))  # the sealed values are there before

    with session_scope(engine) as s:
        report = forget_contact(s, team.admin, EMAIL.upper(), None)
    assert report.leads_anonymised == 1 and report.messages_redacted == 1
    assert report.approvals_redacted == 2 and report.approvals_withdrawn == 1  # the follow-up was still pending
    assert report.audit_values_erased > 0 and report.older_audit_events == 0

    raw = _raw_text(engine)
    for trace in TRACES:
        assert trace not in raw, f"{trace!r} is still in the audit tables or approvals"
    with session_scope(engine) as s:
        chain = verify_chain(s)
        assert chain.ok, chain.problem
        assert chain.personal_erased == report.audit_values_erased
        [created] = readable_events(s, s.exec(select(AuditEvent).where(AuditEvent.action == "create_lead")).all())
        assert created.after is not None and created.after["name"] == ERASED and created.after["email"] == ERASED
        assert created.after["status"] == "new"  # what is not personal stays readable
        send = s.exec(select(Approval).where(Approval.action == "send_follow_up")).one()
        assert send.status == ApprovalStatus.REJECTED and "forgotten" in (send.reason or "")
    # The other lead's history is untouched.
    with session_scope(engine) as s:
        other = create_lead(s, team.rep, LeadInput(name="Otto Other", email="otto.other@initech.example"))
        assert other.receipt_id
    assert "otto.other@initech.example" in _raw_text(engine)


def test_events_written_before_sealing_are_counted_and_left_alone(engine: Engine) -> None:
    team = seed_team(engine)
    lead_id = _lead(engine, team)
    with session_scope(engine) as s:  # as an event written before revision 0004 looks: a plain snapshot
        old = record_event(
            s,
            actor_id=None,
            actor="system",
            action="create_lead",
            record_type="lead",
            record_id=lead_id,
            after={"name": NAME, "email": EMAIL},
        )
        old_hash = old.hash
    with session_scope(engine) as s:
        report = forget_contact(s, team.admin, EMAIL, None)
    assert report.older_audit_events == 1
    with session_scope(engine) as s:
        kept = s.exec(select(AuditEvent).where(AuditEvent.hash == old_hash)).one()
        assert kept.after == {"name": NAME, "email": EMAIL}
        assert verify_chain(s).ok


def test_an_edited_personal_value_or_event_is_detected(engine: Engine) -> None:
    team = seed_team(engine)
    _lead(engine, team)
    with session_scope(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "create_lead")).one()
        event_id = event.id
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE audit_personal_values SET value = '\"Someone Else\"' "
                "WHERE id = (SELECT min(id) FROM audit_personal_values WHERE event_id = :e)"
            ),
            {"e": event_id},
        )
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok and report.first_broken_id == event_id and "edited" in (report.problem or "")

    # A row removed outright (rather than erased) is reported too.
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM audit_personal_values "
                "WHERE id = (SELECT min(id) FROM audit_personal_values WHERE event_id = :e)"
            ),
            {"e": event_id},
        )
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok and report.first_broken_id == event_id and "removed" in (report.problem or "")


def test_editing_an_event_row_that_has_sealed_values_still_breaks_the_chain(engine: Engine) -> None:
    team = seed_team(engine)
    _lead(engine, team)
    with session_scope(engine) as s:
        event_id = s.exec(select(AuditEvent.id).where(AuditEvent.action == "create_lead")).one()
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone@else.example' WHERE id = :e"), {"e": event_id})
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok and report.first_broken_id == event_id and "edited" in (report.problem or "")
