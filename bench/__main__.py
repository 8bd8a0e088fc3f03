"""Run the suite (``make bench`` = ``python -m bench``), list the benchmarks, or run one.

    python -m bench                       # the suite at default scale: bench/results/bench-DATE.json + bench/README.md
    python -m bench --only memory_index   # the suite's runs of one benchmark
    python -m bench --list                # every benchmark, and which are in the suite
    python -m bench vocabulary --accounts 10000   # one benchmark with its own options (see its --help)

Each benchmark is a module of this package with its own ``--help``; results go to bench/results/<name>.json.
A module joins the suite by declaring ``SUITE`` (and ``summarize``): see bench/suite.py.
"""

from __future__ import annotations

import importlib
import pkgutil
import runpy
import sys
from pathlib import Path

HELPERS = {"memory_common", "memory_texts", "suite"}  # shared code, not benchmarks


def benchmarks() -> dict[str, str]:
    """Benchmark name → the first line of its docstring."""
    found = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("_") or module.name in HELPERS:
            continue
        doc = importlib.import_module(f"bench.{module.name}").__doc__ or ""
        found[module.name] = doc.strip().splitlines()[0] if doc.strip() else ""
    return found


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "--list"):
        from bench.suite import suite_modules

        in_suite = set(suite_modules())
        print(__doc__.strip() + "\n\nBenchmarks (* = in the suite):")
        for name, line in sorted(benchmarks().items()):
            print(f"  {'*' if name in in_suite else ' '} {name:18} {line}")
        return 0
    if not argv or argv[0].startswith("--"):
        from bench.suite import main as suite_main

        return suite_main(argv)
    name, rest = argv[0], argv[1:]
    if name not in benchmarks():
        print(f"no benchmark called {name!r}; `python -m bench` lists them", file=sys.stderr)
        return 2
    sys.argv = [f"bench.{name}", *rest]
    runpy.run_module(f"bench.{name}", run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
