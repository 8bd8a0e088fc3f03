"""Nurture sequences: named cadences (e.g. day 2, 5, 10) whose every email is drafted from the record and waits
for approval, or goes under a manager's standing approval of its template, never otherwise.

An enrolment moves step by step (``advance_due``). Each step's draft is one ``sequence_messages`` row (unique per
enrolment and step, so a step is drafted once however often the scheduler looks) and a send request in
``approvals``. Under a standing approval the granting manager's approval is recorded on that request through
``sales.approvals.decide_approval`` with the standing approval named as the reason; the send itself goes through
``sales.outbound.send_message`` like any other, which checks opt-outs, the frequency cap and that the sequence is
still running. A sequence stops on a reply, a stage change, an opt-out or a bounce (``stop_for_event``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sales import events as ev
from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.outbound import is_opted_out
from sales.permissions import SYSTEM, Actor, actor_for_user
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import (
    Approval,
    ApprovalStatus,
    Contact,
    Deal,
    DomainEvent,
    Interaction,
    Lead,
    MessageStatus,
    OutboundMessage,
    Role,
    SequenceEnrolment,
    SequenceMessage,
    StandingApproval,
    User,
)
from store.types import utcnow

if TYPE_CHECKING:
    from sales.automation import Facts, RuleSet, Template
    from sales.outbound import DeliveryConfig

ACTIVE = "active"
STOPPED = "stopped"
COMPLETED = "completed"
ENROLMENT_FIELDS = ("sequence", "status", "next_step", "next_due_at", "stop_reason", "lead_id", "deal_id")


def text_hash(subject: str, body: str) -> str:
    return hashlib.sha256(f"{subject}\n\n{body}".encode()).hexdigest()


def _snapshot(enrolment: SequenceEnrolment) -> dict[str, Any]:
    return {name: getattr(enrolment, name) for name in ENROLMENT_FIELDS}


def _address(session: Session, facts: Facts) -> tuple[str | None, int | None]:
    if facts.lead is not None and facts.lead.email:
        return facts.lead.email, facts.lead.contact_id
    if facts.deal is not None and facts.deal.account_id is not None:
        contact = session.exec(
            select(Contact)
            .where(Contact.account_id == facts.deal.account_id, col(Contact.email).is_not(None))
            .order_by(col(Contact.id))
        ).first()
        if contact is not None and contact.email:
            return contact.email, contact.id
    return None, None


def enrol(
    session: Session, rule_set: RuleSet, name: str, facts: Facts, now: datetime, *, reason: str, actor: Actor = SYSTEM
) -> SequenceEnrolment | None:
    """Put the record on sequence ``name`` (once per record and sequence); None when it has no address, is opted
    out or was enrolled before."""
    sequence = rule_set.sequences.get(name)
    if sequence is None:
        raise InvalidInput({"sequence": f"no sequence called {name!r} ({', '.join(rule_set.sequences) or 'none'})"})
    record_type, record = ("deal", facts.deal) if facts.deal is not None else ("lead", facts.lead)
    if record is None or record.id is None or facts.owner is None:
        return None
    address, contact_id = _address(session, facts)
    if address is None or is_opted_out(session, address):
        return None
    key = f"{name}:{record_type}:{record.id}"
    if session.exec(select(SequenceEnrolment.id).where(SequenceEnrolment.enrol_key == key)).first() is not None:
        return None
    enrolment = SequenceEnrolment(
        enrol_key=key,
        sequence=name,
        lead_id=facts.lead.id if facts.lead is not None and record_type == "lead" else None,
        deal_id=facts.deal.id if facts.deal is not None else None,
        contact_id=contact_id,
        to_address=address.lower(),
        owner_id=facts.owner.id or 0,
        next_step=0,
        next_due_at=now + timedelta(days=sequence.steps[0].day),
        enrolled_at=now,
    )
    session.add(enrolment)
    session.flush()
    enrolment.receipt_id = write_receipt(
        session,
        actor,
        "enrol_sequence",
        "sequence_enrolment",
        enrolment.id,
        after={**_snapshot(enrolment), "reason": reason},
    )
    session.add(enrolment)
    return enrolment


def stop(session: Session, enrolment: SequenceEnrolment, reason: str, now: datetime, actor: Actor = SYSTEM) -> int:
    """Stop an enrolment: no further step is drafted, and its drafts not sent yet are withdrawn. Returns a receipt."""
    from sales.approvals import withdraw_approval

    before = _snapshot(enrolment)
    enrolment.status = STOPPED
    enrolment.stop_reason = reason[:300]
    enrolment.stopped_at = now
    enrolment.next_due_at = None
    session.add(enrolment)
    rows = session.exec(select(SequenceMessage).where(SequenceMessage.enrolment_id == enrolment.id)).all()
    withdrawn: list[int] = []
    for row in rows:
        message = session.get(OutboundMessage, row.message_id)
        if message is None or message.status not in (
            MessageStatus.DRAFT,
            MessageStatus.PENDING_APPROVAL,
            MessageStatus.APPROVED,
        ):
            continue
        approval = session.get(Approval, message.approval_id) if message.approval_id else None
        if approval is not None and approval.status == ApprovalStatus.PENDING and approval.id is not None:
            withdraw_approval(session, actor, approval.id, f"the sequence stopped: {reason}")
        if approval is None or approval.executed_at is None:
            message.status = MessageStatus.REJECTED
            message.error = f"sequence stopped: {reason}"[:1000]
            session.add(message)
            withdrawn.append(message.id or 0)
    session.flush()
    return write_receipt(
        session,
        actor,
        "stop_sequence",
        "sequence_enrolment",
        enrolment.id,
        before=before,
        after={**_snapshot(enrolment), "withdrawn_message_ids": withdrawn},
    )


def stop_for_event(session: Session, event: DomainEvent, now: datetime) -> list[int]:
    """Stop the sequences a reply, stage change, bounce or opt-out ends; the enrolment ids stopped."""
    from sales.automation import current_rule_set

    payload = event.payload or {}
    reason: str | None = None
    lead_id = deal_id = None
    address: str | None = None
    if event.kind == ev.REPLY_RECEIVED:
        reason, lead_id, deal_id = "reply", payload.get("lead_id"), payload.get("deal_id")
        contact = session.get(Contact, payload["contact_id"]) if payload.get("contact_id") else None
        address = contact.email if contact is not None else None
    elif event.kind == ev.DEAL_ENTERED_STAGE and payload.get("from_stage") is not None:
        reason, deal_id = "stage_change", event.record_id
        deal = session.get(Deal, event.record_id) if event.record_id else None
        lead_id = deal.lead_id if deal is not None else None
    elif event.kind in (ev.EMAIL_BOUNCED, ev.OPTED_OUT):
        reason = "bounce" if event.kind == ev.EMAIL_BOUNCED else "opt_out"
        address = payload.get("email")
    if reason is None:
        return []
    clauses = []
    if lead_id is not None:
        clauses.append(col(SequenceEnrolment.lead_id) == lead_id)
    if deal_id is not None:
        clauses.append(col(SequenceEnrolment.deal_id) == deal_id)
    if address:
        clauses.append(col(SequenceEnrolment.to_address) == address.lower())
    if not clauses:
        return []
    from sqlalchemy import or_

    candidates = session.exec(
        select(SequenceEnrolment).where(
            SequenceEnrolment.status == ACTIVE,
            or_(*clauses),
            col(SequenceEnrolment.enrolled_at) <= event.occurred_at,
        )
    ).all()
    sequences = current_rule_set(session).sequences
    stopped: list[int] = []
    for enrolment in candidates:
        sequence = sequences.get(enrolment.sequence)
        if sequence is not None and reason not in sequence.stop_on:
            continue
        stop(session, enrolment, {"reply": "they replied", "stage_change": "the deal changed stage",
                                  "bounce": "the email bounced", "opt_out": "they opted out"}[reason]
             + f" (event #{event.id})", now)  # fmt: skip
        stopped.append(enrolment.id or 0)
    return stopped


# -- drafting -------------------------------------------------------------------------------------------------


def _last_topic(session: Session, facts: Facts) -> str:
    stmt = select(Interaction).where(col(Interaction.channel).in_(("call", "meeting", "email")))
    if facts.deal is not None:
        stmt = stmt.where(Interaction.deal_id == facts.deal.id)
    elif facts.lead is not None:
        stmt = stmt.where(Interaction.lead_id == facts.lead.id)
    else:
        return "our last conversation"
    row = session.exec(stmt.order_by(col(Interaction.occurred_at).desc())).first()
    if row is None:
        return "our last conversation"
    if row.channel == "email" and row.subject:
        return f"“{row.subject.removeprefix('Re: ').strip()[:80]}”"
    return f"our {row.channel} on {row.occurred_at:%d %B}"


def compose(session: Session, template: Template, facts: Facts) -> tuple[str, str]:
    from sales.automation import fill

    extra = {"last_topic": _last_topic(session, facts)}
    return fill(template.subject, facts, extra).strip()[:500], fill(template.body, facts, extra).strip() + "\n"


def draft_for_approval(session: Session, template: Template, facts: Facts) -> tuple[int | None, int | None]:
    """A follow-up drafted from ``template`` and a send request waiting for the owner or their manager."""
    from sales.outbound import create_draft, request_send

    address, contact_id = _address(session, facts)
    if address is None or is_opted_out(session, address):
        return None, None
    subject, body = compose(session, template, facts)
    draft = create_draft(
        session,
        SYSTEM,
        to=address,
        subject=subject,
        body=body,
        deal_id=facts.deal.id if facts.deal is not None else None,
        lead_id=facts.lead.id if facts.deal is None and facts.lead is not None else None,
        contact_id=contact_id,
    )
    assert draft.message.id is not None
    approval, _ = request_send(session, SYSTEM, draft.message.id)
    return draft.message.id, approval.id


def standing_approval_for(session: Session, template: Template) -> StandingApproval | None:
    """The standing approval in force for exactly this template text, if any."""
    return session.exec(
        select(StandingApproval)
        .where(
            StandingApproval.template == template.name,
            StandingApproval.template_hash == template.digest,
            col(StandingApproval.revoked_at).is_(None),
        )
        .order_by(col(StandingApproval.id).desc())
    ).first()


@dataclass
class AdvanceReport:
    drafted: list[int] = field(default_factory=list)
    """Message ids drafted in this run."""
    waiting: list[int] = field(default_factory=list)
    """Approval ids now waiting for a person."""
    standing: list[int] = field(default_factory=list)
    """Approval ids approved under a standing approval."""
    completed: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{len(self.drafted)} drafted ({len(self.waiting)} waiting for approval, {len(self.standing)} under a "
            f"standing approval), {len(self.sent)} sent, {len(self.completed)} sequences completed"
            + (f", held: {'; '.join(self.held[:3])}" if self.held else "")
        )


def _facts_for_enrolment(session: Session, enrolment: SequenceEnrolment) -> Facts:
    from sales.automation import Facts

    deal = session.get(Deal, enrolment.deal_id) if enrolment.deal_id else None
    lead = session.get(Lead, enrolment.lead_id) if enrolment.lead_id else None
    if lead is None and deal is not None and deal.lead_id:
        lead = session.get(Lead, deal.lead_id)
    return Facts(lead=lead, deal=deal, owner=session.get(User, enrolment.owner_id))


def draft_step(
    session: Session, rule_set: RuleSet, enrolment: SequenceEnrolment, now: datetime, report: AdvanceReport
) -> None:
    """Draft the enrolment's next step (once: unique per enrolment and step) and move it on."""
    from sales.approvals import decide_approval
    from sales.outbound import create_draft, request_send

    sequence = rule_set.sequences.get(enrolment.sequence)
    if sequence is None:
        stop(session, enrolment, f"the sequence {enrolment.sequence!r} is no longer in the rules", now)
        return
    step_index = enrolment.next_step
    if step_index >= len(sequence.steps):
        enrolment.status, enrolment.next_due_at = COMPLETED, None
        session.add(enrolment)
        report.completed.append(enrolment.id or 0)
        return
    step = sequence.steps[step_index]
    exists = select(SequenceMessage.id).where(
        SequenceMessage.enrolment_id == enrolment.id, SequenceMessage.step == step_index
    )
    if session.exec(exists).first() is None:
        if is_opted_out(session, enrolment.to_address):
            stop(session, enrolment, "they opted out", now)
            return
        template = rule_set.templates[step.template]
        facts = _facts_for_enrolment(session, enrolment)
        subject, body = compose(session, template, facts)
        draft = create_draft(
            session,
            SYSTEM,
            to=enrolment.to_address,
            subject=subject,
            body=body,
            deal_id=enrolment.deal_id,
            lead_id=enrolment.lead_id if enrolment.deal_id is None else None,
            contact_id=enrolment.contact_id,
        )
        message = draft.message
        assert message.id is not None
        standing = standing_approval_for(session, template)
        row = SequenceMessage(
            enrolment_id=enrolment.id or 0,
            step=step_index,
            template=template.name,
            text_hash=text_hash(message.subject, message.body),
            message_id=message.id,
            standing_approval_id=standing.id if standing is not None else None,
        )
        session.add(row)
        session.flush()
        approval, _ = request_send(session, SYSTEM, message.id, thread_id=f"sequence:{enrolment.id}:{step_index}")
        assert approval.id is not None
        report.drafted.append(message.id)
        granted_by = session.get(User, standing.granted_by_id) if standing is not None else None
        decided = False
        if standing is not None and granted_by is not None and granted_by.active:
            try:
                decide_approval(
                    session,
                    actor_for_user(session, granted_by),
                    approval.id,
                    "approve",
                    reason=f"standing approval #{standing.id} of template {template.name!r}",
                )
                decided = True
                report.standing.append(approval.id)
            except PermissionDenied:
                # The grantor may not decide this record's sends (another team): it waits for a person.
                row.standing_approval_id = None
                session.add(row)
        if not decided:
            report.waiting.append(approval.id)
    enrolment.next_step = step_index + 1
    if enrolment.next_step >= len(sequence.steps):
        enrolment.status, enrolment.next_due_at = COMPLETED, None
        report.completed.append(enrolment.id or 0)
    else:
        enrolment.next_due_at = enrolment.enrolled_at + timedelta(days=sequence.steps[enrolment.next_step].day)
    session.add(enrolment)


def advance_due(engine: Engine, delivery: DeliveryConfig, *, now: datetime | None = None) -> AdvanceReport:
    """Draft every due step (one transaction per enrolment), then send the sequence emails that are approved."""
    from sales.automation import current_rule_set
    from sales.outbound import frequency_cap_reached, send_message

    now = now or utcnow()
    report = AdvanceReport()
    with session_scope(engine, read_only=True) as s:
        due = s.exec(
            select(SequenceEnrolment.id).where(
                SequenceEnrolment.status == ACTIVE, col(SequenceEnrolment.next_due_at) <= now
            )
        ).all()
    for enrolment_id in due:
        with session_scope(engine) as s:
            enrolment = s.get(SequenceEnrolment, enrolment_id)
            if enrolment is None or enrolment.status != ACTIVE:
                continue
            draft_step(s, current_rule_set(s), enrolment, now, report)
    with session_scope(engine, read_only=True) as s:
        ready = s.exec(
            select(OutboundMessage.id, OutboundMessage.to_address)
            .join(SequenceMessage, col(SequenceMessage.message_id) == col(OutboundMessage.id))
            .join(Approval, col(Approval.id) == col(OutboundMessage.approval_id))
            .where(
                Approval.status == ApprovalStatus.APPROVED,
                col(Approval.executed_at).is_(None),
                OutboundMessage.status == MessageStatus.PENDING_APPROVAL,
            )
            .order_by(col(OutboundMessage.id))
        ).all()
        capped = {addr for _, addr in ready if frequency_cap_reached(s, addr, delivery, now)}
    for message_id, address in ready:
        assert message_id is not None
        if address in capped:
            report.held.append(f"message #{message_id}: {address} reached the frequency cap")
            continue
        result = send_message(engine, SYSTEM, message_id, delivery)
        if result.delivered or (result.channel == "outbox" and result.message.status == MessageStatus.QUEUED):
            report.sent.append(message_id)
        else:
            report.held.append(f"message #{message_id}: {result.note}")
    return report


# -- standing approvals ---------------------------------------------------------------------------------------


def grant_standing_approval(
    session: Session, actor: Actor, rule_set: RuleSet, template_name: str, note: str | None = None
) -> StandingApproval:
    """A manager approves a template's exact text once for every sequence email drafted from it (receipt)."""
    if actor.role not in (Role.MANAGER, Role.ADMIN) or actor.user_id is None:
        raise PermissionDenied("only a manager (or an admin) may give a standing approval")
    template = rule_set.templates.get(template_name)
    if template is None:
        raise NotFound(f"no template called {template_name!r} ({', '.join(rule_set.templates) or 'none are set'})")
    existing = standing_approval_for(session, template)
    if existing is not None:
        return existing
    row = StandingApproval(
        template=template.name, template_hash=template.digest, granted_by_id=actor.user_id, note=note
    )
    session.add(row)
    session.flush()
    row.receipt_id = write_receipt(
        session,
        actor,
        "grant_standing_approval",
        "standing_approval",
        row.id,
        after={"template": template.name, "template_hash": template.digest, "subject": template.subject, "note": note},
    )
    session.add(row)
    return row


def revoke_standing_approval(session: Session, actor: Actor, standing_id: int) -> int:
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise PermissionDenied("only a manager (or an admin) may revoke a standing approval")
    row = session.get(StandingApproval, standing_id)
    if row is None:
        raise NotFound(f"there is no standing approval #{standing_id}")
    if row.revoked_at is not None:
        raise InvalidInput({"standing_approval": f"#{standing_id} was already revoked on {row.revoked_at:%Y-%m-%d}"})
    row.revoked_at = utcnow()
    row.revoked_by_id = actor.user_id
    session.add(row)
    session.flush()
    return write_receipt(
        session, actor, "revoke_standing_approval", "standing_approval", row.id, after={"template": row.template}
    )


__all__ = [
    "AdvanceReport",
    "advance_due",
    "compose",
    "draft_for_approval",
    "enrol",
    "grant_standing_approval",
    "is_opted_out",
    "revoke_standing_approval",
    "standing_approval_for",
    "stop",
    "stop_for_event",
    "text_hash",
]
