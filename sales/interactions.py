"""Interactions: emails, calls, meetings, notes and Slack messages logged against a deal, lead or contact.

The SQL row is the source of truth for the vector index: creating or editing an interaction clears
``indexed_at`` (and the sentiment computed from the old text) so the memory indexer picks it up again.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound
from sales.permissions import Actor, ensure_can_change, ensure_can_see
from sales.receipts import snapshot, write_receipt
from store.models import Channel, Contact, Deal, Direction, Interaction, Lead
from store.types import utcnow

INTERACTION_FIELDS = (
    "deal_id",
    "lead_id",
    "contact_id",
    "account_id",
    "user_id",
    "channel",
    "direction",
    "occurred_at",
)


def body_digest(body: str) -> dict[str, object]:
    """What the audit log keeps of a note's text: its length and hash, never the words.

    The audit log is append-only and hash-chained, so anything written there can never be erased; customer
    words must stay erasable (``salesgraph contacts forget``), while the hash still proves which text it was.
    """
    import hashlib

    return {"body_chars": len(body), "body_sha256": hashlib.sha256(body.encode("utf-8")).hexdigest()}


class InteractionInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    deal_id: int | None = None
    lead_id: int | None = None
    contact_id: int | None = None
    channel: str = Channel.NOTE
    direction: str = Direction.INTERNAL
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(min_length=1, max_length=100_000)
    occurred_at: datetime | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        allowed = [c.value for c in Channel]
        if value.lower() not in allowed:
            raise ValueError(f"channel must be one of {', '.join(allowed)}")
        return value.lower()

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        allowed = [d.value for d in Direction]
        if value.lower() not in allowed:
            raise ValueError(f"direction must be one of {', '.join(allowed)}")
        return value.lower()


def _owner_and_account(session: Session, actor: Actor, data: InteractionInput) -> tuple[int | None, int | None]:
    """The record owner (who may see the note) and the account, checking the actor may write to the record."""
    owner_id: int | None = None
    account_id: int | None = None
    if data.deal_id is not None:
        deal = session.get(Deal, data.deal_id)
        if deal is None:
            raise NotFound(f"there is no deal #{data.deal_id}")
        ensure_can_change(actor, deal.owner_id, f"deal #{deal.id} ({deal.name})")
        owner_id, account_id = deal.owner_id, deal.account_id
    if data.lead_id is not None:
        lead = session.get(Lead, data.lead_id)
        if lead is None:
            raise NotFound(f"there is no lead #{data.lead_id}")
        ensure_can_change(actor, lead.owner_id, f"lead #{lead.id} ({lead.name})")
        owner_id = owner_id or lead.owner_id
        account_id = account_id or lead.account_id
    if data.contact_id is not None:
        contact = session.get(Contact, data.contact_id)
        if contact is None:
            raise NotFound(f"there is no contact #{data.contact_id}")
        ensure_can_change(actor, contact.owner_id, f"contact #{contact.id}")
        owner_id = owner_id or contact.owner_id
        account_id = account_id or contact.account_id
    if owner_id is None and data.deal_id is None and data.lead_id is None and data.contact_id is None:
        raise InvalidInput({"record": "log the interaction against a deal, a lead or a contact"})
    return owner_id, account_id


def log_interaction(session: Session, actor: Actor, data: InteractionInput) -> tuple[Interaction, int]:
    owner_id, account_id = _owner_and_account(session, actor, data)
    occurred = data.occurred_at or utcnow()
    if occurred.tzinfo is None:
        raise InvalidInput({"occurred_at": "give a time zone (or leave it empty for now)"})
    now = utcnow()
    interaction = Interaction(
        deal_id=data.deal_id,
        lead_id=data.lead_id,
        contact_id=data.contact_id,
        account_id=account_id,
        user_id=owner_id if owner_id is not None else actor.user_id,
        channel=data.channel,
        direction=data.direction,
        subject=data.subject,
        body=data.body,
        occurred_at=occurred,
        created_at=now,
        updated_at=now,
    )
    session.add(interaction)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "log_interaction",
        "interaction",
        interaction.id,
        after={**snapshot(interaction, INTERACTION_FIELDS), **body_digest(data.body)},
    )
    if interaction.direction == Direction.INBOUND:
        from sales.events import REPLY_RECEIVED, emit

        emit(
            session,
            REPLY_RECEIVED,
            "interaction",
            interaction.id,
            {
                "lead_id": interaction.lead_id,
                "deal_id": interaction.deal_id,
                "contact_id": interaction.contact_id,
                "channel": interaction.channel,
            },
            actor=actor,
            # When they replied, not when it was logged: an old email imported today stops no newer sequence.
            at=min(occurred, now),
        )
    return interaction, receipt


def get_interaction(session: Session, actor: Actor, interaction_id: int) -> Interaction:
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound(f"there is no interaction #{interaction_id}")
    ensure_can_see(actor, interaction.user_id, f"interaction #{interaction_id}")
    return interaction


def update_interaction(
    session: Session, actor: Actor, interaction_id: int, *, body: str | None = None, subject: str | None = None
) -> int:
    """Edit the text of an interaction; it is re-indexed and its sentiment recomputed by the memory layer."""
    interaction = get_interaction(session, actor, interaction_id)
    ensure_can_change(actor, interaction.user_id, f"interaction #{interaction_id}")
    if body is not None and not body.strip():
        raise InvalidInput({"body": "an interaction needs some text"})
    before = body_digest(interaction.body)
    if body is not None:
        interaction.body = body.strip()
    if subject is not None:
        interaction.subject = subject.strip() or None
    interaction.updated_at = utcnow()
    interaction.indexed_at = None
    interaction.sentiment = None
    session.add(interaction)
    return write_receipt(
        session,
        actor,
        "update_interaction",
        "interaction",
        interaction.id,
        before=before,
        after=body_digest(interaction.body),
    )


def delete_interaction(session: Session, actor: Actor, interaction_id: int) -> int:
    """Delete an interaction; the memory layer removes it from the index (see memory's sync)."""
    interaction = get_interaction(session, actor, interaction_id)
    ensure_can_change(actor, interaction.user_id, f"interaction #{interaction_id}")
    before = snapshot(interaction, INTERACTION_FIELDS)
    session.delete(interaction)
    session.flush()
    return write_receipt(session, actor, "delete_interaction", "interaction", interaction_id, before=before)


def list_interactions(
    session: Session, actor: Actor, *, deal_id: int | None = None, lead_id: int | None = None, limit: int = 20
) -> list[Interaction]:
    stmt = select(Interaction)
    visible = actor.owner_filter(Interaction.user_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if deal_id is not None:
        stmt = stmt.where(Interaction.deal_id == deal_id)
    if lead_id is not None:
        stmt = stmt.where(Interaction.lead_id == lead_id)
    return list(session.exec(stmt.order_by(col(Interaction.occurred_at).desc()).limit(limit)).all())
