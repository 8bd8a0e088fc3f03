"""Helpers the memory benchmarks share: where results go, peak memory, percentiles."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    values = np.asarray(latencies_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p90_ms": round(float(np.percentile(values, 90)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "n": len(latencies_ms),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Print ``result`` as JSON and write it to bench/results/<name>.json."""
    # Other work on a shared 2-core machine skews every number here: record how busy it was.
    result = {**result, "peak_rss_mb": peak_rss_mb(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    text = json.dumps(result, indent=2, default=str)
    path.write_text(text + "\n")
    print(text)
    return path
