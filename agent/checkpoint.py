"""The checkpointer that makes conversations (and pending approvals) survive restarts.

Embedded default: SQLite in ``$SALESGRAPH_HOME/checkpoints.db``. When the store is PostgreSQL the checkpoints go
to the same PostgreSQL database (langgraph-checkpoint-postgres), so one backup holds both, in their own schema
(``salesgraph_checkpoints``) so the store's migrations never see LangGraph's tables as strays to drop.

On PostgreSQL each process keeps one saver over one connection pool (psycopg_pool) per database and schema,
opened on first use and closed at exit: a Slack app process answering many messages at once borrows a pooled
connection per checkpoint read or write instead of connecting (and running ``setup()``) for every message.
``SALESGRAPH_CHECKPOINT_POOL_SIZE`` caps the pool (default 10 connections per process).
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

CHECKPOINT_SCHEMA = "salesgraph_checkpoints"
DEFAULT_POOL_SIZE = 10

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.checkpoint.postgres import PostgresSaver

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


class _PooledSavers:
    """One ``PostgresSaver`` over one ``ConnectionPool`` per (database, schema) in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._savers: dict[tuple[str, str | None], tuple[PostgresSaver, Any]] = {}

    def get(self, conninfo: str, schema: str | None) -> PostgresSaver:
        key = (conninfo, schema)
        with self._lock:
            found = self._savers.get(key)
            if found is not None:
                return found[0]
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg import Connection, sql
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            options = f"-csearch_path={schema}" if schema else None
            if schema:
                with Connection.connect(conninfo, autocommit=True, options=options) as conn:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
            if options:
                kwargs["options"] = options
            size = max(1, int(os.environ.get("SALESGRAPH_CHECKPOINT_POOL_SIZE") or DEFAULT_POOL_SIZE))
            pool: ConnectionPool[Any] = ConnectionPool(
                conninfo,
                min_size=1,
                max_size=size,
                kwargs=kwargs,
                open=True,
                name="salesgraph-checkpoints",
                check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
            )
            try:
                saver = PostgresSaver(pool)
                saver.setup()  # creates or migrates LangGraph's tables, once per process
            except BaseException:
                pool.close()
                raise
            self._savers[key] = (saver, pool)
            return saver

    def close(self) -> None:
        with self._lock:
            for _, pool in self._savers.values():
                pool.close()
            self._savers.clear()

    def __len__(self) -> int:
        return len(self._savers)


_POOLED = _PooledSavers()
atexit.register(_POOLED.close)


def close_checkpoint_pools() -> None:
    """Close this process's checkpoint pools (at exit, or in a test that drops the database afterwards)."""
    _POOLED.close()


@contextmanager
def postgres_checkpointer(
    sqlalchemy_url: str, *, schema: str | None = CHECKPOINT_SCHEMA
) -> Iterator[BaseCheckpointSaver[str]]:
    """This process's pooled saver for the database; the checkpoint tables live in ``schema`` (created if
    missing). Leaving the block returns nothing to close: the pool stays open for the next message."""
    yield _POOLED.get(postgres_conninfo(sqlalchemy_url), schema)


@contextmanager
def open_checkpointer(settings: Settings, *, schema: str | None = None) -> Iterator[BaseCheckpointSaver[str]]:
    """The checkpointer matching the configured store (``schema``: PostgreSQL only, default ``CHECKPOINT_SCHEMA``)."""
    if settings.is_embedded:
        with sqlite_checkpointer(settings.home_dir / "checkpoints.db") as saver:
            yield saver
    else:
        with postgres_checkpointer(settings.effective_database_url, schema=schema or CHECKPOINT_SCHEMA) as saver:
            yield saver


def conversation_exists(settings: Settings, thread_id: str) -> bool:
    """Whether the checkpointer holds a conversation under ``thread_id`` (a Slack thread the assistant is in)."""
    with open_checkpointer(settings) as saver:
        return saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}) is not None
