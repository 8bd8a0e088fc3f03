"""Rolling-origin forecast backtest on the demo company and Maven CRM: our forecast against fair baselines.

    python -m bench.forecast_backtest [--count 6] [--simulations 2000] [--maven ../shared/data/crm/maven]

For each data set (a fresh SQLite store: ``seed_demo(seed=7, anchor=2026-11-23)``; the Maven CSVs through the
importer, skipped when absent) it runs ``analytics.forecast.backtest`` over the last ``--count`` whole months for
the demo and ``--count + 2`` for Maven: the blended forecast, the Monte Carlo simulation alone, the run rate
(trailing 3-month bookings with a naive lognormal band), the stage × in-period win-rate baseline and the
stage-weighted pipeline, scored by WAPE, mean CRPS and the mean 80 % interval score, and names the method the live
`salesgraph forecast` takes on that record (the lowest WAPE of blend, simulation and run rate). Prints the table and
writes bench/results/forecast_backtest.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

ANCHOR = date(2026, 11, 23)


def _run(name: str, load: Any, count: int, simulations: int) -> dict[str, Any]:
    from analytics.forecast import backtest, default_cutoffs
    from analytics.winprob import load_history
    from store.db import make_engine, session_scope, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        with session_scope(engine) as s:
            load(s)
        with session_scope(engine) as s:
            history = load_history(s)
        engine.dispose()
    start = time.perf_counter()
    report = backtest(history, default_cutoffs(history, "month", count), "month", simulations=simulations)
    seconds = time.perf_counter() - start
    from analytics.forecast import LIVE_METHODS

    wape_of = {s.method: s.wape for s in report.scores}
    live = min(LIVE_METHODS, key=lambda m: (wape_of[m], LIVE_METHODS.index(m)))
    return {"data": name, "seconds": round(seconds, 1), "live_method": live, **report.model_dump()}


def _print(result: dict[str, Any]) -> None:
    rows = result["rows"]
    print(f"\n{result['data']}: {rows[0]['period']} - {rows[-1]['period']}, {len(rows)} origins")
    print(f"{'forecaster':30} {'WAPE':>7} {'CRPS':>12} {'interval score':>15} {'coverage':>9}")
    for s in result["scores"]:
        interval = f"{s['interval_score']:,.0f}" if s["interval_score"] is not None else "point"
        coverage = f"{s['coverage']:.0%}" if s["coverage"] is not None else "-"
        print(f"{s['method']:30} {s['wape']:>7.1%} {s['crps']:>12,.0f} {interval:>15} {coverage:>9}")
    print(f"the live forecast takes the lowest WAPE of blend, simulation and run rate: {result['live_method']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--simulations", type=int, default=2000)
    default_maven = Path(os.environ.get("SALESGRAPH_SHARED_DATA", "../shared/data")) / "crm" / "maven"
    parser.add_argument("--maven", type=Path, default=default_maven)
    args = parser.parse_args()

    from sales.demo import seed_demo
    from sales.importing.core import MAPPINGS_DIR, import_maven
    from sales.permissions import SYSTEM

    results = [_run("demo", lambda s: seed_demo(s, seed=7, anchor=ANCHOR), args.count, args.simulations)]
    if args.maven.is_dir():
        results.append(
            _run(
                "maven",
                lambda s: import_maven(s, SYSTEM, args.maven, MAPPINGS_DIR / "maven"),
                args.count + 2,
                args.simulations,
            )
        )
    else:
        print(f"Maven CSVs not found at {args.maven}: skipped")
    for result in results:
        _print(result)
    write_result("forecast_backtest", {"simulations": args.simulations, "results": results})


if __name__ == "__main__":
    main()
