"""``salesgraph import eventlog``: bring an external event log (XES or CSV) into the workspace for process mining."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


def import_eventlog(
    file: Annotated[
        Path,
        typer.Argument(help="An event log: .xes, .xes.gz or .csv (one row per event).", show_default=False),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Name to analyse it by (default: the file name without extension).")
    ] = None,
    case: Annotated[
        str | None,
        typer.Option("--case", help="Column (or XES key) with the case id. Default: case:concept:name / case_id."),
    ] = None,
    activity: Annotated[
        str | None, typer.Option("--activity", help="Column with the activity. Default: concept:name / activity.")
    ] = None,
    timestamp: Annotated[
        str | None,
        typer.Option("--timestamp", help="Column with the event time. Default: time:timestamp / timestamp."),
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option("--resource", help="Column with who did it (becomes the case owner). Default: org:resource."),
    ] = None,
    amount: Annotated[
        str | None,
        typer.Option("--amount", help="Case attribute with the deal amount, for the size band. Default: AMOUNT_REQ."),
    ] = None,
    case_noun: Annotated[
        str | None,
        typer.Option(
            "--case-noun",
            help="What a case is, plural, for every sentence and chart label ('tickets', 'loan applications'). "
            "Default: from the XES log's own description, else 'cases'.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="Activities that close a case, comma-separated; cases without one are open and left out of "
            "conformance. Default: inferred end markers.",
        ),
    ] = None,
    as_: AsOption = None,
) -> None:
    """Import an event log so `salesgraph analyze bottlenecks --log NAME` can analyse it.

    Every event needs a case, an activity and a timestamp: a missing column or empty timestamps stop the import
    with the column named, and nothing is stored. XES lifecycle 'start'/'schedule' events (a CSV's 'lifecycle'
    column) are kept beside the completions, for queue vs working time per activity. The validated log is kept
    under $SALESGRAPH_HOME/eventlogs/.

    Examples:

        salesgraph import eventlog bpic2012.xes.gz --name bpic2012 --end A_APPROVED,A_DECLINED,A_CANCELLED

        salesgraph import eventlog tickets.csv --case-noun tickets --end Closed

        salesgraph import eventlog crm_export.csv --case deal --activity stage --timestamp changed_at --resource rep
    """
    from analytics.eventlog import import_event_log_file
    from bots.common import console, resolve_actor, services, session

    out = console()
    with (
        out.status(f"reading {file.name}", spinner="dots") if out.is_terminal else _nothing(),
        session() as s,
    ):
        actor = resolve_actor(s, as_)
        result = import_event_log_file(
            s,
            actor,
            file,
            name=name,
            home=services().settings.home_dir,
            case=case,
            activity=activity,
            timestamp=timestamp,
            resource=resource,
            amount=amount,
            case_noun=case_noun,
            end_activities=[e for e in (end or "").split(",") if e.strip()],
        )
    lifecycle = f", {result.lifecycle_events:,} lifecycle events" if result.lifecycle_events else ""
    out.print(
        f"[bold green]Imported[/] {result.name}: {result.cases:,} {result.case_noun}, {result.events:,} events"
        f"{lifecycle}, {result.activities} activities (receipt #{result.receipt})."
    )
    for note in result.notes:
        out.print(f"[dim]{note}[/]")
    out.print(f"Analyse it with: salesgraph analyze bottlenecks --log {result.name}")


def _nothing() -> AbstractContextManager[object]:
    from contextlib import nullcontext

    return nullcontext()
