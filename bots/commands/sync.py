"""``salesgraph sync hubspot|pipedrive``: pull the CRM's companies, people and deals into the store (resumable, with
a progress bar), then send back what reps approved here."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.common import AsOption

app = typer.Typer(
    help=(
        "Sync with HubSpot or Pipedrive: companies (as accounts), people (HubSpot contacts as leads, Pipedrive "
        "persons as contacts) and deals (on their account and lead). The first run reads everything; later runs "
        "read only records modified since the last one (a cursor per connector and object). Each page and its "
        "cursor are written in one transaction, so an interrupted sync resumes where it stopped and never "
        "duplicates a record. A field changed on both sides since the last sync is a conflict: a deal's stage goes "
        "to whichever side moved it last, every other field to the CRM; each conflict is audited. Records deleted "
        "or archived in the CRM are marked so, not deleted here. Then stage moves, new leads, logged interactions "
        "and sent emails made here go back to the CRM, once each (--no-push to skip). Tokens come from "
        "SALESGRAPH_HUBSPOT_TOKEN / SALESGRAPH_PIPEDRIVE_TOKEN and are never printed or logged."
    ),
    no_args_is_help=True,
)


def _run(connector: str, as_: str | None, max_pages: int | None, push: bool = True) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from connectors.http import ApiClient, ConnectorError
    from connectors.sources import HubSpotDeals, PipedriveDeals
    from connectors.sync import SyncReport, pull_all
    from connectors.writeback import PushReport, push_changes
    from store.db import session_scope

    out = console()
    svc = services()
    settings = svc.settings
    token = settings.hubspot_token if connector == "hubspot" else settings.pipedrive_token
    if token is None:
        fail(f"set SALESGRAPH_{connector.upper()}_TOKEN (a {connector} API token) to sync; nothing was read")
    secret = token.get_secret_value()
    if connector == "hubspot":
        client = ApiClient(settings.hubspot_api_url, {"Authorization": f"Bearer {secret}"})
        deals: HubSpotDeals | PipedriveDeals = HubSpotDeals(client)
    else:
        client = ApiClient(settings.pipedrive_api_url, {"x-api-token": secret})
        deals = PipedriveDeals(client)
    with friendly_errors():
        with session_scope(svc.engine) as s:
            actor = resolve_actor(s, as_)
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
            disable=not out.is_terminal,
        )
        task = progress.add_task(f"reading {connector}", total=None)

        def advance(report: SyncReport) -> None:
            progress.update(
                task,
                description=f"{connector} {report.stream}: page {report.pages}, {report.created:,} created, "
                f"{report.updated:,} updated",
            )

        pushed: PushReport | None = None
        try:
            with progress:
                reports = pull_all(svc.engine, actor, connector, client, on_page=advance, max_pages=max_pages)
                finished = max_pages is None or sum(r.pages for r in reports) < max_pages
                if push and finished:
                    progress.update(task, description=f"{connector}: sending what was approved here")
                    pushed = push_changes(svc.engine, actor, deals)
        except ConnectorError as exc:
            fail(f"{connector} sync stopped: {exc}. What was written is kept; run the sync again to resume.")
        finally:
            client.close()
    for report in reports:
        out.print(
            f"[bold green]{connector} {report.stream}[/]: {report.created:,} created, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged, {report.deleted:,} deleted in {connector}, "
            f"{report.conflicts:,} conflicts, {len(report.refused):,} refused ({report.pages} pages, "
            f"{report.requests} requests, {report.waited_seconds:.1f}s waiting on rate limits)."
        )
        for line in report.refused[:20]:
            out.print(f"  refused: {line}", highlight=False)
    if pushed is not None:
        sent = ", ".join(f"{n} {op.replace('_', ' ')}" for op, n in sorted(pushed.by_operation.items())) or "nothing"
        out.print(f"Sent to {connector}: {sent}.", highlight=False)
        if pushed.adopted:
            out.print(
                f"  {pushed.adopted} found already written (an earlier run stopped after the call): not duplicated.",
                highlight=False,
            )
        for line in pushed.failed:
            out.print(f"  not sent: {line}", highlight=False)
        for line in pushed.notes[:10]:
            out.print(f"  skipped: {line}", highlight=False)
    elif push:
        out.print("Stopped early (--max-pages): nothing sent back; the next run resumes and sends.", highlight=False)
    cursor = reports[-1].cursor if reports else None
    if cursor:
        out.print(f"Next sync reads {connector} records modified since {cursor}.", highlight=False)


Push = Annotated[
    bool,
    typer.Option(
        "--push/--no-push",
        help="After pulling, send what was done here since the last sync to the CRM: stage moves, new leads (with "
        "their company), logged interactions and sent emails, once each (an idempotency key per write; a crash "
        "after the call is recognised on the next run and not written twice).",
    ),
]
MaxPages = Annotated[
    int | None, typer.Option("--max-pages", help="Stop after this many pages (the next run resumes there).")
]


@app.command("hubspot")
def hubspot_cmd(max_pages: MaxPages = None, push: Push = True, as_: AsOption = None) -> None:
    """Sync with HubSpot (CRM v3 companies, contacts and deals with their associations, pipelines, owners).

    Owners are matched to users by email; stages by the pipeline's labels, renamed as mappings/hubspot/deals.yaml
    says (or kept, after `salesgraph import csv ... --adopt-stages`). Write-back creates contacts, companies and
    note/call/meeting/email engagements; it adds a `salesgraph_key` property to them (created on first use).

    Example: SALESGRAPH_HUBSPOT_TOKEN=pat-... salesgraph sync hubspot
    """
    _run("hubspot", as_, max_pages, push)


@app.command("pipedrive")
def pipedrive_cmd(max_pages: MaxPages = None, push: Push = True, as_: AsOption = None) -> None:
    """Sync with Pipedrive (API v2 organizations, persons and deals with cursor pagination and updated_since).

    Write-back creates persons, organizations, notes and call/meeting/email activities.

    Example: SALESGRAPH_PIPEDRIVE_TOKEN=... salesgraph sync pipedrive
    """
    _run("pipedrive", as_, max_pages, push)
