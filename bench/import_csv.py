"""Import and export throughput at data-set scale, against pandas ``read_csv`` + ``to_sql`` on the same store.

    python -m bench.import_csv [--database-url URL] [--leads N] [--deals N]

Builds a leads file (Bank Marketing shape, ``;``-separated, 41,188 rows by default) and a deals file (Maven shape,
8,800 rows with stage dates), or uses the real files from ../shared/data when present. For each: the full
importer (every row checked, references resolved, stage history written, one audit event) and, as the baseline,
pandas reading the same file and bulk-writing it to a plain table with no checks. Prints JSON and writes
bench/results/import_csv.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BANK_HEADER = (
    "age;job;marital;education;default;housing;loan;contact;month;day_of_week;duration;campaign;pdays;previous;"
    "poutcome;emp.var.rate;cons.price.idx;cons.conf.idx;euribor3m;nr.employed;y"
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_leads(path: Path, rows: int, rng: random.Random) -> None:
    jobs = ["admin.", "blue-collar", "technician", "services", "management", "retired", "student"]
    with path.open("w", encoding="utf-8") as fh:
        fh.write(BANK_HEADER + "\n")
        for _ in range(rows):
            fh.write(
                f'{rng.randint(18, 90)};"{rng.choice(jobs)}";"married";"high.school";"no";"yes";"no";"cellular";'
                f'"may";"mon";{rng.randint(0, 3000)};{rng.randint(1, 20)};999;0;"nonexistent";1.1;93.994;-36.4;'
                f'{rng.choice(["4.857", "1.313", "0.72"])};5191;"{rng.choice(["no"] * 8 + ["yes"])}"\n'
            )


def build_deals(folder: Path, rows: int, rng: random.Random) -> tuple[Path, Path, Path]:
    agents = [f"Agent {i:02d}" for i in range(35)]
    accounts = [f"Account {i:02d}" for i in range(85)]
    (folder / "sales_teams.csv").write_text(
        "sales_agent,manager,regional_office\n"
        + "".join(f"{a},Manager {i % 6},{['Central', 'East', 'West'][i % 3]}\n" for i, a in enumerate(agents)),
        encoding="utf-8",
    )
    (folder / "accounts.csv").write_text(
        "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n"
        + "".join(f"{a},retail,1999,100.5,500,United States,\n" for a in accounts),
        encoding="utf-8",
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "opportunity_id",
            "sales_agent",
            "product",
            "account",
            "deal_stage",
            "engage_date",
            "close_date",
            "close_value",
        ]
    )
    start = date(2016, 10, 1)
    for i in range(rows):
        stage = rng.choice(["Won", "Won", "Lost", "Engaging", "Prospecting"])
        engage = start + timedelta(days=rng.randint(0, 400))
        close = engage + timedelta(days=rng.randint(1, 120))
        writer.writerow(
            [
                f"OPP{i:07d}",
                rng.choice(agents),
                rng.choice(["GTXPro", "MG Special", "GTX Basic"]),
                rng.choice(accounts) if stage != "Prospecting" else "",
                stage,
                "" if stage == "Prospecting" else engage.isoformat(),
                close.isoformat() if stage in ("Won", "Lost") else "",
                {"Won": str(rng.randint(40, 30000)), "Lost": "0"}.get(stage, ""),
            ]
        )
    (folder / "sales_pipeline.csv").write_text(out.getvalue(), encoding="utf-8")
    return folder / "accounts.csv", folder / "sales_teams.csv", folder / "sales_pipeline.csv"


def _fresh_engine(url: str | None, folder: Path) -> tuple[Any, str | None]:
    from sqlalchemy import text

    from store.db import make_engine, upgrade

    schema: str | None = None
    if url is None:
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    else:
        schema = f"sg_bench_{int(time.time())}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(url, schema=schema)
    upgrade(engine)
    return engine, schema


def _drop(engine: Any, url: str | None, schema: str | None) -> None:
    from sqlalchemy import text

    from store.db import make_engine

    engine.dispose()
    if url and schema:
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _baseline(engine: Any, path: Path, sep: str, table: str) -> dict[str, Any]:
    import pandas as pd

    t0 = time.perf_counter()
    frame = pd.read_csv(path, sep=sep)
    frame.to_sql(table, engine, if_exists="replace", index=False, chunksize=2000)
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "rows_per_s": round(len(frame) / seconds)}


def run(url: str | None, leads: int, deals: int) -> dict[str, Any]:
    from sqlmodel import Session

    from sales.exporters import export_csv
    from sales.importing import MAPPINGS_DIR, import_csv, load_mapping
    from sales.permissions import SYSTEM
    from store.db import session_scope

    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="sg-bench-import-"))
    result: dict[str, Any] = {"database": "sqlite" if url is None else "postgresql"}
    try:
        real_bank = SHARED / "leads" / "bank-additional-full.csv"
        real_maven = SHARED / "crm" / "maven"
        if real_bank.is_file() and leads == 41188:
            leads_path, result["leads_source"] = real_bank, "UCI Bank Marketing (real)"
        else:
            leads_path, result["leads_source"] = folder / "leads.csv", f"synthetic, {leads} rows"
            build_leads(leads_path, leads, rng)
        if (real_maven / "sales_pipeline.csv").is_file() and deals == 8800:
            files = tuple(real_maven / n for n in ("accounts.csv", "sales_teams.csv", "sales_pipeline.csv"))
            result["deals_source"] = "Maven CRM (real)"
        else:
            files = build_deals(folder, deals, rng)
            result["deals_source"] = f"synthetic, {deals} rows"

        engine, schema = _fresh_engine(url, folder)
        try:
            rss0 = _rss_mb()
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                report = import_csv(
                    s, SYSTEM, "leads", leads_path, load_mapping(MAPPINGS_DIR / "bank-marketing" / "leads.yaml")
                )
            seconds = time.perf_counter() - t0
            result["leads_import"] = {
                "rows": report.rows,
                "seconds": round(seconds, 3),
                "rows_per_s": round(report.rows / seconds),
                "rss_growth_mb": round(_rss_mb() - rss0, 1),
            }
            result["leads_baseline_pandas_to_sql"] = _baseline(engine, leads_path, ";", "bench_leads_plain")

            maven_maps = MAPPINGS_DIR / "maven"
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                for entity, path, yaml_name in zip(
                    ("accounts", "users", "deals"), files, ("accounts.yaml", "users.yaml", "deals.yaml"), strict=True
                ):
                    report = import_csv(s, SYSTEM, entity, path, load_mapping(maven_maps / yaml_name))
            seconds = time.perf_counter() - t0
            result["deals_import"] = {
                "rows": report.rows,
                "stage_changes": report.created.get("stage_changes", 0),
                "seconds": round(seconds, 3),
                "rows_per_s": round(report.rows / seconds),
            }
            result["deals_baseline_pandas_to_sql"] = _baseline(engine, files[2], ",", "bench_deals_plain")

            for entity in ("leads", "deals"):
                out = io.StringIO()
                t0 = time.perf_counter()
                with Session(engine) as s:
                    count = export_csv(s, SYSTEM, entity, out)
                seconds = time.perf_counter() - t0
                result[f"{entity}_export"] = {
                    "rows": count,
                    "seconds": round(seconds, 3),
                    "rows_per_s": round(count / seconds),
                }
        finally:
            _drop(engine, url, schema)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL; default a temporary SQLite file")
    parser.add_argument("--leads", type=int, default=41188)
    parser.add_argument("--deals", type=int, default=8800)
    args = parser.parse_args()
    name = "import_csv" if args.database_url is None else "import_csv_postgresql"
    write_result(name, run(args.database_url, args.leads, args.deals))


if __name__ == "__main__":
    main()
