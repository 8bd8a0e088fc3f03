"""Segment-vs-rest tests for the bottleneck report, with their multiplicity calibrated by permuting labels.

Every comparison is one stratified linear rank statistic: the segment's sum of scores, where each case's score is
centred within its stratum (size band), so a segment is only compared with the rest on the same deal mix.

* time: van Elteren's stratified Wilcoxon test, scores = within-stratum rank / (stratum size + 1);
* conversion: the Cochran-Mantel-Haenszel test, scores = converted (1/0) minus the stratum's conversion rate.

Both are standardised by their exact permutation variance (sampling without replacement within each stratum), so
z values of different comparisons are on one scale. The null distribution of all of them *together* comes from
permuting the segment labels of whole cases within strata (the size band label itself is permuted freely): the
same permutation applies to every comparison, so the dependence between comparisons (a rep's nested stage
conversions, an owner who is also a tenure band) is kept, and discrete tests on few cases that cannot reach an
extreme value do not count as if they could. From those permutations come q-values (false discovery rate, the
resampling estimator of Yekutieli and Benjamini 1999) and Westfall-Young step-down maxT adjusted p-values
(family-wise error) over all comparisons, and the top-down test the report uses (``tree_test``): segments first,
then a segment's pooled conversion and pooled waits, then its single comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Z_95 = 1.959963984540054


@dataclass
class Outcome:
    """One outcome per case, compared across segments: the wait on one transition, or conversion at one stage.

    ``units`` are positions in the case table; ``values`` the wait in days or 1.0/0.0 converted; ``strata`` the
    deal-mix stratum of each unit (codes), or None when the outcome is compared unstratified.
    """

    kind: str  # "time" or "conversion"
    source: str
    target: str | None
    units: np.ndarray
    values: np.ndarray
    strata: np.ndarray | None = None
    steps: np.ndarray | None = None  # time: the number of steps each case took on the transition


@dataclass
class Comparison:
    outcome: int
    dimension: str
    segment: str
    code: int
    stratified: bool
    mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def stratum_scores(outcome: Outcome, stratified: bool) -> tuple[np.ndarray, np.ndarray]:
    """(stratum code per unit, centred score per unit); a larger score means slower or converting less."""
    from scipy.stats import rankdata

    n = len(outcome.values)
    strata = outcome.strata if stratified and outcome.strata is not None else np.zeros(n, dtype=np.int64)
    scores = np.zeros(n)
    for s in np.unique(strata):
        k = strata == s
        v = outcome.values[k]
        if outcome.kind == "time":
            scores[k] = rankdata(v) / (len(v) + 1) - 0.5  # van Elteren: centred, weighted by 1/(n_s + 1)
        else:
            scores[k] = v.mean() - v  # CMH: expected minus observed conversions, so low conversion is positive
    return strata.astype(np.int64), scores


def linear_rank_z(in_segment: Any, scores: Any, strata: Any) -> float:
    """z of the segment's score sum against its exact within-strata permutation distribution."""
    seg = np.asarray(in_segment, dtype=bool)
    a = np.asarray(scores, dtype=float)
    s = np.asarray(strata)
    total = 0.0
    for stratum in np.unique(s):
        k = s == stratum
        total += float((a[k] - a[k].mean())[seg[k]].sum())
    variance = _exact_variance(seg, a, s)
    return total / math.sqrt(variance) if variance > 1e-12 else 0.0


def one_sided_p(z: np.ndarray) -> np.ndarray:
    """The normal approximation's one-sided p of each z (before any adjustment for multiplicity)."""
    from scipy.stats import norm

    return np.asarray(norm.sf(z), dtype=float)


def permuted_rows(n: int, mix: np.ndarray | None, count: int, rng: np.random.Generator, *, within: bool) -> np.ndarray:
    """``count`` random permutations of ``n`` cases (count x n): row b maps case i to the case whose labels it takes.

    ``within``: only cases of the same ``mix`` stratum swap labels; otherwise any two may.
    """
    if not within or mix is None:
        return rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int32), (count, n)), axis=1)
    rows = np.empty((count, n), dtype=np.int32)
    for stratum in np.unique(mix):
        members = np.flatnonzero(mix == stratum).astype(np.int32)
        rows[:, members] = rng.permuted(np.broadcast_to(members, (count, len(members))), axis=1)
    return rows


def permutation_z(
    outcomes: list[Outcome],
    comparisons: list[Comparison],
    labels: dict[str, np.ndarray],
    mix: np.ndarray | None,
    permutations: int,
    seed: int,
) -> np.ndarray:
    """z of every comparison, observed and under each permutation: (permutations + 1) x comparisons, row 0 observed.

    One permutation of whole cases applies to every comparison at once (within size bands for the stratified
    ones, free for the size band itself). Per chunk of permutations each case's permuted label is looked up once
    per dimension, as a bincount key (permutation, stratum, label); per outcome its units' keys are read in order
    and two bincounts give every segment's score sum and per-stratum size in every permutation, from which the
    exact permutation variance is recomputed (a case-level permutation changes how many of a segment's cases are
    among this outcome's units). Chunks keep memory flat on large logs.
    """
    n = len(next(iter(labels.values())))
    by_outcome: dict[tuple[int, bool], dict[str, list[int]]] = {}
    for j, c in enumerate(comparisons):
        by_outcome.setdefault((c.outcome, c.stratified), {}).setdefault(c.dimension, []).append(j)
    prepared = {}
    for o, stratified in by_outcome:
        strata, scores = stratum_scores(outcomes[o], stratified)
        n_strata = int(mix.max()) + 1 if stratified and mix is not None else 1
        n_s = np.bincount(strata, minlength=n_strata).astype(float)
        ss = np.bincount(strata, weights=scores**2, minlength=n_strata)  # scores are centred within strata
        factor = np.where(n_s > 1, ss / np.maximum(n_s * (n_s - 1), 1), 0.0)
        prepared[(o, stratified)] = (strata, scores, n_strata, n_s, factor)
    out = np.zeros((permutations + 1, len(comparisons)))
    rng = np.random.default_rng(seed)
    chunk = max(1, min(permutations + 1, 2_000_000 // max(n, 1)))
    kinds = sorted({stratified for _, stratified in by_outcome})
    start = 0
    while start < permutations + 1:
        count = min(chunk, permutations + 1 - start)
        rows = {}
        for stratified in kinds:
            block = permuted_rows(n, mix, count, rng, within=stratified)
            if start == 0:
                block[0] = np.arange(n)  # row 0: the observed labels
            rows[stratified] = block
        # per (dimension, stratification): for each permutation and case, the bincount key (permutation, the case's
        # stratum, the label it takes); a within-band permutation keeps bands, so a unit's stratum is its case's
        keyed: dict[tuple[str, bool], np.ndarray] = {}
        for (o, stratified), dims in by_outcome.items():
            _, scores, n_strata, n_s, factor = prepared[(o, stratified)]
            weights = np.tile(scores, count)
            for dimension, members in dims.items():
                n_groups = int(labels[dimension].max()) + 1
                width = n_strata * n_groups
                if (dimension, stratified) not in keyed:
                    own = mix if stratified and mix is not None else np.zeros(n, dtype=np.int64)
                    grid = labels[dimension].astype(np.int32)[rows[stratified]]
                    grid += (own * n_groups).astype(np.int32)[None, :]
                    grid += (np.arange(count, dtype=np.int32) * width)[:, None]
                    keyed[(dimension, stratified)] = grid
                # units are sorted, so this reads each permutation's row in order
                flat = np.take(keyed[(dimension, stratified)], outcomes[o].units, axis=1).ravel()
                size = count * width
                sums = np.bincount(flat, weights=weights, minlength=size).reshape(count, n_strata, n_groups)
                sizes = np.bincount(flat, minlength=size).reshape(count, n_strata, n_groups).astype(float)
                variance = (sizes * (n_s[None, :, None] - sizes) * factor[None, :, None]).sum(axis=1)
                totals = sums.sum(axis=1)
                z = np.where(variance > 1e-12, totals / np.sqrt(np.maximum(variance, 1e-12)), 0.0)
                codes = [comparisons[j].code for j in members]
                out[start : start + count, members] = z[:, codes]
        start += count
    return out


def _exact_variance(in_segment: np.ndarray, scores: np.ndarray, strata: np.ndarray) -> float:
    """Variance of the segment's score sum when its cases are drawn without replacement within each stratum."""
    variance = 0.0
    for stratum in np.unique(strata):
        k = strata == stratum
        n, n1 = int(k.sum()), int((in_segment & k).sum())
        if n < 2 or n1 in (0, n):
            continue
        ak = scores[k] - scores[k].mean()
        variance += n1 * (n - n1) / (n * (n - 1)) * float((ak**2).sum())
    return variance


def permutation_fdr(z: np.ndarray) -> np.ndarray:
    """q-value per comparison from ``permutation_z``'s matrix: the least estimated false discovery rate of any
    threshold that includes it, FDR(t) = (mean number of null z >= t per permutation) / (observed z >= t).

    The mean over permutations counts every comparison's null statistics, so comparisons that move together (a
    rep's nested stage conversions) are counted as the permutations show them, not as independent tests.
    """
    observed: np.ndarray = z[0]
    null: np.ndarray = z[1:]
    if observed.size == 0:
        return observed.copy()
    flat = np.sort(null.ravel())
    expected_false = (flat.size - np.searchsorted(flat, observed, side="left")) / null.shape[0]
    ranked = np.sort(observed)
    called = ranked.size - np.searchsorted(ranked, observed, side="left")
    fdr = np.minimum(1.0, expected_false / np.maximum(called, 1))
    order = np.argsort(-observed, kind="stable")
    q = np.empty_like(fdr)
    q[order] = np.minimum.accumulate(fdr[order][::-1])[::-1]  # monotone: a larger z never has a larger q
    # like a permutation p-value, never below 1 / (permutations + 1): no null statistic reached it in this many
    floored: np.ndarray = np.maximum(np.asarray(q, dtype=float), 1 / (null.shape[0] + 1))
    return floored


def westfall_young(z: np.ndarray) -> np.ndarray:
    """Westfall-Young step-down maxT adjusted p-values (family-wise error) from ``permutation_z``'s matrix."""
    observed: np.ndarray = z[0]
    null: np.ndarray = z[1:]
    if observed.size == 0:
        return observed.copy()
    order = np.argsort(-observed, kind="stable")
    tail_max = np.maximum.accumulate(null[:, order][:, ::-1], axis=1)[:, ::-1]
    exceed = (tail_max >= observed[order][None, :]).sum(axis=0)
    adjusted = np.maximum.accumulate((1 + exceed) / (null.shape[0] + 1))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def ratio_interval(outcome: Outcome, mask: np.ndarray, stratified: bool) -> tuple[float, float, float]:
    """How many times longer the segment waits than the rest (geometric means, within strata), with a 95 % CI.

    The within-stratum differences of mean log wait are pooled with Mantel-Haenszel weights n1*n0/n; waits are
    floored at a minute so instant steps have a logarithm.
    """
    logs = np.log(np.maximum(outcome.values, 1 / 1440))
    strata = outcome.strata if stratified and outcome.strata is not None else np.zeros(len(logs), dtype=np.int64)
    num = den = var = 0.0
    for s in np.unique(strata):
        k = strata == s
        a, b = logs[k & mask], logs[k & ~mask]
        if len(a) < 2 or len(b) < 2:
            continue
        w = len(a) * len(b) / (len(a) + len(b))
        num += w * (a.mean() - b.mean())
        den += w
        var += w * w * (a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if den == 0:
        return math.nan, math.nan, math.nan
    est, se = num / den, math.sqrt(var) / den
    return math.exp(est), math.exp(est - Z_95 * se), math.exp(est + Z_95 * se)


def gap_interval(outcome: Outcome, mask: np.ndarray, stratified: bool) -> tuple[float, float, float]:
    """How much less often the segment converts (rest minus segment, Mantel-Haenszel risk difference), 95 % CI."""
    y = outcome.values
    strata = outcome.strata if stratified and outcome.strata is not None else np.zeros(len(y), dtype=np.int64)
    num = den = var = 0.0
    for s in np.unique(strata):
        k = strata == s
        a, b = y[k & mask], y[k & ~mask]
        if len(a) == 0 or len(b) == 0:
            continue
        w = len(a) * len(b) / (len(a) + len(b))
        p1, p0 = a.mean(), b.mean()
        num += w * (p0 - p1)
        den += w
        var += w * w * (p1 * (1 - p1) / len(a) + p0 * (1 - p0) / len(b))
    if den == 0:
        return math.nan, math.nan, math.nan
    est, se = num / den, math.sqrt(var) / den
    return est, est - Z_95 * se, est + Z_95 * se


def pooled_z(z: np.ndarray, members: list[int]) -> np.ndarray:
    """One column for ``permutation_z``'s matrix: the sum of the members' z in every row (observed and each
    permutation), divided by that sum's standard deviation over the permutations, so it is on the z scale whatever
    the correlation of its members (a segment's nested stage conversions move together)."""
    total = z[:, members].sum(axis=1)
    spread = float(total[1:].std()) if z.shape[0] > 2 else 0.0
    return total / spread if spread > 1e-12 else np.zeros_like(total)


def node_statistic(z: np.ndarray, members: list[int]) -> np.ndarray:
    """The column that tests "none of ``members`` differs" in ``tree_test``: per row (observed and each
    permutation) the smaller of two p-values, as a z value (its normal quantile): that of the members' pooled z
    (``pooled_z``: strong when a segment is a little worse on many outcomes, like a rep's successive stage
    conversions) and that of their largest z, Šidák-corrected for how many there are (strong when it is much worse
    on one, like a single slow transition). The two p-values are the normal approximation's, continuous so that
    1,000 permutations still rank the rows without ties; they only shape the statistic, whose p-value
    ``tree_test`` takes from the same permutations (a nonparametric combination with the minimum-p combining
    function, Pesarin 2001), so the test is calibrated whatever the approximations' error."""
    from scipy.stats import norm

    pooled = norm.sf(pooled_z(z, members))
    largest = -np.expm1(len(members) * np.log1p(-norm.sf(z[:, members].max(axis=1))))  # 1 - (1 - p)^k
    return np.asarray(norm.isf(np.clip(np.minimum(pooled, largest), 1e-300, 1.0)), dtype=float)


def permutation_max_p(z: np.ndarray, columns: list[int]) -> float:
    """Permutation p-value of the largest observed z among ``columns`` (maxT): how often a permutation's largest
    z among the same columns reached it, counting the observed labels as one permutation."""
    block = z[:, columns]
    observed = float(block[0].max())
    return float((1 + int((block[1:].max(axis=1) >= observed).sum())) / z.shape[0])


def bh_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (a hypothesis is rejected at level alpha when its value is <= alpha)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass
class TreeTest:
    """Per column of the z matrix, the top-down test's values (see ``tree_test``); NaN where not defined."""

    family_p: np.ndarray  # the permutation maxT p of the column's segment
    family_q: np.ndarray  # that p, Benjamini-Hochberg adjusted over the segments
    within_p: np.ndarray  # Westfall-Young step-down p within the column's own family (its siblings)
    level: np.ndarray  # the level within_p is compared with: alpha x the selected shares above it; 0 if not tested
    adjusted: np.ndarray  # within_p scaled to be compared with alpha (1 when a parent was not selected)
    rejected: np.ndarray  # bool
    segments: int  # M: segments tested
    segments_selected: int  # R: segments selected


def tree_test(z: np.ndarray, tree: list[dict[int, list[int]]], alpha: float) -> TreeTest:
    """Top-down testing of segment → pooled outcome kind → single comparison (Benjamini and Bogomolov 2014's
    selective inference on families, applied down a tree as in Bogomolov, Peterson, Benjamini and Sabatti 2021).

    ``tree`` has one entry per segment: {pooled column (``node_statistic``): its comparison columns}. A segment's
    p-value is the permutation maxT p of its pooled columns; Benjamini-Hochberg over the M segments at ``alpha`` selects R of
    them. Within each selected segment its pooled columns are tested by Westfall-Young step-down at
    alpha * R / M; within each rejected pooled column (R_s of the segment's K_s) its comparisons are tested by
    Westfall-Young step-down at alpha * R / M * R_s / K_s. Westfall-Young rather than BH within a family: its first
    step is the family's maxT p itself, which 1,000 permutations resolve, while BH on the comparisons' own
    permutation p-values would need p below alpha * R / (M * m), under 1 / 1,001 for a small R; and it keeps the
    dependence between a segment's outcomes. Every value comes from the same permutations as ``z``.
    """
    width = z.shape[1]
    nan = np.full(width, np.nan)
    family_p, family_q, within_p = nan.copy(), nan.copy(), nan.copy()
    level, adjusted, rejected = np.zeros(width), np.ones(width), np.zeros(width, dtype=bool)
    segments = [s for s in tree if s]
    if not segments:
        return TreeTest(family_p, family_q, within_p, level, adjusted, rejected, 0, 0)
    p = np.array([permutation_max_p(z, list(s)) for s in segments])
    q = bh_adjusted(p)
    m, r = len(segments), int((q <= alpha).sum())
    for s, p_s, q_s in zip(segments, p, q, strict=True):
        nodes = list(s)
        members = nodes + [c for node in nodes for c in s[node]]
        family_p[members], family_q[members] = p_s, q_s
        wy_nodes = westfall_young(z[:, nodes])
        within_p[nodes] = wy_nodes
        if q_s > alpha:
            continue
        node_level = alpha * r / m
        level[nodes] = node_level
        adjusted[nodes] = np.minimum(1.0, wy_nodes * m / r)
        kept = wy_nodes <= node_level
        rejected[nodes] = kept
        share = int(kept.sum()) / len(nodes)
        for node, keep in zip(nodes, kept, strict=True):
            leaves = s[node]
            if not leaves:
                continue
            wy_leaves = westfall_young(z[:, leaves])
            within_p[leaves] = wy_leaves
            if not keep:
                continue
            leaf_level = node_level * share
            level[leaves] = leaf_level
            adjusted[leaves] = np.minimum(1.0, wy_leaves * alpha / leaf_level)
            rejected[leaves] = wy_leaves <= leaf_level
    return TreeTest(family_p, family_q, within_p, level, adjusted, rejected, m, r)
