"""Revenue forecast per period, team and owner by Monte Carlo simulation, commit/best-case, and its backtest.

Each simulation draws, for every open deal, whether it is won within the period (its window probability from
``analytics.winprob``, shifted by one shared logit shock per simulation whose spread is the month-to-month
variation of win rates beyond binomial noise). The pipeline's simulated revenue is then scaled by one shared,
mean-preserving lognormal factor that brings its spread up to the observed spread of won revenue across recent
periods (deals slip together; big deals bunch). Business from deals not yet in the pipeline is drawn from what
past periods closed from deals created after the same point of the period. Expected value = mean of the
simulations; the 80 % interval = their 10th-90th percentiles.

The stage-weighted baseline is the classic sum of amount x historical stage win rate over the open pipeline.

Money is never added across currencies (there are no exchange rates): deals in several currencies are forecast
per currency, each from its own deals, history and amounts, with one shared win model (win chances do not depend
on the currency). The backtest, whose error measures span every period, takes one currency at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from analytics.features import AnalyticsConfig
from analytics.winprob import (
    DealHistory,
    WinModel,
    deal_currencies,
    fit_win_model,
    load_history,
    open_snapshots,
    predict_win,
    window_probability,
)
from sales.errors import InvalidInput, NotFound
from sales.money import DEFAULT_CURRENCY, currency_code, require_single_currency
from sales.periods import Granularity, Period, parse_period, period_containing, shift
from sales.permissions import Actor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlmodel import Session

GroupBy = Literal["owner", "team"]
COMMIT_AT = 0.6
BEST_CASE_AT = 0.3
NEW_BUSINESS_LOOKBACK = 6


class ForecastLine(BaseModel):
    key: str
    currency: str = DEFAULT_CURRENCY
    expected: float
    p10: float
    p90: float
    won_to_date: float
    pipeline_expected: float
    new_business_expected: float
    commit: float
    best_case: float
    stage_weighted: float
    open_deals: int


class Forecast(BaseModel):
    """A period's forecast in one currency: total and (optionally) one line per owner or team."""

    period: str
    start: str
    end: str
    as_of: str
    method: str
    simulations: int
    interval: str
    total: ForecastLine
    lines: list[ForecastLine]
    notes: list[str]
    currency: str = DEFAULT_CURRENCY


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _won_in(history: DealHistory, start: datetime, end: datetime) -> pd.DataFrame:
    deals = history.deals
    won = deals[
        (deals["stage"] == history.machine.won_stage) & (deals["closed_at"] >= start) & (deals["closed_at"] < end)
    ]
    return won


def _new_business_samples(
    history: DealHistory, period: Period, at: datetime, keys: pd.Series, fiscal_start: int
) -> dict[str, np.ndarray]:
    """For each group: revenue past periods won from deals created after the same offset into the period."""
    import numpy as np

    offset = max(at - _midnight(period.start), timedelta(0))
    samples: dict[str, list[float]] = {k: [] for k in [*keys.unique().tolist(), "__total__"]}
    deals = history.deals
    key_of = dict(zip(deals["id"], keys.reindex(deals.index).fillna("unknown"), strict=True)) if len(keys) else {}
    past = period
    for _ in range(NEW_BUSINESS_LOOKBACK):
        past = shift(past, -1, fiscal_start)
        start, end = _midnight(past.start), _midnight(past.end)
        if end > at:
            continue
        if deals.empty or deals["created_at"].min() > start:
            break
        won = _won_in(history, start, end)
        won = won[won["created_at"] >= start + offset]
        totals: Any = won.groupby(won["id"].map(key_of))["amount"].sum() if not won.empty else {}
        for k in samples:
            if k == "__total__":
                samples[k].append(float(won["amount"].sum()) if not won.empty else 0.0)
            else:
                samples[k].append(float(totals.get(k, 0.0)) if len(totals) else 0.0)
    return {k: np.array(v) if v else np.zeros(1) for k, v in samples.items()}


@dataclass
class Simulation:
    keys: list[str]
    sims: dict[str, np.ndarray]  # group -> simulated period revenue (won to date included)
    won_to_date: dict[str, float]
    pipeline_expected: dict[str, float]
    new_business: dict[str, float]
    commit: dict[str, float]
    best_case: dict[str, float]
    stage_weighted: dict[str, float]
    open_deals: dict[str, int]
    period_shock_sigma: float = 0.0


def simulate_period(
    history: DealHistory,
    model: WinModel,
    period: Period,
    at: datetime,
    group_of: pd.Series,
    *,
    simulations: int = 2000,
    seed: int = 0,
    fiscal_start: int = 1,
    include_new_business: bool = True,
) -> Simulation:
    """Simulate the period's revenue per group; ``history`` must be ``as_of(at)``, ``group_of`` maps deal index."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start, end = _midnight(period.start), _midnight(period.end)
    deals = history.deals
    groups = group_of.reindex(deals.index).fillna("unknown").astype(str)
    keys = sorted(set(groups.tolist()))
    sims = {k: np.zeros(simulations) for k in [*keys, "__total__"]}
    won_to_date = dict.fromkeys([*keys, "__total__"], 0.0)
    won = _won_in(history, start, min(end, at))
    for idx, amount in zip(won.index, won["amount"].fillna(0.0), strict=True):
        for k in (groups[idx], "__total__"):
            won_to_date[k] += float(amount)
            sims[k] += float(amount)
    pipeline = dict.fromkeys(sims, 0.0)
    pipe = {k: np.zeros(simulations) for k in sims}
    commit = dict(won_to_date)
    best = dict(won_to_date)
    weighted = dict(won_to_date)
    open_count = dict.fromkeys(sims, 0)
    snaps = open_snapshots(history, at) if end > at else open_snapshots(history, at).iloc[0:0]
    if not snaps.empty:
        p_win = predict_win(model, snaps)
        amounts = model.deal_amounts(snaps)
        shock = rng.standard_normal(simulations) * model.win_rate_sigma
        lo = max((start - at).total_seconds() / 86400, 0.0)
        hi = (end - at).total_seconds() / 86400
        index_of = dict(zip(deals["id"], deals.index, strict=True))
        p_window = window_probability(model, snaps, p_win, lo, hi)
        for i, row in enumerate(snaps.to_dict("records")):
            key = groups[index_of[row["deal_id"]]]
            p_in = float(np.clip(p_window[i], 1e-5, 1 - 1e-5))
            p_sim = 1.0 / (1.0 + np.exp(-(np.log(p_in / (1 - p_in)) + shock)))
            lands = rng.random(simulations) < p_sim
            revenue = lands * amounts[i]
            stage_p = model.stage_probability(str(row["stage"]))
            for k in (key, "__total__"):
                pipe[k] += revenue
                pipeline[k] += p_in * amounts[i]
                weighted[k] += stage_p * amounts[i]
                open_count[k] += 1
                if p_in >= COMMIT_AT:
                    commit[k] += amounts[i]
                if p_in >= BEST_CASE_AT:
                    best[k] += amounts[i]
    # Deal-level chance alone under-states how much a period's revenue swings (deals slip together, big deals
    # bunch up): a shared, mean-preserving lognormal factor makes the simulated spread match the spread of won
    # revenue across recent past periods.
    extra = 0.0
    total_mean = float(pipe["__total__"].mean())
    target = _revenue_log_sd(history, period, at, fiscal_start)
    if total_mean > 0 and target > 0:
        simulated_cv = float(pipe["__total__"].std()) / total_mean
        extra = math.sqrt(max(target**2 - simulated_cv**2, 0.0))
    factor = np.exp(extra * rng.standard_normal(simulations) - extra**2 / 2)
    for k in sims:
        sims[k] += pipe[k] * factor
    new_expected = dict.fromkeys(sims, 0.0)
    if include_new_business and end > at:
        samples = _new_business_samples(history, period, at, groups, fiscal_start)
        # the total is drawn as one quantity (not the sum of independent per-group draws) to keep its spread honest
        for k in sims:
            pool = samples.get(k, np.zeros(1))
            sims[k] = sims[k] + rng.choice(pool, simulations)
            new_expected[k] = float(pool.mean())
    return Simulation(keys, sims, won_to_date, pipeline, new_expected, commit, best, weighted, open_count, extra)


def _revenue_log_sd(history: DealHistory, period: Period, at: datetime, fiscal_start: int) -> float:
    """Spread (sd of log) of revenue won per period over up to six recent whole periods of the same length."""
    import numpy as np

    def spread(granularity: Granularity) -> tuple[float, int]:
        current = period_containing(at.date(), granularity, fiscal_start)
        totals: list[float] = []
        past = current
        for _ in range(6):
            past = shift(past, -1, fiscal_start)
            if history.deals.empty or history.deals["created_at"].min() > _midnight(past.start):
                break
            won = _won_in(history, _midnight(past.start), _midnight(past.end))
            totals.append(float(won["amount"].fillna(0).sum()))
        positive = [t for t in totals if t > 0]
        if len(positive) < 3:
            return 0.0, len(positive)
        return float(np.std(np.log(positive), ddof=1)), len(positive)

    sd, n = spread(period.granularity)
    if n >= 3 or period.granularity == "month":
        return sd
    monthly, _ = spread("month")
    return monthly / math.sqrt(3 if period.granularity == "quarter" else 12)


def _line(sim: Simulation, key: str, label: str, currency: str = DEFAULT_CURRENCY) -> ForecastLine:
    import numpy as np

    values = sim.sims[key]
    return ForecastLine(
        key=label,
        currency=currency,
        expected=round(float(values.mean()), 2),
        p10=round(float(np.percentile(values, 10)), 2),
        p90=round(float(np.percentile(values, 90)), 2),
        won_to_date=round(sim.won_to_date[key], 2),
        pipeline_expected=round(sim.pipeline_expected[key], 2),
        new_business_expected=round(sim.new_business[key], 2),
        commit=round(sim.commit[key], 2),
        best_case=round(sim.best_case[key], 2),
        stage_weighted=round(sim.stage_weighted[key], 2),
        open_deals=sim.open_deals[key],
    )


def forecast_period(
    session: Session,
    actor: Actor,
    period_text: str,
    *,
    group_by: GroupBy | None = None,
    owner: str | None = None,
    team: str | None = None,
    today: date | None = None,
    simulations: int = 2000,
    seed: int = 0,
    fiscal_year_start_month: int = 1,
    config: AnalyticsConfig | None = None,
    currency: str | None = None,
) -> Forecast:
    """Expected revenue and 80 % interval for a month/quarter/year, for the deals the actor may see.

    One currency only: deals in several are refused with ``InvalidInput`` naming them (pass ``currency``, or
    use ``forecast_by_currency`` for one forecast per currency).
    """
    forecasts = forecast_by_currency(
        session,
        actor,
        period_text,
        group_by=group_by,
        owner=owner,
        team=team,
        today=today,
        simulations=simulations,
        seed=seed,
        fiscal_year_start_month=fiscal_year_start_month,
        config=config,
        currency=currency,
    )
    require_single_currency(
        [f.currency for f in forecasts], "one forecast", "forecast one currency at a time (currency=CODE)"
    )
    return forecasts[0]


def forecast_by_currency(
    session: Session,
    actor: Actor,
    period_text: str,
    *,
    group_by: GroupBy | None = None,
    owner: str | None = None,
    team: str | None = None,
    today: date | None = None,
    simulations: int = 2000,
    seed: int = 0,
    fiscal_year_start_month: int = 1,
    config: AnalyticsConfig | None = None,
    currency: str | None = None,
) -> list[Forecast]:
    """One forecast per currency of the deals the actor may see, in code order (``currency`` keeps one).

    Each currency is simulated from its own deals, history and amounts; the win model is shared.
    """
    today = today or datetime.now(UTC).date()
    try:
        period = parse_period(period_text, today, fiscal_year_start_month)
    except ValueError as exc:
        raise InvalidInput({"period": str(exc)}) from None
    if group_by not in (None, "owner", "team"):
        raise InvalidInput({"by": f"{group_by!r}: group by owner or team"})
    at = _midnight(today)
    full = load_history(session)
    history = full.as_of(at)
    model = fit_win_model(history, at, config)
    deals = history.deals
    visible = deals.index
    if actor.visible_owner_ids is not None:
        visible = deals.index[deals["owner_id"].isin(sorted(actor.visible_owner_ids))]
    if owner:
        wanted = owner.strip().lower()
        match = deals.index[
            (deals["owner"].str.lower() == wanted) | deals["owner_id"].map(_emails(session)).str.lower().eq(wanted)
        ]
        if match.empty:
            raise NotFound(f"no deals owned by {owner!r}")
        visible = visible.intersection(match)
    if team:
        match = deals.index[deals["team"].fillna("").str.lower() == team.strip().lower()]
        if match.empty:
            raise NotFound(f"no deals in team {team!r}")
        visible = visible.intersection(match)
    if currency is not None:
        code = currency_code(currency)
        match = deals.index[_currency_of(deals) == code]
        if match.empty:
            raise NotFound(f"no deals in {code}")
        visible = visible.intersection(match)
    scoped = DealHistory(
        deals.loc[visible].reset_index(drop=True), history.changes, history.interactions, history.machine
    )
    # new business is learnt from the scoped owners' own past periods
    column = "team" if group_by == "team" else "owner"
    single = _currency_of(deals).nunique() <= 1
    sims: list[tuple[str, Simulation]] = []
    for code, part in _per_currency(scoped):
        group_of = part.deals[column].fillna("unknown") if group_by else part.deals["owner"].map(lambda _: "all")
        # a deal without an amount is valued from won deals in its own currency
        priced = model if single else model.priced_in(code)
        sim = simulate_period(
            part, priced, period, at, group_of, simulations=simulations, seed=seed, fiscal_start=fiscal_year_start_month
        )
        sims.append((code, sim))
    active = [(code, sim) for code, sim in sims if _has_money(sim)]
    sims = active or sims
    method = "monte-carlo" if model.method == "model" else "monte-carlo (stage-weighted win probabilities)"
    if _midnight(period.end) <= at:
        method = "actual (the period is over)"
    forecasts = []
    for code, sim in sims:
        notes = list(model.notes)
        if model.impute_amounts:
            notes.append(
                "open deals carry no amount until they close in this data: each is valued at the median won "
                "amount of its product"
            )
        notes.append(
            f"shared shocks: win rate sigma {model.win_rate_sigma:.2f} (logit), period revenue sigma "
            f"{sim.period_shock_sigma:.2f} (log), both estimated from history"
        )
        if len(sims) > 1:
            notes.append(
                f"the deals are in {len(sims)} currencies ({', '.join(c for c, _ in sims)}): each is forecast "
                "on its own and never added to another (no exchange rates)"
            )
        forecasts.append(
            Forecast(
                period=period.label,
                start=period.start.isoformat(),
                end=period.end.isoformat(),
                as_of=at.isoformat(),
                method=method,
                simulations=simulations,
                interval="80% (p10-p90)",
                total=_line(sim, "__total__", "total", code),
                lines=[_line(sim, k, k, code) for k in sim.keys] if group_by else [],
                notes=notes,
                currency=code,
            )
        )
    return forecasts


def _currency_of(deals: pd.DataFrame) -> pd.Series:
    return deal_currencies(deals)


def _per_currency(history: DealHistory) -> list[tuple[str, DealHistory]]:
    """The history split by deal currency, in code order; one currency (or none) keeps the history as it is."""
    currencies = _currency_of(history.deals)
    codes = sorted(set(currencies.tolist()))
    if len(codes) <= 1:
        return [(codes[0] if codes else DEFAULT_CURRENCY, history)]
    return [
        (
            code,
            DealHistory(
                history.deals[currencies == code].reset_index(drop=True),
                history.changes,
                history.interactions,
                history.machine,
            ),
        )
        for code in codes
    ]


def _has_money(sim: Simulation) -> bool:
    """Anything to report in this currency: open deals, revenue won so far, or expected new business."""
    return bool(sim.open_deals["__total__"] or sim.won_to_date["__total__"] or sim.new_business.get("__total__", 0.0))


def _emails(session: Session) -> dict[int, str]:
    from sqlmodel import select

    from store.models import User

    return {uid: email for uid, email in session.exec(select(User.id, User.email)).all() if uid is not None}


# --------------------------------------------------------------------------------------------- backtest


class BacktestRow(BaseModel):
    cutoff: str
    period: str
    actual: float
    expected: float
    p10: float
    p90: float
    stage_weighted: float
    inside: bool
    method: str


class BacktestReport(BaseModel):
    rows: list[BacktestRow]
    wape: float
    wape_stage_weighted: float
    coverage: float
    owner_cells: int
    owner_coverage: float
    owner_wape: float
    owner_wape_stage_weighted: float
    nominal: float = 0.8
    currency: str = DEFAULT_CURRENCY


def default_cutoffs(history: DealHistory, granularity: Granularity, count: int = 6) -> list[date]:
    """The starts of the last ``count`` whole periods that ended by the latest closing in the history."""
    closed = history.deals["closed_at"].dropna()
    if closed.empty:
        raise InvalidInput({"history": "no closed deals: nothing to backtest against"})
    last = closed.max().date()
    current = period_containing(last, granularity)
    # the period containing the last close is complete only if the data run to its end
    end = shift(current, -1) if last < current.last_day else current
    return [shift(end, -i).start for i in range(count - 1, -1, -1)]


def backtest(
    history: DealHistory,
    cutoffs: list[date],
    granularity: Granularity = "month",
    *,
    simulations: int = 1000,
    seed: int = 0,
    config: AnalyticsConfig | None = None,
    on_step: object = None,
) -> BacktestReport:
    """For each cut-off: forecast the period starting there from history as known then, compare with actuals."""
    import numpy as np

    # WAPE and coverage add actuals over every period and owner: one currency at a time
    currency = require_single_currency(
        _currency_of(history.deals).tolist(),
        "the backtest",
        "backtest one currency at a time (salesgraph forecast backtest --currency CODE)",
    )
    rows: list[BacktestRow] = []
    cell_actual: list[float] = []
    cell_expected: list[float] = []
    cell_weighted: list[float] = []
    cell_inside: list[bool] = []
    for i, cutoff in enumerate(cutoffs):
        period = period_containing(cutoff, granularity)
        if period.start != cutoff:
            raise InvalidInput({"cutoffs": f"{cutoff} is not the start of a {granularity}"})
        at = _midnight(cutoff)
        known = history.as_of(at)
        model = fit_win_model(known, at, config)
        sim = simulate_period(known, model, period, at, known.deals["owner"], simulations=simulations, seed=seed + i)
        actual_won = _won_in(history, at, _midnight(period.end))
        actual_by_owner = actual_won.groupby("owner")["amount"].sum()
        total = _line(sim, "__total__", "total")
        actual = float(actual_won["amount"].sum())
        rows.append(
            BacktestRow(
                cutoff=cutoff.isoformat(),
                period=period.label,
                actual=round(actual, 2),
                expected=total.expected,
                p10=total.p10,
                p90=total.p90,
                stage_weighted=total.stage_weighted,
                inside=total.p10 <= actual <= total.p90,
                method=model.method,
            )
        )
        for owner in sorted(set(sim.keys) | set(actual_by_owner.index)):
            a = float(actual_by_owner.get(owner, 0.0))
            if owner in sim.sims:
                line = _line(sim, owner, owner)
                e, lo, hi, w = line.expected, line.p10, line.p90, line.stage_weighted
            else:
                e = lo = hi = w = 0.0
            cell_actual.append(a)
            cell_expected.append(e)
            cell_weighted.append(w)
            cell_inside.append(lo <= a <= hi)
        if callable(on_step):
            on_step(i + 1, len(cutoffs))

    def wape(forecast: list[float], actual: list[float]) -> float:
        denominator = float(np.sum(actual))
        return (
            float(np.sum(np.abs(np.array(forecast) - np.array(actual))) / denominator) if denominator else float("nan")
        )

    actuals = [r.actual for r in rows]
    return BacktestReport(
        rows=rows,
        wape=round(wape([r.expected for r in rows], actuals), 4),
        wape_stage_weighted=round(wape([r.stage_weighted for r in rows], actuals), 4),
        coverage=round(float(np.mean([r.inside for r in rows])), 4) if rows else float("nan"),
        owner_cells=len(cell_actual),
        owner_coverage=round(float(np.mean(cell_inside)), 4) if cell_inside else float("nan"),
        owner_wape=round(wape(cell_expected, cell_actual), 4),
        owner_wape_stage_weighted=round(wape(cell_weighted, cell_actual), 4),
        currency=currency or DEFAULT_CURRENCY,
    )


def backtest_store(
    session: Session,
    actor: Actor,
    *,
    cutoffs: list[date] | None = None,
    granularity: Granularity = "month",
    count: int = 6,
    simulations: int = 1000,
    config: AnalyticsConfig | None = None,
    on_step: object = None,
    currency: str | None = None,
) -> BacktestReport:
    """Backtest on the store's history (managers and admins: it reads every deal the actor can see).

    Deals in several currencies need ``currency``: the error measures would otherwise add them up.
    """
    from sales.errors import PermissionDenied

    if not actor.is_manager:
        raise PermissionDenied(f"the forecast backtest is for managers and admins; {actor.email} is a {actor.role}")
    history = load_history(session, actor)
    if currency is not None:
        code = currency_code(currency)
        kept = history.deals[_currency_of(history.deals) == code].reset_index(drop=True)
        if kept.empty:
            raise NotFound(f"no deals in {code}")
        history = DealHistory(kept, history.changes, history.interactions, history.machine)
    if history.deals.empty:
        raise InvalidInput({"history": "no deals in the store: import or seed some first"})
    cutoffs = cutoffs or default_cutoffs(history, granularity, count)
    return backtest(history, cutoffs, granularity, simulations=simulations, config=config, on_step=on_step)
