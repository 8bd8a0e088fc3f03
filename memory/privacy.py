"""Data-subject deletion ("forget this person"): their interactions leave SQL and the vector index together.

Removes every interaction logged against the person's contact records or against leads with their email, from
SQL and from every index collection, deletes the contact rows, anonymises leads with that email (the rows stay
so deals and pipeline history keep their links), redacts outbound messages addressed to them and the approval
requests about them (withdrawing those still pending), and erases their sealed personal values from the audit log
(``store.audit``): the chain still verifies. Events written before values were sealed keep their plain snapshots;
they are counted, not changed. The audit event records counts and a hash of the email, never the email itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, update
from sqlmodel import Session, col, func, select

from memory.index import InteractionIndex
from sales.approvals import SEND_FOLLOW_UP
from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor
from sales.receipts import PERSONAL_FIELDS, write_receipt
from store.audit import count_plain_mentions, erase_personal_values
from store.models import Approval, ApprovalStatus, Contact, Interaction, Lead, MessageStatus, OutboundMessage, Task
from store.types import utcnow

FORGOTTEN_NAME = "(forgotten contact)"
FORGOTTEN_ADDRESS = "forgotten@invalid"
REDACTED = "[removed at the data subject's request]"
WITHDRAWN = "withdrawn: the person it concerns was forgotten at their request"


@dataclass(frozen=True)
class ForgetReport:
    contacts_deleted: int
    leads_anonymised: int
    interactions_deleted: int
    index_chunks_deleted: int
    messages_redacted: int
    approvals_redacted: int
    approvals_withdrawn: int
    audit_values_erased: int
    older_audit_events: int
    """Events written before personal values were sealed that still mention the person (left as they are)."""
    receipt: int
    inbound_emails_deleted: int = 0


def forget_contact(session: Session, actor: Actor, email: str, index: InteractionIndex | None) -> ForgetReport:
    """Erase the person with ``email``; runs in the caller's transaction and removes index entries before commit.

    If removing index entries fails, the exception propagates and the caller's transaction rolls back, so SQL
    is unchanged (any chunks already removed are restored by the next ``memory sync``). ``index`` may be None
    only when no vector index exists for this workspace.
    """
    if not actor.is_admin:
        raise PermissionDenied("forgetting a contact erases data across teams; ask an admin to run it")
    address = email.strip().lower()
    if "@" not in address:
        raise InvalidInput({"email": f"{email!r} is not an email address"})
    contact_ids = [
        c for c in session.exec(select(Contact.id).where(func.lower(Contact.email) == address)).all() if c is not None
    ]
    lead_ids = [
        x for x in session.exec(select(Lead.id).where(func.lower(Lead.email) == address)).all() if x is not None
    ]
    messages = session.exec(select(OutboundMessage.id).where(func.lower(OutboundMessage.to_address) == address)).all()
    if not contact_ids and not lead_ids and not messages and not _inbound_from(session, address):
        raise NotFound(f"no contact, lead or message (nor inbound email) with the email {address}")
    message_ids = [m for m in messages if m is not None]
    approvals = _approvals_about(session, address, lead_ids, message_ids)
    task_ids = (
        [t for t in session.exec(select(Task.id).where(col(Task.lead_id).in_(lead_ids))).all() if t is not None]
        if lead_ids
        else []
    )

    about_them = []
    if contact_ids:
        about_them.append(col(Interaction.contact_id).in_(contact_ids))
    if lead_ids:
        about_them.append(col(Interaction.lead_id).in_(lead_ids))
    interaction_ids: list[int] = []
    if about_them:
        interaction_ids = [
            i for i in session.exec(select(Interaction.id).where(or_(*about_them))).all() if i is not None
        ]
    inbound_deleted = _delete_inbound_emails(session, address, contact_ids, lead_ids, interaction_ids, message_ids)
    if interaction_ids:
        session.execute(delete(Interaction).where(col(Interaction.id).in_(interaction_ids)))
    if contact_ids:
        session.execute(update(Lead).where(col(Lead.contact_id).in_(contact_ids)).values(contact_id=None))
        session.execute(
            update(OutboundMessage).where(col(OutboundMessage.contact_id).in_(contact_ids)).values(contact_id=None)
        )
        session.execute(delete(Contact).where(col(Contact.id).in_(contact_ids)))
    if lead_ids:
        _scrub_task_titles(session, lead_ids)
        session.execute(
            update(Lead)
            .where(col(Lead.id).in_(lead_ids))
            .values(name=FORGOTTEN_NAME, email=None, phone=None, title=None, external_id=None)
        )
    if messages:
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id).in_(messages))
            .values(to_address=FORGOTTEN_ADDRESS, subject=REDACTED, body=REDACTED)
        )
        # Nothing may still go out to them: unsent drafts and requests end here.
        unsent = (MessageStatus.DRAFT, MessageStatus.PENDING_APPROVAL, MessageStatus.APPROVED)
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id).in_(messages), col(OutboundMessage.status).in_(unsent))
            .values(status=MessageStatus.REJECTED, error=WITHDRAWN)
        )
    withdrawn = _redact_approvals(session, actor, approvals)
    session.flush()
    records = {
        "contact": contact_ids,
        "lead": lead_ids,
        "outbound_message": message_ids,
        "approval": [a.id for a in approvals if a.id is not None],
        "task": task_ids,
    }
    values_erased = erase_personal_values(session, subject=address, records=records)
    older_events = count_plain_mentions(session, needle=address, records=records, personal=PERSONAL_FIELDS)
    chunks = 0
    if interaction_ids:
        if index is None:
            raise InvalidInput({"index": "the vector index is needed to forget interactions; configure memory first"})
        chunks = index.delete_interactions(interaction_ids)
    receipt_id = write_receipt(
        session,
        actor,
        action="forget_contact",
        record_type="contact",
        record_id=None,
        after={
            "email_sha256": hashlib.sha256(address.encode()).hexdigest(),
            "contacts_deleted": len(contact_ids),
            "leads_anonymised": len(lead_ids),
            "interactions_deleted": len(interaction_ids),
            "index_chunks_deleted": chunks,
            "messages_redacted": len(messages),
            "approvals_redacted": len(approvals),
            "approvals_withdrawn": withdrawn,
            "audit_values_erased": values_erased,
            "older_audit_events_mentioning": older_events,
            "inbound_emails_deleted": inbound_deleted,
        },
    )
    return ForgetReport(
        contacts_deleted=len(contact_ids),
        leads_anonymised=len(lead_ids),
        interactions_deleted=len(interaction_ids),
        index_chunks_deleted=chunks,
        messages_redacted=len(messages),
        approvals_redacted=len(approvals),
        approvals_withdrawn=withdrawn,
        audit_values_erased=values_erased,
        older_audit_events=older_events,
        receipt=receipt_id,
        inbound_emails_deleted=inbound_deleted,
    )


def _inbound_from(session: Session, address: str) -> bool:
    from store.models import InboundEmail

    return (
        session.exec(select(InboundEmail.id).where(func.lower(InboundEmail.from_address) == address)).first()
        is not None
    )


def _delete_inbound_emails(
    session: Session,
    address: str,
    contact_ids: list[int],
    lead_ids: list[int],
    interaction_ids: list[int],
    message_ids: list[int],
) -> int:
    """Their emails read from the mailbox (``sales.inbound``): from them, on their records, or bounces of our
    emails to them; deleted before the interactions and contacts they point at."""
    from store.models import InboundEmail

    about = [func.lower(InboundEmail.from_address) == address]
    for column, ids in ((InboundEmail.contact_id, contact_ids), (InboundEmail.lead_id, lead_ids),
                        (InboundEmail.interaction_id, interaction_ids),
                        (InboundEmail.outbound_message_id, message_ids)):  # fmt: skip
        if ids:
            about.append(col(column).in_(ids))
    ids_found = [i for i in session.exec(select(InboundEmail.id).where(or_(*about))).all() if i is not None]
    if ids_found:
        session.execute(delete(InboundEmail).where(col(InboundEmail.id).in_(ids_found)))
    return len(ids_found)


def _scrub_task_titles(session: Session, lead_ids: list[int]) -> None:
    """Tasks on their leads name them ("First contact with Jane Roe"): put the forgotten name in its place."""
    names = {n for n in session.exec(select(Lead.name).where(col(Lead.id).in_(lead_ids))).all() if n}
    for task in session.exec(select(Task).where(col(Task.lead_id).in_(lead_ids))).all():
        title = task.title
        for name in names:
            title = title.replace(name, FORGOTTEN_NAME)
        if title != task.title:
            task.title = title
            session.add(task)


def _approvals_about(session: Session, address: str, lead_ids: list[int], message_ids: list[int]) -> list[Approval]:
    """Approval requests about the person: on their leads or messages, or follow-ups addressed to them."""
    about = []
    if lead_ids:
        about.append(and_(col(Approval.record_type) == "lead", col(Approval.record_id).in_(lead_ids)))
    if message_ids:
        about.append(and_(col(Approval.record_type) == "outbound_message", col(Approval.record_id).in_(message_ids)))
    found = {a.id: a for a in session.exec(select(Approval).where(or_(*about))).all()} if about else {}
    # A follow-up's recipient lives only in its arguments (an approver's edit may have changed it).
    for approval in session.exec(select(Approval).where(Approval.action == SEND_FOLLOW_UP)).all():
        recipients = {
            str(args.get("to", "")).strip().lower() for args in (approval.arguments, approval.decided_arguments or {})
        }
        if address in recipients:
            found[approval.id] = approval
    return list(found.values())


def _redacted(arguments: dict[str, Any] | None) -> dict[str, Any] | None:
    if arguments is None:
        return None
    personal = PERSONAL_FIELDS["approval"]
    return {
        k: (FORGOTTEN_ADDRESS if k == "to" else REDACTED) if k in personal and v not in (None, "") else v
        for k, v in arguments.items()
    }


def _redact_approvals(session: Session, actor: Actor, approvals: list[Approval]) -> int:
    """Redact the personal arguments of these requests and withdraw those still pending; returns how many were."""
    withdrawn = 0
    now = utcnow()
    for approval in approvals:
        approval.arguments = _redacted(approval.arguments) or {}
        approval.decided_arguments = _redacted(approval.decided_arguments)
        if approval.reason:
            approval.reason = REDACTED
        if approval.status == ApprovalStatus.PENDING:
            approval.status = ApprovalStatus.REJECTED
            approval.decision = "reject"
            approval.reason = WITHDRAWN
            approval.decided_by_id = actor.user_id
            approval.decided_at = now
            withdrawn += 1
        session.add(approval)
    return withdrawn
