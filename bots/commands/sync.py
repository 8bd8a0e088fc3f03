"""``salesgraph sync hubspot|pipedrive``: pull the CRM's deals into the store, resumable, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.common import AsOption

app = typer.Typer(
    help=(
        "Sync deals from HubSpot or Pipedrive. The first run reads every deal; later runs read only deals "
        "modified since the last one (the cursor is stored per connector). Each page of deals and its cursor are "
        "written in one transaction, so an interrupted sync resumes where it stopped and never duplicates a deal. "
        "Deals are matched on the CRM's id. A field changed on both sides since the last sync is a conflict: the "
        "stage goes to whichever side moved it last, every other field to the CRM; each conflict is audited "
        "(`salesgraph audit`). Deals deleted or archived in the CRM are marked so, not deleted here. Tokens come "
        "from SALESGRAPH_HUBSPOT_TOKEN / SALESGRAPH_PIPEDRIVE_TOKEN and are never printed or logged."
    ),
    no_args_is_help=True,
)


def _run(connector: str, as_: str | None, max_pages: int | None, push: bool = True) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bots.common import console, fail, friendly_errors, resolve_actor, services
    from connectors.http import ApiClient, ConnectorError
    from connectors.sources import HubSpotDeals, PipedriveDeals
    from connectors.sync import SyncReport, pull_deals
    from connectors.writeback import push_stage_moves
    from store.db import session_scope

    out = console()
    svc = services()
    settings = svc.settings
    token = settings.hubspot_token if connector == "hubspot" else settings.pipedrive_token
    if token is None:
        fail(f"set SALESGRAPH_{connector.upper()}_TOKEN (a {connector} API token) to sync; nothing was read")
    secret = token.get_secret_value()
    if connector == "hubspot":
        source: HubSpotDeals | PipedriveDeals = HubSpotDeals(
            ApiClient(settings.hubspot_api_url, {"Authorization": f"Bearer {secret}"})
        )
    else:
        source = PipedriveDeals(ApiClient(settings.pipedrive_api_url, {"x-api-token": secret}))
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
        task = progress.add_task(f"reading {connector} deals", total=None)

        def advance(report: SyncReport) -> None:
            progress.update(
                task,
                description=f"{connector}: page {report.pages}, {report.created:,} created, {report.updated:,} updated",
            )

        pushed = None
        try:
            with progress:
                report = pull_deals(svc.engine, actor, source, on_page=advance, max_pages=max_pages)
                if push:
                    progress.update(task, description=f"{connector}: sending stage moves")
                    pushed = push_stage_moves(svc.engine, actor, source)
        except ConnectorError as exc:
            fail(f"{connector} sync stopped: {exc}. What was written is kept; run the sync again to resume.")
        finally:
            source.client.close()
    out.print(
        f"[bold green]{connector}[/]: {report.created:,} created, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.deleted:,} deleted in {connector}, {report.conflicts:,} conflicts, "
        f"{len(report.refused):,} refused ({report.pages} pages, {report.requests} requests, "
        f"{report.waited_seconds:.1f}s waiting on rate limits)."
    )
    if pushed is not None:
        out.print(f"Stage moves sent to {connector}: {pushed.sent:,}.", highlight=False)
        for line in pushed.failed or []:
            out.print(f"  not sent: {line}", highlight=False)
    for line in report.refused[:20]:
        out.print(f"  refused: {line}", highlight=False)
    if report.cursor:
        out.print(f"Next sync reads deals modified since {report.cursor}.", highlight=False)


Push = Annotated[
    bool,
    typer.Option(
        "--push/--no-push",
        help="After pulling, send the stage moves made here since the last sync to the CRM (once each, keyed by "
        "an idempotency key; a crash re-sends the same key).",
    ),
]
MaxPages = Annotated[
    int | None, typer.Option("--max-pages", help="Stop after this many pages (the next run resumes there).")
]


@app.command("hubspot")
def hubspot_cmd(max_pages: MaxPages = None, push: Push = True, as_: AsOption = None) -> None:
    """Pull deals from HubSpot (CRM v3: deals, pipelines, owners; archived deals marked deleted).

    Owners are matched to users by email; stages by the pipeline's labels, renamed as mappings/hubspot/deals.yaml
    says (or kept, after `salesgraph import csv ... --adopt-stages`).

    Example: SALESGRAPH_HUBSPOT_TOKEN=pat-... salesgraph sync hubspot
    """
    _run("hubspot", as_, max_pages, push)


@app.command("pipedrive")
def pipedrive_cmd(max_pages: MaxPages = None, push: Push = True, as_: AsOption = None) -> None:
    """Pull deals from Pipedrive (API v2 deals with cursor pagination and updated_since; deleted deals marked).

    Example: SALESGRAPH_PIPEDRIVE_TOKEN=... salesgraph sync pipedrive
    """
    _run("pipedrive", as_, max_pages, push)
