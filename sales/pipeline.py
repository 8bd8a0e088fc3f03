"""The pipeline summary: deal counts and amounts by stage and owner, computed in SQL, permission-filtered."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from sales.permissions import Actor
from sales.stages import DEFAULT_MACHINE, StageMachine
from store.models import Deal, User


@dataclass(frozen=True)
class PipelineRow:
    stage: str
    owner_id: int
    owner_name: str
    deals: int
    amount: Decimal
    """Sum of known amounts; deals without an amount count in ``deals`` but add nothing here."""


def pipeline_summary(session: Session, actor: Actor, *, machine: StageMachine = DEFAULT_MACHINE) -> list[PipelineRow]:
    stmt = select(Deal.stage, Deal.owner_id, func.count(col(Deal.id)), func.sum(Deal.amount)).group_by(
        col(Deal.stage), col(Deal.owner_id)
    )
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    grouped = session.exec(stmt).all()
    owner_ids = sorted({owner_id for _, owner_id, _, _ in grouped})
    names = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(owner_ids))).all())
    rows = [
        PipelineRow(
            stage=stage,
            owner_id=owner_id,
            owner_name=names.get(owner_id, f"user #{owner_id}"),
            deals=int(count),
            amount=Decimal(str(total or 0)).quantize(Decimal("0.01")),
        )
        for stage, owner_id, count, total in grouped
    ]
    order = {stage: i for i, stage in enumerate(machine.stages)}
    return sorted(rows, key=lambda r: (order.get(r.stage, len(order)), r.owner_name))
