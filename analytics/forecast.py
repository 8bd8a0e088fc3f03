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
from pathlib import Path
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
    # every forecaster the live forecast chose from: ``expected``/``p10``/``p90`` are the chosen one's
    simulation: float = 0.0
    simulation_p10: float = 0.0
    simulation_p90: float = 0.0
    run_rate: float | None = None
    run_rate_p10: float | None = None
    run_rate_p90: float | None = None
    blend: float | None = None
    blend_p10: float | None = None
    blend_p90: float | None = None


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
    chosen: str = "simulation"  # blend, simulation or run rate: whose numbers are ``expected`` and the interval
    why: str = ""  # why that one: its backtest WAPE against the others, or why no backtest was possible
    blend_weight: float | None = None  # the blend's weight on the simulation (the rest on the run rate)
    track_record: TrackRecord | None = None


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


def _line(
    sim: Simulation,
    key: str,
    label: str,
    currency: str = DEFAULT_CURRENCY,
    live: LiveParts | None = None,
) -> ForecastLine:
    import numpy as np

    values = sim.sims[key]
    s_mean, s_lo, s_hi = float(values.mean()), float(np.percentile(values, 10)), float(np.percentile(values, 90))
    rr = rr_lo = rr_hi = bl = bl_lo = bl_hi = None
    chosen = (s_mean, s_lo, s_hi)
    if live is not None and live.run_rate is not None:
        rr_samples = live.run_rate_samples(key)
        rr, rr_lo, rr_hi = (float(v) for v in (rr_samples.mean(), *np.percentile(rr_samples, [10, 90])))
        if key != "__total__":
            # a group's run rate is too thin for a band of its own (months with nothing won): as in the backtest,
            # the group keeps the simulation's spread, moved to the run rate (never below what is already won)
            floor = sim.won_to_date[key]
            rr_lo, rr_hi = max(s_lo + (rr - s_mean), floor), max(s_hi + (rr - s_mean), floor)
        if key == "__total__":
            blended = blend_samples(values, rr_samples, live.weight)
            bl, bl_lo, bl_hi = (float(v) for v in (blended.mean(), *np.percentile(blended, [10, 90])))
        else:
            bl = live.weight * s_mean + (1 - live.weight) * rr
            bl_lo, bl_hi = s_lo + (bl - s_mean), s_hi + (bl - s_mean)
        chosen = {"blend": (bl, bl_lo, bl_hi), "run rate": (rr, rr_lo, rr_hi)}.get(live.chosen, chosen)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return ForecastLine(
        key=label,
        currency=currency,
        expected=round(chosen[0], 2),
        p10=round(chosen[1], 2),
        p90=round(chosen[2], 2),
        won_to_date=round(sim.won_to_date[key], 2),
        pipeline_expected=round(sim.pipeline_expected[key], 2),
        new_business_expected=round(sim.new_business[key], 2),
        commit=round(sim.commit[key], 2),
        best_case=round(sim.best_case[key], 2),
        stage_weighted=round(sim.stage_weighted[key], 2),
        open_deals=sim.open_deals[key],
        simulation=round(s_mean, 2),
        simulation_p10=round(s_lo, 2),
        simulation_p90=round(s_hi, 2),
        run_rate=r(rr),
        run_rate_p10=r(rr_lo),
        run_rate_p90=r(rr_hi),
        blend=r(bl),
        blend_p10=r(bl_lo),
        blend_p90=r(bl_hi),
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
    cache_dir: Path | None = None,
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
        cache_dir=cache_dir,
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
    cache_dir: Path | None = None,
    preloaded: DealHistory | None = None,
) -> list[Forecast]:
    """One forecast per currency of the deals the actor may see, in code order (``currency`` keeps one).

    Each currency is simulated from its own deals, history and amounts; the win model is shared. Beside the
    simulation come the run rate and the blend of the two; ``expected`` and the interval are those of whichever
    of the three had the lowest WAPE in a backtest over this store's last months in that currency (the whole
    store's, so a rep's scope uses the company's track record), named in ``chosen`` with the reason in ``why``.
    ``cache_dir`` keeps that backtest until the history it read changes; ``preloaded`` is the store's
    ``load_history`` when the caller already has it (forecasts as of many days).
    """
    today = today or datetime.now(UTC).date()
    try:
        period = parse_period(period_text, today, fiscal_year_start_month)
    except ValueError as exc:
        raise InvalidInput({"period": str(exc)}) from None
    if period.granularity in ("day", "week"):
        raise InvalidInput(
            {
                "period": f"{period_text!r} is not a calendar month, quarter or year, which is what forecasts cover "
                "(their backtest and run rate are monthly); for these days, ask which deals are expected to close"
            }
        )
    if group_by not in (None, "owner", "team"):
        raise InvalidInput({"by": f"{group_by!r}: group by owner or team"})
    at = _midnight(today)
    full = preloaded if preloaded is not None else load_history(session)
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
    sims: list[tuple[str, Simulation, DealHistory]] = []
    for code, part in _per_currency(scoped):
        group_of = part.deals[column].fillna("unknown") if group_by else part.deals["owner"].map(lambda _: "all")
        # a deal without an amount is valued from won deals in its own currency
        priced = model if single else model.priced_in(code)
        sim = simulate_period(
            part, priced, period, at, group_of, simulations=simulations, seed=seed, fiscal_start=fiscal_year_start_month
        )
        sims.append((code, sim, part))
    active = [item for item in sims if _has_money(item[1])]
    sims = active or sims
    over = _midnight(period.end) <= at
    forecasts = []
    for code, sim, part in sims:
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
                f"the deals are in {len(sims)} currencies ({', '.join(c for c, _, _ in sims)}): each is forecast "
                "on its own and never added to another (no exchange rates)"
            )
        record = None if over else track_record(_in_currency(history, code), at, cache_dir=cache_dir)
        group_of = part.deals[column].fillna("unknown") if group_by else part.deals["owner"].map(lambda _: "all")
        live = live_parts(part, period, at, sim, group_of, record, seed=seed, fiscal_start=fiscal_year_start_month)
        if over:
            method, why = "actual (the period is over)", "the period is over: what was won"
        else:
            method, why = live.method_text(model.method), live.why
        forecasts.append(
            Forecast(
                period=period.label,
                start=period.start.isoformat(),
                end=period.end.isoformat(),
                as_of=at.isoformat(),
                method=method,
                simulations=simulations,
                interval="80% (p10-p90)",
                total=_line(sim, "__total__", "total", code, live),
                lines=[_line(sim, k, k, code, live) for k in sim.keys] if group_by else [],
                notes=notes,
                currency=code,
                chosen=live.chosen,
                why=why,
                blend_weight=live.weight if live.run_rate is not None else None,
                track_record=record,
            )
        )
    return forecasts


def _in_currency(history: DealHistory, code: str) -> DealHistory:
    deals = history.deals[_currency_of(history.deals) == code].reset_index(drop=True)
    return DealHistory(deals, history.changes, history.interactions, history.machine)


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


# --------------------------------------------------------------------------------------------- baselines

RUN_RATE_MONTHS = 3
STAGE_RATE_LOOKBACK = 6
INTERVAL_ALPHA = 0.2  # the 80 % interval: p10-p90
BLEND_PRIOR_ORIGINS = 2.0  # the blend weight is shrunk toward an even split as if two origins had tied
BLEND_MIN_ORIGINS = 3


def _months_in(period: Period) -> int:
    return {"month": 1, "quarter": 3, "year": 12}[period.granularity]


def run_rate(history: DealHistory, at: datetime, period: Period, keys: pd.Series) -> dict[str, float] | None:
    """Trailing bookings: revenue won in the 3 whole months before ``at``, per month, times the period's months.

    Per group (``keys`` maps deal index to group) and ``__total__``; None when the history does not reach back
    three months (the baseline would be a guess).
    """
    this_month = period_containing(at.date(), "month")
    end = _midnight(this_month.start)  # whole months only: a month under way is not yet a rate
    start = _midnight(shift(this_month, -RUN_RATE_MONTHS).start)
    deals = history.deals
    if deals.empty or deals["created_at"].min() > start:
        return None
    won = _won_in(history, start, end)
    scale = _months_in(period) / RUN_RATE_MONTHS
    by_key: Any = won.groupby(keys.reindex(won.index).fillna("unknown").astype(str))["amount"].sum() if len(won) else {}
    out = {str(k): float(v) * scale for k, v in dict(by_key).items()}
    out["__total__"] = float(won["amount"].fillna(0).sum()) * scale
    return out


def stage_in_period_baseline(
    history: DealHistory,
    model: WinModel,
    period: Period,
    at: datetime,
    keys: pd.Series,
    *,
    fiscal_start: int = 1,
    lookback: int = STAGE_RATE_LOOKBACK,
) -> dict[str, float]:
    """Σ amount × (share of deals in that stage at a past period's start that were won within that period).

    The rates come from up to ``lookback`` whole past periods of the same length ending by ``at``; business won
    from deals created inside the period is added as the past periods' mean (as in the simulation). A stage never
    seen open at a past period's start takes the pooled in-period win rate.
    """
    import numpy as np

    open_stages = set(history.machine.open_stages)
    counts: dict[str, list[int]] = {}
    past = period
    for _ in range(lookback):
        past = shift(past, -1, fiscal_start)
        p_start, p_end = _midnight(past.start), _midnight(past.end)
        if p_end > at:
            continue
        if history.deals.empty or history.deals["created_at"].min() > p_start:
            break
        then = history.as_of(p_start).deals
        then = then[then["stage"].isin(open_stages)]
        won_ids = set(_won_in(history, p_start, p_end)["id"].tolist())
        for stage, ids in then.groupby("stage")["id"]:
            seen = counts.setdefault(str(stage), [0, 0])
            seen[0] += int(ids.isin(won_ids).sum())
            seen[1] += len(ids)
    pooled_won = sum(c[0] for c in counts.values())
    pooled_all = sum(c[1] for c in counts.values())
    pooled = pooled_won / pooled_all if pooled_all else 0.0
    rates = {s: c[0] / c[1] for s, c in counts.items() if c[1]}
    deals = history.deals
    groups = keys.reindex(deals.index).fillna("unknown").astype(str)
    out: dict[str, float] = {"__total__": 0.0}
    start, end = _midnight(period.start), _midnight(period.end)
    won = _won_in(history, start, min(end, at))
    for idx, amount in zip(won.index, won["amount"].fillna(0.0), strict=True):
        for k in (groups[idx], "__total__"):
            out[k] = out.get(k, 0.0) + float(amount)
    snaps = open_snapshots(history, at)
    if not snaps.empty and end > at:
        amounts = model.deal_amounts(snaps)
        index_of = dict(zip(deals["id"], deals.index, strict=True))
        for i, row in enumerate(snaps.to_dict("records")):
            value = float(amounts[i]) * rates.get(str(row["stage"]), pooled)
            for k in (groups[index_of[row["deal_id"]]], "__total__"):
                out[k] = out.get(k, 0.0) + value
    if end > at:
        for k, pool in _new_business_samples(history, period, at, groups, fiscal_start).items():
            out[k] = out.get(k, 0.0) + float(np.mean(pool))
    return out


def run_rate_samples(point: float, log_sd: float, z: np.ndarray) -> np.ndarray:
    """The naive band: the run rate times a mean-preserving lognormal factor with the history's revenue spread."""
    import numpy as np

    return point * np.exp(log_sd * z - log_sd**2 / 2)


# --------------------------------------------------------------------------------------------- scoring rules


def crps(samples: np.ndarray, actual: float) -> float:
    """Continuous ranked probability score of a sample forecast: E|X − y| − ½ E|X − X′| (money; lower is better).

    A point forecast (one sample) scores its absolute error.
    """
    import numpy as np

    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n == 0:
        return float("nan")
    spread = float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x)) / (n * n)
    return float(np.mean(np.abs(x - actual))) - spread


def interval_score(lo: float, hi: float, actual: float, alpha: float = INTERVAL_ALPHA) -> float:
    """Gneiting-Raftery interval score of a central (1 − alpha) interval: width plus 2/alpha per unit missed."""
    return (hi - lo) + (2 / alpha) * max(lo - actual, 0.0) + (2 / alpha) * max(actual - hi, 0.0)


def wape(forecast: list[float], actual: list[float]) -> float:
    """Σ |forecast − actual| / Σ actual (NaN when nothing was won)."""
    import numpy as np

    denominator = float(np.sum(actual))
    return float(np.sum(np.abs(np.array(forecast) - np.array(actual))) / denominator) if denominator else float("nan")


def blend_weight(past: list[tuple[float, float, float]]) -> float:
    """Weight on the simulation (1 − weight on the run rate) that minimised past absolute error.

    ``past`` holds (simulation mean, run rate, actual) for origins whose period was over. The weight is searched on
    a 0.05 grid and shrunk toward 0.5 as if ``BLEND_PRIOR_ORIGINS`` origins had tied; with fewer than
    ``BLEND_MIN_ORIGINS`` past origins it is 0.5.
    """
    import numpy as np

    if len(past) < BLEND_MIN_ORIGINS:
        return 0.5
    sim, rr, actual = (np.array(v, dtype=float) for v in zip(*past, strict=True))
    grid = np.linspace(0.0, 1.0, 21)
    errors = np.array([np.abs(w * sim + (1 - w) * rr - actual).sum() for w in grid])
    best = grid[np.flatnonzero(np.isclose(errors, errors.min()))]
    w = float(best[np.argmin(np.abs(best - 0.5))])
    n = len(past)
    return round((n * w + BLEND_PRIOR_ORIGINS * 0.5) / (n + BLEND_PRIOR_ORIGINS), 4)


def blend_samples(sim: np.ndarray, rr: np.ndarray, weight: float) -> np.ndarray:
    """Quantile averaging: the blend's q-th quantile is weight × the simulation's + (1 − weight) × the run rate's."""
    import numpy as np

    return weight * np.sort(sim) + (1 - weight) * np.sort(rr)


# --------------------------------------------------------------------------------------------- backtest


class BacktestRow(BaseModel):
    cutoff: str
    period: str
    actual: float
    expected: float  # the blended forecast (what `forecast` reports with --blend)
    p10: float
    p90: float
    inside: bool
    blend_weight: float  # weight on the simulation; the rest on the run rate
    simulation: float
    simulation_p10: float
    simulation_p90: float
    run_rate: float
    run_rate_p10: float
    run_rate_p90: float
    stage_in_period: float
    stage_weighted: float
    method: str


class MethodScore(BaseModel):
    """One forecaster's error over the backtest's origins (money in the backtest's currency)."""

    method: str
    wape: float
    crps: float  # mean CRPS per period; a point forecast scores its absolute error
    interval_score: float | None  # mean 80 % interval score; None for point forecasts
    coverage: float | None


class OriginOutcome(BaseModel):
    """One rolling origin (warm-up ones too): what the simulation and the run rate said and what closed."""

    cutoff: str
    period: str
    period_end: str  # exclusive
    simulation: float
    run_rate: float
    actual: float


class BacktestReport(BaseModel):
    rows: list[BacktestRow]
    wape: float  # the blended forecast
    wape_simulation: float
    wape_run_rate: float
    wape_stage_in_period: float
    wape_stage_weighted: float
    scores: list[MethodScore]
    coverage: float
    owner_cells: int
    owner_coverage: float
    owner_wape: float
    owner_wape_run_rate: float
    owner_wape_stage_weighted: float
    warmup_origins: int = 0
    nominal: float = 0.8
    currency: str = DEFAULT_CURRENCY
    origins: list[OriginOutcome] = []


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


@dataclass
class _Origin:
    """Every forecaster's output for one cut-off, before blending."""

    cutoff: date
    period: Period
    actual: float
    actual_by_owner: dict[str, float]
    sim: Simulation
    run_rate: dict[str, float]
    run_rate_sd: float
    stage_in_period: dict[str, float]
    method: str


def _origin(
    history: DealHistory,
    cutoff: date,
    granularity: Granularity,
    simulations: int,
    seed: int,
    config: AnalyticsConfig | None,
) -> _Origin | None:
    period = period_containing(cutoff, granularity)
    if period.start != cutoff:
        raise InvalidInput({"cutoffs": f"{cutoff} is not the start of a {granularity}"})
    at = _midnight(cutoff)
    known = history.as_of(at)
    owners = known.deals["owner"]
    rr = run_rate(known, at, period, owners)
    if rr is None:
        return None
    model = fit_win_model(known, at, config)
    sim = simulate_period(known, model, period, at, owners, simulations=simulations, seed=seed)
    actual_won = _won_in(history, at, _midnight(period.end))
    by_owner = {str(k): float(v) for k, v in actual_won.groupby("owner")["amount"].sum().items()}
    return _Origin(
        cutoff=cutoff,
        period=period,
        actual=float(actual_won["amount"].sum()),
        actual_by_owner=by_owner,
        sim=sim,
        run_rate=rr,
        run_rate_sd=_revenue_log_sd(known, period, at, 1),
        stage_in_period=stage_in_period_baseline(known, model, period, at, owners),
        method=model.method,
    )


def backtest(
    history: DealHistory,
    cutoffs: list[date],
    granularity: Granularity = "month",
    *,
    simulations: int = 1000,
    seed: int = 0,
    config: AnalyticsConfig | None = None,
    on_step: object = None,
    warmup: int = 4,
) -> BacktestReport:
    """Rolling-origin backtest: at each cut-off, forecast the period starting there from history as known then.

    Every origin scores four forecasters against what closed: the Monte Carlo simulation, the run rate (trailing
    3-month bookings with a naive lognormal band), the stage × in-period win-rate baseline and the stage-weighted
    pipeline; the reported forecast blends the simulation toward the run rate by their accuracy at earlier origins
    (``warmup`` extra periods before the first cut-off are forecast only to learn that weight). Scored by WAPE,
    CRPS and the 80 % interval score.
    """
    import numpy as np

    # WAPE and coverage add actuals over every period and owner: one currency at a time
    currency = require_single_currency(
        _currency_of(history.deals).tolist(),
        "the backtest",
        "backtest one currency at a time (salesgraph forecast backtest --currency CODE)",
    )
    if not cutoffs:
        raise InvalidInput({"cutoffs": "no cut-offs to backtest"})
    cutoffs = sorted(cutoffs)
    first = period_containing(cutoffs[0], granularity)
    extra = [shift(first, -i).start for i in range(warmup, 0, -1)]
    reported = set(cutoffs)
    origins: list[_Origin] = []
    steps = len(extra) + len(cutoffs)
    for i, cutoff in enumerate([*extra, *cutoffs]):
        origin = _origin(history, cutoff, granularity, simulations, seed + i, config)
        if origin is None and cutoff in reported:
            raise InvalidInput(
                {"cutoffs": f"{cutoff}: the history does not reach {RUN_RATE_MONTHS} months back for the run rate"}
            )
        if origin is not None:
            origins.append(origin)
        if callable(on_step):
            on_step(i + 1, steps)

    z = np.random.default_rng(seed).standard_normal(simulations)
    rows: list[BacktestRow] = []
    samples: dict[str, list[tuple[np.ndarray, float]]] = {"blend": [], "simulation": [], "run rate": []}
    points: dict[str, list[float]] = {"stage × in-period win rate": [], "stage-weighted pipeline": []}
    cells: dict[str, list[float]] = {"actual": [], "blend": [], "run rate": [], "stage-weighted": []}
    cell_inside: list[bool] = []
    for origin in origins:
        if origin.cutoff not in reported:
            continue
        at = _midnight(origin.cutoff)
        past = [
            (float(o.sim.sims["__total__"].mean()), o.run_rate["__total__"], o.actual)
            for o in origins
            if _midnight(o.period.end) <= at
        ]
        w = blend_weight(past)
        sim_total = origin.sim.sims["__total__"]
        rr_total = run_rate_samples(origin.run_rate["__total__"], origin.run_rate_sd, z)
        blended = blend_samples(sim_total, rr_total, w)
        y = origin.actual
        lo, hi = (float(v) for v in np.percentile(blended, [10, 90]))
        s_lo, s_hi = (float(v) for v in np.percentile(sim_total, [10, 90]))
        r_lo, r_hi = (float(v) for v in np.percentile(rr_total, [10, 90]))
        rows.append(
            BacktestRow(
                cutoff=origin.cutoff.isoformat(),
                period=origin.period.label,
                actual=round(y, 2),
                expected=round(float(blended.mean()), 2),
                p10=round(lo, 2),
                p90=round(hi, 2),
                inside=lo <= y <= hi,
                blend_weight=w,
                simulation=round(float(sim_total.mean()), 2),
                simulation_p10=round(s_lo, 2),
                simulation_p90=round(s_hi, 2),
                run_rate=round(origin.run_rate["__total__"], 2),
                run_rate_p10=round(r_lo, 2),
                run_rate_p90=round(r_hi, 2),
                stage_in_period=round(origin.stage_in_period["__total__"], 2),
                stage_weighted=round(origin.sim.stage_weighted["__total__"], 2),
                method=origin.method,
            )
        )
        samples["blend"].append((blended, y))
        samples["simulation"].append((sim_total, y))
        samples["run rate"].append((rr_total, y))
        points["stage × in-period win rate"].append(origin.stage_in_period["__total__"])
        points["stage-weighted pipeline"].append(origin.sim.stage_weighted["__total__"])
        for owner in sorted(set(origin.sim.keys) | set(origin.actual_by_owner)):
            a = origin.actual_by_owner.get(owner, 0.0)
            rr_owner = origin.run_rate.get(owner, 0.0)
            if owner in origin.sim.sims:
                # an owner's run rate is too thin for a band of its own (months with nothing won): the cell keeps
                # the simulation's spread, moved to the blended mean
                owner_sim = origin.sim.sims[owner]
                e = w * float(owner_sim.mean()) + (1 - w) * rr_owner
                o_lo, o_hi = np.percentile(owner_sim, [10, 90]) + (e - float(owner_sim.mean()))
                weighted = origin.sim.stage_weighted[owner]
            else:
                e = o_lo = o_hi = weighted = 0.0
            cells["actual"].append(a)
            cells["blend"].append(e)
            cells["run rate"].append(rr_owner)
            cells["stage-weighted"].append(weighted)
            cell_inside.append(bool(o_lo <= a <= o_hi))

    actuals = [r.actual for r in rows]
    scores = []
    for method, drawn in samples.items():
        bands = [np.percentile(s, [10, 90]) for s, _ in drawn]
        scores.append(
            MethodScore(
                method=method,
                wape=round(wape([float(s.mean()) for s, _ in drawn], actuals), 4),
                crps=round(float(np.mean([crps(s, y) for s, y in drawn])), 2),
                interval_score=round(
                    float(np.mean([interval_score(b[0], b[1], y) for b, (_, y) in zip(bands, drawn, strict=True)])), 2
                ),
                coverage=round(float(np.mean([b[0] <= y <= b[1] for b, (_, y) in zip(bands, drawn, strict=True)])), 4),
            )
        )
    for method, values in points.items():
        scores.append(
            MethodScore(
                method=method,
                wape=round(wape(values, actuals), 4),
                crps=round(float(np.mean(np.abs(np.array(values) - np.array(actuals)))), 2),
                interval_score=None,
                coverage=None,
            )
        )
    by_method = {s.method: s for s in scores}
    return BacktestReport(
        rows=rows,
        wape=by_method["blend"].wape,
        wape_simulation=by_method["simulation"].wape,
        wape_run_rate=by_method["run rate"].wape,
        wape_stage_in_period=by_method["stage × in-period win rate"].wape,
        wape_stage_weighted=by_method["stage-weighted pipeline"].wape,
        scores=scores,
        coverage=by_method["blend"].coverage or 0.0,
        owner_cells=len(cell_inside),
        owner_coverage=round(float(np.mean(cell_inside)), 4) if cell_inside else float("nan"),
        owner_wape=round(wape(cells["blend"], cells["actual"]), 4),
        owner_wape_run_rate=round(wape(cells["run rate"], cells["actual"]), 4),
        owner_wape_stage_weighted=round(wape(cells["stage-weighted"], cells["actual"]), 4),
        warmup_origins=len(origins) - len(rows),
        currency=currency or DEFAULT_CURRENCY,
        origins=[
            OriginOutcome(
                cutoff=o.cutoff.isoformat(),
                period=o.period.label,
                period_end=o.period.end.isoformat(),
                simulation=round(float(o.sim.sims["__total__"].mean()), 2),
                run_rate=round(o.run_rate["__total__"], 2),
                actual=round(o.actual, 2),
            )
            for o in origins
        ],
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


# --------------------------------------------------------------------------------------------- the live choice

TRACK_RECORD_ORIGINS = 6  # reported months in the live forecast's backtest
TRACK_RECORD_WARMUP = 4  # earlier months forecast only to learn the blend weight
TRACK_RECORD_SIMULATIONS = 1000
LIVE_METHODS = ("blend", "simulation", "run rate")
_TRACK_RECORD_VERSION = 1  # bump when the backtest's method changes: cached track records are then recomputed


class TrackRecord(BaseModel):
    """How the forecasters did on this store's last whole months (rolling origins, only what was known then)."""

    available: bool
    reason: str = ""  # why no backtest was possible
    currency: str = DEFAULT_CURRENCY
    origins: int = 0
    first_period: str = ""
    last_period: str = ""
    wape: dict[str, float] = {}
    interval_score: dict[str, float] = {}
    outcomes: list[OriginOutcome] = []  # every origin, warm-up included: the blend weight is learnt from them
    best: str = ""
    computed_at: str = ""


_TRACK_RECORDS: dict[str, TrackRecord] = {}  # this process's track records by key (forecasts as of many days)


def _fingerprint(known: DealHistory) -> str:
    """What the track record read: deals, stage changes and interactions known before the current month."""
    import hashlib

    digest = hashlib.sha256(f"v{_TRACK_RECORD_VERSION}".encode())
    columns = ["id", "amount", "currency", "owner_id", "created_at", "stage", "product", "industry", "team"]
    present = [c for c in columns if c in known.deals.columns]
    digest.update(known.deals[present].sort_values("id").to_csv(index=False).encode())
    digest.update(known.changes.sort_values(["deal_id", "changed_at"]).to_csv(index=False).encode())
    digest.update(known.interactions.sort_values(["deal_id", "occurred_at"]).to_csv(index=False).encode())
    digest.update(",".join(known.machine.stages).encode())
    return digest.hexdigest()


def track_record(
    history: DealHistory,
    at: datetime,
    *,
    cache_dir: Path | None = None,
    simulations: int = TRACK_RECORD_SIMULATIONS,
    origins: int = TRACK_RECORD_ORIGINS,
) -> TrackRecord:
    """The backtest behind the live forecast's choice: the last ``origins`` whole months before ``at``'s month.

    ``history`` is one currency's (the backtest adds actuals up). Months whose cut-off lacks three months of
    run-rate history are left out; with fewer than ``BLEND_MIN_ORIGINS`` left, or nothing won in them, the
    record says no backtest was possible and why. Cached in ``cache_dir`` under a fingerprint of the history known
    before the current month, so it is recomputed only when that history changes (or a new month starts).
    """
    import json

    codes = sorted(set(_currency_of(history.deals).tolist())) or [DEFAULT_CURRENCY]
    code = codes[0]
    month = period_containing(at.date(), "month")
    known = history.as_of(_midnight(month.start))
    key = _fingerprint(known) + f"|{month.start}|{simulations}|{origins}"
    path = cache_dir / f"track-record-{code}.json" if cache_dir is not None else None
    if key in _TRACK_RECORDS and (path is None or path.is_file()):
        return _TRACK_RECORDS[key]
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return TrackRecord(**stored["record"])
        except (ValueError, TypeError, KeyError):
            pass  # an unreadable cache is recomputed
    record = _TRACK_RECORDS.get(key) or _compute_track_record(known, month, code, simulations, origins)
    if len(_TRACK_RECORDS) > 64:
        _TRACK_RECORDS.clear()
    _TRACK_RECORDS[key] = record
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"key": key, "record": record.model_dump()}), encoding="utf-8")
        scratch.replace(path)
    return record


def _compute_track_record(known: DealHistory, month: Period, code: str, simulations: int, count: int) -> TrackRecord:
    import numpy as np

    deals = known.deals
    if deals.empty:
        return TrackRecord(available=False, reason="no deals before this month", currency=code)
    first_known = deals["created_at"].min()
    cutoffs = [
        shift(month, -i).start
        for i in range(count, 0, -1)
        if first_known <= _midnight(shift(month, -i - RUN_RATE_MONTHS).start)
    ]
    if len(cutoffs) < BLEND_MIN_ORIGINS:
        months = max(int((_midnight(month.start) - first_known).days // 30), 0)
        return TrackRecord(
            available=False,
            reason=f"the history reaches back about {months} months; a backtest needs {RUN_RATE_MONTHS} months of "
            f"run-rate history before each of at least {BLEND_MIN_ORIGINS} past months",
            currency=code,
        )
    report = backtest(known, cutoffs, "month", simulations=simulations, warmup=TRACK_RECORD_WARMUP)
    wape_of = {s.method: s.wape for s in report.scores}
    if any(not np.isfinite(wape_of.get(m, float("nan"))) for m in LIVE_METHODS):
        return TrackRecord(available=False, reason="nothing was won in the backtest's months", currency=code)
    best = min(LIVE_METHODS, key=lambda m: (wape_of[m], LIVE_METHODS.index(m)))
    return TrackRecord(
        available=True,
        currency=code,
        origins=len(report.rows),
        first_period=report.rows[0].period,
        last_period=report.rows[-1].period,
        wape=wape_of,
        interval_score={s.method: s.interval_score for s in report.scores if s.interval_score is not None},
        outcomes=report.origins,
        best=best,
        computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


@dataclass
class LiveParts:
    """The live forecast's run rate (per group, won so far included), the blend weight and the chosen method."""

    run_rate: dict[str, float] | None
    to_go: dict[str, float]  # the run rate's part still to come (what the band spreads)
    log_sd: float
    z: np.ndarray
    weight: float
    chosen: str
    why: str

    def run_rate_samples(self, key: str) -> np.ndarray:
        assert self.run_rate is not None
        won = self.run_rate.get(key, 0.0) - self.to_go.get(key, 0.0)
        return won + run_rate_samples(self.to_go.get(key, 0.0), self.log_sd, self.z)

    def method_text(self, win_method: str) -> str:
        simulation = "Monte Carlo simulation" + ("" if win_method == "model" else " (stage-weighted win probabilities)")
        if self.chosen == "blend":
            return f"blend of {self.weight:.2f} x {simulation} and {1 - self.weight:.2f} x run rate (quantile average)"
        if self.chosen == "run rate":
            return (
                f"run rate: won so far plus the trailing {RUN_RATE_MONTHS}-month bookings rate for the rest of the "
                "period, with a lognormal band of the history's spread"
            )
        return simulation


def live_parts(
    history: DealHistory,
    period: Period,
    at: datetime,
    sim: Simulation,
    group_of: pd.Series,
    record: TrackRecord | None,
    *,
    seed: int = 0,
    fiscal_start: int = 1,
) -> LiveParts:
    """Run rate to the period's end, the blend weight learnt from ``record``'s past origins, and the choice.

    The run rate is what was won so far plus, for the part of the period still ahead, the trailing three whole
    months' bookings per month. The choice is the method with the lowest backtest WAPE; with no backtest
    possible it is the even blend (the blend's prior), and with no run rate (under three months of history) the
    simulation alone. The reason is always stated.
    """
    import numpy as np

    z = np.random.default_rng(seed + 1).standard_normal(len(sim.sims["__total__"]))
    rate = run_rate(history, at, period, group_of)
    if rate is None:
        why = (
            f"the history does not reach {RUN_RATE_MONTHS} whole months back, so there is no run rate to compare "
            "or blend with: the simulation alone"
        )
        return LiveParts(None, {}, 0.0, z, 1.0, "simulation", why)
    start, end = _midnight(period.start), _midnight(period.end)
    share = min(max((end - max(at, start)) / (end - start), 0.0), 1.0)
    to_go = {k: v * share for k, v in rate.items()}
    keys = set(sim.sims) | set(to_go)
    total = {k: sim.won_to_date.get(k, 0.0) + to_go.get(k, 0.0) for k in keys}
    log_sd = _revenue_log_sd(history, period, at, fiscal_start)
    past = []
    if record is not None and record.available:
        past = [(o.simulation, o.run_rate, o.actual) for o in record.outcomes if o.period_end <= at.date().isoformat()]
    weight = blend_weight(past)
    if record is None or not record.available:
        reason = record.reason if record is not None else "no track record"
        why = (
            f"no backtest possible ({reason}): the even blend of the simulation and the run rate, until there is a "
            "track record to choose by"
        )
        return LiveParts(total, to_go, log_sd, z, weight, "blend", why)
    scores = ", ".join(f"{m} {record.wape[m]:.1%}" for m in LIVE_METHODS)
    others = (
        f"; stage x in-period win rate {record.wape['stage × in-period win rate']:.1%}"
        if ("stage × in-period win rate" in record.wape)
        else ""
    )
    why = (
        f"lowest WAPE in a backtest over {record.origins} past months ({record.first_period} to "
        f"{record.last_period}, monthly origins, only what was known at each): {scores}{others}"
    )
    return LiveParts(total, to_go, log_sd, z, weight, record.best, why)
