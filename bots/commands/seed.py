"""``salesgraph seed --demo``: fill the workspace with the demo company (see ``sales.demo``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sales.demo import DemoSummary


def seed_cmd(
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Seed the demo company (the only kind of seed there is today)."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed and anchor give the same data.")] = 7,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="The data's 'today', YYYY-MM-DD: history covers the 12 months before it. Default: today (UTC).",
            show_default=False,
        ),
    ] = None,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Delete ALL data in this workspace first (asks unless --yes)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --reset deletes data.")] = False,
) -> None:
    """Fill the workspace with a realistic demo company: a year of leads, deals, stage history and activity.

    Writes 11 users (admin, 2 managers, 8 reps), ~160 accounts, 2,000 leads, 600 deals with full stage history,
    ~5,600 interactions and the playbook tasks, in one transaction with one audit event. Known effects are
    planted so analytics can be checked: enterprise deals wait ~3x longer in Proposal before Negotiation, one
    rep wins far less often, and six open deals are stalled.

    Example: `salesgraph seed --demo --seed 7 --anchor 2026-11-23`. A store that already has users is refused
    unless you pass `--reset` (which deletes everything first).
    """
    from bots.common import console, fail, parse_date, session

    if not demo:
        fail("nothing to seed: pass --demo to seed the demo company (e.g. `salesgraph seed --demo`)")
    anchor_date = parse_date(anchor, "--anchor")
    if reset and not yes:
        from sqlmodel import func, select

        from store.models import User

        with session() as s:
            users = s.exec(select(func.count()).select_from(User)).one()
        if users and not typer.confirm(
            f"--reset deletes ALL data in this workspace ({users} users and everything they own). Continue?"
        ):
            fail("nothing changed", code=1)

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from sales.demo import seed_demo

    out = console()
    steps = 5 if reset else 4
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        task = progress.add_task("seeding the demo company", total=steps)

        seen: list[str] = []

        def on_step(name: str) -> None:
            # a step is announced when it starts: the bar shows the steps already finished
            progress.update(task, description=name, completed=len(seen))
            seen.append(name)

        with session() as s:
            summary = seed_demo(s, seed=seed, anchor=anchor_date, reset=reset, on_step=on_step)
            progress.update(task, description="committing", completed=steps)
    print_summary(summary)


def print_summary(summary: DemoSummary, *, next_steps: bool = True) -> None:
    from rich.table import Table

    from bots.common import console
    from sales.demo import PLANTED

    out = console()
    out.print(
        f"[bold green]Seeded the demo company[/] (seed {summary.seed}, history up to {summary.anchor.isoformat()}; "
        f"audit receipt #{summary.audit_event_id})."
    )
    counts = Table(title="Rows written", show_header=True)
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, n in summary.counts.items():
        counts.add_row(name, f"{n:,}")
    out.print(counts)

    users = Table(title="Demo users (use with --as EMAIL)")
    for column in ("email", "name", "role", "team"):
        users.add_column(column)
    for user in summary.users:
        users.add_row(user.email, user.name, user.role, user.team or "")
    out.print(users)

    src, dst = PLANTED.slow_transition
    out.print("[bold]Planted for analytics to find:[/]")
    out.print(
        f"  - {src} → {dst} takes ~{PLANTED.slow_factor:g}x longer for {PLANTED.slow_segment[1]} deals "
        f"(by {PLANTED.slow_segment[0]})"
    )
    out.print(
        f"  - {PLANTED.low_converting_rep_email} wins ~{PLANTED.low_rep_win_factor:.0%} as often as the other reps"
    )
    ids = ", ".join(f"#{i}" for i in summary.stalled_deal_ids)
    out.print(f"  - {len(summary.stalled_deal_ids)} stalled open deals: {ids}")
    if next_steps:
        out.print("Next: `salesgraph pipeline`, `salesgraph deals list --as <email>`, `salesgraph demo` for the tour.")
