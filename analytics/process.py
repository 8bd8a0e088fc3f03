"""Process discovery and conformance: directly-follows graph with frequency and waiting times, an inductive-miner
model, and token-replay fitness against the sales playbook (or the discovered model when there is no playbook).

Statistics are vectorised pandas over the events frame; pm4py is used for the model and the replay, on the
distinct variants (each replayed once and weighted by its cases) and, for large logs, on the frequent variants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analytics.eventlog import ACTIVITY, CASE, TIMESTAMP, EventLog

if TYPE_CHECKING:
    import pandas as pd

SECONDS_PER_DAY = 86400.0
DEFAULT_FITNESS_THRESHOLD = 0.85
# Above these sizes the model is mined on the frequent variants and replay runs on a sample of variants.
MINER_VARIANT_COVERAGE = 0.8
MINER_MAX_VARIANTS = 100
REPLAY_MAX_VARIANTS = 300
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


def discover_model(
    variants: pd.Series, *, coverage: float = MINER_VARIANT_COVERAGE, max_variants: int = MINER_MAX_VARIANTS
) -> DiscoveredModel:
    """Inductive miner on the most frequent variants covering ``coverage`` of the cases (at most ``max_variants``).

    Mining on the frequent variants is the standard way to keep the model readable and the miner fast; the
    share of cases covered is reported with the model.
    """
    pm4py = quiet_import_pm4py()

    counts = variants.value_counts()
    total = int(counts.sum())
    cumulative = counts.cumsum() / total
    keep = max(1, int((cumulative < coverage).sum()) + 1)
    keep = min(keep, max_variants, len(counts))
    chosen = counts.iloc[:keep]
    log = _pm4py_log([tuple(v) for v in chosen.index])
    net, im, fm = pm4py.discover_petri_net_inductive(log, noise_threshold=0.0)
    covered = float(chosen.sum()) / total
    description = f"inductive miner on the {keep} most frequent of {len(counts)} variants ({covered:.0%} of cases)"
    model = ProcessModel(net, im, fm, "inductive miner", description, len(net.transitions), len(net.places))
    return DiscoveredModel(model, keep, len(counts), covered)


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


def token_replay_fitness(
    variants: pd.Series, model: ProcessModel, *, max_variants: int = REPLAY_MAX_VARIANTS
) -> tuple[dict[tuple[str, ...], dict[str, Any]], int]:
    """Token-based replay of each distinct variant (the most frequent ``max_variants``); variant → replay result."""
    from pm4py.algo.conformance.tokenreplay import algorithm as token_replay

    counts = variants.value_counts()
    chosen = [tuple(v) for v in counts.index[:max_variants]]
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
) -> Conformance:
    """Token-replay fitness per case against ``model`` (default: the log's playbook), with the common deviations."""
    events = events if events is not None else stage_events(log)
    variants = case_variants(events)
    counts = variants.value_counts()
    notes: list[str] = []
    if model is None:
        if not log.stages:
            raise ValueError("this log has no playbook; pass a discovered model")
        model = playbook_model(log.stages, log.won_stage, log.lost_stage)
    replayed, total_variants = token_replay_fitness(variants, model)
    fitness_of_variant = {v: float(r["trace_fitness"]) for v, r in replayed.items()}
    fitted = variants[variants.isin(list(fitness_of_variant))] if len(replayed) < total_variants else variants
    fitness = fitted.map(fitness_of_variant).astype(float)
    if len(replayed) < total_variants:
        notes.append(
            f"token replay ran on the {len(replayed):,} most frequent of {total_variants:,} variants "
            f"({len(fitted) / len(variants):.0%} of cases); rarer variants were not replayed"
        )
    if model.kind == "playbook":
        deviations = playbook_deviations(variants, log.stages, log.won_stage, log.lost_stage)
    else:
        deviations = _replay_deviations(replayed, counts, 8)
    aligned = alignment_fitness(variants, model)
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
    )
