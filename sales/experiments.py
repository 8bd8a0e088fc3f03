"""Experiments: measure a process change (an automation rule, or a process in words) against a control.

An experiment fixes, before it starts: the change; who is in which arm (``random``: a seeded hash of each new
record's id puts it in the treatment arm with ``treatment_share``, and a rule under a running random experiment
acts only on its treatment arm; ``before_after``: records that entered from the start against those that entered
in a control period before it, the control cut to the treatment's segment mix); the primary metric (conversion to
a stage within a window of days, or the time to reach a stage); the minimum detectable effect, alpha, power and
the planned looks. ``define_experiment`` computes the sample size and the expected duration from the store's own
history (power before start).

A look is one formal test of the primary metric (``analytics.experiments``): its boundary comes from the alpha
spent by its information fraction given every earlier look, so a look taken before a planned one is allowed and
says so. Looks and conclusions are stored with receipts; a look that crosses its boundary, or the last planned
one, concludes the experiment. Results cover the whole workspace, so managers and admins see them.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor
from sales.receipts import write_receipt
from store.models import Deal, Experiment, ExperimentLook, Lead, StageChange
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from analytics.experiments import ExperimentPlan
    from sales.automation import Facts
    from sales.stages import StageMachine

Unit = Literal["deal", "lead"]
Metric = Literal["conversion", "cycle_time"]
Design = Literal["random", "before_after"]
HISTORY_DAYS: Final = 365  # the baseline is read from cases that entered in this many days before the start
RATE_DAYS: Final = 90  # the arrival rate of new cases, from this many days before the start
MIN_CASES_PER_ARM: Final = 10  # fewer and no look is taken ("not enough data yet")
MIN_EVENTS: Final = 5
LEAD_TARGET: Final = "qualified"


def require_manager(actor: Actor, what: str) -> None:
    if not actor.is_manager:
        raise PermissionDenied(f"only a manager or an admin may {what}: experiments cover the whole workspace")


# -- cases -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One record in an experiment's population: when it entered, its segment, when it reached the target."""

    record_id: int
    entered_at: datetime
    segment: str
    reached_at: datetime | None
    left_at: datetime | None  # closed without reaching the target


def assigned_arm(seed: str, unit: str, record_id: int, share: float) -> Literal["treatment", "control"]:
    """The arm a record is in under a random split: a seeded hash of its id, stable and unpredictable."""
    digest = hashlib.sha256(f"{seed}:{unit}:{record_id}".encode()).hexdigest()
    return "treatment" if int(digest[:12], 16) / 16**12 < share else "control"


def _deal_cases(session: Session, machine: StageMachine, entry: str | None, target: str) -> list[Case]:
    from sales.segments import deal_size_band

    firsts: dict[tuple[int, str], datetime] = {}
    for deal_id, stage, at in session.exec(
        select(StageChange.deal_id, StageChange.to_stage, StageChange.changed_at).order_by(col(StageChange.changed_at))
    ):
        firsts.setdefault((deal_id, stage), at)
    out = []
    for deal in session.exec(select(Deal)):
        assert deal.id is not None
        entered = deal.created_at if entry is None else firsts.get((deal.id, entry))
        if entered is None:
            continue
        reached = firsts.get((deal.id, target))
        if target == machine.won_stage and reached is None and deal.stage == target:
            reached = deal.closed_at
        if reached is not None and reached < entered:
            reached = None  # reached before it entered (a step back and forward): not this case's event
        left = None
        if reached is None and deal.stage in machine.closed_stages:
            left = deal.closed_at or deal.stage_entered_at
        out.append(Case(deal.id, entered, deal_size_band(deal.amount), reached, left))
    return out


def _lead_cases(session: Session) -> list[Case]:
    out = []
    for lead in session.exec(select(Lead)):
        assert lead.id is not None
        left = lead.updated_at if lead.status == "disqualified" and lead.qualified_at is None else None
        out.append(Case(lead.id, lead.created_at, lead.source or "unknown", lead.qualified_at, left))
    return out


def load_cases(session: Session, unit: str, entry: str | None, target: str) -> list[Case]:
    from sales.stages import workspace_machine

    if unit == "lead":
        return _lead_cases(session)
    return _deal_cases(session, workspace_machine(session), entry, target)


@dataclass(frozen=True)
class Outcome:
    """A case as the metric sees it at an observation end: converted within the window (None: not mature), and
    the days to the target with whether it was reached (False: censored)."""

    case: Case
    converted: bool | None
    days: float
    reached: bool


def outcome(case: Case, observed_until: datetime, window_days: int | None) -> Outcome:
    def days(a: datetime, b: datetime) -> float:
        return max((b - a).total_seconds() / 86400, 0.0)

    reached = case.reached_at is not None and case.reached_at <= observed_until
    converted: bool | None = None
    if window_days is not None and case.entered_at + timedelta(days=window_days) <= observed_until:
        converted = bool(reached and case.reached_at and days(case.entered_at, case.reached_at) <= window_days)
    if reached and case.reached_at is not None:
        return Outcome(case, converted, days(case.entered_at, case.reached_at), True)
    end = min(case.left_at, observed_until) if case.left_at is not None else observed_until
    return Outcome(case, converted, days(case.entered_at, end), False)


# -- defining ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    minimum_detectable_effect: float
    change: str | None = None
    rule: str | None = None
    unit: Unit = "deal"
    entry_stage: str | None = None
    metric: Metric = "conversion"
    target: str = "won"
    window_days: int | None = None
    design: Design = "random"
    seed: str | None = None
    treatment_share: float = 0.5
    starts_at: datetime | None = None
    control_from: datetime | None = None
    baseline: float | None = None
    alpha: float = 0.05
    power: float = 0.8
    looks: int = 1


@dataclass
class Defined:
    experiment: Experiment
    receipt_id: int | None
    plan: dict[str, Any]


def _history(
    cases: list[Case], start: datetime, metric: Metric, window: int | None
) -> tuple[list[Outcome], float, int | None]:
    """Outcomes of the cases that entered in the year before ``start``, observed at ``start``; the arrival rate
    per day over the last 90 days; and the conversion window read from them when none was given (the 90th
    percentile of the days to the target among those that reached it, in whole weeks, at least one)."""
    past = [c for c in cases if start - timedelta(days=HISTORY_DAYS) <= c.entered_at < start]
    recent = [c for c in past if c.entered_at >= start - timedelta(days=RATE_DAYS)]
    if window is None and metric == "conversion":
        times = sorted(
            (c.reached_at - c.entered_at).total_seconds() / 86400
            for c in past
            if c.reached_at is not None and c.reached_at <= start
        )
        if times:
            p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
            window = max(7, 7 * math.ceil(p90 / 7))
    return [outcome(c, start, window) for c in past], len(recent) / RATE_DAYS, window


def define_experiment(session: Session, actor: Actor, spec: ExperimentSpec, *, now: datetime | None = None) -> Defined:
    """Check and store an experiment with its plan (managers and admins; receipt). Every problem is named at once;
    nothing is stored when there is one."""
    from analytics.experiments import plan_cycle_time, plan_experiment
    from sales.automation import current_rule_set
    from sales.stages import workspace_machine

    require_manager(actor, "define an experiment")
    now = now or utcnow()
    problems: dict[str, str] = {}
    name = " ".join(spec.name.split())
    if not name or len(name) > 100:
        problems["name"] = "give the experiment a name of at most 100 characters"
    elif session.exec(select(Experiment).where(Experiment.name == name)).first() is not None:
        problems["name"] = f"an experiment called {name!r} exists; pick another name"
    change = (spec.change or "").strip()
    rule_off = False
    if spec.rule:
        rules = current_rule_set(session)
        found_rule = rules.rule(spec.rule)
        rule_off = found_rule is not None and not found_rule.enabled
        if found_rule is None:
            known = ", ".join(r.name for r in rules.rules) or "no rules are set"
            problems["rule"] = f"no automation rule called {spec.rule!r} ({known})"
        change = change or f"the automation rule {spec.rule!r}"
    elif not change:
        problems["change"] = "say what changes: --rule NAME (an automation rule) or --change 'the new process'"
    if len(change) > 1000:
        problems["change"] = "at most 1,000 characters"
    machine = workspace_machine(session)
    entry: str | None = None
    target = spec.target
    if spec.unit == "lead":
        if spec.entry_stage:
            problems["entry_stage"] = "leads enter when they are created; an entry stage is for deals"
        if target.lower() not in (LEAD_TARGET, "won"):
            problems["target"] = "for leads the target is 'qualified' (a lead qualified into a deal)"
        target = LEAD_TARGET
    else:
        if spec.entry_stage:
            entry = machine.canonical(spec.entry_stage)
            if entry is None or not machine.is_open(entry):
                problems["entry_stage"] = (
                    f"{spec.entry_stage!r} is not an open stage ({', '.join(machine.open_stages)})"
                )
        found = machine.canonical(target)
        if found is None or found == machine.lost_stage:
            problems["target"] = f"{target!r} is not a stage to reach ({', '.join((*machine.open_stages, 'won'))})"
        else:
            target = found
            if entry is not None and machine.order(found) <= machine.order(entry):
                problems["target"] = f"{found} does not come after {entry}"
    if spec.design == "random":
        if not 0.05 <= spec.treatment_share <= 0.95:
            problems["treatment_share"] = "between 0.05 and 0.95 (0.5: half the new records get the change)"
    elif spec.design != "before_after":
        problems["design"] = "random or before_after"
    starts = spec.starts_at or now
    if spec.design == "random" and starts < now - timedelta(minutes=5):
        problems["starts_at"] = "a random split starts now or later: records already in the pipeline were not split"
    if spec.window_days is not None and not 1 <= spec.window_days <= 730:
        problems["window_days"] = "between 1 and 730 days"
    if spec.metric not in ("conversion", "cycle_time"):
        problems["metric"] = "conversion or cycle_time"
    if problems:
        raise InvalidInput(problems)

    cases = load_cases(session, spec.unit, entry, target)
    history, rate, window = _history(cases, starts, spec.metric, spec.window_days)
    notes: list[str] = []
    if rule_off:
        notes.append(f"the rule {spec.rule!r} is switched off: the treatment gets nothing until it is on")
    plan: ExperimentPlan
    if spec.metric == "conversion":
        if window is None:
            raise InvalidInput({"window_days": f"no past case reached {target}; give --window DAYS"})
        mature = [o for o in history if o.converted is not None]
        baseline = spec.baseline
        if baseline is None:
            if len(mature) < 20:
                raise InvalidInput(
                    {"baseline": f"only {len(mature)} past cases are {window} days old; give --baseline RATE"}
                )
            baseline = sum(bool(o.converted) for o in mature) / len(mature)
            notes.append(
                f"baseline {baseline:.1%}: {len(mature):,} cases that entered in the year before the start, "
                f"{target} within {window} days"
            )
        plan = plan_experiment(
            baseline, spec.minimum_detectable_effect, alpha=spec.alpha, power=spec.power, looks=spec.looks
        )
    else:
        baseline = spec.baseline
        if baseline is None:
            decided = [o for o in history if o.reached or o.case.left_at is not None]
            if len(decided) < 20:
                raise InvalidInput(
                    {"baseline": f"only {len(decided)} past cases finished; give --baseline SHARE (reaching {target})"}
                )
            baseline = sum(o.reached for o in decided) / len(decided)
            notes.append(f"{baseline:.0%} of {len(decided):,} past cases that finished reached {target}")
        plan = plan_cycle_time(
            baseline, spec.minimum_detectable_effect, alpha=spec.alpha, power=spec.power, looks=spec.looks
        )
    share = spec.treatment_share if spec.design == "random" else 0.5
    needed_cases = plan.per_arm / min(share, 1 - share) if spec.design == "random" else plan.per_arm
    accrual = math.ceil(needed_cases / rate) if rate > 0 else None
    expected_days = None if accrual is None else accrual + (window or 0 if spec.metric == "conversion" else 0)
    control_from = spec.control_from
    if spec.design == "before_after":
        if control_from is None:
            span = accrual + (window or 0) if accrual is not None else HISTORY_DAYS
            control_from = starts - timedelta(days=min(span, HISTORY_DAYS * 2))
        if control_from >= starts:
            raise InvalidInput({"control_from": "the control period must begin before the start"})
        end = starts - timedelta(days=window or 0) if spec.metric == "conversion" else starts
        available = sum(1 for c in cases if control_from <= c.entered_at < end)
        notes.append(
            f"control: {available:,} cases entered {control_from.date()} to {end.date()} (before the change); "
            f"they are cut to the treatment's segment mix at each look"
        )
        if available < plan.per_arm:
            notes.append(f"the control period holds fewer than the {plan.per_arm:,} cases per arm the plan needs")
    if rate <= 0:
        notes.append("no case entered in the 90 days before the start, so the duration cannot be estimated")
    plan_json: dict[str, Any] = plan.model_dump() | {
        "rate_per_day": rate,
        "expected_days": expected_days,
        "window_days": window,
        "boundaries": plan.boundaries(),
        "notes": notes,
    }
    experiment = Experiment(
        name=name,
        rule=spec.rule or None,
        change=change,
        unit=spec.unit,
        entry_stage=entry,
        metric=spec.metric,
        target=target,
        window_days=window if spec.metric == "conversion" else None,
        design=spec.design,
        seed=spec.seed or secrets.token_hex(8),
        treatment_share=share,
        starts_at=starts,
        control_from=control_from,
        baseline=baseline,
        minimum_detectable_effect=spec.minimum_detectable_effect,
        alpha=spec.alpha,
        power=spec.power,
        looks=spec.looks,
        plan=plan_json,
        created_by_id=actor.user_id,
    )
    session.add(experiment)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "define_experiment",
        "experiment",
        experiment.id,
        after={
            "name": name,
            "rule": spec.rule,
            "change": change,
            "design": spec.design,
            "metric": spec.metric,
            "target": target,
            "per_arm": plan.per_arm,
            "looks": plan.looks,
            "starts_at": starts.isoformat(),
        },
    )
    experiment.receipt_id = receipt
    session.add(experiment)
    return Defined(experiment, receipt, plan_json)


def plan_of(experiment: Experiment) -> ExperimentPlan:
    from analytics.experiments import ExperimentPlan

    fields = set(ExperimentPlan.model_fields)
    return ExperimentPlan.model_validate({k: v for k, v in experiment.plan.items() if k in fields})


# -- finding -------------------------------------------------------------------------------------------------


def list_experiments(session: Session, *, status: str | None = None) -> list[Experiment]:
    stmt = select(Experiment).order_by(col(Experiment.id))
    if status:
        stmt = stmt.where(Experiment.status == status)
    return list(session.exec(stmt))


def get_experiment(session: Session, ref: str | int) -> Experiment:
    """By id or exact name (any case)."""
    text = str(ref).strip()
    found = session.get(Experiment, int(text)) if text.isdigit() else None
    if found is None:
        found = next((e for e in list_experiments(session) if e.name.lower() == text.lower()), None)
    if found is None:
        known = ", ".join(e.name for e in list_experiments(session)) or "none is defined"
        raise NotFound(f"no experiment called {text!r} (experiments: {known})")
    return found


_STOP = frozenset(
    re.findall(
        r"\w+",
        """a an the is are was our my new old this that it its rule rules process change
experiment test working work doing does do how has have been any of on for to in and or with""",
    )
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def find_experiments(session: Session, query: str | None) -> list[Experiment]:
    """The experiments a question is about: an exact name or rule name, else the most shared words with the name,
    the rule and the change (newest first among equals); with no query, the running ones."""
    everything = list_experiments(session)
    if not query or not query.strip():
        return [e for e in reversed(everything) if e.status == "running"]
    wanted = query.strip().lower()
    exact = [e for e in everything if wanted in (e.name.lower(), (e.rule or "").lower())]
    if exact:
        return exact
    words = _words(query)
    scored = [(len(words & _words(f"{e.name} {e.rule or ''} {e.change}")), e) for e in reversed(everything)]
    best = max((s for s, _ in scored), default=0)
    return [e for s, e in scored if best and s == best]


# -- analysing -----------------------------------------------------------------------------------------------


class ArmSummary(BaseModel):
    cases: int
    converted: int | None = None
    rate: float | None = None
    events: int | None = None
    median_days: float | None = None
    median_low: float | None = None
    median_high: float | None = None
    mix: dict[str, int] = Field(default_factory=dict)


class Analysis(BaseModel):
    experiment: str
    experiment_id: int
    status: str
    change: str
    design: str
    metric: str
    target: str
    metric_text: str
    observed_until: datetime
    control: ArmSummary
    treatment: ArmSummary
    information: float  # fraction of the planned information so far (capped at 1 in the test)
    needed_per_arm: int
    needed_events: int | None = None
    enough_data: bool
    estimate: float | None = None  # conversion: treatment − control, points; cycle: hazard ratio
    estimate_text: str | None = None
    low: float | None = None
    high: float | None = None
    z: float | None = None
    p_value: float | None = None  # unadjusted; the decision uses the boundary
    look: int | None = None
    planned_look: bool | None = None
    boundary: float | None = None
    nominal_alpha: float | None = None
    crossed: bool | None = None
    final: bool | None = None
    bayes: dict[str, Any] | None = None
    survival: dict[str, Any] | None = None
    mann_whitney: dict[str, Any] | None = None
    matched: str | None = None
    concluded: bool = False
    verdict: str
    notes: list[str] = Field(default_factory=list)
    look_recorded: bool = False
    hypothetical_look: bool = False  # the look shown was not taken: its boundary is what one now would need
    receipt_id: int | None = None


def _observed_until(experiment: Experiment, now: datetime) -> datetime:
    ends = [t for t in (experiment.concluded_at, experiment.stopped_at) if t is not None]
    return min([now, *ends])


def segment_kind(unit: str) -> str:
    """What the before/after control is matched on: a deal's size band, a lead's source."""
    return "lead-source" if unit == "lead" else "deal-size"


def _matched(control: list[Outcome], treatment: list[Outcome], seed: str, kind: str) -> tuple[list[Outcome], str]:
    """The control cut to the treatment's segment mix (the same share of each segment), in a seeded random order,
    as many as the scarcest segment allows; treatment segments absent from the control are left out."""
    t_mix = Counter(o.case.segment for o in treatment)
    by_segment: dict[str, list[Outcome]] = {}
    for o in sorted(control, key=lambda o: hashlib.sha256(f"{seed}:{o.case.record_id}".encode()).hexdigest()):
        by_segment.setdefault(o.case.segment, []).append(o)
    shared = {s: n for s, n in t_mix.items() if by_segment.get(s)}
    if not shared:
        return [], "no control case shares a segment with the treatment"
    ratio = min(len(by_segment[s]) / n for s, n in shared.items())
    kept = [o for s, n in shared.items() for o in by_segment[s][: int(ratio * n)]]
    mix = ", ".join(f"{s} {n / sum(shared.values()):.0%}" for s, n in sorted(shared.items()))
    dropped = sorted(set(t_mix) - set(shared))
    text = f"control cut to the treatment's {kind} mix ({mix}): {len(kept):,} of {len(control):,} before-period cases"
    if dropped:
        text += f"; treatment segments with no control left out: {', '.join(dropped)}"
    return kept, text


def arms(
    session: Session, experiment: Experiment, now: datetime, cases: list[Case] | None = None
) -> tuple[list[Outcome], list[Outcome], str | None]:
    """(control, treatment) outcomes at the observation end, and the matching statement for before/after.
    ``cases``: the population when it is not read from the store (simulations, ``bench.experiment_sweep``)."""
    until = _observed_until(experiment, now)
    if cases is None:
        cases = load_cases(session, experiment.unit, experiment.entry_stage, experiment.target)
    window = experiment.window_days
    control: list[Outcome] = []
    treatment: list[Outcome] = []
    if experiment.design == "random":
        for c in cases:
            if experiment.starts_at <= c.entered_at < until:
                arm = assigned_arm(experiment.seed, experiment.unit, c.record_id, experiment.treatment_share)
                (treatment if arm == "treatment" else control).append(outcome(c, until, window))
        if experiment.metric == "conversion":  # a case counts once its whole window has passed
            control = [o for o in control if o.converted is not None]
            treatment = [o for o in treatment if o.converted is not None]
        return control, treatment, None
    start = experiment.starts_at
    for c in cases:
        if start <= c.entered_at < until:
            treatment.append(outcome(c, until, window))
        elif experiment.control_from is not None and experiment.control_from <= c.entered_at < start:
            control.append(outcome(c, start, window))  # observed only until the change began
    if experiment.metric == "conversion":
        control = [o for o in control if o.converted is not None]
        treatment = [o for o in treatment if o.converted is not None]
    matched, text = _matched(control, treatment, experiment.seed, segment_kind(experiment.unit))
    if treatment and matched:
        keep = {o.case.segment for o in matched}
        treatment = [o for o in treatment if o.case.segment in keep]
    return matched, treatment, text


def _looks(session: Session, experiment: Experiment) -> list[ExperimentLook]:
    return list(
        session.exec(
            select(ExperimentLook)
            .where(ExperimentLook.experiment_id == experiment.id)
            .order_by(col(ExperimentLook.look))
        )
    )


def _metric_text(experiment: Experiment) -> str:
    entry = f"entering {experiment.entry_stage}" if experiment.entry_stage else f"new {experiment.unit}s"
    if experiment.metric == "conversion":
        return f"{entry}: share reaching {experiment.target} within {experiment.window_days} days"
    return f"{entry}: days to reach {experiment.target} (open cases censored)"


def analyze_experiment(
    session: Session,
    actor: Actor,
    experiment: Experiment,
    *,
    now: datetime | None = None,
    record: Literal["any", "planned", "none"] = "any",
    cases: list[Case] | None = None,
) -> Analysis:
    """The experiment's primary test now, with its estimate and interval, the Bayesian or survival view, and
    whether it has concluded. ``record``: ``any`` takes a look when there is new information (a look before a
    planned one is said to be one and spends alpha as the spending function allows), ``planned`` only when the
    sample reached the next planned look, ``none`` never (the boundary shown is the one such a look would get)."""
    from analytics import experiments as stats

    require_manager(actor, "see experiment results")
    now = now or utcnow()
    plan = plan_of(experiment)
    control, treatment, matched = arms(session, experiment, now, cases)
    looks = _looks(session, experiment)
    earlier = [look.information for look in looks]
    notes: list[str] = []
    result: dict[str, Any] = {}
    c_arm = ArmSummary(cases=len(control), mix=dict(Counter(o.case.segment for o in control)))
    t_arm = ArmSummary(cases=len(treatment), mix=dict(Counter(o.case.segment for o in treatment)))
    z: float | None = None
    information = 0.0
    enough = len(control) >= MIN_CASES_PER_ARM and len(treatment) >= MIN_CASES_PER_ARM
    if experiment.metric == "conversion":
        k1 = sum(bool(o.converted) for o in control)
        k2 = sum(bool(o.converted) for o in treatment)
        c_arm.converted, t_arm.converted = k1, k2
        c_arm.rate = k1 / len(control) if control else None
        t_arm.rate = k2 / len(treatment) if treatment else None
        n1, n2 = len(control), len(treatment)
        information = 2 * n1 * n2 / ((n1 + n2) * plan.per_arm) if n1 and n2 else 0.0
        if n1 and n2:
            bayes = stats.beta_binomial(k1, n1, k2, n2)
            result["bayes"] = bayes.model_dump()
            if enough:
                z = stats.two_proportion_z(k1, n1, k2, n2)
    else:
        for arm, summary in ((control, c_arm), (treatment, t_arm)):
            if arm:
                curve = stats.kaplan_meier([o.days for o in arm], [o.reached for o in arm])
                summary.events = curve.total_events
                summary.median_days, summary.median_low, summary.median_high = (
                    curve.median,
                    curve.median_low,
                    curve.median_high,
                )
        events = (c_arm.events or 0) + (t_arm.events or 0)
        information = events / plan.events if plan.events else 0.0
        enough = enough and events >= MIN_EVENTS and bool(c_arm.events) and bool(t_arm.events)
        if enough:
            rank = stats.log_rank(
                [o.days for o in control],
                [o.reached for o in control],
                [o.days for o in treatment],
                [o.reached for o in treatment],
            )
            z = rank.z
            result["survival"] = rank.model_dump()
            closed_c = [o.days for o in control if o.reached]
            closed_t = [o.days for o in treatment if o.reached]
            result["mann_whitney"] = stats.compare_cycle_times(closed_c, closed_t) | {  # type: ignore[arg-type]
                "note": "cases that reached the target only; open ones left out (descriptive)"
            }
    analysis = Analysis(
        experiment=experiment.name,
        experiment_id=experiment.id or 0,
        status=experiment.status,
        change=experiment.change,
        design=experiment.design,
        metric=experiment.metric,
        target=experiment.target,
        metric_text=_metric_text(experiment),
        observed_until=_observed_until(experiment, now),
        control=c_arm,
        treatment=t_arm,
        information=information,
        needed_per_arm=plan.per_arm,
        needed_events=plan.events or None,
        enough_data=enough and z is not None,
        bayes=result.get("bayes"),
        survival=result.get("survival"),
        mann_whitney=result.get("mann_whitney"),
        matched=matched,
        verdict="",
    )
    if experiment.status != "running":
        last = looks[-1] if looks else None
        if last is not None:
            _from_look(analysis, last)
        analysis.concluded = experiment.status == "concluded"
        analysis.verdict = (experiment.conclusion or {}).get("verdict") or (
            f"stopped {experiment.stopped_at:%Y-%m-%d}: {experiment.stop_reason or 'no reason given'}"
            if experiment.stopped_at
            else "not running"
        )
        _estimate(analysis, experiment, z, None)
        return analysis
    if z is None:
        need = (
            f"{MIN_CASES_PER_ARM} cases in each arm"
            if experiment.metric == "conversion"
            else f"{MIN_CASES_PER_ARM} cases in each arm and {MIN_EVENTS} reaching {experiment.target}"
        )
        analysis.verdict = (
            f"not enough data yet: {len(control):,} control and {len(treatment):,} treatment cases so far "
            f"(a look needs {need}; the plan needs {plan.per_arm:,} per arm)"
        )
        _estimate(analysis, experiment, None, None)
        return analysis
    next_planned = next((f for f in plan.planned_fractions if not earlier or f > earlier[-1] + 1e-9), 1.0)
    at_planned = information >= next_planned - 1e-9
    same = stats.is_same_look(earlier, information)
    if same:
        boundary = looks[-1].boundary
        notes.append(f"too little new information since look {len(looks)}: its boundary |z| >= {boundary:.2f} applies")
        look_no, planned, final = len(looks), looks[-1].planned, looks[-1].final
    else:
        lb = stats.look_boundary(earlier, information, plan)
        boundary, look_no, planned, final = lb.boundary, lb.look, at_planned, lb.final
        if not at_planned:
            k = plan.planned_fractions.index(next_planned) + 1 if next_planned in plan.planned_fractions else plan.looks
            wanted = (
                f"{math.ceil(next_planned * plan.per_arm):,} per arm"
                if experiment.metric == "conversion"
                else f"{math.ceil(next_planned * plan.events):,} events"
            )
            notes.append(
                f"this is before planned look {k} of {plan.looks} (at {wanted}): a look now is an extra one and "
                f"may have spent {lb.spent:.2g} of alpha {plan.alpha:g} by now, so it needs |z| >= {boundary:.2f} "
                f"(p < {lb.nominal_alpha:.2g})"
            )
    analysis.z = z
    analysis.boundary = boundary
    analysis.nominal_alpha = float(2 * _norm_sf(boundary))
    analysis.p_value = float(2 * _norm_sf(abs(z)))
    analysis.look, analysis.planned_look, analysis.final = look_no, planned, final
    analysis.crossed = abs(z) >= boundary
    take = not same and (record == "any" or (record == "planned" and at_planned))
    concluded = take and bool(analysis.crossed or final)
    analysis.notes = notes
    if not take and not same:
        # no look is taken: the interval is the posterior's (conversion), never one at a boundary not spent
        analysis.hypothetical_look = True
        _estimate(analysis, experiment, z, None)
        due = (
            "a planned look is due (the scheduler or `analyze` takes it)"
            if at_planned
            else "next planned look not reached"
        )
        analysis.verdict = _interim_verdict(analysis, experiment, looks, due)
        return analysis
    _estimate(analysis, experiment, z, boundary)
    if take:
        row = ExperimentLook(
            experiment_id=experiment.id or 0,
            look=look_no,
            planned=planned,
            information=min(information, 1.0),
            statistic=z,
            boundary=boundary,
            crossed=bool(analysis.crossed),
            final=final,
            result=_jsonable(analysis),
            at=now,
        )
        session.add(row)
        session.flush()
        row.receipt_id = write_receipt(
            session,
            actor,
            "experiment_look",
            "experiment",
            experiment.id,
            after={"look": look_no, "planned": planned, "z": z, "boundary": boundary, "information": information},
        )
        session.add(row)
        analysis.look_recorded, analysis.receipt_id = True, row.receipt_id
    analysis.verdict = _verdict(analysis, experiment)
    if concluded:
        analysis.concluded = True
        before = {"status": experiment.status}
        experiment.status = "concluded"
        experiment.concluded_at = now
        experiment.conclusion = {
            "verdict": analysis.verdict,
            "look": look_no,
            "estimate": analysis.estimate,
            "low": analysis.low,
            "high": analysis.high,
            "z": z,
            "boundary": boundary,
            "p_value": analysis.p_value,
            "crossed": analysis.crossed,
        }
        session.add(experiment)
        analysis.receipt_id = write_receipt(
            session,
            actor,
            "conclude_experiment",
            "experiment",
            experiment.id,
            before=before,
            after=experiment.conclusion,
        )
        analysis.status = "concluded"
    return analysis


def _norm_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def _jsonable(analysis: Analysis) -> dict[str, Any]:
    import json

    return dict(json.loads(analysis.model_dump_json(exclude={"notes"})))


def _from_look(analysis: Analysis, look: ExperimentLook) -> None:
    analysis.look, analysis.planned_look, analysis.final = look.look, look.planned, look.final
    analysis.z, analysis.boundary, analysis.crossed = look.statistic, look.boundary, look.crossed
    analysis.p_value = float(2 * _norm_sf(abs(look.statistic)))
    analysis.nominal_alpha = float(2 * _norm_sf(look.boundary))


def _estimate(analysis: Analysis, experiment: Experiment, z: float | None, boundary: float | None) -> None:
    """The point estimate, and its interval: repeated confidence interval at the look's level when there is a
    look, else the posterior's 95 % credible interval (conversion) or nothing."""
    from analytics import experiments as stats

    c, t = analysis.control, analysis.treatment
    if experiment.metric == "conversion":
        if c.rate is None or t.rate is None or c.converted is None or t.converted is None:
            return
        analysis.estimate = t.rate - c.rate
        if boundary is not None:
            result = stats.compare_conversion(c.converted, c.cases, t.converted, t.cases, boundary)
            analysis.low, analysis.high = result.low, result.high
            level = f"repeated interval at nominal alpha {result.nominal_alpha:.2g}"
        elif analysis.bayes:
            analysis.low, analysis.high = analysis.bayes["low"], analysis.bayes["high"]
            level = "95% credible interval"
        else:
            level = ""
        text = f"{t.rate:.1%} vs {c.rate:.1%} ({analysis.estimate * 100:+.1f} points"
        if analysis.low is not None and analysis.high is not None:
            text += f"; {level} {analysis.low * 100:+.1f} to {analysis.high * 100:+.1f}"
        analysis.estimate_text = text + ")"
        return
    if analysis.survival:
        hr = float(analysis.survival["hazard_ratio"])
        analysis.estimate = hr
        if boundary is not None and z not in (None, 0.0):
            # Peto's log hazard ratio has standard error |log HR / z|
            se = abs(math.log(hr) / z) if z else 0.0
            analysis.low, analysis.high = math.exp(math.log(hr) - boundary * se), math.exp(math.log(hr) + boundary * se)
        med = (
            f"median {_median(t)} vs {_median(c)} days to {experiment.target} (treatment vs control); "
            f"hazard ratio {hr:.2f}"
        )
        if analysis.low is not None:
            med += f" (repeated interval {analysis.low:.2f} to {analysis.high:.2f}; above 1 = faster)"
        analysis.estimate_text = med


def _days(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f}"


def _median(arm: ArmSummary) -> str:
    if arm.median_low is None:
        return _days(arm.median_days)
    return f"{_days(arm.median_days)} (95% CI {_days(arm.median_low)} to {_days(arm.median_high)})"


def _verdict(analysis: Analysis, experiment: Experiment) -> str:
    look = f"look {analysis.look}" + (" (planned)" if analysis.planned_look else " (not planned)")
    if analysis.crossed:
        better = (analysis.z or 0) > 0
        if experiment.metric == "conversion":
            word = "converts better" if better else "converts worse"
        else:
            word = f"reaches {experiment.target} faster" if better else f"reaches {experiment.target} slower"
        return f"concluded at {look}: the change {word}: {analysis.estimate_text}, p {analysis.p_value:.2g} < {analysis.nominal_alpha:.2g}"
    if analysis.final:
        effect = (
            f"{abs(experiment.minimum_detectable_effect) * 100:.0f} points"
            if experiment.metric == "conversion"
            else f"{abs(experiment.minimum_detectable_effect):.0%} in time"
        )
        return (
            f"concluded at the last look: no difference of {effect} or more detected ({analysis.estimate_text}, "
            f"p {analysis.p_value:.3f})"
        )
    return (
        f"running: {look} did not cross its boundary (|z| {abs(analysis.z or 0):.2f} < {analysis.boundary:.2f}); "
        f"{analysis.estimate_text}; {analysis.information:.0%} of the planned information"
    )


def _interim_verdict(analysis: Analysis, experiment: Experiment, looks: list[ExperimentLook], due: str) -> str:
    last = f"; the last formal look (#{looks[-1].look}) did not cross its boundary" if looks else "; no formal look yet"
    posterior = ""
    if analysis.bayes:
        posterior = f"; P(change better) {analysis.bayes['probability_treatment_better']:.0%}"
    return (
        f"running, not concluded: {analysis.estimate_text}{posterior}; {analysis.information:.0%} of the planned "
        f"information, {due}{last}"
    )


def stop_experiment(
    session: Session, actor: Actor, experiment: Experiment, reason: str, *, now: datetime | None = None
) -> int:
    """End a running experiment without a conclusion (managers and admins; receipt): the rule then acts on
    everyone again, and later analyses see only what happened before the stop."""
    require_manager(actor, "stop an experiment")
    if experiment.status != "running":
        raise InvalidInput({"experiment": f"{experiment.name} is already {experiment.status}"})
    if not reason.strip():
        raise InvalidInput({"reason": "say why it stops (kept in the audit log)"})
    experiment.status = "stopped"
    experiment.stopped_at = now or utcnow()
    experiment.stop_reason = reason.strip()[:500]
    session.add(experiment)
    return write_receipt(
        session,
        actor,
        "stop_experiment",
        "experiment",
        experiment.id,
        before={"status": "running"},
        after={"status": "stopped", "reason": experiment.stop_reason},
    )


# -- the rule under a random split, the scheduler, the briefing ------------------------------------------------


def held_back(session: Session, rule: str, facts: Facts, *, now: datetime | None = None) -> bool:
    """True when ``rule`` is under a running random experiment and the record is in its control arm: the rule
    does not act on it."""
    now = now or utcnow()
    running = session.exec(
        select(Experiment).where(Experiment.rule == rule, Experiment.status == "running", Experiment.design == "random")
    ).all()
    for experiment in running:
        if now < experiment.starts_at:
            continue
        record = facts.deal if experiment.unit == "deal" else facts.lead
        if record is None or record.id is None:
            continue
        if experiment.entry_stage is None and record.created_at < experiment.starts_at:
            continue  # not in the population: it existed before the split began
        if assigned_arm(experiment.seed, experiment.unit, record.id, experiment.treatment_share) == "control":
            return True
    return False


@dataclass
class LooksReport:
    looked: list[str] = field(default_factory=list)
    concluded: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.looked:
            return "no planned look due"
        text = f"{len(self.looked)} planned look(s): {', '.join(self.looked)}"
        return text + (f"; concluded: {', '.join(self.concluded)}" if self.concluded else "")


def run_due_looks(engine: Engine, *, now: datetime | None = None) -> LooksReport:
    """Take every planned look that is due (the sample reached it), one experiment per transaction."""
    from sales.permissions import SYSTEM
    from store.db import session_scope

    report = LooksReport()
    with session_scope(engine, read_only=True) as s:
        ids = [e.id for e in list_experiments(s, status="running")]
    for experiment_id in ids:
        with session_scope(engine) as s:
            experiment = s.get(Experiment, experiment_id)
            if experiment is None or experiment.status != "running":
                continue
            analysis = analyze_experiment(s, SYSTEM, experiment, now=now, record="planned")
            if analysis.look_recorded:
                report.looked.append(experiment.name)
            if analysis.concluded:
                report.concluded.append(experiment.name)
    return report


def concluded_between(session: Session, start: datetime, end: datetime) -> list[Experiment]:
    return list(
        session.exec(
            select(Experiment)
            .where(col(Experiment.concluded_at) >= start, col(Experiment.concluded_at) < end)
            .order_by(col(Experiment.concluded_at))
        )
    )


__all__ = [
    "Analysis",
    "Case",
    "ExperimentSpec",
    "analyze_experiment",
    "assigned_arm",
    "concluded_between",
    "define_experiment",
    "find_experiments",
    "get_experiment",
    "held_back",
    "list_experiments",
    "run_due_looks",
    "stop_experiment",
]
