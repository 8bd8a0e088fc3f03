"""The experiment tool: is a process change (a rule, a new way of working) working yet? Estimate, interval,
p or posterior, the sample so far and whether it concluded, from ``sales.experiments``."""

from __future__ import annotations

from store.db import session_scope
from tools.base import RunContext
from tools.results import ExperimentAnswer, ExperimentStatusResult
from tools.schemas import ExperimentStatusArgs


def experiment_status(ctx: RunContext, args: ExperimentStatusArgs) -> ExperimentStatusResult:
    """The experiments the question names (by name, rule or change words), or every running one. A planned look
    whose sample is reached is taken (with its receipt); a look before that is never taken here, so asking does
    not spend alpha: the interim answer is the estimate with its posterior."""
    from sales.experiments import analyze_experiment, find_experiments, list_experiments, require_manager

    require_manager(ctx.actor, "see experiment results")
    with session_scope(ctx.engine) as s:
        found = find_experiments(s, args.experiment)[:5]
        answers = []
        for experiment in found:
            a = analyze_experiment(s, ctx.actor, experiment, record="planned")
            answers.append(
                ExperimentAnswer(
                    experiment_id=a.experiment_id,
                    name=a.experiment,
                    change=a.change,
                    status=a.status,
                    design=a.design,
                    metric=a.metric_text,
                    control_cases=a.control.cases,
                    treatment_cases=a.treatment.cases,
                    needed_per_arm=a.needed_per_arm,
                    information=round(a.information, 4),
                    enough_data=a.enough_data,
                    estimate=a.estimate_text,
                    p_value=a.p_value,
                    boundary=a.boundary,
                    probability_better=a.bayes["probability_treatment_better"] if a.bayes else None,
                    concluded=a.concluded,
                    verdict=a.verdict,
                    look=a.look,
                    receipt_id=a.receipt_id if a.look_recorded or a.concluded else None,
                )
            )
        note = None
        if not found:
            names = ", ".join(f"{e.name} ({e.status})" for e in list_experiments(s)) or "none is defined yet"
            what = f"matches {args.experiment!r}" if args.experiment else "is running"
            note = f"no experiment {what}; experiments: {names}"
        return ExperimentStatusResult(query=args.experiment, experiments=answers, note=note)
