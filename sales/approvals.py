"""Approval rows for guarded actions (sending a follow-up, qualifying a lead): request, decide, expire.

A request names who may decide it. Only those people decide; anyone else is refused and the request stays
pending. A request past its expiry is rejected automatically (status ``expired``), never approved. The guarded
domain functions (``sales.outbound``, ``sales.qualification``) call ``require_approved`` themselves, so nothing
is sent or qualified without an approved row even when the agent is bypassed.

Several processes may decide and carry out approvals at once (N Slack app processes on one PostgreSQL): every
function here that changes a row first takes the row lock (``SELECT ... FOR UPDATE``, re-reading the row), so
of two concurrent clicks one decides and the other waits, then sees the decision and gets ``ApprovalClosed``;
of two concurrent executions one claims ``executed_at`` and the other sees it claimed. (SQLite serialises
writers with ``BEGIN IMMEDIATE`` instead; the same code holds there.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session, col, select

from sales.errors import ApprovalRequired, InvalidInput, NotFound, PermissionDenied, SalesError
from sales.permissions import Actor
from sales.receipts import snapshot, write_receipt
from store.models import Approval, ApprovalStatus, Role, User
from store.types import utcnow

SEND_FOLLOW_UP = "send_follow_up"
QUALIFY_LEAD = "qualify_lead"

Decision = Literal["approve", "edit", "reject"]
ApproverRule = Literal["owner_or_manager", "manager"]

APPROVAL_FIELDS = ("action", "status", "decision", "record_type", "record_id", "approver_ids", "expires_at")

# Which arguments an approver may change with an "edit" decision, per action.
EDITABLE_ARGUMENTS: dict[str, frozenset[str]] = {
    SEND_FOLLOW_UP: frozenset({"to", "subject", "body"}),
    QUALIFY_LEAD: frozenset({"amount", "note", "deal_name"}),
}


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may decide each guarded action; admins may decide anything unless ``admins_decide`` is off."""

    rules: tuple[tuple[str, ApproverRule], ...] = ((SEND_FOLLOW_UP, "owner_or_manager"), (QUALIFY_LEAD, "manager"))
    admins_decide: bool = True

    def rule_for(self, action: str) -> ApproverRule:
        for name, rule in self.rules:
            if name == action:
                return rule
        raise InvalidInput({"action": f"{action!r} is not an action that needs approval"})


DEFAULT_POLICY = ApprovalPolicy()


class ApprovalClosed(SalesError):
    """The request was already decided (or expired); a second decision changes nothing."""


@dataclass(frozen=True)
class DecisionResult:
    approval: Approval
    receipt_id: int

    @property
    def expired(self) -> bool:
        return self.approval.status == ApprovalStatus.EXPIRED


def _managers_above(session: Session, user_id: int) -> list[int]:
    chain: list[int] = []
    current = session.get(User, user_id)
    seen = {user_id}
    while current is not None and current.manager_id is not None and current.manager_id not in seen:
        chain.append(current.manager_id)
        seen.add(current.manager_id)
        current = session.get(User, current.manager_id)
    return chain


def approver_ids_for(
    session: Session, action: str, owner_id: int | None, policy: ApprovalPolicy = DEFAULT_POLICY
) -> list[int]:
    """The users who may decide ``action`` on a record owned by ``owner_id`` (admins come on top, see policy)."""
    rule = policy.rule_for(action)
    if owner_id is None:
        return []
    managers = [m for m in _managers_above(session, owner_id) if (u := session.get(User, m)) is not None and u.active]
    if rule == "owner_or_manager":
        return [owner_id, *managers]
    if managers:
        return managers
    # The owner is a manager with nobody above them: they are "a manager" and may decide it themselves.
    owner = session.get(User, owner_id)
    return [owner_id] if owner is not None and owner.role in (Role.MANAGER, Role.ADMIN) else []


def may_decide(actor: Actor, approval: Approval, policy: ApprovalPolicy = DEFAULT_POLICY) -> bool:
    if actor.user_id is not None and actor.user_id in approval.approver_ids:
        return True
    return policy.admins_decide and actor.is_admin


def approver_emails(session: Session, approval: Approval) -> list[str]:
    if not approval.approver_ids:
        return []
    users = session.exec(select(User).where(col(User.id).in_(approval.approver_ids))).all()
    return sorted(u.email for u in users)


def request_approval(
    session: Session,
    actor: Actor,
    *,
    action: str,
    arguments: dict[str, Any],
    record_type: str,
    record_id: int,
    owner_id: int | None,
    thread_id: str | None = None,
    ttl_hours: int = 72,
    policy: ApprovalPolicy = DEFAULT_POLICY,
) -> tuple[Approval, int | None]:
    """Store a pending request, or return the open one (pending, or approved and not yet carried out) for the
    same action, record and thread.

    Reusing the pending row makes the request idempotent: a graph node that re-runs after a restart, or a user
    asking twice, does not pile up duplicate requests. The receipt is None when an existing row is returned.
    """
    candidates = session.exec(
        select(Approval)
        .where(
            Approval.action == action,
            Approval.record_type == record_type,
            Approval.record_id == record_id,
            col(Approval.status).in_([ApprovalStatus.PENDING, ApprovalStatus.APPROVED]),
            Approval.thread_id == thread_id if thread_id is not None else col(Approval.thread_id).is_(None),
        )
        .order_by(col(Approval.id).desc())
    ).all()
    for existing in candidates:
        # A pending request, or an approved one not yet carried out (the node re-runs after the decision).
        if existing.status == ApprovalStatus.PENDING and existing.expires_at > utcnow():
            return existing, None
        if existing.status == ApprovalStatus.APPROVED and existing.executed_at is None:
            return existing, None
    approvers = approver_ids_for(session, action, owner_id, policy)
    if not approvers and not policy.admins_decide:
        raise PermissionDenied(f"nobody may approve {action} for this {record_type}; ask an admin to set a manager")
    approval = Approval(
        action=action,
        arguments=arguments,
        record_type=record_type,
        record_id=record_id,
        requested_by_id=actor.user_id,
        approver_ids=approvers,
        status=ApprovalStatus.PENDING,
        expires_at=utcnow() + timedelta(hours=ttl_hours),
        thread_id=thread_id,
    )
    session.add(approval)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "request_approval",
        "approval",
        approval.id,
        after={**snapshot(approval, APPROVAL_FIELDS), "arguments": arguments},
    )
    return approval, receipt


def get_approval(session: Session, approval_id: int) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None:
        raise NotFound(f"there is no approval request #{approval_id}; see `salesgraph approvals list`")
    return approval


def _locked(session: Session, approval_id: int) -> Approval | None:
    """The row, locked for this transaction and re-read from the database (not the session's stale copy): a
    concurrent decider in another process waits here until this transaction ends, then reads what it wrote."""
    return session.exec(
        select(Approval).where(Approval.id == approval_id).with_for_update().execution_options(populate_existing=True)
    ).first()


def lock_approval(session: Session, approval_id: int) -> Approval:
    """``get_approval`` with the row lock held until the transaction ends (for a caller about to change it)."""
    approval = _locked(session, approval_id)
    if approval is None:
        raise NotFound(f"there is no approval request #{approval_id}; see `salesgraph approvals list`")
    return approval


def _expire(session: Session, actor: Actor, approval: Approval, now: datetime) -> int:
    before = snapshot(approval, APPROVAL_FIELDS)
    approval.status = ApprovalStatus.EXPIRED
    approval.decision = "reject"
    approval.reason = f"expired at {approval.expires_at.isoformat(timespec='minutes')} before anyone decided"
    approval.decided_at = now
    session.add(approval)
    session.flush()
    return write_receipt(
        session,
        actor,
        "expire_approval",
        "approval",
        approval.id,
        before=before,
        after=snapshot(approval, APPROVAL_FIELDS),
    )


def _validated_edit(approval: Approval, arguments: dict[str, Any] | None) -> dict[str, Any]:
    if not arguments:
        raise InvalidInput({"arguments": "an edit decision needs the changed arguments"})
    allowed = EDITABLE_ARGUMENTS.get(approval.action, frozenset())
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise InvalidInput(
            {
                name: f"cannot be changed when approving {approval.action}; editable: {', '.join(sorted(allowed))}"
                for name in unknown
            }
        )
    for name, value in arguments.items():
        if name in ("subject", "body", "to", "note", "deal_name") and (not isinstance(value, str) or not value.strip()):
            raise InvalidInput({name: "must be non-empty text"})
        if name == "amount" and value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidInput({"amount": "must be a number"})
            try:
                if float(value) < 0:
                    raise InvalidInput({"amount": "must not be negative"})
            except ValueError as exc:
                raise InvalidInput({"amount": f"{value!r} is not a number"}) from exc
    return {**approval.arguments, **arguments}


def decide_approval(
    session: Session,
    decider: Actor,
    approval_id: int,
    decision: Decision,
    *,
    arguments: dict[str, Any] | None = None,
    reason: str | None = None,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> DecisionResult:
    """Record ``decider``'s decision. Refuses (and leaves the request pending) anyone not allowed to decide.

    An overdue request is marked expired instead, whatever the decision; check ``result.expired``.
    """
    now = now or utcnow()
    approval = lock_approval(session, approval_id)
    if approval.status != ApprovalStatus.PENDING:
        who = ""
        if approval.decided_by_id is not None and (user := session.get(User, approval.decided_by_id)) is not None:
            who = f" by {user.email}"
        raise ApprovalClosed(f"approval #{approval_id} is already {approval.status}{who}; nothing changed")
    if not may_decide(decider, approval, policy):
        allowed = ", ".join(approver_emails(session, approval)) or "an admin"
        raise PermissionDenied(
            f"{decider.email} may not decide approval #{approval_id} ({approval.action}); it stays pending for {allowed}"
        )
    if approval.expires_at <= now:
        return DecisionResult(approval, _expire(session, decider, approval, now))
    if decision not in ("approve", "edit", "reject"):
        raise InvalidInput({"decision": "must be approve, edit or reject"})
    # Validate an edit before touching the row, so a bad edit leaves the request exactly as it was.
    edited = _validated_edit(approval, arguments) if decision == "edit" else None
    before = snapshot(approval, APPROVAL_FIELDS)
    if decision == "reject":
        approval.status = ApprovalStatus.REJECTED
        approval.reason = (reason or "").strip() or "rejected without a reason"
    else:
        approval.status = ApprovalStatus.APPROVED
        approval.reason = reason
        approval.decided_arguments = edited
    approval.decision = decision
    approval.decided_by_id = decider.user_id
    approval.decided_at = now
    session.add(approval)
    session.flush()
    receipt = write_receipt(
        session,
        decider,
        f"{decision}_approval" if decision != "edit" else "approve_approval_with_edits",
        "approval",
        approval.id,
        before=before,
        after={
            **snapshot(approval, APPROVAL_FIELDS),
            "decided_arguments": approval.decided_arguments,
            "reason": approval.reason,
        },
    )
    return DecisionResult(approval, receipt)


def withdraw_approval(session: Session, actor: Actor, approval_id: int, reason: str) -> int:
    """Withdraw a pending request whose subject changed under it (a draft edited after its send was requested):
    it is rejected with ``reason``, never approved, and a new request must be made. Returns the receipt."""
    approval = lock_approval(session, approval_id)
    if approval.status != ApprovalStatus.PENDING:
        raise ApprovalClosed(f"approval #{approval_id} is already {approval.status}; nothing changed")
    before = snapshot(approval, APPROVAL_FIELDS)
    approval.status = ApprovalStatus.REJECTED
    approval.decision = "reject"
    approval.reason = reason
    approval.decided_by_id = actor.user_id
    approval.decided_at = utcnow()
    session.add(approval)
    session.flush()
    return write_receipt(
        session,
        actor,
        "withdraw_approval",
        "approval",
        approval.id,
        before=before,
        after={**snapshot(approval, APPROVAL_FIELDS), "reason": reason},
    )


def expire_if_overdue(session: Session, actor: Actor, approval_id: int, now: datetime | None = None) -> bool:
    """Expire one pending request if its time is up; True when it is (now or already) expired."""
    now = now or utcnow()
    approval = lock_approval(session, approval_id)
    if approval.status == ApprovalStatus.EXPIRED:
        return True
    if approval.status == ApprovalStatus.PENDING and approval.expires_at <= now:
        _expire(session, actor, approval, now)
        return True
    return False


def expire_overdue(session: Session, actor: Actor, now: datetime | None = None) -> list[int]:
    """Mark every pending request past its expiry as expired; returns their ids."""
    now = now or utcnow()
    overdue = session.exec(
        select(Approval)
        .where(Approval.status == ApprovalStatus.PENDING, col(Approval.expires_at) <= now)
        .with_for_update(skip_locked=True)  # one being decided elsewhere right now is left to that decider
        .execution_options(populate_existing=True)
    ).all()
    expired: list[int] = []
    for approval in overdue:
        _expire(session, actor, approval, now)
        assert approval.id is not None
        expired.append(approval.id)
    return expired


def list_approvals(
    session: Session, actor: Actor, *, status: str | None = ApprovalStatus.PENDING, limit: int = 100
) -> list[Approval]:
    """Requests the actor asked for, may decide, or (as a manager) can see through their team."""
    stmt = select(Approval)
    if status:
        stmt = stmt.where(Approval.status == status)
    rows = session.exec(stmt.order_by(col(Approval.created_at).desc(), col(Approval.id).desc())).all()
    visible = [
        a
        for a in rows
        if actor.visible_owner_ids is None
        or a.requested_by_id == actor.user_id
        or (actor.user_id is not None and actor.user_id in a.approver_ids)
        or (a.requested_by_id is not None and actor.can_see_owner(a.requested_by_id))
    ]
    return visible[:limit]


def effective_arguments(approval: Approval) -> dict[str, Any]:
    """The arguments to act on: the approver's edited version when there is one."""
    return dict(approval.decided_arguments or approval.arguments)


def require_approved(
    session: Session, approval_id: int | None, *, action: str, record_type: str, record_id: int
) -> Approval:
    """The approved row for exactly this action on exactly this record, or ``ApprovalRequired``.

    The guarded domain functions call this first, so a caller that skips the agent still cannot act. The row stays
    locked until the caller's transaction ends, so two processes cannot both carry it out.
    """
    if approval_id is None:
        raise ApprovalRequired(f"{action} needs an approved request first; nothing was done")
    # Locked: a second process carrying out the same approval waits here, then sees ``executed_at`` set.
    approval = _locked(session, approval_id)
    if approval is None:
        raise ApprovalRequired(f"approval #{approval_id} does not exist; nothing was done")
    if approval.action != action or approval.record_type != record_type or approval.record_id != record_id:
        raise ApprovalRequired(
            f"approval #{approval_id} is for {approval.action} on {approval.record_type} #{approval.record_id}, "
            f"not {action} on {record_type} #{record_id}; nothing was done"
        )
    if approval.status != ApprovalStatus.APPROVED:
        raise ApprovalRequired(f"approval #{approval_id} is {approval.status}, not approved; nothing was done")
    if approval.decided_at is None or approval.decided_at > approval.expires_at:
        raise ApprovalRequired(f"approval #{approval_id} was not decided before it expired; nothing was done")
    return approval


def mark_executed(session: Session, approval: Approval) -> None:
    """Record that the approved action was carried out; refuses a second time (compare-and-set on the row)."""
    from sqlalchemy import update

    stamp = utcnow()
    claimed = session.execute(
        update(Approval)
        .where(col(Approval.id) == approval.id, col(Approval.executed_at).is_(None))
        .values(executed_at=stamp)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 1) != 1:
        raise ApprovalClosed(f"approval #{approval.id} was already carried out; nothing was done twice")
    approval.executed_at = stamp
