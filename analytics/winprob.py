"""Win probability per open deal, and when it will close: P(win) and P(won within each coming period), with reasons.

Everything is computed from the deal history *as known at a given moment* (``DealHistory.as_of``), so the same
code serves today's pipeline and the backtest's past cut-offs without leaking later facts.

Win model: training rows are snapshots of closed deals (at each stage entry and every 14 days while open) with
stage, days in stage, age, size, segment, product, owner, tenure, activity recency, touches and sentiment trend;
a calibrated logistic regression learns P(win). Too little history: stage-weighted fallback (the historical win
rate from each stage). Timing: for won deals, the empirical distribution of days from a snapshot to the win,
per stage (and size band when it has enough data) and time already spent in the stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from analytics.features import AnalyticsConfig, model_matrix, resolve_features
from sales.money import DEFAULT_CURRENCY
from sales.periods import Granularity, Period, period_containing, shift
from sales.permissions import Actor
from sales.segments import deal_size_band, tenure_band
from sales.stages import DEFAULT_MACHINE, StageMachine, workspace_machine

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlmodel import Session

SNAPSHOT_EVERY_DAYS = 14
MIN_POOL = 25
RECENT_DAYS = 120
UNKNOWN_STAGE_PROBABILITY = 0.3
"""The prior of a stage whose configuration gives none (the stage machine's ``probabilities`` are the
conventional CRM ones, used only when history has too few deals from a stage)."""


@dataclass
class DealHistory:
    """The store's deals, stage changes, interactions and owners as frames (UTC timestamps)."""

    deals: pd.DataFrame
    changes: pd.DataFrame
    interactions: pd.DataFrame
    machine: StageMachine = DEFAULT_MACHINE

    def as_of(self, cutoff: datetime) -> DealHistory:
        """Only what had happened strictly before ``cutoff``; stage, entry time and close state recomputed."""
        ch = self.changes[self.changes["changed_at"] < cutoff]
        deals = self.deals[self.deals["created_at"] < cutoff].copy()
        deals = deals[deals["id"].isin(ch["deal_id"])] if not ch.empty else deals.iloc[0:0]
        if deals.empty:  # nothing known yet (a cut-off before the first deal): the empty frames, dtypes kept
            inter = self.interactions.iloc[0:0]
            return DealHistory(deals.reset_index(drop=True), ch.reset_index(drop=True), inter, self.machine)
        last = ch.sort_values(["deal_id", "changed_at"]).groupby("deal_id").tail(1).set_index("deal_id")
        deals["stage"] = deals["id"].map(last["to_stage"])
        deals["stage_entered_at"] = deals["id"].map(last["changed_at"])
        closed = deals["stage"].isin(self.machine.closed_stages)
        deals["closed_at"] = deals["stage_entered_at"].where(closed)
        inter = self.interactions[self.interactions["occurred_at"] < cutoff]
        return DealHistory(deals.reset_index(drop=True), ch.reset_index(drop=True), inter, self.machine)

    @property
    def amount_recorded_at_close(self) -> bool:
        """True when lost deals mostly carry no amount (e.g. Maven): open amounts were unknown until closing."""
        lost = self.deals[self.deals["stage"] == self.machine.lost_stage]["amount"]
        return len(lost) > 0 and bool(((lost.isna()) | (lost <= 0)).mean() > 0.5)


def load_history(session: Session, actor: Actor | None = None, machine: StageMachine | None = None) -> DealHistory:
    """Read deals (owner, account industry, owner tenure), stage changes and deal interactions into frames, with the
    workspace's stage machine unless ``machine`` is given."""
    machine = machine or workspace_machine(session)
    import pandas as pd
    from sqlalchemy import select
    from sqlmodel import col

    from store.models import Account, Deal, Interaction, StageChange, User

    dcols: list[Any] = [
        Deal.id,
        Deal.owner_id,
        Deal.amount,
        Deal.currency,
        Deal.stage,
        Deal.stage_entered_at,
        Deal.created_at,
        Deal.closed_at,
        Deal.product,
        Deal.expected_close_date,
        Account.industry,
        User.name,
        User.team,
        User.started_at,
    ]
    q = (
        select(*dcols)
        .join(Account, col(Account.id) == col(Deal.account_id), isouter=True)
        .join(User, col(User.id) == col(Deal.owner_id))
    )
    if actor is not None and actor.visible_owner_ids is not None:
        q = q.where(Deal.owner_id.in_(sorted(actor.visible_owner_ids)))  # type: ignore[attr-defined]
    deals = pd.DataFrame(
        session.execute(q).all(),
        columns=[
            "id",
            "owner_id",
            "amount",
            "currency",
            "stage",
            "stage_entered_at",
            "created_at",
            "closed_at",
            "product",
            "expected_close_date",
            "industry",
            "owner",
            "team",
            "owner_started_at",
        ],
    )
    deals["amount"] = pd.to_numeric(deals["amount"], errors="coerce").astype(float)
    ids = deals["id"].tolist()
    changes = pd.DataFrame(
        session.execute(select(col(StageChange.deal_id), col(StageChange.to_stage), col(StageChange.changed_at))).all(),
        columns=["deal_id", "to_stage", "changed_at"],
    )
    changes = changes[changes["deal_id"].isin(ids)]
    inter = pd.DataFrame(
        session.execute(
            select(col(Interaction.deal_id), col(Interaction.occurred_at), col(Interaction.sentiment)).where(
                col(Interaction.deal_id).is_not(None)
            )
        ).all(),
        columns=["deal_id", "occurred_at", "sentiment"],
    )
    inter = inter[inter["deal_id"].isin(ids)]
    for frame, column in (
        (deals, "created_at"),
        (deals, "stage_entered_at"),
        (deals, "closed_at"),
        (changes, "changed_at"),
        (inter, "occurred_at"),
    ):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return DealHistory(deals, changes.reset_index(drop=True), inter.reset_index(drop=True), machine)


# --------------------------------------------------------------------------------------------- snapshot features


def _activity_features(snaps: pd.DataFrame, inter: pd.DataFrame) -> pd.DataFrame:
    """days_since_activity, touches_30d and sentiment_trend at each snapshot time, from earlier interactions."""
    import numpy as np
    import pandas as pd

    snaps = snaps.copy()
    snaps["touches_30d"] = 0.0
    snaps["sentiment_trend"] = np.nan
    snaps["last_activity_at"] = snaps["stage_entered"]
    if inter.empty:
        return snaps
    inter = inter.sort_values(["deal_id", "occurred_at"]).copy()
    inter["n"] = inter.groupby("deal_id").cumcount() + 1
    sent = inter["sentiment"].astype(float)
    grouped = sent.groupby(inter["deal_id"])
    inter["recent_sent"] = grouped.transform(lambda s: s.rolling(3, min_periods=1).mean())
    inter["all_sent"] = grouped.transform(lambda s: s.expanding().mean())
    order = snaps.sort_values("at").reset_index()
    right = inter.sort_values("occurred_at")
    now = pd.merge_asof(
        order,
        right[["deal_id", "occurred_at", "n", "recent_sent", "all_sent"]],
        left_on="at",
        right_on="occurred_at",
        by="deal_id",
        allow_exact_matches=False,
    )
    order["at_30"] = order["at"] - pd.Timedelta(days=30)
    before = pd.merge_asof(
        order.sort_values("at_30"),
        right[["deal_id", "occurred_at", "n"]].rename(columns={"occurred_at": "occ30", "n": "n30"}),
        left_on="at_30",
        right_on="occ30",
        by="deal_id",
        allow_exact_matches=True,
    ).set_index("index")
    now = now.set_index("index")
    snaps["touches_30d"] = (now["n"].fillna(0) - before["n30"].reindex(now.index).fillna(0)).reindex(snaps.index)
    snaps["sentiment_trend"] = (now["recent_sent"] - now["all_sent"]).reindex(snaps.index)
    last = now["occurred_at"].reindex(snaps.index)
    snaps["last_activity_at"] = pd.concat([last, snaps["stage_entered"]], axis=1).max(axis=1)
    return snaps


def _describe(snaps: pd.DataFrame, deals: pd.DataFrame) -> pd.DataFrame:
    """Join deal attributes and derive the model's columns for snapshots (deal_id, at, stage, stage_entered)."""
    import numpy as np

    info = deals.set_index("id")
    out = snaps.copy()
    for column in ("owner", "team", "product", "industry", "amount", "created_at", "owner_started_at", "owner_id"):
        out[column] = out["deal_id"].map(info[column])
    out["days_in_stage"] = (out["at"] - out["stage_entered"]).dt.total_seconds() / 86400
    out["deal_age_days"] = (out["at"] - out["created_at"]).dt.total_seconds() / 86400
    out["log_amount"] = np.log1p(out["amount"].clip(lower=0))
    out["size_band"] = [deal_size_band(a) if a == a else "unknown" for a in out["amount"]]
    out["tenure_band"] = [
        tenure_band(s, t.date()) if s is not None and s == s else "unknown"
        for s, t in zip(out["owner_started_at"], out["at"], strict=True)
    ]
    out["days_since_activity"] = (out["at"] - out["last_activity_at"]).dt.total_seconds() / 86400
    return out


def history_snapshots(history: DealHistory, as_of: datetime) -> pd.DataFrame:
    """Snapshots of every deal (at each stage entry and every 14 days while open) up to its close or ``as_of``.

    ``won`` is 1/0 for deals closed before ``as_of`` and NaN for deals still open then; ``won_at`` is the win time.
    """
    import numpy as np
    import pandas as pd

    machine = history.machine
    ch = history.changes.sort_values(["deal_id", "changed_at"]).copy()
    if ch.empty:
        return pd.DataFrame()
    ch["next_at"] = ch.groupby("deal_id")["changed_at"].shift(-1)
    final = ch.groupby("deal_id").tail(1).set_index("deal_id")
    ch["next_at"] = ch["next_at"].fillna(pd.Timestamp(as_of))
    ch = ch[ch["to_stage"].isin(machine.open_stages)].copy()
    duration = (ch["next_at"] - ch["changed_at"]).dt.total_seconds() / 86400
    count = np.maximum(1, np.ceil(duration.clip(lower=0) / SNAPSHOT_EVERY_DAYS).astype(int))
    rep = ch.loc[ch.index.repeat(count)].copy()
    step = rep.groupby(level=0).cumcount()
    rep["at"] = rep["changed_at"] + pd.to_timedelta(step * SNAPSHOT_EVERY_DAYS, unit="D")
    rep = rep[rep["at"] < rep["next_at"]]
    snaps = pd.DataFrame(
        {
            "deal_id": rep["deal_id"].to_numpy(),
            "at": rep["at"].to_numpy(),
            "stage": rep["to_stage"].to_numpy(),
            "stage_entered": rep["changed_at"].to_numpy(),
        }
    )
    snaps["at"] = pd.to_datetime(snaps["at"], utc=True)
    snaps["stage_entered"] = pd.to_datetime(snaps["stage_entered"], utc=True)
    outcome = snaps["deal_id"].map(final["to_stage"])
    snaps["won"] = np.where(outcome == machine.won_stage, 1.0, np.where(outcome == machine.lost_stage, 0.0, np.nan))
    closed_at = snaps["deal_id"].map(final["changed_at"])
    snaps["won_at"] = closed_at.where(snaps["won"] == 1)
    snaps["days_to_close"] = (snaps["won_at"] - snaps["at"]).dt.total_seconds() / 86400
    snaps = _activity_features(snaps, history.interactions)
    return _describe(snaps, history.deals)


def open_snapshots(history: DealHistory, at: datetime) -> pd.DataFrame:
    """One row per deal open at ``at`` (the history should already be ``as_of(at)``)."""
    import pandas as pd

    deals = history.deals[history.deals["stage"].isin(history.machine.open_stages)]
    snaps = pd.DataFrame(
        {
            "deal_id": deals["id"].to_numpy(),
            "at": at,
            "stage": deals["stage"].to_numpy(),
            "stage_entered": deals["stage_entered_at"].to_numpy(),
        }
    )
    snaps["at"] = pd.to_datetime(snaps["at"], utc=True)
    snaps["stage_entered"] = pd.to_datetime(snaps["stage_entered"], utc=True)
    snaps = _activity_features(snaps, history.interactions)
    described = _describe(snaps, history.deals)
    if history.amount_recorded_at_close:
        described["size_band"] = "unknown"
    return described


# --------------------------------------------------------------------------------------------- the model


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


@dataclass
class WinModel:
    """A fitted win model (or the stage-weighted fallback) plus the timing pools, as of one moment."""

    as_of: datetime
    method: str  # "model" or "stage-weighted"
    stage_rates: dict[str, float]
    stage_priors: dict[str, float] = field(default_factory=dict)  # the stage machine's default probabilities
    bundle: Any = None  # analytics.scoring.ModelBundle when method == "model"
    timing: pd.DataFrame | None = None  # won snapshots: stage, size_band, days_in_stage, days_to_close
    # every snapshot (closed and still-open deals) with the model's p_win, for window probabilities
    snapshots: pd.DataFrame | None = None
    closed_deals: int = 0
    amount_by_product: dict[str, float] = field(default_factory=dict)
    median_amount: float = 0.0
    # the same medians learnt per currency: a deal without an amount is valued in its own currency
    amounts_by_currency: dict[str, tuple[dict[str, float], float]] = field(default_factory=dict)
    impute_amounts: bool = False
    # logit-scale spread of period-to-period win rates beyond binomial noise: a shared shock in simulations
    win_rate_sigma: float = 0.0
    notes: list[str] = field(default_factory=list)

    def stage_probability(self, stage: str) -> float:
        return self.stage_rates.get(stage, self.stage_priors.get(stage, UNKNOWN_STAGE_PROBABILITY))

    def priced_in(self, currency: str) -> WinModel:
        """This model with its fallback deal values taken from won deals in ``currency`` only (none: no value)."""
        from dataclasses import replace

        by_product, median = self.amounts_by_currency.get(currency, ({}, 0.0))
        return replace(self, amount_by_product=by_product, median_amount=median)

    def deal_amounts(self, snaps: pd.DataFrame) -> np.ndarray:
        """Known amounts; unknown (or recorded only at close) ones valued at the product's median won amount."""
        import numpy as np

        amounts = snaps["amount"].to_numpy(dtype=float, na_value=np.nan)
        fallback = np.array([self.amount_by_product.get(p, self.median_amount) for p in snaps["product"]])
        unknown = np.isnan(amounts) | (amounts <= 0)
        if self.impute_amounts:
            unknown = np.ones_like(unknown)
        return np.where(unknown, fallback, amounts)


def _stage_rates(history: DealHistory) -> dict[str, float]:
    """Share of closed deals that were won, among those that ever entered each stage (smoothed)."""
    machine = history.machine
    final = history.changes.sort_values("changed_at").groupby("deal_id")["to_stage"].last()
    closed = final[final.isin(machine.closed_stages)]
    if closed.empty:
        return {}
    won = closed == machine.won_stage
    reached = history.changes[history.changes["deal_id"].isin(closed.index)]
    rates: dict[str, float] = {}
    for stage in machine.open_stages:
        ids = reached.loc[reached["to_stage"] == stage, "deal_id"].unique()
        if len(ids) >= 20:
            prior = machine.probabilities.get(stage, UNKNOWN_STAGE_PROBABILITY)
            rates[stage] = float((won.reindex(ids).sum() + 5 * prior) / (len(ids) + 5))
    return rates


def _win_rate_sigma(history: DealHistory) -> float:
    """Between-month spread of the win rate on the logit scale, after removing binomial noise."""
    import numpy as np

    machine = history.machine
    closed = history.deals[history.deals["stage"].isin(machine.closed_stages)].copy()
    if len(closed) < 60:
        return 0.3
    closed["month"] = closed["closed_at"].dt.strftime("%Y-%m")
    wins = (closed["stage"] == machine.won_stage).groupby(closed["month"]).agg(["sum", "size"])
    logits, noise = [], []
    for won, n in zip(wins["sum"].tolist(), wins["size"].tolist(), strict=True):
        if n < 10:
            continue
        rate = (won + 0.5) / (n + 1)
        logits.append(_logit(rate))
        noise.append(1.0 / (n * rate * (1 - rate)))
    if len(logits) < 3:
        return 0.3
    excess = float(np.var(logits, ddof=1) - np.mean(noise))
    return float(math.sqrt(max(excess, 0.0)))


def deal_currencies(deals: pd.DataFrame) -> pd.Series:
    """Each deal's currency (a history without the column is in the default currency)."""
    import pandas as pd

    if "currency" not in deals.columns:
        return pd.Series(DEFAULT_CURRENCY, index=deals.index, dtype=object)
    return deals["currency"].fillna(DEFAULT_CURRENCY).astype(str)


def won_amount_medians(won: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Median won amount per product and overall (positive amounts only): the value of a deal without one.

    Pass deals of one currency: a median over several currencies would be a number in none of them.
    """
    amounts = won["amount"].dropna()
    amounts = amounts[amounts > 0]
    by_product = {str(k): float(v) for k, v in won[won["amount"] > 0].groupby("product")["amount"].median().items()}
    return by_product, float(amounts.median()) if len(amounts) else 0.0


def fit_win_model(history: DealHistory, as_of: datetime, config: AnalyticsConfig | None = None) -> WinModel:
    """Fit on deals closed before ``as_of``; the history must not contain later facts (use ``as_of``)."""
    import numpy as np

    from analytics.scoring import ModelBundle, _pipeline, _typical_values, category_weights

    config = config or AnalyticsConfig()
    machine = history.machine
    closed = history.deals[history.deals["stage"].isin(machine.closed_stages)]
    won = closed[closed["stage"] == machine.won_stage]
    amount_by_product, median_amount = won_amount_medians(won)
    currencies = deal_currencies(won)
    amounts_by_currency = {str(code): won_amount_medians(won[currencies == code]) for code in sorted(set(currencies))}
    model = WinModel(
        as_of=as_of,
        method="stage-weighted",
        stage_rates=_stage_rates(history),
        stage_priors=dict(machine.probabilities),
        closed_deals=len(closed),
        amount_by_product=amount_by_product,
        median_amount=median_amount,
        amounts_by_currency=amounts_by_currency,
        impute_amounts=history.amount_recorded_at_close,
        win_rate_sigma=_win_rate_sigma(history),
    )
    every = history_snapshots(history, as_of)
    declared = config.deal_features
    if model.impute_amounts and not every.empty:
        # Amounts written only when a deal closes (lost = 0) would leak the outcome: size is not a feature then.
        declared = tuple(f for f in declared if f.column not in ("log_amount", "size_band"))
        every["size_band"] = "unknown"
        model.notes.append("deal amounts are recorded only at closing in this data, so size is not used by the model")
    snaps = every[every["won"].notna()] if not every.empty else every
    if not snaps.empty:
        model.timing = snaps.loc[snaps["won"] == 1, ["stage", "size_band", "days_in_stage", "days_to_close"]]
    model.snapshots = every
    n_won, n_lost = len(won), len(closed) - len(won)
    if len(closed) < config.min_closed_deals or min(n_won, n_lost) < 10 or snaps.empty:
        model.notes.append(
            f"stage-weighted fallback: only {len(closed)} closed deals ({n_won} won) in history; "
            f"the win model needs {config.min_closed_deals} with at least 10 won and 10 lost"
        )
        if not every.empty:
            every["p_model"] = [model.stage_probability(st) for st in every["stage"]]
        return model
    features = resolve_features(snaps, declared, config, auto_attributes=False)
    matrix = model_matrix(snaps, features)
    y = snaps["won"].to_numpy().astype(int)
    pipeline = _pipeline("logistic", features).fit(matrix[features.columns], y)
    model.bundle = ModelBundle(
        version=f"win-{as_of.date().isoformat()}",
        kind="logistic",
        pipeline=pipeline,
        features=features,
        typical=_typical_values(matrix, features),
        ranges={},
        categories={},
        labelled=len(y),
        positives=int(np.sum(y)),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        card={},
        category_weights=category_weights(matrix, features),
    )
    model.method = "model"
    every["p_model"] = predict_win(model, every)
    return model


def predict_win(model: WinModel, snaps: pd.DataFrame) -> np.ndarray:
    import numpy as np

    if model.method == "model" and model.bundle is not None and not snaps.empty:
        predicted: np.ndarray = model.bundle.predict(model_matrix(snaps, model.bundle.features))
        return predicted
    return np.array([model.stage_probability(s) for s in snaps["stage"]], dtype=float)


def timing_pool(model: WinModel, stage: str, size_band: str, days_in_stage: float) -> tuple[np.ndarray, str]:
    """Days from now to a win for deals like this one: same stage (and size band if enough), similar time in stage."""
    import numpy as np

    timing = model.timing
    if timing is None or timing.empty:
        return np.array([45.0]), "no won deals in history: assuming 45 days"
    same_stage = timing[timing["stage"] == stage]
    for subset, scope in (
        (same_stage[same_stage["size_band"] == size_band], f"{size_band} deals in {stage}"),
        (same_stage, f"deals in {stage}"),
        (timing, "all won deals"),
    ):
        near = subset[(subset["days_in_stage"] - days_in_stage).abs() <= SNAPSHOT_EVERY_DAYS]
        if len(near) >= MIN_POOL:
            return near["days_to_close"].to_numpy(dtype=float), scope
        if len(subset) >= MIN_POOL:
            return subset["days_to_close"].to_numpy(dtype=float), scope
    return timing["days_to_close"].to_numpy(dtype=float), "all won deals"


def window_probability(model: WinModel, snaps: pd.DataFrame, p_win: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """P(won between ``lo`` and ``hi`` days from now) for each open deal in ``snaps``.

    Base rate: among past snapshots of comparable deals (same stage, size band and time in stage, falling back to
    coarser groups when thin) whose next ``hi`` days are fully observed, the share won in that window. This counts
    deals that stalled or were never closed, which a model trained only on closed deals cannot see. The win
    model then tilts it: log-odds shift = logit(deal's P(win)) - logit(mean P(win) of the comparable snapshots).
    """
    import numpy as np

    every = model.snapshots
    n = len(snaps)
    if every is None or every.empty or n == 0:
        return np.zeros(n)
    cutoff = model.as_of - timedelta(days=hi)
    seen = every[every["at"] <= cutoff]
    # Prefer the most recent observed windows: conversion speed drifts (e.g. a growing backlog of deals that
    # are never closed), and last quarter's pipeline is a better guide than last year's.
    recent = seen[seen["at"] > cutoff - timedelta(days=RECENT_DAYS)]
    if len(recent) >= 20 * MIN_POOL:
        seen = recent
    if seen.empty:
        return np.zeros(n)
    delta = seen["days_to_close"].to_numpy(dtype=float, na_value=np.nan)
    hit = (delta >= lo) & (delta < hi)
    bucket = np.minimum(seen["days_in_stage"].to_numpy() // SNAPSHOT_EVERY_DAYS, 12).astype(int)
    frame = seen.assign(hit=hit, bucket=bucket)
    levels = (["stage", "size_band", "bucket"], ["stage", "bucket"], ["stage"])
    tables = [frame.groupby(cols).agg(n=("hit", "size"), hits=("hit", "sum"), p=("p_model", "mean")) for cols in levels]
    overall = (float(frame["hit"].mean()), float(frame["p_model"].mean()))
    out = np.zeros(n)
    open_bucket = np.minimum(snaps["days_in_stage"].to_numpy() // SNAPSHOT_EVERY_DAYS, 12).astype(int)
    for i, (stage, band) in enumerate(zip(snaps["stage"], snaps["size_band"], strict=True)):
        keys = ((stage, band, open_bucket[i]), (stage, open_bucket[i]), stage)
        q, p_bar = overall
        for table, key in zip(tables, keys, strict=True):
            if key in table.index and float(table.loc[key, "n"]) >= MIN_POOL:
                row = table.loc[key]
                q = (float(row["hits"]) + 0.5) / (float(row["n"]) + 1.0)
                p_bar = float(row["p"])
                break
        if model.method == "model":
            logit = _logit(q) + _logit(float(p_win[i])) - _logit(p_bar)
            out[i] = 1.0 / (1.0 + math.exp(-logit))
        else:
            out[i] = q
    return out


# --------------------------------------------------------------------------------------------- public results


class DealWinProbability(BaseModel):
    deal_id: int
    owner: str
    stage: str
    amount: float
    amount_imputed: bool
    """True when ``amount`` is the median won amount of the deal's product in its own currency (0: none won)."""
    currency: str = DEFAULT_CURRENCY
    p_win: float
    p_close_by_period: dict[str, float]
    expected_close_days: float
    method: str
    reasons: list[str]
    timing_reasons: list[str]


class WinProbabilities(BaseModel):
    as_of: str
    method: str
    closed_deals_in_history: int
    deals: list[DealWinProbability]
    notes: list[str]


def _win_reasons(model: WinModel, snaps: pd.DataFrame, limit: int = 3) -> list[list[str]]:
    from analytics.scoring import occlusion_effects

    if model.method != "model" or model.bundle is None or snaps.empty:
        return [
            [f"stage-weighted: {model.stage_probability(s):.0%} of past deals in {s} were won"] for s in snaps["stage"]
        ]
    bundle = model.bundle
    matrix = model_matrix(snaps, bundle.features)
    effects = occlusion_effects(bundle, matrix)
    out: list[list[str]] = []
    for index in matrix.index:
        row = effects.loc[index]
        texts: list[str] = []
        for column in row.abs().sort_values(ascending=False).index:
            points = float(row[column]) * 100
            if abs(points) < 1 or len(texts) >= limit:
                break
            label = bundle.features.label_of(column)
            value: Any = matrix.at[index, column]
            direction = "raises" if points > 0 else "lowers"
            if column in bundle.features.categorical:
                texts.append(
                    f"{label} {value} {direction} the win chance by {abs(points):.0f} points versus a typical {label}"
                )
            else:
                typical = bundle.typical[column]
                if column == "log_amount":  # the model sees log(1 + amount); people read amounts
                    value, typical = math.expm1(value), math.expm1(typical)
                texts.append(
                    f"{label} {value:,.0f} {direction} the win chance by {abs(points):.0f} points "
                    f"(typical {typical:,.0f})"
                )
        out.append(texts)
    return out


def _timing_reason(model: WinModel, stage: str, band: str, days: float) -> list[str]:
    import numpy as np

    if model.timing is None or model.timing.empty:
        return []
    pool, scope = timing_pool(model, stage, band, days)
    stage_pool = model.timing[model.timing["stage"] == stage]["days_to_close"]
    reasons = [f"deals like this ({scope}) took a median {np.median(pool):.0f} more days to win"]
    if scope.startswith(band) and len(stage_pool) >= MIN_POOL:
        ratio = float(np.median(pool) / max(np.median(stage_pool), 1.0))
        if ratio >= 1.4:
            reasons.append(
                f"{band} deals in {stage} are slow: {ratio:.1f}x the median time to close of all deals "
                f"in {stage} ({np.median(pool):.0f} vs {np.median(stage_pool):.0f} days)"
            )
        elif ratio <= 0.7:
            reasons.append(
                f"{band} deals in {stage} close faster than most ({np.median(pool):.0f} vs "
                f"{np.median(stage_pool):.0f} days)"
            )
    return reasons


def coming_periods(
    today: date, granularity: Granularity, count: int = 3, fiscal_year_start_month: int = 1
) -> list[Period]:
    first = period_containing(today, granularity, fiscal_year_start_month)
    return [shift(first, i, fiscal_year_start_month) for i in range(count)]


def deal_probabilities(
    history: DealHistory, model: WinModel, at: datetime, periods: list[Period], *, with_reasons: bool = True
) -> list[DealWinProbability]:
    import numpy as np

    snaps = open_snapshots(history, at)
    if snaps.empty:
        return []
    p_win = predict_win(model, snaps)
    deals = history.deals
    currency_of = dict(zip(deals["id"], deal_currencies(deals), strict=True))
    currencies = np.array([currency_of.get(i, DEFAULT_CURRENCY) for i in snaps["deal_id"]], dtype=object)
    # a deal without an amount is valued from won deals in its own currency, never from another's
    amounts = np.zeros(len(snaps))
    for code in sorted(set(currencies)):
        in_code = currencies == code
        amounts[in_code] = model.priced_in(code).deal_amounts(snaps[in_code])
    imputed = np.isnan(snaps["amount"].to_numpy(dtype=float, na_value=np.nan)) | model.impute_amounts
    reasons = _win_reasons(model, snaps) if with_reasons else [[] for _ in range(len(snaps))]
    out: list[DealWinProbability] = []
    windows = {}
    for period in periods:
        lo = max((datetime.combine(period.start, datetime.min.time(), UTC) - at).total_seconds() / 86400, 0.0)
        hi = (datetime.combine(period.end, datetime.min.time(), UTC) - at).total_seconds() / 86400
        windows[period.label] = window_probability(model, snaps, p_win, lo, hi)
    for i, row in enumerate(snaps.to_dict("records")):
        stage, band, days = str(row["stage"]), str(row["size_band"]), float(row["days_in_stage"])
        pool, _ = timing_pool(model, stage, band, days)
        close_days = {label: round(float(w[i]), 4) for label, w in windows.items()}
        out.append(
            DealWinProbability(
                deal_id=int(row["deal_id"]),
                owner=str(row["owner"]),
                stage=stage,
                amount=float(amounts[i]),
                amount_imputed=bool(imputed[i]),
                currency=str(currencies[i]),
                p_win=round(float(p_win[i]), 4),
                p_close_by_period=close_days,
                expected_close_days=float(np.median(pool)),
                method=model.method,
                reasons=reasons[i],
                timing_reasons=_timing_reason(model, stage, band, days) if with_reasons else [],
            )
        )
    return out


def win_probabilities(
    session: Session,
    actor: Actor,
    *,
    deal_ids: list[int] | None = None,
    granularity: Granularity = "quarter",
    today: date | None = None,
    config: AnalyticsConfig | None = None,
) -> WinProbabilities:
    """P(win) and P(won within each of the next three periods) for the open deals the actor can see.

    The model learns from the whole store's history (so a rep's deals are judged against everyone's), while
    the results list only the actor's visible deals.
    """
    from sales.errors import NotFound

    at = datetime.combine(today, datetime.min.time(), UTC) if today else datetime.now(UTC)
    history = load_history(session).as_of(at)
    model = fit_win_model(history, at, config)
    visible = history.deals
    if actor.visible_owner_ids is not None:
        visible = visible[visible["owner_id"].isin(sorted(actor.visible_owner_ids))]
    if deal_ids is not None:
        missing = sorted(set(deal_ids) - set(visible["id"]))
        if missing:
            raise NotFound(f"no open deal you can see with id {', '.join(map(str, missing))}")
        visible = visible[visible["id"].isin(deal_ids)]
    scoped = DealHistory(visible, history.changes, history.interactions, history.machine)
    periods = coming_periods(at.date(), granularity)
    deals = deal_probabilities(scoped, model, at, periods)
    return WinProbabilities(
        as_of=at.isoformat(),
        method=model.method,
        closed_deals_in_history=model.closed_deals,
        deals=deals,
        notes=model.notes,
    )
