"""Tools behind a human decision: drafting, editing and sending a follow-up, and qualifying a lead.

A guarded tool runs in two halves. ``request`` (in the tools node) checks permission and stores a pending approval
row, returning an ``ApprovalTicket``; the agent's approval node then interrupts for the decision and calls
``execute`` (approved) or ``reject``. The domain functions check the approved row again themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from sales.approvals import approver_emails
from sales.errors import InvalidInput, NotFound
from store.db import session_scope
from store.models import Approval, Contact, Deal, Lead, User
from tools.base import ApprovalTicket, RunContext, current_thread_id
from tools.drafting import choose_kind, compose_follow_up, last_touch, shortened, with_tone
from tools.records import deal_id_for, lead_id_for
from tools.results import DraftFollowUpResult, EditDraftResult, QualifyLeadResult, SendFollowUpResult, ToolResult
from tools.schemas import DraftFollowUpArgs, EditDraftArgs, QualifyLeadArgs, SendFollowUpArgs


@dataclass(frozen=True)
class GuardedHalves:
    execute: Callable[[RunContext, ApprovalTicket], ToolResult]
    reject: Callable[[RunContext, ApprovalTicket, str], None]


def _ticket(s: Session, approval: Approval, summary: str, preview: str | None) -> ApprovalTicket:
    requester = s.get(User, approval.requested_by_id) if approval.requested_by_id else None
    assert approval.id is not None and approval.record_type is not None and approval.record_id is not None
    return ApprovalTicket(
        approval_id=approval.id,
        action=approval.action,
        arguments=approval.arguments,
        record_type=approval.record_type,
        record_id=approval.record_id,
        summary=summary,
        requested_by=requester.email if requester else "system",
        approvers=approver_emails(s, approval),
        expires_at=approval.expires_at,
        preview=preview,
    )


def _next_business_day(day: date) -> date:
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt


def _recipient(s: Session, deal: Deal | None, lead: Lead | None) -> tuple[str | None, str | None, int | None]:
    """(email, person name, contact id) of the record's main contact."""
    if lead is not None and lead.email:
        return lead.email, lead.name, lead.contact_id
    if deal is not None:
        if deal.lead_id is not None and (source := s.get(Lead, deal.lead_id)) is not None and source.email:
            return source.email, source.name, source.contact_id
        if deal.account_id is not None:
            contact = s.exec(
                select(Contact)
                .where(Contact.account_id == deal.account_id, col(Contact.email).is_not(None))
                .order_by(col(Contact.id))
            ).first()
            if contact is not None:
                return contact.email, contact.name, contact.id
    return None, None, None


def draft_follow_up(ctx: RunContext, args: DraftFollowUpArgs) -> DraftFollowUpResult:
    from sales.outbound import create_draft

    with session_scope(ctx.engine) as s:
        deal = lead = None
        if args.deal_id is not None or args.deal_name:
            deal = s.get(Deal, deal_id_for(s, ctx.actor, args.deal_id, args.deal_name))
        else:
            lead = s.get(Lead, lead_id_for(s, ctx.actor, args.lead_id, args.lead_name))
        record = deal or lead
        if record is None or record.id is None:
            raise NotFound("that record no longer exists")
        email, person, contact_id = _recipient(s, deal, lead)
        to = args.to or email
        if not to:
            raise InvalidInput({"to": f"{record.name} has no contact email on file; give the recipient's address"})
        about = (lead.company or lead.name) if lead is not None else record.name
        subject, body = compose_follow_up(
            kind=args.template or choose_kind(args.purpose),
            first_name=person,
            record_name=about,
            purpose=args.purpose,
            touch=last_touch(s, deal_id=deal.id if deal else None, lead_id=lead.id if lead else None),
            proposed=_next_business_day(ctx.today()),
            sender_name=ctx.actor.name,
            today=ctx.today(),
        )
        # A model that writes its own text (an LLM) may; the approver still sees and can edit every word.
        subject = args.subject or subject
        body = args.body or body
        draft = create_draft(
            s,
            ctx.actor,
            to=to,
            subject=subject,
            body=body,
            deal_id=deal.id if deal is not None else None,
            lead_id=lead.id if lead is not None else None,
            contact_id=contact_id,
        )
        message = draft.message
        assert message.id is not None
        return DraftFollowUpResult(
            receipt_id=draft.receipt_id,
            message_id=message.id,
            to=message.to_address,
            subject=message.subject,
            body=message.body,
            status=message.status,
            record_type="deal" if deal is not None else "lead",
            record_id=record.id,
        )


def edit_draft(ctx: RunContext, args: EditDraftArgs) -> EditDraftResult:
    """Change a draft before it is sent: a new subject or body, a tone, shorter. The text the approver sees is
    the message as stored when the send is requested, so it is the edited one."""
    from sales.outbound import edit_draft as edit_message
    from sales.outbound import get_message

    with session_scope(ctx.engine) as s:
        message = get_message(s, ctx.actor, args.message_id)
        body = args.body or message.body
        if args.tone:
            body = with_tone(body, args.tone)
        if args.length == "shorter":
            body = shortened(body)
        edited = edit_message(s, ctx.actor, args.message_id, subject=args.subject, body=body)
        changed = list(edited.changed)
        changed += [name for name in ("tone", "length") if getattr(args, name) and "body" in changed]
        stored = edited.message
        assert stored.id is not None
        return EditDraftResult(
            receipt_id=edited.receipt_id,
            message_id=stored.id,
            to=stored.to_address,
            subject=stored.subject,
            body=stored.body,
            status=stored.status,
            changed=changed,
            withdrawn_approval_id=edited.withdrawn_approval_id,
        )


def request_send_follow_up(ctx: RunContext, args: SendFollowUpArgs) -> ApprovalTicket:
    from sales.outbound import request_send

    with session_scope(ctx.engine) as s:
        approval, message = request_send(
            s,
            ctx.actor,
            args.message_id,
            thread_id=current_thread_id(),
            ttl_hours=ctx.settings.approval_ttl_hours,
            policy=ctx.approval_policy,
        )
        return _ticket(
            s, approval, f"send email #{message.id} '{message.subject}' to {message.to_address}", message.body
        )


def _delivery(ctx: RunContext) -> Any:
    from sales.outbound import delivery_from_settings

    return delivery_from_settings(ctx.settings)


def _approver(s: Session, approval: Approval) -> str:
    user = s.get(User, approval.decided_by_id) if approval.decided_by_id else None
    return user.email if user else "system"


def execute_send(ctx: RunContext, ticket: ApprovalTicket) -> SendFollowUpResult:
    from sales.outbound import send_message

    sent = send_message(ctx.engine, ctx.actor, ticket.record_id, _delivery(ctx))
    with session_scope(ctx.engine) as s:
        approved_by = _approver(s, sent.approval)
    status = sent.message.status if sent.message.status in ("sent", "queued", "failed") else "failed"
    return SendFollowUpResult(
        receipt_id=sent.receipt_id,
        message_id=ticket.record_id,
        to=sent.message.to_address,
        subject=sent.message.subject,
        status=status,
        delivered=sent.delivered,
        channel=sent.channel,
        approval_id=ticket.approval_id,
        approved_by=approved_by,
        edited=sent.edited,
        note=sent.note,
    )


def reject_send(ctx: RunContext, ticket: ApprovalTicket, reason: str) -> None:
    from sales.outbound import mark_rejected

    with session_scope(ctx.engine) as s:
        mark_rejected(s, ctx.actor, ticket.record_id, reason, approval_id=ticket.approval_id)


def request_qualify(ctx: RunContext, args: QualifyLeadArgs) -> ApprovalTicket:
    from sales.qualification import request_qualification

    with session_scope(ctx.engine) as s:
        lead_id = lead_id_for(s, ctx.actor, args.lead_id, args.lead_name)
        approval = request_qualification(
            s,
            ctx.actor,
            lead_id,
            amount=args.amount,
            note=args.note,
            thread_id=current_thread_id(),
            ttl_hours=ctx.settings.approval_ttl_hours,
            policy=ctx.approval_policy,
        )
        name = approval.arguments.get("lead_name", f"lead #{lead_id}")
        amount = approval.arguments.get("amount")
        summary = f"qualify lead #{lead_id} ({name}) into a Qualified deal" + (
            f" worth {amount:,.0f}" if isinstance(amount, int | float) else ""
        )
        return _ticket(s, approval, summary, approval.arguments.get("note"))


def execute_qualify(ctx: RunContext, ticket: ApprovalTicket) -> QualifyLeadResult:
    from sales.qualification import qualify_lead

    with session_scope(ctx.engine) as s:
        done = qualify_lead(s, ctx.actor, ticket.approval_id, ticket.record_id)
        assert done.deal.id is not None
        return QualifyLeadResult(
            receipt_id=done.receipt_id,
            lead_id=ticket.record_id,
            lead_name=done.lead.name,
            deal_id=done.deal.id,
            deal_name=done.deal.name,
            stage=done.deal.stage,
            amount=float(done.deal.amount) if done.deal.amount is not None else None,
            task_ids=done.task_ids,
            approval_id=ticket.approval_id,
            approved_by=_approver(s, done.approval),
        )


def reject_qualify(ctx: RunContext, ticket: ApprovalTicket, reason: str) -> None:
    """A rejected qualification leaves the lead as it was; the approval row already records the reason."""


HALVES: dict[str, GuardedHalves] = {
    "send_follow_up": GuardedHalves(execute=execute_send, reject=reject_send),
    "qualify_lead": GuardedHalves(execute=execute_qualify, reject=reject_qualify),
}
