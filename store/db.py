"""Engine and sessions for SQLite (embedded default) and PostgreSQL, and schema migrations with Alembic."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class StoreNotReady(RuntimeError):
    """The database schema is missing or older than this version of salesgraph."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level; SQLAlchemy's "begin" hook below issues BEGIN IMMEDIATE so
    # that writers are serialised up front (WAL keeps readers concurrent) instead of failing
    # later with SQLITE_BUSY_SNAPSHOT when a deferred transaction tries to upgrade its lock.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Read-only work (reports, searches, listings) may opt out with the ``sqlite_read_only`` execution
    # option, so that it never waits for, or blocks, a writer.
    if conn.get_execution_options().get("sqlite_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False, schema: str | None = None) -> Engine:
    """Create an engine for ``url``. ``schema`` (PostgreSQL only) sets the search path, used by tests."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


# Objects made by hand-written migrations (full-text search, 0002) that the models do not declare, and the
# briefing scheduler's job table (APScheduler's SQLAlchemyJobStore creates and owns ``apscheduler_jobs``):
# autogenerate must leave them alone instead of proposing to drop them.
HAND_MADE_OBJECTS = ("interactions_fts", "ix_interactions_fulltext", "apscheduler_jobs", "ix_apscheduler_jobs")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter: compare everything but the hand-made objects above."""
    return not (name and name.startswith(HAND_MADE_OBJECTS))


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    cfg_dir = ScriptDirectory(str(MIGRATIONS_DIR))
    return cfg_dir.get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Run migrations up to ``revision``; returns (before, after) revisions."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), revision)
    after = current_revision(engine)
    if before != after:
        log.info("database upgraded from %s to %s", before or "empty", after)
    return before, after


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema is at head: upgrade automatically (embedded default) or explain what to run."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    raise StoreNotReady(
        f"the database at {engine.url.render_as_string(hide_password=True)} is at schema revision "
        f"{current or 'none (empty)'}, this salesgraph needs {head}: run `salesgraph db upgrade`"
    )


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back on any exception.

    ``read_only`` sessions on SQLite start a deferred transaction instead of taking the write lock up front;
    use them for work that only reads, so it runs beside writers.
    """
    bind = engine.execution_options(sqlite_read_only=True) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
