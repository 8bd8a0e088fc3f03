"""The pipeline summary: deal counts and amounts by stage, owner and currency, computed in SQL, permission-filtered.

Amounts are summed within a currency only (``sales.money``): a stage and owner with deals in two currencies has
two rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from sales.money import DEFAULT_CURRENCY
from sales.permissions import Actor
from sales.stages import StageMachine, workspace_machine
from store.models import Deal, User


@dataclass(frozen=True)
class PipelineRow:
    stage: str
    owner_id: int
    owner_name: str
    deals: int
    amount: Decimal
    """Sum of known amounts in ``currency``; deals without an amount count in ``deals`` but add nothing here."""
    currency: str = DEFAULT_CURRENCY


def pipeline_summary(session: Session, actor: Actor, *, machine: StageMachine | None = None) -> list[PipelineRow]:
    machine = machine or workspace_machine(session)
    stmt = select_columns(
        col(Deal.stage), col(Deal.owner_id), col(Deal.currency), func.count(col(Deal.id)), func.sum(Deal.amount)
    ).group_by(col(Deal.stage), col(Deal.owner_id), col(Deal.currency))
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    grouped = session.execute(stmt).all()
    owner_ids = sorted({owner_id for _, owner_id, _, _, _ in grouped})
    names = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(owner_ids))).all())
    rows = [
        PipelineRow(
            stage=stage,
            owner_id=owner_id,
            owner_name=names.get(owner_id, f"user #{owner_id}"),
            deals=int(count),
            amount=Decimal(str(total or 0)).quantize(Decimal("0.01")),
            currency=currency,
        )
        for stage, owner_id, currency, count, total in grouped
    ]
    order = {stage: i for i, stage in enumerate(machine.stages)}
    return sorted(rows, key=lambda r: (order.get(r.stage, len(order)), r.owner_name, r.currency))


def totals_by_currency(rows: list[PipelineRow]) -> dict[str, tuple[int, Decimal]]:
    """Deals and amount per currency over ``rows``, in code order: the only honest "grand total"."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for row in rows:
        deals, amount = totals.get(row.currency, (0, Decimal(0)))
        totals[row.currency] = (deals + row.deals, amount + row.amount)
    return dict(sorted(totals.items()))
