"""``salesgraph experiments``: define a process change to measure (power before it starts), look at it with the
sequential correction, see what concluded, stop one."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from sales.experiments import Analysis
    from store.models import Experiment

app = typer.Typer(
    help=(
        "Experiments: measure a process change (an automation rule, or a change in how the team works) against a "
        "control, find → change → measure.\n\n"
        "`define` fixes the change, who gets it (`--design random`: a seeded hash of each new deal's id puts half "
        "of them in the treatment arm, and a rule under test acts on that arm only; `--design before-after`: "
        "deals from the start against a control period before it, cut to the same size mix; leads: source mix), "
        "the primary metric "
        "(conversion to a stage within a window, or days to reach a stage), the minimum detectable effect, alpha, "
        "power and the planned looks, and prints the sample size and duration it needs before it starts.\n\n"
        "`analyze` takes a look: the boundary comes from an O'Brien-Fleming-type alpha-spending function, so a "
        "look before a planned one is allowed, says so, and needs a stronger result. The scheduler takes each "
        "planned look when the sample reaches it; a look that crosses its boundary, or the last one, concludes "
        "the experiment, and the next daily briefing reports it.\n\n"
        "Example:\n\n"
        "    salesgraph experiments define 'proposal follow-up' --rule proposal-follow-up --entry Proposal "
        "--target won --mde 0.05 --looks 3 --as maria.chen@demo.example\n\n"
        "    salesgraph experiments analyze 'proposal follow-up' --as maria.chen@demo.example"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _moment(value: str | None, what: str) -> datetime | None:
    from bots.common import parse_date

    day = parse_date(value, what, prefer="past")
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def _effect(experiment: Experiment | Any, value: float | None = None) -> str:
    effect = experiment.minimum_detectable_effect if value is None else value
    if experiment.metric == "conversion":
        return f"{effect * 100:+.1f} points"
    return f"{effect:+.0%} in time to {experiment.target}"


def _plan_lines(experiment: Experiment) -> list[str]:
    plan = experiment.plan
    unit = experiment.unit
    looks = int(plan.get("looks") or 1)
    bounds = ", ".join(f"{b:.2f}" for b in plan.get("boundaries") or [])
    base = (
        f"baseline {experiment.baseline:.1%}"
        if experiment.metric == "conversion"
        else f"{experiment.baseline:.0%} of cases reach {experiment.target}"
    )
    lines = [
        f"Change: {experiment.change}",
        f"Metric: {_metric(experiment)}",
        f"Split: {_split(experiment)}",
        f"Plan: {int(plan['per_arm']):,} {unit}s per arm"
        + (f" ({int(plan['events']):,} reaching {experiment.target})" if plan.get("events") else "")
        + f" to detect {_effect(experiment)} ({base}) with {experiment.power:.0%} power at alpha "
        f"{experiment.alpha:g}, over {looks} planned look{'s' if looks != 1 else ''}"
        + (f" (|z| boundaries {bounds}; one look would need {int(plan['fixed_per_arm']):,})" if looks > 1 else ""),
    ]
    rate, days = plan.get("rate_per_day") or 0, plan.get("expected_days")
    if days:
        lines.append(
            f"Duration: about {int(days):,} days from the start at {rate:.1f} new {unit}s a day (the 90 days before)"
            + (f", including the {experiment.window_days}-day window" if experiment.window_days else "")
        )
    lines += [f"Note: {n}" for n in plan.get("notes") or []]
    return lines


def _metric(experiment: Experiment) -> str:
    entry = (
        f"{experiment.unit}s entering {experiment.entry_stage}" if experiment.entry_stage else f"new {experiment.unit}s"
    )
    if experiment.metric == "conversion":
        return f"{entry}: share reaching {experiment.target} within {experiment.window_days} days"
    return f"{entry}: days to reach {experiment.target} (Kaplan-Meier and log-rank; open ones censored)"


def _split(experiment: Experiment) -> str:
    from sales.experiments import segment_kind

    start = experiment.starts_at.date().isoformat()
    if experiment.design == "random":
        return (
            f"random from {start}: {experiment.treatment_share:.0%} of new {experiment.unit}s by a seeded hash of "
            f"their id (seed {experiment.seed})" + (" ; the rule acts on that arm only" if experiment.rule else "")
        )
    control = experiment.control_from.date().isoformat() if experiment.control_from else "?"
    kind = segment_kind(experiment.unit)
    return f"before/after: from {start} against {control} to {start}, the control cut to the same {kind} mix"


def _print_analysis(analysis: Analysis) -> None:
    from rich.table import Table

    from bots.common import console
    from bots.render import print_table

    out = console()
    out.print(f"{analysis.experiment}: {analysis.verdict}", highlight=False)
    table = Table(title=analysis.metric_text)
    for column in ("arm", "cases", "converted" if analysis.metric == "conversion" else "reached", "rate / median"):
        table.add_column(column)
    for label, arm in (("control", analysis.control), ("treatment", analysis.treatment)):
        if analysis.metric == "conversion":
            value = f"{arm.rate:.1%}" if arm.rate is not None else "-"
            table.add_row(label, f"{arm.cases:,}", f"{arm.converted or 0:,}", value)
        else:
            median = "not reached" if arm.median_days is None else f"{arm.median_days:.0f} d"
            if arm.median_low is not None:
                high = "not reached" if arm.median_high is None else f"{arm.median_high:.0f}"
                median += f" (95% CI {arm.median_low:.0f} to {high})"
            table.add_row(label, f"{arm.cases:,}", f"{arm.events or 0:,}", median)
    print_table(table, out)
    needed = f"{analysis.needed_per_arm:,} per arm" + (
        f", {analysis.needed_events:,} events" if analysis.needed_events else ""
    )
    out.print(f"Information: {analysis.information:.0%} of the plan ({needed}).", highlight=False)
    if analysis.look is not None and analysis.z is not None and analysis.boundary is not None:
        kind = "planned" if analysis.planned_look else "not planned"
        head = f"No look taken: one now would be look {analysis.look}" if analysis.hypothetical_look else "Look"
        if not analysis.hypothetical_look:
            head += f" {analysis.look}"
        out.print(
            f"{head} ({kind}): z {analysis.z:+.2f} against the boundary |z| >= {analysis.boundary:.2f} "
            f"(nominal p < {analysis.nominal_alpha:.2g}); unadjusted p {analysis.p_value:.2g}.",
            highlight=False,
        )
    if analysis.bayes:
        b = analysis.bayes
        out.print(
            f"Beta-binomial (uniform prior): P(change better) {b['probability_treatment_better']:.1%}; difference "
            f"{b['mean_difference'] * 100:+.1f} points, 95% credible interval {b['low'] * 100:+.1f} to "
            f"{b['high'] * 100:+.1f}.",
            highlight=False,
        )
    if analysis.survival:
        s = analysis.survival
        out.print(
            f"Log-rank: z {s['z']:+.2f}, hazard ratio {s['hazard_ratio']:.2f} (above 1: the change reaches "
            f"{analysis.target} faster); events {s['events_control']} control, {s['events_treatment']} treatment.",
            highlight=False,
        )
    if analysis.mann_whitney:
        m = analysis.mann_whitney
        out.print(
            f"Mann-Whitney on the cases that reached it (descriptive): shift {m['shift_days']:+.1f} days, "
            f"p {m['p_value']:.2g}.",
            highlight=False,
        )
    if analysis.matched:
        out.print(f"Matched control: {analysis.matched}.", highlight=False)
    for note in analysis.notes:
        out.print(f"Note: {note}.", highlight=False)
    if analysis.look_recorded:
        out.print(f"Look {analysis.look} recorded; receipt {analysis.receipt_id}.", highlight=False)


@app.command("define")
def define_cmd(
    name: Annotated[str, typer.Argument(help="A name to refer to it by, e.g. 'proposal follow-up'.")],
    mde: Annotated[
        float,
        typer.Option(
            "--mde",
            help="Minimum detectable effect. Conversion: an absolute lift (0.05 = five points). Cycle time: a "
            "relative change of the time (-0.2 = 20 % faster).",
        ),
    ],
    rule: Annotated[
        str | None, typer.Option("--rule", help="The automation rule under test (`salesgraph rules show`).")
    ] = None,
    change: Annotated[str | None, typer.Option("--change", help="The process change, in words.")] = None,
    unit: Annotated[str, typer.Option("--unit", help="deal or lead: whose outcome is measured.")] = "deal",
    entry: Annotated[
        str | None, typer.Option("--entry", help="Deals enter the experiment at this stage (default: created).")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="conversion or cycle-time.")] = "conversion",
    target: Annotated[
        str, typer.Option("--target", help="The stage to reach (won, or an open stage; leads: qualified).")
    ] = "won",
    window: Annotated[
        int | None,
        typer.Option("--window", help="Conversion: reached within this many days (default: from history)."),
    ] = None,
    design: Annotated[str, typer.Option("--design", help="random or before-after.")] = "random",
    share: Annotated[
        float, typer.Option("--share", help="Random: the share of new records that get the change.")
    ] = 0.5,
    seed: Annotated[
        str | None, typer.Option("--seed", help="Random: the assignment seed (default: a new one).")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="When the change starts (default: now).")] = None,
    control_from: Annotated[
        str | None, typer.Option("--control-from", help="Before-after: the control period's first day.")
    ] = None,
    baseline: Annotated[
        float | None,
        typer.Option("--baseline", help="The control's rate (default: the store's last year); cycle: share reaching."),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided false-positive rate.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Chance to detect the effect if it is real.")] = 0.8,
    looks: Annotated[int, typer.Option("--looks", help="Planned looks, evenly spaced in information.")] = 1,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Define an experiment (managers and admins; receipt) and print what it needs before it starts: cases per
    arm, events for cycle time, and the expected duration at the store's recent rate of new deals.

    Examples:

        salesgraph experiments define 'proposal follow-up' --rule proposal-follow-up --entry Proposal --mde 0.05 --looks 3

        salesgraph experiments define 'discovery calls' --change 'a call in the first week' --metric cycle-time --target Proposal --mde -0.2 --design before-after --start 2026-10-01
    """
    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from bots.render import emit_json
    from sales.experiments import ExperimentSpec, define_experiment
    from store.db import session_scope

    metric_name = metric.replace("-", "_")
    design_name = design.replace("-", "_")
    if metric_name not in ("conversion", "cycle_time"):
        fail(f"--metric: {metric!r}: use conversion or cycle-time")
    if design_name not in ("random", "before_after"):
        fail(f"--design: {design!r}: use random or before-after")
    if unit not in ("deal", "lead"):
        fail(f"--unit: {unit!r}: use deal or lead")
    spec = ExperimentSpec(
        name=name,
        minimum_detectable_effect=mde,
        change=change,
        rule=rule,
        unit=unit,  # type: ignore[arg-type]
        entry_stage=entry,
        metric=metric_name,  # type: ignore[arg-type]
        target=target,
        window_days=window,
        design=design_name,  # type: ignore[arg-type]
        seed=seed,
        treatment_share=share,
        starts_at=_moment(start, "--start"),
        control_from=_moment(control_from, "--control-from"),
        baseline=baseline,
        alpha=alpha,
        power=power,
        looks=looks,
    )
    with friendly_errors(), session_scope(services().engine) as s:
        defined = define_experiment(s, resolve_actor(s, as_), spec)
        experiment = defined.experiment
        lines = _plan_lines(experiment)
        data = {"id": experiment.id, "name": experiment.name, "receipt_id": defined.receipt_id, "plan": defined.plan}
    if json_out:
        emit_json(data)
        return
    out = console()
    out.print(f"Experiment #{data['id']} {data['name']} defined; receipt {defined.receipt_id}.", highlight=False)
    for line in lines:
        out.print(line, highlight=False)


@app.command("list")
def list_cmd(json_out: JsonOption = False) -> None:
    """Every experiment: status, design, metric, when it started, what it needs, looks taken.

    Example:

        salesgraph experiments list
    """
    from rich.table import Table

    from bots.common import console, session
    from bots.render import emit_json, print_table
    from sales.experiments import list_experiments
    from store.models import ExperimentLook

    with session(read_only=True) as s:
        rows: list[dict[str, Any]] = []
        for e in list_experiments(s):
            taken = len(s.exec(_looks_of(e.id, ExperimentLook)).all())
            rows.append(
                {
                    "id": e.id,
                    "name": e.name,
                    "status": e.status,
                    "design": e.design,
                    "metric": e.metric,
                    "target": e.target,
                    "starts_at": e.starts_at,
                    "per_arm": e.plan.get("per_arm"),
                    "looks_taken": taken,
                    "looks_planned": e.looks,
                    "verdict": (e.conclusion or {}).get("verdict"),
                }
            )
    if json_out:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print("No experiments yet (a manager defines one with `salesgraph experiments define`).")
        return
    table = Table(title="Experiments")
    for column in ("#", "name", "status", "design", "metric", "started", "per arm", "looks"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["status"],
            r["design"],
            f"{r['metric']} → {r['target']}",
            r["starts_at"].date().isoformat(),
            f"{r['per_arm']:,}",
            f"{r['looks_taken']} of {r['looks_planned']}",
        )
    print_table(table, out)


def _looks_of(experiment_id: int | None, model: Any) -> Any:
    from sqlmodel import col, select

    return select(model).where(model.experiment_id == experiment_id).order_by(col(model.look))


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="The experiment's name or id.")],
    json_out: JsonOption = False,
) -> None:
    """An experiment's definition, plan and the looks taken so far.

    Example:

        salesgraph experiments show 'proposal follow-up'
    """
    from bots.common import console, session
    from bots.render import emit_json
    from sales.experiments import get_experiment
    from store.models import ExperimentLook

    with session(read_only=True) as s:
        e = get_experiment(s, name)
        looks = list(s.exec(_looks_of(e.id, ExperimentLook)).all())
        lines = _plan_lines(e)
        data = e.model_dump() | {"looks_taken": [look.model_dump() for look in looks]}
    if json_out:
        emit_json(data)
        return
    out = console()
    out.print(f"Experiment #{e.id} {e.name} ({e.status}, defined receipt {e.receipt_id})", highlight=False)
    for line in lines:
        out.print(line, highlight=False)
    for look in looks:
        kind = "planned" if look.planned else "not planned"
        out.print(
            f"Look {look.look} ({kind}, {look.at:%Y-%m-%d}): {look.information:.0%} information, z "
            f"{look.statistic:+.2f} vs |z| >= {look.boundary:.2f}: {'crossed' if look.crossed else 'not crossed'}; "
            f"receipt {look.receipt_id}",
            highlight=False,
        )
    if e.conclusion:
        out.print(f"Concluded {e.concluded_at:%Y-%m-%d}: {e.conclusion.get('verdict')}", highlight=False)
    if e.stopped_at:
        out.print(f"Stopped {e.stopped_at:%Y-%m-%d}: {e.stop_reason}", highlight=False)


@app.command("analyze")
def analyze_cmd(
    name: Annotated[str, typer.Argument(help="The experiment's name or id.")],
    no_look: Annotated[
        bool,
        typer.Option(
            "--no-look", help="Show the estimate and the posterior without taking a formal look (nothing recorded)."
        ),
    ] = False,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Look at an experiment now (managers and admins): the estimate with its interval, the test against this
    look's alpha-spending boundary, the beta-binomial posterior (conversion) or Kaplan-Meier medians and the
    log-rank test (cycle time), and whether it concluded. A look with new data is recorded with a receipt; one
    taken before a planned look says so and needs a stronger result.

    Examples:

        salesgraph experiments analyze 'proposal follow-up'

        salesgraph experiments analyze 'proposal follow-up' --no-look --json
    """
    from bots.common import friendly_errors, resolve_actor, services
    from bots.render import emit_json
    from sales.experiments import analyze_experiment, get_experiment
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        experiment = get_experiment(s, name)
        analysis = analyze_experiment(s, resolve_actor(s, as_), experiment, record="none" if no_look else "any")
    if json_out:
        emit_json(analysis.model_dump())
        return
    _print_analysis(analysis)


@app.command("stop")
def stop_cmd(
    name: Annotated[str, typer.Argument(help="The experiment's name or id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it stops; kept in the audit log.")],
    as_: AsOption = None,
) -> None:
    """Stop a running experiment without a conclusion (managers and admins; receipt). A rule under test then acts
    on every record again.

    Example:

        salesgraph experiments stop 'proposal follow-up' --reason "rule rewritten"
    """
    from bots.common import console, friendly_errors, resolve_actor, services
    from sales.experiments import get_experiment, stop_experiment
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine) as s:
        experiment = get_experiment(s, name)
        receipt = stop_experiment(s, resolve_actor(s, as_), experiment, reason)
        label = experiment.name
    console().print(f"Experiment {label} stopped; receipt {receipt}.", highlight=False)
