"""The known store each eval case starts from, and the per-case copy that keeps cases from leaking into each other.

``--seed-demo``: the demo company, seeded once per run into a temporary SQLite file with a FIXED anchor date, so
"last quarter" means the same days on every run; every case then gets its own copy of that file (a few MB).
``--db URL``: an existing database. A SQLite file is copied per case the same way; a PostgreSQL database is cloned
per case with ``CREATE DATABASE ... TEMPLATE`` (the source must have no other open connections).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EVAL_ANCHOR = date(2026, 11, 16)
"""The demo store's anchor and the run's "today": a Monday in Q4 2026, so "last quarter" is 2026-Q3."""
EVAL_SEED = 7


AHEAD = 1
"""PostgreSQL: clones made ahead of the case that needs them (each is ~0.4 s of server I/O, which overlaps the case
that runs meanwhile; more than one ahead gains nothing, as the server writes them one after another)."""


class WorkspaceError(RuntimeError):
    """The store for the run cannot be prepared; the message says why and what to do."""


@dataclass
class Workspace:
    """Where the run's store lives and how to hand each case a private copy of it."""

    source_url: str
    today: date
    root: Path
    seeded: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    vector_index: Any = None
    index_note: str | None = None
    _owned_root: bool = False
    _cleanup: Callable[[], Any] | None = None
    _spares: list[Any] = field(default_factory=list)
    """PostgreSQL: the clones for the next cases, being made while this one runs (Futures of their names)."""
    _cloner: Any = None

    @property
    def is_sqlite(self) -> bool:
        return self.source_url.startswith("sqlite")

    @contextmanager
    def case_store(self, case_id: str) -> Iterator[tuple[str, Engine]]:
        """A private copy of the store for one case: (URL, engine); the copy is dropped afterwards."""
        from store.db import make_engine

        if self.is_sqlite:
            source = Path(_sqlite_path(self.source_url))
            target = self.root / "cases" / f"{_safe(case_id)}-{uuid.uuid4().hex[:8]}.db"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            url = f"sqlite:///{target}"
            engine = make_engine(url)
            try:
                yield url, engine
            finally:
                engine.dispose()
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{target}{suffix}").unlink(missing_ok=True)
            return
        clone = self._next_clone(case_id)
        url = _clone_url(self.source_url, clone)
        engine = make_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()
            _drop_clone(self.source_url, clone)

    def _next_clone(self, case_id: str) -> str:
        """A clone of the source for this case, and the next one started. Copying the template takes ~0.4 s of
        server I/O, so it overlaps the case that runs meanwhile; only the clone server-side touches the source."""
        from concurrent.futures import ThreadPoolExecutor

        if self._cloner is None:
            self._cloner = ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="eval-clone")
        ready = self._spares.pop(0) if self._spares else self._cloner.submit(_create_clone, self.source_url, case_id)
        while len(self._spares) < AHEAD:
            self._spares.append(self._cloner.submit(_create_clone, self.source_url, "a later case"))
        return str(ready.result())

    def close(self) -> None:
        spares, self._spares = self._spares, []
        for spare in spares:  # the clones made ahead for cases that never came
            with suppress(WorkspaceError):  # never made: the error was for a case that did not run
                _drop_clone(self.source_url, str(spare.result()))
        if self._cloner is not None:
            self._cloner.shutdown(wait=True)
            self._cloner = None
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
        if self._owned_root:
            shutil.rmtree(self.root, ignore_errors=True)


def _reason(exc: Exception) -> str:
    """The first line of a database error, without SQLAlchemy's statement dump."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).splitlines() or [type(exc).__name__])[0]


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)[:60]


def _sqlite_path(url: str) -> str:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        raise WorkspaceError("an in-memory SQLite database cannot be shared with eval cases; give a file URL")
    return str(Path(database).expanduser())


def _admin_engine(url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _clone_url(url: str, clone: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=clone).render_as_string(hide_password=False)


def _create_clone(url: str, case_id: str) -> str:
    """A new database copied from the source (``CREATE DATABASE ... TEMPLATE``); its name."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    source = make_url(url).database
    clone = f"eval_case_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{clone}" TEMPLATE "{source}"'))
    except SQLAlchemyError as exc:
        raise WorkspaceError(
            f"cannot clone {source!r} for case {case_id} (CREATE DATABASE ... TEMPLATE needs the source without other "
            f"connections and the CREATEDB privilege): {_reason(exc)}"
        ) from None
    finally:
        admin.dispose()
    return clone


def _drop_clone(url: str, clone: str) -> None:
    from sqlalchemy import text

    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)'))
    finally:
        admin.dispose()


def seed_demo_workspace(
    *,
    anchor: date = EVAL_ANCHOR,
    seed: int = EVAL_SEED,
    root: Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Workspace:
    """A fresh temporary SQLite workspace holding the demo company for ``seed`` and ``anchor``."""
    from sales.demo import seed_demo
    from store.db import ensure_schema, make_engine, session_scope

    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="salesgraph-eval-")) if root is None else root
    base.mkdir(parents=True, exist_ok=True)
    path = base / "seed.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        ensure_schema(engine, auto_upgrade=True)
        with session_scope(engine) as s:
            summary = seed_demo(s, seed=seed, anchor=anchor, on_step=on_step)
    finally:
        engine.dispose()
    return Workspace(url, anchor, base, seeded=True, counts=dict(summary.counts), _owned_root=owned)


# The demo store and its index depend on these sources; a change to any of them invalidates the cache.
_CACHE_SOURCES = (
    "sales/demo.py",
    "sales/demo_text.py",
    "sales/playbook.py",
    "sales/segments.py",
    "sales/stages.py",
    "store/models.py",
    "memory/chunking.py",
    "memory/indexer.py",
    "memory/embeddings.py",
    "memory/sentiment.py",
)


def cache_key(seed: int, anchor: date) -> str:
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"{seed}|{anchor.isoformat()}".encode())
    for name in _CACHE_SOURCES:
        path = root / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()[:16]


def indexed_demo_workspace(
    cache_dir: Path,
    *,
    anchor: date = EVAL_ANCHOR,
    seed: int = EVAL_SEED,
    on_step: Callable[[str], None] | None = None,
) -> Workspace:
    """The demo workspace with its interactions indexed, cached in ``cache_dir`` between runs.

    Embedding ~5,700 interactions takes minutes on a small CPU; the seeded store and its Chroma index are kept
    together under a key of the seed, the anchor and the sources that shape them, so a later run only copies the
    store (and a change to the demo generator or the indexer rebuilds both).
    """
    from store.db import ensure_schema, make_engine

    step = on_step or (lambda _name: None)
    entry = cache_dir / cache_key(seed, anchor)
    cached_db, done = entry / "seed.db", entry / "complete"
    if done.is_file() and cached_db.is_file():
        step("using the cached demo store and index")
        base = Path(tempfile.mkdtemp(prefix="salesgraph-eval-"))
        shutil.copyfile(cached_db, base / "seed.db")
        workspace = Workspace(f"sqlite:///{base / 'seed.db'}", anchor, base, seeded=True, _owned_root=True)
        engine = make_engine(workspace.source_url)
        try:
            ensure_schema(engine, auto_upgrade=True)
        finally:
            engine.dispose()
        build_vector_index(workspace, cache_dir=entry / "chroma")  # a no-op sync when the cache is whole
        return workspace
    workspace = seed_demo_workspace(anchor=anchor, seed=seed, on_step=on_step)
    shutil.rmtree(entry, ignore_errors=True)
    entry.mkdir(parents=True, exist_ok=True)
    step("indexing the interactions (first run only)")
    build_vector_index(workspace, cache_dir=entry / "chroma")
    if workspace.vector_index is not None:
        shutil.copyfile(_sqlite_path(workspace.source_url), cached_db)
        done.write_text(workspace.today.isoformat(), encoding="utf-8")
    return workspace


def existing_workspace(url: str, *, today: date | None = None, root: Path | None = None) -> Workspace:
    """Run against an existing database (for example the Maven CRM import); it is never changed."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from store.db import head_revision, make_engine
    from store.types import utcnow

    if url.startswith("sqlite") and not Path(_sqlite_path(url)).is_file():
        raise WorkspaceError(f"no SQLite database at {_sqlite_path(url)}")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            users = conn.execute(text("SELECT count(*) FROM users")).scalar() or 0
    except SQLAlchemyError as exc:
        raise WorkspaceError(f"cannot read the salesgraph store at {make_url_safe(url)}: {_reason(exc)}") from None
    finally:
        engine.dispose()
    if version != head_revision():
        raise WorkspaceError(
            f"the store at {make_url_safe(url)} is at schema {version}, not {head_revision()}: "
            "run `salesgraph db upgrade` against it first"
        )
    if not users:
        raise WorkspaceError(f"the store at {make_url_safe(url)} has no users; import data or use --seed-demo")
    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="salesgraph-eval-")) if root is None else root
    base.mkdir(parents=True, exist_ok=True)
    # The run works on its own copy, so indexing and the cases never write to the given database.
    if url.startswith("sqlite"):
        import sqlite3

        copy = base / "source.db"
        # The backup API takes a consistent snapshot even while the store is in use (WAL included).
        with sqlite3.connect(_sqlite_path(url)) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        source.close()
        target.close()
        return Workspace(f"sqlite:///{copy}", today or utcnow().date(), base, _owned_root=owned)
    clone = _create_clone(url, "run")
    workspace = Workspace(_clone_url(url, clone), today or utcnow().date(), base, _owned_root=owned)
    workspace._cleanup = lambda: _drop_clone(url, clone)
    return workspace


def make_url_safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_vector_index(workspace: Workspace, *, cache_dir: Path | None = None) -> None:
    """Index the store's interactions once per run, for the semantic search cases.

    Embedding a few thousand interactions takes minutes on a small machine, so ``cache_dir`` keeps the Chroma
    index between runs: the sync then only embeds what differs from the store (nothing, for the same demo seed
    and anchor). A failure is recorded in ``index_note``; the search cases then fail with that reason instead
    of the run stopping.
    """
    try:
        from memory.config import MemorySettings
        from memory.index import InteractionIndex
        from memory.indexer import sync
        from store.db import make_engine

        folder = cache_dir or workspace.root / "chroma"
        settings = MemorySettings(chroma_dir=folder, chroma_url=None)
        index = InteractionIndex.from_settings(settings)
        engine = make_engine(workspace.source_url)
        try:
            sync(engine, index)
        finally:
            engine.dispose()
        workspace.vector_index = index
    except Exception as exc:  # any missing piece (model files, chroma) only disables the semantic leg
        workspace.index_note = f"the interaction index could not be built: {exc}"
