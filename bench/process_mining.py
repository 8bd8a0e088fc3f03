"""Process-mining benchmark: our full bottleneck report on BPI Challenge 2012 next to pm4py's own performance DFG on
the same log in the same run; the new steps (queue vs working time from start/complete events, resource workload
and handovers, conformance of completed cases with a model mined on a training split, precision) next to plain
pm4py doing the same on the same log (lifecycle → interval log + service time, handover-of-work network, IMf,
token-replay fitness and ETConformance precision of all held-out cases); and peak memory of the report on a
1,000,000-event synthetic log (in a subprocess).

    python -m bench.process_mining [--skip-bpi] [--skip-synthetic] [--events 1000000] [--full-pm4py]
        [--skip-pm4py-precision]

Prints JSON and writes it to bench/results/process_mining.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
BPI_FILE = "eventlogs/bpic2012.xes.gz"
# The loan application funnel of BPI 2012 read as a sales playbook: application → offer → approval.
BPI_PLAYBOOK = (
    "A_SUBMITTED",
    "A_PARTLYSUBMITTED",
    "A_PREACCEPTED",
    "A_ACCEPTED",
    "A_FINALIZED",
    "O_SENT",
    "O_SENT_BACK",
)
BPI_WON, BPI_LOST = "A_APPROVED", "A_DECLINED"
# An application ends approved, declined or cancelled; the 399 with none of these are still open.
BPI_END = ("A_APPROVED", "A_DECLINED", "A_CANCELLED")


def _shared_data() -> Path:
    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("SALESGRAPH_SHARED_DATA", root.parent / "shared" / "data"))


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _top(report: Any, n: int = 5) -> list[dict[str, Any]]:
    return [
        {"rank": f.rank, "kind": f.kind, "title": f.title, "cost": round(f.cost, 1), "unit": f.cost_unit,
         "statement": f.statement}
        for f in report.findings[:n]
    ]  # fmt: skip


def _report_once(log: Any, out_dir: Path, label: str) -> tuple[float, dict[str, float], Any]:
    from analytics.bottlenecks import analyse_event_log
    from analytics.process_report import write_report

    start = time.perf_counter()
    report = analyse_event_log(log)
    analysed = time.perf_counter()
    write_report(report, markdown=out_dir / f"{label}.md", html_path=out_dir / f"{label}.html")
    done = time.perf_counter()
    return done - start, {"analysis_s": analysed - start, "charts_and_files_s": done - analysed}, report


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - start, 3)


def bench_new_steps(log: Any, pm_frame: Any, *, pm4py_precision: bool) -> dict[str, Any]:
    """The steps added for issue 16 on BPI 2012, each beside plain pm4py computing the same thing on the same log."""
    import pandas as pd

    from analytics import process

    pm4py = process.quiet_import_pm4py()
    ours: dict[str, Any] = {}
    lifecycle, ours["lifecycle_queue_working_s"] = _timed(lambda: process.lifecycle_times(log))
    resources, ours["resource_workload_handovers_s"] = _timed(lambda: process.resource_workload(log))
    conf, ours["conformance_completed_cases_s"] = _timed(lambda: process.check_conformance(log, log.events))
    ours["conformance_steps"] = conf.timings
    validate = lifecycle.activities[0] if lifecycle and lifecycle.activities else None

    plain: dict[str, Any] = {}
    from pm4py.objects.log.util import interval_lifecycle

    # only the standard columns, and no frame attributes: pm4py's to_interval returns a log unchanged when it looks
    # like an interval log already
    columns = ["case:concept:name", "concept:name", "time:timestamp", "lifecycle:transition", "org:resource"]
    lifecycle_frame = pd.DataFrame({c: pm_frame[c].to_numpy() for c in columns})
    event_log, plain["convert_to_event_log_s"] = _timed(lambda: pm4py.convert_to_event_log(lifecycle_frame))
    interval, plain["to_interval_s"] = _timed(lambda: interval_lifecycle.to_interval(event_log))
    if interval.attributes.get("PM4PY_TYPE") != "interval":
        raise RuntimeError("pm4py did not convert the BPI log to an interval log; the baseline would be wrong")
    service, plain["service_time_median_s"] = _timed(
        lambda: pm4py.get_service_time(interval, aggregation_measure="median", start_timestamp_key="start_timestamp")
    )
    complete = pm_frame[pm_frame["lifecycle:transition"].str.lower() == "complete"]
    # pm4py's handover network fails on events without a resource (it sorts str with NaN): give it the completions
    # that name one, as ours counts
    named = complete[complete["org:resource"].notna()]
    _, plain["handover_of_work_network_s"] = _timed(lambda: pm4py.discover_handover_of_work_network(named))
    # the same completed, held-out cases as ours (later 30 % by start), complete events only
    done = set(complete.loc[complete["concept:name"].isin(BPI_END), "case:concept:name"])
    complete = complete[complete["case:concept:name"].isin(done)]
    starts = complete.groupby("case:concept:name")["time:timestamp"].min().sort_values(kind="stable")
    cut = int(len(starts) * process.TRAIN_SHARE)
    train = complete[complete["case:concept:name"].isin(set(starts.index[:cut]))]
    test = complete[complete["case:concept:name"].isin(set(starts.index[cut:]))]
    (net, im, fm), plain["inductive_miner_imf_s"] = _timed(
        lambda: pm4py.discover_petri_net_inductive(train, noise_threshold=process.MINER_NOISE_THRESHOLD)
    )
    fitness, plain["token_replay_fitness_s"] = _timed(lambda: pm4py.fitness_token_based_replay(test, net, im, fm))
    plain["fitness_log_fitness"] = round(float(fitness["log_fitness"]), 4)
    if pm4py_precision:
        precision, plain["precision_etc_all_held_out_s"] = _timed(
            lambda: pm4py.precision_token_based_replay(test, net, im, fm)
        )
        plain["precision_all_held_out"] = round(float(precision), 4)
    return {
        "ours": ours,
        "plain_pm4py": plain,
        "queue_before": {
            "activity": validate.activity if validate else None,
            "median_queue_hours": round(validate.median_queue_hours or 0.0, 2) if validate else None,
            "median_working_hours": round(validate.median_working_hours, 3) if validate else None,
            "queue_share": round(validate.queue_share, 4) if validate else None,
            "pm4py_median_service_time_hours": round(service.get(validate.activity, 0.0) / 3600, 3)
            if validate
            else None,
            "statement": lifecycle.statement if lifecycle else None,
        },
        "lifecycle_by_activity": [a.model_dump() for a in lifecycle.activities] if lifecycle else [],
        "resources": resources.resources if resources else 0,
        "handover_share": round(resources.handover_share, 4) if resources else None,
        "top_handovers": [h.model_dump() for h in resources.handovers[:5]] if resources else [],
        "conformance": {
            "completed_cases": conf.completed_cases,
            "open_cases_left_out": conf.open_cases,
            "model_source": conf.model_source,
            "evaluated_on": conf.evaluated_on,
            "mean_fitness": round(conf.mean_fitness, 4),
            "share_below_0.85": round(conf.share_below_threshold, 4),
            "variants_replayed": conf.variants_replayed,
            "precision": round(conf.precision, 4) if conf.precision is not None else None,
            "precision_cases": conf.precision_cases,
        },
    }


def bench_bpi(full_pm4py: bool, pm4py_precision: bool = True) -> dict[str, Any]:
    import copy

    path = _shared_data() / BPI_FILE
    if not path.is_file():
        return {"skipped": f"{path} not found (set SALESGRAPH_SHARED_DATA)"}
    from analytics.eventlog import read_event_log_file
    from analytics.process import quiet_import_pm4py

    t = time.perf_counter()
    pm4py = quiet_import_pm4py()
    import_pm4py_s = time.perf_counter() - t

    # pm4py alone: its own XES reader and its performance DFG, on the full log
    t = time.perf_counter()
    pm_frame = pm4py.read_xes(str(path), show_progress_bar=False)
    pm_read_s = time.perf_counter() - t
    t = time.perf_counter()
    pm4py.discover_performance_dfg(pm_frame)
    pm_perf_dfg_s = time.perf_counter() - t
    pm_complete = pm_frame[pm_frame["lifecycle:transition"].str.lower() == "complete"]
    t = time.perf_counter()
    pm4py.discover_performance_dfg(pm_complete)
    pm_perf_dfg_complete_s = time.perf_counter() - t
    baseline: dict[str, Any] = {
        "pm4py_import_s": round(import_pm4py_s, 3),
        "pm4py_read_xes_s": round(pm_read_s, 3),
        "pm4py_performance_dfg_s": round(pm_perf_dfg_s, 3),
        "pm4py_performance_dfg_complete_events_s": round(pm_perf_dfg_complete_s, 3),
        "events_all_lifecycles": len(pm_frame),
    }
    if full_pm4py:
        t = time.perf_counter()
        net, im, fm = pm4py.discover_petri_net_inductive(pm_complete)
        baseline["pm4py_inductive_miner_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        pm4py.conformance_diagnostics_token_based_replay(pm_complete, net, im, fm)
        baseline["pm4py_token_replay_s"] = round(time.perf_counter() - t, 3)
    del pm_complete

    t = time.perf_counter()
    log = read_event_log_file(path, end_activities=BPI_END)
    our_read_s = time.perf_counter() - t
    new_steps = bench_new_steps(log, pm_frame, pm4py_precision=pm4py_precision)
    del pm_frame

    out: dict[str, Any] = {
        "log": path.name,
        "cases": log.n_cases,
        "events_analysed": log.n_events,
        "baseline": baseline,
        "ours_read_xes_s": round(our_read_s, 3),
        "lifecycle_events": 0 if log.lifecycle is None else len(log.lifecycle),
        "case_noun": log.case_noun,
        "new_steps": new_steps,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        playbook_log = copy.copy(log)
        playbook_log.stages, playbook_log.won_stage, playbook_log.lost_stage = BPI_PLAYBOOK, BPI_WON, BPI_LOST
        playbook_log.end_activities = BPI_END
        cold_s, cold_parts, _ = _report_once(playbook_log, folder, "cold")
        warm_s, warm_parts, report = _report_once(playbook_log, folder, "playbook")
        plain_s, plain_parts, plain = _report_once(log, folder, "discovered")
    out["report_with_playbook"] = {
        "first_run_s": round(cold_s, 3),
        "first_run_parts": {k: round(v, 3) for k, v in cold_parts.items()},
        "seconds": round(warm_s, 3),
        "parts": {k: round(v, 3) for k, v in warm_parts.items()},
        "steps": report.timings,
        "x_pm4py_performance_dfg": round(warm_s / pm_perf_dfg_s, 2),
        "conformance": {
            "mean_fitness": round(report.conformance.mean_fitness, 4) if report.conformance else None,
            "share_below_0.85": round(report.conformance.share_below_threshold, 4) if report.conformance else None,
            "precision": report.conformance.precision if report.conformance else None,
            "completed_cases": report.conformance.completed_cases if report.conformance else None,
            "open_cases_left_out": report.conformance.open_cases if report.conformance else None,
        },
        "top_findings": _top(report),
        "notes": report.notes,
    }
    out["report_discovered_model"] = {
        "seconds": round(plain_s, 3),
        "parts": {k: round(v, 3) for k, v in plain_parts.items()},
        "steps": plain.timings,
        "x_pm4py_performance_dfg": round(plain_s / pm_perf_dfg_s, 2),
        "top_findings": _top(plain),
        "notes": plain.notes,
    }
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return out


def _synthetic_child(n_events: int) -> None:
    """Runs in a fresh interpreter so its peak memory is the report's alone."""
    from analytics.bottlenecks import analyse_event_log
    from analytics.eventlog import synthetic_event_log
    from analytics.process_report import write_report

    # about 9.4 events per case with the generator's defaults
    n_cases = int(n_events / 9.4)
    t = time.perf_counter()
    log = synthetic_event_log(n_cases, seed=1)
    while log.n_events < n_events:
        n_cases = int(n_cases * 1.02) + 1
        log = synthetic_event_log(n_cases, seed=1)
    generated = time.perf_counter() - t
    after_generation = _peak_rss_mb()
    t = time.perf_counter()
    report = analyse_event_log(log)
    analysed = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_report(report, markdown=Path(tmp) / "r.md", html_path=Path(tmp) / "r.html")
        written = time.perf_counter() - t
    top = report.findings[0]
    print(
        json.dumps(
            {
                "events": log.n_events,
                "cases": log.n_cases,
                "generate_s": round(generated, 3),
                "analysis_s": round(analysed, 3),
                "charts_and_files_s": round(written, 3),
                "steps": report.timings,
                "events_per_second": round(log.n_events / analysed),
                "peak_rss_mb_after_generation": round(after_generation, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "top_finding": top.title,
                "planted_effect_found_first": (top.source, top.target, top.segment)
                == ("Proposal", "Negotiation", "enterprise"),
                "notes": report.notes,
            }
        )
    )


def bench_synthetic(n_events: int) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.process_mining", "--child-synthetic", str(n_events)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 3)
    result["under_2_gb"] = result["peak_rss_mb"] < 2048
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-bpi", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the synthetic log")
    parser.add_argument("--full-pm4py", action="store_true", help="also time pm4py's miner and replay on BPI")
    parser.add_argument(
        "--skip-pm4py-precision", action="store_true", help="skip pm4py's precision on every held-out case (~35 s)"
    )
    parser.add_argument("--child-synthetic", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_synthetic:
        _synthetic_child(args.child_synthetic)
        return
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "load_average_at_start": os.getloadavg(),
    }
    if not args.skip_bpi:
        results["bpi2012"] = bench_bpi(args.full_pm4py, not args.skip_pm4py_precision)
    if not args.skip_synthetic:
        results["synthetic"] = bench_synthetic(args.events)
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    (RESULTS / "process_mining.json").write_text(text)
    print(text)


# make bench: BPI Challenge 2012 only (the 1,000,000-event memory check runs on its own: --events).
SUITE = [{"label": "BPI 2012", "args": ["--skip-synthetic"], "timeout_s": 900}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    bpi = result.get("bpi2012") or {}
    if "baseline" not in bpi:
        return [{"figure": "BPI 2012", "ours": None, "baseline_name": str(bpi.get("skipped", "not run"))}]
    base = bpi["baseline"]
    return [
        {
            "figure": "bottleneck report vs performance DFG",
            "ours": bpi["report_with_playbook"]["seconds"],
            "baseline": base["pm4py_performance_dfg_s"],
            "baseline_name": "pm4py performance DFG",
            "unit": "s",
        },
        *_new_step_rows(bpi),
        {
            "figure": "read the XES log",
            "ours": bpi["ours_read_xes_s"],
            "baseline": base["pm4py_read_xes_s"],
            "baseline_name": "pm4py read_xes",
            "unit": "s",
        },
    ]


def _new_step_rows(bpi: dict[str, Any]) -> list[dict[str, Any]]:
    steps = bpi.get("new_steps") or {}
    ours, plain = steps.get("ours", {}), steps.get("plain_pm4py", {})
    if not ours:
        return []
    rows = [
        {
            "figure": "queue vs working time per activity",
            "ours": ours["lifecycle_queue_working_s"],
            "baseline": round(
                plain["convert_to_event_log_s"] + plain["to_interval_s"] + plain["service_time_median_s"], 3
            ),
            "baseline_name": "pm4py to_interval + service time",
            "unit": "s",
        },
        {
            "figure": "resource workload and handovers",
            "ours": ours["resource_workload_handovers_s"],
            "baseline": plain["handover_of_work_network_s"],
            "baseline_name": "pm4py handover-of-work network",
            "unit": "s",
        },
    ]
    if "precision_etc_all_held_out_s" in plain:
        rows.append(
            {
                "figure": "conformance of completed cases (IMf, fitness, precision)",
                "ours": ours["conformance_completed_cases_s"],
                "baseline": round(
                    plain["inductive_miner_imf_s"]
                    + plain["token_replay_fitness_s"]
                    + plain["precision_etc_all_held_out_s"],
                    3,
                ),
                "baseline_name": "pm4py IMf + token replay + ETC precision (all held-out cases)",
                "unit": "s",
            }
        )
    return rows


if __name__ == "__main__":
    main()
