"""Index on write: an interaction becomes searchable when the transaction that logged or edited it commits.

``watch(engine, open_index)`` hooks SQLAlchemy's session events for that engine: every flush notes the ids of
``Interaction`` rows it inserted or changed, and after the commit those rows are embedded and written to the
index (``memory.indexer.index_interactions``) on the committing thread, before control returns to the caller,
so the next search sees them. A rollback forgets the ids. Indexing never fails the write: if the embedder or
the index is unavailable the row stays pending (``indexed_at`` NULL) and the scheduler's ``memory sync`` job
(every 10 minutes) or a manual ``salesgraph memory sync`` picks it up. Bulk writes that bypass the ORM (the
demo seed, CSV imports) are not seen here; they are indexed by ``sync``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import Interaction

if TYPE_CHECKING:
    from app.services import Services
    from memory.index import InteractionIndex
    from memory.indexer import SyncReport

log = logging.getLogger(__name__)

_PENDING_KEY = "memory_live_interaction_ids"
_current: LiveIndexer | None = None  # the one installed by ``watch_services``


class LiveIndexer:
    """Indexes the interactions each committed session wrote through ``engine`` (see the module docstring)."""

    def __init__(self, engine: Engine, open_index: Callable[[], InteractionIndex | None]) -> None:
        self.engine = engine
        self._open_index = open_index
        self._lock = threading.Lock()  # one indexing pass at a time: Chroma's local client is not re-entrant
        self.last_report: SyncReport | None = None
        self.last_error: str | None = None

    def _ours(self, session: Session) -> bool:
        bind = session.bind
        return bind is not None and getattr(bind, "pool", None) is self.engine.pool

    def after_flush(self, session: Session, _context: Any) -> None:
        if not self._ours(session):
            return
        # Still the pre-flush view here: new, changed and deleted rows of this flush, ids assigned.
        ids = {
            obj.id
            for obj in (*session.new, *session.dirty, *session.deleted)
            if isinstance(obj, Interaction) and obj.id is not None
        }
        if ids:
            session.info.setdefault(_PENDING_KEY, set()).update(ids)

    def after_rollback(self, session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)

    def after_commit(self, session: Session) -> None:
        ids = session.info.pop(_PENDING_KEY, None)
        if ids:
            self.index_now(sorted(ids))

    def index_now(self, ids: list[int]) -> SyncReport | None:
        """Index these interactions now; logs and returns None (rows stay pending) if that is not possible."""
        from memory.indexer import index_interactions

        try:
            with self._lock:
                index = self._open_index()
                if index is None:
                    log.info("memory: index on write skipped, the memory index is not set up")
                    return None
                report = index_interactions(self.engine, index, ids)
        except Exception as exc:  # the write has committed; a failed index update must not undo or hide it
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "memory: could not index interactions %s on write (%s); they stay pending until the next "
                "`salesgraph memory sync`",
                ids[:10],
                self.last_error,
            )
            return None
        self.last_report, self.last_error = report, None
        return report

    def install(self) -> None:
        event.listen(Session, "after_flush", self.after_flush)
        event.listen(Session, "after_commit", self.after_commit)
        event.listen(Session, "after_rollback", self.after_rollback)

    def remove(self) -> None:
        for name, fn in (
            ("after_flush", self.after_flush),
            ("after_commit", self.after_commit),
            ("after_rollback", self.after_rollback),
        ):
            if event.contains(Session, name, fn):
                event.remove(Session, name, fn)


def watch(engine: Engine, open_index: Callable[[], InteractionIndex | None]) -> LiveIndexer:
    """Start indexing on write for sessions on ``engine``; ``remove()`` on the result stops it."""
    live = LiveIndexer(engine, open_index)
    live.install()
    return live


def watch_services(services: Services) -> LiveIndexer | None:
    """Index on write for a front door's services (once per process), unless ``SALESGRAPH_INDEX_ON_WRITE=false``.

    The index is opened on the first write and shared with the agent (``services.extras["vector_index"]``); while
    it has not been set up (no server URL, no index folder) writes are left to ``memory sync`` as before."""
    from memory.config import MemorySettings

    global _current
    existing = services.extras.get("live_indexer")
    if isinstance(existing, LiveIndexer):
        return existing
    if _current is not None:  # one front door per process: services rebuilt (tests, a new workspace) replace it
        _current.remove()
        _current = None
    settings = MemorySettings.from_app(services.settings)
    if not settings.index_on_write:
        return None

    def open_index() -> InteractionIndex | None:
        from memory.index import InteractionIndex

        cached = services.extras.get("vector_index")
        if isinstance(cached, InteractionIndex):
            return cached
        if not settings.chroma_url and not settings.chroma_path.is_dir():
            return None
        index = InteractionIndex.from_settings(settings)
        services.extras["vector_index"] = index
        return index

    live = watch(services.engine, open_index)
    services.extras["live_indexer"] = live
    _current = live
    return live
