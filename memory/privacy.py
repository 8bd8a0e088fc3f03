"""Data-subject deletion ("forget this person"): their interactions leave SQL and the vector index together.

Removes every interaction logged against the person's contact records or against leads with their email, from
SQL and from every index collection, deletes the contact rows, anonymises leads with that email (the rows stay
so deals and pipeline history keep their links) and redacts outbound messages addressed to them. The audit event
records counts and a hash of the email, never the email itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from memory.index import InteractionIndex
from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor
from sales.receipts import write_receipt
from store.models import Contact, Interaction, Lead, OutboundMessage

FORGOTTEN_NAME = "(forgotten contact)"
FORGOTTEN_ADDRESS = "forgotten@invalid"
REDACTED = "[removed at the data subject's request]"


@dataclass(frozen=True)
class ForgetReport:
    contacts_deleted: int
    leads_anonymised: int
    interactions_deleted: int
    index_chunks_deleted: int
    messages_redacted: int
    receipt: int


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
    if not contact_ids and not lead_ids and not messages:
        raise NotFound(f"no contact, lead or message with the email {address}")

    about_them = []
    if contact_ids:
        about_them.append(col(Interaction.contact_id).in_(contact_ids))
    if lead_ids:
        about_them.append(col(Interaction.lead_id).in_(lead_ids))
    interaction_ids: list[int] = []
    if about_them:
        from sqlalchemy import or_

        interaction_ids = [
            i for i in session.exec(select(Interaction.id).where(or_(*about_them))).all() if i is not None
        ]
    if interaction_ids:
        session.execute(delete(Interaction).where(col(Interaction.id).in_(interaction_ids)))
    if contact_ids:
        session.execute(update(Lead).where(col(Lead.contact_id).in_(contact_ids)).values(contact_id=None))
        session.execute(
            update(OutboundMessage).where(col(OutboundMessage.contact_id).in_(contact_ids)).values(contact_id=None)
        )
        session.execute(delete(Contact).where(col(Contact.id).in_(contact_ids)))
    if lead_ids:
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
    session.flush()
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
        },
    )
    return ForgetReport(len(contact_ids), len(lead_ids), len(interaction_ids), chunks, len(messages), receipt_id)
