"""Receipts: how domain functions write their audit event and hand its id back to the caller."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel

from sales.permissions import Actor
from store.audit import record_event


def snapshot(record: SQLModel, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of ``record`` as a dict, for an audit event's before/after summary."""
    return {name: getattr(record, name) for name in fields}


def write_receipt(
    session: Session,
    actor: Actor,
    action: str,
    record_type: str,
    record_id: int | str | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """Append the audit event for a state change in the caller's transaction and return its id."""
    event = record_event(
        session,
        actor_id=actor.user_id,
        actor=actor.email,
        action=action,
        record_type=record_type,
        record_id=record_id,
        before=before,
        after=after,
    )
    assert event.id is not None
    return event.id
