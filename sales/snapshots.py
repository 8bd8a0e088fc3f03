"""Pipeline snapshots: every open deal and the forecast as they stood on a day, written at most once per day.

The stage history keeps when each deal changed stage, but not what its amount, close date or owner were on a
given day, nor what the forecast said then; a snapshot keeps both, so a forecast's movement week by week can be
shown from records rather than reconstructed. Writing is idempotent per day: a second snapshot the same day
writes nothing (checked first, and enforced by the tables' unique keys against a concurrent writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import BaseModel

from sales.permissions import Actor
from sales.receipts import write_receipt

if TYPE_CHECKING:
    from sqlmodel import Session

    from store.models import ForecastSnapshot


@dataclass(frozen=True)
class DealSnapshotRow:
    deal_id: int
    owner_id: int
    stage: str
    amount: Decimal | None
    currency: str
    expected_close_date: date | None
    p_win: float | None
    period: str
    p_won_in_period: float | None


@dataclass(frozen=True)
class ForecastSnapshotRow:
    period: str
    currency: str
    method: str
    expected: float
    p10: float
    p90: float
    simulation: float
    run_rate: float | None
    blend: float | None
    blend_weight: float | None
    won_to_date: float
    open_deals: int


class SnapshotReceipt(BaseModel):
    snapshot_date: str
    created: bool  # False: that day's snapshot already existed and nothing was written
    deals: int
    forecasts: int
    receipt_id: int | None = None

    def describe(self) -> str:
        if not self.created:
            return f"the snapshot of {self.snapshot_date} was already taken: nothing written"
        return (
            f"snapshot of {self.snapshot_date}: {self.deals} open deals and {self.forecasts} forecasts recorded "
            f"(receipt: audit #{self.receipt_id})"
        )


def snapshot_taken(session: Session, day: date) -> bool:
    from sqlmodel import select

    from store.models import ForecastSnapshot, PipelineSnapshot

    deal = session.exec(select(PipelineSnapshot.id).where(PipelineSnapshot.snapshot_date == day).limit(1)).first()
    forecast = session.exec(select(ForecastSnapshot.id).where(ForecastSnapshot.snapshot_date == day).limit(1)).first()
    return deal is not None or forecast is not None


def record_snapshot(
    session: Session,
    actor: Actor,
    day: date,
    deals: list[DealSnapshotRow],
    forecasts: list[ForecastSnapshotRow],
) -> SnapshotReceipt:
    """Write the day's snapshot with its receipt in the caller's transaction, unless that day already has one."""
    from sqlalchemy.exc import IntegrityError

    from store.models import ForecastSnapshot, PipelineSnapshot

    if snapshot_taken(session, day):
        return SnapshotReceipt(snapshot_date=day.isoformat(), created=False, deals=0, forecasts=0)
    try:
        with session.begin_nested():
            for d in deals:
                session.add(
                    PipelineSnapshot(
                        snapshot_date=day,
                        deal_id=d.deal_id,
                        owner_id=d.owner_id,
                        stage=d.stage,
                        amount=d.amount,
                        currency=d.currency,
                        expected_close_date=d.expected_close_date,
                        p_win=d.p_win,
                        period=d.period,
                        p_won_in_period=d.p_won_in_period,
                    )
                )
            for f in forecasts:
                session.add(ForecastSnapshot(snapshot_date=day, **f.__dict__))
            session.flush()
    except IntegrityError:  # another process took the same day's snapshot a moment ago
        return SnapshotReceipt(snapshot_date=day.isoformat(), created=False, deals=0, forecasts=0)
    receipt = write_receipt(
        session,
        actor,
        action="take_pipeline_snapshot",
        record_type="pipeline_snapshot",
        record_id=day.isoformat(),
        after={"deals": len(deals), "forecasts": [f"{f.period} {f.currency}" for f in forecasts]},
    )
    return SnapshotReceipt(
        snapshot_date=day.isoformat(), created=True, deals=len(deals), forecasts=len(forecasts), receipt_id=receipt
    )


def recorded_forecasts(session: Session, period: str, currency: str) -> list[ForecastSnapshot]:
    """The recorded forecasts of ``period`` (its label, e.g. "Q3 2026") in ``currency``, oldest first."""
    from sqlmodel import col, select

    from store.models import ForecastSnapshot

    query = (
        select(ForecastSnapshot)
        .where(ForecastSnapshot.period == period, ForecastSnapshot.currency == currency)
        .order_by(col(ForecastSnapshot.snapshot_date))
    )
    return list(session.exec(query).all())
