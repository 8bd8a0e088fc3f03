"""The checkpointer that makes conversations (and pending approvals) survive restarts.

Embedded default: SQLite in ``$SALESGRAPH_HOME/checkpoints.db``. When the store is PostgreSQL the checkpoints go
to the same PostgreSQL database (langgraph-checkpoint-postgres), so one backup holds both, in their own schema
(``salesgraph_checkpoints``) so the store's migrations never see LangGraph's tables as strays to drop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

CHECKPOINT_SCHEMA = "salesgraph_checkpoints"

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from app.settings import Settings


def postgres_conninfo(sqlalchemy_url: str) -> str:
    """Turn a SQLAlchemy URL (postgresql+psycopg://...) into a libpq connection string for psycopg."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@contextmanager
def sqlite_checkpointer(path: Path) -> Iterator[BaseCheckpointSaver[str]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextmanager
def postgres_checkpointer(
    sqlalchemy_url: str, *, schema: str | None = CHECKPOINT_SCHEMA
) -> Iterator[BaseCheckpointSaver[str]]:
    """The checkpoint tables live in ``schema`` (created if missing)."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection, sql
    from psycopg.rows import dict_row

    conninfo = postgres_conninfo(sqlalchemy_url)
    options = f"-csearch_path={schema}" if schema else None
    with Connection.connect(
        conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row, options=options
    ) as conn:
        if schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        saver = PostgresSaver(conn)
        saver.setup()
        yield saver


@contextmanager
def open_checkpointer(settings: Settings, *, schema: str | None = None) -> Iterator[BaseCheckpointSaver[str]]:
    """The checkpointer matching the configured store (``schema``: PostgreSQL only, default ``CHECKPOINT_SCHEMA``)."""
    if settings.is_embedded:
        with sqlite_checkpointer(settings.home_dir / "checkpoints.db") as saver:
            yield saver
    else:
        with postgres_checkpointer(settings.effective_database_url, schema=schema or CHECKPOINT_SCHEMA) as saver:
            yield saver
