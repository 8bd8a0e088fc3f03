"""``salesgraph db``: schema migrations."""

from __future__ import annotations

import typer

app = typer.Typer(help="Database schema: create or upgrade it.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Create the schema or upgrade it to this version (safe to run again)."""
    from app.settings import get_settings
    from bots.common import console, friendly_errors
    from store.db import make_engine, upgrade

    settings = get_settings()
    with friendly_errors():
        engine = make_engine(settings.effective_database_url)
        before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        console().print(f"{where} is already at revision {after}.")
    else:
        console().print(f"{where}: upgraded from {before or 'empty'} to {after}.")


@app.command("current")
def current_cmd() -> None:
    """Show the schema revision of the database and the one this salesgraph needs."""
    from app.settings import get_settings
    from bots.common import console
    from store.db import current_revision, head_revision, make_engine

    engine = make_engine(get_settings().effective_database_url)
    console().print(f"database: {current_revision(engine) or 'empty'}; needed: {head_revision()}")
