"""Bottleneck statistics over many demo seeds: planted effects found, and findings when segment labels are shuffled.

    python -m bench.bottleneck_sweep [--seeds 20] [--shuffles 30]

For each demo seed (``seed_demo(seed, anchor=2026-11-01)`` in an in-memory SQLite store) the segment comparisons
of ``analyse_event_log`` (every comparison tested and counted in the Benjamini-Hochberg correction, conversion
stratified by size band) are run on the deals' event log: a seed passes when both planted effects are reported
(Proposal → Negotiation slow for enterprise deals; a low win rate for the low-converting rep). Then, on the
first seed's log, each segment column is permuted across cases ``--shuffles`` times per seed and any segment
finding counts as a false one. Writes bench/results/bottleneck_sweep.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import Any

from bench.memory_common import write_result

ANCHOR = date(2026, 11, 1)


def demo_log(seed: int) -> Any:
    from analytics.eventlog import event_log_from_store
    from sales.demo import seed_demo
    from sales.permissions import SYSTEM
    from store.db import make_engine, session_scope, upgrade

    engine = make_engine("sqlite://")
    upgrade(engine)
    with session_scope(engine) as s:
        seed_demo(s, seed=seed, anchor=ANCHOR)
    with session_scope(engine) as s:
        log = event_log_from_store(s, SYSTEM)
    engine.dispose()
    return log


def planted_found(findings: list[Any]) -> dict[str, bool]:
    from sales.demo import PLANTED

    source, target = PLANTED.slow_transition
    dimension, value = PLANTED.slow_segment
    slow = any(
        f.kind == "slow segment"
        and f.source == source
        and f.target == target
        and f.segment == value
        and f.dimension == dimension
        for f in findings
    )
    rep = any(
        f.kind == "low conversion" and f.dimension == "owner" and PLANTED.low_converting_rep_email in f.segment
        for f in findings
    )
    return {"slow_enterprise": slow, "low_rep": rep}


def segment_kinds(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.kind in ("slow segment", "low conversion")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--shuffles", type=int, default=30)
    args = parser.parse_args()

    from analytics.bottlenecks import segment_findings, shuffled_segments

    start = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    shuffled_runs = shuffled_hits = 0
    for seed in range(1, args.seeds + 1):
        log = demo_log(seed)
        findings = segment_findings(log)
        found = planted_found(findings)
        others = [f"{f.kind}: {f.title}" for f in segment_kinds(findings)]
        per_seed.append({"seed": seed, **found, "segment_findings": others})
        print(seed, found, len(others))
        if seed == 1:
            for k in range(args.shuffles):
                hits = segment_kinds(segment_findings(shuffled_segments(log, k)))
                shuffled_runs += 1
                shuffled_hits += bool(hits)
    both = sum(r["slow_enterprise"] and r["low_rep"] for r in per_seed)
    result = {
        "seeds": args.seeds,
        "planted_slow_found": sum(r["slow_enterprise"] for r in per_seed) / args.seeds,
        "planted_rep_found": sum(r["low_rep"] for r in per_seed) / args.seeds,
        "both_found": both / args.seeds,
        "shuffled_runs": shuffled_runs,
        "shuffled_runs_with_a_finding": shuffled_hits,
        "shuffled_finding_rate": shuffled_hits / max(shuffled_runs, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "per_seed": per_seed,
    }
    write_result("bottleneck_sweep", result)


if __name__ == "__main__":
    main()
