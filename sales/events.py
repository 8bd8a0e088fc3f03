"""Domain events: what happened to a record, written to the ``domain_events`` outbox in the caller's transaction.

A domain function that changes a record calls ``emit`` before its transaction commits, so the event exists exactly
when the change does (a rolled-back change leaves no event, a committed one always has its event). Automation
(``sales.automation``) reads the outbox later. Time-based events (a deal stalled, a task overdue, no reply) carry
a ``dedupe_key``: emitting the same key again is a no-op, so a scan that runs every few minutes reports each once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from sales.permissions import Actor
from store.models import DomainEvent
from store.types import utcnow

LEAD_CREATED: Final = "lead_created"
SCORE_BAND_CHANGED: Final = "score_band_changed"
DEAL_ENTERED_STAGE: Final = "deal_entered_stage"
DEAL_STALLED: Final = "deal_stalled"
DEAL_ESCALATED: Final = "deal_escalated"
NO_REPLY: Final = "no_reply"
REPLY_RECEIVED: Final = "reply_received"
TASK_OVERDUE: Final = "task_overdue"
EMAIL_BOUNCED: Final = "email_bounced"
OPTED_OUT: Final = "opted_out"

KINDS: Final = (
    LEAD_CREATED,
    SCORE_BAND_CHANGED,
    DEAL_ENTERED_STAGE,
    DEAL_STALLED,
    DEAL_ESCALATED,
    NO_REPLY,
    REPLY_RECEIVED,
    TASK_OVERDUE,
    EMAIL_BOUNCED,
    OPTED_OUT,
)


def emit(
    session: Session,
    kind: str,
    record_type: str,
    record_id: int | None,
    payload: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    dedupe_key: str | None = None,
    at: datetime | None = None,
) -> DomainEvent | None:
    """Add an event to the outbox in the caller's transaction; None when ``dedupe_key`` was emitted before."""
    if kind not in KINDS:
        raise ValueError(f"unknown domain event {kind!r}; the kinds are {', '.join(KINDS)}")
    seen = select(DomainEvent.id).where(DomainEvent.dedupe_key == dedupe_key)
    if dedupe_key is not None and session.exec(seen).first() is not None:
        return None
    event = DomainEvent(
        kind=kind,
        record_type=record_type,
        record_id=record_id,
        payload=payload or {},
        dedupe_key=dedupe_key,
        actor_id=actor.user_id if actor is not None else None,
        occurred_at=at or utcnow(),
    )
    if dedupe_key is None:
        session.add(event)  # flushed with the change it reports
        return event
    # Another process may emit the same key at the same moment: the unique key decides, and the loser adds nothing.
    nested = session.begin_nested()
    try:
        session.add(event)
        session.flush()
    except IntegrityError:
        nested.rollback()
        return None
    nested.commit()
    return event


def pending_events(session: Session, limit: int = 500) -> list[DomainEvent]:
    """Events not processed yet, oldest first."""
    stmt = (
        select(DomainEvent)
        .where(DomainEvent.processed_at == None)  # noqa: E711
        .order_by(DomainEvent.id)  # type: ignore[arg-type]
        .limit(limit)
    )
    return list(session.exec(stmt).all())


__all__ = ["KINDS", "emit", "pending_events"]
