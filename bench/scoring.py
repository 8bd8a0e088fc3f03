"""How fast a trained lead-scoring model scores 50,000 leads once loaded, its load time and memory.

    python -m bench.scoring [--rows 50000] [--repeat 5] [--kind logistic|gbm] [--synthetic]

Data: the UCI Bank Marketing contacts (../shared/data or $SALESGRAPH_SHARED_DATA) as lead frames, shaped exactly
as ``analytics.features.lead_frame`` builds them from the store, repeated to ``--rows``; ``--synthetic`` (or no
shared data) uses generated leads of the same shape. The model is trained and saved with joblib once (not timed
as scoring), then: load time, time to score all rows (feature matrix + calibrated probability + band) over
``--repeat`` runs, the same with scikit-learn's ``predict_proba`` alone on a prepared matrix (the plain-library
baseline), and per-lead reasons for 1,000 leads. Prints JSON and writes bench/results/scoring.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.memory_common import write_result


def _bank_frame() -> Any | None:
    import pandas as pd

    root = Path(os.environ.get("SALESGRAPH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / "leads" / "bank-additional-full.csv"
    if not path.is_file():
        return None
    raw = pd.read_csv(path, sep=";", dtype=str)
    frame = pd.DataFrame(
        {
            "id": range(1, len(raw) + 1),
            "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "label": (raw["y"] == "yes").astype(int),
            "source": "bank-marketing campaign",
        }
    )
    for column in raw.columns:
        if column not in ("y", "duration"):  # duration leaks the label (see the data set's README)
            frame[f"attr:{column}"] = raw[column]
    return frame


def _synthetic_frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    views = rng.poisson(4, rows)
    seniority = rng.choice(["vp", "manager", "individual"], rows)
    logit = -2 + 0.45 * views + np.select([seniority == "vp", seniority == "manager"], [1.0, 0.2], -0.8)
    return pd.DataFrame(
        {
            "id": range(1, rows + 1),
            "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "label": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
            "source": rng.choice(["web", "event", "outbound"], rows),
            "attr:page_views": views,
            "attr:seniority": seniority,
            "attr:employees": rng.integers(5, 5000, rows),
            "touches_early": rng.poisson(1, rows).astype(float),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kind", choices=["logistic", "gbm"], default="logistic")
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    import joblib
    import numpy as np
    import pandas as pd

    from analytics.features import AnalyticsConfig, model_matrix
    from analytics.scoring import _score_rows, evaluate_frame, single_thread

    config = AnalyticsConfig()
    source = None if args.synthetic else _bank_frame()
    data = "UCI Bank Marketing (repeated)" if source is not None else "synthetic leads"
    if source is None:
        source = _synthetic_frame(20_000)

    started = time.perf_counter()
    evaluation = evaluate_frame(source, config, kind=args.kind)
    train_seconds = time.perf_counter() - started
    bundle = evaluation.bundle
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lead-score-bench.joblib"
        joblib.dump(bundle, path)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        loaded = joblib.load(path)
        load_seconds = time.perf_counter() - started

    repeats = int(np.ceil(args.rows / len(source)))
    leads = pd.concat([source] * repeats, ignore_index=True).iloc[: args.rows].copy()
    leads["label"] = np.nan  # unlabelled: these are the leads being scored

    def score_all() -> np.ndarray:
        matrix = model_matrix(leads, loaded.features)
        probability = loaded.predict(matrix)
        bands = np.where(
            probability * 100 >= config.bands.hot,
            "hot",
            np.where(probability * 100 >= config.bands.warm, "warm", "cold"),
        )
        assert len(bands) == len(leads)
        return probability  # type: ignore[no-any-return]

    score_all()  # warm-up: first call imports and JIT-free caches
    ours: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        probability = score_all()
        ours.append(time.perf_counter() - started)

    prepared = model_matrix(leads, loaded.features)[loaded.features.columns]
    plain: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        with single_thread():
            loaded.pipeline.predict_proba(prepared)
        plain.append(time.perf_counter() - started)

    sample = leads.iloc[:1000].reset_index(drop=True)
    started = time.perf_counter()
    explained = _score_rows(sample, loaded, config, pd.Timestamp.now(tz="UTC").to_pydatetime(), with_reasons=True)
    reasons_seconds = time.perf_counter() - started
    assert explained and explained[0]["reasons"]

    write_result(
        "scoring",
        {
            "data": data,
            "rows_scored": len(leads),
            "model_kind": loaded.kind,
            "features": len(loaded.features.columns),
            "train_and_holdout_seconds": round(train_seconds, 2),
            "holdout_roc_auc": round(evaluation.metrics.roc_auc, 4),
            "model_file_mb": round(size_mb, 2),
            "load_seconds": round(load_seconds, 3),
            "score_seconds_median": round(statistics.median(ours), 3),
            "score_seconds_max": round(max(ours), 3),
            "leads_per_second": round(len(leads) / statistics.median(ours)),
            "baseline_predict_proba_seconds_median": round(statistics.median(plain), 3),
            "reasons_for_1000_leads_seconds": round(reasons_seconds, 2),
            "mean_probability": round(float(np.mean(probability)), 4),
            "repeat": args.repeat,
        },
    )


SUITE = [{"label": "50k", "args": ["--rows", "50000", "--repeat", "3"], "timeout_s": 600}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": f"score {result['rows_scored']:,} leads (features, calibrated probability, band)",
            "ours": result["score_seconds_median"],
            "baseline": result["baseline_predict_proba_seconds_median"],
            "baseline_name": "sklearn predict_proba on a prepared matrix",
            "unit": "s",
        },
        {"figure": "peak memory", "ours": result.get("peak_rss_mb"), "unit": "MB"},
    ]


if __name__ == "__main__":
    main()
