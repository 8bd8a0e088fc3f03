"""Receipts: how domain functions write their audit event and hand its id back to the caller."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel

from sales.permissions import Actor
from store.audit import record_event

# Which snapshot fields are personal data, per record type (the event's record_type), at any depth of the
# snapshot (an approval's ``arguments``, too). The audit log seals them (store.audit): the event keeps a
# reference, the value lives beside the chain and `salesgraph contacts forget` can erase it. Ids, amounts, stages,
# statuses and dates are not personal; free text a person wrote about someone (notes, reasons, subjects) is.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "lead": frozenset({"name", "email", "phone", "title", "note", "reason"}),
    "contact": frozenset({"name", "email", "phone", "title"}),
    "user": frozenset({"name", "email", "slack_user_id"}),
    "outbound_message": frozenset({"to_address", "subject", "error"}),
    "approval": frozenset({"to", "subject", "body", "lead_name", "deal_name", "note", "reason"}),
    "task": frozenset({"title"}),
}
# The fields whose (email) value says whom the personal values beside them are about: the data subject.
SUBJECT_FIELDS: tuple[str, ...] = ("email", "to_address", "to")


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
    """Append the audit event for a state change in the caller's transaction and return its id.

    The record type's personal fields (``PERSONAL_FIELDS``) are sealed, so they stay erasable.
    """
    event = record_event(
        session,
        actor_id=actor.user_id,
        actor=actor.email,
        action=action,
        record_type=record_type,
        record_id=record_id,
        before=before,
        after=after,
        personal=PERSONAL_FIELDS.get(record_type, frozenset()),
        subject_fields=SUBJECT_FIELDS,
    )
    assert event.id is not None
    return event.id
