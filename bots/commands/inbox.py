"""``salesgraph inbox``: read replies from the IMAP mailbox (poll once or keep polling) and list what came in;
``salesgraph import replies``: the same from an mbox file or a folder of .eml files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from rich.console import Console

    from sales.inbound import InboundReport

log = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Inbound email: replies, out-of-office answers and bounces read from the mailbox set in SALESGRAPH_IMAP_* "
        "(host, port, security, username, password, folder), each matched to its contact, lead or deal (by the "
        "email it answers, else by the sender) and logged once. A reply stops the record's sequences; a bounce "
        "stops them too; an out-of-office is kept but is not a reply; an unknown sender is kept and listed.\n\n"
        "Example: `salesgraph inbox poll --once`, then `salesgraph inbox list --kind unmatched`.\n\n"
        "The scheduler (`salesgraph briefings serve`) polls every SALESGRAPH_IMAP_POLL_MINUTES (5) when IMAP is "
        "set. Without IMAP: `salesgraph import replies FILE.mbox` (or a folder of .eml files)."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _progress(console: Console, what: str) -> tuple[object, object]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task(what, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def render_report(console: Console, report: InboundReport, where: str) -> None:
    console.print(f"{where}: {report.describe()}.", highlight=False)
    for outcome in report.outcomes:
        if outcome.duplicate:
            continue
        who = outcome.from_address or "(no sender)"
        subject = f" “{outcome.subject}”" if outcome.subject else ""
        if outcome.kind == "unmatched":
            console.print(
                f"  unknown sender {who}{subject}: kept as inbound email #{outcome.inbound_email_id} "
                f"(receipt #{outcome.receipt_id}); add them as a contact or lead and import again, or answer "
                "them yourself",
                highlight=False,
            )
        else:
            label = {"reply": "reply", "auto_reply": "auto-reply (not a reply)", "bounce": "bounce"}[outcome.kind]
            on = f" on {outcome.record}" if outcome.record else ""
            console.print(f"  {label} from {who}{subject}{on}: receipt #{outcome.receipt_id}", highlight=False)
    for error in report.errors:
        console.print(f"  [red]not recorded[/] {error}", highlight=False)


def _report_json(report: InboundReport) -> dict[str, object]:
    return {
        "messages": len(report.outcomes),
        "replies": report.count("reply"),
        "auto_replies": report.count("auto_reply"),
        "bounces": report.count("bounce"),
        "unmatched": len(report.unmatched),
        "duplicates": report.duplicates,
        "errors": report.errors,
        "outcomes": [
            {
                "kind": o.kind,
                "message_id": o.message_id,
                "inbound_email_id": o.inbound_email_id,
                "duplicate": o.duplicate,
                "from": o.from_address,
                "subject": o.subject,
                "record": o.record or None,
                "interaction_id": o.interaction_id,
                "receipt_id": o.receipt_id,
                "event_ids": list(o.event_ids),
            }
            for o in report.outcomes
        ],
    }


@app.command("poll")
def poll_cmd(
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit (default: keep polling).")] = False,
    every: Annotated[
        int | None,
        typer.Option("--every", min=1, help="Minutes between polls (default SALESGRAPH_IMAP_POLL_MINUTES, 5)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read the replies that arrived in the mailbox since the last poll and log each once.

    Example:

        SALESGRAPH_IMAP_HOST=imap.example.com SALESGRAPH_IMAP_USERNAME=sales@example.com \\
        SALESGRAPH_IMAP_PASSWORD=... salesgraph inbox poll --once
    """
    import time

    from bots.common import console, friendly_errors, services
    from bots.render import emit_json
    from connectors.imap import imap_from_settings, poll

    svc = services()
    out = console()
    with friendly_errors():
        config = imap_from_settings(svc.settings)
        minutes = every or svc.settings.imap_poll_minutes
        while True:
            progress, update = _progress(out, f"reading {config.folder}")
            with progress:  # type: ignore[attr-defined]
                report = poll(svc.engine, config, progress=update)  # type: ignore[arg-type]
            if as_json:
                emit_json(_report_json(report))
            else:
                render_report(out, report, config.mailbox)
            if once:
                if report.errors:
                    raise typer.Exit(1)
                return
            try:
                time.sleep(minutes * 60)
            except KeyboardInterrupt:
                return


@app.command("list")
def list_cmd(
    kind: Annotated[
        str | None, typer.Option("--kind", help="reply, auto_reply, bounce or unmatched (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_email: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The inbound emails recorded, newest first: what each was, whom it came from and what it was logged on.
    Reps see the ones on their own records; unknown senders' emails are listed for managers and admins.

    Example:

        salesgraph inbox list --kind unmatched --as mia@example.com
    """
    from bots.common import fail, resolve_actor, session
    from bots.render import emit_json, print_table
    from sales.inbound import KINDS, list_inbound

    if kind is not None and kind not in KINDS:
        fail(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    with session(read_only=True) as s:
        actor = resolve_actor(s, as_email)
        rows = list_inbound(s, actor, kind=kind, limit=limit)
        data = [
            {
                "id": r.id,
                "received_at": r.received_at,
                "kind": r.kind,
                "from": r.from_address,
                "subject": r.subject,
                "record": f"deal #{r.deal_id}"
                if r.deal_id
                else f"lead #{r.lead_id}"
                if r.lead_id
                else f"contact #{r.contact_id}"
                if r.contact_id
                else None,
                "matched_by": r.matched_by,
                "interaction_id": r.interaction_id,
                "receipt_id": r.receipt_id,
            }
            for r in rows
        ]
    if as_json:
        emit_json(data)
        return
    if not data:
        print("No inbound emails" + (f" of kind {kind}" if kind else "") + " yet.")
        return
    from rich.table import Table

    table = Table("#", "received (UTC)", "kind", "from", "subject", "logged on", "receipt", title="Inbound emails")
    for d in data:
        table.add_row(str(d["id"]), f"{d['received_at']:%Y-%m-%d %H:%M}",
                      *(str(d[k] or "") for k in ("kind", "from", "subject")),
                      str(d["record"] or "(kept, unmatched)"), f"#{d['receipt_id']}")  # fmt: skip
    print_table(table)


def import_replies(
    file: Annotated[Path, typer.Argument(help="An .mbox file, an .eml file, or a folder of .eml files.")],
    as_json: JsonOption = False,
) -> None:
    """Log the replies in an mbox file or a folder of .eml files (exported from a mail client), matched like the
    IMAP poller's: a message recorded before (same Message-ID) is not logged again, so importing twice is safe.

    Example:

        salesgraph import replies ~/Downloads/replies.mbox
    """
    from bots.common import console, fail, friendly_errors, services
    from bots.render import emit_json
    from sales.inbound import InboundError, import_messages

    svc = services()
    out = console()
    with friendly_errors():
        try:
            progress, update = _progress(out, f"reading {file.name}")
            with progress:  # type: ignore[attr-defined]
                report = import_messages(svc.engine, file, progress=update)  # type: ignore[arg-type]
        except InboundError as exc:
            fail(str(exc))
    if as_json:
        emit_json(_report_json(report))
    else:
        render_report(out, report, str(file))
    if report.errors:
        raise typer.Exit(1)
