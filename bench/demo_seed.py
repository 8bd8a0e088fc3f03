"""How long ``seed_demo`` takes on SQLite and PostgreSQL, against pandas ``to_sql`` writing the same rows.

    python -m bench.demo_seed [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--repeat 3]

For each back end: a fresh migrated store (a temporary SQLite file; a throw-away PostgreSQL schema), then the full
seed (generation, foreign keys resolved, one audit event, commit), timed ``--repeat`` times (``--reset`` after the
first). The baseline writes the same generated rows with pandas ``DataFrame.to_sql`` into plain tables with no
keys, ids or checks. Prints JSON and writes bench/results/demo_seed.json. Target: well under 15 s per seed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

ANCHOR = date(2026, 11, 23)


def _time_seed(url: str, schema: str | None, repeat: int) -> dict[str, Any]:
    from sales.demo import seed_demo
    from store.db import make_engine, session_scope, upgrade

    engine = make_engine(url, schema=schema)
    upgrade(engine)
    times: list[float] = []
    rows = 0
    for i in range(repeat):
        start = time.perf_counter()
        with session_scope(engine) as s:
            summary = seed_demo(s, seed=7, anchor=ANCHOR, reset=i > 0)
        times.append(time.perf_counter() - start)
        rows = sum(summary.counts.values())
    engine.dispose()
    return {
        "seconds_median": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "rows": rows,
        "rows_per_second": round(rows / statistics.median(times)),
    }


def _time_pandas_baseline(url: str, schema: str | None) -> dict[str, Any]:
    import pandas as pd

    from sales.demo import _DemoBuilder
    from store.db import make_engine

    start = time.perf_counter()
    builder = _DemoBuilder(7, ANCHOR)
    builder.build()
    generate = time.perf_counter() - start
    engine = make_engine(url, schema=schema)
    tables = ("users", "accounts", "contacts", "leads", "deals", "stage_changes", "interactions", "tasks")
    start = time.perf_counter()
    rows = 0
    with engine.begin() as conn:
        for name in tables:
            frame = pd.DataFrame(getattr(builder, name))
            for column in frame.columns:
                if frame[column].map(lambda v: isinstance(v, dict)).any():
                    frame[column] = frame[column].astype(str)  # plain tables: JSON as text
                elif frame[column].map(lambda v: isinstance(v, Decimal)).any():
                    frame[column] = frame[column].astype(float)  # plain tables: money as float
            frame.to_sql(f"baseline_{name}", conn, if_exists="replace", index=False)
            rows += len(frame)
    write = time.perf_counter() - start
    engine.dispose()
    return {
        "generate_seconds": round(generate, 3),
        "to_sql_seconds": round(write, 3),
        "total_seconds": round(generate + write, 3),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    result: dict[str, Any] = {"anchor": ANCHOR.isoformat(), "seed": 7, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        result["sqlite"] = _time_seed(url, None, args.repeat)
        result["sqlite_pandas_baseline"] = _time_pandas_baseline(f"sqlite:///{Path(tmp) / 'baseline.db'}", None)
    if args.database_url:
        from sqlalchemy import text

        from store.db import make_engine

        schema = f"bench_demo_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.database_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            result["postgresql"] = _time_seed(args.database_url, schema, args.repeat)
            result["postgresql_pandas_baseline"] = _time_pandas_baseline(args.database_url, schema)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    write_result("demo_seed", result)


if __name__ == "__main__":
    main()
