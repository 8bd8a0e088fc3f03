"""``salesgraph pipeline``, ``salesgraph audit`` and ``salesgraph demo``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from sales.pipeline import PipelineRow

audit = typer.Typer(help="The tamper-evident audit log of every change.", no_args_is_help=True)


def pipeline_cmd(json_out: JsonOption = False, as_: AsOption = None) -> None:
    """Deals and amounts by stage and owner (what you may see), with totals per stage; never adds currencies."""
    from decimal import Decimal

    from rich.table import Table

    from bots.common import resolve_actor, session
    from bots.render import emit_json, money, print_table
    from sales.pipeline import pipeline_summary, totals_by_currency

    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        rows = pipeline_summary(s, who)
    if json_out:
        stages = list(dict.fromkeys(row.stage for row in rows))
        emit_json(
            {
                "visible_to": who.email,
                "rows": [
                    {"stage": r.stage, "owner_id": r.owner_id, "owner": r.owner_name, "deals": r.deals,
                     "amount": r.amount, "currency": r.currency}
                    for r in rows
                ],
                "stage_totals": [
                    {"stage": stage, "currency": code, "deals": count, "amount": amount}
                    for stage in stages
                    for code, (count, amount) in totals_by_currency([r for r in rows if r.stage == stage]).items()
                ],
                "totals": [
                    {"currency": code, "deals": count, "amount": amount}
                    for code, (count, amount) in totals_by_currency(rows).items()
                ],
            }
        )  # fmt: skip
        return
    table = Table(title=f"Pipeline visible to {who.email}")
    for column in ("stage", "owner", "deals", "amount"):
        table.add_column(column, justify="right" if column in ("deals", "amount") else "left")
    mixed = len({row.currency for row in rows}) > 1

    def add_totals(label: str, totals: dict[str, tuple[int, Decimal]], end_section: bool = False) -> None:
        # one line per currency: amounts in different currencies are never added together
        for i, (currency, (count, amount)) in enumerate(totals.items()):
            table.add_row(
                f"[bold]{label}{f' ({currency})' if mixed else ''}[/]",
                "",
                f"[bold]{count:,}[/]",
                f"[bold]{money(amount, currency)}[/]",
                end_section=end_section and i + 1 == len(totals),
            )

    stage_rows: list[PipelineRow] = []
    for i, row in enumerate(rows):
        stage_rows.append(row)
        table.add_row(row.stage, row.owner_name, f"{row.deals:,}", money(row.amount, row.currency))
        last_of_stage = i + 1 == len(rows) or rows[i + 1].stage != row.stage
        if last_of_stage:
            add_totals(f"{row.stage} total", totals_by_currency(stage_rows), end_section=True)
            stage_rows = []
    add_totals("All stages", totals_by_currency(rows) or {"USD": (0, Decimal(0))})
    print_table(table)


@audit.command("verify")
def audit_verify(json_out: JsonOption = False) -> None:
    """Check the hash chain; report the first event that was edited or whose predecessor was removed."""
    from bots.common import console, fail, session
    from bots.render import emit_json
    from store.audit import verify_chain

    with session(read_only=True) as s:
        report = verify_chain(s)
    if json_out:
        emit_json(report)  # still exits 2 below when broken, with the reason on stderr
    if not report.ok:
        fail(
            f"audit log broken at event #{report.first_broken_id}: {report.problem} ({report.checked:,} events before it verified)",
            code=2,
        )
    if json_out:
        return
    erased = (
        f" ({report.personal_erased:,} of them erased at a data subject's request)" if report.personal_erased else ""
    )
    console().print(
        f"audit log intact: {report.checked:,} events verified, "
        f"{report.personal_checked:,} sealed personal values checked{erased}"
    )


@audit.command("log")
def audit_log(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    record: Annotated[str | None, typer.Option(help="Only this record, e.g. deal:42.")] = None,
    json_out: JsonOption = False,
) -> None:
    """The latest audit events, newest first; personal values re-joined, or [erased] once forgotten."""
    from rich.markup import escape
    from rich.table import Table
    from sqlmodel import col, select

    from bots.common import fail, session
    from bots.render import emit_json, print_table, when
    from store.audit import readable_events
    from store.models import AuditEvent

    with session(read_only=True) as s:
        stmt = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
        if record:
            kind, _, rid = record.partition(":")
            if not rid:
                fail("--record takes TYPE:ID, e.g. deal:42")
            stmt = stmt.where(AuditEvent.record_type == kind, AuditEvent.record_id == rid)
        rows = readable_events(s, s.exec(stmt).all())
    if json_out:
        emit_json(
            [
                {"id": r.event.id, "at": r.event.at, "actor": r.event.actor, "action": r.event.action,
                 "record_type": r.event.record_type, "record_id": r.event.record_id, "before": r.before,
                 "after": r.after, "hash": r.event.hash}
                for r in rows
            ]
        )  # fmt: skip
        return
    table = Table(title="Audit log")
    for column in ("id", "at", "actor", "action", "record", "after"):
        table.add_column(column)
    for row in rows:
        e = row.event
        summary = escape(", ".join(f"{k}={v}" for k, v in (row.after or {}).items())[:80])  # "[erased]" is no markup
        table.add_row(str(e.id), when(e.at), e.actor, e.action, f"{e.record_type}:{e.record_id or ''}", summary)
    print_table(table)


def demo_cmd(
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same company.")] = 7,
    reset: Annotated[
        bool, typer.Option(help="Wipe this workspace's data first if it has any (no question asked).")
    ] = False,
    tour: Annotated[bool, typer.Option(help="Run the scripted assistant tour after seeding.")] = True,
    index: Annotated[
        bool,
        typer.Option(
            help="Embed the demo's ~5,600 notes into the vector index so memory search works at once "
            "(about a minute on 2 cores; --no-index leaves them to `salesgraph memory sync`)."
        ),
    ] = True,
) -> None:
    """Seed the demo company into the current workspace ($SALESGRAPH_HOME), run the tour, show what to try next.

    `make demo` runs this in a project-local workspace (.demo/) with --reset. On your own workspace, a store that
    already holds data is refused unless you pass --reset.
    """

    from bots.commands.seed import print_summary
    from bots.common import console, services, session
    from sales.demo import seed_demo

    out = console()
    svc = services()
    where = (
        str(svc.settings.home_dir) if svc.settings.is_embedded else svc.engine.url.render_as_string(hide_password=True)
    )
    if reset and svc.settings.is_embedded:
        _forget_derived_state(svc.settings.home_dir)
    with out.status(f"Seeding the demo company into {where} …"), session() as s:
        summary = seed_demo(s, seed=seed, reset=reset)
    print_summary(summary, next_steps=False)
    with out.status("Training the lead-scoring model on the demo's known outcomes …"), session() as s:
        from analytics.scoring import train_lead_model
        from sales.permissions import SYSTEM

        card = train_lead_model(s, SYSTEM, settings=svc.settings)
    out.print(
        f"Trained lead-scoring model {card.version} on {card.labelled:,} known outcomes "
        f"(holdout ROC AUC {card.holdout['roc_auc']:.3f}); see `salesgraph model show`.",
        highlight=False,
    )
    if index:
        from bots.commands.memory import index_demo_workspace

        index_demo_workspace(out, svc)
    if tour:
        try:
            from bots.tour import run_tour
        except ImportError:
            out.print("[dim](the assistant tour is not available in this build)[/]")
        else:
            run_tour(out, svc)
    home = os.environ.get("SALESGRAPH_HOME")
    prefix = f"SALESGRAPH_HOME={Path(home)} " if home else ""
    prefix += _command_name()
    out.print("\n[bold]Try next[/]", highlight=False)
    for line in (
        " pipeline --as {manager}",
        " deals stalled --as {manager}",
        " analyze bottlenecks --as {manager}",
        " briefings preview --as {manager}",
        " chat --as {rep}",
        ' memory search "customer worried about price and budget" --as {manager}',
        " tasks list --as {rep}",
        " audit verify",
        " --help",
    ):
        out.print(
            "  " + prefix + line.format(manager=_demo_email("DEMO_MANAGER_EMAIL"), rep=_demo_email("DEMO_REP_EMAIL")),
            highlight=False,
        )


def _command_name() -> str:
    """How the user can type this command again: `salesgraph` when it is on PATH, else the path they used."""
    import shutil
    import sys

    on_path = shutil.which("salesgraph")
    if on_path and Path(on_path).resolve() == Path(sys.argv[0]).resolve():
        return "salesgraph"
    return os.path.relpath(sys.argv[0]) if Path(sys.argv[0]).name == "salesgraph" else "salesgraph"


def _forget_derived_state(home: Path) -> None:
    """Remove what was derived from the old data (models, vector index, conversations) before re-seeding."""
    import shutil

    for name in ("models", "chroma", "eventlogs"):
        shutil.rmtree(home / name, ignore_errors=True)
    for name in ("checkpoints.db", "checkpoints.db-wal", "checkpoints.db-shm"):
        (home / name).unlink(missing_ok=True)


def _demo_email(name: str) -> str:
    import sales.demo

    return str(getattr(sales.demo, name))
