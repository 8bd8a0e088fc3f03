"""Rolling-origin AUC and rolling Platt recalibration on synthetic drifting data (Bank Marketing: bench.bank_rolling)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.rolling import chunk_bounds, expected_calibration_error, rolling_origin_auc, rolling_platt


def test_chunks_cover_the_second_half_in_order() -> None:
    assert chunk_bounds(100, 5, 0.5) == [(50, 60), (60, 70), (70, 80), (80, 90), (90, 100)]


def test_rolling_auc_fits_only_on_earlier_rows_and_reports_every_chunk() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-2 * x))).astype(int)
    seen: list[int] = []

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        assert train.max() < test.min()  # no look-ahead
        seen.append(len(train))
        return np.asarray(1 / (1 + np.exp(-x[test])))

    scores, predictions = rolling_origin_auc(fit_predict, y, chunks=4, start_fraction=0.5)
    assert [s.train_rows for s in scores] == seen == [2000, 2500, 3000, 3500]
    assert all(0.75 < (s.roc_auc or 0) < 0.9 for s in scores)
    assert np.isnan(predictions[:2000]).all() and not np.isnan(predictions[2000:]).any()


def test_rolling_platt_follows_a_drifting_base_rate() -> None:
    rng = np.random.default_rng(1)
    n = 20000  # 12,000 rows after the shift: the first ~1,000 are recalibrated from a window of the old regime
    x = rng.standard_normal(n)
    drift = np.where(np.arange(n) < 8000, -2.5, 0.0)  # conversion jumps in the last third, as in Bank Marketing
    y = (rng.random(n) < 1 / (1 + np.exp(-(x + drift)))).astype(int)
    raw = 1 / (1 + np.exp(-(x - 2.5)))  # calibrated for the old regime
    cut = 8000
    before = expected_calibration_error(y[cut:], raw[cut:])
    after = expected_calibration_error(y[cut:], rolling_platt(raw, y, cut, window=1000, batch=250)[cut:])
    assert before > 0.2 and after < 0.06
    assert expected_calibration_error(np.array([0, 1, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)


def test_the_cox_gate_leaves_calibrated_scores_alone_and_still_follows_a_drift() -> None:
    rng = np.random.default_rng(5)
    raw = rng.uniform(0.05, 0.6, 6000)
    steady = (rng.random(6000) < raw).astype(int)  # the scores are already calibrated
    gated = rolling_platt(raw, steady, 3000, window=1000, batch=250, gate_p=0.01)
    assert np.mean(gated[3000:] == raw[3000:]) >= 0.9  # at most one batch in ten refitted by chance
    drifting = (rng.random(6000) < np.clip(raw + np.linspace(0, 0.3, 6000), 0, 1)).astype(int)
    followed = rolling_platt(raw, drifting, 3000, window=1000, batch=250, gate_p=0.01)
    assert expected_calibration_error(drifting[3000:], followed[3000:]) < 0.5 * expected_calibration_error(
        drifting[3000:], raw[3000:]
    )
