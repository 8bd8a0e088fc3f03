"""Experiments: the planned sample size detects its effect at the stated power, and peeking at every planned look
keeps the false-positive rate at alpha (numpy simulation, 4,000 experiments each)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.experiments import compare_conversion, compare_cycle_times, plan_experiment, two_proportion_p
from sales.errors import InvalidInput

SIMS = 4000


def _run(plan, lift: float, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """For each simulated experiment: rejected at any of the plan's evenly spaced looks."""
    rng = np.random.default_rng(seed)
    n = plan.per_arm
    control = rng.random((SIMS, n)) < plan.baseline_rate
    treated = rng.random((SIMS, n)) < plan.baseline_rate + lift
    rejected = np.zeros(SIMS, dtype=bool)
    for look in range(1, plan.looks + 1):
        m = round(n * look / plan.looks)
        p = two_proportion_p(control[:, :m].sum(1), m, treated[:, :m].sum(1), m)
        rejected |= np.asarray(p) < plan.alpha_per_look
    return rejected


def test_power_and_false_positive_rate_hold_with_peeking() -> None:
    plan = plan_experiment(0.20, 0.05, alpha=0.05, power=0.8, looks=1)
    assert 1000 < plan.per_arm < 1200  # the textbook figure for 20 % → 25 % is about 1,094 per arm
    assert _run(plan, 0.05, 1).mean() == pytest.approx(0.80, abs=0.025)
    assert _run(plan, 0.0, 2).mean() == pytest.approx(0.05, abs=0.012)
    peeking = plan_experiment(0.20, 0.05, looks=4)
    assert peeking.per_arm > plan.per_arm
    assert _run(peeking, 0.05, 3).mean() >= 0.78  # the stated power, at least
    false = _run(peeking, 0.0, 4).mean()
    assert false <= 0.05 + 0.008  # four looks, corrected: at most alpha
    # uncorrected peeking four times inflates it
    naive = peeking.model_copy(update={"looks": 4, "alpha": 0.05 * 4})
    assert _run(naive, 0.0, 5).mean() > 0.08


def test_conversion_interval_and_errors() -> None:
    plan = plan_experiment(0.2, 0.05)
    result = compare_conversion(200, 1000, 260, 1000, plan)
    assert result.difference == pytest.approx(0.06)
    assert result.low < 0.06 < result.high and result.low > 0 and result.significant
    flat = compare_conversion(200, 1000, 205, 1000, plan)
    assert flat.low < 0 < flat.high and not flat.significant
    with pytest.raises(InvalidInput):
        plan_experiment(0.98, 0.05)
    with pytest.raises(InvalidInput):
        compare_conversion(1, 10, 1, 10, plan, look=2)
    faster = compare_cycle_times(np.arange(40.0, 80.0), np.arange(30.0, 70.0), plan)
    assert faster["shift_days"] == pytest.approx(-10.0)
