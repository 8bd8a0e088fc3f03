"""HubSpot and Pipedrive deal syncs against loopback servers speaking their APIs: pages, incremental cursors,
archived/deleted deals, 429 storms, a crash between a page's write and its cursor, and restarts at any point."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from connectors.http import ApiClient
from connectors.sources import HubSpotDeals, PipedriveDeals
from connectors.sync import pull_deals
from sales.permissions import SYSTEM
from store.db import make_engine
from store.models import AuditEvent, Deal, ExternalRef
from tests.crm_servers import TOKEN, CrmData, FakeDeal, crm_server
from tests.factories import small_org

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _data(n: int, kind: str) -> CrmData:
    stages = ["appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon"] if kind == "hubspot" else "123"
    data = CrmData()
    for i in range(1, n + 1):
        data.deals[i] = FakeDeal(
            id=i,
            name=f"Deal {i}",
            stage=stages[i % len(stages)],
            amount=str(100 * i),
            owner=1 + i % 3,
            modified=T0 + timedelta(minutes=i),
        )
    return data


def _source(kind: str, url: str, **kw: object) -> HubSpotDeals | PipedriveDeals:
    sleep = kw.pop("sleep", lambda s: None)
    if kind == "hubspot":
        return HubSpotDeals(ApiClient(url, {"Authorization": f"Bearer {TOKEN}"}, sleep=sleep))  # type: ignore[arg-type]
    return PipedriveDeals(ApiClient(url, {"x-api-token": TOKEN}, sleep=sleep))  # type: ignore[arg-type]


def _synced(engine: Engine, system: str) -> list[str]:
    with Session(engine) as s:
        return sorted(
            r.external_id
            for r in s.exec(select(ExternalRef).where(ExternalRef.system == system, ExternalRef.deleted_at == None))  # noqa: E711
        )


def _deals(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Deal)).one())


@pytest.mark.parametrize("kind", ["hubspot", "pipedrive"])
def test_initial_then_incremental_sync_with_deleted_deals(sqlite_engine: Engine, kind: str) -> None:
    with Session(sqlite_engine) as s:
        small_org(s)
    data = _data(250, kind)
    with crm_server(kind, data) as url:
        report = pull_deals(sqlite_engine, SYSTEM, _source(kind, url))
        assert (report.created, report.pages) == (250, 4)  # 3 pages of live deals, then 1 of archived ones
        assert _synced(sqlite_engine, kind) == sorted(str(i) for i in range(1, 251))
        data.deals[7].name = "Deal 7 renamed"
        data.deals[7].modified = T0 + timedelta(days=2)
        data.deals[9].archived = True
        data.deals[9].modified = T0 + timedelta(days=2)
        again = pull_deals(sqlite_engine, SYSTEM, _source(kind, url))
    assert (again.created, again.updated, again.deleted) == (0, 1, 1)
    assert again.unchanged <= 1  # the deal modified at the cursor's instant is read again, and is unchanged
    with Session(sqlite_engine) as s:
        assert s.exec(select(Deal).where(Deal.external_id == "7")).one().name == "Deal 7 renamed"
    assert _deals(sqlite_engine) == 250
    assert "9" not in _synced(sqlite_engine, kind)


@pytest.mark.parametrize("kind", ["hubspot", "pipedrive"])
def test_a_429_storm_is_waited_out_and_the_token_never_reaches_the_log(
    sqlite_engine: Engine, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Session(sqlite_engine) as s:
        small_org(s)
    data = _data(120, kind)
    data.storm = 2  # every second request is refused with 429
    waits: list[float] = []
    caplog.set_level(logging.DEBUG)
    with crm_server(kind, data) as url:
        report = pull_deals(sqlite_engine, SYSTEM, _source(kind, url, sleep=waits.append))
    assert report.created == 120
    assert len(waits) >= 3
    assert TOKEN not in caplog.text


def test_a_crash_between_a_page_write_and_its_cursor_duplicates_nothing(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s:
        small_org(s)
    data = _data(230, "hubspot")

    def crash(page: int) -> None:
        if page == 2:
            raise RuntimeError("power cut")

    with crm_server("hubspot", data) as url:
        with pytest.raises(RuntimeError, match="power cut"):
            pull_deals(sqlite_engine, SYSTEM, _source("hubspot", url), before_cursor=crash)
        assert _deals(sqlite_engine) == 100  # the second page and its cursor were rolled back together
        pull_deals(sqlite_engine, SYSTEM, _source("hubspot", url))
    assert _deals(sqlite_engine) == 230
    assert _synced(sqlite_engine, "hubspot") == sorted(str(i) for i in range(1, 231))


def test_a_conflicting_change_is_resolved_by_the_stated_rule_and_audited(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s:
        small_org(s)
    data = _data(3, "hubspot")
    with crm_server("hubspot", data) as url:
        pull_deals(sqlite_engine, SYSTEM, _source("hubspot", url))
        with Session(sqlite_engine) as s:
            deal = s.exec(select(Deal).where(Deal.external_id == "1")).one()
            deal.name = "Our name"
            s.add(deal)
            s.commit()
        data.deals[1].name = "Their name"
        data.deals[1].modified = T0 + timedelta(days=1)
        report = pull_deals(sqlite_engine, SYSTEM, _source("hubspot", url))
    assert report.conflicts == 1
    with Session(sqlite_engine) as s:
        assert s.exec(select(Deal).where(Deal.external_id == "1")).one().name == "Their name"  # name: the CRM wins
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "sync_conflict")).one()
        assert event.after is not None
        assert (event.after["field"], event.after["winner"], event.after["rule"]) == ("name", "crm", "crm")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["hubspot", "pipedrive"]),
    crash_at=st.integers(1, 6),
    where=st.sampled_from(["write", "cursor"]),
)
def test_a_sync_interrupted_anywhere_and_restarted_ends_with_exactly_the_source(
    _sqlite_template: Path,  # noqa: PT019 (its value, the migrated template file, is used)
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    crash_at: int,
    where: str,
) -> None:
    import shutil

    path = tmp_path_factory.mktemp("sync") / "salesgraph.db"
    shutil.copy(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as s:
            small_org(s)
        data = _data(260, kind)  # 3 live pages + the deleted listing + ... : crashes land in every phase
        data.deals[5].archived = True

        def crash(page: int) -> None:
            if page == crash_at:
                raise RuntimeError("interrupted")

        with crm_server(kind, data) as url:
            if where == "write":
                # interrupted in the middle of reading: stop after crash_at pages, as a killed process would
                pull_deals(engine, SYSTEM, _source(kind, url), max_pages=crash_at)
            else:
                with contextlib.suppress(RuntimeError):
                    pull_deals(engine, SYSTEM, _source(kind, url), before_cursor=crash)
            pull_deals(engine, SYSTEM, _source(kind, url))
        expected = sorted(str(i) for i, d in data.deals.items() if not d.archived)
        assert _synced(engine, kind) == expected
        with Session(engine) as s:
            ids = [d.external_id for d in s.exec(select(Deal)).all()]
        assert sorted(ids) == expected  # no duplicates, nothing missing
    finally:
        engine.dispose()


def test_sync_command_reads_the_token_from_settings_and_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import bots.common
    from app.settings import get_settings
    from bots.cli import app

    monkeypatch.setenv("SALESGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_PIPEDRIVE_TOKEN", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    try:
        missing = CliRunner().invoke(app, ["sync", "pipedrive"])
        assert missing.exit_code != 0 and "SALESGRAPH_PIPEDRIVE_TOKEN" in missing.output
        with Session(bots.common.services().engine) as s:
            small_org(s)
        data = _data(30, "pipedrive")
        with crm_server("pipedrive", data) as url:
            monkeypatch.setenv("SALESGRAPH_PIPEDRIVE_TOKEN", TOKEN)
            monkeypatch.setenv("SALESGRAPH_PIPEDRIVE_API_URL", url)
            get_settings.cache_clear()
            monkeypatch.setattr(bots.common, "_services", None)
            result = CliRunner().invoke(app, ["sync", "pipedrive"])
        assert result.exit_code == 0, result.output
        assert "30 created" in result.output
        assert TOKEN not in result.output
    finally:
        if bots.common._services is not None:
            bots.common._services.engine.dispose()
        get_settings.cache_clear()


@pytest.mark.parametrize("kind", ["hubspot", "pipedrive"])
def test_stage_moves_are_written_back_once_even_after_a_crash(sqlite_engine: Engine, kind: str) -> None:
    from connectors.writeback import push_stage_moves
    from sales.deals import move_deal_to_stage
    from store.db import session_scope
    from store.models import SyncWrite

    with Session(sqlite_engine) as s:
        small_org(s)
    data = _data(4, kind)
    with crm_server(kind, data) as url:
        pull_deals(sqlite_engine, SYSTEM, _source(kind, url))
        with session_scope(sqlite_engine) as s:
            for ext in ("1", "2"):
                deal = s.exec(select(Deal).where(Deal.external_id == ext)).one()
                assert deal.id is not None
                move_deal_to_stage(s, SYSTEM, deal.id, "Lost", loss_reason="price")

        def crash(event_id: int) -> None:
            raise RuntimeError("crashed after the CRM accepted the write")

        with pytest.raises(RuntimeError):
            push_stage_moves(sqlite_engine, SYSTEM, _source(kind, url), after_call=crash)
        report = push_stage_moves(sqlite_engine, SYSTEM, _source(kind, url))
        assert report.sent == 2
        again = push_stage_moves(sqlite_engine, SYSTEM, _source(kind, url))
        assert again.sent == 0
        after = pull_deals(sqlite_engine, SYSTEM, _source(kind, url))
    keys = [k for k, _, _ in data.writes]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]  # the crashed write was re-sent with the same key
    for ext in (1, 2):
        assert data.deals[ext].stage == "closedlost" if kind == "hubspot" else data.deals[ext].status == "lost"
    assert after.conflicts == 0
    with Session(sqlite_engine) as s:
        assert {w.status for w in s.exec(select(SyncWrite)).all()} == {"done"}
        assert s.exec(select(Deal).where(Deal.external_id == "1")).one().stage == "Lost"
