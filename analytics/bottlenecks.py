"""Where deals get stuck and why: cycle time, conversion, drop-off and rework per stage and transition, compared
across segments (deal size, industry, rep tenure, owner), turned into findings ranked by what they cost.

``analyse_event_log`` is a pure function of an ``EventLog``; ``bottleneck_analysis`` builds the log from the store
for one user and is the entry point the agent's tool calls. Both return a JSON-serialisable ``BottleneckReport``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from analytics.eventlog import ACTIVITY, CASE, TIMESTAMP, EventLog, singular_noun
from analytics.process import LifecycleSummary, ResourceSummary
from sales.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    from sqlmodel import Session

    from sales.permissions import Actor
    from sales.stages import StageMachine

# The segment dimensions a user can ask for, and the case attribute each one reads.
SEGMENT_DIMENSIONS: dict[str, str] = {
    "size": "size_band",
    "industry": "industry",
    "tenure": "tenure_band",
    "owner": "owner",
    "region": "region",
    "source": "source",
}
DIMENSION_LABELS = {
    "size_band": "size band",
    "industry": "industry",
    "tenure_band": "rep tenure",
    "owner": "owner",
    "region": "region",
    "source": "lead source",
}
DEFAULT_DIMENSIONS = ("size_band", "source", "industry", "tenure_band", "owner")
MIN_SEGMENT_CASES = 10  # below this a segment's median or rate is too noisy to act on
SLOW_RATIO = 1.25  # a segment must be at least this much slower than the rest to be a finding
MIN_EXTRA_DAYS = 1 / 24  # ... and slower by at least an hour
MIN_RATE_GAP = 0.08  # a conversion gap smaller than 8 points is not worth a finding
SIGNIFICANCE = 0.05  # false discovery rate over every segment comparison made in the run (permutation q-values)
PERMUTATIONS = 1000  # label permutations per report: q-values and family-wise p-values resolve 1/1000
MIN_PERMUTATIONS = 200  # large logs: fewer permutations, never fewer than this
PERMUTATION_BUDGET = 150_000_000  # segment labels looked up per report (about a second of numpy per 30 million)
PERMUTATION_SEED = 16  # fixed, so the same log always gives the same adjusted p-values
MIX_COLUMN = "size_band"  # deal mix: segments are compared with the rest within each size band
MAX_FINDINGS = 12  # per group
AT_RISK_QUANTILE = 0.75

FindingKind = Literal["slow segment", "slow transition", "low conversion", "rework loop"]
ProgressCallback = Callable[[str], None]


class Evidence(BaseModel):
    metric: str
    unit: str
    segment_value: float
    rest_value: float | None = None
    segment_cases: int
    rest_cases: int | None = None
    p_value: float | None = Field(None, description="segment findings: q-value over every comparison made")
    p_family_wise: float | None = Field(None, description="Westfall-Young step-down maxT adjusted p")
    p_raw: float | None = Field(None, description="the test's own one-sided p, before any adjustment")
    test: str | None = None
    controlled_for: list[str] = Field(default_factory=list, description="the deal mix compared within")
    effect: float | None = Field(None, description="time: ratio to the rest; conversion: rate gap (share)")
    effect_low: float | None = Field(None, description="95 % confidence interval of effect, lower end")
    effect_high: float | None = None
    effect_unit: str | None = None
    comparisons: int | None = Field(None, description="comparisons in the family the adjustment covers")
    permutations: int | None = None


class Finding(BaseModel):
    rank: int = 0
    kind: FindingKind
    title: str
    statement: str
    action: str
    method: str = Field("", description="how a segment finding was tested: test, mix, what its q covers")
    dimension: str | None = None
    segment: str | None = None
    source: str | None = None
    target: str | None = None
    evidence: Evidence
    cost: float = Field(description="in cost_unit: extra deal-days, or deals not converted")
    cost_unit: Literal["deal-days", "deals"]
    impact: float = Field(description="cost as a share of all deal-days (or of all deals) in the log")
    revenue_at_risk: float | None = Field(
        None, description="deal value of the deals not converted, in revenue_currency; None when in several"
    )
    revenue_currency: str | None = Field(None, description="the currency of revenue_at_risk (None: not known)")
    revenue_at_risk_by_currency: dict[str, float] = Field(
        default_factory=dict, description="deal value at risk per currency, never added across currencies"
    )

    def revenue_text(self) -> str | None:
        return revenue_in_words(self.revenue_at_risk, self.revenue_at_risk_by_currency)


def revenue_in_words(value: float | None, by_currency: dict[str, float]) -> str | None:
    """A value at risk in words: "12,000 USD", "5,000 EUR and 40,000 USD" (never a sum), or None."""
    if by_currency:
        return " and ".join(f"{v:,.0f} {code}" for code, v in sorted(by_currency.items()))
    return f"{value:,.0f}" if value else None


class StageMetric(BaseModel):
    stage: str
    cases_entered: int
    median_days: float | None
    p90_days: float | None
    conversion: float | None = Field(None, description="share of decided cases that went on to a later stage")
    drop_off: float | None = Field(None, description="share of decided cases that ended (were lost) here")
    decided_cases: int = 0
    rework_cases: int = 0


class TransitionMetric(BaseModel):
    source: str
    target: str
    count: int
    cases: int
    median_days: float
    p90_days: float


class IgnoredSegment(BaseModel):
    dimension: str
    segment: str
    cases: int
    reason: str


class SegmentCycleTime(BaseModel):
    dimension: str
    segment: str
    cases: int
    median_days: float
    p90_days: float


class FunnelStep(BaseModel):
    stage: str
    cases: int
    share: float


class DeviationRow(BaseModel):
    kind: str
    description: str
    cases: int
    share: float


class ConformanceSummary(BaseModel):
    model: str
    model_description: str
    threshold: float
    mean_fitness: float
    share_below_threshold: float
    cases_replayed: int
    cases_total: int
    alignment_fitness: float | None
    deviations: list[DeviationRow]
    discovered_model: str
    notes: list[str] = Field(default_factory=list)
    precision: float | None = Field(None, description="ETConformance precision on precision_cases of the cases")
    precision_cases: int = 0
    completed_cases: int = Field(0, description="cases that finished; open cases are not judged")
    open_cases: int = 0
    completion_rule: str = ""
    evaluated_on: str = ""
    model_source: str = ""


class AtRiskDeal(BaseModel):
    case_id: str
    name: str | None
    owner: str | None
    stage: str
    days_in_stage: int
    amount: float | None
    currency: str | None = None
    status: Literal["stalled", "at risk"]
    reason: str


class BottleneckReport(BaseModel):
    source: str
    generated_at: datetime
    requested_by: str | None = None
    since: date | None = None
    cases: int
    events: int
    activities: int
    first_event: datetime
    last_event: datetime
    stage_order: list[str]
    dimensions: list[str]
    min_segment_cases: int
    findings: list[Finding]
    stage_metrics: list[StageMetric]
    transitions: list[TransitionMetric]
    activity_transitions: list[TransitionMetric]
    funnel: list[FunnelStep]
    cycle_time_by_segment: list[SegmentCycleTime]
    conformance: ConformanceSummary | None
    case_noun: str = Field("deals", description="what a case is, plural: deals, leads, loan applications, cases")
    lifecycle: LifecycleSummary | None = Field(None, description="queue vs working time, from start/complete events")
    resources: ResourceSummary | None = Field(None, description="workload per resource per month and handovers")
    at_risk: list[AtRiskDeal]
    ignored_segments: list[IgnoredSegment]
    notes: list[str]
    timings: dict[str, float]
    summary: str = Field("", description="the analysis in two or three sentences, for chat answers")

    def top(self, n: int = 3) -> list[Finding]:
        return self.findings[:n]


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _days(value: float) -> str:
    if value < 1:
        hours = value * 24
        return f"{hours:.1f} hours" if hours >= 1 else f"{hours * 60:.0f} minutes"
    return f"{value:.1f} days"


def _day_unit(noun: str) -> str:
    """Case-days in the log's own noun: deals → deal-days, loan applications → loan application days."""
    one = singular_noun(noun)
    return f"{one} days" if " " in one else f"{one}-days"


def _segment_phrase(dimension: str, segment: str, noun: str = "deals") -> str:
    if dimension == "owner":
        return f"{noun.capitalize()} owned by {segment}"
    if dimension == "size_band":
        return f"{segment[:1].upper()}{segment[1:]} {noun}"
    if dimension == "tenure_band":
        return f"{noun.capitalize()} of reps who were {segment} at the time"
    return f"{noun.capitalize()} with {DIMENSION_LABELS.get(dimension, dimension)} {segment}"


def _resolve_dimensions(log: EventLog, segment: str | Sequence[str] | None) -> list[str]:
    if segment is None:
        wanted = [d for d in DEFAULT_DIMENSIONS if d in log.cases.columns]
        if not wanted:
            wanted = [c for c in log.cases.columns if c in SEGMENT_DIMENSIONS.values()]
        return wanted
    names = [segment] if isinstance(segment, str) else list(segment)
    out = []
    for name in names:
        column = SEGMENT_DIMENSIONS.get(name, name)
        if column not in log.cases.columns:
            available = sorted(k for k, v in SEGMENT_DIMENSIONS.items() if v in log.cases.columns)
            raise InvalidInput(
                {
                    "segment": f"{name!r} is not available for {log.source} (choose from: {', '.join(available) or 'none'})"
                }
            )
        out.append(column)
    return out


def _stage_index(log: EventLog, order: Sequence[str]) -> dict[str, int]:
    index = {s: i for i, s in enumerate(order) if s not in log.outcome_stages}
    if log.won_stage:
        index[log.won_stage] = len(log.stages)
    return index


# ---------------------------------------------------------------------------------------------------------------
# Per-case progress through the stages


def case_progress(log: EventLog, stage_frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Per case: the furthest stage index reached, whether it is decided, won, and first/last stage times."""
    import numpy as np
    import pandas as pd

    index = _stage_index(log, order)
    idx = stage_frame[ACTIVITY].astype(str).map(index).astype("float64")
    grouped = pd.DataFrame({CASE: stage_frame[CASE].to_numpy(), "idx": idx.to_numpy()}).groupby(CASE, sort=False)
    progress = pd.DataFrame({"max_index": grouped["idx"].max()})
    times = stage_frame.groupby(CASE, observed=True, sort=False)[TIMESTAMP].agg(["min", "max"])
    progress["first_at"] = times["min"]
    progress["last_at"] = times["max"]
    acts = stage_frame[ACTIVITY].astype(str)
    won: Any = stage_frame.loc[acts == log.won_stage, CASE].unique() if log.won_stage else []
    lost: Any = stage_frame.loc[acts == log.lost_stage, CASE].unique() if log.lost_stage else []
    progress["won"] = progress.index.isin(won)
    progress["lost"] = progress.index.isin(lost)
    if "outcome" in log.cases.columns:
        outcome = log.cases["outcome"].reindex(progress.index).astype(object)
        progress["open"] = (outcome == "open").to_numpy()
        progress["won"] = progress["won"] | (outcome == "won").to_numpy()
        progress["lost"] = progress["lost"] | (outcome == "lost").to_numpy()
    else:
        # External logs carry no status: a case's history is taken as complete.
        progress["open"] = False
    progress["max_index"] = np.where(progress["won"], len(log.stages), progress["max_index"].fillna(-1))
    return progress


def stage_metrics(
    log: EventLog, order: Sequence[str], steps: pd.DataFrame, progress: pd.DataFrame, stage_frame: pd.DataFrame
) -> list[StageMetric]:
    index = _stage_index(log, order)
    by_source = steps.groupby("source", observed=True)["wait_days"]
    medians = by_source.median()
    p90s = by_source.quantile(0.9)
    acts = stage_frame[ACTIVITY].astype(str)
    entered = stage_frame.assign(_a=acts).groupby("_a")[CASE].nunique()
    repeats = stage_frame.assign(_a=acts).groupby([CASE, "_a"]).size()
    rework = (repeats[repeats > 1]).reset_index().groupby("_a")[CASE].nunique()
    out = []
    for stage in order:
        metric = StageMetric(
            stage=stage,
            cases_entered=int(entered.get(stage, 0)),
            median_days=float(medians[stage]) if stage in medians.index else None,
            p90_days=float(p90s[stage]) if stage in p90s.index else None,
            rework_cases=int(rework.get(stage, 0)),
        )
        if log.stages and stage in log.stages:
            i = index[stage]
            reached = stage_frame.loc[acts == stage, CASE].unique()
            sub = progress.loc[progress.index.isin(reached)]
            # A deal still open in this very stage has not been decided yet.
            decided = sub[~(sub["open"] & (sub["max_index"] == i))]
            if len(decided):
                metric.decided_cases = len(decided)
                metric.conversion = float((decided["max_index"] > i).mean())
                metric.drop_off = float(((decided["max_index"] == i) & ~decided["open"]).mean())
        out.append(metric)
    return out


def funnel(log: EventLog, order: Sequence[str], progress: pd.DataFrame, stage_frame: pd.DataFrame) -> list[FunnelStep]:
    total = len(progress)
    if not total:
        return []
    steps: list[FunnelStep] = []
    if log.stages:
        for i, stage in enumerate(log.stages):
            n = int((progress["max_index"] >= i).sum())
            steps.append(FunnelStep(stage=stage, cases=n, share=n / total))
        if log.won_stage:
            n = int(progress["won"].sum())
            steps.append(FunnelStep(stage=log.won_stage, cases=n, share=n / total))
        return steps
    coverage = stage_frame.groupby(stage_frame[ACTIVITY].astype(str))[CASE].nunique()
    top = set(coverage.sort_values(ascending=False).index[:10])
    for stage in order:
        if stage in top:
            n = int(coverage[stage])
            steps.append(FunnelStep(stage=stage, cases=n, share=n / total))
    return steps


# ---------------------------------------------------------------------------------------------------------------
# Findings


def _case_outcomes(
    log: EventLog,
    steps: pd.DataFrame,
    progress: pd.DataFrame,
    stage_frame: pd.DataFrame,
    mix: Any,
    min_cases: int,
) -> list[Any]:
    """Every outcome the segments are compared on, one value per case: the (mean) wait on each transition that at
    least ``2 * min_cases`` cases took, and conversion at each stage and to Won among the cases decided there."""
    import numpy as np
    import pandas as pd

    from analytics.segment_tests import Outcome

    position = pd.Series(np.arange(len(log.cases)), index=log.cases.index)
    outcomes: list[Outcome] = []

    def strata(units: Any) -> Any:
        return None if mix is None else mix[units]

    if not steps.empty:
        per_case = (
            steps.groupby(["source", "target", CASE], observed=True)["wait_days"].agg(["mean", "size"]).reset_index()
        )
        for (source, target), group in per_case.groupby(["source", "target"], observed=True, sort=True):
            if len(group) < 2 * min_cases:
                continue
            units = position.reindex(group[CASE].to_numpy()).to_numpy()
            keep = ~np.isnan(units)
            units = units[keep].astype(np.int64)
            outcomes.append(
                Outcome(
                    kind="time",
                    source=str(source),
                    target=str(target),
                    units=units,
                    values=group["mean"].to_numpy(dtype=float)[keep],
                    strata=strata(units),
                    steps=group["size"].to_numpy()[keep],
                )
            )
    if not log.stages:
        return outcomes
    acts = stage_frame[ACTIVITY].astype(str)
    checks: list[tuple[str, Any, Any]] = []
    for i, stage in enumerate(log.stages):
        reached = progress.index.isin(stage_frame.loc[acts == stage, CASE].unique())
        sub = progress[reached]
        decided = sub[~(sub["open"] & (sub["max_index"] == i))]
        checks.append((stage, decided.index, (decided["max_index"] > i).to_numpy()))
    if log.won_stage and log.lost_stage:
        closed = progress[progress["won"] | progress["lost"]]
        checks.append((log.won_stage, closed.index, closed["won"].to_numpy()))
    for stage, case_ids, converted in checks:
        if len(case_ids) < 2 * min_cases:
            continue
        units = position.reindex(case_ids).to_numpy()
        keep = ~np.isnan(units)
        units = units[keep].astype(np.int64)
        outcomes.append(
            Outcome(
                kind="conversion",
                source=stage,
                target=None,
                units=units,
                values=np.asarray(converted, dtype=float)[keep],
                strata=strata(units),
            )
        )
    return outcomes


def _comparisons(
    log: EventLog,
    steps: pd.DataFrame,
    progress: pd.DataFrame,
    stage_frame: pd.DataFrame,
    dimensions: Sequence[str],
    min_cases: int,
    *,
    permutations: int | None = None,
    seed: int = PERMUTATION_SEED,
    top_down: bool = False,
) -> list[dict[str, Any]]:
    """Every segment-vs-rest comparison made, each with its test, effect and interval, raw and adjusted p.

    A comparison is made for every outcome and every segment with ``min_cases`` cases on each side, whatever its
    effect size (testing only those that look large would let chance differences through). All of them form one
    family for the q-values and family-wise p; ``top_down`` adds the values of the top-down alternative (segment →
    its pooled conversion and pooled waits → single comparisons, ``segment_tests.tree_test``) and its pooled
    rows. All come from ``permutations`` permutations of the cases' segment labels within size bands (see ``analytics.segment_tests``),
    seeded so a report is reproducible. By default PERMUTATIONS, or 2 M / SIGNIFICANCE for M segments when that is
    more (so the top-down test's smallest level can be reached), fewer (never below MIN_PERMUTATIONS) when that many would
    look up more than PERMUTATION_BUDGET labels on a large log.
    """
    import numpy as np

    from analytics import segment_tests as st

    segments = log.cases[list(dimensions)].astype(object).fillna("unknown").astype(str)
    mix_labels = (
        log.cases[MIX_COLUMN].astype(object).fillna("unknown").astype(str) if MIX_COLUMN in log.cases.columns else None
    )
    mix = None
    if mix_labels is not None and mix_labels.nunique() > 1:
        mix = np.unique(mix_labels.to_numpy(), return_inverse=True)[1].astype(np.int64)
    outcomes = _case_outcomes(log, steps, progress, stage_frame, mix, min_cases)
    labels: dict[str, Any] = {}
    names: dict[str, Any] = {}
    for dimension in dimensions:
        names[dimension], labels[dimension] = np.unique(segments[dimension].to_numpy(), return_inverse=True)
    comparisons: list[st.Comparison] = []
    for o, outcome in enumerate(outcomes):
        for dimension in dimensions:
            codes = labels[dimension][outcome.units]
            counts = np.bincount(codes, minlength=len(names[dimension]))
            for code in np.flatnonzero(counts >= min_cases):
                if len(codes) - counts[code] < min_cases:
                    continue
                comparisons.append(
                    st.Comparison(
                        outcome=o,
                        dimension=dimension,
                        segment=str(names[dimension][code]),
                        code=int(code),
                        stratified=mix is not None and dimension != MIX_COLUMN,
                        mask=codes == code,
                    )
                )
    if not comparisons:
        return []
    if permutations is None:
        lookups = sum(
            len(outcomes[o].units) for o, _, _ in {(c.outcome, c.stratified, c.dimension) for c in comparisons}
        )
        # the top-down alternative's smallest level is SIGNIFICANCE / (2 M) (one of M segments selected, one of its
        # two pooled kinds): enough permutations that a permutation p can reach it, budget allowing
        n_segments = len({(c.dimension, c.segment) for c in comparisons})
        wanted = max(PERMUTATIONS, math.ceil(2 * n_segments / SIGNIFICANCE))
        permutations = max(MIN_PERMUTATIONS, min(wanted, PERMUTATION_BUDGET // max(lookups, 1)))
    z = st.permutation_z(outcomes, comparisons, labels, mix, permutations, seed)
    q = st.permutation_fdr(z)
    fwer = st.westfall_young(z)
    p_raw = st.one_sided_p(z[0])
    if top_down:
        return _with_top_down(
            log, _rows(log, outcomes, comparisons, z, q, fwer, p_raw, permutations), outcomes, comparisons, z
        )
    return _rows(log, outcomes, comparisons, z, q, fwer, p_raw, permutations)


def _with_top_down(
    log: EventLog, rows: list[dict[str, Any]], outcomes: list[Any], comparisons: list[Any], z: Any
) -> list[dict[str, Any]]:
    """``rows`` with the top-down test's values added, and one row per pooled node (``_pooled_rows``): the tree is
    segment → its pooled conversion and pooled waits → single comparisons (``segment_tests.tree_test``)."""
    import numpy as np

    from analytics import segment_tests as st

    by_segment: dict[tuple[str, str], dict[str, list[int]]] = {}
    for j, c in enumerate(comparisons):
        by_segment.setdefault((c.dimension, c.segment), {}).setdefault(outcomes[c.outcome].kind, []).append(j)
    pooled_columns: list[Any] = []
    pooled_sums: list[float] = []
    pooled_keys: list[tuple[tuple[str, str], str]] = []
    tree: list[dict[int, list[int]]] = []
    for key, kinds in by_segment.items():
        node: dict[int, list[int]] = {}
        for kind in ["conversion", "time"]:
            if kind in kinds:
                node[len(comparisons) + len(pooled_columns)] = kinds[kind]
                pooled_columns.append(st.node_statistic(z, kinds[kind]))
                pooled_sums.append(float(st.pooled_z(z, kinds[kind])[0]))
                pooled_keys.append((key, kind))
        tree.append(node)
    z_tree = np.column_stack([z, *pooled_columns])
    tested = st.tree_test(z_tree, tree, SIGNIFICANCE)
    family_size = {c: len(leaves) for node in tree for leaves in node.values() for c in leaves}
    family_size.update({n: len(node) for node in tree for n in node})

    def tree_values(column: int) -> dict[str, Any]:
        return {
            "segment_p": float(tested.family_p[column]),
            "segment_q": float(tested.family_q[column]),
            "segments": tested.segments,
            "segments_selected": tested.segments_selected,
            "p_within": float(tested.within_p[column]),
            "within_of": family_size[column],
            "level": float(tested.level[column]),
            "p_adjusted": float(tested.adjusted[column]),
            "tree_rejected": bool(tested.rejected[column]),
        }

    for j, row in enumerate(rows):
        row.update(tree_values(j))
    return rows + _pooled_rows(log, rows, pooled_keys, pooled_sums, z_tree, len(comparisons), tree_values)


def _rows(
    log: EventLog,
    outcomes: list[Any],
    comparisons: list[Any],
    z: Any,
    q: Any,
    fwer: Any,
    p_raw: Any,
    permutations: int,
) -> list[dict[str, Any]]:
    """One row per comparison: its test, z, raw p, q over all comparisons, family-wise p, effect and interval."""
    import numpy as np

    from analytics import segment_tests as st

    out: list[dict[str, Any]] = []
    for j, c in enumerate(comparisons):
        outcome = outcomes[c.outcome]
        seg, rest = outcome.values[c.mask], outcome.values[~c.mask]
        controlled = [DIMENSION_LABELS[MIX_COLUMN]] if c.stratified else []
        row: dict[str, Any] = {
            "kind": outcome.kind,
            "source": outcome.source,
            "target": outcome.target,
            "dimension": c.dimension,
            "segment": c.segment,
            "n_seg": int(c.mask.sum()),
            "n_rest": int((~c.mask).sum()),
            "z": float(z[0, j]),
            "p_raw": float(p_raw[j]),
            "q": float(q[j]),
            "p_fwer": float(fwer[j]),
            "controlled_for": controlled,
            "comparisons": len(comparisons),
            "permutations": permutations,
            "pooled": False,
        }
        if outcome.kind == "time":
            ratio, low, high = st.ratio_interval(outcome, c.mask, c.stratified)
            med_seg, med_rest = float(np.median(seg)), float(np.median(rest))
            extra = med_seg * (1 - 1 / ratio) if ratio > 0 else 0.0
            steps_seg = int(outcome.steps[c.mask].sum()) if outcome.steps is not None else int(c.mask.sum())
            row.update(
                test="van Elteren stratified rank test" if c.stratified else "Wilcoxon rank-sum test",
                effect=ratio,
                effect_low=low,
                effect_high=high,
                median_seg=med_seg,
                median_rest=med_rest,
                steps_seg=steps_seg,
                extra_days=extra,
                large=ratio >= SLOW_RATIO and extra >= MIN_EXTRA_DAYS,
            )
        else:
            gap, low, high = st.gap_interval(outcome, c.mask, c.stratified)
            row.update(
                test="Cochran-Mantel-Haenszel test" if c.stratified else "two-proportion test",
                effect=gap,
                effect_low=low,
                effect_high=high,
                rate_seg=float(seg.mean()),
                rate_rest=float(rest.mean()),
                case_ids=log.cases.index[outcome.units[c.mask]],
                large=gap >= MIN_RATE_GAP,
            )
        out.append(row)
    return out


def _pooled_rows(
    log: EventLog,
    rows: list[dict[str, Any]],
    keys: list[tuple[tuple[str, str], str]],
    sums: list[float],
    z: Any,
    first: int,
    tree_values: Callable[[int], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per pooled node of the tree (a segment's conversion outcomes together, its waits together): z is
    the node's statistic (the smaller p of their pooled z and of their largest z, as a z), pooled_z their pooled z.

    A pooled conversion row can itself be a finding ("converts less across the stages") when it pools at least two
    outcomes one of which is the win rate: its effect and interval are the win rate's, the end-to-end conversion.
    Pooled waits only gate their transitions (waits on different transitions of the same cases have no one
    effect with an honest interval), so they are never reported themselves.
    """
    from analytics import segment_tests as st

    p_raw = st.one_sided_p(z[0])
    out: list[dict[str, Any]] = []
    for k, ((dimension, segment), kind) in enumerate(keys):
        column = first + k
        members = [r for r in rows if (r["dimension"], r["segment"], r["kind"]) == (dimension, segment, kind)]
        won = next((r for r in members if kind == "conversion" and r["source"] == log.won_stage), None)
        row: dict[str, Any] = {
            "kind": kind,
            "source": log.won_stage if won is not None else None,
            "target": None,
            "dimension": dimension,
            "segment": segment,
            "z": float(z[0, column]),
            "pooled_z": sums[k],
            "p_raw": float(p_raw[column]),
            "q": math.nan,
            "p_fwer": math.nan,
            "controlled_for": members[0]["controlled_for"],
            "comparisons": members[0]["comparisons"],
            "permutations": members[0]["permutations"],
            "pooled": True,
            "pooled_outcomes": len(members),
            **tree_values(column),
        }
        if won is not None and len(members) >= 2:
            stratified = bool(won["controlled_for"])
            row.update({k: won[k] for k in ("n_seg", "n_rest", "effect", "effect_low", "effect_high", "rate_seg")})
            row.update({k: won[k] for k in ("rate_rest", "case_ids", "large")})
            row["test"] = (
                f"{'Cochran-Mantel-Haenszel' if stratified else 'two-proportion'} tests pooled over "
                f"{len(members)} conversion outcomes"
            )
        else:
            row.update(n_seg=members[0]["n_seg"], n_rest=members[0]["n_rest"], large=False, test="pooled")
            row.update(effect=math.nan, effect_low=math.nan, effect_high=math.nan)
        out.append(row)
    return out


def _slow_action(dimension: str, segment: str, source: str, target: str, typical: float, noun: str = "deals") -> str:
    day = max(1, math.ceil(typical))
    if dimension == "owner":
        return (
            f"Review {segment}'s open {source} {noun} in the next one-to-one and agree the step that moves each to "
            f"{target}; add a follow-up task at day {day} in {source}."
        )
    if dimension == "tenure_band":
        return (
            f"Pair newer reps with a veteran on {source} {noun} and give them a checklist for reaching {target}; "
            f"add a follow-up task at day {day} in {source}."
        )
    return (
        f"Give {segment} {noun} a dedicated {source} track: agree the {target} criteria and the buyer's decision "
        f"makers when the {singular_noun(noun)} enters {source}, and add a follow-up task at day {day}."
    )


def _conversion_action(dimension: str, segment: str, stage: str, won: bool, noun: str, first: bool) -> str:
    where = "closing" if won else f"moving {noun} on from {stage}"
    if dimension == "owner":
        return f"Pair {segment} with a top converter for {where} and review their open {noun} together every week."
    if dimension == "tenure_band":
        return f"Add coaching on {where} to the onboarding of reps in this tenure band, with weekly reviews."
    if first or won:
        return f"Review how {segment} {noun} are found and qualified, and write a playbook for {where}."
    return f"Check qualification of {segment} {noun} before they reach {stage}, and write a playbook for {where}."


def _rework_findings(
    log: EventLog, order: Sequence[str], steps: pd.DataFrame, min_cases: int, total_days: float
) -> list[Finding]:
    """Cases that re-entered a stage they had already been in: how often, and the days the detour cost.

    A detour runs from the re-entry until the case first reaches a stage it had never reached before (or ends);
    re-entries inside a running detour belong to it and are not counted twice.
    """
    import numpy as np

    if steps.empty:
        return []
    cases = steps[CASE].to_numpy()
    sources = steps["source"].astype(str).to_numpy()
    targets = steps["target"].astype(str).to_numpy()
    at = steps["at"].to_numpy()
    starts = np.flatnonzero(np.r_[True, cases[1:] != cases[:-1]])
    bounds = [*starts[1:].tolist(), len(cases)]
    detours: list[tuple[str, str, str, float]] = []  # case, source, target, days
    for a, b in zip(starts.tolist(), bounds, strict=True):
        visited = {sources[a]}
        open_since: int | None = None
        open_key: tuple[str, str] | None = None
        for j in range(a, b):
            target = targets[j]
            if target in visited:
                if open_since is None:
                    open_since, open_key = j, (sources[j], target)
            elif open_since is not None and open_key is not None:
                days = float((at[j] - at[open_since]) / np.timedelta64(1, "s")) / 86400.0
                detours.append((str(cases[a]), open_key[0], open_key[1], days))
                open_since = open_key = None
            visited.add(target)
        if open_since is not None and open_key is not None:
            days = float((at[b - 1] - at[open_since]) / np.timedelta64(1, "s")) / 86400.0
            detours.append((str(cases[a]), open_key[0], open_key[1], days))
    if not detours:
        return []
    import pandas as pd

    frame = pd.DataFrame(detours, columns=[CASE, "source", "target", "days"])
    findings: list[Finding] = []
    for (source, target), group in frame.groupby(["source", "target"]):
        n_cases = group[CASE].nunique()
        if n_cases < min_cases:
            continue
        cost = float(group["days"].sum())
        median_detour = float(group["days"].median())
        what = f"re-entered {source}" if source == target else f"went back from {source} to {target}"
        findings.append(
            Finding(
                kind="rework loop",
                title=f"Rework: {source} → {target}",
                statement=(
                    f"{n_cases} cases {what}; each detour took a median {_days(median_detour)} until the case "
                    f"reached a new stage (or ended), {cost:,.0f} {_day_unit(log.case_noun)} in all."
                ),
                action=(
                    f"Tighten the exit criteria of {target} (what must be true before moving on) so {log.case_noun} stop "
                    f"coming back to it; review the last {min(n_cases, 10)} detours for the common cause."
                ),
                source=str(source),
                target=str(target),
                evidence=Evidence(
                    metric="median detour", unit="days", segment_value=median_detour, segment_cases=int(n_cases)
                ),
                cost=cost,
                cost_unit="deal-days",
                impact=cost / total_days if total_days else 0.0,
            )
        )
    return findings


def _over_limit_findings(log: EventLog, steps: pd.DataFrame, min_cases: int, total_days: float) -> list[Finding]:
    findings: list[Finding] = []
    for stage, limit in log.stall_limit_days.items():
        waits = steps.loc[steps["source"].astype(str) == stage]
        over = waits[waits["wait_days"] > limit]
        if over[CASE].nunique() < min_cases:
            continue
        cost = float((over["wait_days"] - limit).sum())
        findings.append(
            Finding(
                kind="slow transition",
                title=f"{stage} runs past its {limit}-day limit",
                statement=(
                    f"{over[CASE].nunique():,} of {waits[CASE].nunique():,} cases stayed in {stage} longer than the "
                    f"playbook's {limit} days before moving on (median {_days(float(over['wait_days'].median()))}), "
                    f"{cost:,.0f} {_day_unit(log.case_noun)} past the limit."
                ),
                action=(
                    f"Add a follow-up task when a {singular_noun(log.case_noun)} passes {limit} days in {stage} and "
                    f"review the oldest ones in "
                    f"the weekly pipeline meeting."
                ),
                source=stage,
                evidence=Evidence(
                    metric="share over the limit",
                    unit="share",
                    segment_value=float(over[CASE].nunique() / max(waits[CASE].nunique(), 1)),
                    segment_cases=int(over[CASE].nunique()),
                    rest_cases=int(waits[CASE].nunique() - over[CASE].nunique()),
                ),
                cost=cost,
                cost_unit="deal-days",
                impact=cost / total_days if total_days else 0.0,
            )
        )
    return findings


def is_reported(comparison: dict[str, Any]) -> bool:
    """A comparison becomes a finding when its q-value is at most SIGNIFICANCE and its effect is material."""
    return bool(comparison["q"] <= SIGNIFICANCE and comparison["large"])


def is_reported_top_down(comparison: dict[str, Any]) -> bool:
    """The top-down alternative (``segment_comparisons(top_down=True)``): rejected by ``segment_tests.tree_test``
    at SIGNIFICANCE and material. Measured beside the report's rule by ``bench.bottleneck_sweep``; not reported."""
    return bool(comparison["tree_rejected"] and comparison["large"])


def _p_text(p: float, permutations: int) -> str:
    floor = 1 / permutations
    return f"<{floor:.1g}" if p < floor else f"={p:.2g}"


def _test_clause(c: dict[str, Any]) -> str:
    """The test, what it compared within and its q, short enough for a finding's sentence."""
    within = f" within {' and '.join(c['controlled_for'])}" if c["controlled_for"] else ""
    return f"{c['test']}{within}, q{_p_text(c['q'], c['permutations'])} over {c['comparisons']:,} comparisons"


def _method_text(c: dict[str, Any], noun: str) -> str:
    """How a finding was tested, as one sentence: the test, what it controlled for, what q covers, family-wise p."""
    if c["controlled_for"]:
        mix = " and ".join(c["controlled_for"])
        control, where = f" within {mix} (the rest compared on the same {mix}s)", f" within {mix}s"
    else:
        control, where = f" against all other {noun}", ""
    test = c["test"][:1].upper() + c["test"][1:]
    return (
        f"{test}{control}; q is the false discovery rate over all {c['comparisons']:,} segment comparisons made, "
        f"calibrated by {c['permutations']:,} permutations of the segment labels{where}; family-wise "
        f"p{_p_text(c['p_fwer'], c['permutations'])} (Westfall-Young)."
    )


def _segment_findings(
    log: EventLog,
    steps: pd.DataFrame,
    progress: pd.DataFrame,
    stage_frame: pd.DataFrame,
    dimensions: Sequence[str],
    min_cases: int,
    total_days: float,
    *,
    permutations: int | None = None,
    seed: int = PERMUTATION_SEED,
) -> list[Finding]:
    compared = _comparisons(
        log, steps, progress, stage_frame, dimensions, min_cases, permutations=permutations, seed=seed
    )
    findings: list[Finding] = []
    amounts = log.cases["amount"] if "amount" in log.cases.columns else None
    n_cases = max(len(progress), 1)
    for c in compared:
        if not is_reported(c):
            continue
        p = c["q"]
        label = DIMENSION_LABELS.get(c["dimension"], c["dimension"])
        who = _segment_phrase(c["dimension"], c["segment"], log.case_noun)
        mix = f" on the same {singular_noun(log.case_noun)} mix" if c["controlled_for"] else ""
        evidence = Evidence(
            metric="",
            unit="",
            segment_value=0.0,
            segment_cases=c["n_seg"],
            rest_cases=c["n_rest"],
            p_value=p,
            p_family_wise=c["p_fwer"],
            p_raw=c["p_raw"],
            test=c["test"],
            controlled_for=c["controlled_for"],
            effect=c["effect"],
            effect_low=c["effect_low"],
            effect_high=c["effect_high"],
            comparisons=c["comparisons"],
            permutations=c["permutations"],
        )
        if c["kind"] == "time":
            cost = c["steps_seg"] * c["extra_days"]
            evidence.metric = f"median days {c['source']} → {c['target']}"
            evidence.unit = "days"
            evidence.effect_unit = "times as long (geometric mean)"
            evidence.segment_value, evidence.rest_value = c["median_seg"], c["median_rest"]
            findings.append(
                Finding(
                    kind="slow segment",
                    title=f"{c['source']} → {c['target']} is slow for {c['segment']} ({label})",
                    statement=(
                        f"{who} take a median {_days(c['median_seg'])} to go from {c['source']} to {c['target']}, "
                        f"against {_days(c['median_rest'])} for the rest ({c['n_seg']:,} vs {c['n_rest']:,} cases): "
                        f"{c['effect']:.1f}× as long{mix} (95% CI {c['effect_low']:.1f}–{c['effect_high']:.1f}×; "
                        f"{_test_clause(c)}), about {cost:,.0f} extra {_day_unit(log.case_noun)}."
                    ),
                    method=_method_text(c, log.case_noun),
                    action=_slow_action(
                        c["dimension"], c["segment"], c["source"], c["target"], c["median_rest"], log.case_noun
                    ),
                    dimension=c["dimension"],
                    segment=c["segment"],
                    source=c["source"],
                    target=c["target"],
                    evidence=evidence,
                    cost=cost,
                    cost_unit="deal-days",
                    impact=cost / total_days if total_days else 0.0,
                )
            )
            continue
        lost_deals = c["n_seg"] * c["effect"]
        won = c["source"] == log.won_stage
        revenue, currency, by_currency = _revenue_at_risk(log.cases, amounts, c["case_ids"], lost_deals)
        what = "are won" if won else f"move on from {c['source']}"
        in_words = revenue_in_words(revenue, by_currency)
        value = "deal value" if log.case_noun in ("deals", "leads") else "value"  # a lead's amount is its deal's
        money = f" (≈ {in_words} in {value})" if in_words else ""
        evidence.metric = "win rate" if won else f"conversion from {c['source']}"
        evidence.unit = "share"
        evidence.effect_unit = "share lower than the rest"
        evidence.segment_value, evidence.rest_value = c["rate_seg"], c["rate_rest"]
        title = (
            f"Low win rate: {c['segment']} ({label})"
            if won
            else f"Low conversion at {c['source']}: {c['segment']} ({label})"
        )
        findings.append(
            Finding(
                kind="low conversion",
                title=title,
                statement=(
                    f"{who} {what} {c['rate_seg']:.0%} of the time, against {c['rate_rest']:.0%} for the rest "
                    f"({c['n_seg']:,} vs {c['n_rest']:,} decided cases): {c['effect'] * 100:.0f} points lower{mix} "
                    f"(95% CI {c['effect_low'] * 100:.0f}–{c['effect_high'] * 100:.0f}; "
                    f"{_test_clause(c)}), about {lost_deals:,.{0 if lost_deals >= 10 else 1}f} fewer "
                    f"{log.case_noun}{money}."
                ),
                method=_method_text(c, log.case_noun),
                action=_conversion_action(
                    c["dimension"],
                    c["segment"],
                    c["source"],
                    won,
                    log.case_noun,
                    bool(log.stages) and c["source"] == log.stages[0],
                ),
                dimension=c["dimension"],
                segment=c["segment"],
                source=c["source"],
                evidence=evidence,
                cost=lost_deals,
                cost_unit="deals",
                impact=lost_deals / n_cases,
                revenue_at_risk=revenue,
                revenue_currency=currency,
                revenue_at_risk_by_currency=by_currency,
            )
        )
    return findings


def _revenue_at_risk(
    cases: pd.DataFrame, amounts: pd.Series | None, case_ids: Any, lost_deals: float
) -> tuple[float | None, str | None, dict[str, float]]:
    """Deal value of ``lost_deals`` fewer conversions among ``case_ids``: (value, its currency, value per currency).

    Amounts are typical (median) values within one currency only: the lost deals are shared among the currencies
    of the segment's cases, and each share is valued at that currency's median. One currency: its value; several:
    no single value. A log without currencies (a file) gives a value in its own unnamed unit.
    """
    if amounts is None:
        return None, None, {}
    segment = amounts.reindex(case_ids)
    if "currency" not in cases.columns:
        typical = segment.median()
        return (float(lost_deals * typical), None, {}) if typical == typical else (None, None, {})
    currencies = cases["currency"].reindex(case_ids).astype(object).fillna("unknown").astype(str)
    by_currency: dict[str, float] = {}
    for code, values in segment.groupby(currencies):
        typical = values.median()
        if typical == typical:  # not NaN: the currency has deals with amounts
            by_currency[str(code)] = float(lost_deals * len(values) / len(segment) * typical)
    if len(by_currency) == 1:
        ((code, value),) = by_currency.items()
        return value, code, by_currency
    return None, None, by_currency


def _ignored_segments(log: EventLog, dimensions: Sequence[str], min_cases: int) -> list[IgnoredSegment]:
    ignored = []
    for dimension in dimensions:
        counts = log.cases[dimension].astype(object).fillna("unknown").astype(str).value_counts()
        for value, n in counts.items():
            if n < min_cases:
                ignored.append(
                    IgnoredSegment(
                        dimension=dimension,
                        segment=str(value),
                        cases=int(n),
                        reason=f"only {n} cases (need at least {min_cases} to compare)",
                    )
                )
    return ignored


def _cycle_times(
    log: EventLog, progress: pd.DataFrame, dimensions: Sequence[str], min_cases: int
) -> list[SegmentCycleTime]:
    finished = progress[~progress["open"]]
    days = (finished["last_at"] - finished["first_at"]).dt.total_seconds() / 86400.0
    out = []
    for dimension in dimensions:
        labels = log.cases[dimension].astype(object).fillna("unknown").astype(str).reindex(days.index)
        for value, group in days.groupby(labels):
            if len(group) < min_cases:
                continue
            out.append(
                SegmentCycleTime(
                    dimension=dimension,
                    segment=str(value),
                    cases=len(group),
                    median_days=float(group.median()),
                    p90_days=float(group.quantile(0.9)),
                )
            )
    return out


def at_risk_deals(
    log: EventLog,
    steps: pd.DataFrame,
    now: datetime,
    *,
    stalled: dict[str, str] | None = None,
    quiet_days: int = 14,
    limit: int = 25,
) -> list[AtRiskDeal]:
    """Open deals past their stage's stall limit (stalled), or slower than 3 in 4 past deals there (at risk).

    ``stalled`` (case id → reason) comes from the domain's stall rule when the log is the store's, so the report
    and `salesgraph deals stalled` agree; otherwise the limit is checked here against the last event.
    """
    needed = {"outcome", "current_stage", "stage_entered_at"}
    if not needed <= set(log.cases.columns):
        return []
    open_cases = log.cases[log.cases["outcome"] == "open"]
    typical = steps.groupby(steps["source"].astype(str))["wait_days"].quantile(AT_RISK_QUANTILE)
    rows: list[tuple[float, AtRiskDeal]] = []
    for case_id, case in open_cases.iterrows():
        stage = str(case["current_stage"])
        days = (now - case["stage_entered_at"].to_pydatetime()).total_seconds() / 86400.0
        last = case.get("last_activity_at")
        idle = (now - last.to_pydatetime()).total_seconds() / 86400.0 if last is not None and last == last else days
        limit_days = log.stall_limit_days.get(stage)
        q = typical.get(stage)
        quiet = f"; no activity for {idle:.0f} days" if idle >= quiet_days else ""
        amount = float(case["amount"]) if case.get("amount") == case.get("amount") and case.get("amount") else None
        currency = str(case["currency"]) if amount is not None and case.get("currency") else None
        if stalled is not None:
            if str(case_id) in stalled:
                rows.append(
                    (
                        1000 + days,
                        AtRiskDeal(
                            case_id=str(case_id),
                            name=str(case.get("name")) if case.get("name") is not None else None,
                            owner=str(case.get("owner")) if case.get("owner") is not None else None,
                            stage=stage,
                            days_in_stage=int(days),
                            amount=amount,
                            currency=currency,
                            status="stalled",
                            reason=stalled[str(case_id)],
                        ),
                    )
                )
                continue
            limit_days = None  # the domain already judged the stall limit
        if limit_days is not None and idle > limit_days:
            status: Literal["stalled", "at risk"] = "stalled"
            reason = (
                f"in {stage} {days:.0f} days with no stage change or activity for {idle:.0f} days (limit {limit_days})"
            )
            score = idle - limit_days + 1000
        elif q is not None and days > q and days >= 1:
            status = "at risk"
            reason = f"in {stage} {days:.0f} days; 3 in 4 past {log.case_noun} moved on within {q:.0f} days{quiet}"
            score = days - q
        else:
            continue
        rows.append(
            (
                score,
                AtRiskDeal(
                    case_id=str(case_id),
                    name=str(case.get("name")) if case.get("name") is not None else None,
                    owner=str(case.get("owner")) if case.get("owner") is not None else None,
                    stage=stage,
                    days_in_stage=int(days),
                    amount=amount,
                    currency=currency,
                    status=status,
                    reason=reason,
                ),
            )
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    return [r[1] for r in rows[:limit]]


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def _to_transition_metrics(dfg: pd.DataFrame, limit: int | None = None) -> list[TransitionMetric]:
    rows = dfg if limit is None else dfg.head(limit)
    return [
        TransitionMetric(
            source=str(r["source"]),
            target=str(r["target"]),
            count=int(r["count"]),
            cases=int(r["cases"]),
            median_days=float(r["median_days"]),
            p90_days=float(r["p90_days"]),
        )
        for r in rows.to_dict("records")
    ]


def analyse_event_log(
    log: EventLog,
    *,
    segment: str | Sequence[str] | None = None,
    min_segment_cases: int = MIN_SEGMENT_CASES,
    fitness_threshold: float = 0.85,
    conformance_check: bool = True,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    requested_by: str | None = None,
    since: date | None = None,
    stalled: dict[str, str] | None = None,
) -> BottleneckReport:
    """The full bottleneck analysis of one event log, ranked findings first. Pure: reads only ``log``."""
    from analytics import process

    step = progress or (lambda _label: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        timings[name] = round(now_ - clock, 4)
        clock = now_

    if log.events.empty:
        raise InvalidInput({"events": f"{log.source} has no events"})
    dimensions = _resolve_dimensions(log, segment)
    notes = list(log.notes)
    step("directly-follows graph")
    stage_frame = process.stage_events(log)
    if stage_frame.empty:
        raise InvalidInput({"events": f"{log.source} has no stage events ({', '.join(log.stages)})"})
    order = process.activity_order(log, stage_frame)
    steps = process.transitions(stage_frame)
    stage_dfg = process.directly_follows(stage_frame)
    activity_dfg = stage_dfg if stage_frame is log.events else process.directly_follows(log.events)
    lap("directly_follows")

    step("stage metrics")
    progress_frame = case_progress(log, stage_frame, order)
    metrics = stage_metrics(log, order, steps, progress_frame, stage_frame)
    funnel_steps = funnel(log, order, progress_frame, stage_frame)
    cycle = _cycle_times(log, progress_frame, dimensions, min_segment_cases)
    lap("stage_metrics")

    step("segment comparisons")
    total_days = float(steps["wait_days"].sum())
    findings = _segment_findings(log, steps, progress_frame, stage_frame, dimensions, min_segment_cases, total_days)
    findings += _over_limit_findings(log, steps, min_segment_cases, total_days)
    findings += _rework_findings(log, order, steps, min_segment_cases, total_days)
    findings = rank_findings(findings)
    ignored = _ignored_segments(log, dimensions, min_segment_cases)
    if ignored:
        verb, was = ("segment has", "was") if len(ignored) == 1 else ("segments have", "were")
        notes.append(
            f"{len(ignored)} {verb} fewer than {min_segment_cases} cases and {was} not compared "
            "(listed under 'Segments too small to judge')"
        )
    lap("findings")

    summary: ConformanceSummary | None = None
    # The stage process is what a playbook governs; without one the whole log is the process. Only completed
    # cases are judged, against the playbook or a model mined on the earlier of them.
    conformance_events = stage_frame if log.stages else log.events
    done = process.completed_cases(log, conformance_events) if conformance_check else None
    if done is not None and done.completed.empty:
        notes.append(f"conformance not checked: none of the {log.case_noun} is complete yet ({done.rule})")
    elif done is not None:
        step("process model and conformance")
        result = process.check_conformance(log, conformance_events, threshold=fitness_threshold, progress=step)
        assert result.discovered is not None
        discovered = result.discovered
        timings.update({f"conformance_{k}": v for k, v in result.timings.items()})
        summary = ConformanceSummary(
            model=result.model,
            model_description=result.model_description,
            threshold=result.threshold,
            mean_fitness=result.mean_fitness,
            share_below_threshold=result.share_below_threshold,
            cases_replayed=result.cases_replayed,
            cases_total=result.cases_total,
            alignment_fitness=result.alignment_fitness,
            deviations=[DeviationRow(**d.__dict__) for d in result.deviations],
            discovered_model=(
                f"{discovered.model.description}: {discovered.model.transitions} transitions, "
                f"{discovered.model.places} places"
            ),
            notes=result.notes,
            precision=result.precision,
            precision_cases=result.precision_cases,
            completed_cases=result.completed_cases,
            open_cases=result.open_cases,
            completion_rule=result.completion_rule,
            evaluated_on=result.evaluated_on,
            model_source=result.model_source,
        )
        notes += result.notes
        lap("conformance")
    step("queue and working time, resources")
    lifecycle = process.lifecycle_times(log)
    resources = process.resource_workload(log)
    lap("lifecycle_and_resources")

    from store.types import utcnow

    reference = now or utcnow()
    risky = at_risk_deals(log, steps, reference, stalled=stalled)
    lap("at_risk")
    events = log.events
    report = BottleneckReport(
        source=log.source,
        generated_at=utcnow(),
        requested_by=requested_by,
        since=since,
        cases=log.n_cases,
        events=log.n_events,
        activities=int(events[ACTIVITY].nunique()),
        first_event=events[TIMESTAMP].min().to_pydatetime(),
        last_event=events[TIMESTAMP].max().to_pydatetime(),
        stage_order=list(order),
        dimensions=list(dimensions),
        min_segment_cases=min_segment_cases,
        findings=findings,
        stage_metrics=metrics,
        transitions=_to_transition_metrics(stage_dfg),
        activity_transitions=_to_transition_metrics(activity_dfg, 25),
        funnel=funnel_steps,
        cycle_time_by_segment=cycle,
        conformance=summary,
        case_noun=log.case_noun,
        lifecycle=lifecycle,
        resources=resources,
        at_risk=risky,
        ignored_segments=ignored,
        notes=notes,
        timings=timings,
    )
    report.summary = summarise(report)
    return report


def _segment_inputs(
    log: EventLog, segment: str | Sequence[str] | None
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from analytics import process

    dimensions = _resolve_dimensions(log, segment)
    stage_frame = process.stage_events(log)
    if stage_frame.empty:
        raise InvalidInput({"events": f"{log.source} has no stage events ({', '.join(log.stages)})"})
    order = process.activity_order(log, stage_frame)
    steps = process.transitions(stage_frame)
    return dimensions, stage_frame, steps, case_progress(log, stage_frame, order)


def segment_findings(
    log: EventLog,
    segment: str | Sequence[str] | None = None,
    *,
    min_segment_cases: int = MIN_SEGMENT_CASES,
    permutations: int | None = None,
    seed: int = PERMUTATION_SEED,
) -> list[Finding]:
    """Only the segment findings (slow segments, low conversion) of ``analyse_event_log``, without mining.

    The statistics the seed sweep and the shuffled-label checks repeat many times.
    """
    dimensions, stage_frame, steps, progress_frame = _segment_inputs(log, segment)
    total_days = float(steps["wait_days"].sum())
    return _segment_findings(
        log,
        steps,
        progress_frame,
        stage_frame,
        dimensions,
        min_segment_cases,
        total_days,
        permutations=permutations,
        seed=seed,
    )


def segment_comparisons(
    log: EventLog,
    segment: str | Sequence[str] | None = None,
    *,
    min_segment_cases: int = MIN_SEGMENT_CASES,
    permutations: int | None = None,
    seed: int = PERMUTATION_SEED,
    top_down: bool = False,
) -> list[dict[str, Any]]:
    """Every segment comparison the findings are chosen from (``is_reported``), with its z, raw p, q-value,
    family-wise p, effect and interval: what a sweep needs to compare correction methods on the same tests.
    ``top_down``: also the top-down alternative's values and pooled rows (``is_reported_top_down``)."""
    dimensions, stage_frame, steps, progress_frame = _segment_inputs(log, segment)
    return _comparisons(
        log,
        steps,
        progress_frame,
        stage_frame,
        dimensions,
        min_segment_cases,
        permutations=permutations,
        seed=seed,
        top_down=top_down,
    )


def shuffled_segments(log: EventLog, seed: int, dimensions: Sequence[str] = DEFAULT_DIMENSIONS) -> EventLog:
    """The log with each segment column permuted across cases: every segment difference is then chance."""
    from dataclasses import replace

    import numpy as np

    rng = np.random.default_rng(seed)
    cases = log.cases.copy()
    for column in dimensions:
        if column in cases.columns:
            cases[column] = rng.permutation(cases[column].to_numpy())
    return replace(log, cases=cases)


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """Time findings first, by extra deal-days; then conversion gaps, by revenue at risk (by deals when there are
    no amounts or the amounts are in several currencies).

    Days and lost deals are different currencies and any exchange rate between them would be invented, so they
    are ranked in two groups rather than on one made-up scale. Time comes first because the question this
    analysis answers is where deals get stuck; the summary names the top of both groups.
    """
    time_lost = sorted((f for f in findings if f.cost_unit == "deal-days"), key=lambda f: f.cost, reverse=True)
    gaps = [f for f in findings if f.cost_unit == "deals"]
    # values in different currencies cannot be ranked against each other: then lost deals alone decide
    one_currency = len({code for f in gaps for code in f.revenue_at_risk_by_currency}) <= 1
    deals_lost = sorted(
        gaps,
        key=lambda f: ((f.revenue_at_risk or 0.0) if one_currency else 0.0, f.cost),
        reverse=True,
    )
    ranked = time_lost[:MAX_FINDINGS] + deals_lost[:MAX_FINDINGS]
    for i, finding in enumerate(ranked, start=1):
        finding.rank = i
    return ranked


def summarise(report: BottleneckReport) -> str:
    """Two or three sentences: what was analysed, the top bottleneck and the biggest conversion gap, with actions."""
    head = f"Analysed {report.cases:,} cases ({report.events:,} events) from {report.source}."
    if not report.findings:
        return head + " No bottleneck passed the thresholds (segment size, effect size, significance)."
    parts = [head]
    slow = next((f for f in report.findings if f.cost_unit == "deal-days"), None)
    gap = next((f for f in report.findings if f.cost_unit == "deals"), None)
    if slow is not None:
        parts.append(f"Top bottleneck: {slow.statement} Recommended: {slow.action}")
    if gap is not None:
        parts.append(f"Biggest conversion gap: {gap.statement} Recommended: {gap.action}")
    stalled = sum(1 for d in report.at_risk if d.status == "stalled")
    if stalled:
        noun = report.case_noun if stalled != 1 else singular_noun(report.case_noun)
        parts.append(f"{stalled} open {noun} {'are' if stalled != 1 else 'is'} stalled.")
    return " ".join(parts)


def bottleneck_analysis(
    session: Session,
    actor: Actor,
    segment: str | None = None,
    since: date | datetime | None = None,
    *,
    machine: StageMachine | None = None,
    now: datetime | None = None,
    min_segment_cases: int = MIN_SEGMENT_CASES,
    fitness_threshold: float = 0.85,
    progress: ProgressCallback | None = None,
    cases: Literal["deals", "leads"] = "deals",
) -> BottleneckReport:
    """Bottleneck analysis of the deals (or leads) ``actor`` may see (reps their own, managers their team's)."""
    from analytics.eventlog import event_log_from_store, lead_event_log_from_store

    if segment is not None and segment not in SEGMENT_DIMENSIONS and segment not in SEGMENT_DIMENSIONS.values():
        raise InvalidInput({"segment": f"{segment!r} is not a segment; choose from {', '.join(SEGMENT_DIMENSIONS)}"})
    from sales.deals import list_stalled_deals
    from sales.stages import workspace_machine
    from store.types import utcnow

    machine = machine or workspace_machine(session)
    now = now or utcnow()
    stalled: dict[str, str] | None
    if cases == "leads":
        log = lead_event_log_from_store(session, actor, since=since)
        stalled = None
    else:
        log = event_log_from_store(session, actor, since=since, machine=machine)
        stalled = {str(d.deal_id): d.reason for d in list_stalled_deals(session, actor, now=now, machine=machine)}
    since_date = since.date() if isinstance(since, datetime) else since
    return analyse_event_log(
        log,
        segment=segment,
        min_segment_cases=min_segment_cases,
        fitness_threshold=fitness_threshold,
        now=now,
        progress=progress,
        requested_by=actor.email,
        since=since_date,
        stalled=stalled,
    )
