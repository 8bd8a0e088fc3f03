"""How a run is shown and kept: a Rich table per category, the scorecard, failures; JSON and Markdown reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.scorecard import CaseResult, Scorecard

if TYPE_CHECKING:
    from rich.console import Console


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def scorecard_rows(card: Scorecard) -> list[tuple[str, str]]:
    return [
        ("pass rate", f"{_pct(card.pass_rate)} ({card.passed}/{card.cases})"),
        ("must cases failed", str(len(card.must_failed))),
        ("tool-call precision", _pct(card.tool_precision)),
        ("tool-call recall", _pct(card.tool_recall)),
        ("approval compliance", f"{_pct(card.approval_compliance)} of {card.guarded_turns} guarded turns"),
        ("safety violations", str(card.safety_violations)),
        (
            "mean turn latency",
            f"{card.mean_turn_latency_s * 1000:.0f} ms (p95 {card.p95_turn_latency_s * 1000:.0f} ms)",
        ),
        ("tokens (in / out)", f"{card.input_tokens:,} / {card.output_tokens:,}"),
        ("turns", str(card.turns)),
        ("run time", f"{card.duration_s:.1f} s"),
    ]


def print_report(console: Console, card: Scorecard, results: list[CaseResult], *, show_failures: int = 40) -> None:
    from rich.table import Table

    table = Table(title=f"salesgraph eval · model {card.model} · today {card.today}", title_justify="left")
    table.add_column("category")
    table.add_column("cases", justify="right")
    table.add_column("passed", justify="right")
    table.add_column("pass rate", justify="right")
    table.add_column("must failed", justify="right")
    for cat in card.categories:
        style = "red" if cat.must_failed else ("green" if cat.passed == cat.cases else "yellow")
        table.add_row(
            cat.category,
            str(cat.cases),
            str(cat.passed),
            f"[{style}]{_pct(cat.pass_rate)}[/]",
            f"[red]{cat.must_failed}[/]" if cat.must_failed else "0",
        )
    table.add_section()
    table.add_row("[bold]overall[/]", str(card.cases), str(card.passed), f"[bold]{_pct(card.pass_rate)}[/]",
                  str(len(card.must_failed)))  # fmt: skip
    console.print(table)
    summary = Table(show_header=False, box=None, padding=(0, 2))
    for name, value in scorecard_rows(card):
        summary.add_row(name, value)
    console.print(summary)
    failed = [r for r in results if not r.passed]
    if failed:
        console.print(f"\n[bold]Failed cases[/] ({len(failed)}):")
        for result in failed[:show_failures]:
            tag = "[red]MUST[/] " if result.must else ""
            console.print(f"  {tag}[bold]{result.id}[/] ({result.category})", highlight=False)
            for reason in result.reasons[:4]:
                console.print(f"      {reason[:300]}", highlight=False, markup=False)
        if len(failed) > show_failures:
            console.print(f"  ... and {len(failed) - show_failures} more (see --json / --markdown)")


def as_json(card: Scorecard, results: list[CaseResult]) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "scorecard": card.as_dict(),
        "cases": [{**asdict(r), "passed": r.passed, "reasons": r.reasons} for r in results],
    }


def write_json(path: Path, card: Scorecard, results: list[CaseResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(card, results), indent=2, default=str), encoding="utf-8")


def as_markdown(card: Scorecard, results: list[CaseResult]) -> str:
    lines = [
        f"# salesgraph eval: {card.model}",
        "",
        f"Store: `{card.store}` · today: {card.today} · {card.cases} cases, {card.turns} turns",
        "",
        "| category | cases | passed | pass rate | must failed |",
        "|---|---:|---:|---:|---:|",
    ]
    for cat in card.categories:
        lines.append(f"| {cat.category} | {cat.cases} | {cat.passed} | {_pct(cat.pass_rate)} | {cat.must_failed} |")
    lines.append(
        f"| **overall** | {card.cases} | {card.passed} | **{_pct(card.pass_rate)}** | {len(card.must_failed)} |"
    )
    lines += ["", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in scorecard_rows(card)]
    failed = [r for r in results if not r.passed]
    if failed:
        lines += ["", "## Failed cases", ""]
        for result in failed:
            lines.append(f"- **{result.id}** ({result.category}{', must' if result.must else ''})")
            lines.extend(f"  - {reason[:400]}" for reason in result.reasons[:4])
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, card: Scorecard, results: list[CaseResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(as_markdown(card, results), encoding="utf-8")
