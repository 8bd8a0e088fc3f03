"""Bottleneck statistics over many demo seeds: planted effects found, and findings when segment labels are shuffled.

    python -m bench.bottleneck_sweep [--seeds 20] [--first-seed 1] [--shuffles 300] [--permutations N]

For each demo seed (``seed_demo(seed, anchor=2026-11-01)`` in an in-memory SQLite store) every segment comparison
of ``analyse_event_log`` is made on the deals' event log (``segment_comparisons``: stratified by size band,
calibrated by label permutations) and a seed passes when both planted effects are reported (Proposal →
Negotiation slow for enterprise deals; a low win rate or stage conversion for the low-converting rep) by the
report's rule ("ours": permutation q-values over all comparisons as one family). The same comparisons are also
judged by the top-down alternative ("top_down": segment → pooled conversion / pooled waits → comparison,
Benjamini-Bogomolov selection down the tree; its pooled conversion counts for the rep), by Benjamini-Hochberg on
their raw p-values, by Westfall-Young family-wise p-values, and with only the owner dimension asked for
(``--segment owner``). Then ``--shuffles`` runs, spread over the seeds' logs, permute each segment column across
cases: any segment finding is a false one. Seeds 1-20 were looked at while the tests were designed;
``--first-seed 21`` measures fresh ones. Writes bench/results/bottleneck_sweep.json (first seed 1) or
bench/results/bottleneck_sweep_seeds<first>-<last>.json.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import date
from typing import Any

from bench.memory_common import percentiles, write_result

ANCHOR = date(2026, 11, 1)
SUITE = [
    {"label": "20 seeds", "args": ["--seeds", "20", "--shuffles", "300"], "timeout_s": 1800},
    {
        "label": "20 fresh seeds",
        "args": ["--seeds", "20", "--first-seed", "21", "--shuffles", "300"],
        "timeout_s": 1800,
    },
]


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
    """Which comparisons each method reports (all with the same effect-size filter): the report's rule (q over all
    comparisons), the top-down alternative (with its pooled rows, when the comparisons were made with
    ``top_down=True``), Benjamini-Hochberg on the raw p-values and Westfall-Young; the pooled rows exist only in
    the top-down alternative."""
    from scipy.stats import false_discovery_control

    from analytics.bottlenecks import SIGNIFICANCE, is_reported, is_reported_top_down

    single = [not c["pooled"] for c in comparisons]
    raw = [c["p_raw"] for c, s in zip(comparisons, single, strict=True) if s]
    bh = iter(false_discovery_control(raw, method="bh") if raw else [])
    return {
        "ours": [s and is_reported(c) for c, s in zip(comparisons, single, strict=True)],
        "top_down": [("tree_rejected" in c) and is_reported_top_down(c) for c in comparisons],
        "bh": [s and bool(next(bh) <= SIGNIFICANCE and c["large"]) for c, s in zip(comparisons, single, strict=True)],
        "fwer": [
            s and bool(c["p_fwer"] <= SIGNIFICANCE and c["large"]) for c, s in zip(comparisons, single, strict=True)
        ],
    }


def rep_evidence(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The rep's strongest single comparison and its pooled conversion: how close they came."""
    rep = [c for c in comparisons if _is_rep_plant(c["kind"], c["dimension"], c["segment"])]
    single = [c for c in rep if not c["pooled"]]
    if not single:
        return {}
    best = max(single, key=lambda c: c["z"])
    out = {
        "outcome": best["source"],
        "z": round(best["z"], 2),
        "p_raw": float(f"{best['p_raw']:.2g}"),
        "q_all": round(best["q"], 4),
        "p_fwer": round(best["p_fwer"], 4),
        "segment_q": round(best.get("segment_q", math.nan), 4),
        "p_adjusted": round(best.get("p_adjusted", math.nan), 4),
        "gap_points": round(float(100 * best["effect"]), 1),
        "decided_cases": best["n_seg"],
    }
    pooled = next((c for c in rep if c["pooled"]), None)
    if pooled is not None:
        out["pooled_z"] = round(pooled["pooled_z"], 2)
        out["node_z"] = round(pooled["z"], 2)
        out["pooled_p_adjusted"] = round(pooled["p_adjusted"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1, help="the first demo seed (21: seeds not designed on)")
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
    methods = ("ours", "top_down", "bh", "fwer")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for seed in seeds:
        t0 = time.perf_counter()
        log = demo_log(seed)
        seeding_ms.append((time.perf_counter() - t0) * 1000)
        logs.append(log)
        t0 = time.perf_counter()
        comparisons = segment_comparisons(log, permutations=permutations, top_down=True)
        analysis_ms.append((time.perf_counter() - t0) * 1000)
        verdicts = judged(comparisons)
        owner_only = segment_comparisons(log, "owner", permutations=permutations)
        row: dict[str, Any] = {
            "seed": seed,
            "comparisons": sum(not c["pooled"] for c in comparisons),
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
        row["findings_top_down"] = [
            f"{c['kind']}: {c['dimension']}={c['segment']} at {c['source']}{' → ' + c['target'] if c['target'] else ''}"
            f"{' (pooled)' if c['pooled'] else ''} (segment q={c['segment_q']:.3f}, adjusted p={c['p_adjusted']:.3f})"
            for c, keep in zip(comparisons, verdicts["top_down"], strict=True)
            if keep
        ]
        per_seed.append(row)
        print(seed, {m: row[m] for m in methods}, row["rep"])
    shuffled = dict.fromkeys(methods, 0)
    shuffle_rows = []
    for k in range(args.shuffles):
        log = shuffled_segments(logs[k % len(logs)], 1000 + k)
        comparisons = segment_comparisons(log, permutations=permutations, top_down=True)
        verdicts = judged(comparisons)
        hits = {m: sum(verdicts[m]) for m in methods}
        for m in methods:
            shuffled[m] += bool(hits[m])
        shuffle_rows.append({"seed": seeds[k % len(logs)], "shuffle": 1000 + k, "findings": hits})
    n = max(args.seeds, 1)

    def rate(method: str, effect: str) -> float:
        return float(sum(bool(r[method][effect]) for r in per_seed) / n)

    result = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "design": "permutation q-values (Yekutieli-Benjamini) over all single comparisons at once",
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
        "top_down": {
            "design": "segments (BH on the permutation maxT p of each segment's pooled conversion and pooled waits: "
            "the smaller p of their summed and of their largest z), then pooled kind, then single comparisons "
            "(Westfall-Young at 0.05 x R/M x R_s/K_s)",
            "planted_slow_found": rate("top_down", "slow_enterprise"),
            "planted_rep_found": rate("top_down", "low_rep"),
            "both_found": sum(r["top_down"]["slow_enterprise"] and r["top_down"]["low_rep"] for r in per_seed) / n,
            "shuffled_runs_with_a_finding": shuffled["top_down"],
        },
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
    last = args.first_seed + args.seeds - 1
    write_result(
        "bottleneck_sweep" if args.first_seed == 1 else f"bottleneck_sweep_seeds{args.first_seed}-{last}", result
    )


def _seed_range(result: dict[str, Any]) -> str:
    first = result.get("first_seed", 1)
    return f"{first}-{first + result['seeds'] - 1}"


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    bh = result.get("baseline_bh", {})
    return [
        {
            "figure": f"planted low-converting rep found (demo seeds {_seed_range(result)})",
            "ours": result["planted_rep_found"],
            "baseline": bh.get("planted_rep_found"),
            "baseline_name": "Benjamini-Hochberg on the same tests",
            "unit": "share",
        },
        {
            "figure": f"planted slow enterprise step found (demo seeds {_seed_range(result)})",
            "ours": result["planted_slow_found"],
            "baseline": bh.get("planted_slow_found"),
            "baseline_name": "Benjamini-Hochberg on the same tests",
            "unit": "share",
        },
        {
            "figure": f"shuffled-label runs with a finding (of {result['shuffled_runs']}, seeds {_seed_range(result)})",
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
