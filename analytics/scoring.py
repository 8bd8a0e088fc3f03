"""Lead scoring: train, evaluate and apply a calibrated model (or transparent rules at cold start), with reasons.

Method. Features come from ``analytics.features``. The pipeline is a ColumnTransformer (impute + scale numbers,
one-hot categories; ordinal codes for the boosted trees) feeding either a logistic regression or a
HistGradientBoostingClassifier, wrapped in CalibratedClassifierCV (Platt/sigmoid) so the score is a probability.
"auto" picks the one with the better ROC AUC on a time-ordered validation slice of the training data. Holdout =
the latest ``holdout_fraction`` of labelled leads by creation time (then id, i.e. file order for imports).

Reasons are occlusion attributions: for each feature, the change in the calibrated probability when that one
value is replaced by the training data's typical value (median, or most common category). They are local,
model-agnostic, exact for that lead, and cheap (one extra prediction per feature).
"""

from __future__ import annotations

import json
import logging
import numbers
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel

from analytics.features import (
    AnalyticsConfig,
    ResolvedFeatures,
    days_between,
    lead_frame,
    load_config,
    model_matrix,
    resolve_features,
)
from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, ensure_can_see

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlmodel import Session

    from app.settings import Settings

log = logging.getLogger(__name__)

ModelKind = Literal["auto", "logistic", "gbm"]
MODEL_PREFIX = "lead-score"
RULES_VERSION = "rules-v1"
LEAKAGE_AUC = 0.90
ROLLING_CHUNKS = 5
RECALIBRATION_P = 0.01  # a refit is used when Cox's calibration test rejects the model's own calibration at this level

CALL_NOW = "call now"
NURTURE = "nurture sequence"
DISQUALIFY = "disqualify"
ASK_MANAGER = "ask manager"


class Reason(BaseModel):
    feature: str
    label: str
    value: str
    typical: str
    effect_points: float
    text: str


class LeadScore(BaseModel):
    """What scoring says about one lead; JSON-serialisable for tools and the CLI."""

    lead_id: int
    score: float
    band: str
    probability: float | None
    rule_based: bool
    model_version: str
    reasons: list[Reason]
    brief: str
    explanation: str = ""
    uncertain: bool
    uncertainty: list[str]
    next_action: str
    next_action_why: str
    scored_at: str
    audit_event_id: int | None = None


class ScoreBatch(BaseModel):
    scored: int
    by_band: dict[str, int]
    model_version: str
    rule_based: bool
    audit_event_id: int | None


@dataclass
class Metrics:
    roc_auc: float
    pr_auc: float
    brier: float
    calibration_error: float
    base_rate: float
    mean_predicted: float
    rows: int
    positives: int
    calibration: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelCard:
    version: str
    kind: str
    trained_at: str
    labelled: int
    positives: int
    train_rows: int
    holdout_rows: int
    date_range: tuple[str, str]
    features: list[str]
    holdout: dict[str, Any]
    top_features: list[dict[str, Any]]
    selection: dict[str, float]
    warnings: list[str]
    path: str = ""
    rolling_auc: list[dict[str, Any]] = field(default_factory=list)  # the headline: ROC AUC per rolling origin
    monitoring: dict[str, Any] = field(default_factory=dict)  # the latest recalibration and drift check

    def to_markdown(self) -> str:
        h = self.holdout
        lines = [
            f"# Lead-scoring model {self.version}",
            "",
            f"- Kind: {self.kind} (calibrated with Platt scaling); trained {self.trained_at}",
            f"- Data: {self.labelled} labelled leads ({self.positives} positive), created "
            f"{self.date_range[0]} to {self.date_range[1]}",
            f"- Protocol: first {self.train_rows} leads by time to fit, last {self.holdout_rows} held out",
            "",
        ]
        if self.rolling_auc:
            lines += [
                "## Rolling-origin ROC AUC (the headline: each chunk scored by a model fitted on every earlier lead)",
                "",
                "| chunk | leads | fitted on | conversion rate | ROC AUC |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {c['chunk']} | {c['rows']} | {c['train_rows']} | {c['base_rate']:.3f} | "
                + (f"{c['roc_auc']:.3f}" if c.get("roc_auc") is not None else "one class only")
                + " |"
                for c in self.rolling_auc
            ]
            lines.append("")
        lines += [
            "## Holdout",
            "",
            "| ROC AUC | PR AUC | Brier | Calibration error (ECE) | Base rate | Mean predicted |",
            "|---|---|---|---|---|---|",
            f"| {h['roc_auc']:.3f} | {h['pr_auc']:.3f} | {h['brier']:.4f} | {h['calibration_error']:.3f} | "
            f"{h['base_rate']:.3f} | {h['mean_predicted']:.3f} |",
            "",
            "## Top features (mean absolute effect on the score, points)",
            "",
        ]
        lines += [f"- {f['label']}: {f['mean_abs_points']:.1f}" for f in self.top_features]
        lines += ["", "## Monitoring", "", *monitoring_lines(self.monitoring)]
        if self.warnings:
            lines += ["", "## Warnings", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


@dataclass
class ModelBundle:
    """Everything scoring needs from a trained model, saved with joblib."""

    version: str
    kind: str
    pipeline: Any
    features: ResolvedFeatures
    typical: dict[str, Any]
    ranges: dict[str, tuple[float, float]]
    categories: dict[str, list[str]]
    labelled: int
    positives: int
    trained_at: str
    card: dict[str, Any]
    # category -> share in training; categorical occlusion averages over these instead of using one mode
    category_weights: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    # feature -> share of training rows where it was empty (NaN or "missing"); absent in models saved before it
    empty_share: dict[str, float] = field(default_factory=dict)
    # (slope, intercept) of the latest rolling Platt refit on logit(p), from the model's calibration file
    recalibration: tuple[float, float] | None = None

    def predict_raw(self, matrix: pd.DataFrame) -> np.ndarray:
        """The model's own calibrated probability, before any rolling recalibration."""
        with single_thread():
            return self.pipeline.predict_proba(matrix[self.features.columns])[:, 1]  # type: ignore[no-any-return]

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        raw = self.predict_raw(matrix)
        if self.recalibration is None:
            return raw
        return apply_platt(raw, self.recalibration)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run scikit-learn's OpenMP code on one thread.

    On a busy two-core host the boosted trees' OpenMP threads spin against each other (a 1,500-row fit took a
    minute instead of a second); one thread is faster there and costs little elsewhere at these data sizes.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


# ----------------------------------------------------------------------------------------------- model building


def _estimator(kind: str, features: ResolvedFeatures, seed: int = 0) -> Any:
    """The uncalibrated pipeline (preprocessing + classifier)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric, categorical = features.numeric, features.categorical
    if kind == "logistic":
        pre = ColumnTransformer(
            [
                ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
                ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10), categorical),
            ]
        )
        estimator: Any = Pipeline([("prep", pre), ("model", LogisticRegression(C=0.3, max_iter=3000))])
    elif kind == "gbm":
        # categories first so their positions are 0..k-1; unknown or missing codes are negative = "missing"
        pre = ColumnTransformer(
            [
                (
                    "cat",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                    categorical,
                ),
                ("num", "passthrough", numeric),
            ]
        )
        model = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=list(range(len(categorical))) or None,
            early_stopping=False,
            random_state=seed,
        )
        estimator = Pipeline([("prep", pre), ("model", model)])
    else:
        raise InvalidInput({"kind": f"{kind!r} is not a model kind; choose auto, logistic or gbm"})
    return estimator


def _pipeline(kind: str, features: ResolvedFeatures, seed: int = 0) -> Any:
    """Calibrated: Platt scaling fitted on 3-fold out-of-fold predictions, one final model on all rows.

    ``ensemble=False`` keeps a single model, so the ranking (ROC AUC) is that of the model fitted on all rows
    rather than an average of three models each blind to a third of the time range.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold

    # Shuffled folds: with time-ordered folds the out-of-fold scores of a drifting data set can anti-correlate
    # with the labels, and Platt scaling would then invert the ranking.
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(_estimator(kind, features, seed), method="sigmoid", cv=folds, ensemble=False)


def compute_metrics(y: np.ndarray, p: np.ndarray, bins: int = 10) -> Metrics:
    import numpy as np
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        predicted, observed = float(p[mask].mean()), float(y[mask].mean())
        ece += mask.mean() * abs(predicted - observed)
        table.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "predicted": predicted,
                "observed": observed,
                "count": int(mask.sum()),
            }
        )
    return Metrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        calibration_error=float(ece),
        base_rate=float(y.mean()),
        mean_predicted=float(p.mean()),
        rows=len(y),
        positives=int(y.sum()),
        calibration=table,
    )


def univariate_auc(matrix: pd.DataFrame, y: np.ndarray, features: ResolvedFeatures) -> dict[str, float]:
    """How well each feature alone separates the classes (0.5 = not at all); the leakage check."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    out: dict[str, float] = {}
    for column in features.columns:
        values = matrix[column]
        if column in features.categorical:
            frame_y = np.asarray(y)
            by_cat = {k: frame_y[(values == k).to_numpy()].mean() for k in values.unique()}
            rates = values.map(by_cat).astype(float)
            score = rates.to_numpy()
        else:
            score = values.fillna(values.median()).to_numpy()
        if np.unique(score).size < 2:
            continue
        auc = float(roc_auc_score(y, score))
        out[column] = max(auc, 1.0 - auc)
    return out


def _typical_values(matrix: pd.DataFrame, features: ResolvedFeatures) -> dict[str, Any]:
    typical: dict[str, Any] = {}
    for column in features.numeric:
        median = matrix[column].median()
        typical[column] = float(median) if median == median else 0.0
    for column in features.categorical:
        typical[column] = str(matrix[column].mode().iloc[0])
    return typical


def _fit_bundle(
    kind: str, matrix: pd.DataFrame, y: np.ndarray, features: ResolvedFeatures, version: str, frame: pd.DataFrame
) -> ModelBundle:
    with single_thread():
        pipeline = _pipeline(kind, features).fit(matrix[features.columns], y)
    ranges = {
        c: (float(matrix[c].quantile(0.005)), float(matrix[c].quantile(0.995)))
        for c in features.numeric
        if matrix[c].notna().any()
    }
    categories = {c: sorted(matrix[c].unique().tolist()) for c in features.categorical}
    return ModelBundle(
        version=version,
        kind=kind,
        pipeline=pipeline,
        features=features,
        typical=_typical_values(matrix, features),
        ranges=ranges,
        categories=categories,
        labelled=len(y),
        positives=int(y.sum()),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        card={},
        category_weights=category_weights(matrix, features),
        empty_share={
            **{c: float(matrix[c].isna().mean()) for c in features.numeric},
            **{c: float((matrix[c] == "missing").mean()) for c in features.categorical},
        },
    )


def category_weights(
    matrix: pd.DataFrame, features: ResolvedFeatures, top: int = 40
) -> dict[str, list[tuple[str, float]]]:
    weights: dict[str, list[tuple[str, float]]] = {}
    for column in features.categorical:
        shares = matrix[column].value_counts(normalize=True).head(top)
        shares = shares / shares.sum()
        weights[column] = [(str(k), float(v)) for k, v in shares.items()]
    return weights


def occlusion_effects(bundle: ModelBundle, matrix: pd.DataFrame, base: np.ndarray | None = None) -> pd.DataFrame:
    """Per row and feature: probability minus the probability with that feature replaced by a typical value.

    Numbers are replaced by the training median; a category by each training category in turn, averaged by
    frequency (so "owner Jordan" is compared with an average owner, not with the single most common one).
    """
    import numpy as np
    import pandas as pd

    columns = bundle.features.columns
    if base is None:
        base = bundle.predict(matrix)
    n = len(matrix)
    replacements: list[tuple[int, str, Any, float]] = []  # (feature index, column, value, weight)
    for i, column in enumerate(columns):
        weights = bundle.category_weights.get(column)
        if weights:
            replacements += [(i, column, value, w) for value, w in weights]
        else:
            replacements.append((i, column, bundle.typical[column], 1.0))
    stacked = pd.concat([matrix[columns]] * len(replacements), ignore_index=True)
    for j, (_, column, value, _) in enumerate(replacements):
        stacked.loc[j * n : (j + 1) * n - 1, column] = value
    predicted = bundle.predict(stacked).reshape(len(replacements), n)
    swapped = np.zeros((len(columns), n))
    for j, (i, _, _, w) in enumerate(replacements):
        swapped[i] += w * predicted[j]
    return pd.DataFrame((np.asarray(base)[None, :] - swapped).T, columns=columns, index=matrix.index)


@dataclass
class Evaluation:
    kind: str
    bundle: ModelBundle
    metrics: Metrics
    selection: dict[str, float]
    leakage: dict[str, float]
    train_rows: int
    holdout_rows: int
    random_split_auc: float | None = None


def labelled_frame(frame: pd.DataFrame) -> pd.DataFrame:
    labelled = frame[frame["label"].notna()].copy()
    labelled["label"] = labelled["label"].astype(int)
    return labelled.sort_values(["created_at", "id"], kind="stable").reset_index(drop=True)


def _check_enough(labelled: pd.DataFrame, config: AnalyticsConfig) -> None:
    positives = int(labelled["label"].sum())
    negatives = len(labelled) - positives
    if len(labelled) < config.min_labelled or min(positives, negatives) < config.min_per_class:
        raise InvalidInput(
            {
                "training data": f"{len(labelled)} labelled leads ({positives} converted, {negatives} lost); a model "
                f"needs at least {config.min_labelled} and {config.min_per_class} of each. Until then scores are "
                "rule-based (fit, engagement, recency)."
            }
        )


def evaluate_frame(*args: Any, **kwargs: Any) -> Evaluation:
    """Fit on the earliest leads, measure on the latest ``holdout_fraction`` (never shuffled)."""
    with single_thread():
        return _evaluate_frame(*args, **kwargs)


def _evaluate_frame(
    frame: pd.DataFrame,
    config: AnalyticsConfig,
    *,
    kind: ModelKind = "auto",
    version: str = "evaluation",
    random_split: bool = False,
    allow_leaky: bool = False,
) -> Evaluation:
    """Fit on the earliest leads, measure on the latest ``holdout_fraction`` (never shuffled)."""
    labelled = labelled_frame(frame)
    _check_enough(labelled, config)
    features = resolve_features(labelled, config.lead_features, config)
    if not features.columns:
        raise InvalidInput({"features": "no declared feature or attribute varies across the labelled leads"})
    matrix = model_matrix(labelled, features)
    y = labelled["label"].to_numpy()
    cut = int(len(labelled) * (1 - config.holdout_fraction))
    train_x, train_y = matrix.iloc[:cut], y[:cut]
    hold_x, hold_y = matrix.iloc[cut:], y[cut:]
    if min(train_y.sum(), len(train_y) - train_y.sum(), hold_y.sum(), len(hold_y) - hold_y.sum()) < 5:
        raise InvalidInput({"training data": "the time split leaves fewer than 5 of a class in train or holdout"})
    leakage = univariate_auc(train_x, train_y, features)
    leaky = {c: a for c, a in leakage.items() if a >= LEAKAGE_AUC}
    if leaky and not allow_leaky:
        names = ", ".join(f"{features.label_of(c)} (AUC {a:.2f} alone)" for c, a in sorted(leaky.items()))
        raise InvalidInput(
            {
                "leakage": f"{names} predicts the outcome almost perfectly by itself, which usually means it is only "
                "known after the outcome. Exclude it (exclude_attributes in analytics.yaml) or check the data."
            }
        )
    selection: dict[str, float] = {}
    chosen = kind
    if kind == "auto":
        inner = int(cut * 0.8)
        for candidate in ("logistic", "gbm"):
            try:
                pipe = _estimator(candidate, features).fit(train_x.iloc[:inner], train_y[:inner])
                p = pipe.predict_proba(train_x.iloc[inner:])[:, 1]
                selection[candidate] = compute_metrics(train_y[inner:], p).roc_auc
            except ValueError as exc:  # e.g. a class missing from the inner slice
                log.info("model selection: %s failed on the inner split: %s", candidate, exc)
        # prefer the simpler, faster, extrapolating linear model unless the trees are clearly better
        chosen = "gbm" if selection.get("gbm", 0.0) > selection.get("logistic", 0.0) + 0.02 else "logistic"
    bundle = _fit_bundle(chosen, train_x, train_y, features, version, labelled.iloc[:cut])
    metrics = compute_metrics(hold_y, bundle.predict(hold_x))
    random_auc = None
    if random_split:
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        # uncalibrated: Platt scaling is monotone, so it cannot change a ranking metric
        p = cross_val_predict(
            _estimator(chosen, features),
            matrix[features.columns],
            y,
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
            method="predict_proba",
        )[:, 1]
        random_auc = compute_metrics(y, p).roc_auc
    return Evaluation(chosen, bundle, metrics, selection, leakage, cut, len(labelled) - cut, random_auc)


# ----------------------------------------------------------------------------------------------- model files


def models_dir(settings: Settings) -> Path:
    return settings.home_dir / "models"


_VERSION = re.compile(rf"^{MODEL_PREFIX}-v(\d+)\.joblib$")


def list_versions(settings: Settings) -> list[str]:
    folder = models_dir(settings)
    if not folder.is_dir():
        return []
    numbered = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION.match(p.name)))
    return [f"{MODEL_PREFIX}-v{n}" for n in numbered]


def _next_version(settings: Settings) -> str:
    versions = list_versions(settings)
    last = int(versions[-1].rsplit("v", 1)[1]) if versions else 0
    return f"{MODEL_PREFIX}-v{last + 1}"


_CACHE: dict[Path, tuple[float, ModelBundle]] = {}


def load_model(settings: Settings, version: str | None = None) -> ModelBundle | None:
    """The given (or latest) model, or None when none has been trained. Files are our own: joblib is trusted."""
    import joblib

    versions = list_versions(settings)
    if version is None:
        if not versions:
            return None
        version = versions[-1]
    elif version not in versions:
        raise NotFound(f"no model {version}; trained models: {', '.join(versions) or 'none'}")
    path = models_dir(settings) / f"{version}.joblib"
    sidecar = calibration_path(settings, version)
    mtime = path.stat().st_mtime + (sidecar.stat().st_mtime if sidecar.is_file() else 0.0)
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    bundle: ModelBundle = joblib.load(path)
    latest = read_monitoring(settings, version).get("recalibration")
    bundle.recalibration = (float(latest["slope"]), float(latest["intercept"])) if latest else None
    _CACHE[path] = (mtime, bundle)
    return bundle


def read_card(settings: Settings, version: str | None = None) -> ModelCard:
    versions = list_versions(settings)
    version = version or (versions[-1] if versions else None)
    if version is None or version not in versions:
        raise NotFound(f"no model {version or ''}; train one with `salesgraph model train`".replace("  ", " "))
    raw = json.loads((models_dir(settings) / f"{version}.card.json").read_text(encoding="utf-8"))
    raw["date_range"] = tuple(raw["date_range"])
    raw["monitoring"] = read_monitoring(settings, version)
    return ModelCard(**raw)


def _top_features(bundle: ModelBundle, matrix: pd.DataFrame, limit: int = 8) -> list[dict[str, Any]]:
    sample = matrix.sample(min(len(matrix), 2000), random_state=0) if len(matrix) > 2000 else matrix
    effects = occlusion_effects(bundle, sample).abs().mean().sort_values(ascending=False)
    return [
        {"feature": c, "label": bundle.features.label_of(str(c)), "mean_abs_points": round(float(v) * 100, 2)}
        for c, v in effects.head(limit).items()
    ]


def _require_manager(actor: Actor, what: str) -> None:
    if not actor.is_manager:
        raise PermissionDenied(f"{what} is for managers and admins; {actor.email} is a {actor.role}")


def train_lead_model(
    session: Session, actor: Actor, *, settings: Settings, kind: ModelKind = "auto", allow_leaky: bool = False
) -> ModelCard:
    """Evaluate on the time holdout, refit on all labelled leads, save model + card as the next version."""
    import joblib

    _require_manager(actor, "training the lead-scoring model")
    config = load_config(settings.home_dir)
    frame = lead_frame(session, window_days=config.engagement_window_days)
    evaluation = evaluate_frame(frame, config, kind=kind, allow_leaky=allow_leaky)
    labelled = labelled_frame(frame)
    version = _next_version(settings)
    matrix = model_matrix(labelled, evaluation.bundle.features)
    y = labelled["label"].to_numpy()
    bundle = _fit_bundle(evaluation.kind, matrix, y, evaluation.bundle.features, version, labelled)
    warnings: list[str] = []
    if evaluation.metrics.roc_auc > LEAKAGE_AUC:
        warnings.append(
            f"holdout ROC AUC {evaluation.metrics.roc_auc:.3f} is suspiciously high: look for a feature "
            "that is only known after the outcome"
        )
    if len(labelled) < config.ample_labelled:
        warnings.append(f"only {len(labelled)} labelled leads; every score is flagged as uncertain")
    shift = evaluation.metrics.base_rate - evaluation.metrics.mean_predicted
    if abs(shift) > 0.05:
        warnings.append(
            f"the holdout's conversion rate ({evaluation.metrics.base_rate:.1%}) differs from what the "
            f"model expected ({evaluation.metrics.mean_predicted:.1%}): the data drifted over time"
        )
    from analytics.rolling import rolling_origin_auc

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        import numpy as np

        with single_thread():
            fitted = _estimator(evaluation.kind, bundle.features).fit(matrix.iloc[train], y[train])
            return np.asarray(fitted.predict_proba(matrix.iloc[test])[:, 1])

    chunks, _ = rolling_origin_auc(fit_predict, y, chunks=ROLLING_CHUNKS, start_fraction=0.5)
    created = labelled["created_at"]
    card = ModelCard(
        version=version,
        kind=evaluation.kind,
        trained_at=bundle.trained_at,
        labelled=len(labelled),
        positives=int(y.sum()),
        train_rows=evaluation.train_rows,
        holdout_rows=evaluation.holdout_rows,
        date_range=(str(created.min().date()), str(created.max().date())),
        features=[f.label for f in bundle.features.features],
        holdout=asdict(evaluation.metrics),
        top_features=_top_features(bundle, matrix),
        selection=evaluation.selection,
        warnings=warnings,
        rolling_auc=[c.model_dump() for c in chunks],
    )
    bundle.card = asdict(card)
    folder = models_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    joblib.dump(bundle, path)
    card.path = str(path)
    (folder / f"{version}.card.json").write_text(json.dumps(asdict(card), indent=2, default=str), encoding="utf-8")
    (folder / f"{version}.card.md").write_text(card.to_markdown(), encoding="utf-8")
    from sales.receipts import write_receipt

    write_receipt(
        session,
        actor,
        action="train_model",
        record_type="model",
        record_id=version,
        after={"kind": card.kind, "labelled": card.labelled, "roc_auc": card.holdout["roc_auc"], "path": str(path)},
    )
    return card


def evaluate_lead_model(
    session: Session, actor: Actor, *, settings: Settings, kind: ModelKind = "auto", random_split: bool = False
) -> Evaluation:
    _require_manager(actor, "evaluating the lead-scoring model")
    config = load_config(settings.home_dir)
    frame = lead_frame(session, window_days=config.engagement_window_days)
    return evaluate_frame(frame, config, kind=kind, random_split=random_split)


# ----------------------------------------------------------------------------------------------- applying scores


NOT_RECORDED = "not recorded"


def _is_empty(value: Any) -> bool:
    """None, NaN (also numpy's and pandas' missing values) or the model matrix's "missing" category."""
    if value is None or (isinstance(value, str) and value in ("", "missing")):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pd.NA refuses comparisons
        return True


def _fmt(value: Any) -> str:
    if _is_empty(value):
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return f"{number:,.0f}"
        return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"
    return str(value)


def _reasons(bundle: ModelBundle, matrix_row: pd.DataFrame, effects_row: pd.Series, limit: int = 3) -> list[Reason]:
    """The largest effects, each worded the way its sign points: "raises ... by N points" for a positive
    effect, "lowers ... by N points" for a negative one; effects that round to no point are left out."""
    reasons: list[Reason] = []
    for key in effects_row.abs().sort_values(ascending=False).index:
        column = str(key)
        points = float(effects_row[column]) * 100
        rounded = int(abs(points) + 0.5)
        if rounded < 1 or len(reasons) >= limit:
            break
        value = matrix_row.iloc[0][column]
        label = bundle.features.label_of(column)
        typical = bundle.typical[column]
        direction = "raises" if points > 0 else "lowers"
        change = f"{direction} the score by {_points(rounded)}"
        if column in bundle.features.categorical:
            subject = f"{label} {NOT_RECORDED}" if _is_empty(value) else f"{label} {_fmt(value)}"
            text = f"{subject} {change} compared with a typical {label}"
        elif _is_empty(value):
            text = f"{label} {NOT_RECORDED} {change} compared with the typical {_fmt(typical)}"
        else:
            text = f"{label} {_fmt(value)} (typical {_fmt(typical)}) {change}"
        reasons.append(
            Reason(
                feature=column,
                label=label,
                value=_fmt(value),
                typical=_fmt(typical),
                effect_points=round(points, 1),
                text=text,
            )
        )
    return reasons


def _points(rounded: int) -> str:
    return f"{rounded} point" if rounded == 1 else f"{rounded} points"


@dataclass
class Novelty:
    """How a lead differs from the training data. ``unlike`` makes it out of distribution (ask a manager);
    ``gaps`` only says which usually-known fields are empty here (the model assumed typical values)."""

    unlike: list[str]
    gaps: list[str]


def _novelty(bundle: ModelBundle, row: pd.Series, config: AnalyticsConfig) -> Novelty:
    """The out-of-distribution rule: a lead is unlike the training data when a number lies outside the
    0.5-99.5 % range seen in training, when a category value never appeared in training, or when at least
    ``unlike_empty_share`` of the model's features are fields training leads usually had (empty in under
    1 - ``usually_known`` of them) and this lead lacks. Fewer such gaps are named, not flagged: the model then
    still knows most of what it uses about the lead."""
    unlike: list[str] = []
    for column, (low, high) in bundle.ranges.items():
        value = row[column]
        if not _is_empty(value) and (value < low or value > high):
            unlike.append(
                f"{bundle.features.label_of(column)} {_fmt(value)} is outside the range seen in training "
                f"({_fmt(low)} to {_fmt(high)})"
            )
    for column, seen in bundle.categories.items():
        if not _is_empty(row[column]) and row[column] not in seen:
            unlike.append(f"{bundle.features.label_of(column)} {row[column]!r} never appeared in training")
    shares = getattr(bundle, "empty_share", None) or {}  # models saved before it: "missing" among the categories
    gaps: list[str] = []
    for column in bundle.features.columns:
        if not _is_empty(row[column]):
            continue
        if column in shares:
            usual = shares[column] < 1 - config.usually_known
        else:
            usual = "missing" not in bundle.categories.get(column, [])
        if usual:
            gaps.append(bundle.features.label_of(column))
    total = len(bundle.features.columns)
    if gaps and len(gaps) >= config.unlike_empty_share * total:
        unlike.append(
            f"{len(gaps)} of the {total} fields the model uses are empty ({', '.join(gaps)}), "
            "though training leads almost always had them"
        )
        gaps = []
    return Novelty(unlike, gaps)


def _next_action(band: str, score: float, config: AnalyticsConfig, unlike: bool, edge: bool) -> tuple[str, str]:
    if unlike:
        return ASK_MANAGER, "this lead is unlike the leads the model learned from; get a second opinion"
    if band == "hot":
        if edge:
            return CALL_NOW, "hot, though only just: call now and qualify quickly"
        return CALL_NOW, "hot lead: call while the interest is fresh"
    if band == "warm":
        return NURTURE, "warm lead: enrol in the nurture sequence and watch for engagement"
    if score < config.bands.disqualify_below:
        return DISQUALIFY, f"very unlikely to convert (under {config.bands.disqualify_below:.0f}): disqualify"
    return NURTURE, "cold lead: keep in a low-touch nurture sequence"


def _edge(score: float, config: AnalyticsConfig) -> str | None:
    for name, cut in (("hot", config.bands.hot), ("warm", config.bands.warm)):
        if abs(score - cut) < config.bands.edge_margin:
            return f"score {score:g} is within {config.bands.edge_margin:g} points of the {name} cut-off ({cut:g})"
    return None


_SENIOR = re.compile(r"\b(chief|c[eft]o|vp|vice president|head|director|founder|owner|president|partner)\b", re.I)
_MID = re.compile(r"\b(manager|lead|principal|senior)\b", re.I)


def _ago(days: float) -> str:
    whole = max(0, int(days))
    return "today" if whole == 0 else "1 day ago" if whole == 1 else f"{whole} days ago"


def rule_score(row: pd.Series, now: datetime) -> tuple[float, list[Reason]]:
    """Transparent cold-start points: fit (0-40), engagement (0-40), recency (0-20)."""
    from sales.seniority import seniority_of

    def known(key: str) -> bool:
        return not _is_empty(row.get(key))

    title = " ".join(str(row.get(k)) for k in ("title", "attr:seniority") if known(k))
    level = row.get("attr:seniority") if known("attr:seniority") else seniority_of(row.get("title"))
    senior = (
        15
        if level in ("c_level", "vp", "director") or _SENIOR.search(title)
        else 8
        if level == "manager" or _MID.search(title)
        else 0
    )
    fit = 10 * known("company") + senior + 5 * known("industry") + 10 * (known("email") or known("phone"))
    engagement = min(40.0, 6 * float(row.get("touches_early") or 0) + 10 * float(row.get("inbound_early") or 0))
    last = row.get("last_touch_at")
    # NaT is a datetime subclass too: check for a real value, else count from when the lead was created
    import pandas as pd

    touched = isinstance(last, datetime) and not pd.isna(last)
    reference = last if touched else row["created_at"]
    age = days_between(now, reference) if isinstance(reference, datetime) and not pd.isna(reference) else None
    if age is None:  # no date to count from: no recency points, and the text says so
        recency, when = 0, "no touch and no creation date recorded"
    else:
        recency = 20 if age <= 3 else 15 if age <= 7 else 10 if age <= 14 else 5 if age <= 30 else 0
        when = f"last touch {_ago(age)}" if touched else f"no touch yet, created {_ago(age)}"
    parts = [
        ("fit", "fit (company, seniority, industry, reachable)", fit, 40),
        ("engagement", "engagement (touches and replies)", engagement, 40),
        ("recency", f"recency ({when})", recency, 20),
    ]
    reasons = [
        Reason(
            feature=key,
            label=label,
            value=f"{points:.0f}/{top}",
            typical="",
            effect_points=float(points),
            text=f"{label} adds {points:.0f} of {top} points",
        )
        for key, label, points, top in parts
    ]
    return float(fit + engagement + recency), reasons


def _cold_start_reason(session: Session, config: AnalyticsConfig) -> str:
    """Why a score is rule-based: no model trained yet, or too few known outcomes to train one."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from store.models import Lead

    labelled = int(session.exec(select(func.count()).select_from(Lead).where(col(Lead.outcome).is_not(None))).one())
    if labelled >= config.min_labelled:
        return (
            f"rule-based score: no model has been trained yet ({labelled:,} known outcomes are available; "
            "a manager can run `salesgraph model train`)"
        )
    return (
        f"rule-based score: too few known outcomes to train a model ({labelled:,} of the {config.min_labelled} needed)"
    )


_EARLY_FEATURES = ("touches_early", "inbound_early", "sentiment_early")


def _window_not_over(bundle: ModelBundle, lead: pd.Series, now: datetime, config: AnalyticsConfig) -> str | None:
    """Training leads had their whole first weeks counted; a younger lead only has the days so far."""
    import pandas as pd

    used = [c for c in _EARLY_FEATURES if c in bundle.features.columns]
    created = lead.get("created_at")
    if not used or not isinstance(created, datetime) or pd.isna(created):
        return None
    age = days_between(now, created)
    window = config.engagement_window_days
    if age >= window:
        return None
    labels = ", ".join(bundle.features.label_of(c) for c in used)
    whole = max(0, int(age))
    old = "under a day" if whole == 0 else "1 day" if whole == 1 else f"{whole} days"
    return f"the lead is {old} old, so {labels} count only the days so far, not all {window}"


def _score_rows(
    frame: pd.DataFrame,
    bundle: ModelBundle | None,
    config: AnalyticsConfig,
    now: datetime,
    with_reasons: bool,
    cold_reason: str = "rule-based score: no trained model",
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if bundle is None:
        for _, row in frame.iterrows():
            score, reasons = rule_score(row, now)
            band = config.bands.band(score)
            action, why = _next_action(band, score, config, False, False)
            results.append(
                {
                    "lead_id": int(row["id"]),
                    "score": round(score, 1),
                    "band": band,
                    "probability": None,
                    "rule_based": True,
                    "model_version": RULES_VERSION,
                    "reasons": reasons,
                    "uncertain": True,
                    "uncertainty": [cold_reason],
                    "next_action": action,
                    "next_action_why": why,
                }
            )
        return results
    matrix = model_matrix(frame, bundle.features)
    probability = bundle.predict(matrix)
    effects = occlusion_effects(bundle, matrix, probability) if with_reasons else None
    for i, (index, row) in enumerate(matrix.iterrows()):
        p = float(probability[i])
        score = round(p * 100, 1)
        band = config.bands.band(score)
        uncertainty: list[str] = []
        if bundle.labelled < config.ample_labelled:
            uncertainty.append(f"too little training data: the model learned from only {bundle.labelled} outcomes")
        novelty = _novelty(bundle, row, config)
        unlike = novelty.unlike
        if unlike:
            uncertainty.append("input unlike the training data: " + "; ".join(unlike))
        if novelty.gaps:
            uncertainty.append(
                f"not recorded for this lead, so the model assumed typical values: {', '.join(novelty.gaps)}"
            )
        young = _window_not_over(bundle, frame.loc[cast(Any, index)], now, config)
        if young:
            uncertainty.append(young)
        edge = _edge(score, config)
        if edge:
            uncertainty.append(f"close to a band edge: {edge}")
        action, why = _next_action(band, score, config, bool(unlike), edge is not None)
        key: Any = index
        reasons = _reasons(bundle, matrix.loc[[key]], effects.loc[key]) if effects is not None else []
        results.append(
            {
                "lead_id": int(frame["id"].loc[key]),
                "score": score,
                "band": band,
                "probability": round(p, 4),
                "rule_based": False,
                "model_version": bundle.version,
                "reasons": reasons,
                "uncertain": bool(uncertainty),
                "uncertainty": uncertainty,
                "next_action": action,
                "next_action_why": why,
            }
        )
    return results


def _brief(result: dict[str, Any]) -> str:
    """The score sentence followed by the explanation."""
    if result["rule_based"]:
        head = f"Rule-based score {result['score']:.0f}/100 ({result['band']})."
    else:
        head = (
            f"Score {result['score']:.1f}/100 ({result['band']}): an estimated {result['score']:.1f}% chance to "
            f"convert according to model {result['model_version']}."
        )
    return f"{head} {_explanation(result)}"


def _explanation(result: dict[str, Any]) -> str:
    """Why, how sure, what next, without the score itself (an answer that states the score adds this)."""
    reasons = "; ".join(r.text for r in result["reasons"])
    parts: list[str] = []
    if reasons:
        parts.append(f"Why: {reasons}.")
    if result["uncertain"]:
        parts.append("Treat with care: " + "; ".join(result["uncertainty"]) + ".")
    parts.append(f"Next: {result['next_action']} ({result['next_action_why']}).")
    return " ".join(parts)


def score_lead(
    session: Session, actor: Actor, lead_id: int, *, settings: Settings, now: datetime | None = None
) -> LeadScore:
    """Score one lead with the latest model (or the rules), store it on the lead with an audit event."""
    from sales.receipts import write_receipt
    from store.models import Lead

    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"no lead with id {lead_id}")
    ensure_can_see(actor, lead.owner_id, f"lead {lead_id}")
    config = load_config(settings.home_dir)
    now = now or datetime.now(UTC)
    bundle = load_model(settings)
    frame = lead_frame(session, lead_ids=[lead_id], window_days=config.engagement_window_days)
    cold = _cold_start_reason(session, config) if bundle is None else ""
    result = _score_rows(frame, bundle, config, now, with_reasons=True, cold_reason=cold)[0]
    before = {"score": lead.score, "score_band": lead.score_band, "score_model_version": lead.score_model_version}
    if lead.score_band != result["band"]:
        from sales.events import SCORE_BAND_CHANGED, emit

        payload = {"from_band": lead.score_band, "to_band": result["band"], "score": result["score"]}
        emit(session, SCORE_BAND_CHANGED, "lead", lead_id, payload, actor=actor)
    lead.score, lead.score_band = result["score"], result["band"]
    lead.score_model_version, lead.scored_at = result["model_version"], now
    session.add(lead)
    receipt_id = write_receipt(
        session,
        actor,
        action="score_lead",
        record_type="lead",
        record_id=lead_id,
        before=before,
        after={"score": lead.score, "score_band": lead.score_band, "score_model_version": lead.score_model_version},
    )
    return LeadScore(
        **result,
        brief=_brief(result),
        explanation=_explanation(result),
        scored_at=now.isoformat(),
        audit_event_id=receipt_id,
    )


def score_leads(
    session: Session,
    actor: Actor,
    *,
    settings: Settings,
    lead_ids: list[int] | None = None,
    open_only: bool = True,
    now: datetime | None = None,
) -> ScoreBatch:
    """Score many leads (those the actor can see) in one transaction with one audit event listing them."""
    from sqlalchemy import update
    from sqlmodel import col, select

    from sales.receipts import write_receipt
    from store.models import Lead, LeadStatus

    config = load_config(settings.home_dir)
    now = now or datetime.now(UTC)
    owner_ids = None if actor.visible_owner_ids is None else sorted(actor.visible_owner_ids)
    frame = lead_frame(session, lead_ids=lead_ids, owner_ids=owner_ids, window_days=config.engagement_window_days)
    if open_only:
        open_ids = set(
            session.exec(
                select(Lead.id).where(col(Lead.status).in_([LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED]))
            ).all()
        )
        # open = still being worked and no known outcome yet
        frame = frame[frame["id"].isin(open_ids) & frame["label"].isna()]
    bundle = load_model(settings)
    cold = _cold_start_reason(session, config) if bundle is None else ""
    results = _score_rows(frame.reset_index(drop=True), bundle, config, now, with_reasons=False, cold_reason=cold)
    version = bundle.version if bundle else RULES_VERSION
    from sales.events import SCORE_BAND_CHANGED, emit

    scored_ids = [int(r["lead_id"]) for r in results]
    old_bands: dict[int, str | None] = {}
    for start in range(0, len(scored_ids), 500):
        chunk = scored_ids[start : start + 500]
        old_bands.update(session.exec(select(Lead.id, Lead.score_band).where(col(Lead.id).in_(chunk))).all())  # type: ignore[arg-type]
    for r in results:
        if old_bands.get(int(r["lead_id"])) != r["band"]:
            payload = {"from_band": old_bands.get(int(r["lead_id"])), "to_band": r["band"], "score": r["score"]}
            emit(session, SCORE_BAND_CHANGED, "lead", int(r["lead_id"]), payload, actor=actor)
        session.execute(
            update(Lead)
            .where(col(Lead.id) == r["lead_id"])
            .values(score=r["score"], score_band=r["band"], score_model_version=version, scored_at=now)
        )
    by_band: dict[str, int] = {"hot": 0, "warm": 0, "cold": 0}
    for r in results:
        by_band[r["band"]] += 1
    event_id = None
    if results:
        event_id = write_receipt(
            session,
            actor,
            action="score_leads",
            record_type="lead",
            record_id=None,
            after={
                "model_version": version,
                "count": len(results),
                "by_band": by_band,
                "scores": {str(r["lead_id"]): [r["score"], r["band"]] for r in results},
            },
        )
    return ScoreBatch(
        scored=len(results), by_band=by_band, model_version=version, rule_based=bundle is None, audit_event_id=event_id
    )


# ----------------------------------------------------------------------------------------------- monitoring


def apply_platt(p: np.ndarray, coefficients: tuple[float, float]) -> np.ndarray:
    import numpy as np

    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    slope, intercept = coefficients
    out: np.ndarray = 1.0 / (1.0 + np.exp(-(slope * np.log(q / (1 - q)) + intercept)))
    return out


def calibration_path(settings: Settings, version: str) -> Path:
    return models_dir(settings) / f"{version}.calibration.json"


def read_monitoring(settings: Settings, version: str) -> dict[str, Any]:
    """The latest recalibration and drift check of a model version ({} when none has run)."""
    path = calibration_path(settings, version)
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def psi(reference: pd.Series, recent: pd.Series, categorical: bool, bins: int = 10) -> float:
    """Population stability index Σ (recent − reference share) × ln(recent / reference) over bins: the
    reference's deciles for a number (missing values their own bin), its categories for a category."""
    import numpy as np
    import pandas as pd

    eps = 1e-4
    if categorical:
        ref = reference.astype(str).value_counts(normalize=True)
        new = recent.astype(str).value_counts(normalize=True)
        keys = sorted(set(ref.index) | set(new.index))
        a = np.array([ref.get(k, 0.0) for k in keys])
        b = np.array([new.get(k, 0.0) for k in keys])
    else:
        r = pd.to_numeric(reference, errors="coerce")
        n = pd.to_numeric(recent, errors="coerce")
        edges = np.unique(np.nanquantile(r.to_numpy(dtype=float), np.linspace(0, 1, bins + 1)[1:-1]))

        def shares(values: pd.Series) -> np.ndarray:
            v = values.to_numpy(dtype=float)
            which = np.where(np.isnan(v), len(edges) + 1, np.searchsorted(edges, v, side="right"))
            return np.bincount(which.astype(int), minlength=len(edges) + 2) / max(len(v), 1)

        a, b = shares(r), shares(n)
    a, b = np.clip(a, eps, None), np.clip(b, eps, None)
    return float(np.sum((b - a) * np.log(b / a)))


class Recalibration(BaseModel):
    version: str
    fitted_at: str
    window: int  # labelled leads the refit used (the last N by creation time)
    newer_than_training: int  # of them, created after the model's training data
    slope: float
    intercept: float
    ece_before: float  # on the window: the model's own probabilities
    ece_after: float  # on the window: recalibrated (in-sample; the benchmark scores it out of sample)
    adopted: bool  # the refit is used: Cox's test rejected the model's own calibration on the window
    calibration_p: float  # that test's p-value (slope 1, intercept 0 against the refit)
    recent_auc: float | None
    recent_ece: float
    holdout_auc: float
    holdout_ece: float
    psi: dict[str, float]  # feature label -> PSI, training leads vs the last N leads created
    drift: bool
    drift_reasons: list[str]
    thresholds: dict[str, float]
    receipt_id: int | None = None


def monitoring_lines(monitoring: dict[str, Any]) -> list[str]:
    """The model card's monitoring section: the drift flag first, then the latest recalibration."""
    if not monitoring:
        return [
            "- Not checked yet: `salesgraph model recalibrate` (or the scheduler's daily job) refits the "
            "calibration on the latest labelled leads and checks for drift."
        ]
    t = monitoring.get("thresholds", {})
    flag = "**DRIFT**: " + "; ".join(monitoring["drift_reasons"]) if monitoring.get("drift") else "no drift"
    auc = monitoring.get("recent_auc")
    lines = [
        f"- Drift flag ({monitoring['fitted_at']}): {flag}",
        f"- Rule: recent ROC AUC more than {t.get('auc_drop', 0):.2f} below the holdout's, recent ECE more than "
        f"{t.get('ece_rise', 0):.2f} above it, or PSI >= {t.get('psi', 0):.2f} on a top feature",
        f"- Recent {monitoring['window']} labelled leads ({monitoring['newer_than_training']} newer than the training "
        f"data): ROC AUC "
        + (f"{auc:.3f}" if auc is not None else "n/a")
        + f" (holdout {monitoring['holdout_auc']:.3f}), "
        f"ECE {monitoring['recent_ece']:.3f} (holdout {monitoring['holdout_ece']:.3f})",
        "- PSI, training leads vs the latest leads (top features): "
        + ", ".join(f"{k} {v:.2f}" for k, v in monitoring.get("psi", {}).items()),
        (
            f"- Rolling Platt recalibration in use: ECE on the window {monitoring['ece_before']:.3f} -> "
            f"{monitoring['ece_after']:.3f} (slope {monitoring['slope']:.2f}, intercept {monitoring['intercept']:.2f}; "
            f"Cox calibration test p = {monitoring['calibration_p']:.2g})"
            if monitoring.get("adopted")
            else "- Rolling Platt recalibration not in use: Cox's calibration test does not reject the model's own "
            f"calibration on the window (p = {monitoring.get('calibration_p', 1):.2g}, needs < {RECALIBRATION_P}), so "
            "scores keep it"
        ),
    ]
    return lines


def recalibrate_model(
    session: Session, actor: Actor, *, settings: Settings, now: datetime | None = None
) -> Recalibration:
    """Rolling recalibration and drift check of the latest model, with a receipt.

    A Platt refit on logit(p) over the last ``settings.recalibration_window`` labelled leads (by creation time),
    which scoring then applies on top of the model when Cox's calibration test (likelihood ratio of the refit
    against slope 1, intercept 0) rejects the model's own calibration at ``RECALIBRATION_P`` (otherwise the model's
    calibration is kept, and the card says so); and the drift flag: the recent ROC AUC or ECE of the model's
    own probabilities on that window against the card's holdout, beyond ``drift_auc_drop`` / ``drift_ece_rise``,
    or a PSI at or above ``drift_psi`` on one of the card's top features (training leads vs the latest N leads).
    """
    from scipy.stats import chi2
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from analytics.rolling import _logit, expected_calibration_error, log_likelihood
    from sales.receipts import write_receipt

    _require_manager(actor, "recalibrating the lead-scoring model")
    bundle = load_model(settings)
    if bundle is None:
        raise NotFound("no trained model to recalibrate; train one with `salesgraph model train`")
    card = read_card(settings, bundle.version)
    config = load_config(settings.home_dir)
    frame = lead_frame(session, window_days=config.engagement_window_days)
    labelled = labelled_frame(frame)
    n = settings.recalibration_window
    window = labelled.tail(n)
    y = window["label"].to_numpy()
    if len(window) < 50 or len(set(y.tolist())) < 2:
        raise InvalidInput(
            {
                "leads": f"{len(window)} labelled leads ({int(y.sum())} converted): a recalibration needs at least 50 "
                "with both outcomes"
            }
        )
    raw = bundle.predict_raw(model_matrix(window, bundle.features))

    platt = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
    fitted = (float(platt.coef_[0][0]), float(platt.intercept_[0]))
    # Cox's calibration test: is the refit (slope, intercept) better than the identity (1, 0) by a likelihood-ratio
    # test with 2 degrees of freedom? On a steady stream a refit on a few hundred leads would only add noise.
    statistic = 2 * (log_likelihood(y, apply_platt(raw, fitted)) - log_likelihood(y, raw))
    p_value = float(chi2.sf(max(statistic, 0.0), 2))
    adopted = p_value < RECALIBRATION_P
    slope, intercept = fitted if adopted else (1.0, 0.0)
    after = apply_platt(raw, (slope, intercept))
    trained_until = card.date_range[1]
    training = labelled[labelled["created_at"].dt.date.astype(str) <= trained_until]
    latest = frame.sort_values(["created_at", "id"]).tail(n)
    ref_m, new_m = model_matrix(training, bundle.features), model_matrix(latest, bundle.features)
    top = [f["feature"] for f in card.top_features][:8] or bundle.features.columns
    shifts = {
        bundle.features.label_of(c): round(psi(ref_m[c], new_m[c], c in bundle.features.categorical), 4)
        for c in top
        if c in ref_m.columns
    }
    recent_auc = float(roc_auc_score(y, raw))
    recent_ece = expected_calibration_error(y, raw)
    holdout_auc, holdout_ece = float(card.holdout["roc_auc"]), float(card.holdout["calibration_error"])
    reasons = []
    if holdout_auc - recent_auc > settings.drift_auc_drop:
        reasons.append(f"recent ROC AUC {recent_auc:.3f} vs {holdout_auc:.3f} on the holdout")
    if recent_ece - holdout_ece > settings.drift_ece_rise:
        reasons.append(f"recent ECE {recent_ece:.3f} vs {holdout_ece:.3f} on the holdout")
    reasons += [f"PSI {v:.2f} on {k}" for k, v in shifts.items() if v >= settings.drift_psi]
    result = Recalibration(
        version=bundle.version,
        fitted_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        window=len(window),
        newer_than_training=int((window["created_at"].dt.date.astype(str) > trained_until).sum()),
        slope=round(slope, 6),
        intercept=round(intercept, 6),
        ece_before=round(expected_calibration_error(y, raw), 4),
        ece_after=round(expected_calibration_error(y, after), 4),
        adopted=adopted,
        calibration_p=round(p_value, 6),
        recent_auc=round(recent_auc, 4),
        recent_ece=round(recent_ece, 4),
        holdout_auc=round(holdout_auc, 4),
        holdout_ece=round(holdout_ece, 4),
        psi=shifts,
        drift=bool(reasons),
        drift_reasons=reasons,
        thresholds={
            "auc_drop": settings.drift_auc_drop,
            "ece_rise": settings.drift_ece_rise,
            "psi": settings.drift_psi,
        },
    )
    result.receipt_id = write_receipt(
        session,
        actor,
        action="recalibrate_model",
        record_type="model",
        record_id=bundle.version,
        after={"slope": result.slope, "intercept": result.intercept, "window": result.window, "drift": result.drift},
    )
    path = calibration_path(settings, bundle.version)
    monitoring = result.model_dump()
    monitoring["recalibration"] = {"slope": result.slope, "intercept": result.intercept} if adopted else None
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(monitoring, indent=2), encoding="utf-8")
    scratch.replace(path)
    return result
