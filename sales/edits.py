"""Fixing mistakes: edit a deal, lead or contact, reopen a closed deal, undo your own last change.

Every one of these is a state change like any other: permission-checked, validated before anything is written,
and audited with a receipt whose before/after snapshots say exactly what changed. An undo is itself a change with a
receipt (action ``undo``, ``after.undoes`` = the event it reverses), so the audit chain is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, assignable_owner_id, ensure_can_change
from sales.receipts import snapshot, write_receipt
from sales.stages import StageMachine, workspace_machine
from store.models import AuditEvent, Contact, Deal, Lead, StageChange
from store.types import utcnow

UNDO_WINDOW = timedelta(minutes=30)
"""How far back "undo my last change" reaches."""

EDITABLE: dict[str, tuple[str, ...]] = {
    "deal": ("name", "amount", "expected_close_date", "owner", "product"),
    "lead": ("name", "email", "phone", "company", "title", "source", "industry", "region", "owner"),
    "contact": ("name", "email", "phone", "title"),
}
MODELS: dict[str, type[Deal] | type[Lead] | type[Contact]] = {"deal": Deal, "lead": Lead, "contact": Contact}
UNDOABLE = frozenset({"edit_deal", "edit_lead", "edit_contact", "move_deal", "reopen_deal"})
_CLOSING_FIELDS = ("stage", "closed_at", "loss_reason", "probability", "stage_entered_at")


@dataclass(frozen=True)
class EditResult:
    record_type: str
    record_id: int
    name: str
    changed: dict[str, tuple[Any, Any]]
    """field → (before, after)."""
    receipt_id: int


def _record(session: Session, actor: Actor, record_type: str, record_id: int) -> Deal | Lead | Contact:
    if record_type not in MODELS:
        raise InvalidInput({"record_type": f"use one of {', '.join(MODELS)}"})
    record: Deal | Lead | Contact | None = session.get(MODELS[record_type], record_id)  # type: ignore[assignment]
    if record is None:
        raise NotFound(f"there is no {record_type} #{record_id}")
    ensure_can_change(actor, record.owner_id, f"{record_type} #{record_id} ({record.name})")
    return record


def _value(session: Session, actor: Actor, record_type: str, name: str, raw: Any) -> tuple[str, Any]:
    """The column and checked value for one edited field, or InvalidInput naming the field."""
    from sales.validation import normalize_email, normalize_phone

    if name == "owner":
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput({"owner": "name the new owner by email"})
        if not actor.is_manager:
            raise PermissionDenied("only a manager or an admin can give a record to someone else")
        email = raw.strip()
        if "@" not in email:  # a name: the one user it names
            from sales.users import find_user

            email = find_user(session, actor, email).email
        return "owner_id", assignable_owner_id(session, actor, email, record_type)
    if name == "amount":
        try:
            amount = Decimal(str(raw).replace(",", "").lstrip("$"))
        except ArithmeticError:
            raise InvalidInput({"amount": f"{raw!r} is not an amount"}) from None
        if amount < 0:
            raise InvalidInput({"amount": "an amount cannot be negative"})
        return "amount", amount
    if name == "expected_close_date":
        if isinstance(raw, date):
            return name, raw
        try:
            return name, date.fromisoformat(str(raw).strip()[:10])
        except ValueError:
            raise InvalidInput({name: f"{raw!r} is not a date (YYYY-MM-DD)"}) from None
    text = str(raw).strip() if raw is not None else ""
    if name == "email":
        return name, normalize_email(text) if text else None
    if name == "phone":
        return name, normalize_phone(text) if text else None
    if name == "name" and not text:
        raise InvalidInput({"name": "a name cannot be empty"})
    return name, text or None


def edit_record(
    session: Session, actor: Actor, record_type: str, record_id: int, changes: dict[str, Any]
) -> EditResult:
    """Change fields of a deal, lead or contact the actor may change; every field is checked before any is
    written, and one receipt records the before and after of exactly the fields that changed."""
    allowed = EDITABLE.get(record_type)
    if allowed is None:
        raise InvalidInput({"record_type": f"use one of {', '.join(EDITABLE)}"})
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InvalidInput({k: f"cannot be edited on a {record_type}; editable: {', '.join(allowed)}" for k in unknown})
    if not changes:
        raise InvalidInput({"changes": "say what to change"})
    record = _record(session, actor, record_type, record_id)
    planned: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, raw in changes.items():
        try:
            column, value = _value(session, actor, record_type, name, raw)
        except InvalidInput as exc:
            problems.update(exc.problems)
            continue
        planned[column] = value
    if problems:
        raise InvalidInput(problems)
    changed = {k: v for k, v in planned.items() if getattr(record, k) != v}
    if not changed:
        raise InvalidInput({"changes": f"{record_type} #{record_id} already has those values"})
    before = snapshot(record, tuple(changed))
    for column, value in changed.items():
        setattr(record, column, value)
    if hasattr(record, "updated_at"):
        record.updated_at = utcnow()
    session.add(record)
    session.flush()
    receipt = write_receipt(session, actor, f"edit_{record_type}", record_type, record_id, before=before, after=changed)
    return EditResult(record_type, record_id, record.name, {k: (before[k], v) for k, v in changed.items()}, receipt)


@dataclass(frozen=True)
class ReopenResult:
    deal: Deal
    from_stage: str
    to_stage: str
    receipt_id: int


def reopen_deal(
    session: Session,
    actor: Actor,
    deal_id: int,
    reason: str,
    to_stage: str | None = None,
    *,
    machine: StageMachine | None = None,
) -> ReopenResult:
    """Reopen a Won or Lost deal (a manager of its owner, or an admin), back to the stage it closed from unless
    ``to_stage`` names another open stage; the reason is required and kept in the receipt."""
    machine = machine or workspace_machine(session)
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(f"there is no deal #{deal_id}")
    ensure_can_change(actor, deal.owner_id, f"deal #{deal_id} ({deal.name})")
    if not actor.is_manager:
        raise PermissionDenied("only the owner's manager or an admin can reopen a closed deal; ask your manager")
    if deal.stage not in machine.closed_stages:
        raise InvalidInput({"deal": f"deal #{deal_id} ({deal.name}) is open ({deal.stage}); only closed deals reopen"})
    if not reason or not reason.strip():
        raise InvalidInput({"reason": "say why the deal is reopened"})
    closing = session.exec(
        select(StageChange)
        .where(StageChange.deal_id == deal_id, StageChange.to_stage == deal.stage)
        .order_by(col(StageChange.changed_at).desc(), col(StageChange.id).desc())
    ).first()
    target = machine.canonical(to_stage) if to_stage else (closing.from_stage if closing else None)
    if target is None or target not in machine.open_stages:
        named = f"{to_stage!r} is not an open stage" if to_stage else "its stage before closing is not recorded"
        raise InvalidInput({"to_stage": f"{named}; name one of {', '.join(machine.open_stages)}"})
    before = snapshot(deal, _CLOSING_FIELDS)
    now = utcnow()
    current = deal.stage
    deal.stage, deal.stage_entered_at, deal.updated_at = target, now, now
    deal.closed_at, deal.loss_reason, deal.probability = None, None, None
    change = StageChange(
        deal_id=deal_id, from_stage=current, to_stage=target, changed_at=now, changed_by_id=actor.user_id
    )
    session.add_all([deal, change])
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "reopen_deal",
        "deal",
        deal_id,
        before=before,
        after={**snapshot(deal, _CLOSING_FIELDS), "reason": reason.strip(), "stage_change_id": change.id},
    )
    return ReopenResult(deal, current, target, receipt)


@dataclass(frozen=True)
class UndoResult:
    undone_event_id: int
    action: str
    record_type: str
    record_id: int
    name: str
    restored: dict[str, Any]
    receipt_id: int


def _undone_ids(session: Session, actor: Actor) -> set[int]:
    rows = session.exec(
        select(AuditEvent.after).where(AuditEvent.actor_id == actor.user_id, AuditEvent.action == "undo")
    ).all()
    return {int(after["undoes"]) for after in rows if isinstance(after, dict) and after.get("undoes") is not None}


def _describe(action: str) -> str:
    return {"move_deal": "stage move", "reopen_deal": "reopen"}.get(action, action.replace("_", " "))


def undo_last_change(
    session: Session,
    actor: Actor,
    *,
    now: datetime | None = None,
    window: timedelta = UNDO_WINDOW,
    machine: StageMachine | None = None,
) -> UndoResult:
    """Reverse the actor's own most recent edit, stage move or reopen, if it is within ``window`` and the record
    has not changed since; anything else is refused with the reason."""
    from store.audit import personal_values, rejoin

    machine = machine or workspace_machine(session)
    if actor.user_id is None:
        raise PermissionDenied("only a user of this workspace can undo their changes")
    now = now or utcnow()
    undone = _undone_ids(session, actor)
    recent = session.exec(
        select(AuditEvent)
        .where(AuditEvent.actor_id == actor.user_id, AuditEvent.action != "undo")
        .order_by(col(AuditEvent.id).desc())
        .limit(50)
    ).all()
    event = next((e for e in recent if e.id not in undone), None)
    if event is None or event.id is None:
        raise NotFound("you have no change of your own to undo")
    minutes = int(window.total_seconds() // 60)
    if event.action not in UNDOABLE:
        raise InvalidInput(
            {
                "undo": f"your last change was {event.action.replace('_', ' ')} (receipt #{event.id}), which I can't "
                "undo; I can undo an edit, a stage move or a reopen"
            }
        )
    if now - event.at > window:
        raise InvalidInput(
            {
                "undo": f"your last {_describe(event.action)} (receipt #{event.id}) was more than {minutes} minutes "
                "ago; change it back by hand"
            }
        )
    record_type = event.record_type
    record_id = int(event.record_id or 0)
    record = _record(session, actor, record_type, record_id)
    values = personal_values(session, [event.id])
    before = rejoin(event.before or {}, values)
    after = rejoin(event.after or {}, values)
    if any(v in ("[erased]", "[missing]") for v in before.values()):
        raise InvalidInput({"undo": "the values before that change were erased from the audit log"})
    if event.action.startswith("edit_"):
        restored = {k: _restore(k, v) for k, v in before.items()}
        current = {k: getattr(record, k) for k in restored}
        expected = {k: _restore(k, v) for k, v in after.items() if k in restored}
        if current != expected:
            raise InvalidInput({"undo": f"{record_type} #{record_id} has changed since; change it back by hand"})
    else:  # a stage move or a reopen of a deal: put the stage back and drop the change's stage history row
        assert isinstance(record, Deal)
        if record.stage != after.get("stage"):
            raise InvalidInput({"undo": f"deal #{record_id} has moved again since; move it back by hand"})
        previous = session.exec(
            select(StageChange)
            .where(StageChange.deal_id == record_id, StageChange.id != after.get("stage_change_id"))
            .order_by(col(StageChange.changed_at).desc(), col(StageChange.id).desc())
        ).first()
        restored = {"stage": before["stage"]}
        if event.action == "move_deal":
            restored["amount"] = _restore("amount", before.get("amount"))
            restored["loss_reason"] = before.get("loss_reason")
            if before["stage"] not in machine.closed_stages:
                restored |= {"closed_at": None, "probability": None}
        else:
            restored |= {k: _restore(k, before.get(k)) for k in ("closed_at", "loss_reason", "probability")}
        restored["stage_entered_at"] = (
            _restore("stage_entered_at", before["stage_entered_at"])
            if before.get("stage_entered_at")
            else (previous.changed_at if previous else record.created_at)
        )
        change = session.get(StageChange, after.get("stage_change_id"))
        if change is not None:
            session.delete(change)  # the mistaken step is not part of the deal's process history
    current_snapshot = snapshot(record, tuple(restored))
    for column, value in restored.items():
        setattr(record, column, value)
    if hasattr(record, "updated_at"):
        record.updated_at = now
    session.add(record)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "undo",
        record_type,
        record_id,
        before=current_snapshot,
        after={**restored, "undoes": event.id, "undid_action": event.action},
    )
    return UndoResult(event.id, event.action, record_type, record_id, record.name, restored, receipt)


def _restore(name: str, value: Any) -> Any:
    """A snapshot value (JSON) back as the column's type."""
    if value is None:
        return None
    if name == "amount":
        return Decimal(str(value))
    if name == "expected_close_date":
        return date.fromisoformat(str(value)) if not isinstance(value, date) else value
    if name in ("closed_at", "stage_entered_at"):
        if isinstance(value, datetime):
            return value
        from datetime import UTC

        parsed = datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


__all__ = [
    "EDITABLE",
    "UNDO_WINDOW",
    "EditResult",
    "ReopenResult",
    "UndoResult",
    "edit_record",
    "reopen_deal",
    "undo_last_change",
]
