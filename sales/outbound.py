"""Outbound follow-ups: drafts in ``outbound_messages``, a send request for approval, and delivery once approved.

Delivery goes through the configured channel: ``smtp`` (stdlib smtplib) or the default ``outbox``, which records
the message as queued and says plainly that it was not delivered. ``send_message`` refuses without an approved
approval row for exactly this message, and runs at most once per approval: the approval is claimed (its
``executed_at`` set and committed) before delivery, so a resumed or repeated call never delivers twice.

``send_message`` is the only way out, and it checks, whoever calls it: the address is not opted out (``opt_outs``;
the message is then blocked for good), a sequence email's sequence is still running and its standing approval
still stands for the text drafted, and the address has not had ``cap_messages`` emails in ``cap_days`` days (the
message is then held, not claimed, and can go later).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sales.approvals import (
    DEFAULT_POLICY,
    SEND_FOLLOW_UP,
    ApprovalPolicy,
    effective_arguments,
    request_approval,
    require_approved,
    withdraw_approval,
)
from sales.errors import ApprovalRequired, InvalidInput, NotFound
from sales.permissions import Actor, ensure_can_change, ensure_can_see
from sales.receipts import snapshot, write_receipt
from sales.validation import normalize_email
from store.db import session_scope
from store.models import (
    Approval,
    ApprovalStatus,
    Deal,
    Lead,
    MessageStatus,
    OptOut,
    OutboundMessage,
    SequenceEnrolment,
    SequenceMessage,
    StandingApproval,
    User,
)
from store.types import utcnow

MESSAGE_FIELDS = ("to_address", "subject", "status", "channel", "deal_id", "lead_id", "approval_id")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver; built from ``app.settings.Settings`` by the caller."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0


@dataclass(frozen=True)
class DeliveryConfig:
    channel: Literal["outbox", "smtp"] = "outbox"
    smtp: SmtpConfig | None = None
    cap_messages: int = 3
    """At most this many emails to one address in ``cap_days`` days (the per-contact frequency cap)."""
    cap_days: int = 7


def delivery_from_settings(settings: Any) -> DeliveryConfig:
    """The delivery configured in ``app.settings.Settings``: send channel, SMTP settings and the frequency cap
    (``SALESGRAPH_EMAIL_CAP_MESSAGES`` in ``SALESGRAPH_EMAIL_CAP_DAYS``, default 3 in 7)."""
    cap = {"cap_messages": settings.email_cap_messages, "cap_days": settings.email_cap_days}
    if settings.send_channel == "outbox":
        return DeliveryConfig(channel="outbox", **cap)
    return DeliveryConfig(
        **cap,
        channel="smtp",
        smtp=SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        ),
    )


@dataclass(frozen=True)
class DraftResult:
    message: OutboundMessage
    receipt_id: int


@dataclass(frozen=True)
class EditResult:
    message: OutboundMessage
    receipt_id: int
    changed: list[str]
    withdrawn_approval_id: int | None = None


@dataclass(frozen=True)
class SendResult:
    message: OutboundMessage
    approval: Approval
    receipt_id: int
    delivered: bool
    channel: Literal["outbox", "smtp"]
    edited: bool
    note: str
    repeated: bool = False


def _record_owner(
    session: Session, actor: Actor, deal_id: int | None, lead_id: int | None
) -> tuple[str, int, int | None]:
    if deal_id is not None:
        deal = session.get(Deal, deal_id)
        if deal is None:
            raise NotFound(f"there is no deal #{deal_id}")
        ensure_can_change(actor, deal.owner_id, f"deal #{deal_id}")
        return "deal", deal_id, deal.owner_id
    if lead_id is not None:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise NotFound(f"there is no lead #{lead_id}")
        ensure_can_change(actor, lead.owner_id, f"lead #{lead_id}")
        return "lead", lead_id, lead.owner_id
    raise InvalidInput({"record": "a follow-up belongs to a deal or a lead"})


def create_draft(
    session: Session,
    actor: Actor,
    *,
    to: str,
    subject: str,
    body: str,
    deal_id: int | None = None,
    lead_id: int | None = None,
    contact_id: int | None = None,
) -> DraftResult:
    """Store a draft follow-up (status ``draft``); nothing is sent."""
    _record_owner(session, actor, deal_id, lead_id)
    problems: dict[str, str] = {}
    try:
        address = normalize_email(to)
    except ValueError as exc:
        problems["to"] = str(exc)
        address = to
    if not subject.strip():
        problems["subject"] = "must not be empty"
    if not body.strip():
        problems["body"] = "must not be empty"
    if problems:
        raise InvalidInput(problems)
    message = OutboundMessage(
        deal_id=deal_id,
        lead_id=lead_id,
        contact_id=contact_id,
        to_address=address,
        subject=subject.strip()[:500],
        body=body,
        status=MessageStatus.DRAFT,
        created_by_id=actor.user_id,
    )
    session.add(message)
    session.flush()
    receipt = write_receipt(
        session, actor, "draft_message", "outbound_message", message.id, after=snapshot(message, MESSAGE_FIELDS)
    )
    return DraftResult(message, receipt)


def get_message(session: Session, actor: Actor, message_id: int) -> OutboundMessage:
    message = session.get(OutboundMessage, message_id)
    if message is None:
        raise NotFound(f"there is no draft or message #{message_id}")
    _record_owner(session, actor, message.deal_id, message.lead_id)
    return message


def request_send(
    session: Session,
    actor: Actor,
    message_id: int,
    *,
    thread_id: str | None = None,
    ttl_hours: int = 72,
    policy: ApprovalPolicy = DEFAULT_POLICY,
) -> tuple[Approval, OutboundMessage]:
    """Ask for approval to send a draft; the message waits in ``pending_approval`` until someone decides."""
    message = get_message(session, actor, message_id)
    if message.approval_id is not None:
        current = session.get(Approval, message.approval_id)
        still_open = current is not None and (
            current.status == ApprovalStatus.APPROVED
            or (current.status == ApprovalStatus.PENDING and current.expires_at > utcnow())
        )
        if current is not None and still_open and current.action == SEND_FOLLOW_UP and current.record_id == message_id:
            # Asked again (or the agent's node re-ran after a restart): the open request stands.
            return current, message
    if message.status not in (MessageStatus.DRAFT, MessageStatus.PENDING_APPROVAL, MessageStatus.REJECTED):
        raise InvalidInput({"message_id": f"message #{message_id} is already {message.status}; draft a new one"})
    _, _, owner_id = _record_owner(session, actor, message.deal_id, message.lead_id)
    approval, _ = request_approval(
        session,
        actor,
        action=SEND_FOLLOW_UP,
        arguments={
            "message_id": message_id,
            "to": message.to_address,
            "subject": message.subject,
            "body": message.body,
        },
        record_type="outbound_message",
        record_id=message_id,
        owner_id=owner_id,
        thread_id=thread_id,
        ttl_hours=ttl_hours,
        policy=policy,
    )
    if message.approval_id != approval.id or message.status != MessageStatus.PENDING_APPROVAL:
        before = snapshot(message, MESSAGE_FIELDS)
        message.approval_id = approval.id
        message.status = MessageStatus.PENDING_APPROVAL
        session.add(message)
        session.flush()
        write_receipt(
            session,
            actor,
            "request_send",
            "outbound_message",
            message.id,
            before=before,
            after=snapshot(message, MESSAGE_FIELDS),
        )
    return approval, message


EDITABLE_STATUSES = (MessageStatus.DRAFT, MessageStatus.PENDING_APPROVAL, MessageStatus.REJECTED)


def edit_draft(
    session: Session, actor: Actor, message_id: int, *, subject: str | None = None, body: str | None = None
) -> EditResult:
    """Change the subject and/or body of a message not sent yet, as someone who may change its record.

    A send request still waiting for a decision is withdrawn (the approver would otherwise decide on text they
    never saw) and the message is a draft again: ask to send it again. Text an approval already approved is not
    changed: it is sent as approved.
    """
    message = get_message(session, actor, message_id)
    if message.status not in EDITABLE_STATUSES:
        raise InvalidInput({"message_id": f"message #{message_id} is already {message.status}; draft a new one"})
    problems = {
        name: "must not be empty"
        for name, value in (("subject", subject), ("body", body))
        if value is not None and not value.strip()
    }
    if problems:
        raise InvalidInput(problems)
    current = session.get(Approval, message.approval_id) if message.approval_id is not None else None
    if current is not None and current.status == ApprovalStatus.APPROVED and current.executed_at is None:
        raise InvalidInput(
            {"message_id": f"approval #{current.id} already approved this text and it is being sent as approved"}
        )
    changed = [
        name
        for name, new, old in (("subject", subject, message.subject), ("body", body, message.body))
        if new is not None and new.strip() != old.strip()
    ]
    before = snapshot(message, MESSAGE_FIELDS)
    withdrawn: int | None = None
    if changed and current is not None and current.status == ApprovalStatus.PENDING:
        assert current.id is not None
        withdraw_approval(
            session, actor, current.id, "the draft was edited after the request; ask again to send the edited text"
        )
        withdrawn = current.id
    if "subject" in changed and subject is not None:
        message.subject = subject.strip()[:500]
    if "body" in changed and body is not None:
        message.body = body
    if changed and message.status != MessageStatus.DRAFT:
        message.status = MessageStatus.DRAFT
        message.approval_id = None
        message.error = None
    session.add(message)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "edit_draft",
        "outbound_message",
        message.id,
        before=before,
        after={**snapshot(message, MESSAGE_FIELDS), "changed": changed, "withdrawn_approval_id": withdrawn},
    )
    return EditResult(message, receipt, changed, withdrawn)


def mark_rejected(
    session: Session, actor: Actor, message_id: int, reason: str, *, approval_id: int | None = None
) -> int | None:
    """Record that the draft's send was rejected (the draft stays, and can be requested again). With
    ``approval_id``, only while the message still waits on that request (an edit may have withdrawn it)."""
    message = get_message(session, actor, message_id)
    if approval_id is not None and message.approval_id != approval_id:
        return None
    before = snapshot(message, MESSAGE_FIELDS)
    message.status = MessageStatus.REJECTED
    message.error = reason[:1000]
    session.add(message)
    session.flush()
    return write_receipt(
        session,
        actor,
        "reject_send",
        "outbound_message",
        message.id,
        before=before,
        after=snapshot(message, MESSAGE_FIELDS),
    )


def _deliver_smtp(config: SmtpConfig, message: OutboundMessage, message_id_header: str) -> None:
    email = EmailMessage()
    email["From"] = config.sender
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = message_id_header
    email.set_content(message.body)
    client: smtplib.SMTP
    if config.use_ssl:
        client = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with client:
        if config.starttls and not config.use_ssl:
            client.starttls(context=ssl.create_default_context())
        if config.username:
            client.login(config.username, config.password or "")
        client.send_message(email)


def _result_of_earlier_send(session: Session, message: OutboundMessage, approval: Approval) -> SendResult:
    channel: Literal["outbox", "smtp"] = "smtp" if message.channel == "smtp" else "outbox"
    note = {
        MessageStatus.SENT: "already sent earlier; not sent again",
        MessageStatus.QUEUED: "already recorded in the outbox earlier (not delivered); not repeated",
        MessageStatus.FAILED: f"an earlier delivery attempt failed ({message.error}); not retried automatically",
    }.get(
        MessageStatus(message.status),
        "delivery was started earlier and its outcome was not recorded; not sent again, check the mail server",
    )
    receipt = write_receipt(
        session,
        _system_actor_for(session, approval),
        "send_repeat_refused",
        "outbound_message",
        message.id,
        after=snapshot(message, MESSAGE_FIELDS),
    )
    return SendResult(
        message,
        approval,
        receipt,
        message.status == MessageStatus.SENT,
        channel,
        approval.decision == "edit",
        note,
        True,
    )


def _system_actor_for(session: Session, approval: Approval) -> Actor:
    from sales.permissions import SYSTEM, actor_for_user

    user = session.get(User, approval.requested_by_id) if approval.requested_by_id else None
    return actor_for_user(session, user) if user is not None else SYSTEM


def send_message(engine: Engine, actor: Actor, message_id: int, delivery: DeliveryConfig) -> SendResult:
    """Deliver an approved message once, with the approver's edits applied; refuses without approval.

    Three short transactions: claim the approval (so no second caller can deliver), deliver, record the outcome.
    """
    with session_scope(engine) as session:
        message = get_message(session, actor, message_id)
        approval = require_approved(
            session, message.approval_id, action=SEND_FOLLOW_UP, record_type="outbound_message", record_id=message_id
        )
        if approval.executed_at is not None:
            return _result_of_earlier_send(session, message, approval)
        args = effective_arguments(approval)
        address = str(args.get("to") or message.to_address)
        refusal = send_refusal(session, message, approval, address, args)
        if refusal is not None:
            return _blocked(session, actor, message, approval, delivery, refusal)
        if frequency_cap_reached(session, address, delivery, utcnow(), exclude_id=message_id):
            note = (
                f"held: {address} has had {delivery.cap_messages} emails in the last {delivery.cap_days} days "
                "(the frequency cap); not sent now, still approved, and it can go once the cap allows"
            )
            receipt = write_receipt(
                session, actor, "send_held", "outbound_message", message.id, after=snapshot(message, MESSAGE_FIELDS)
            )
            return SendResult(message, approval, receipt, False, delivery.channel, approval.decision == "edit", note)
        before = snapshot(message, MESSAGE_FIELDS)
        message.to_address = str(args.get("to") or message.to_address)
        message.subject = str(args.get("subject") or message.subject)
        message.body = str(args.get("body") or message.body)
        message.status = MessageStatus.APPROVED
        message.channel = delivery.channel
        approval.executed_at = utcnow()
        session.add_all([message, approval])
        session.flush()
        write_receipt(
            session,
            actor,
            "claim_send",
            "outbound_message",
            message.id,
            before=before,
            after=snapshot(message, MESSAGE_FIELDS),
        )

    error: str | None = None
    header = make_msgid(domain="salesgraph.local")
    if delivery.channel == "smtp":
        if delivery.smtp is None:
            error = "SMTP delivery is configured but no SMTP settings were given"
        else:
            try:
                _deliver_smtp(delivery.smtp, message, header)
            except smtplib.SMTPRecipientsRefused as exc:
                error = f"bounced: the server refused {message.to_address}: {exc}"[:900]
            except (OSError, smtplib.SMTPException) as exc:
                # The reason goes to the user and the audit log; the server's reply never contains our password.
                error = f"{type(exc).__name__}: {exc}"[:900]

    with session_scope(engine) as session:
        stored = session.get(OutboundMessage, message_id)
        stored_approval = session.get(Approval, approval.id)
        assert stored is not None and stored_approval is not None
        before = snapshot(stored, MESSAGE_FIELDS)
        if delivery.channel == "outbox":
            stored.status = MessageStatus.QUEUED
            note = "recorded in the outbox; NOT delivered (SALESGRAPH_SEND_CHANNEL=outbox)"
        elif error is None:
            stored.status = MessageStatus.SENT
            stored.sent_at = utcnow()
            stored.provider_message_id = header
            note = f"delivered to the SMTP server for {stored.to_address}"
        else:
            stored.status = MessageStatus.FAILED
            stored.error = error
            note = f"delivery failed: {error}"
        session.add(stored)
        session.flush()
        if error is not None and error.startswith("bounced:"):
            from sales.events import EMAIL_BOUNCED, emit

            emit(session, EMAIL_BOUNCED, "outbound_message", stored.id, {"email": stored.to_address})
        receipt = write_receipt(
            session,
            actor,
            "send_message" if error is None else "send_message_failed",
            "outbound_message",
            stored.id,
            before=before,
            after={**snapshot(stored, MESSAGE_FIELDS), "approval_id": stored_approval.id, "error": stored.error},
        )
        return SendResult(
            stored,
            stored_approval,
            receipt,
            delivered=stored.status == MessageStatus.SENT,
            channel=delivery.channel,
            edited=stored_approval.decision == "edit",
            note=note,
        )


def send_refusal(
    session: Session, message: OutboundMessage, approval: Approval, address: str, args: dict[str, object]
) -> str | None:
    """Why this approved message must never be sent, or None: an opted-out address, a stopped sequence, a standing
    approval revoked or not covering the text about to go out."""
    if is_opted_out(session, address):
        return f"{address} has opted out of email; never sent"
    row = session.exec(select(SequenceMessage).where(SequenceMessage.message_id == message.id)).first()
    if row is None:
        return None
    enrolment = session.get(SequenceEnrolment, row.enrolment_id)
    if enrolment is None or enrolment.status == "stopped":
        why = enrolment.stop_reason if enrolment is not None else "its enrolment is gone"
        return f"its sequence stopped ({why}); not sent"
    standing = session.get(StandingApproval, row.standing_approval_id) if row.standing_approval_id else None
    if (
        standing is not None
        and approval.decided_by_id == standing.granted_by_id
        and approval.reason
        and (approval.reason.startswith(f"standing approval #{standing.id} "))
    ):
        if standing.revoked_at is not None:
            return f"standing approval #{standing.id} was revoked before it went out; draft and approve it again"
        from sales.sequences import text_hash

        subject = str(args.get("subject") or message.subject)
        body = str(args.get("body") or message.body)
        if text_hash(subject, body) != row.text_hash:
            return f"the text changed after drafting, so standing approval #{standing.id} does not cover it"
    return None


def is_opted_out(session: Session, address: str) -> bool:
    return session.exec(select(OptOut.id).where(OptOut.email == address.strip().lower())).first() is not None


def frequency_cap_reached(
    session: Session, address: str, delivery: DeliveryConfig, now: datetime, *, exclude_id: int | None = None
) -> bool:
    """Whether ``address`` already had ``cap_messages`` emails (sent, queued or going out) in ``cap_days``."""
    since = now - timedelta(days=delivery.cap_days)
    stmt = (
        select(func.count())
        .select_from(OutboundMessage)
        .where(
            func.lower(OutboundMessage.to_address) == address.strip().lower(),
            col(OutboundMessage.status).in_((MessageStatus.SENT, MessageStatus.QUEUED, MessageStatus.APPROVED)),
            func.coalesce(OutboundMessage.sent_at, OutboundMessage.created_at) >= since,
        )
    )
    if exclude_id is not None:
        stmt = stmt.where(col(OutboundMessage.id) != exclude_id)
    return int(session.exec(stmt).one()) >= delivery.cap_messages


def _blocked(
    session: Session,
    actor: Actor,
    message: OutboundMessage,
    approval: Approval,
    delivery: DeliveryConfig,
    why: str,
) -> SendResult:
    """Refuse for good: the approval is used up (so nothing can send it later) and the message is blocked."""
    before = snapshot(message, MESSAGE_FIELDS)
    message.status = MessageStatus.BLOCKED
    message.error = why[:1000]
    approval.executed_at = utcnow()
    session.add_all([message, approval])
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "send_blocked",
        "outbound_message",
        message.id,
        before=before,
        after={**snapshot(message, MESSAGE_FIELDS), "error": message.error},
    )
    return SendResult(message, approval, receipt, False, delivery.channel, approval.decision == "edit", why)


@dataclass(frozen=True)
class OptOutResult:
    opt_out: OptOut
    receipt_id: int | None
    created: bool


def record_opt_out(
    session: Session, actor: Actor, address: str, *, reason: str | None = None, source: str = "manual"
) -> OptOutResult:
    """Never email ``address`` again (every send path checks it); an opted_out event stops its sequences."""
    try:
        email = normalize_email(address).lower()
    except ValueError as exc:
        raise InvalidInput({"email": str(exc)}) from exc
    existing = session.exec(select(OptOut).where(OptOut.email == email)).first()
    if existing is not None:
        return OptOutResult(existing, None, False)
    row = OptOut(email=email, reason=(reason or "")[:300] or None, source=source, recorded_by_id=actor.user_id)
    session.add(row)
    session.flush()
    row.receipt_id = write_receipt(
        session, actor, "record_opt_out", "contact", row.id, after={"email": email, "reason": reason, "source": source}
    )
    session.add(row)
    from sales.events import OPTED_OUT, emit

    emit(session, OPTED_OUT, "opt_out", row.id, {"email": email, "source": source}, actor=actor)
    return OptOutResult(row, row.receipt_id, True)


def ensure_sendable_by(session: Session, actor: Actor, message: OutboundMessage) -> None:
    """Front doors call this before showing a draft: the actor must see the record the message is about."""
    owner = None
    if message.deal_id is not None and (deal := session.get(Deal, message.deal_id)) is not None:
        owner = deal.owner_id
    elif message.lead_id is not None and (lead := session.get(Lead, message.lead_id)) is not None:
        owner = lead.owner_id
    ensure_can_see(actor, owner, f"message #{message.id}")


__all__ = [
    "ApprovalRequired",
    "DeliveryConfig",
    "DraftResult",
    "EditResult",
    "SendResult",
    "SmtpConfig",
    "create_draft",
    "edit_draft",
    "frequency_cap_reached",
    "get_message",
    "is_opted_out",
    "mark_rejected",
    "record_opt_out",
    "request_send",
    "send_message",
]
