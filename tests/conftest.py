"""Shared fixtures: a migrated store on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL, and the shared data sets."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from store.db import make_engine, upgrade

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("SALESGRAPH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data sets folder; tests that need it skip with the reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data sets not found at {path} (set SALESGRAPH_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def _postgres_schema() -> Iterator[tuple[str, str]]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL store tests need TEST_DATABASE_URL (make test sets it when a server answers)")
    schema = f"sg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, schema=schema)
    upgrade(engine)
    engine.dispose()
    try:
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _fresh_sqlite(template: Path, tmp_path: Path) -> Engine:
    path = tmp_path / "salesgraph.db"
    shutil.copy(template, path)
    return make_engine(f"sqlite:///{path}")


def _fresh_postgres(url: str, schema: str) -> Engine:
    engine = make_engine(url, schema=schema)
    import store.models  # noqa: F401  (every table registered on the metadata)

    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store; every test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        eng = _fresh_sqlite(request.getfixturevalue("_sqlite_template"), tmp_path)
    else:
        url, schema = request.getfixturevalue("_postgres_schema")
        eng = _fresh_postgres(url, schema)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(_sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite store, for tests whose subject is not the database back end."""
    eng = _fresh_sqlite(_sqlite_template, tmp_path)
    yield eng
    eng.dispose()
