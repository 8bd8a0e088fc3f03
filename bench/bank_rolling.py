"""Bank Marketing scored the way a live model is used: rolling-origin ROC AUC per chunk and rolling recalibration.

    python -m bench.bank_rolling [--chunks 5] [--no-macro]

The 41,188 contacts in file (time) order, ``duration`` excluded, the logistic estimator of ``salesgraph model``:
the second half is cut into ``--chunks`` chunks; for each, the model is fitted on every earlier contact and the
chunk is scored (ROC AUC per chunk, the headline). Calibration on the last 20 %: the probabilities of a model
calibrated once (Platt on the first 80 %) against a rolling Platt refit on the last 1,000 labelled contacts before
each batch of 250, unconditionally and gated by Cox's calibration test at p < 0.01 (the rule of the scheduled
recalibration job). Writes bench/results/bank_rolling.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

MACRO = ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--no-macro", action="store_true", help="Leave out the five macro-economic columns.")
    args = parser.parse_args()
    from sklearn.calibration import CalibratedClassifierCV

    from analytics.features import AnalyticsConfig, model_matrix, resolve_features
    from analytics.rolling import expected_calibration_error, rolling_origin_auc, rolling_platt
    from analytics.scoring import RECALIBRATION_P, _estimator, labelled_frame, single_thread
    from bench.memory_common import write_result
    from bench.scoring import _bank_frame

    frame = _bank_frame()
    if frame is None:
        raise SystemExit("bench.bank_rolling needs ../shared/data/leads/bank-additional-full.csv")
    if args.no_macro:
        frame = frame.drop(columns=[f"attr:{c}" for c in MACRO])
    config = AnalyticsConfig()
    labelled = labelled_frame(frame)
    features = resolve_features(labelled, config.lead_features, config)
    matrix = model_matrix(labelled, features)
    y = labelled["label"].to_numpy()
    started = time.perf_counter()

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = _estimator("logistic", features).fit(matrix.iloc[train], y[train])
        return np.asarray(model.predict_proba(matrix.iloc[test])[:, 1])

    with single_thread():
        chunks, _ = rolling_origin_auc(fit_predict, y, chunks=args.chunks, start_fraction=0.5)
        for c in chunks:
            print(c.model_dump(), flush=True)
        cut = int(len(y) * (1 - config.holdout_fraction))
        once = CalibratedClassifierCV(_estimator("logistic", features), method="sigmoid", cv=5)
        once.fit(matrix.iloc[:cut], y[:cut])
        p_once = np.asarray(once.predict_proba(matrix.iloc[cut:])[:, 1])
        raw_model = _estimator("logistic", features).fit(matrix.iloc[:cut], y[:cut])
        raw = np.asarray(raw_model.predict_proba(matrix)[:, 1])
        p_roll = rolling_platt(raw, y, cut, window=1000, batch=250)[cut:]
        p_gated = rolling_platt(raw, y, cut, window=1000, batch=250, gate_p=RECALIBRATION_P)[cut:]
    aucs = [c.roc_auc for c in chunks if c.roc_auc is not None]
    result: dict[str, Any] = {
        "benchmark": "bank_rolling",
        "rows": len(y),
        "macro_columns": not args.no_macro,
        "chunks": [c.model_dump() for c in chunks],
        "rolling_auc_mean": round(float(np.mean(aucs)), 4),
        "rolling_auc_min": round(float(np.min(aucs)), 4),
        "holdout_rows": len(y) - cut,
        "ece_calibrated_once": round(expected_calibration_error(y[cut:], p_once), 4),
        "ece_rolling_platt_1000": round(expected_calibration_error(y[cut:], p_roll), 4),
        "ece_rolling_platt_1000_cox_gated": round(expected_calibration_error(y[cut:], p_gated), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result("bank_rolling" + (".no_macro" if args.no_macro else ""), result)


if __name__ == "__main__":
    main()
