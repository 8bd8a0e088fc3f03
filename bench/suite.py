"""``make bench``: run every benchmark that declares a default-scale run, and write the dated report.

A benchmark module joins the suite by declaring, beside its ``main``::

    SUITE = [{"label": "100k", "args": ["--n", "100000"], "timeout_s": 900}]   # one entry per run
    def summarize(result: dict, label: str) -> list[dict]:                      # optional
        return [{"figure": "...", "ours": 12.3, "baseline": 45.6, "baseline_name": "...", "unit": "ms"}]

Each run is its own subprocess (``python -m bench.<name> ARGS``), so one benchmark's imports, caches and peak
memory never colour another's. The JSON a run writes to bench/results/ is picked up (every file it changed), and
``summarize`` turns it into table rows: our figure beside the plain-library baseline measured in the same run.
Rows from runs labelled with a scale (``10k``, ``100k``) also feed the growth table. Output:
``bench/results/bench-YYYY-MM-DD.json`` (machine, load, every run's full result) and the table between the
markers in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"


def machine() -> dict[str, Any]:
    ram_gb = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        ram_gb = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def suite_modules(only: list[str] | None = None) -> dict[str, Any]:
    """Benchmark modules that declare ``SUITE`` (imported: each must keep heavy imports inside ``main``)."""
    from bench.__main__ import benchmarks

    found = {}
    for name in sorted(benchmarks()):
        if only and name not in only:
            continue
        module = importlib.import_module(f"bench.{name}")
        if getattr(module, "SUITE", None):
            found[name] = module
    return found


def _snapshot() -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in RESULTS.glob("*.json")} if RESULTS.exists() else {}


def run_one(name: str, run: dict[str, Any], *, python: str = sys.executable) -> dict[str, Any]:
    """One run in a subprocess; returns its status, seconds, output tail and the JSON files it wrote."""
    before = _snapshot()
    args = [str(a) for a in run.get("args", [])]
    started = time.perf_counter()
    timeout = float(run.get("timeout_s", 600))
    status = "ok"
    try:
        proc = subprocess.run(
            [python, "-m", f"bench.{name}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if proc.returncode != 0:
            status = f"failed (exit {proc.returncode})"
        tail = (proc.stderr or proc.stdout)[-1500:] if proc.returncode else ""
    except subprocess.TimeoutExpired:
        status, tail = f"timed out after {timeout:.0f} s", ""
    seconds = time.perf_counter() - started
    written = {}
    for path, mtime in _snapshot().items():
        if before.get(path) != mtime and not path.name.startswith("bench-"):
            try:
                written[path.stem] = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
    return {
        "module": name,
        "label": run.get("label", ""),
        "args": args,
        "status": status,
        "seconds": round(seconds, 1),
        "error_tail": tail,
        "results": written,
    }


def _rows(module: Any, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    summarize = getattr(module, "summarize", None)
    if summarize is None or outcome["status"] != "ok" or not outcome["results"]:
        return []
    result = outcome["results"].get(outcome["module"]) or next(iter(outcome["results"].values()))
    rows = []
    for row in summarize(result, outcome["label"]):
        rows.append({"benchmark": outcome["module"], "scale": outcome["label"], **row})
    return rows


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Run {report['date']} on {m['cores']} cores, {m['ram_gb']} GB RAM, {m['cpu']}, Python {m['python']}; "
        f"{report['total_minutes']:.1f} min in all; load average {report['load_average_start']} at the start, "
        f"{report['load_average_end']} at the end. Full results: `bench/results/{report['file']}`.",
        "",
        "| benchmark | scale | figure | ours | baseline | baseline is | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["table"]:
        ours, base = row.get("ours"), row.get("baseline")
        ratio = (
            f"{ours / base:.2f}x" if isinstance(ours, int | float) and isinstance(base, int | float) and base else ""
        )
        lines.append(
            f"| {row['benchmark']} | {row.get('scale', '')} | {row['figure']} | {_fmt(ours, row.get('unit', ''))} | "
            f"{_fmt(base, row.get('unit', ''))} | {row.get('baseline_name', '')} | {ratio} |"
        )
    failed = [r for r in report["runs"] if r["status"] != "ok"]
    if failed:
        lines += [
            "",
            "Runs that did not finish: " + "; ".join(f"{r['module']} {r['label']}: {r['status']}" for r in failed),
        ]
    growth = report.get("growth") or []
    if growth:
        lines += ["", "Growth from the smallest to the largest scale (same run):", ""]
        lines += ["| benchmark | figure | scales | values | growth |", "|---|---|---|---|---|"]
        for g in growth:
            lines.append(
                f"| {g['benchmark']} | {g['figure']} | {' → '.join(g['scales'])} | "
                f"{' → '.join(_fmt(v, g.get('unit', '')) for v in g['values'])} | {g['factor']:.1f}x |"
            )
    return "\n".join(lines)


def _scale_number(label: str) -> float | None:
    text = label.lower().removesuffix("-pg").removesuffix("-sqlite")
    for suffix, factor in (("k", 1e3), ("m", 1e6)):
        if text.endswith(suffix) and text[:-1].replace(".", "").isdigit():
            return float(text[:-1]) * factor
    return float(text) if text.isdigit() else None


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each (benchmark, figure, backend) measured at two or more scales: values from smallest to largest."""
    series: dict[tuple[str, str, str], list[tuple[float, str, Any, str]]] = {}
    for row in rows:
        scale = _scale_number(str(row.get("scale", "")))
        if scale is None or not isinstance(row.get("ours"), int | float):
            continue
        backend = str(row.get("scale", "")).split("-", 1)[1] if "-" in str(row.get("scale", "")) else ""
        key = (row["benchmark"], row["figure"], backend)
        series.setdefault(key, []).append((scale, str(row["scale"]), row["ours"], row.get("unit", "")))
    out = []
    for (bench_name, figure, _backend), points in sorted(series.items()):
        if len(points) < 2:
            continue
        points.sort()
        first, last = points[0][2], points[-1][2]
        out.append(
            {
                "benchmark": bench_name,
                "figure": figure,
                "scales": [p[1] for p in points],
                "values": [p[2] for p in points],
                "unit": points[0][3],
                "factor": (last / first) if first else float("nan"),
            }
        )
    return out


def write_readme(table: str) -> None:
    text = README.read_text() if README.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = f"{head}{START}\n{table}\n{END}{tail}"
    else:
        text = text.rstrip() + f"\n\n{START}\n{table}\n{END}\n"
    README.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmark suite (make bench).")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: replace just those benchmarks' runs in today's report instead of starting a new one",
    )
    args = parser.parse_args(argv)
    modules = suite_modules(args.only)
    if not modules:
        print("no benchmark in the suite matches", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    runs, rows = [], []
    total = sum(len(m.SUITE) for m in modules.values())
    done = 0
    for name, module in modules.items():
        for run in module.SUITE:
            done += 1
            print(
                f"[{done}/{total}] {name} {run.get('label', '')} {' '.join(map(str, run.get('args', [])))}", flush=True
            )
            outcome = run_one(name, run)
            runs.append(outcome)
            new_rows = _rows(module, outcome)
            rows.extend(new_rows)
            print(f"      {outcome['status']} in {outcome['seconds']:.0f} s, {len(new_rows)} figures", flush=True)
            if outcome["error_tail"]:
                print("      " + outcome["error_tail"].strip().splitlines()[-1], flush=True)
    day = datetime.now(UTC).date().isoformat()
    file = f"bench-{day}.json"
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "file": file,
        "machine": machine(),
        "note": "shared machine: other work ran at the same time, see the load averages",
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "total_minutes": round((time.perf_counter() - started) / 60, 1),
        "table": rows,
        "growth": growth(rows),
        "runs": runs,
    }
    if args.merge and (RESULTS / file).exists():
        old = json.loads((RESULTS / file).read_text())
        report["runs"] = [r for r in old["runs"] if r["module"] not in modules] + runs
        table_rows: list[dict[str, Any]] = [r for r in old["table"] if r["benchmark"] not in modules] + rows
        report["table"] = table_rows
        report["growth"] = growth(table_rows)
        report["load_average_start"] = old["load_average_start"]
        report["total_minutes"] = round(old["total_minutes"] + report["total_minutes"], 1)
        report["merged"] = sorted(modules)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / file).write_text(json.dumps(report, indent=1, default=str) + "\n")
    table = markdown(report)
    if not args.no_readme:
        write_readme(table)
    print(table)
    print(f"\nwrote bench/results/{file}" + ("" if args.no_readme else " and the table in bench/README.md"))
    return 0 if all(r["status"] == "ok" for r in runs) else 1
