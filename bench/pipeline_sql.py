"""Pipeline questions at 100,000 deals: our ``pipeline_question`` tool against the hand-written SQL for each.

    python -m bench.pipeline_sql [--deals 100000] [--repeat 20] [--database-url postgresql+psycopg://...]

Builds a migrated store (a temporary SQLite file; with ``--database-url`` also a throw-away PostgreSQL schema,
dropped afterwards) with 40 reps under 4 managers, 2,000 accounts over 8 industries and ``--deals`` deals spread
over two years, every stage, with won/lost closing dates. Then times the demo tour's three manager questions
through the tool the agent calls (``tools.analysis.pipeline_question``: permission, vocabulary, the query, the
typed result) and the plain SQL a developer would write for the same figures, run with SQLAlchemy Core.
Prints JSON and writes bench/results/pipeline_sql.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

INDUSTRIES = ("Software", "Retail", "Healthcare", "Finance", "Logistics", "Media", "Energy", "Education")
OPEN = ("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation")

# (name, tool arguments, raw SQL with :won / :lost parameters)
QUESTIONS: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "open amount by owner",
        {"metric": "total_amount", "group_by": ["owner"], "status": "open"},
        "SELECT owner_id, SUM(amount) FROM deals WHERE stage NOT IN (:won, :lost) GROUP BY owner_id",
    ),
    (
        "win rate by quarter",
        {"metric": "win_rate", "group_by": ["quarter"], "status": "closed"},
        "SELECT {quarter} AS q, AVG(CASE WHEN stage = :won THEN 1.0 ELSE 0.0 END) FROM deals "
        "WHERE stage IN (:won, :lost) GROUP BY q ORDER BY q",
    ),
    (
        "average won deal size by industry",
        {"metric": "avg_amount", "group_by": ["industry"], "status": "won"},
        "SELECT a.industry, AVG(d.amount) FROM deals d JOIN accounts a ON a.id = d.account_id "
        "WHERE d.stage = :won GROUP BY a.industry",
    ),
)


def populate(engine: Any, deals: int) -> int:
    from sqlalchemy import insert

    from store.db import session_scope
    from store.models import Account, Deal, Role, User

    rng = random.Random(7)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with session_scope(engine) as s:
        admin = User(name="Admin", email="admin@bench.example", role=Role.ADMIN)
        s.add(admin)
        reps: list[int] = []
        for t in range(4):
            manager = User(name=f"Manager {t}", email=f"m{t}@bench.example", role=Role.MANAGER, team=f"T{t}")
            s.add(manager)
            s.flush()
            for r in range(10):
                rep = User(name=f"Rep {t}.{r}", email=f"r{t}.{r}@bench.example", role=Role.REP, manager_id=manager.id)
                s.add(rep)
                s.flush()
                assert rep.id is not None
                reps.append(rep.id)
        s.flush()
        admin_id = admin.id
        accounts = [
            Account(name=f"Account {i}", industry=INDUSTRIES[i % len(INDUSTRIES)], owner_id=reps[i % len(reps)])
            for i in range(2000)
        ]
        s.add_all(accounts)
        s.flush()
        account_ids = [(a.id, a.owner_id) for a in accounts]
    rows: list[dict[str, Any]] = []
    for i in range(deals):
        account_id, owner_id = account_ids[i % len(account_ids)]
        created = now - timedelta(days=rng.uniform(0, 730))
        roll = rng.random()
        stage = "Won" if roll < 0.25 else "Lost" if roll < 0.55 else OPEN[int(rng.random() * len(OPEN))]
        closed = created + timedelta(days=rng.uniform(10, 120)) if stage in ("Won", "Lost") else None
        rows.append(
            {
                "name": f"Deal {i}",
                "account_id": account_id,
                "owner_id": owner_id,
                "amount": Decimal(rng.randrange(2_000, 200_000)),
                "currency": "USD",
                "stage": stage,
                "stage_entered_at": closed or created,
                "created_at": created,
                "updated_at": closed or created,
                "closed_at": closed if closed and closed < now else (now if closed else None),
            }
        )
        if len(rows) == 10_000:
            with session_scope(engine) as s:
                s.execute(insert(Deal), rows)
            rows = []
    if rows:
        with session_scope(engine) as s:
            s.execute(insert(Deal), rows)
    assert admin_id is not None
    return admin_id


def _time(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm: first-call costs (statement compilation, vocabulary) are not what a busy workspace pays
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def run(url: str, schema: str | None, deals: int, repeat: int) -> dict[str, Any]:
    from sqlalchemy import text

    from agent.context import Context
    from app.services import Services
    from app.settings import Settings
    from sales.permissions import load_actor
    from store.db import make_engine, session_scope, upgrade
    from tools.analysis import pipeline_question
    from tools.schemas import PipelineQuestionArgs

    engine = make_engine(url, schema=schema)
    upgrade(engine)
    t = time.perf_counter()
    populate(engine, deals)
    build_s = time.perf_counter() - t
    with session_scope(engine) as s:
        admin = load_actor(s, "admin@bench.example")
    ctx = Context(actor=admin, services=Services(settings=Settings(), engine=engine), company="bench")
    dialect = engine.dialect.name
    quarter = (
        "strftime('%Y', created_at) || '-Q' || ((CAST(strftime('%m', created_at) AS INTEGER) + 2) / 3)"
        if dialect == "sqlite"
        else "to_char(created_at, 'YYYY-\"Q\"Q')"
    )
    out: dict[str, Any] = {"deals": deals, "build_seconds": round(build_s, 1), "questions": {}}
    for name, arguments, sql in QUESTIONS:
        args = PipelineQuestionArgs(**arguments)
        statement = text(sql.replace("{quarter}", quarter))

        def ours(args: PipelineQuestionArgs = args, name: str = name) -> None:
            result = pipeline_question(ctx, args)
            assert result.rows, f"{name}: no rows"

        def raw(statement: Any = statement) -> None:
            with engine.connect() as conn:
                assert conn.execute(statement, {"won": "Won", "lost": "Lost"}).fetchall()

        out["questions"][name] = {"ours": _time(ours, repeat), "raw_sql": _time(raw, repeat)}
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "pipeline_sql", "deals": args.deals, "repeat": args.repeat}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            result["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", None, args.deals, args.repeat)
    if args.database_url:
        from sqlalchemy import text

        from store.db import make_engine

        schema = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.database_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            result["postgresql"] = run(args.database_url, schema, args.deals, args.repeat)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    write_result("pipeline_sql", result)


PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SUITE = [
    {"label": "10k", "args": ["--deals", "10000", "--database-url", PG], "timeout_s": 600},
    {"label": "100k", "args": ["--deals", "100000", "--database-url", PG], "timeout_s": 900},
]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    rows = []
    for backend in ("sqlite", "postgresql"):
        for name, timing in (result.get(backend) or {}).get("questions", {}).items():
            rows.append(
                {
                    "figure": f"{name} ({backend}), p50",
                    "ours": timing["ours"]["p50_ms"],
                    "baseline": timing["raw_sql"]["p50_ms"],
                    "baseline_name": "hand-written SQL",
                    "unit": "ms",
                }
            )
    rows.append({"figure": "peak memory (build + questions)", "ours": result.get("peak_rss_mb"), "unit": "MB"})
    return rows


if __name__ == "__main__":
    main()
