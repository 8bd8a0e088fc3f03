"""The `make bench` harness: which modules it runs, the growth series and the table it writes."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_suite_picks_up_every_module_that_declares_runs() -> None:
    from bench.suite import suite_modules

    found = suite_modules()
    assert {"memory_index", "pipeline_sql", "process_mining", "scoring", "agent_turn", "briefings"} <= set(found)
    assert "memory_common" not in found and "real_model" not in found  # helpers and opt-outs stay out
    for module in found.values():
        for run in module.SUITE:
            assert isinstance(run["args"], list) and run.get("timeout_s", 600) > 0


def test_growth_pairs_scales_per_backend_and_the_table_shows_ratios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.suite as suite

    rows = [
        {"benchmark": "b", "scale": "100k", "figure": "q", "ours": 30.0, "baseline": 60.0, "unit": "ms"},
        {"benchmark": "b", "scale": "10k", "figure": "q", "ours": 3.0, "baseline": 6.0, "unit": "ms"},
        {"benchmark": "b", "scale": "demo", "figure": "q", "ours": 1.0, "unit": "ms"},  # not a scale
    ]
    [series] = suite.growth(rows)
    assert series["scales"] == ["10k", "100k"] and series["values"] == [3.0, 30.0] and series["factor"] == 10.0
    report = {
        "date": "2026-12-07T11:00:00+00:00",
        "file": "bench-2026-12-07.json",
        "machine": {"cores": 2, "ram_gb": 23.0, "cpu": "x", "python": "3.12"},
        "total_minutes": 1.0,
        "load_average_start": [1.0],
        "load_average_end": [2.0],
        "table": rows[:2],
        "growth": [series],
        "runs": [{"module": "c", "label": "", "status": "timed out after 5 s"}],
    }
    table = suite.markdown(report)
    assert "| b | 100k | q | 30.00 ms | 60.00 ms |  | 0.50x |" in table
    assert "2 cores, 23.0 GB RAM" in table
    assert "Runs that did not finish: c : timed out after 5 s" in table  # a failed run is named, not hidden
    assert "| b | q | 10k → 100k | 3.00 ms → 30.00 ms | 10.0x |" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{suite.START}\nold\n{suite.END}\n\nafter\n")
    monkeypatch.setattr(suite, "README", readme)
    suite.write_readme(table)
    text = readme.read_text()
    assert "old" not in text and "intro" in text and "after" in text and "0.50x" in text
