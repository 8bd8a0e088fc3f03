"""Deals and the stage machine: creation with playbook tasks, allowed moves only, stalled-deal detection.

Every move writes a ``stage_changes`` row (the process-mining event log) and an audit event in the same
transaction. Lost needs a loss reason and Won needs an amount; Won and Lost are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select

from sales.errors import InvalidInput, NotFound, TransitionNotAllowed
from sales.money import currency_code
from sales.permissions import Actor, assignable_owner_id, ensure_can_change, ensure_can_see
from sales.playbook import meeting_task, plan_close_task
from sales.receipts import snapshot, write_receipt
from sales.stages import StageMachine, workspace_machine
from store.models import Account, Deal, Interaction, Role, StageChange, User
from store.types import UTCDateTime, utcnow

DEAL_FIELDS = ("name", "stage", "amount", "currency", "owner_id", "account_id", "expected_close_date", "loss_reason")


class DealInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    account_name: str | None = None
    account_id: int | None = None
    owner_email: str | None = None
    amount: Decimal | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", description="ISO 4217 code; any case, stored upper-case.")
    product: str | None = None
    stage: str | None = Field(default=None, description="An open stage; default: the pipeline's first.")
    expected_close_date: date | None = None
    lead_id: int | None = None


@dataclass(frozen=True)
class DealResult:
    deal: Deal
    receipt_id: int
    task_ids: list[int]


@dataclass(frozen=True)
class MoveResult:
    deal: Deal
    from_stage: str
    to_stage: str
    stage_change_id: int
    receipt_id: int


@dataclass(frozen=True)
class StalledDeal:
    deal_id: int
    name: str
    owner_id: int
    stage: str
    days_idle: int
    limit_days: int
    last_activity_at: datetime
    reason: str


def _owner_for(session: Session, actor: Actor, owner_email: str | None) -> int:
    if owner_email:
        return assignable_owner_id(session, actor, owner_email, "a deal")
    if actor.user_id is None:
        raise InvalidInput({"owner": "a deal needs an owner: give owner_email"})
    return actor.user_id


def _account_for(session: Session, data: DealInput) -> int | None:
    if data.account_id is not None:
        if session.get(Account, data.account_id) is None:
            raise InvalidInput({"account_id": f"there is no account #{data.account_id}"})
        return data.account_id
    if data.account_name:
        account = session.exec(select(Account).where(func.lower(Account.name) == data.account_name.lower())).first()
        if account is None:
            account = Account(name=data.account_name)
            session.add(account)
            session.flush()
        return account.id
    return None


def create_deal(session: Session, actor: Actor, data: DealInput, *, machine: StageMachine | None = None) -> DealResult:
    machine = machine or workspace_machine(session)
    stage = machine.open_stages[0] if data.stage is None else machine.canonical(data.stage)
    if stage is None or not machine.is_open(stage):
        raise InvalidInput({"stage": f"a new deal starts in an open stage: {', '.join(machine.open_stages)}"})
    currency = currency_code(data.currency)
    now = utcnow()
    deal = Deal(
        name=data.name,
        account_id=_account_for(session, data),
        owner_id=_owner_for(session, actor, data.owner_email),
        lead_id=data.lead_id,
        product=data.product,
        amount=data.amount,
        currency=currency,
        stage=stage,
        stage_entered_at=now,
        expected_close_date=data.expected_close_date,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    session.flush()
    assert deal.id is not None
    session.add(
        StageChange(deal_id=deal.id, from_stage=None, to_stage=stage, changed_at=now, changed_by_id=actor.user_id)
    )
    tasks = [meeting_task(deal, now.date())]
    session.add_all(tasks)
    close_plan = plan_close_task(session, deal, now.date())
    if close_plan is not None:
        tasks.append(close_plan)
    session.flush()
    task_ids = [t.id for t in tasks if t.id is not None]
    receipt = write_receipt(
        session, actor, "create_deal", "deal", deal.id, after={**snapshot(deal, DEAL_FIELDS), "task_ids": task_ids}
    )
    from sales.events import DEAL_ENTERED_STAGE, emit

    emit(session, DEAL_ENTERED_STAGE, "deal", deal.id, {"from_stage": None, "to_stage": stage}, actor=actor)
    return DealResult(deal, receipt, task_ids)


def get_deal(session: Session, actor: Actor, deal_id: int) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(f"there is no deal #{deal_id}")
    ensure_can_see(actor, deal.owner_id, f"deal #{deal_id} ({deal.name})")
    return deal


def _money(value: Decimal | float | str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput({"amount": f"{value!r} is not an amount"}) from None
    if amount < 0:
        raise InvalidInput({"amount": "an amount cannot be negative"})
    return amount


def move_deal_to_stage(
    session: Session,
    actor: Actor,
    deal_id: int,
    to_stage: str,
    *,
    amount: Decimal | float | str | None = None,
    loss_reason: str | None = None,
    machine: StageMachine | None = None,
) -> MoveResult:
    machine = machine or workspace_machine(session)
    deal = get_deal(session, actor, deal_id)
    ensure_can_change(actor, deal.owner_id, f"deal #{deal_id} ({deal.name})")
    current = deal.stage
    allowed = machine.allowed_moves(current)
    target = machine.canonical(to_stage)
    if target is None:
        raise TransitionNotAllowed(f"{to_stage!r} is not a stage; the stages are {', '.join(machine.stages)}", allowed)
    if target not in allowed:
        options = ", ".join(allowed) if allowed else "nothing (it is closed)"
        raise TransitionNotAllowed(
            f"deal #{deal_id} ({deal.name}) is in {current}; it can move to {options}, not {target} "
            f"({machine.refusal(current, target)})",
            allowed,
        )
    new_amount = _money(amount)
    problems: dict[str, str] = {}
    if target == machine.won_stage and (new_amount if new_amount is not None else deal.amount) is None:
        problems["amount"] = "a won deal needs its amount"
    if target == machine.lost_stage and not (loss_reason and loss_reason.strip()):
        problems["loss_reason"] = "say why the deal was lost (e.g. price, competitor, no budget, timing)"
    if problems:
        raise InvalidInput(problems)

    before = snapshot(deal, DEAL_FIELDS)
    now = utcnow()
    deal.stage = target
    deal.stage_entered_at = now
    deal.updated_at = now
    if new_amount is not None:
        deal.amount = new_amount
    if target == machine.lost_stage:
        deal.loss_reason = (loss_reason or "").strip()
    if target in machine.closed_stages:
        deal.closed_at = now
        deal.probability = 1.0 if target == machine.won_stage else 0.0
    session.add(deal)
    assert deal.id is not None
    change = StageChange(
        deal_id=deal.id, from_stage=current, to_stage=target, changed_at=now, changed_by_id=actor.user_id
    )
    session.add(change)
    session.flush()
    assert change.id is not None
    receipt = write_receipt(
        session,
        actor,
        "move_deal",
        "deal",
        deal.id,
        before=before,
        after={**snapshot(deal, DEAL_FIELDS), "stage_change_id": change.id},
    )
    from sales.events import DEAL_ENTERED_STAGE, emit

    emit(session, DEAL_ENTERED_STAGE, "deal", deal.id, {"from_stage": current, "to_stage": target}, actor=actor)
    return MoveResult(deal, current, target, change.id, receipt)


def update_deal(
    session: Session,
    actor: Actor,
    deal_id: int,
    *,
    amount: Decimal | float | str | None = None,
    expected_close_date: date | None = None,
    name: str | None = None,
) -> int:
    """Change a deal's amount, expected close date or name; the close-plan task follows the close date."""
    deal = get_deal(session, actor, deal_id)
    ensure_can_change(actor, deal.owner_id, f"deal #{deal_id} ({deal.name})")
    before = snapshot(deal, DEAL_FIELDS)
    if amount is not None:
        deal.amount = _money(amount)
    if name:
        deal.name = name
    if expected_close_date is not None:
        deal.expected_close_date = expected_close_date
        plan_close_task(session, deal, utcnow().date())
    deal.updated_at = utcnow()
    session.add(deal)
    session.flush()
    return write_receipt(
        session, actor, "update_deal", "deal", deal.id, before=before, after=snapshot(deal, DEAL_FIELDS)
    )


def list_deals(session: Session, actor: Actor, **filters: Any) -> list[Deal]:
    """Deals ``actor`` may see that match ``filters`` (those of ``find_deals``), at most ``limit`` of them."""
    return find_deals(session, actor, count_all=False, **filters)[0]


def find_deals(
    session: Session,
    actor: Actor,
    *,
    stage: str | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    query: str | None = None,
    limit: int = 50,
    machine: StageMachine | None = None,
    closing_from: date | None = None,
    closing_to: date | None = None,
    largest_first: bool = False,
    longest_in_stage: bool = False,
    amount_min: float | None = None,
    amount_max: float | None = None,
    industry: str | None = None,
    product: str | None = None,
    region: str | None = None,
    amount_currency: str | None = None,
    closed_from: date | None = None,
    closed_to: date | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    count_all: bool = True,
) -> tuple[list[Deal], int | None]:
    """Deals ``actor`` may see, most recently updated first, and how many match in all (None with
    ``count_all=False``); ``closing_from``/``closing_to`` (exclusive) filter on the expected close date, soonest first. ``amount_min``/``amount_max`` (inclusive) compare the amount as stored,
    in its own currency (only deals in ``amount_currency`` when it is given); ``industry``, ``product`` and
    ``region`` (the account's region, else its owner's) match case-insensitively, as pipeline questions do.
    ``closed_from``/``closed_to`` and ``created_from``/``created_to`` (exclusive ends) filter on the day a deal was
    won or lost and the day it was created. ``longest_in_stage``: the earliest into their current stage first."""
    machine = machine or workspace_machine(session)
    stmt = select(Deal).join(Account, col(Deal.account_id) == col(Account.id), isouter=True)
    if region:
        owner = aliased(User)
        stmt = stmt.join(owner, col(owner.id) == col(Deal.owner_id)).where(
            func.lower(func.coalesce(Account.region, owner.region)) == region.strip().lower()
        )
    if industry:
        stmt = stmt.where(func.lower(Account.industry) == industry.strip().lower())
    if product:
        stmt = stmt.where(func.lower(Deal.product) == product.strip().lower())
    if amount_min is not None:
        stmt = stmt.where(col(Deal.amount) >= amount_min)
    if amount_max is not None:
        stmt = stmt.where(col(Deal.amount) <= amount_max)
    for column, start, end in ((Deal.closed_at, closed_from, closed_to), (Deal.created_at, created_from, created_to)):
        if start is not None:
            stmt = stmt.where(col(column) >= datetime.combine(start, time.min, tzinfo=UTC))
        if end is not None:
            stmt = stmt.where(col(column) < datetime.combine(end, time.min, tzinfo=UTC))
    if amount_currency and (amount_min is not None or amount_max is not None):
        stmt = stmt.where(col(Deal.currency) == currency_code(amount_currency, "amount_currency"))
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if stage:
        canonical = machine.canonical(stage)
        if canonical is None:
            raise InvalidInput({"stage": f"{stage!r} is not a stage; the stages are {', '.join(machine.stages)}"})
        stmt = stmt.where(Deal.stage == canonical)
    if status == "open":
        stmt = stmt.where(col(Deal.stage).in_(machine.open_stages))
    elif status == "won":
        stmt = stmt.where(Deal.stage == machine.won_stage)
    elif status == "lost":
        stmt = stmt.where(Deal.stage == machine.lost_stage)
    elif status not in (None, "all"):
        raise InvalidInput({"status": "use open, won, lost or all"})
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    if query:
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(Deal.name).like(pattern), func.lower(func.coalesce(Account.name, "")).like(pattern))
        )
    if closing_from is not None:
        stmt = stmt.where(col(Deal.expected_close_date) >= closing_from)
    if closing_to is not None:
        stmt = stmt.where(col(Deal.expected_close_date) < closing_to)
    # how many match in all, for a listing that says so; a lookup (``list_*``) skips the extra COUNT
    total = int(session.exec(select(func.count()).select_from(stmt.subquery())).one()) if count_all else None
    if longest_in_stage:  # "sitting in Proposal the longest"
        order: tuple[Any, ...] = (col(Deal.stage_entered_at), col(Deal.id))
    elif largest_first:  # "the biggest open deals": by amount (amounts in different currencies are not converted)
        order = (col(Deal.amount).desc().nulls_last(), col(Deal.id))
    elif closing_from is not None or closing_to is not None:
        order = (col(Deal.expected_close_date), col(Deal.id))
    else:
        order = (col(Deal.updated_at).desc(), col(Deal.id).desc())
    return list(session.exec(stmt.order_by(*order).limit(limit)).all()), total


def list_stalled_deals(
    session: Session,
    actor: Actor,
    *,
    now: datetime | None = None,
    machine: StageMachine | None = None,
    idle_days: int | None = None,
) -> list[StalledDeal]:
    """Open deals with no stage change or interaction for longer than their stage's limit, longest idle first.

    With ``idle_days`` the same rule with one limit for every open stage ("not touched in a month": 30), longest
    idle first; a stage without a stall limit counts then too."""
    machine = machine or workspace_machine(session)
    now = now or utcnow()
    last_touch = (
        select(Interaction.deal_id, func.max(Interaction.occurred_at, type_=UTCDateTime()).label("last_at"))
        .where(col(Interaction.deal_id).is_not(None))
        .group_by(col(Interaction.deal_id))
        .subquery()
    )
    stmt = (
        select(Deal, last_touch.c.last_at)
        .join(last_touch, last_touch.c.deal_id == Deal.id, isouter=True)
        .where(col(Deal.stage).in_(machine.open_stages))
    )
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    stalled: list[StalledDeal] = []
    for deal, last_interaction in session.exec(stmt).all():
        limit = machine.stall_limit(deal.stage) if idle_days is None else idle_days
        if limit is None:
            continue
        touched: datetime | None = last_interaction
        last = max(deal.stage_entered_at, touched) if touched else deal.stage_entered_at
        idle = (now - last).days
        if idle > limit or (idle_days is not None and idle >= idle_days):
            what = "interaction" if touched and touched >= deal.stage_entered_at else "stage change"
            allows = f"{deal.stage} allows {limit}" if idle_days is None else f"you asked for {idle_days} or more"
            assert deal.id is not None
            stalled.append(
                StalledDeal(
                    deal_id=deal.id,
                    name=deal.name,
                    owner_id=deal.owner_id,
                    stage=deal.stage,
                    days_idle=idle,
                    limit_days=limit,
                    last_activity_at=last,
                    reason=f"no stage change or interaction for {idle} days (last {what} {last.date().isoformat()}); "
                    f"{allows}",
                )
            )
    if idle_days is not None:
        return sorted(stalled, key=lambda s: s.days_idle, reverse=True)
    return sorted(stalled, key=lambda s: s.days_idle - s.limit_days, reverse=True)


def reps_of(session: Session, actor: Actor) -> list[User]:
    """The reps the actor may see (themselves for a rep)."""
    stmt = select(User).where(User.role == Role.REP)
    visible = actor.owner_filter(User.id)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.exec(stmt.order_by(col(User.name))).all())
