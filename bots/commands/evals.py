"""``salesgraph eval``: run the public conversation suite (or your own cases) against a model and score it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def eval_cmd(
    cases: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Case files or folders (YAML). Default: the public suite in evals/cases.", show_default=False
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="'offline' or 'openai:MODEL' (uses SALESGRAPH_OPENAI_BASE_URL and _API_KEY)."
        ),
    ] = "offline",
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Run against this existing store (SQLAlchemy URL); it is copied, never changed.",
            show_default=False,
        ),
    ] = None,
    seed_demo: Annotated[
        bool, typer.Option("--seed-demo", help="Run against a fresh demo company at a fixed date (the default).")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full results as JSON here.")] = None,
    markdown_out: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown report here.")] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only these case ids or categories (repeatable).")
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="The date relative periods count from (YYYY-MM-DD). With --db default today; without it, the demo "
            "company is seeded around this day instead of the fixed eval anchor.",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Build the interaction index for the semantic search cases.")
    ] = True,
    index_cache: Annotated[
        Path | None,
        typer.Option(
            "--index-cache",
            help="Keep the interaction index here between runs (default: under $SALESGRAPH_HOME/eval-cache).",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Also fail when the pass rate is below the one recorded in this JSON file (evals/baseline.json).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run conversation cases through the real agent graph and score them.

    Every case starts from a known store and runs on its own thread and its own copy of that store, so a case that
    changes data never affects another. Checks are deterministic and read the STORE: tools called and arguments,
    approval raised, messages sent, records changed; numbers in answers are computed from the store at run time.

    Prints a table per category and the scorecard (tool-call precision/recall, approval compliance, latency,
    tokens). Exits 1 when a case marked `must: true` fails (or the pass rate is under `--baseline`), 2 on bad input.

    Examples:

    * `salesgraph eval` (the public suite, offline model, demo company at 2026-11-16)
    * `salesgraph eval evals/cases/adversarial.yaml --json out/adv.json`
    * `salesgraph eval --model openai:gpt-4o-mini --markdown report.md`
    * `salesgraph eval my_cases/ --db sqlite:///maven.db --today 2017-12-31 --no-index`
    """
    import json
    from datetime import date

    from bots.common import console, fail, friendly_errors

    if db and seed_demo:
        fail("use either --db URL or --seed-demo, not both", code=2)
    run_today = None
    if today:
        try:
            run_today = date.fromisoformat(today)
        except ValueError:
            fail(f"--today {today!r} is not a date; write it as YYYY-MM-DD", code=2)
    from evals.cases import CaseFormatError, load_cases

    try:
        selected = load_cases(cases or None, only=only)
    except CaseFormatError as exc:
        fail(str(exc), code=2)
    floor = None
    if baseline is not None:
        try:
            floor = float(json.loads(baseline.read_text(encoding="utf-8"))["pass_rate"])
        except (OSError, ValueError, KeyError) as exc:
            fail(f"cannot read the baseline pass rate from {baseline}: {exc}", code=2)

    if model != "offline":
        from agent.models import ModelUnavailable, resolve_model

        try:
            resolve_model(model)  # fail before seeding when the model cannot be built here
        except ModelUnavailable as exc:
            fail(str(exc), code=2)
        except Exception as exc:  # the client library refusing its configuration (e.g. an empty API key)
            fail(f"cannot build the model {model!r}: {exc}", code=2)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from evals.report import print_report, write_json, write_markdown
    from evals.runner import run_cases
    from evals.workspace import (
        WorkspaceError,
        build_vector_index,
        existing_workspace,
        indexed_demo_workspace,
        seed_demo_workspace,
    )

    out = console()
    wants_search = index and any(
        "search_interactions" in (turn.expect.tools or []) for case in selected for turn in case.turns
    )
    from evals.workspace import EVAL_ANCHOR

    anchor = run_today or EVAL_ANCHOR
    with friendly_errors():
        try:
            if db:
                workspace = existing_workspace(db, today=run_today)
                if wants_search:
                    with out.status("Indexing the store's interactions for the search cases..."):
                        build_vector_index(workspace, cache_dir=index_cache)
            elif wants_search:
                from app.settings import get_settings

                cache = index_cache or get_settings().home_dir / "eval-cache"
                with out.status("Preparing the demo company and its interaction index (cached after the first run)..."):
                    workspace = indexed_demo_workspace(cache, anchor=anchor)
            else:
                with out.status("Seeding the demo company into a temporary store..."):
                    workspace = seed_demo_workspace(anchor=anchor)
        except WorkspaceError as exc:
            fail(str(exc), code=2)
        if workspace.index_note:
            out.print(f"[yellow]warning:[/] {workspace.index_note}")
        try:
            with Progress(
                TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=out, transient=True,
            ) as progress:  # fmt: skip
                task = progress.add_task("", total=len(selected))

                def advance(result: object) -> None:
                    progress.update(task, advance=1, description=getattr(result, "id", ""))

                run = run_cases(selected, workspace, model=model, on_case=advance)
        finally:
            workspace.close()
    print_report(out, run.scorecard, run.results)
    if json_out:
        write_json(json_out, run.scorecard, run.results)
        out.print(f"JSON report: {json_out}")
    if markdown_out:
        write_markdown(markdown_out, run.scorecard, run.results)
        out.print(f"Markdown report: {markdown_out}")
    problems = []
    if run.scorecard.must_failed:
        problems.append(f"{len(run.scorecard.must_failed)} must case(s) failed: {', '.join(run.scorecard.must_failed)}")
    if floor is not None and run.scorecard.pass_rate + 1e-9 < floor:
        problems.append(f"pass rate {run.scorecard.pass_rate:.1%} is below the baseline {floor:.1%}")
    if problems:
        fail("; ".join(problems))
