"""The audit log: one hash-chained event per state change, written in the caller's transaction.

Each event stores the hash of the event before it, so editing or deleting any row breaks the chain at
that point and ``verify_chain`` names the first broken link.

Personal values (the fields the caller names, e.g. a lead's name and email) are sealed: the event holds
``{"pii": ref}`` in their place and ``audit_personal_values`` holds the value, its salt and whose it is, where
``ref = sha256(salt + value)``. The chain hashes the event as stored, with its refs, so a value can be erased at
the data subject's request without breaking the chain, while a value edited in place no longer matches its ref.
Read snapshots through ``readable_events`` to see the values re-joined (``[erased]`` once forgotten).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Text, and_, cast, func, or_, text, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from store.models import AuditEvent, AuditPersonalValue
from store.types import utcnow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"
PII_MARKER = "pii"
ERASED = "[erased]"
MISSING = "[missing]"


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


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def value_ref(salt: str, canonical_value: str) -> str:
    """The reference an event stores for a sealed value: sha256 of the salt and the value's canonical JSON."""
    return hashlib.sha256((salt + canonical_value).encode("utf-8")).hexdigest()


def sealed_ref(value: Any) -> str | None:
    """The ref if ``value`` is a sealed-value marker ``{"pii": ref}``, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(PII_MARKER), str):
        return str(value[PII_MARKER])
    return None


def iter_refs(snapshot: Any) -> Iterator[str]:
    """Every sealed-value ref in a stored snapshot, at any depth."""
    ref = sealed_ref(snapshot)
    if ref is not None:
        yield ref
    elif isinstance(snapshot, dict):
        for value in snapshot.values():
            yield from iter_refs(value)
    elif isinstance(snapshot, list):
        for value in snapshot:
            yield from iter_refs(value)


@dataclass(frozen=True)
class _SealedValue:
    ref: str
    subject: str | None
    salt: str
    value: str


def _seal(
    snapshot: Any,
    personal: Collection[str],
    subject_fields: Sequence[str],
    subject: str | None,
    sealed: list[_SealedValue],
) -> Any:
    """``snapshot`` with every non-empty value under a ``personal`` key replaced by a marker (at any depth).

    The subject of a value is the email under the first of ``subject_fields`` in the nearest dict that has one.
    """
    if isinstance(snapshot, list):
        return [_seal(v, personal, subject_fields, subject, sealed) for v in snapshot]
    if not isinstance(snapshot, dict):
        return snapshot
    for name in subject_fields:
        found = snapshot.get(name)
        if isinstance(found, str) and "@" in found:
            subject = found.strip().lower()
            break
    out: dict[str, Any] = {}
    for key, value in snapshot.items():
        if key in personal and value not in (None, ""):
            salt = secrets.token_hex(16)
            canonical = _canonical(value)
            item = _SealedValue(value_ref(salt, canonical), subject, salt, canonical)
            sealed.append(item)
            out[key] = {PII_MARKER: item.ref}
        else:
            out[key] = _seal(value, personal, subject_fields, subject, sealed)
    return out


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
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


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
    personal: Collection[str] = (),
    subject_fields: Sequence[str] = (),
) -> AuditEvent:
    """Append one event in the session's transaction and return it with its id (the receipt).

    Values under the ``personal`` keys (at any depth of ``before``/``after``) are sealed into
    ``audit_personal_values``; ``subject_fields`` name the keys whose email says whose they are.
    """
    sealed: list[_SealedValue] = []
    stored_before = _seal(jsonable(before), personal, subject_fields, None, sealed) if before is not None else None
    stored_after = _seal(jsonable(after), personal, subject_fields, None, sealed) if after is not None else None
    _lock_chain(session)
    last = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor_id,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        before=stored_before,
        after=stored_after,
        prev_hash=last or GENESIS_HASH,
        hash="",
    )
    event.hash = _digest(event.prev_hash, event)
    session.add(event)
    session.flush()
    if sealed:
        assert event.id is not None
        session.add_all(
            AuditPersonalValue(event_id=event.id, ref=v.ref, subject=v.subject, salt=v.salt, value=v.value)
            for v in sealed
        )
        session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    personal_checked: int = 0
    personal_erased: int = 0


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the log in id order and report the first event whose link, content or sealed values do not match.

    A sealed value still held must hash to the ref its event stores; an erased value (emptied by
    ``erase_personal_values``) is counted, not flagged; a ref with no row at all is flagged as removed.
    """
    prev = GENESIS_HASH
    checked = personal_checked = personal_erased = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(col(AuditEvent.id) > last_id).order_by(col(AuditEvent.id)).limit(batch)
        ).all()
        if not rows:
            return ChainReport(True, checked, personal_checked=personal_checked, personal_erased=personal_erased)
        values = {
            v.ref: v
            for v in session.exec(
                select(AuditPersonalValue).where(
                    col(AuditPersonalValue.event_id) > last_id, col(AuditPersonalValue.event_id) <= rows[-1].id
                )
            )
        }
        for event in rows:
            assert event.id is not None
            problem = None
            if event.prev_hash != prev:
                problem = "its link to the previous event does not match (an event before it was removed or altered)"
            elif _digest(prev, event) != event.hash:
                problem = "its content no longer matches its hash (the row was edited)"
            for ref in iter_refs([event.before, event.after]) if problem is None else ():
                value = values.get(ref)
                if value is None or value.event_id != event.id:
                    problem = f"a personal value it refers to ({ref[:12]}…) was removed, not erased"
                elif value.erased_at is not None:
                    personal_erased += 1
                elif value.salt is None or value.value is None or value_ref(value.salt, value.value) != ref:
                    problem = f"a personal value it refers to ({ref[:12]}…) was edited (it no longer matches its ref)"
                if problem is not None:
                    break
                personal_checked += 1
            if problem is not None:
                return ChainReport(False, checked, event.id, problem, personal_checked, personal_erased)
            prev = event.hash
            last_id = event.id
            checked += 1


# --- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadableEvent:
    """An event with its snapshots as a person reads them: sealed values re-joined, or ``[erased]``."""

    event: AuditEvent
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def personal_values(session: Session, event_ids: Collection[int]) -> dict[str, str | None]:
    """ref → canonical JSON of the value (None once erased) for the values of these events."""
    values: dict[str, str | None] = {}
    ids = sorted(event_ids)
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(AuditPersonalValue.ref, AuditPersonalValue.value).where(
                col(AuditPersonalValue.event_id).in_(ids[start : start + 500])
            )
        ).all()
        values.update(dict(rows))
    return values


def rejoin(snapshot: Any, values: Mapping[str, str | None]) -> Any:
    """``snapshot`` with each marker replaced by its value, ``[erased]`` when forgotten, ``[missing]`` when gone."""
    ref = sealed_ref(snapshot)
    if ref is not None:
        if ref not in values:
            return MISSING
        stored = values[ref]
        return ERASED if stored is None else json.loads(stored)
    if isinstance(snapshot, dict):
        return {k: rejoin(v, values) for k, v in snapshot.items()}
    if isinstance(snapshot, list):
        return [rejoin(v, values) for v in snapshot]
    return snapshot


def readable_events(session: Session, events: Sequence[AuditEvent]) -> list[ReadableEvent]:
    """``events`` with their personal values re-joined; never changes the rows themselves."""
    values = personal_values(session, [e.id for e in events if e.id is not None])
    return [ReadableEvent(e, rejoin(e.before, values), rejoin(e.after, values)) for e in events]


# --- erasing -------------------------------------------------------------------------------------------------


def erase_personal_values(
    session: Session, *, subject: str | None, records: Mapping[str, Collection[int]] | None = None
) -> int:
    """Erase the sealed values whose subject is ``subject`` (a normalised email) or that belong to events about
    ``records`` (record type → ids), in the session's transaction; returns how many values were erased.

    The rows stay, emptied and stamped ``erased_at``, so the log shows a value was erased rather than lost.
    """
    conditions = []
    if subject:
        conditions.append(col(AuditPersonalValue.subject) == subject)
    for record_type, ids in (records or {}).items():
        if ids:
            about = select(AuditEvent.id).where(
                AuditEvent.record_type == record_type, col(AuditEvent.record_id).in_([str(i) for i in ids])
            )
            conditions.append(col(AuditPersonalValue.event_id).in_(about))
    if not conditions:
        return 0
    result = session.execute(
        update(AuditPersonalValue)
        .where(or_(*conditions), col(AuditPersonalValue.erased_at).is_(None))
        .values(value=None, salt=None, subject=None, erased_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_plain_mentions(
    session: Session,
    *,
    needle: str,
    records: Mapping[str, Collection[int]],
    personal: Mapping[str, Collection[str]],
) -> int:
    """How many events still hold a person's data in plain snapshots (written before values were sealed).

    An event counts when its snapshot contains ``needle`` (their normalised email) or, for an event about one of
    ``records``, a plain (unsealed) value under one of that record type's ``personal`` keys. Such events cannot be
    changed without breaking the chain; this only counts them.
    """
    needle = needle.lower()
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conditions: list[ColumnElement[bool]] = [
        func.lower(cast(AuditEvent.before, Text)).like(pattern, escape="\\"),
        func.lower(cast(AuditEvent.after, Text)).like(pattern, escape="\\"),
    ]
    for record_type, ids in records.items():
        if ids:
            conditions.append(
                and_(col(AuditEvent.record_type) == record_type, col(AuditEvent.record_id).in_([str(i) for i in ids]))
            )
    count = 0
    for event in session.exec(select(AuditEvent).where(or_(*conditions))):
        snapshots = (event.before, event.after)
        if needle in _canonical(snapshots).lower() or _has_plain(snapshots, personal.get(event.record_type, ())):
            count += 1
    return count


def _has_plain(snapshot: Any, personal: Collection[str]) -> bool:
    if isinstance(snapshot, dict):
        return any(
            (k in personal and v not in (None, "") and sealed_ref(v) is None) or _has_plain(v, personal)
            for k, v in snapshot.items()
        )
    if isinstance(snapshot, list | tuple):
        return any(_has_plain(v, personal) for v in snapshot)
    return False
