"""Bottleneck statistics: segment tests compare within the deal mix, every comparison is one family calibrated by
permuting segment labels (and, as a measured alternative, tested top-down: segment → pooled conversion / pooled
waits → single comparison), planted demo effects are found and shuffled labels yield (almost) no findings.

The sweeps are ``python -m bench.bottleneck_sweep`` (demo seeds 1-20, the ones looked at while designing) and
``python -m bench.bottleneck_sweep --first-seed 21`` (seeds 21-40, fresh), each with 300 shuffled-label runs (in
``make bench``, about 8 minutes each on a busy 2-core machine); their results are bench/results/bottleneck_sweep.json
and bottleneck_sweep_seeds21-40.json. The last test here re-runs seeds 1-3 and the shuffles of them among the first
60 (about 30 s) and checks they give what the JSON recorded, then checks both JSONs' figures: the code and the
published numbers agree.
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

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
SWEEP = RESULTS / "bottleneck_sweep.json"
FRESH = RESULTS / "bottleneck_sweep_seeds21-40.json"


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


def _tree(z: np.ndarray, comparisons: list[st.Comparison], outcomes: list[st.Outcome]) -> tuple[Any, Any]:
    """The report's tree over ``comparisons``: per segment its pooled conversion and pooled waits, each over its
    single comparisons (as ``analytics.bottlenecks`` builds it)."""
    by_segment: dict[tuple[str, str], dict[str, list[int]]] = {}
    for j, c in enumerate(comparisons):
        by_segment.setdefault((c.dimension, c.segment), {}).setdefault(outcomes[c.outcome].kind, []).append(j)
    columns: list[np.ndarray] = []
    tree: list[dict[int, list[int]]] = []
    for kinds in by_segment.values():
        node = {}
        for kind in ("conversion", "time"):
            if kind in kinds:
                node[z.shape[1] + len(columns)] = kinds[kind]
                columns.append(st.node_statistic(z, kinds[kind]))
        tree.append(node)
    return np.column_stack([z, *columns]), tree


def test_bh_adjusted_matches_scipy() -> None:
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(4).random(40) ** 3
    assert np.allclose(st.bh_adjusted(p), false_discovery_control(p, method="bh"))


def test_top_down_test_holds_its_error_rate_and_finds_concentrated_and_spread_effects() -> None:
    rng = np.random.default_rng(12)
    any_found = 0
    runs = 60
    for _ in range(runs):
        outcomes, comparisons, labels, mix = _random_family(rng)
        z = st.permutation_z(outcomes, comparisons, labels, mix, 200, seed=int(rng.integers(1 << 30)))
        z_tree, tree = _tree(z, comparisons, outcomes)
        any_found += bool(st.tree_test(z_tree, tree, 0.05).rejected.any())
    assert any_found <= 7  # nominal 5 %: at most 7 of 60 null families report anything
    # one strong slow transition for owner 0: its segment, its pooled waits and that very comparison are rejected
    outcomes, comparisons, labels, mix = _random_family(rng, effect=0.6)
    z = st.permutation_z(outcomes, comparisons, labels, mix, 400, seed=2)
    z_tree, tree = _tree(z, comparisons, outcomes)
    tested = st.tree_test(z_tree, tree, 0.05)
    planted = next(j for j, c in enumerate(comparisons) if (c.outcome, c.dimension, c.code) == (0, "owner", 0))
    assert tested.rejected[planted] and tested.adjusted[planted] <= 0.05
    assert tested.segments == 10 and 1 <= tested.segments_selected <= 3
    node = next(n for s in tree for n, leaves in s.items() if planted in leaves)
    assert tested.rejected[node] and tested.family_q[planted] <= 0.05
    # the level of a comparison is 5 % x R/M x (rejected pooled kinds of its segment / its kinds)
    assert tested.level[planted] <= 0.05 * tested.segments_selected / tested.segments


def test_pooled_conversion_finds_a_segment_converting_a_little_less_at_every_stage() -> None:
    # owner 0 converts 9 points less at each of four stages: no single stage is clear, the four together are
    rng = np.random.default_rng(21)
    n = 600
    mix = rng.integers(0, 3, n)
    labels = {"owner": rng.integers(0, 8, n)}
    outcomes = []
    for k in range(4):
        units = np.arange(n)
        rate = 0.55 - np.where(labels["owner"] == 0, 0.09, 0.0)
        outcomes.append(st.Outcome("conversion", f"s{k}", None, units, (rng.random(n) < rate).astype(float), mix))
    comparisons = [
        st.Comparison(o, "owner", str(g), g, True, mask=labels["owner"] == g) for o in range(4) for g in range(8)
    ]
    z = st.permutation_z(outcomes, comparisons, labels, mix, 400, seed=3)
    z_tree, tree = _tree(z, comparisons, outcomes)
    tested = st.tree_test(z_tree, tree, 0.05)
    pooled = next(iter(tree[0]))
    owner0 = [j for j, c in enumerate(comparisons) if c.code == 0]
    assert st.pooled_z(z, owner0)[0] > z[0, owner0].max()  # pooling adds up the stages' evidence
    assert tested.rejected[pooled]
    others = [j for j in range(len(comparisons)) if j not in owner0] + [n for s in tree[1:] for n in s]
    assert not tested.rejected[others].any()


def test_findings_state_test_effect_interval_adjusted_p_and_mix() -> None:
    log = synthetic_event_log(1500, seed=11)
    findings = segment_findings(log)
    assert findings
    for f in findings:
        e = f.evidence
        assert e.test and e.effect is not None and e.effect_low is not None and e.effect_high is not None
        assert e.effect_low <= e.effect <= e.effect_high
        assert e.p_value is not None and e.p_value <= 0.05 and e.p_raw is not None and e.p_raw <= e.p_value
        assert e.comparisons and e.comparisons >= len(findings) and e.permutations >= PERMUTATIONS
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
    recorded = {row["seed"]: row for row in sweep["per_seed"]}
    logs = {seed: _demo_log(seed) for seed in range(1, 4)}
    for seed, log in logs.items():
        comparisons = segment_comparisons(log)
        assert comparisons[0]["permutations"] == recorded[seed]["permutations"], "run the sweep again"
        assert planted_in(comparisons, judged(comparisons)["ours"]) == recorded[seed]["ours"], seed
        assert planted_found(segment_findings(log)) == recorded[seed]["ours"], seed  # the report says the same
    for row in sweep["shuffles"][:60]:  # the first 60 shuffles: 9 of them on these seeds
        if row["seed"] in logs:
            comparisons = segment_comparisons(shuffled_segments(logs[row["seed"]], row["shuffle"]))
            assert sum(judged(comparisons)["ours"]) == row["findings"]["ours"], row
    # the published figures (README, bottleneck section), on the seeds designed on and on fresh ones
    if not FRESH.exists():
        pytest.fail(f"{FRESH} is missing: run `python -m bench.bottleneck_sweep --first-seed 21`")
    fresh = json.loads(FRESH.read_text())
    assert fresh["first_seed"] == 21 and sweep["first_seed"] == 1
    for result in (sweep, fresh):
        assert result["seeds"] >= 20 and result["shuffled_runs"] >= 300
        assert all(row["permutations"] >= PERMUTATIONS for row in result["per_seed"])
        assert result["planted_slow_found"] >= 0.95
        assert result["shuffled_finding_rate"] <= 0.05
    assert fresh["planted_rep_found"] >= 0.95  # measured: 19 of 20 (seed 26 missed: its best z is 2.5)
    # seeds 1-20 fall short: 16 of 20 (seeds 1, 4, 13, 17: best z 2.5-3.2), so over all 40 seeds 35 of 40 (87.5 %)
    assert sweep["planted_rep_found"] >= 0.80
    # the top-down alternative, measured beside it: 17 of 20 and 19 of 20, fewer shuffled runs with a finding
    for result in (sweep, fresh):
        assert result["top_down"]["planted_slow_found"] >= 0.95
        assert result["top_down"]["shuffled_runs_with_a_finding"] <= 0.05 * result["shuffled_runs"]


def test_report_shows_how_each_finding_was_tested_in_the_logs_own_noun() -> None:
    import html
    from dataclasses import replace

    from analytics.bottlenecks import analyse_event_log
    from analytics.process_report import render_html, render_markdown

    log = replace(synthetic_event_log(1500, seed=11), case_noun="tickets")
    report = analyse_event_log(log, conformance_check=False)
    tested = [f for f in report.findings if f.method]
    assert tested and all("segment comparisons" in f.method for f in tested)
    markdown, page = render_markdown(report), render_html(report, {})
    for f in tested:
        assert f"How it was tested: {html.escape(f.method, quote=False)}" in markdown
        assert f"How it was tested: {html.escape(f.method)}" in page
    for f in report.findings:
        assert "deal" not in f"{f.statement} {f.action} {f.method}".lower(), f.title
    assert any("ticket-days" in f.statement or "fewer tickets" in f.statement for f in report.findings)
