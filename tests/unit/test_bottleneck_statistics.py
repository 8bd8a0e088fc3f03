"""Bottleneck statistics: segment tests compare within the deal mix, every comparison is one family calibrated by
permuting segment labels, planted demo effects are found and shuffled labels yield (almost) no findings.

The 20-seed sweep with 300 shuffles is ``python -m bench.bottleneck_sweep`` (in ``make bench``, about 8 minutes on
a busy 2-core machine); its result is bench/results/bottleneck_sweep.json. The last test here re-runs its first
three seeds and the shuffles of them among its first 60 (about 30 s) and checks they give what the JSON recorded,
then checks the JSON's figures: the code and the published numbers agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics import segment_tests as st
from analytics.bottlenecks import PERMUTATIONS, segment_comparisons, segment_findings, shuffled_segments
from analytics.eventlog import EventLog, event_log_from_store, synthetic_event_log
from bench.bottleneck_sweep import judged, planted_found, planted_in
from sales.permissions import SYSTEM
from store.db import make_engine, session_scope, upgrade

SWEEP = Path(__file__).resolve().parents[2] / "bench" / "results" / "bottleneck_sweep.json"


def _outcome(kind: str, values: np.ndarray, strata: np.ndarray) -> st.Outcome:
    return st.Outcome(kind=kind, source="A", target="B", units=np.arange(len(values)), values=values, strata=strata)


def _z(outcome: st.Outcome, segment: np.ndarray, stratified: bool) -> float:
    strata, scores = st.stratum_scores(outcome, stratified)
    return st.linear_rank_z(segment, scores, strata)


def test_stratified_conversion_test_controls_for_deal_mix() -> None:
    # the segment holds mostly large deals, which convert less for everyone: within each size band it converts
    # exactly as often as the rest, so the stratified test sees nothing while a pooled comparison would
    seg = np.array([1] * 80 + [0] * 20 + [1] * 20 + [0] * 80, dtype=bool)
    band = np.array([0] * 100 + [1] * 100)
    conv = np.concatenate(
        [
            np.r_[np.ones(16), np.zeros(64)],
            np.r_[np.ones(4), np.zeros(16)],
            np.r_[np.ones(16), np.zeros(4)],
            np.r_[np.ones(64), np.zeros(16)],
        ]
    )
    outcome = _outcome("conversion", conv, band)
    assert conv[seg].mean() < 0.4 < conv[~seg].mean()  # pooled: 32 % vs 68 %
    assert _z(outcome, seg, stratified=False) > 4
    assert abs(_z(outcome, seg, stratified=True)) < 1e-9
    gap, low, high = st.gap_interval(outcome, seg, stratified=True)
    assert gap == pytest.approx(0.0) and low < 0 < high
    # a real within-band gap is still found
    worse = conv.copy()
    worse[np.flatnonzero(seg & (band == 1))[:12]] = 0
    worse[np.flatnonzero(seg & (band == 0))[:12]] = 0
    assert _z(_outcome("conversion", worse, band), seg, stratified=True) > 2.5


def test_stratified_rank_test_controls_for_deal_mix() -> None:
    # enterprise deals wait three times as long for everyone; the segment has mostly enterprise deals
    rng = np.random.default_rng(3)
    band = np.r_[np.zeros(200, dtype=int), np.ones(200, dtype=int)]  # 0 = enterprise
    waits = np.exp(rng.normal(0, 0.4, 400)) * np.where(band == 0, 30.0, 10.0)
    seg = np.r_[rng.random(200) < 0.6, rng.random(200) < 0.1]
    outcome = _outcome("time", waits, band)
    assert _z(outcome, seg, stratified=False) > 5  # pooled: the segment looks far slower
    assert abs(_z(outcome, seg, stratified=True)) < 2.5  # on the same mix it is not
    ratio, low, high = st.ratio_interval(outcome, seg, stratified=True)
    assert low < 1 < high and ratio == pytest.approx(1.0, abs=0.15)
    slower = waits * np.where(seg, 1.5, 1.0)
    outcome = _outcome("time", slower, band)
    assert _z(outcome, seg, stratified=True) > 4
    ratio, low, high = st.ratio_interval(outcome, seg, stratified=True)
    assert low < 1.5 < high


def test_within_band_permutations_only_swap_cases_of_one_band() -> None:
    mix = np.array([0, 1, 2] * 40)
    rows = st.permuted_rows(len(mix), mix, 50, np.random.default_rng(1), within=True)
    assert (mix[rows] == mix[None, :]).all()
    assert all(sorted(r) == list(range(len(mix))) for r in rows)  # each row is a permutation
    assert (rows != np.arange(len(mix))).any(axis=1).all()


def _random_family(rng: np.random.Generator, effect: float = 0.0) -> tuple[Any, ...]:
    """300 cases in 3 bands, two label dimensions, two time and two conversion outcomes; ``effect`` makes group 0
    of the first dimension slower on the first outcome."""
    n = 300
    mix = rng.integers(0, 3, n)
    labels = {"owner": rng.integers(0, 6, n), "industry": rng.integers(0, 4, n)}
    outcomes = []
    for k in range(4):
        units = np.sort(rng.choice(n, 240, replace=False))
        if k < 2:
            values = np.exp(rng.normal(0, 0.5, len(units)) + 0.3 * mix[units])
            if k == 0:
                values = values * np.where(labels["owner"][units] == 0, 1 + effect, 1.0)
            outcomes.append(st.Outcome("time", f"s{k}", "t", units, values, mix[units]))
        else:
            values = (rng.random(len(units)) < 0.3 + 0.1 * mix[units]).astype(float)
            outcomes.append(st.Outcome("conversion", f"s{k}", None, units, values, mix[units]))
    comparisons = [
        st.Comparison(o, d, str(g), g, True, mask=labels[d][out.units] == g)
        for o, out in enumerate(outcomes)
        for d in labels
        for g in range(int(labels[d].max()) + 1)
    ]
    return outcomes, comparisons, labels, mix


def test_permutation_z_row_zero_is_the_observed_statistic() -> None:
    outcomes, comparisons, labels, mix = _random_family(np.random.default_rng(5))
    z = st.permutation_z(outcomes, comparisons, labels, mix, 30, seed=1)
    assert z.shape == (31, len(comparisons))
    for j, c in enumerate(comparisons):
        assert z[0, j] == pytest.approx(_z(outcomes[c.outcome], c.mask, stratified=True), abs=1e-9)
    # under the permutations each statistic is centred with unit spread, whatever its segment's size
    null = z[1:]
    assert abs(null.mean()) < 0.1 and 0.85 < null.std() < 1.15
    assert np.array_equal(z, st.permutation_z(outcomes, comparisons, labels, mix, 30, seed=1))  # seeded


def test_error_rates_hold_under_the_null_and_a_planted_effect_is_found() -> None:
    rng = np.random.default_rng(11)
    any_fdr = any_fwer = 0
    runs = 60
    for _ in range(runs):
        outcomes, comparisons, labels, mix = _random_family(rng)
        z = st.permutation_z(outcomes, comparisons, labels, mix, 200, seed=int(rng.integers(1 << 30)))
        any_fdr += bool((st.permutation_fdr(z) <= 0.05).any())
        any_fwer += bool((st.westfall_young(z) <= 0.05).any())
    # nominal 5 % each: at most 7 of 60 null families report anything (binomial 95th percentile is 6)
    assert any_fdr <= 7 and any_fwer <= 7
    outcomes, comparisons, labels, mix = _random_family(rng, effect=0.6)
    z = st.permutation_z(outcomes, comparisons, labels, mix, 200, seed=2)
    planted = next(j for j, c in enumerate(comparisons) if (c.outcome, c.dimension, c.code) == (0, "owner", 0))
    q, fwer = st.permutation_fdr(z), st.westfall_young(z)
    assert q[planted] <= 0.05 and fwer[planted] <= 0.05
    assert fwer.min() >= 1 / 201  # a permutation p is never below 1 / (permutations + 1)


def test_findings_state_test_effect_interval_adjusted_p_and_mix() -> None:
    log = synthetic_event_log(1500, seed=11)
    findings = segment_findings(log)
    assert findings
    for f in findings:
        e = f.evidence
        assert e.test and e.effect is not None and e.effect_low is not None and e.effect_high is not None
        assert e.effect_low <= e.effect <= e.effect_high
        assert e.p_value is not None and e.p_value <= 0.05 and e.p_raw is not None and e.p_raw <= e.p_value
        assert e.comparisons and e.comparisons >= len(findings) and e.permutations == PERMUTATIONS
        assert "95% CI" in f.statement and ("q=" in f.statement or "q<" in f.statement)
        assert e.test in f.statement and f"over {e.comparisons:,} comparisons" in f.statement
        assert e.test.lower() in f.method.lower() and f"{e.comparisons:,} segment comparisons" in f.method
        if f.dimension != "size_band":
            assert e.controlled_for == ["size band"] and "within size band" in f.method
            assert f"{e.test} within size band" in f.statement
            assert "on the same deal mix" in f.statement
    again = segment_findings(log)
    assert [f.statement for f in again] == [f.statement for f in findings]  # seeded: the same report twice


def _demo_log(seed: int) -> EventLog:
    from bench.bottleneck_sweep import ANCHOR
    from sales.demo import seed_demo

    engine = make_engine("sqlite://")
    upgrade(engine)
    with session_scope(engine) as s:
        seed_demo(s, seed=seed, anchor=ANCHOR)
    with session_scope(engine) as s:
        log = event_log_from_store(s, SYSTEM)
    engine.dispose()
    return log


@pytest.mark.slow
def test_demo_sweep_reproduces_and_meets_its_published_figures() -> None:
    if not SWEEP.exists():
        pytest.fail(f"{SWEEP} is missing: run `python -m bench.bottleneck_sweep`")
    sweep = json.loads(SWEEP.read_text())
    assert sweep["permutations"] == PERMUTATIONS, "the sweep was run with other settings: run it again"
    recorded = {row["seed"]: row for row in sweep["per_seed"]}
    logs = {seed: _demo_log(seed) for seed in range(1, 4)}
    for seed, log in logs.items():
        comparisons = segment_comparisons(log)
        assert planted_in(comparisons, judged(comparisons)["ours"]) == recorded[seed]["ours"], seed
        assert planted_found(segment_findings(log)) == recorded[seed]["ours"], seed  # the report says the same
    for row in sweep["shuffles"][:60]:  # the first 60 shuffles: 9 of them on these seeds
        if row["seed"] in logs:
            comparisons = segment_comparisons(shuffled_segments(logs[row["seed"]], row["shuffle"]))
            assert sum(judged(comparisons)["ours"]) == row["findings"]["ours"], row
    # the published figures (README, bottleneck section)
    assert sweep["seeds"] >= 20 and sweep["shuffled_runs"] >= 100
    assert all(row["permutations"] == sweep["permutations"] for row in sweep["per_seed"])
    assert sweep["planted_slow_found"] >= 0.95
    assert sweep["shuffled_finding_rate"] <= 0.05
    # short of the 95 % aimed for: the rep's evidence is bounded by about 85 closed deals (see README)
    assert sweep["planted_rep_found"] >= 0.80  # measured: 16 of 20
