"""``--db`` against PostgreSQL: the store is cloned per run and per case (CREATE DATABASE ... TEMPLATE), never written."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from evals.cases import CASES_DIR, load_cases
from evals.runner import run_cases
from evals.workspace import EVAL_ANCHOR, existing_workspace

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="TEST_DATABASE_URL (PostgreSQL) not set")

# Cases whose expectations use portable SQL (no SQLite date functions); one of them changes the store.
CASE_IDS = ["pq-won-team-last-quarter", "pq-count-open", "pq-open-by-rep", "move-proposal-to-negotiation",
            "adv-rep-moves-other-team-deal"]  # fmt: skip


@pytest.fixture
def demo_database() -> Iterator[str]:
    from sales.demo import seed_demo
    from store.db import ensure_schema, make_engine, session_scope

    name = f"eval_src_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        ensure_schema(engine, auto_upgrade=True)
        with session_scope(engine) as s:
            seed_demo(s, anchor=EVAL_ANCHOR)
    finally:
        engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fingerprint(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM stage_changes), "
                "(SELECT count(*) FROM deals WHERE stage = 'Negotiation')"
            )
        ).one()
    engine.dispose()
    return int(row[0]), int(row[1]), int(row[2])


def test_cases_run_on_clones_of_a_postgresql_store(demo_database: str) -> None:
    before = _fingerprint(demo_database)
    workspace = existing_workspace(demo_database, today=EVAL_ANCHOR)
    try:
        run = run_cases(load_cases([CASES_DIR], only=CASE_IDS), workspace)
    finally:
        workspace.close()
    assert {r.id: r.reasons for r in run.results if not r.passed} == {}
    assert _fingerprint(demo_database) == before  # the move happened in a clone only
    admin = create_engine(make_url(PG_URL).set(database="postgres"))
    with admin.connect() as conn:
        leftovers = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'eval\\_%' AND datname <> :source"),
            {"source": make_url(demo_database).database},
        ).scalar()
    admin.dispose()
    assert leftovers == 0
