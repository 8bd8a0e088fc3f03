"""``salesgraph memory``: search what customers said (emails, calls, notes), and keep the vector index current."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from sqlalchemy.engine import Engine

    from app.services import Services
    from memory.index import InteractionIndex
    from memory.indexer import SyncReport
    from sales.permissions import Actor

app = typer.Typer(
    help=(
        "Memory: semantic search over every logged email, call, meeting note and Slack message.\n\n"
        "The SQL store is the source of truth; the vector index (Chroma, under $SALESGRAPH_HOME/chroma or the "
        "server at $SALESGRAPH_CHROMA_URL) follows it: notes logged or edited through salesgraph are indexed "
        "when they are saved, `salesgraph demo` indexes the demo's notes, and the scheduler's `memory sync` "
        "job (every 10 minutes) catches up anything written around it (imports, other tools). `memory sync` "
        "does the same by hand; `memory reindex` rebuilds the index from scratch."
    ),
    no_args_is_help=True,
)


def _open_index() -> InteractionIndex:
    from bots.common import fail
    from memory.config import MemorySettings
    from memory.embeddings import EmbeddingUnavailable
    from memory.index import IndexUnavailable, InteractionIndex

    try:
        return InteractionIndex.from_settings(MemorySettings.from_app())
    except (EmbeddingUnavailable, IndexUnavailable) as exc:
        fail(str(exc))


def _where() -> str:
    from memory.config import MemorySettings

    settings = MemorySettings.from_app()
    return settings.chroma_url or str(settings.chroma_path)


def _progress_bar(out: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
        disable=not out.is_terminal,
    )


def run_index_sync(
    out: Console, engine: Engine, index: InteractionIndex, actor: Actor, *, rebuild: bool = False, verify: bool = False
) -> SyncReport:
    """``sync`` (or ``reindex``) with a progress bar that counts interactions from the first embedding batch on."""
    from memory.indexer import reindex, sync

    with _progress_bar(out) as bar:
        task = bar.add_task("loading the embedding model", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, description="indexing interactions", completed=done, total=total)

        if rebuild:
            return reindex(engine, index, actor=actor, progress=progress)
        return sync(engine, index, actor=actor, progress=progress, verify=verify)


def _run_sync(as_: str | None, *, rebuild: bool, verify: bool = False) -> None:
    from bots.common import console, fail, friendly_errors, resolve_actor, services, session
    from memory.embeddings import EmbeddingUnavailable
    from memory.index import IndexUnavailable

    with session() as s:
        actor = resolve_actor(s, as_)
    if not actor.is_admin:
        fail(f"{actor.email} is not an admin: indexing covers every team's notes, so an admin runs it")
    index = _open_index()
    out = console()
    with friendly_errors():
        try:
            report = run_index_sync(out, services().engine, index, actor, rebuild=rebuild, verify=verify)
        except (EmbeddingUnavailable, IndexUnavailable) as exc:
            fail(str(exc))
    verb = "rebuilt" if rebuild else "synced"
    out.print(
        f"Index {verb}: {report.indexed} interactions embedded ({report.chunks} chunks), "
        f"{report.removed} deleted ones removed, {report.already_current} already current."
        + (f" Receipt: audit #{report.receipt}." if report.receipt else "")
    )


def index_demo_workspace(out: Console, services: Services) -> SyncReport | None:
    """The demo's indexing step: every seeded interaction into the vector index, so search works at once.

    Uses the index the process shares (the one index-on-write keeps current). If embeddings are unavailable the
    demo goes on without them and says which command to run later; returns None then."""
    import time

    from memory.config import MemorySettings
    from memory.embeddings import EmbeddingUnavailable
    from memory.index import IndexUnavailable, InteractionIndex
    from sales.permissions import SYSTEM

    started = time.perf_counter()
    try:
        cached = services.extras.get("vector_index")
        if isinstance(cached, InteractionIndex):
            index = cached
        else:
            index = InteractionIndex.from_settings(MemorySettings.from_app(services.settings))
            services.extras["vector_index"] = index
        report = run_index_sync(out, services.engine, index, SYSTEM)
    except (EmbeddingUnavailable, IndexUnavailable) as exc:
        out.print(
            f"[yellow]Memory search is keyword-only for now:[/] {exc}. Once that is fixed, run "
            "`salesgraph memory sync --as <admin email>` to index the notes.",
            highlight=False,
        )
        return None
    out.print(
        f"Indexed {report.indexed:,} interactions ({report.chunks:,} chunks) for memory search in "
        f"{time.perf_counter() - started:.0f} s with {index.embedder.model_id}; new notes are indexed as they are "
        "logged.",
        highlight=False,
    )
    return report


@app.command("sync")
def sync_cmd(
    as_: AsOption = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Also compare every indexed chunk's text version with the store (slower; for an index restored "
            "from an older copy).",
        ),
    ] = False,
) -> None:
    """Catch the index up with the store: embed new and edited notes, remove deleted ones (safe to run any time)."""
    _run_sync(as_, rebuild=False, verify=verify)


@app.command("reindex")
def reindex_cmd(as_: AsOption = None) -> None:
    """Rebuild the whole index from the store (after changing the embedding model, or if the index was lost)."""
    _run_sync(as_, rebuild=True)


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help='What to look for, in your words: "what did Acme say about pricing?"')],
    account: Annotated[str | None, typer.Option(help="Only this account (name or id).")] = None,
    deal: Annotated[int | None, typer.Option(help="Only this deal (id).")] = None,
    owner: Annotated[str | None, typer.Option(help="Only notes on this user's records (email or id).")] = None,
    channel: Annotated[str | None, typer.Option(help="email, call, meeting, note or slack.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this day on: 2026-09-01, '3 weeks ago', 'last monday', 'last quarter'.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to and including this day (a period: its last day), e.g. yesterday.")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="hybrid (meaning + exact words, default), vector (meaning) or keyword (exact words).")
    ] = "hybrid",
    limit: Annotated[int, typer.Option(min=1, max=50, help="How many results.")] = 5,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Find the interactions that answer a question. You only ever see notes on records you may see."""
    from rich.table import Table

    from bots.common import console, err_console, parse_date, resolve_actor, session
    from bots.render import emit_json, print_table
    from memory.embeddings import EmbeddingUnavailable
    from memory.index import IndexUnavailable
    from memory.indexer import status
    from memory.search import search_interactions

    since_day = parse_date(since, "--since", prefer="past")
    until_day = parse_date(until, "--until", prefer="past", period_end=True)
    index = None if mode == "keyword" else _open_index()
    with session() as s:
        actor = resolve_actor(s, as_)
        try:
            hits = search_interactions(
                s,
                actor,
                index,
                query,
                account=account,
                deal_id=deal,
                owner=owner,
                channel=channel,
                since=since_day,
                until=until_day,
                limit=limit,
                mode=mode,  # type: ignore[arg-type]  # validated by search_interactions
            )
        except (EmbeddingUnavailable, IndexUnavailable) as exc:
            from bots.common import fail

            fail(str(exc))
        pending = status(s, index, "").pending if index is not None else 0
    out = console()
    if pending:
        err_console().print(
            f"[yellow]note:[/] {pending} interactions are not in the vector index yet (keyword matching still "
            "sees them); run `salesgraph memory sync`."
        )
    if json_out:
        emit_json(hits)
        return
    if not hits:
        out.print("No matching interactions you can see.")
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("date")
    table.add_column("record")
    table.add_column("channel")
    table.add_column("what was said", ratio=3)
    table.add_column("score", justify="right")
    for hit in hits:
        subject = f"[bold]{hit.subject}[/bold]\n" if hit.subject else ""
        table.add_row(
            str(hit.interaction_id),
            hit.date.isoformat(),
            hit.record + (f"\n{hit.account}" if hit.account and hit.account not in hit.record else ""),
            f"{hit.channel}\n{hit.direction}",
            subject + hit.snippet,
            f"{hit.score:.3f}\n{'+'.join(hit.matched_by)}",
        )
    print_table(table, out)


@app.command("status")
def status_cmd(json_out: JsonOption = False) -> None:
    """Where the index lives, which embedding model it uses, and how far it is behind the store."""
    from bots.common import console, session
    from bots.render import emit_json, jsonable
    from memory.indexer import status

    index = _open_index()
    with session() as s:
        info = status(s, index, _where())
    if json_out:
        emit_json({**jsonable(info), "dimensions": index.embedder.dimension})
        return
    out = console()
    out.print(f"index:        {info.location}")
    out.print(f"model:        {info.model_id} ({index.embedder.dimension} dimensions)")
    out.print(f"interactions: {info.interactions} in the store, {info.pending} waiting to be indexed")
    out.print(f"chunks:       {info.indexed_chunks} in {info.collections} collections")
    if info.indexed_chunks < info.interactions - info.pending:
        out.print(
            "[yellow]The index holds fewer entries than the store has indexed interactions (was it deleted or "
            "moved?).[/] Run `salesgraph memory sync` to catch up."
        )
    elif info.pending:
        out.print("Run `salesgraph memory sync` to catch up.")
