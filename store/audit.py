"""The audit log: one hash-chained event per state change, written in the caller's transaction.

Each event stores the hash of the event before it, so editing or deleting any row breaks the chain at
that point and ``verify_chain`` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from store.models import AuditEvent
from store.types import utcnow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"


def jsonable(value: Any) -> Any:
    """Turn ``value`` into plain JSON types (Decimal→str, dates→ISO) so it hashes the same after a round trip."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def _digest(prev_hash: str, event: AuditEvent) -> str:
    payload = {
        "prev": prev_hash,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "before": event.before,
        "after": event.after,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    # PostgreSQL: serialise appenders so two transactions never chain onto the same predecessor.
    # SQLite: sessions start with BEGIN IMMEDIATE (store.db), which already serialises writers.
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7243019)"))


def record_event(
    session: Session,
    *,
    actor_id: int | None,
    actor: str,
    action: str,
    record_type: str,
    record_id: int | str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the session's transaction and return it with its id (the receipt)."""
    _lock_chain(session)
    last = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor_id,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        prev_hash=last or GENESIS_HASH,
        hash="",
    )
    event.hash = _digest(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the log in id order and report the first event whose link or content does not match."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(col(AuditEvent.id) > last_id).order_by(col(AuditEvent.id)).limit(batch)
        ).all()
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for event in rows:
            assert event.id is not None
            if event.prev_hash != prev:
                return ChainReport(
                    False,
                    checked,
                    event.id,
                    "its link to the previous event does not match (an event before it was removed or altered)",
                )
            if _digest(prev, event) != event.hash:
                return ChainReport(
                    False, checked, event.id, "its content no longer matches its hash (the row was edited)"
                )
            prev = event.hash
            last_id = event.id
            checked += 1
