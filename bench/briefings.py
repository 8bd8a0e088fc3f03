"""100 team briefings in one morning: compose, chart and deliver (written to files) for every manager's team.

    python -m bench.briefings [--teams 100] [--reps 4] [--deals 20000]

Builds a temporary SQLite store with ``--teams`` managers of ``--reps`` reps each, 2,000 accounts and ``--deals``
deals over a year with their stage history, then runs ``bots.briefings.deliver.deliver_briefing`` for every team
(claim the delivery row, compose: pipeline, changes since yesterday, tasks, approvals, Monte-Carlo forecast,
sentiment; the chart; the Markdown and PNG files; the audit receipt), one after another as the scheduler does.
The baseline is the floor any briefing pays: the same team's open pipeline by stage as one hand-written SQL
GROUP BY per team. Prints JSON and writes bench/results/briefings.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

OPEN = ("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation")


def populate(engine: Any, teams: int, reps_per_team: int, deals: int, now: datetime) -> list[int]:
    from sqlalchemy import insert

    from store.db import session_scope
    from store.models import Account, Deal, Role, StageChange, User

    rng = random.Random(11)
    managers: list[int] = []
    reps: list[int] = []
    with session_scope(engine) as s:
        s.add(User(name="Admin", email="admin@bench.example", role=Role.ADMIN))
        for t in range(teams):
            manager = User(name=f"Manager {t}", email=f"m{t}@bench.example", role=Role.MANAGER, team=f"Team {t}")
            s.add(manager)
            s.flush()
            assert manager.id is not None
            managers.append(manager.id)
            for r in range(reps_per_team):
                rep = User(name=f"Rep {t}.{r}", email=f"r{t}.{r}@bench.example", role=Role.REP, manager_id=manager.id)
                s.add(rep)
                s.flush()
                assert rep.id is not None
                reps.append(rep.id)
        accounts = [Account(name=f"Account {i}", owner_id=reps[i % len(reps)]) for i in range(2000)]
        s.add_all(accounts)
        s.flush()
        account_rows = [(a.id, a.owner_id) for a in accounts]
    rows = []
    for i in range(deals):
        account_id, owner = account_rows[i % len(account_rows)]
        created = now - timedelta(days=rng.uniform(1, 365))
        roll = rng.random()
        stage = "Won" if roll < 0.2 else "Lost" if roll < 0.45 else OPEN[int(rng.random() * len(OPEN))]
        entered = created + (now - created) * rng.random()
        rows.append(
            {
                "name": f"Deal {i}",
                "account_id": account_id,
                "owner_id": owner,
                "amount": Decimal(rng.randrange(2_000, 150_000)),
                "currency": "USD",
                "stage": stage,
                "stage_entered_at": entered,
                "expected_close_date": (now + timedelta(days=rng.uniform(-10, 90))).date(),
                "created_at": created,
                "updated_at": entered,
                "closed_at": entered if stage in ("Won", "Lost") else None,
            }
        )
    with session_scope(engine) as s:
        for start in range(0, len(rows), 10_000):
            s.execute(insert(Deal), rows[start : start + 10_000])
        ids = [d for (d,) in s.execute(Deal.__table__.select().with_only_columns(Deal.__table__.c.id)).all()]  # type: ignore[attr-defined]
        changes = [
            {"deal_id": d, "from_stage": None, "to_stage": r["stage"], "changed_at": r["stage_entered_at"]}
            for d, r in zip(ids, rows, strict=True)
        ]
        for start in range(0, len(changes), 10_000):
            s.execute(insert(StageChange), changes[start : start + 10_000])
    return managers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--deals", type=int, default=20_000)
    args = parser.parse_args()

    from sqlalchemy import text

    from app.settings import Settings
    from bots.briefings.config import config_path, load_config
    from bots.briefings.deliver import deliver_briefing
    from sales.permissions import SYSTEM
    from store.db import make_engine, session_scope, upgrade
    from store.models import User

    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        engine = make_engine(f"sqlite:///{home / 'salesgraph.db'}")
        upgrade(engine)
        t = time.perf_counter()
        managers = populate(engine, args.teams, args.reps, args.deals, now)
        build_s = time.perf_counter() - t
        settings = Settings(home_dir=home)
        config = load_config(config_path(home))
        with session_scope(engine) as s:
            users = {m: s.get(User, m) for m in managers}
        per_team: list[float] = []
        started = time.perf_counter()
        for manager_id in managers:
            manager = users[manager_id]
            assert manager is not None
            t = time.perf_counter()
            result = deliver_briefing(engine, settings, config, SYSTEM, manager, now.date(), now=now)
            per_team.append(time.perf_counter() - t)
            assert result.status == "written", result
        total_s = time.perf_counter() - started

        sql = text(
            "SELECT d.stage, COUNT(*), SUM(d.amount) FROM deals d JOIN users u ON u.id = d.owner_id "
            "WHERE (u.manager_id = :m OR u.id = :m) AND d.stage NOT IN ('Won', 'Lost') GROUP BY d.stage"
        )
        baseline: list[float] = []
        started = time.perf_counter()
        with engine.connect() as conn:
            for manager_id in managers:
                t = time.perf_counter()
                conn.execute(sql, {"m": manager_id}).fetchall()
                baseline.append(time.perf_counter() - t)
        baseline_total_s = time.perf_counter() - started
        engine.dispose()
    ordered = sorted(per_team)
    write_result(
        "briefings",
        {
            "benchmark": "briefings",
            "teams": args.teams,
            "reps_per_team": args.reps,
            "deals": args.deals,
            "build_seconds": round(build_s, 1),
            "total_seconds": round(total_s, 2),
            "per_team_p50_ms": round(statistics.median(per_team) * 1000, 1),
            "per_team_p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
            "baseline_sql_total_seconds": round(baseline_total_s, 3),
            "baseline_sql_per_team_p50_ms": round(statistics.median(baseline) * 1000, 2),
        },
    )


SUITE = [{"label": "100 teams", "args": ["--teams", "100"], "timeout_s": 900}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": f"{result['teams']} team briefings (compose, forecast, chart, files, receipt), total",
            "ours": result["total_seconds"],
            "baseline": result["baseline_sql_total_seconds"],
            "baseline_name": "one SQL GROUP BY of each team's open pipeline",
            "unit": "s",
        },
        {"figure": "one team briefing, p50", "ours": result["per_team_p50_ms"], "unit": "ms"},
        {"figure": "peak memory", "ours": result.get("peak_rss_mb"), "unit": "MB"},
    ]


if __name__ == "__main__":
    main()
