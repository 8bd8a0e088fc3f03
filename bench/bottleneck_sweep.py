"""Bottleneck statistics over many demo seeds: planted effects found, and findings when segment labels are shuffled.

    python -m bench.bottleneck_sweep [--seeds 20] [--shuffles 300] [--permutations N]

For each demo seed (``seed_demo(seed, anchor=2026-11-01)`` in an in-memory SQLite store) every segment comparison
of ``analyse_event_log`` is made on the deals' event log (``segment_comparisons``: stratified by size band, one
family calibrated by label permutations) and a seed passes when both planted effects are reported (Proposal →
Negotiation slow for enterprise deals; a low win rate or stage conversion for the low-converting rep). The same
comparisons are also judged with Benjamini-Hochberg on their raw p-values (the baseline), with Westfall-Young
family-wise p-values, and with only the owner dimension asked for (``--segment owner``: a smaller family). Then
``--shuffles`` runs, spread over the seeds' logs, permute each segment column across cases: any segment finding is a
false one. Writes bench/results/bottleneck_sweep.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import Any

from bench.memory_common import percentiles, write_result

ANCHOR = date(2026, 11, 1)
SUITE = [{"label": "20 seeds", "args": ["--seeds", "20", "--shuffles", "300"], "timeout_s": 1800}]


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


def _is_slow_plant(kind: str, dimension: str | None, segment: str | None, source: Any, target: Any) -> bool:
    from sales.demo import PLANTED

    return (
        kind in ("slow segment", "time")
        and (dimension, segment) == PLANTED.slow_segment
        and (
            source,
            target,
        )
        == PLANTED.slow_transition
    )


def _is_rep_plant(kind: str, dimension: str | None, segment: str | None) -> bool:
    from sales.demo import PLANTED

    return (
        kind in ("low conversion", "conversion")
        and dimension == "owner"
        and PLANTED.low_converting_rep_email in (segment or "")
    )


def planted_found(findings: list[Any]) -> dict[str, bool]:
    """Which planted effects a list of findings reports."""
    return {
        "slow_enterprise": any(_is_slow_plant(f.kind, f.dimension, f.segment, f.source, f.target) for f in findings),
        "low_rep": any(_is_rep_plant(f.kind, f.dimension, f.segment) for f in findings),
    }


def planted_in(comparisons: list[dict[str, Any]], reported: list[bool]) -> dict[str, bool]:
    """Which planted effects are among the reported comparisons."""
    chosen = [c for c, keep in zip(comparisons, reported, strict=True) if keep]
    return {
        "slow_enterprise": any(
            _is_slow_plant(c["kind"], c["dimension"], c["segment"], c["source"], c["target"]) for c in chosen
        ),
        "low_rep": any(_is_rep_plant(c["kind"], c["dimension"], c["segment"]) for c in chosen),
    }


def judged(comparisons: list[dict[str, Any]]) -> dict[str, list[bool]]:
    """Which comparisons each method reports (all with the same effect-size filter)."""
    from scipy.stats import false_discovery_control

    from analytics.bottlenecks import SIGNIFICANCE, is_reported

    if not comparisons:
        return {"ours": [], "bh": [], "fwer": []}
    bh = false_discovery_control([c["p_raw"] for c in comparisons], method="bh")
    return {
        "ours": [is_reported(c) for c in comparisons],
        "bh": [bool(p <= SIGNIFICANCE and c["large"]) for c, p in zip(comparisons, bh, strict=True)],
        "fwer": [bool(c["p_fwer"] <= SIGNIFICANCE and c["large"]) for c in comparisons],
    }


def rep_evidence(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The rep's strongest comparison: how close it came."""
    rep = [c for c in comparisons if _is_rep_plant(c["kind"], c["dimension"], c["segment"])]
    if not rep:
        return {}
    best = max(rep, key=lambda c: c["z"])
    return {
        "outcome": best["source"],
        "z": round(best["z"], 2),
        "p_raw": float(f"{best['p_raw']:.2g}"),
        "q": round(best["q"], 4),
        "p_fwer": round(best["p_fwer"], 4),
        "gap_points": round(float(100 * best["effect"]), 1),
        "decided_cases": best["n_seg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--shuffles", type=int, default=300)
    parser.add_argument(
        "--permutations", type=int, default=None, help="label permutations per analysis (default: the report's)"
    )
    args = parser.parse_args()

    from analytics.bottlenecks import SIGNIFICANCE, segment_comparisons, shuffled_segments

    permutations = args.permutations
    start = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    logs: list[Any] = []
    seeding_ms: list[float] = []
    analysis_ms: list[float] = []
    methods = ("ours", "bh", "fwer")
    for seed in range(1, args.seeds + 1):
        t0 = time.perf_counter()
        log = demo_log(seed)
        seeding_ms.append((time.perf_counter() - t0) * 1000)
        logs.append(log)
        t0 = time.perf_counter()
        comparisons = segment_comparisons(log, permutations=permutations)
        analysis_ms.append((time.perf_counter() - t0) * 1000)
        verdicts = judged(comparisons)
        owner_only = segment_comparisons(log, "owner", permutations=permutations)
        row: dict[str, Any] = {
            "seed": seed,
            "comparisons": len(comparisons),
            "permutations": comparisons[0]["permutations"] if comparisons else None,
        }
        for method in methods:
            row[method] = planted_in(comparisons, verdicts[method])
        row["owner_only"] = planted_in(owner_only, judged(owner_only)["ours"])
        row["rep"] = rep_evidence(comparisons)
        row["findings"] = [
            f"{c['kind']}: {c['dimension']}={c['segment']} at {c['source']}{' → ' + c['target'] if c['target'] else ''}"
            f" (q={c['q']:.3f})"
            for c, keep in zip(comparisons, verdicts["ours"], strict=True)
            if keep
        ]
        per_seed.append(row)
        print(seed, {m: row[m] for m in methods}, row["rep"])
    shuffled = dict.fromkeys(methods, 0)
    shuffle_rows = []
    for k in range(args.shuffles):
        log = shuffled_segments(logs[k % len(logs)], 1000 + k)
        comparisons = segment_comparisons(log, permutations=permutations)
        verdicts = judged(comparisons)
        hits = {m: sum(verdicts[m]) for m in methods}
        for m in methods:
            shuffled[m] += bool(hits[m])
        shuffle_rows.append({"seed": k % len(logs) + 1, "shuffle": 1000 + k, "findings": hits})
    n = max(args.seeds, 1)

    def rate(method: str, effect: str) -> float:
        return float(sum(bool(r[method][effect]) for r in per_seed) / n)

    result = {
        "seeds": args.seeds,
        "permutations": per_seed[0]["permutations"] if per_seed else permutations,
        "significance": SIGNIFICANCE,
        "comparisons_per_log": {
            "min": min(r["comparisons"] for r in per_seed),
            "max": max(r["comparisons"] for r in per_seed),
        },
        "planted_slow_found": rate("ours", "slow_enterprise"),
        "planted_rep_found": rate("ours", "low_rep"),
        "both_found": sum(r["ours"]["slow_enterprise"] and r["ours"]["low_rep"] for r in per_seed) / n,
        "shuffled_runs": args.shuffles,
        "shuffled_runs_with_a_finding": shuffled["ours"],
        "shuffled_finding_rate": shuffled["ours"] / max(args.shuffles, 1),
        "baseline_bh": {
            "planted_slow_found": rate("bh", "slow_enterprise"),
            "planted_rep_found": rate("bh", "low_rep"),
            "shuffled_runs_with_a_finding": shuffled["bh"],
        },
        "westfall_young_fwer": {
            "planted_slow_found": rate("fwer", "slow_enterprise"),
            "planted_rep_found": rate("fwer", "low_rep"),
            "shuffled_runs_with_a_finding": shuffled["fwer"],
        },
        "owner_only_rep_found": sum(r["owner_only"]["low_rep"] for r in per_seed) / n,
        "seeding_ms": percentiles(seeding_ms),
        "analysis_ms": percentiles(analysis_ms),
        "seconds": round(time.perf_counter() - start, 1),
        "per_seed": per_seed,
        "shuffles": shuffle_rows,
    }
    write_result("bottleneck_sweep", result)


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    bh = result.get("baseline_bh", {})
    return [
        {
            "figure": f"planted low-converting rep found ({result['seeds']} demo seeds)",
            "ours": result["planted_rep_found"],
            "baseline": bh.get("planted_rep_found"),
            "baseline_name": "Benjamini-Hochberg on the same tests",
            "unit": "share",
        },
        {
            "figure": f"planted slow enterprise step found ({result['seeds']} demo seeds)",
            "ours": result["planted_slow_found"],
            "baseline": bh.get("planted_slow_found"),
            "baseline_name": "Benjamini-Hochberg on the same tests",
            "unit": "share",
        },
        {
            "figure": f"shuffled-label runs with a finding (of {result['shuffled_runs']})",
            "ours": result["shuffled_runs_with_a_finding"],
            "baseline": bh.get("shuffled_runs_with_a_finding"),
            "baseline_name": "Benjamini-Hochberg on the same tests",
            "unit": "runs",
        },
        {
            "figure": "segment comparisons of one demo log (p50)",
            "ours": result["analysis_ms"]["p50_ms"],
            "baseline": None,
            "baseline_name": f"{result['permutations']} label permutations",
            "unit": "ms",
        },
    ]


if __name__ == "__main__":
    main()
