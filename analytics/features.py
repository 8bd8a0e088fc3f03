"""The feature sets of the lead-scoring and win-probability models, declared in one place, plus the frames they read.

Defaults live here; a workspace can override them in ``$SALESGRAPH_HOME/analytics.yaml`` (see ``load_config``).
Only facts known *before* an outcome may be features: lead status, qualification date, account/contact links and
call duration are consequences of the outcome and are excluded on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sales.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    from sqlmodel import Session

Kind = Literal["numeric", "categorical"]

POSITIVE_OUTCOMES = frozenset({"converted", "won", "yes", "1", "true"})
NEGATIVE_OUTCOMES = frozenset({"lost", "disqualified", "no", "0", "false"})


@dataclass(frozen=True)
class Feature:
    """One model input: ``column`` in the frame built by ``lead_frame``/``deal_snapshots``, and the words for it."""

    column: str
    kind: Kind
    label: str


# Lead fields and early engagement. Attributes (e.g. employees, page_views, job, age) are added automatically.
LEAD_FEATURES: tuple[Feature, ...] = (
    Feature("source", "categorical", "lead source"),
    Feature("industry", "categorical", "industry"),
    Feature("region", "categorical", "region"),
    Feature("touches_early", "numeric", "touches in the first two weeks"),
    Feature("inbound_early", "numeric", "replies/inbound contacts in the first two weeks"),
    Feature("sentiment_early", "numeric", "tone of early conversations"),
)

# Known after the call or after the outcome (they leak the label); never features, whatever the data holds.
LEAKY_ATTRIBUTES = frozenset({"duration", "y", "outcome", "status", "converted", "won", "lost", "closed_at"})

DEAL_FEATURES: tuple[Feature, ...] = (
    Feature("stage", "categorical", "stage"),
    Feature("days_in_stage", "numeric", "days in the current stage"),
    Feature("deal_age_days", "numeric", "age of the deal"),
    Feature("log_amount", "numeric", "deal size"),
    Feature("size_band", "categorical", "size segment"),
    Feature("industry", "categorical", "industry"),
    Feature("product", "categorical", "product"),
    Feature("owner", "categorical", "owner"),
    Feature("tenure_band", "categorical", "owner tenure"),
    Feature("days_since_activity", "numeric", "days since the last activity"),
    Feature("touches_30d", "numeric", "activities in the last 30 days"),
    Feature("sentiment_trend", "numeric", "change in conversation tone"),
)


@dataclass(frozen=True)
class Bands:
    """Score cut-offs on the 0-100 scale (calibrated probability x 100, or rule points when rule-based)."""

    hot: float = 50.0
    warm: float = 20.0
    # probabilities within this many points of a cut-off are flagged "close to a band edge"
    edge_margin: float = 4.0
    # cold leads below this are recommended for disqualification rather than nurture
    disqualify_below: float = 5.0

    def band(self, score: float) -> str:
        if score >= self.hot:
            return "hot"
        if score >= self.warm:
            return "warm"
        return "cold"


@dataclass(frozen=True)
class AnalyticsConfig:
    lead_features: tuple[Feature, ...] = LEAD_FEATURES
    auto_attributes: bool = True
    exclude_attributes: frozenset[str] = LEAKY_ATTRIBUTES
    # categorical attributes with more distinct values than this are identifiers, not features
    max_categories: int = 60
    engagement_window_days: int = 14
    bands: Bands = field(default_factory=Bands)
    # below this many labelled outcomes (or fewer than min_per_class of either class) scoring is rule-based
    min_labelled: int = 200
    min_per_class: int = 20
    # fewer labelled outcomes than this and a model score is flagged as resting on little data
    ample_labelled: int = 1000
    # a field empty in fewer than this share of training leads is "usually known"; a lead is unlike the
    # training data when at least unlike_empty_share of the model's features are usually-known fields it lacks
    usually_known: float = 0.95
    unlike_empty_share: float = 0.5
    holdout_fraction: float = 0.2
    deal_features: tuple[Feature, ...] = DEAL_FEATURES
    min_closed_deals: int = 40


def _feature(raw: dict[str, Any]) -> Feature:
    try:
        kind = raw["kind"]
        if kind not in ("numeric", "categorical"):
            raise InvalidInput({"kind": f"{kind!r} must be numeric or categorical"})
        return Feature(str(raw["column"]), kind, str(raw.get("label", raw["column"])))
    except KeyError as exc:
        raise InvalidInput({"analytics.yaml": f"a feature needs {exc.args[0]!r}"}) from None


def load_config(home: Path | None) -> AnalyticsConfig:
    """Defaults, overridden by ``home/analytics.yaml`` when present (keys as in ``AnalyticsConfig``)."""
    config = AnalyticsConfig()
    path = home / "analytics.yaml" if home else None
    if path is None or not path.is_file():
        return config
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise InvalidInput({str(path): "must be a mapping of settings"})
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("lead_features", "deal_features"):
            changes[key] = tuple(_feature(f) for f in value)
        elif key == "exclude_attributes":
            changes[key] = LEAKY_ATTRIBUTES | frozenset(value)
        elif key == "bands":
            changes[key] = Bands(**value)
        elif key in AnalyticsConfig.__dataclass_fields__:
            changes[key] = value
        else:
            raise InvalidInput({str(path): f"unknown setting {key!r}"})
    config = replace(config, **changes)
    if not 0 <= config.bands.warm < config.bands.hot <= 100:
        raise InvalidInput({"bands": "need 0 <= warm < hot <= 100"})
    return config


def outcome_label(outcome: object) -> int | None:
    """1 for a won/converted outcome, 0 for lost, None when unknown (also NaN from a frame)."""
    if not isinstance(outcome, str):
        return None
    value = outcome.strip().lower()
    if value in POSITIVE_OUTCOMES:
        return 1
    if value in NEGATIVE_OUTCOMES:
        return 0
    return None


def lead_frame(
    session: Session, *, lead_ids: list[int] | None = None, owner_ids: list[int] | None = None, window_days: int = 14
) -> pd.DataFrame:
    """One row per lead: id, owner_id, created_at, label, lead fields, flattened attributes, early engagement.

    Engagement counts only interactions within ``window_days`` of the lead's creation, so a lead scored early
    and a lead whose outcome is known are described the same way (later touches follow from the outcome).
    """
    import pandas as pd
    from sqlalchemy import select
    from sqlmodel import col

    from store.models import Interaction, Lead

    cols: list[Any] = [
        Lead.id,
        Lead.owner_id,
        Lead.created_at,
        Lead.outcome,
        Lead.source,
        Lead.industry,
        Lead.region,
        Lead.title,
        Lead.company,
        Lead.email,
        Lead.phone,
        Lead.attributes,
    ]
    query = select(*cols)
    if lead_ids is not None:
        query = query.where(col(Lead.id).in_(lead_ids))
    if owner_ids is not None:
        query = query.where(col(Lead.owner_id).in_(owner_ids))
    rows = session.execute(query.order_by(col(Lead.created_at), col(Lead.id))).all()
    base = pd.DataFrame(
        [r[:-1] for r in rows],
        columns=[
            "id",
            "owner_id",
            "created_at",
            "outcome",
            "source",
            "industry",
            "region",
            "title",
            "company",
            "email",
            "phone",
        ],
    )
    attrs = pd.DataFrame([r[-1] or {} for r in rows], index=base.index)
    attrs.columns = [f"attr:{c}" for c in attrs.columns]
    frame = pd.concat([base, attrs], axis=1)
    _fill_seniority(frame)
    frame["label"] = [outcome_label(o) for o in frame["outcome"]]
    frame["touches_early"] = 0.0
    frame["inbound_early"] = 0.0
    frame["sentiment_early"] = float("nan")
    frame["last_touch_at"] = pd.NaT
    if frame.empty:
        return frame
    icols: list[Any] = [Interaction.lead_id, Interaction.occurred_at, Interaction.direction, Interaction.sentiment]
    iq = select(*icols).where(col(Interaction.lead_id).is_not(None))
    if lead_ids is not None:
        iq = iq.where(Interaction.lead_id.in_(lead_ids))  # type: ignore[union-attr]
    inter = pd.DataFrame(session.execute(iq).all(), columns=["lead_id", "occurred_at", "direction", "sentiment"])
    if not inter.empty:
        created = frame.set_index("id")["created_at"]
        inter = inter[inter["lead_id"].isin(created.index)]
        inter["created_at"] = inter["lead_id"].map(created)
        last = inter.groupby("lead_id")["occurred_at"].max()
        early = inter[inter["occurred_at"] <= inter["created_at"] + timedelta(days=window_days)]
        grouped = early.groupby("lead_id")
        touches = grouped.size()
        inbound = early[early["direction"] == "inbound"].groupby("lead_id").size()
        sentiment = grouped["sentiment"].mean()
        frame["touches_early"] = frame["id"].map(touches).fillna(0).astype(float)
        frame["inbound_early"] = frame["id"].map(inbound).fillna(0).astype(float)
        frame["sentiment_early"] = frame["id"].map(sentiment).astype(float)
        frame["last_touch_at"] = frame["id"].map(last)
    return frame


def _fill_seniority(frame: pd.DataFrame) -> None:
    """A lead without a stored seniority gets the level its title names, with the function lead capture uses.

    Training rows and a lead scored today are then described the same way whether the level was imported,
    derived when the lead was captured, or neither (leads created before capture derived it).
    """
    from sales.seniority import SENIORITY_ATTRIBUTE, seniority_of

    derived = frame["title"].map(seniority_of)
    if not derived.notna().any():
        return
    column = f"attr:{SENIORITY_ATTRIBUTE}"
    if column not in frame.columns:
        frame[column] = derived
        return
    stored = frame[column]
    empty = stored.isna() | (stored.astype(str).str.strip() == "")
    frame[column] = stored.where(~empty, derived)


@dataclass(frozen=True)
class ResolvedFeatures:
    """The features actually used for one training run: declared ones present in the data plus attributes."""

    features: tuple[Feature, ...]

    @property
    def numeric(self) -> list[str]:
        return [f.column for f in self.features if f.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [f.column for f in self.features if f.kind == "categorical"]

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.features]

    def label_of(self, column: str) -> str:
        return next((f.label for f in self.features if f.column == column), column)


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    present = series.dropna()
    if present.empty:
        return False
    if pd.api.types.is_bool_dtype(present):
        return True
    converted = pd.to_numeric(present, errors="coerce")
    return bool(converted.notna().mean() >= 0.98)


def resolve_features(
    frame: pd.DataFrame, declared: tuple[Feature, ...], config: AnalyticsConfig, *, auto_attributes: bool | None = None
) -> ResolvedFeatures:
    """Declared features that exist and vary in ``frame``, plus (optionally) every usable attribute."""
    chosen: list[Feature] = []
    for feature in declared:
        if feature.column in frame.columns and frame[feature.column].nunique(dropna=True) > 1:
            chosen.append(feature)
    if config.auto_attributes if auto_attributes is None else auto_attributes:
        for column in sorted(c for c in frame.columns if c.startswith("attr:")):
            key = column[5:]
            if key.lower() in config.exclude_attributes:
                continue
            series = frame[column]
            if series.nunique(dropna=True) <= 1:
                continue
            if _is_numeric(series):
                chosen.append(Feature(column, "numeric", key.replace("_", " ")))
            elif series.nunique(dropna=True) <= config.max_categories:
                chosen.append(Feature(column, "categorical", key.replace("_", " ")))
    return ResolvedFeatures(tuple(chosen))


def model_matrix(frame: pd.DataFrame, features: ResolvedFeatures) -> pd.DataFrame:
    """The model's input: numeric columns as floats (NaN for missing), categoricals as strings ('missing')."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for column in features.numeric:
        values = frame[column] if column in frame.columns else pd.Series(np.nan, index=frame.index)
        out[column] = pd.to_numeric(values, errors="coerce").astype(float)
    for column in features.categorical:
        values = frame[column] if column in frame.columns else pd.Series(None, index=frame.index)
        out[column] = values.map(lambda v: "missing" if v is None or v != v else str(v)).astype(object)
    return out


def days_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0
