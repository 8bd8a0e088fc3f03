"""Rolling-origin evaluation and rolling recalibration: how a model scores when it is refitted as time moves on.

Pure functions over arrays in time order: ``rolling_origin_auc`` fits on everything before each chunk and scores
the chunk; ``rolling_platt`` recalibrates raw scores with a Platt fit on the last ``window`` labelled rows before
each batch; ``expected_calibration_error`` is the usual 10-bin ECE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np


class ChunkScore(BaseModel):
    chunk: int
    first_row: int
    rows: int
    train_rows: int
    base_rate: float
    roc_auc: float | None  # None when the chunk holds one class only


def chunk_bounds(n: int, chunks: int, start_fraction: float) -> list[tuple[int, int]]:
    """``chunks`` consecutive [start, end) row ranges covering the rows after ``start_fraction`` of ``n``."""
    start = int(n * start_fraction)
    edges = [start + round(i * (n - start) / chunks) for i in range(chunks + 1)]
    return [(edges[i], edges[i + 1]) for i in range(chunks) if edges[i + 1] > edges[i]]


def rolling_origin_auc(
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    *,
    chunks: int = 5,
    start_fraction: float = 0.5,
) -> tuple[list[ChunkScore], np.ndarray]:
    """Per chunk: fit on every earlier row, score the chunk's ROC AUC. Returns the scores and the raw predictions.

    ``fit_predict(train_idx, test_idx)`` returns probabilities for ``test_idx``; rows before the first chunk get NaN.
    """
    import numpy as np
    from sklearn.metrics import roc_auc_score

    predictions = np.full(len(y), np.nan)
    scores = []
    for i, (lo, hi) in enumerate(chunk_bounds(len(y), chunks, start_fraction)):
        p = np.asarray(fit_predict(np.arange(lo), np.arange(lo, hi)), dtype=float)
        predictions[lo:hi] = p
        part = y[lo:hi]
        auc = float(roc_auc_score(part, p)) if len(set(part.tolist())) == 2 else None
        scores.append(
            ChunkScore(
                chunk=i + 1,
                first_row=lo,
                rows=hi - lo,
                train_rows=lo,
                base_rate=round(float(part.mean()), 4),
                roc_auc=round(auc, 4) if auc is not None else None,
            )
        )
    return scores, predictions


def _logit(p: np.ndarray) -> np.ndarray:
    import numpy as np

    q = np.clip(p, 1e-6, 1 - 1e-6)
    logit: np.ndarray = np.log(q / (1 - q))
    return logit


def rolling_platt(
    raw: np.ndarray,
    y: np.ndarray,
    start: int,
    *,
    window: int = 1000,
    batch: int = 250,
    gate_p: float | None = None,
) -> np.ndarray:
    """Recalibrated probabilities for rows from ``start`` on; each batch uses a Platt fit on the ``window`` rows
    before it (whose outcomes are known by then). Rows before ``start`` are returned unchanged.

    With ``gate_p`` a batch is recalibrated only when Cox's calibration test (likelihood ratio of the refit against
    slope 1, intercept 0, two degrees of freedom) rejects the raw probabilities on the window at that level — the
    rule the scheduled recalibration of ``analytics.scoring`` applies."""
    import numpy as np
    from scipy.stats import chi2
    from sklearn.linear_model import LogisticRegression

    out = np.array(raw, dtype=float)
    for lo in range(start, len(raw), batch):
        hi = min(lo + batch, len(raw))
        past = slice(max(lo - window, 0), lo)
        labels = y[past]
        if len(set(labels.tolist())) < 2:
            continue
        platt = LogisticRegression(C=1e6).fit(_logit(raw[past]).reshape(-1, 1), labels)
        if gate_p is not None:
            refit = platt.predict_proba(_logit(raw[past]).reshape(-1, 1))[:, 1]
            statistic = 2 * (log_likelihood(labels, refit) - log_likelihood(labels, raw[past]))
            if float(chi2.sf(max(statistic, 0.0), 2)) >= gate_p:
                continue
        out[lo:hi] = platt.predict_proba(_logit(raw[lo:hi]).reshape(-1, 1))[:, 1]
    return out


def log_likelihood(y: np.ndarray, p: np.ndarray) -> float:
    """Bernoulli log-likelihood of outcomes ``y`` under probabilities ``p``."""
    import numpy as np

    q = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return float(np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ over equal-width bins of (share of rows) × |mean predicted − observed rate|."""
    import numpy as np

    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return float(total)
