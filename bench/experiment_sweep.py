"""Experiments end to end over many simulated ones: the planted lift is detected at the stated power and a null
change is reported at most at alpha, through the same code a manager's `salesgraph experiments analyze` runs.

    python -m bench.experiment_sweep [--sims 300] [--looks 3] [--mde 0.1]

Each simulated experiment is defined in a SQLite store (``define_experiment``: random split by a seeded hash, the
conversion to Won within 42 days, baseline 20 %), and its population of new deals is drawn in memory (the seeded
hash decides each deal's arm; a deal in the treatment arm is won with baseline + lift within 5-40 days, else lost
or left open). ``analyze_experiment`` then takes a look at each planned calendar time (when the planned share of the
cases has had its whole window) and at the end, with the alpha-spending boundaries and the looks recorded in the
store, exactly as for a real experiment; an experiment counts as a detection when any look concludes "better".
Half the runs plant the lift (power), half plant none (false positives). Writes bench/results/experiment_sweep.json.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.memory_common import write_result

SUITE = [{"label": "300 sims", "args": ["--sims", "300"], "timeout_s": 1800}]
START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW = 42
PER_DAY = 4


def _population(seed: str, n: int, base: float, lift: float, rng: random.Random) -> list[Any]:
    from sales.experiments import Case, assigned_arm

    cases = []
    for i in range(1, n + 1):
        entered = START + timedelta(days=(i - 1) / PER_DAY, hours=rng.uniform(0, 5))
        treated = assigned_arm(seed, "deal", i, 0.5) == "treatment"
        reached = left = None
        if rng.random() < base + (lift if treated else 0.0):
            reached = entered + timedelta(days=rng.uniform(5, 40))
        elif rng.random() < 0.7:
            left = entered + timedelta(days=rng.uniform(5, 60))
        cases.append(Case(i, entered, rng.choice(("small", "mid-market", "enterprise")), reached, left))
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=300, help="experiments per scenario (lift, no lift)")
    parser.add_argument("--looks", type=int, default=3)
    parser.add_argument("--mde", type=float, default=0.1)
    parser.add_argument("--baseline", type=float, default=0.2)
    args = parser.parse_args(argv)

    from sales.experiments import ExperimentSpec, analyze_experiment, define_experiment
    from sales.permissions import SYSTEM
    from store.db import make_engine, session_scope, upgrade
    from store.models import Experiment

    engine = make_engine("sqlite://")
    upgrade(engine)
    rng = random.Random(2026)
    outcomes: dict[str, list[dict[str, Any]]] = {"lift": [], "null": []}
    started = time.perf_counter()
    per_arm = 0
    for scenario, lift in (("lift", args.mde), ("null", 0.0)):
        for i in range(args.sims):
            seed = f"{scenario}-{i}"
            with session_scope(engine) as s:
                defined = define_experiment(
                    s,
                    SYSTEM,
                    ExperimentSpec(
                        name=seed,
                        change="simulated",
                        minimum_detectable_effect=args.mde,
                        baseline=args.baseline,
                        window_days=WINDOW,
                        looks=args.looks,
                        seed=seed,
                    ),
                    now=START,
                )
                experiment_id = defined.experiment.id
                per_arm = int(defined.plan["per_arm"])
            n = math.ceil(2 * per_arm * 1.08)  # the hash splits about evenly: a little spare for the smaller arm
            cases = _population(seed, n, args.baseline, lift, rng)
            accrual_days = n / PER_DAY
            concluded = None
            looks = 0
            naive = False  # the same looks, each at the fixed 1.96 (peeking with no correction)
            for k in range(1, args.looks + 2):  # the planned looks, then one when every case has had its window
                days = WINDOW + 1 + accrual_days * min(k / args.looks, 1.0) / 1.08 if k <= args.looks else None
                at = START + timedelta(days=days if days is not None else accrual_days + WINDOW + 2)
                with session_scope(engine) as s:
                    experiment = s.get(Experiment, experiment_id)
                    assert experiment is not None
                    if experiment.status != "running":
                        break
                    analysis = analyze_experiment(s, SYSTEM, experiment, now=at, cases=cases)
                    looks += int(analysis.look_recorded)
                    naive |= analysis.z is not None and abs(analysis.z) >= 1.959964
                    if analysis.concluded:
                        concluded = analysis
            better = bool(concluded and concluded.crossed and (concluded.z or 0) > 0)
            worse = bool(concluded and concluded.crossed and (concluded.z or 0) < 0)
            outcomes[scenario].append({"better": better, "worse": worse, "looks": looks, "naive": naive})
    elapsed = time.perf_counter() - started

    def rate(rows: list[dict[str, Any]], key: str) -> float:
        return round(sum(r[key] for r in rows) / len(rows), 4) if rows else 0.0

    lift_rows, null_rows = outcomes["lift"], outcomes["null"]
    result = {
        "benchmark": "experiment_sweep",
        "sims_per_scenario": args.sims,
        "baseline": args.baseline,
        "minimum_detectable_effect": args.mde,
        "alpha": 0.05,
        "stated_power": 0.8,
        "planned_looks": args.looks,
        "per_arm": per_arm,
        "detected_with_lift": rate(lift_rows, "better"),
        "power_standard_error": round(math.sqrt(0.8 * 0.2 / max(args.sims, 1)), 4),
        "false_positive_rate": round(rate(null_rows, "better") + rate(null_rows, "worse"), 4),
        "false_positive_standard_error": round(math.sqrt(0.05 * 0.95 / max(args.sims, 1)), 4),
        "false_positive_rate_uncorrected_peeking": rate(null_rows, "naive"),
        "mean_looks_with_lift": round(sum(r["looks"] for r in lift_rows) / max(len(lift_rows), 1), 2),
        "seconds": round(elapsed, 1),
        "seconds_per_experiment": round(elapsed / max(2 * args.sims, 1), 3),
    }
    write_result("experiment_sweep", result)


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    sims = result["sims_per_scenario"]
    return [
        {
            "figure": f"planted lift detected ({sims} simulated experiments, stated power 80 %)",
            "ours": result["detected_with_lift"],
            "baseline": result["stated_power"],
            "baseline_name": "the stated power",
            "unit": "share",
        },
        {
            "figure": f"no lift, reported anyway ({sims} simulated experiments, {result['planned_looks']} looks)",
            "ours": result["false_positive_rate"],
            "baseline": result["false_positive_rate_uncorrected_peeking"],
            "baseline_name": "the same looks at the fixed 1.96",
            "unit": "share",
        },
    ]


if __name__ == "__main__":
    main()
