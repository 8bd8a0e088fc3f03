"""CRM import and sync throughput (records/s): a HubSpot deals export imported and re-imported (upsert), a
HubSpot and a Pipedrive deal sync, and a full two-way sync (companies, people and deals with their associations,
then the write-back of new leads, their companies and a logged call each) against the loopback API servers of the
tests (real HTTP on 127.0.0.1).

    python -m bench.crm_sync [--deals N]

Records per second of wall-clock time and, for the syncs, per CPU second of this process (the loopback servers
run in it too; on a shared machine the CPU figure is the steadier comparison). For each: the first run (every
record created) and a second run (every record read again; the import updates a tenth of them, the sync reads
only what changed). Baseline: the same export through the
plain CSV importer with no upsert (the shape `salesgraph import csv --entity deals` had before). Prints JSON and
writes bench/results/crm_sync.json.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.memory_common import write_result

HUBSPOT_HEADER = [
    "Record ID",
    "Deal Name",
    "Deal Stage",
    "Amount",
    "Close Date",
    "Create Date",
    "Deal owner",
    "Associated Company",
]
STAGES = ["Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled", "Contract Sent", "Closed Lost"]


def _export(path: Path, n: int, bump: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HUBSPOT_HEADER)
        for i in range(1, n + 1):
            amount = 100 * i + (50 if bump and i % 10 == 0 else 0)
            owner = ["Eli One", "Eva Two", "Will One"][i % 3]
            writer.writerow(
                [
                    i,
                    f"Deal {i}",
                    STAGES[i % len(STAGES)],
                    amount,
                    "2025-06-30",
                    "2025-01-01 09:00",
                    owner,
                    f"Co {i % 200}",
                ]
            )


def _store(folder: Path) -> Any:
    from sqlmodel import Session

    from store.db import make_engine, upgrade
    from tests.factories import small_org

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    with Session(engine) as s:
        small_org(s)
    return engine


def bench_import(n: int, folder: Path) -> dict[str, Any]:
    from sales.importing import MAPPINGS_DIR, import_csv, load_mapping, mapping_from_dict
    from sales.permissions import SYSTEM
    from store.db import session_scope

    mapping = load_mapping(MAPPINGS_DIR / "hubspot" / "deals.yaml")
    first, second = folder / "deals.csv", folder / "deals2.csv"
    _export(first, n)
    _export(second, n, bump=1)
    engine = _store(folder / "a")
    timings: dict[str, Any] = {}
    for label, path in (("first_import", first), ("reimport_10pct_changed", second)):
        start = time.perf_counter()
        with session_scope(engine) as s:
            report = import_csv(s, SYSTEM, "deals", path, mapping)
        seconds = time.perf_counter() - start
        timings[label] = {
            "seconds": round(seconds, 3),
            "records_per_s": round(n / seconds, 1),
            "created": report.created.get("deals", 0),
            "updated": report.updated,
            "unchanged": report.unchanged,
        }
    engine.dispose()
    raw = mapping_from_dict(_plain(mapping))
    engine = _store(folder / "b")
    start = time.perf_counter()
    with session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", first, raw)
    seconds = time.perf_counter() - start
    engine.dispose()
    timings["baseline_plain_import"] = {"seconds": round(seconds, 3), "records_per_s": round(n / seconds, 1)}
    return timings


def _plain(mapping: Any) -> dict[str, Any]:
    """The HubSpot mapping without `system`: a one-off insert-only import of the same file."""
    return {
        "entity": "deals",
        "columns": dict(mapping.columns),
        "values": {k: dict(v) for k, v in mapping.values.items()},
        "stage_dates": dict(mapping.stage_dates),
        "defaults": dict(mapping.defaults),
    }


def bench_sync(kind: str, n: int, folder: Path) -> dict[str, Any]:
    from connectors.http import ApiClient
    from connectors.sources import HubSpotDeals, PipedriveDeals
    from connectors.sync import pull_stream
    from sales.permissions import SYSTEM
    from tests.crm_servers import TOKEN, CrmData, FakeDeal, crm_server

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    stages = ["appointmentscheduled", "qualifiedtobuy", "contractsent"] if kind == "hubspot" else "123"
    data = CrmData()
    for i in range(1, n + 1):
        data.deals[i] = FakeDeal(i, f"Deal {i}", stages[i % 3], str(100 * i), 1 + i % 3, t0 + timedelta(seconds=i))
    engine = _store(folder / kind)
    out: dict[str, Any] = {}
    with crm_server(kind, data) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"} if kind == "hubspot" else {"x-api-token": TOKEN}
        for label in ("initial_sync", "incremental_sync_10pct_changed"):
            if label.startswith("incremental"):
                for i in range(10, n + 1, 10):
                    data.deals[i].name += " (renamed)"
                    data.deals[i].modified = t0 + timedelta(days=5, seconds=i)
            client = ApiClient(url, headers)
            source = HubSpotDeals(client) if kind == "hubspot" else PipedriveDeals(client)
            start, cpu = time.perf_counter(), time.process_time()
            report = pull_stream(engine, SYSTEM, source)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            client.close()
            handled = report.created + report.updated + report.unchanged
            out[label] = {
                "seconds": round(seconds, 3),
                "records_per_s": round(handled / seconds, 1),
                "records_per_cpu_s": round(handled / cpu, 1),
                "records": handled,
                "created": report.created,
                "updated": report.updated,
                "requests": report.requests,
            }
    engine.dispose()
    return out


def bench_two_way(kind: str, n: int, folder: Path) -> dict[str, Any]:
    """A full sync (companies, people, deals with their associations) of ``n`` deals, ``n // 10`` companies and
    ``n // 5`` people, then the write-back of ``n // 20`` new leads (each with a new account) and a logged call each."""
    from sqlmodel import select

    from connectors.http import ApiClient
    from connectors.sources import HubSpotDeals, PipedriveDeals
    from connectors.sync import pull_all
    from connectors.writeback import push_changes
    from sales.interactions import InteractionInput, log_interaction
    from sales.leads import LeadInput, create_lead
    from sales.permissions import SYSTEM, actor_for_user
    from store.db import session_scope
    from store.models import Account, User
    from tests.crm_servers import TOKEN, CrmData, FakeDeal, FakeRecord, crm_server

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    stages = ["appointmentscheduled", "qualifiedtobuy", "contractsent"] if kind == "hubspot" else "123"
    data = CrmData()
    companies, people = max(n // 10, 1), max(n // 5, 1)
    orgs = data.table("companies" if kind == "hubspot" else "organizations")
    persons = data.table("contacts" if kind == "hubspot" else "persons")
    for c in range(companies):
        props: dict[str, Any] = {"name": f"Company {c}"} | ({"hubspot_owner_id": "1"} if kind == "hubspot" else {})
        orgs[10_000 + c] = FakeRecord(10_000 + c, props, t0 + timedelta(seconds=c))
    for p in range(people):
        email, org = f"p{p}@c{p % companies}.example", 10_000 + p % companies
        if kind == "hubspot":
            props = {"firstname": "P", "lastname": str(p), "email": email, "associatedcompanyid": str(org)}
        else:
            props = {"name": f"P {p}", "emails": [{"value": email, "primary": True}], "org_id": org}
        persons[20_000 + p] = FakeRecord(20_000 + p, props, t0 + timedelta(seconds=p))
    for i in range(1, n + 1):
        data.deals[i] = FakeDeal(
            i,
            f"Deal {i}",
            stages[i % 3],
            str(100 * i),
            1 + i % 3,
            t0 + timedelta(seconds=i),
            company=10_000 + i % companies,
            contact=20_000 + i % people,
        )
    engine = _store(folder / f"{kind}-two-way")
    headers = {"Authorization": f"Bearer {TOKEN}"} if kind == "hubspot" else {"x-api-token": TOKEN}
    out: dict[str, Any] = {"companies": companies, "people": people, "deals": n}
    with crm_server(kind, data) as url:
        client = ApiClient(url, headers)
        start, cpu = time.perf_counter(), time.process_time()
        reports = pull_all(engine, SYSTEM, kind, client)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        records = sum(r.created + r.updated + r.unchanged for r in reports)
        out["full_sync"] = {
            "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds, 1),
            "records_per_cpu_s": round(records / cpu, 1),
            "records": records,
            "requests": sum(r.requests for r in reports),
        }
        leads = max(n // 20, 1)
        with session_scope(engine) as s:
            rep = actor_for_user(s, s.exec(select(User).where(User.email == "eli.one@test.example")).one())
            for j in range(leads):
                s.add(Account(name=f"New Co {j}", owner_id=rep.user_id))
                s.flush()
                lead = create_lead(
                    s, rep, LeadInput(name=f"New Lead {j}", email=f"n{j}@new{j}.example", company=f"New Co {j}")
                )
                log_interaction(s, rep, InteractionInput(lead_id=lead.lead.id, channel="call", body="Intro call"))
        source = HubSpotDeals(client) if kind == "hubspot" else PipedriveDeals(client)
        start, cpu = time.perf_counter(), time.process_time()
        pushed = push_changes(engine, SYSTEM, source)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        out["write_back"] = {
            "seconds": round(seconds, 3),
            "writes_per_s": round(pushed.sent / seconds, 1),
            "writes_per_cpu_s": round(pushed.sent / cpu, 1),
            "writes": pushed.sent,
            "by_operation": pushed.by_operation,
        }
        client.close()
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=5000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-crm-"))
    try:
        for sub in ("a", "b", "hubspot", "pipedrive"):
            (folder / sub).mkdir()
        result = {
            "deals": args.deals,
            "store": "sqlite",
            "import_hubspot_export": bench_import(args.deals, folder),
            "sync_hubspot": bench_sync("hubspot", args.deals, folder),
            "sync_pipedrive": bench_sync("pipedrive", args.deals, folder),
            "two_way_hubspot": bench_two_way("hubspot", args.deals, folder),
            "two_way_pipedrive": bench_two_way("pipedrive", args.deals, folder),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    write_result("crm_sync", result)


if __name__ == "__main__":
    main()
