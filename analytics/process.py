"""Process discovery and conformance: directly-follows graph with frequency and waiting times, an inductive-miner
model, token-replay fitness and ETConformance precision of completed cases against the sales playbook (or a model
mined on a training split when there is no playbook), queue vs working time from start/complete lifecycle events,
and resource workload and handovers.

Statistics are vectorised pandas over the events frame; pm4py is used for the model, the replay (on the distinct
variants, each replayed once and weighted by its cases) and precision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from analytics.eventlog import ACTIVITY, CASE, LIFECYCLE, RESOURCE, TIMESTAMP, EventLog

if TYPE_CHECKING:
    import pandas as pd

SECONDS_PER_DAY = 86400.0
DEFAULT_FITNESS_THRESHOLD = 0.85
# The inductive miner's infrequent-behaviour filter (IMf): directly-follows edges under this share of their
# source's outgoing frequency are treated as noise. pm4py's documented default for IMf.
MINER_NOISE_THRESHOLD = 0.2
# Without a playbook the model is mined on the earliest TRAIN_SHARE of completed cases and judged on the rest.
TRAIN_SHARE = 0.7
# ETConformance replays every distinct prefix (about 35 s for BPI 2012's 3,800 held-out cases on 2 cores), so
# precision is computed on a seeded random sample of the evaluated cases; the sample size is reported with it.
PRECISION_MAX_CASES = 300
# An activity ends cases (an end marker) when it is the last event of at least this share of the cases it is in.
END_MARKER_SHARE = 0.9
# Alignments are exact but exponential on noisy logs: only on small logs.
ALIGNMENT_MAX_VARIANTS = 60
ALIGNMENT_MAX_TRACE_LENGTH = 25


def quiet_import_pm4py() -> Any:
    """Import pm4py without its licence banner on stdout (it would land in CLI output and JSON)."""
    import contextlib
    import io
    import sys

    if "pm4py" in sys.modules:
        return sys.modules["pm4py"]
    with contextlib.redirect_stdout(io.StringIO()):
        import pm4py
    return pm4py


def stage_events(log: EventLog) -> pd.DataFrame:
    """The events that are stage entries (the playbook's stages); every event when the log has no playbook."""
    if not log.stages:
        return log.events
    wanted = set(log.stages) | set(log.outcome_stages)
    mask = log.events[ACTIVITY].isin(wanted)
    return log.events[mask]


def transitions(events: pd.DataFrame) -> pd.DataFrame:
    """Each pair of consecutive events in a case: case_id, source, target, wait_days, at (the target's time)."""
    import numpy as np
    import pandas as pd

    ordered = _sorted(events)
    cases = ordered[CASE].to_numpy()
    same_case = np.zeros(len(ordered), dtype=bool)
    if len(ordered) > 1:
        same_case[1:] = cases[1:] == cases[:-1]
    ts = ordered[TIMESTAMP].to_numpy(dtype="datetime64[ms]")
    activity = ordered[ACTIVITY]
    if not isinstance(activity.dtype, pd.CategoricalDtype):
        activity = activity.astype("category")
    codes = activity.cat.codes.to_numpy()
    categories = activity.cat.categories
    idx = np.flatnonzero(same_case)
    waits = (ts[idx] - ts[idx - 1]).astype("timedelta64[ms]").astype(np.float64) / 1000.0 / SECONDS_PER_DAY
    return pd.DataFrame(
        {
            CASE: cases[idx],
            "source": pd.Categorical.from_codes(codes[idx - 1], categories=categories),
            "target": pd.Categorical.from_codes(codes[idx], categories=categories),
            "wait_days": waits,
            "at": ts[idx],
        }
    )


def _sorted(events: pd.DataFrame) -> pd.DataFrame:
    """Events in case and time order; validated logs already are, so the common case costs one check."""
    import numpy as np

    cases = events[CASE].to_numpy()
    ts = events[TIMESTAMP].to_numpy(dtype="datetime64[ms]")
    if len(events) < 2:
        return events
    same = cases[1:] == cases[:-1]
    case_sorted = bool(np.all(cases[1:][~same] > cases[:-1][~same]))
    time_sorted = bool(np.all(ts[1:][same] >= ts[:-1][same]))
    if case_sorted and time_sorted:
        return events
    return events.sort_values([CASE, TIMESTAMP], kind="stable")


def directly_follows(events: pd.DataFrame) -> pd.DataFrame:
    """The directly-follows graph: per (source, target) the count, distinct cases, median, p90 and mean wait in days."""
    steps = transitions(events)
    if steps.empty:
        import pandas as pd

        return pd.DataFrame(columns=["source", "target", "count", "cases", "median_days", "p90_days", "mean_days"])
    grouped = steps.groupby(["source", "target"], observed=True)
    out = grouped["wait_days"].agg(["size", "median", "mean"])
    out.columns = ["count", "median_days", "mean_days"]
    out["p90_days"] = grouped["wait_days"].quantile(0.9)
    out["cases"] = steps.drop_duplicates([CASE, "source", "target"]).groupby(["source", "target"], observed=True).size()
    out = out.reset_index().sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    out["source"] = out["source"].astype(str)
    out["target"] = out["target"].astype(str)
    return out[["source", "target", "count", "cases", "median_days", "p90_days", "mean_days"]]


def start_end_counts(events: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    ordered = events.sort_values([CASE, TIMESTAMP], kind="stable")
    by_case = ordered.groupby(CASE, observed=True, sort=False)[ACTIVITY]
    starts = by_case.first().astype(str).value_counts()
    ends = by_case.last().astype(str).value_counts()
    return {str(k): int(v) for k, v in starts.items()}, {str(k): int(v) for k, v in ends.items()}


def case_variants(events: pd.DataFrame) -> pd.Series:
    """case_id → the case's activity sequence as a tuple (its variant)."""
    import numpy as np
    import pandas as pd

    ordered = _sorted(events)
    if ordered.empty:
        return pd.Series([], dtype=object)
    cases = ordered[CASE].to_numpy()
    activity = ordered[ACTIVITY].astype("category")
    names = [str(c) for c in activity.cat.categories]
    codes = activity.cat.codes.to_numpy()
    starts = np.flatnonzero(np.r_[True, cases[1:] != cases[:-1]])
    bounds = [*starts[1:].tolist(), len(codes)]
    # One tuple of codes per case, then one tuple of names per distinct variant: cheap even for 1M events.
    code_variants = [tuple(codes[a:b].tolist()) for a, b in zip(starts.tolist(), bounds, strict=True)]
    names_of = {v: tuple(names[c] for c in v) for v in set(code_variants)}
    return pd.Series([names_of[v] for v in code_variants], index=pd.Index(cases[starts], name=CASE), dtype=object)


def activity_order(log: EventLog, events: pd.DataFrame | None = None) -> list[str]:
    """Activities in the order a reader expects: the playbook's, else by their median position within cases."""
    if log.stages:
        present = set((events if events is not None else stage_events(log))[ACTIVITY].astype(str).unique())
        ordered = [s for s in (*log.stages, *log.outcome_stages) if s in present]
        return ordered + sorted(present - set(ordered))
    frame = events if events is not None else log.events
    ordered_frame = _sorted(frame)
    # Where each activity first happens in its case, averaged: start activities come first, endings last.
    position = ordered_frame.groupby(CASE, observed=True).cumcount()
    first = ordered_frame.assign(_pos=position.to_numpy(), _act=ordered_frame[ACTIVITY].astype(str))
    first = first.drop_duplicates([CASE, "_act"])
    medians = first.groupby("_act")["_pos"].mean().sort_values(kind="stable")
    return [str(a) for a in medians.index]


# ---------------------------------------------------------------------------------------------------------------
# Models


@dataclass
class ProcessModel:
    net: Any
    initial_marking: Any
    final_marking: Any
    kind: str  # "playbook" or "inductive miner"
    description: str
    transitions: int
    places: int


def _pm4py_log(variants: Sequence[tuple[str, ...]]) -> Any:
    quiet_import_pm4py()
    from pm4py.objects.log.obj import Event, EventLog, Trace

    log = EventLog()
    for variant in variants:
        log.append(Trace([Event({"concept:name": a}) for a in variant]))
    return log


def playbook_model(stages: Sequence[str], won: str | None, lost: str | None) -> ProcessModel:
    """The playbook as a Petri net: stages strictly in order, then Won; Lost may end the case after any stage."""
    quiet_import_pm4py()
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    if not stages:
        raise ValueError("a playbook needs at least one stage")
    net = PetriNet("playbook")
    places = [PetriNet.Place(f"p{i}") for i in range(len(stages) + 1)]
    end = PetriNet.Place("end")
    for p in (*places, end):
        net.places.add(p)
    for i, stage in enumerate(stages):
        t = PetriNet.Transition(f"t_{i}", stage)
        net.transitions.add(t)
        petri_utils.add_arc_from_to(places[i], t, net)
        petri_utils.add_arc_from_to(t, places[i + 1], net)
    outcomes = []
    if won:
        outcomes.append(("won", won, [places[-1]]))
    if lost:
        outcomes.append(("lost", lost, places[1:]))
    if not outcomes:
        skip = PetriNet.Transition("t_end", None)
        net.transitions.add(skip)
        petri_utils.add_arc_from_to(places[-1], skip, net)
        petri_utils.add_arc_from_to(skip, end, net)
    for key, label, sources in outcomes:
        for j, source in enumerate(sources):
            t = PetriNet.Transition(f"t_{key}_{j}", label)
            net.transitions.add(t)
            petri_utils.add_arc_from_to(source, t, net)
            petri_utils.add_arc_from_to(t, end, net)
    im = Marking({places[0]: 1})
    fm = Marking({end: 1})
    sequence = " → ".join(stages) + (f" → {won}" if won else "") + (f" (or {lost} after any stage)" if lost else "")
    return ProcessModel(net, im, fm, "playbook", sequence, len(net.transitions), len(net.places))


@dataclass
class DiscoveredModel:
    model: ProcessModel
    variants_used: int
    variants_total: int
    cases_covered: float
    cases_used: int = 0


def discover_model(
    variants: pd.Series, *, noise_threshold: float = MINER_NOISE_THRESHOLD, source: str | None = None
) -> DiscoveredModel:
    """Inductive miner with infrequent-behaviour filtering (IMf) on every variant of ``variants`` (case →
    activity tuple), weighted by how many cases follow it; ``source`` says which cases those are in the model's
    description (for example "the earliest 70% of completed cases")."""
    from collections import Counter

    pm4py = quiet_import_pm4py()
    from pm4py.algo.discovery.inductive.dtypes.im_ds import IMDataStructureUVCL
    from pm4py.algo.discovery.inductive.variants.imf import IMFUVCL
    from pm4py.objects.process_tree.utils.generic import fold, tree_sort

    counts = variants.value_counts()
    if counts.empty:
        raise ValueError("no cases to mine a process model from")
    uvcl: Counter[tuple[str, ...]] = Counter({tuple(v): int(n) for v, n in counts.items()})  # type: ignore[arg-type]
    parameters = {"noise_threshold": noise_threshold}
    tree = fold(IMFUVCL(parameters).apply(IMDataStructureUVCL(uvcl), parameters))
    tree_sort(tree)
    net, im, fm = pm4py.convert_to_petri_net(tree)
    n_cases = int(counts.sum())
    source = source or f"{n_cases:,} cases"
    which = "the one variant" if len(counts) == 1 else f"all {len(counts):,} variants"
    description = f"inductive miner (noise threshold {noise_threshold:g}) on {which} of {source}"
    model = ProcessModel(net, im, fm, "inductive miner", description, len(net.transitions), len(net.places))
    return DiscoveredModel(model, len(counts), len(counts), 1.0, n_cases)


# ---------------------------------------------------------------------------------------------------------------
# Conformance


@dataclass
class Deviation:
    kind: str  # skipped stage, loop back, out of order, not in playbook, replay problem
    description: str
    cases: int
    share: float


@dataclass
class Conformance:
    model: str
    model_description: str
    threshold: float
    mean_fitness: float
    share_below_threshold: float
    cases_replayed: int
    cases_total: int
    variants_replayed: int
    variants_total: int
    fitness_by_case: dict[str, float]
    deviations: list[Deviation] = field(default_factory=list)
    alignment_fitness: float | None = None
    notes: list[str] = field(default_factory=list)
    precision: float | None = None  # ETConformance (escaping edges) precision, on precision_cases cases
    precision_cases: int = 0
    # which cases were judged: completed ones only (open cases are unfinished traces, not deviations)
    completed_cases: int = 0
    open_cases: int = 0
    completion_rule: str = ""
    evaluated_on: str = "all cases"
    model_source: str = ""
    discovered: DiscoveredModel | None = None
    timings: dict[str, float] = field(default_factory=dict)


def token_replay_fitness(
    variants: pd.Series, model: ProcessModel, *, max_variants: int | None = None
) -> tuple[dict[tuple[str, ...], dict[str, Any]], int]:
    """Token-based replay of each distinct variant (all of them, or the most frequent ``max_variants``);
    variant → replay result."""
    from pm4py.algo.conformance.tokenreplay import algorithm as token_replay

    counts = variants.value_counts()
    chosen = [tuple(v) for v in (counts.index if max_variants is None else counts.index[:max_variants])]
    results = token_replay.apply(
        _pm4py_log(chosen),
        model.net,
        model.initial_marking,
        model.final_marking,
        parameters={"show_progress_bar": False},
    )
    return dict(zip(chosen, results, strict=True)), len(counts)


def alignment_fitness(variants: pd.Series, model: ProcessModel) -> float | None:
    """Case-weighted alignment fitness, or None when the log is too large or noisy for alignments to be quick."""
    counts = variants.value_counts()
    if len(counts) > ALIGNMENT_MAX_VARIANTS or max(len(v) for v in counts.index) > ALIGNMENT_MAX_TRACE_LENGTH:
        return None
    from pm4py.algo.conformance.alignments.petri_net import algorithm as alignments

    chosen = [tuple(v) for v in counts.index]
    results = alignments.apply(
        _pm4py_log(chosen),
        model.net,
        model.initial_marking,
        model.final_marking,
        parameters={"show_progress_bar": False},
    )
    weights = counts.to_numpy()
    values = [float(r["fitness"]) for r in results]
    return float(sum(w * v for w, v in zip(weights, values, strict=True)) / weights.sum())


def etc_precision(
    variants: pd.Series, model: ProcessModel, *, max_cases: int = PRECISION_MAX_CASES, seed: int = 0
) -> tuple[float | None, int]:
    """ETConformance precision (Muñoz-Gama and Carmona's escaping edges, pm4py's token-based variant) of the
    cases in ``variants``, on a seeded random sample of at most ``max_cases`` of them: (precision, cases used).

    1.0 means the model allows nothing the cases did not do; a "flower" model that allows anything scores near 0.
    """
    if variants.empty:
        return None, 0
    from pm4py.algo.evaluation.precision import algorithm as precision_algorithm

    sample = variants if len(variants) <= max_cases else variants.sample(n=max_cases, random_state=seed)
    value = precision_algorithm.apply(
        _pm4py_log([tuple(v) for v in sample]),
        model.net,
        model.initial_marking,
        model.final_marking,
        variant=precision_algorithm.Variants.ETCONFORMANCE_TOKEN,
        parameters={"show_progress_bar": False},
    )
    return float(value), len(sample)


def playbook_deviations(
    variants: pd.Series, stages: Sequence[str], won: str | None, lost: str | None, *, top: int = 8
) -> list[Deviation]:
    """The most common departures from the playbook order, counted once per case.

    Skipped stage: a case jumped forward past a stage (or started after the first one, or was won before the
    last one). Loop back: it re-entered a stage it had already been in. Out of order: it moved to an earlier
    stage it had never been in.
    """
    order = {s: i for i, s in enumerate(stages)}
    counter: Counter[tuple[str, str]] = Counter()
    n_total = len(variants)
    counts: dict[tuple[str, ...], int] = {tuple(v): int(n) for v, n in variants.value_counts().items()}  # type: ignore[arg-type]
    for variant, n in counts.items():
        seen: set[tuple[str, str]] = set()
        visited: set[str] = set()
        previous = -1
        for activity in variant:
            if activity == lost:
                continue
            if activity == won:
                if previous != len(stages) - 1:
                    missing = stages[previous + 1 :]
                    seen.add(("skipped stage", f"won without {', '.join(missing)}"))
                continue
            if activity not in order:
                seen.add(("not in playbook", f"{activity} is not a playbook stage"))
                continue
            i = order[activity]
            if i > previous + 1:
                for skipped in stages[previous + 1 : i]:
                    seen.add(("skipped stage", f"skipped {skipped}"))
            elif i <= previous:
                if i == previous:
                    seen.add(("loop back", f"{activity} entered again"))
                elif activity in visited:
                    seen.add(("loop back", f"{stages[previous]} back to {activity}"))
                else:
                    seen.add(("out of order", f"{activity} entered after {stages[previous]}"))
            visited.add(activity)
            previous = i
        for key in seen:
            counter[key] += int(n)
    return [
        Deviation(kind, description, cases, cases / n_total if n_total else 0.0)
        for (kind, description), cases in counter.most_common(top)
    ]


def _replay_deviations(replayed: dict[tuple[str, ...], dict[str, Any]], counts: pd.Series, top: int) -> list[Deviation]:
    counter: Counter[str] = Counter()
    total = int(counts.sum())
    for variant, result in replayed.items():
        n = int(counts.get(variant, 0))
        labels = {t.label or t.name for t in result.get("transitions_with_problems", [])}
        for label in labels:
            counter[str(label)] += n
    return [
        Deviation("replay problem", f"{label} fired when the model did not allow it", cases, cases / total)
        for label, cases in counter.most_common(top)
    ]


def conformance(
    log: EventLog,
    *,
    threshold: float = DEFAULT_FITNESS_THRESHOLD,
    model: ProcessModel | None = None,
    events: pd.DataFrame | None = None,
    precision_max_cases: int = PRECISION_MAX_CASES,
) -> Conformance:
    """Token-replay fitness of every case in ``events`` against ``model`` (default: the log's playbook), with its
    precision and the common deviations. Every distinct variant is replayed once and weighted by its cases."""
    import time

    events = events if events is not None else stage_events(log)
    variants = case_variants(events)
    counts = variants.value_counts()
    notes: list[str] = []
    timings: dict[str, float] = {}
    if model is None:
        if not log.stages:
            raise ValueError("this log has no playbook; pass a discovered model")
        model = playbook_model(log.stages, log.won_stage, log.lost_stage)
    clock = time.perf_counter()
    replayed, total_variants = token_replay_fitness(variants, model)
    timings["token_replay"] = round(time.perf_counter() - clock, 4)
    fitness_of_variant = {v: float(r["trace_fitness"]) for v, r in replayed.items()}
    fitness = variants.map(fitness_of_variant).astype(float)
    clock = time.perf_counter()
    precision, precision_cases = etc_precision(variants, model, max_cases=precision_max_cases)
    timings["precision"] = round(time.perf_counter() - clock, 4)
    if precision_cases < len(variants):
        notes.append(
            f"precision computed on a random sample of {precision_cases:,} of the {len(variants):,} {log.case_noun} "
            "(ETConformance replays every distinct prefix)"
        )
    if model.kind == "playbook":
        deviations = playbook_deviations(variants, log.stages, log.won_stage, log.lost_stage)
    else:
        deviations = _replay_deviations(replayed, counts, 8)
    clock = time.perf_counter()
    aligned = alignment_fitness(variants, model)
    timings["alignments"] = round(time.perf_counter() - clock, 4)
    if aligned is None:
        notes.append(
            f"alignments skipped: {len(counts):,} variants (alignments only run up to {ALIGNMENT_MAX_VARIANTS} "
            f"variants of at most {ALIGNMENT_MAX_TRACE_LENGTH} events)"
        )
    return Conformance(
        model=model.kind,
        model_description=model.description,
        threshold=threshold,
        mean_fitness=float(fitness.mean()) if len(fitness) else 0.0,
        share_below_threshold=float((fitness < threshold).mean()) if len(fitness) else 0.0,
        cases_replayed=len(fitness),
        cases_total=len(variants),
        variants_replayed=len(replayed),
        variants_total=total_variants,
        fitness_by_case={str(k): float(v) for k, v in fitness.items()},
        deviations=deviations,
        alignment_fitness=aligned,
        notes=notes,
        precision=precision,
        precision_cases=precision_cases,
        completed_cases=len(variants),
        timings=timings,
    )


@dataclass
class CompletedCases:
    completed: pd.Index  # case ids
    open: pd.Index
    end_activities: tuple[str, ...]
    rule: str  # how completion was decided, in words


def completed_cases(log: EventLog, events: pd.DataFrame | None = None) -> CompletedCases:
    """Which cases have finished, so conformance judges whole traces only.

    A case is complete when it contains an end activity: the playbook's won/lost stages and the log's declared
    ``end_activities``. A log that declares none (an imported file without a playbook or ``--end``) has its end
    markers inferred: activities that are the last event of at least ``END_MARKER_SHARE`` of the cases they occur
    in (a "Closed" ticket, an "END" event). When no activity qualifies every case is taken as complete, and the
    rule says so.
    """
    import pandas as pd

    frame = log.events if events is None else events
    all_cases = pd.Index(frame[CASE].unique())
    ends = tuple(dict.fromkeys((*log.outcome_stages, *log.end_activities)))
    if ends:
        rule = f"{log.case_noun} that reached {_or_list(ends)}"
    else:
        ordered = _sorted(frame)
        last = ordered.groupby(CASE, observed=True, sort=False)[ACTIVITY].last().astype(str).value_counts()
        present = ordered.drop_duplicates([CASE, ACTIVITY])[ACTIVITY].astype(str).value_counts()
        share = (last.reindex(present.index).fillna(0) / present).sort_values(ascending=False)
        markers = tuple(str(a) for a, v in share.items() if v >= END_MARKER_SHARE)
        if not markers:
            return CompletedCases(
                all_cases,
                pd.Index([]),
                (),
                f"every one of the {log.case_noun} (no end activity is known and none ends at least "
                f"{END_MARKER_SHARE:.0%} of the {log.case_noun} it occurs in; name them with --end)",
            )
        ends = markers
        rule = f"{log.case_noun} that reached {_or_list(ends)} (inferred end markers; name them with --end)"
    # reaching an end is read from every event of the case: a cancellation need not be a playbook stage
    every = log.events
    done = pd.Index(every.loc[every[ACTIVITY].isin(ends), CASE].unique()).intersection(all_cases)
    return CompletedCases(done, all_cases.difference(done), ends, rule)


def _or_list(names: Sequence[str], limit: int = 6) -> str:
    shown = list(names[:limit]) + ([f"{len(names) - limit} more"] if len(names) > limit else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def check_conformance(
    log: EventLog,
    events: pd.DataFrame,
    *,
    threshold: float = DEFAULT_FITNESS_THRESHOLD,
    train_share: float = TRAIN_SHARE,
    noise_threshold: float = MINER_NOISE_THRESHOLD,
    precision_max_cases: int = PRECISION_MAX_CASES,
    progress: Any = None,
) -> Conformance:
    """Conformance of the completed cases of ``events``: fitness and precision, and where the model came from.

    With a playbook the completed cases are replayed against it. Without one, a model is mined (IMf, every
    variant) on the earliest ``train_share`` of completed cases by start time and judged on the later ones, so
    the fitness is not the model's own training data read back. Either way an inductive-miner model is mined for
    the report's "discovered model" line. Open cases are left out and counted.
    """
    import time

    step = progress or (lambda _label: None)
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    done = completed_cases(log, events)
    if done.completed.empty:
        raise ValueError(f"no completed {log.case_noun} to check ({done.rule})")
    judged = events[events[CASE].isin(done.completed)]
    variants = case_variants(judged)
    starts = judged.groupby(CASE, observed=True)[TIMESTAMP].min().sort_values(kind="stable")
    n_train = max(1, int(len(starts) * train_share))
    train_ids = starts.index if log.stages or n_train >= len(starts) else starts.index[:n_train]
    split_note = (
        f"the earliest {len(train_ids):,} completed {log.case_noun} (by start, {train_share:.0%})"
        if len(train_ids) < len(starts)
        else f"the {len(train_ids):,} completed {log.case_noun}"
    )
    timings["completed_cases"] = round(time.perf_counter() - clock, 4)
    step(f"mining the process model on {len(train_ids):,} completed {log.case_noun}")
    clock = time.perf_counter()
    discovered = discover_model(variants.loc[train_ids], noise_threshold=noise_threshold, source=split_note)
    timings["inductive_miner"] = round(time.perf_counter() - clock, 4)
    if log.stages:
        model = playbook_model(log.stages, log.won_stage, log.lost_stage)
        evaluated = judged
        evaluated_on = f"all {len(starts):,} completed {log.case_noun}"
        source = "the playbook's stages in order, as configured for this workspace or given with --stages"
    else:
        model = discovered.model
        held_out = starts.index.difference(train_ids)
        evaluated = judged[judged[CASE].isin(held_out)] if len(held_out) else judged
        evaluated_on = (
            f"the {len(held_out):,} later completed {log.case_noun} (held out from mining)"
            if len(held_out)
            else f"the {len(starts):,} completed {log.case_noun} it was mined on (too few to hold any out)"
        )
        source = discovered.model.description
    step(f"token replay and precision on {evaluated[CASE].nunique():,} completed {log.case_noun}")
    result = conformance(
        log, threshold=threshold, model=model, events=evaluated, precision_max_cases=precision_max_cases
    )
    result.timings = {**timings, **result.timings}
    result.completed_cases = len(done.completed)
    result.open_cases = len(done.open)
    result.completion_rule = done.rule
    result.evaluated_on = evaluated_on
    result.model_source = source
    result.discovered = discovered
    if len(done.open):
        result.notes.insert(
            0,
            f"conformance leaves out {len(done.open):,} open {log.case_noun} (unfinished traces are not "
            f"deviations); complete means {done.rule}",
        )
    return result


# ---------------------------------------------------------------------------------------------------------------
# Lifecycle: queue (waiting) time vs working time, from schedule/start/complete events

HOURS = 3600.0


class ActivityTiming(BaseModel):
    """Where the time of one activity goes: waiting for it to start, working on it, paused between sessions."""

    activity: str
    work_items: int
    sessions: int
    ready_from: str  # what the queue is measured from: "schedule", "previous completion" or both
    median_queue_hours: float | None
    mean_queue_hours: float | None
    total_queue_hours: float
    median_working_hours: float
    total_working_hours: float
    total_paused_hours: float
    queue_share: float  # of queue + working time
    dominant: Literal["queue", "working"]


class LifecycleSummary(BaseModel):
    activities: list[ActivityTiming]  # longest typical (median) queue first
    bottleneck: str | None  # the activity with the longest median queue
    statement: str
    unpaired_starts: int
    unpaired_completes: int
    atomic_activities: list[str]  # only 'complete' events: no queue/working split possible
    notes: list[str] = []


def lifecycle_times(log: EventLog) -> LifecycleSummary | None:
    """Queue vs working time per activity from the log's start/complete (and schedule) events; None when the log
    has only completions.

    Sessions: each start is paired with the next complete of the same activity in the case (first in, first out).
    Work items: the sessions after one schedule event of the activity (BPI 2012 schedules a work item once and
    works on it in several sessions); without schedule events each session is its own item. The **queue** of an
    item runs from when the case was ready for it to its first start: its schedule event, else the previous
    completion of any activity in the case. **Working** time is the sum of its sessions (start → complete);
    **paused** time is the rest of the span between its first start and last completion.
    """
    import numpy as np
    import pandas as pd

    frame = log.lifecycle
    if frame is None or frame.empty or LIFECYCLE not in frame.columns:
        return None
    transition = frame[LIFECYCLE].astype(str)
    starts_mask = transition == "start"
    if not starts_mask.any():
        return None
    lc = frame.assign(_act=frame[ACTIVITY].astype(str), _tr=transition.to_numpy())
    with_start = set(lc.loc[starts_mask, "_act"].unique())
    complete_only = sorted(set(lc.loc[lc["_tr"] == "complete", "_act"].unique()) - with_start)
    keys = [CASE, "_act"]
    st = lc.loc[starts_mask, [CASE, "_act", TIMESTAMP]]
    co = lc.loc[(lc["_tr"] == "complete") & lc["_act"].isin(with_start), [CASE, "_act", TIMESTAMP]]
    st = st.assign(_n=st.groupby(keys, sort=False).cumcount().to_numpy())
    co = co.assign(_n=co.groupby(keys, sort=False).cumcount().to_numpy())
    sessions = st.merge(co, on=[*keys, "_n"], suffixes=("_start", "_end"))
    sessions = sessions[sessions[f"{TIMESTAMP}_end"] >= sessions[f"{TIMESTAMP}_start"]]
    unpaired_starts = len(st) - len(sessions)
    unpaired_completes = len(co) - len(sessions)
    if sessions.empty:
        return None
    sessions = sessions.assign(
        _work=(sessions[f"{TIMESTAMP}_end"] - sessions[f"{TIMESTAMP}_start"]).dt.total_seconds() / HOURS
    )
    # the schedule (if any) each session belongs to: the latest schedule of the activity in the case before it
    sched = lc.loc[lc["_tr"] == "schedule", [CASE, "_act", TIMESTAMP]].rename(columns={TIMESTAMP: "_sched"})
    sessions = sessions.sort_values(f"{TIMESTAMP}_start", kind="stable")
    if not sched.empty:
        sched = sched.assign(_k=sched.groupby(keys, sort=False).cumcount().to_numpy() + 1)
        sessions = pd.merge_asof(
            sessions,
            sched.sort_values("_sched", kind="stable"),
            left_on=f"{TIMESTAMP}_start",
            right_on="_sched",
            by=keys,
            direction="backward",
        )
        scheduled_groups = sched[keys].drop_duplicates().assign(_has=True)
        sessions = sessions.merge(scheduled_groups, on=keys, how="left")
        has_schedule = sessions["_has"].fillna(False).astype(bool).to_numpy()
    else:
        no_schedule = pd.Series(pd.NaT, index=sessions.index, dtype=sessions[f"{TIMESTAMP}_start"].dtype)
        sessions = sessions.assign(_sched=no_schedule, _k=np.nan)
        has_schedule = np.zeros(len(sessions), dtype=bool)
    # item key: the schedule number where the activity is scheduled in this case, else the session itself
    item = np.where(has_schedule, sessions["_k"].fillna(0).to_numpy(), -1 - sessions["_n"].to_numpy())
    sessions = sessions.assign(_item=item)
    items = sessions.groupby([*keys, "_item"], sort=False).agg(
        first_start=(f"{TIMESTAMP}_start", "min"),
        last_end=(f"{TIMESTAMP}_end", "max"),
        working=("_work", "sum"),
        sessions=("_work", "size"),
        scheduled=("_sched", "first"),
    )
    items = items.reset_index().sort_values("first_start", kind="stable")
    # an all-missing column can come out of the aggregation as objects; times must stay UTC timestamps
    items["scheduled"] = pd.to_datetime(items["scheduled"], utc=True)
    completions = lc.loc[lc["_tr"] == "complete", [CASE, TIMESTAMP]].rename(columns={TIMESTAMP: "_prev"})
    items = pd.merge_asof(
        items,
        completions.sort_values("_prev", kind="stable"),
        left_on="first_start",
        right_on="_prev",
        by=CASE,
        direction="backward",
        allow_exact_matches=True,
    )
    from_schedule = items["scheduled"].notna()
    ready = items["scheduled"].where(from_schedule, items["_prev"])
    items = items.assign(
        queue=(items["first_start"] - ready).dt.total_seconds() / HOURS,
        paused=((items["last_end"] - items["first_start"]).dt.total_seconds() / HOURS - items["working"]).clip(lower=0),
        from_schedule=from_schedule.to_numpy(),
    )
    rows: list[ActivityTiming] = []
    for activity, group in items.groupby("_act", sort=False):
        queue = group["queue"].dropna()
        working = group["working"]
        q_total, w_total = float(queue.sum()), float(working.sum())
        n_sched = int(group["from_schedule"].sum())
        ready_from = (
            "schedule" if n_sched == len(group) else "previous completion" if n_sched == 0 else "schedule or previous"
        )
        rows.append(
            ActivityTiming(
                activity=str(activity),
                work_items=len(group),
                sessions=int(group["sessions"].sum()),
                ready_from=ready_from,
                median_queue_hours=float(queue.median()) if len(queue) else None,
                mean_queue_hours=float(queue.mean()) if len(queue) else None,
                total_queue_hours=q_total,
                median_working_hours=float(working.median()),
                total_working_hours=w_total,
                total_paused_hours=float(group["paused"].sum()),
                queue_share=q_total / (q_total + w_total) if q_total + w_total > 0 else 0.0,
                dominant="queue" if q_total > w_total else "working",
            )
        )
    rows.sort(key=lambda r: -1.0 if r.median_queue_hours is None else r.median_queue_hours, reverse=True)
    top = rows[0] if rows and rows[0].median_queue_hours is not None else None
    noun = log.case_noun
    if top is None:
        statement = "No activity has a measurable queue (no start follows a schedule or an earlier completion)."
    else:
        statement = (
            f"The longest queue is before {top.activity}: {noun} wait a median {_hours(top.median_queue_hours)} "
            f"for it to start, then it takes a median {_hours(top.median_working_hours)} of work; waiting is "
            f"{top.queue_share:.0%} of its queue and working time."
        )
    notes = []
    if complete_only:
        notes.append(
            f"{len(complete_only)} activities have only completion events, so their waiting and working time "
            "cannot be told apart"
        )
    if unpaired_starts or unpaired_completes:
        notes.append(
            f"{unpaired_starts:,} starts and {unpaired_completes:,} completions had no partner and were left out"
        )
    return LifecycleSummary(
        activities=rows,
        bottleneck=top.activity if top else None,
        statement=statement,
        unpaired_starts=unpaired_starts,
        unpaired_completes=unpaired_completes,
        atomic_activities=complete_only,
        notes=notes,
    )


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} days"


# ---------------------------------------------------------------------------------------------------------------
# Resources: workload per period and handovers of work


class ResourceLoad(BaseModel):
    resource: str
    events: int
    cases: int
    periods_active: int
    events_per_active_period: float
    busiest_period: str
    busiest_period_events: int


class PeriodLoad(BaseModel):
    resource: str
    period: str
    events: int
    cases: int


class Handover(BaseModel):
    source: str
    target: str
    count: int
    cases: int


class ResourceSummary(BaseModel):
    period: str  # "month"
    resources: int
    events_with_resource: int
    workload: list[ResourceLoad]  # busiest first
    by_period: list[PeriodLoad]  # the busiest resources, every period
    handovers: list[Handover]  # most frequent first
    handover_share: float  # of consecutive event pairs in a case, the share done by different resources


def resource_workload(
    log: EventLog, *, top: int = 15, top_in_periods: int = 8, top_handovers: int = 15
) -> ResourceSummary | None:
    """Who does the work: events and cases per resource per month, and handovers of work (resource A's event
    directly followed by resource B's in the same case, A ≠ B: van der Aalst's handover-of-work metric counted
    over every case). None when the log names no resources."""
    import pandas as pd

    events = log.events
    if RESOURCE not in events.columns:
        return None
    named = events[events[RESOURCE].notna()]
    if named.empty:
        return None
    resource = named[RESOURCE].astype(str)
    period = named[TIMESTAMP].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    frame = pd.DataFrame({CASE: named[CASE].to_numpy(), "r": resource.to_numpy(), "p": period.to_numpy()})
    per = frame.groupby(["r", "p"], sort=False).agg(events=(CASE, "size"), cases=(CASE, "nunique")).reset_index()
    totals = frame.groupby("r", sort=False).agg(events=(CASE, "size"), cases=(CASE, "nunique"))
    busiest = per.sort_values(["r", "events"], ascending=[True, False]).drop_duplicates("r").set_index("r")
    totals = totals.assign(
        active=per.groupby("r").size(), busiest_p=busiest["p"], busiest_events=busiest["events"]
    ).sort_values("events", ascending=False, kind="stable")
    workload = [
        ResourceLoad(
            resource=str(row["r"]),
            events=int(row["events"]),
            cases=int(row["cases"]),
            periods_active=int(row["active"]),
            events_per_active_period=float(row["events"]) / int(row["active"]),
            busiest_period=str(row["busiest_p"]),
            busiest_period_events=int(row["busiest_events"]),
        )
        for row in totals.head(top).reset_index().to_dict("records")
    ]
    chosen = set(totals.index[:top_in_periods])
    by_period = [
        PeriodLoad(resource=str(x["r"]), period=str(x["p"]), events=int(x["events"]), cases=int(x["cases"]))
        for x in per[per["r"].isin(chosen)].sort_values(["p", "r"]).to_dict("records")
    ]
    ordered = _sorted(events)
    cases = ordered[CASE].to_numpy()
    res = ordered[RESOURCE].astype(object).to_numpy()
    same_case = cases[1:] == cases[:-1]
    known = pd.notna(res)
    both = same_case & known[1:] & known[:-1]
    pairs = pd.DataFrame({CASE: cases[1:][both], "source": res[:-1][both], "target": res[1:][both]})
    moved = pairs[pairs["source"] != pairs["target"]]
    handovers: list[Handover] = []
    if not moved.empty:
        grouped = moved.groupby(["source", "target"], sort=False).agg(count=(CASE, "size"), cases=(CASE, "nunique"))
        grouped = grouped.sort_values("count", ascending=False, kind="stable").head(top_handovers)
        handovers = [
            Handover(
                source=str(row["source"]), target=str(row["target"]), count=int(row["count"]), cases=int(row["cases"])
            )
            for row in grouped.reset_index().to_dict("records")
        ]
    return ResourceSummary(
        period="month",
        resources=len(totals),
        events_with_resource=len(named),
        workload=workload,
        by_period=by_period,
        handovers=handovers,
        handover_share=float(len(moved) / len(pairs)) if len(pairs) else 0.0,
    )
