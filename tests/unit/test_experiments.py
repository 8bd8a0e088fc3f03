"""Experiments' statistics: the planned sample size detects its effect at the stated power over its planned looks,
peeking at every look (planned or not) keeps the false-positive rate at alpha (numpy simulation, 4,000 experiments
each), the spending boundaries are the published ones, the beta-binomial posterior matches its closed form, and
Kaplan-Meier equals a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln

from analytics.experiments import (
    beta_binomial,
    compare_conversion,
    compare_cycle_times,
    kaplan_meier,
    log_rank,
    look_boundary,
    plan_cycle_time,
    plan_experiment,
    sequential_boundaries,
    two_proportion_z,
)
from sales.errors import InvalidInput

SIMS = 4000


def _run(plan, lift: float, seed: int, fractions: list[float] | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """For each simulated experiment: rejected at any look (at ``fractions`` of the plan, default the planned
    ones), each look against its alpha-spending boundary."""
    rng = np.random.default_rng(seed)
    n = plan.per_arm
    fractions = fractions or plan.planned_fractions
    bounds = sequential_boundaries(fractions, plan.alpha, plan.spending)
    control = rng.random((SIMS, n)) < plan.baseline_rate
    treated = rng.random((SIMS, n)) < plan.baseline_rate + lift
    rejected = np.zeros(SIMS, dtype=bool)
    for t, c in zip(fractions, bounds, strict=True):
        m = round(n * t)
        z = np.asarray(two_proportion_z(control[:, :m].sum(1), m, treated[:, :m].sum(1), m))
        rejected |= np.abs(z) >= c
    return rejected


def test_power_and_false_positive_rate_hold_with_peeking() -> None:
    plan = plan_experiment(0.20, 0.05, alpha=0.05, power=0.8, looks=1)
    assert 1000 < plan.per_arm < 1200  # the textbook figure for 20 % → 25 % is about 1,094 per arm
    assert _run(plan, 0.05, 1).mean() == pytest.approx(0.80, abs=0.025)
    assert _run(plan, 0.0, 2).mean() == pytest.approx(0.05, abs=0.012)
    peeking = plan_experiment(0.20, 0.05, looks=4)
    assert plan.per_arm < peeking.per_arm < plan.per_arm * 1.05  # O'Brien-Fleming looks cost about 2 %
    assert _run(peeking, 0.05, 3).mean() == pytest.approx(0.80, abs=0.025)  # the stated power, over four looks
    false = _run(peeking, 0.0, 4).mean()
    assert false <= 0.05 + 0.008  # four looks, corrected: at most alpha
    # two extra looks nobody planned, at 10 % and 60 %: still at most alpha
    assert _run(peeking, 0.0, 5, [0.1, 0.25, 0.5, 0.6, 0.75, 1.0]).mean() <= 0.05 + 0.008
    # looking four times at the fixed 1.96 inflates it
    rng = np.random.default_rng(6)
    control = rng.random((SIMS, plan.per_arm)) < 0.2
    treated = rng.random((SIMS, plan.per_arm)) < 0.2
    naive = np.zeros(SIMS, dtype=bool)
    for t in (0.25, 0.5, 0.75, 1.0):
        m = round(plan.per_arm * t)
        naive |= np.abs(np.asarray(two_proportion_z(control[:, :m].sum(1), m, treated[:, :m].sum(1), m))) >= 1.96
    assert naive.mean() > 0.09


def test_spending_boundaries_are_the_published_ones() -> None:
    # Lan-DeMets O'Brien-Fleming type, two-sided alpha 5 %, four equally spaced looks (as rpact / gsDesign print)
    assert sequential_boundaries([0.25, 0.5, 0.75, 1.0], 0.05) == pytest.approx([4.333, 2.963, 2.359, 2.014], abs=2e-3)
    # Pocock type, five looks
    assert sequential_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05, "pocock") == pytest.approx(
        [2.438, 2.427, 2.410, 2.397, 2.386], abs=3e-3
    )
    assert sequential_boundaries([1.0], 0.05) == pytest.approx([1.95996], abs=1e-4)
    plan = plan_experiment(0.2, 0.05, looks=4)
    early = look_boundary([], 0.1, plan)  # a look nobody planned, before the first planned one
    assert early.look == 1 and not early.final and early.boundary > 6
    final = look_boundary([0.1, 0.25, 0.5], 1.2, plan)  # more data than planned: the last look spends all of alpha
    assert final.final and final.information == 1.0 and 1.96 < final.boundary < 2.05


def test_conversion_interval_and_errors() -> None:
    result = compare_conversion(200, 1000, 260, 1000, 1.96)
    assert result.difference == pytest.approx(0.06)
    assert result.low < 0.06 < result.high and result.low > 0 and result.significant
    flat = compare_conversion(200, 1000, 205, 1000, 1.96)
    assert flat.low < 0 < flat.high and not flat.significant
    strict = compare_conversion(200, 1000, 240, 1000, 2.96)  # the same data at an early look's boundary
    assert strict.high - strict.low > compare_conversion(200, 1000, 240, 1000, 1.96).high - (
        compare_conversion(200, 1000, 240, 1000, 1.96).low
    )
    with pytest.raises(InvalidInput):
        plan_experiment(0.98, 0.05)
    with pytest.raises(InvalidInput):
        compare_conversion(1, 0, 1, 10, 1.96)
    faster = compare_cycle_times(np.arange(40.0, 80.0), np.arange(30.0, 70.0))
    assert faster["shift_days"] == pytest.approx(-10.0)


def _p_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Evan Miller's closed form of P(p_B > p_A) for Beta(a_a, b_a) and Beta(a_b, b_b), integer a_b."""
    return sum(
        math.exp(betaln(a_a + i, b_a + b_b) - math.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a))
        for i in range(a_b)
    )


def test_beta_binomial_posterior_matches_the_closed_form() -> None:
    for k1, n1, k2, n2 in ((20, 100, 30, 100), (3, 12, 1, 9), (180, 900, 214, 910)):
        result = beta_binomial(k1, n1, k2, n2)
        assert result.control_posterior == (1 + k1, 1 + n1 - k1)
        assert result.treatment_posterior == (1 + k2, 1 + n2 - k2)
        a_a, b_a = 1 + k1, 1 + n1 - k1
        a_b, b_b = 1 + k2, 1 + n2 - k2
        assert result.probability_treatment_better == pytest.approx(_p_b_beats_a(a_a, b_a, a_b, b_b), abs=1e-6)
        assert result.mean_difference == pytest.approx(a_b / (a_b + b_b) - a_a / (a_a + b_a), abs=1e-12)
        # the credible interval: quantiles of the difference, checked against a large seeded sample
        rng = np.random.default_rng(7)
        draws = rng.beta(a_b, b_b, 400_000) - rng.beta(a_a, b_a, 400_000)
        assert result.low == pytest.approx(np.quantile(draws, 0.025), abs=3e-3)
        assert result.high == pytest.approx(np.quantile(draws, 0.975), abs=3e-3)


def test_kaplan_meier_with_censoring_equals_the_hand_computation() -> None:
    # six deals: days to the target, False = still open (censored) at that day
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    # t=1: 6 at risk, 1 reaches it → 5/6; t=2: 5 at risk (the one censored at 2 is still at risk) → 5/6 · 4/5;
    # t=3: 3 at risk → · 2/3; t=4 censored; t=5: 1 at risk → 0
    assert curve.times == [1, 2, 3, 5]
    assert curve.at_risk == [6, 5, 3, 1]
    assert curve.survival == pytest.approx([5 / 6, 4 / 6, 4 / 9, 0.0])
    assert curve.median == 3 and curve.total_events == 4
    # Greenwood at t=2: S² · (1/(6·5) + 1/(5·4)); the log-log band there
    s, var = 4 / 6, (4 / 6) ** 2 * (1 / 30 + 1 / 20)
    se = math.sqrt(var / s**2) / abs(math.log(s))
    low = s ** math.exp(1.959964 * se)
    assert low < s and curve.median_low is not None and curve.median_low <= 3
    # open deals left out would put the median at 2.5-3 days on four deals; censoring keeps all six
    assert kaplan_meier([4, 8], [False, False]).median is None  # nobody reached it yet: not reached


def test_log_rank_matches_scipy_and_plans_events() -> None:
    from scipy.stats import CensoredData, logrank

    rng = np.random.default_rng(3)
    a, b = rng.exponential(40, 80), rng.exponential(28, 80)
    ca, cb = rng.random(80) < 0.3, rng.random(80) < 0.3  # 30 % still open (censored)
    ours = log_rank(a, ~ca, b, ~cb)
    theirs = logrank(CensoredData(uncensored=a[~ca], right=a[ca]), CensoredData(uncensored=b[~cb], right=b[cb]))
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-6)
    assert ours.z > 0 and ours.hazard_ratio > 1  # the treatment (b) reaches the target sooner
    plan = plan_cycle_time(0.6, -0.2, looks=1)
    # Schoenfeld: 4 (1.96 + 0.84)² / ln(1.25)² ≈ 631 events; cases per arm = events / 2 / 0.6
    assert plan.events == pytest.approx(631, abs=2)
    assert plan.per_arm == math.ceil(plan.events / 2 / 0.6)
