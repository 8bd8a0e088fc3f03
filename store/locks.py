"""Named locks across processes: a PostgreSQL session advisory lock held for a block of work.

Several Slack app processes share one database; one conversation must not run two turns at once (two clicks
on one card, a message and a click), whichever processes receive them. On SQLite, the embedded single-host
store, the lock is the caller's in-process lock alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

_LOCK_ENGINES: dict[str, Engine] = {}
_GUARD = threading.Lock()


def _lock_engine(engine: Engine) -> Engine:
    """An engine without a pool for the lock's own connection: a turn holds its lock for seconds while its
    tools use the store's pool, and ten concurrent turns must not use that pool up waiting on each other."""
    key = engine.url.render_as_string(hide_password=False)
    with _GUARD:
        found = _LOCK_ENGINES.get(key)
        if found is None:
            found = _LOCK_ENGINES[key] = create_engine(engine.url, poolclass=NullPool)
        return found


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (pg_advisory_lock takes a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the database-wide lock ``name`` for the block (waits while another process holds it)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    with _lock_engine(engine).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
