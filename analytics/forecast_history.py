"""Forecast movement week by week and accuracy by week of quarter, from recorded or reconstructed snapshots.

Week k of a period starts k − 1 weeks after the period's first day; the forecast "in week k" is the one made at
the start of that week. It is the recorded snapshot (``sales.snapshots``, the earliest taken in that week) when
there is one and the asker sees the whole company (snapshots are company-wide); otherwise it is reconstructed:
the live forecast (``analytics.forecast.forecast_by_currency``) run as of that day, which reads the stage history
as known then (``DealHistory.as_of``) and a track record of months that had ended by then. Every week says which
it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from analytics.forecast import Forecast, forecast_by_currency
from analytics.winprob import DealHistory, load_history
from sales.errors import InvalidInput, PermissionDenied
from sales.periods import Period, parse_period, period_containing, shift
from sales.permissions import SYSTEM, Actor

if TYPE_CHECKING:
    from sqlmodel import Session

    from sales.snapshots import SnapshotReceipt

Source = Literal["recorded", "reconstructed"]
SNAPSHOT_PERIODS = ("this month", "this quarter")


class WeekForecast(BaseModel):
    week: int
    as_of: str  # the day the forecast was made (recorded: the snapshot's day)
    source: Source
    method: str  # blend, simulation or run rate
    expected: float
    p10: float
    p90: float
    simulation: float
    run_rate: float | None
    blend: float | None
    won_to_date: float = 0.0  # won in the period by then
    open_deals: int = 0


class ForecastHistory(BaseModel):
    period: str
    start: str
    end: str  # exclusive
    currency: str
    weeks: list[WeekForecast]
    actual: float  # won in the period so far (all of it once the period is over)
    complete: bool
    recorded: int
    reconstructed: int


class WeekAccuracy(BaseModel):
    week: int
    quarters: int
    recorded: int
    reconstructed: int
    wape: float  # the forecast as reported (each week's chosen method)
    wape_simulation: float
    wape_run_rate: float | None
    wape_blend: float | None


class AccuracyByWeek(BaseModel):
    currency: str
    quarters: list[str]
    actuals: dict[str, float]
    weeks: list[WeekAccuracy]
    forecasts: dict[str, list[WeekForecast]]  # quarter -> its weekly forecasts


def week_starts(period: Period, until: date) -> list[date]:
    """The first day of each week of ``period`` that has started by ``until``."""
    days = []
    day = period.start
    while day < period.end and day <= until:
        days.append(day)
        day += timedelta(days=7)
    return days


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def won_in_period(history: DealHistory, period: Period, until: date) -> float:
    deals = history.deals
    won = deals[
        (deals["stage"] == history.machine.won_stage)
        & (deals["closed_at"] >= _midnight(period.start))
        & (deals["closed_at"] < _midnight(min(period.end, until)))
    ]
    return float(won["amount"].fillna(0).sum())


def _from_forecast(week: int, day: date, forecast: Forecast) -> WeekForecast:
    t = forecast.total
    return WeekForecast(
        week=week,
        as_of=day.isoformat(),
        source="reconstructed",
        method=forecast.chosen,
        expected=t.expected,
        p10=t.p10,
        p90=t.p90,
        simulation=t.simulation,
        run_rate=t.run_rate,
        blend=t.blend,
        won_to_date=t.won_to_date,
        open_deals=t.open_deals,
    )


def _one_currency(history: DealHistory, currency: str | None) -> str:
    from analytics.winprob import deal_currencies
    from sales.money import DEFAULT_CURRENCY, currency_code

    codes = sorted(set(deal_currencies(history.deals).tolist())) or [DEFAULT_CURRENCY]
    if currency is not None:
        code = currency_code(currency)
        if code not in codes:
            raise InvalidInput({"currency": f"no deals in {code}; the deals are in {', '.join(codes)}"})
        return code
    if len(codes) > 1:
        raise InvalidInput(
            {"currency": f"the deals are in {', '.join(codes)}: forecast history takes one currency (--currency)"}
        )
    return str(codes[0])


def _weekly(
    session: Session,
    actor: Actor,
    period: Period,
    until: date,
    code: str,
    full: DealHistory,
    *,
    cache_dir: Path | None,
    simulations: int,
    on_week: Callable[[], None] | None = None,
) -> list[WeekForecast]:
    from sales.snapshots import recorded_forecasts

    recorded = recorded_forecasts(session, period.label, code) if actor.visible_owner_ids is None else []
    out: list[WeekForecast] = []
    for k, day in enumerate(week_starts(period, until), start=1):
        in_week = [r for r in recorded if day <= r.snapshot_date < day + timedelta(days=7)]
        if in_week:
            r = in_week[0]
            out.append(
                WeekForecast(
                    week=k,
                    as_of=r.snapshot_date.isoformat(),
                    source="recorded",
                    method=r.method,
                    expected=r.expected,
                    p10=r.p10,
                    p90=r.p90,
                    simulation=r.simulation,
                    run_rate=r.run_rate,
                    blend=r.blend,
                    won_to_date=r.won_to_date,
                    open_deals=r.open_deals,
                )
            )
        else:
            (forecast,) = forecast_by_currency(
                session,
                actor,
                period.label,
                today=day,
                simulations=simulations,
                currency=code,
                cache_dir=cache_dir,
                preloaded=full,
            )
            out.append(_from_forecast(k, day, forecast))
        if on_week is not None:
            on_week()
    return out


def forecast_history(
    session: Session,
    actor: Actor,
    period_text: str,
    *,
    today: date | None = None,
    currency: str | None = None,
    cache_dir: Path | None = None,
    simulations: int = 1000,
    on_week: Callable[[], None] | None = None,
) -> ForecastHistory:
    """The forecast of a period as it stood at the start of each of its weeks so far, and what was won in it."""
    today = today or datetime.now(UTC).date()
    try:
        period = parse_period(period_text, today)
    except ValueError as exc:
        raise InvalidInput({"period": str(exc)}) from None
    if period.granularity == "year":
        raise InvalidInput({"period": "forecast history is by month or quarter, not a whole year"})
    if period.start > today:
        raise InvalidInput({"period": f"{period.label} has not started yet: no week of it to show"})
    full = load_history(session)
    code = _one_currency(_visible(full, actor), currency)
    weeks = _weekly(
        session, actor, period, today, code, full, cache_dir=cache_dir, simulations=simulations, on_week=on_week
    )
    return ForecastHistory(
        period=period.label,
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        currency=code,
        weeks=weeks,
        actual=round(won_in_period(_in_currency(_visible(full, actor), code), period, today), 2),
        complete=period.end <= today,
        recorded=sum(w.source == "recorded" for w in weeks),
        reconstructed=sum(w.source == "reconstructed" for w in weeks),
    )


def _visible(history: DealHistory, actor: Actor) -> DealHistory:
    if actor.visible_owner_ids is None:
        return history
    deals = history.deals[history.deals["owner_id"].isin(sorted(actor.visible_owner_ids))].reset_index(drop=True)
    return DealHistory(deals, history.changes, history.interactions, history.machine)


def _in_currency(history: DealHistory, code: str) -> DealHistory:
    from analytics.winprob import deal_currencies

    deals = history.deals[deal_currencies(history.deals) == code].reset_index(drop=True)
    return DealHistory(deals, history.changes, history.interactions, history.machine)


def _wape(pairs: list[tuple[float | None, float]]) -> float | None:
    """Σ |forecast − actual| / Σ actual; None when a forecast is missing, NaN when nothing was won."""
    if any(f is None for f, _ in pairs):
        return None
    total = sum(a for _, a in pairs)
    return round(sum(abs((f or 0.0) - a) for f, a in pairs) / total, 4) if total else float("nan")


def _wape_of(pairs: list[tuple[float, float]]) -> float:
    total = sum(a for _, a in pairs)
    return round(sum(abs(f - a) for f, a in pairs) / total, 4) if total else float("nan")


def accuracy_by_week(
    session: Session,
    actor: Actor,
    *,
    today: date | None = None,
    quarters: int = 4,
    currency: str | None = None,
    cache_dir: Path | None = None,
    simulations: int = 1000,
    on_week: Callable[[], None] | None = None,
) -> AccuracyByWeek:
    """WAPE of the forecast made in week k of the quarter against what the quarter closed, over the last
    ``quarters`` whole quarters the history covers (as forecasting products publish it)."""
    if not actor.is_manager:
        raise PermissionDenied(f"forecast accuracy is for managers and admins; {actor.email} is a {actor.role}")
    today = today or datetime.now(UTC).date()
    full = load_history(session)
    visible = _visible(full, actor)
    code = _one_currency(visible, currency)
    scoped = _in_currency(visible, code)
    if scoped.deals.empty:
        raise InvalidInput({"history": "no deals in the store: import or seed some first"})
    first = scoped.deals["created_at"].min().date()
    past: list[Period] = []
    q = shift(period_containing(today, "quarter"), -1)
    while len(past) < quarters and q.start >= first:
        past.insert(0, q)
        q = shift(q, -1)
    if not past:
        raise InvalidInput({"history": f"the history starts {first}: no whole quarter since to score"})
    forecasts: dict[str, list[WeekForecast]] = {}
    actuals: dict[str, float] = {}
    for period in past:
        forecasts[period.label] = _weekly(
            session, actor, period, today, code, full, cache_dir=cache_dir, simulations=simulations, on_week=on_week
        )
        actuals[period.label] = round(won_in_period(scoped, period, today), 2)
    weeks = []
    for k in range(1, max(len(v) for v in forecasts.values()) + 1):
        cells = [(label, w) for label, ws in forecasts.items() for w in ws if w.week == k]
        pairs = [(w, actuals[label]) for label, w in cells]
        weeks.append(
            WeekAccuracy(
                week=k,
                quarters=len(cells),
                recorded=sum(w.source == "recorded" for w, _ in pairs),
                reconstructed=sum(w.source == "reconstructed" for w, _ in pairs),
                wape=_wape_of([(w.expected, a) for w, a in pairs]),
                wape_simulation=_wape_of([(w.simulation, a) for w, a in pairs]),
                wape_run_rate=_wape([(w.run_rate, a) for w, a in pairs]),
                wape_blend=_wape([(w.blend, a) for w, a in pairs]),
            )
        )
    return AccuracyByWeek(
        currency=code, quarters=[p.label for p in past], actuals=actuals, weeks=weeks, forecasts=forecasts
    )


def take_snapshot(
    session: Session,
    actor: Actor,
    *,
    today: date | None = None,
    cache_dir: Path | None = None,
    simulations: int = 2000,
) -> SnapshotReceipt:
    """Record today's open deals (stage, amount, close date, owner, P(win), P(won this quarter)) and today's
    forecasts of this month and this quarter, once per day (managers and admins, and the scheduler)."""
    from sqlmodel import select

    from analytics.winprob import win_probabilities
    from sales.snapshots import DealSnapshotRow, ForecastSnapshotRow, record_snapshot, snapshot_taken
    from store.models import Deal

    if not actor.is_manager:
        raise PermissionDenied(f"pipeline snapshots are for managers and admins; {actor.email} is a {actor.role}")
    day = today or datetime.now(UTC).date()
    if snapshot_taken(session, day):
        from sales.snapshots import SnapshotReceipt

        return SnapshotReceipt(snapshot_date=day.isoformat(), created=False, deals=0, forecasts=0)
    quarter = period_containing(day, "quarter")
    chances = {d.deal_id: d for d in win_probabilities(session, SYSTEM, today=day).deals}
    from sales.stages import workspace_machine

    open_stages = set(workspace_machine(session).open_stages)
    deals = []
    for deal in session.exec(select(Deal).where(Deal.stage.in_(sorted(open_stages)))).all():  # type: ignore[attr-defined]
        chance = chances.get(deal.id or 0)
        deals.append(
            DealSnapshotRow(
                deal_id=deal.id or 0,
                owner_id=deal.owner_id,
                stage=deal.stage,
                amount=deal.amount,
                currency=deal.currency,
                expected_close_date=deal.expected_close_date,
                p_win=chance.p_win if chance else None,
                period=quarter.label,
                p_won_in_period=chance.p_close_by_period.get(quarter.label) if chance else None,
            )
        )
    rows = []
    for text in SNAPSHOT_PERIODS:
        for f in forecast_by_currency(session, SYSTEM, text, today=day, simulations=simulations, cache_dir=cache_dir):
            t = f.total
            rows.append(
                ForecastSnapshotRow(
                    period=f.period,
                    currency=f.currency,
                    method=f.chosen,
                    expected=t.expected,
                    p10=t.p10,
                    p90=t.p90,
                    simulation=t.simulation,
                    run_rate=t.run_rate,
                    blend=t.blend,
                    blend_weight=f.blend_weight,
                    won_to_date=t.won_to_date,
                    open_deals=t.open_deals,
                )
            )
    return record_snapshot(session, actor, day, deals, rows)
