"""CSV export: every entity, filtered to what the acting user may see, on SQLite and PostgreSQL, and from the CLI."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, select
from typer.testing import CliRunner

from sales.errors import PermissionDenied
from sales.exporters import EXPORT_ENTITIES, export_csv
from sales.importing import import_csv
from sales.permissions import SYSTEM
from store.db import session_scope
from store.models import Account, Deal, Interaction, Lead, StageChange, Task, User
from tests.factories import actor, small_org


def _export(s: Session, who, entity: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    count = export_csv(s, who, entity, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count
    return rows


def _seed(s: Session) -> dict[str, User]:
    org = small_org(s)
    shared = Account(name="Shared Co", attributes={"tier": 1})
    owned = Account(name="Will's Co", owner_id=org["west_rep1"].id)
    s.add_all([shared, owned])
    s.flush()
    when = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    for key, ext in (("east_rep1", "E1"), ("east_rep2", "E2"), ("west_rep1", "W1")):
        deal = Deal(
            external_id=ext,
            name=f"Deal {ext}",
            owner_id=org[key].id,
            account_id=shared.id,
            stage="Qualified",
            amount=Decimal("1234.50"),
            stage_entered_at=when,
            created_at=when,
        )
        s.add(deal)
        s.flush()
        s.add(StageChange(deal_id=deal.id, to_stage="Qualified", changed_at=when))
        s.add(Interaction(deal_id=deal.id, user_id=org[key].id, channel="call", body=f"called about {ext}"))
        s.add(Task(title=f"follow up {ext}", owner_id=org[key].id, deal_id=deal.id))
        s.add(Lead(name=f"Lead {ext}", owner_id=org[key].id, attributes={"k": ext}))
    s.commit()
    return org


def test_every_entity_exports_for_an_admin(engine: Engine) -> None:
    with Session(engine) as s:
        org = _seed(s)
        admin = actor(s, org["admin"])
        sizes = {entity: len(_export(s, admin, entity)) for entity in EXPORT_ENTITIES}
    assert sizes == {
        "users": 7,
        "accounts": 2,
        "contacts": 0,
        "leads": 3,
        "deals": 3,
        "stage_changes": 3,
        "interactions": 3,
        "tasks": 3,
        "audit_events": 0,
    }


def test_values_are_written_the_way_the_importer_reads_them(engine: Engine) -> None:
    with Session(engine) as s:
        _seed(s)
        deals = {r["external_id"]: r for r in _export(s, SYSTEM, "deals")}
        accounts = {r["name"]: r for r in _export(s, SYSTEM, "accounts")}
        users = {r["email"]: r for r in _export(s, SYSTEM, "users")}
        changes = _export(s, SYSTEM, "stage_changes")
    assert deals["E1"]["owner"] == "eli.one@test.example"
    assert deals["E1"]["account"] == "Shared Co"
    assert deals["E1"]["amount"] == "1234.50"
    assert deals["E1"]["created_at"] == "2024-05-01T09:30:00+00:00"
    assert accounts["Shared Co"]["attributes"] == '{"tier": 1}'
    assert accounts["Will's Co"]["owner"] == "will.one@test.example"
    assert users["eli.one@test.example"]["manager"] == "erin.east@test.example"
    assert users["eli.one@test.example"]["active"] == "true"
    assert {c["deal"] for c in changes} == {"E1", "E2", "W1"}


def test_reps_and_managers_export_only_what_they_may_see(engine: Engine) -> None:
    with Session(engine) as s:
        org = _seed(s)
        rep = actor(s, org["east_rep1"])
        manager = actor(s, org["east_mgr"])
        assert [r["external_id"] for r in _export(s, rep, "deals")] == ["E1"]
        assert [r["external_id"] for r in _export(s, manager, "deals")] == ["E1", "E2"]
        assert [r["deal"] for r in _export(s, rep, "stage_changes")] == ["E1"]
        assert [r["body"] for r in _export(s, manager, "interactions")] == ["called about E1", "called about E2"]
        assert [r["name"] for r in _export(s, rep, "leads")] == ["Lead E1"]
        assert [r["title"] for r in _export(s, rep, "tasks")] == ["follow up E1"]
        assert [r["email"] for r in _export(s, rep, "users")] == ["eli.one@test.example"]
        assert len(_export(s, manager, "users")) == 3  # the manager and two reps
        # unowned accounts are shared reference data; another rep's account is not
        assert [r["name"] for r in _export(s, rep, "accounts")] == ["Shared Co"]
        with pytest.raises(PermissionDenied):
            _export(s, manager, "audit_events")


def test_exported_leads_import_again_with_their_attributes(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        _seed(s)
        out = io.StringIO()
        export_csv(s, SYSTEM, "leads", out)
    path = tmp_path / "leads.csv"
    text = out.getvalue().replace("Lead ", "Copy of ")
    path.write_text(text, encoding="utf-8")
    # the original leads have no external ids or emails, so the copies are new leads
    with session_scope(engine) as s:
        report = import_csv(s, SYSTEM, "leads", path)
    assert report.created == {"leads": 3}
    assert "id" in report.ignored_columns
    with Session(engine) as s:
        copies = [r for r in _export(s, SYSTEM, "leads") if r["name"].startswith("Copy of")]
    assert [(c["name"], c["attributes"], c["owner"]) for c in copies] == [
        ("Copy of E1", '{"k": "E1"}', "eli.one@test.example"),
        ("Copy of E2", '{"k": "E2"}', "eva.two@test.example"),
        ("Copy of W1", '{"k": "W1"}', "will.one@test.example"),
    ]


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite workspace for CLI commands run in-process."""
    import bots.common
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SALESGRAPH_HOME", str(home))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_USER", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    yield home
    if bots.common._services is not None:
        bots.common._services.engine.dispose()
    get_settings.cache_clear()


def test_cli_export_to_stdout_and_file_respects_as(cli_home: Path, tmp_path: Path) -> None:
    import bots.common
    from bots.cli import app

    engine = bots.common.services().engine
    with Session(engine) as s:
        _seed(s)
    runner = CliRunner()
    result = runner.invoke(app, ["export", "deals"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["external_id"] for r in rows] == ["E1", "E2", "W1"]
    out = tmp_path / "mine.csv"
    result = runner.invoke(app, ["export", "deals", "--out", str(out), "--as", "eli.one@test.example"])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 deals" in result.output
    assert [r["external_id"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["E1"]
    assert not out.with_name("mine.csv.part").exists()
    bad = runner.invoke(app, ["export", "widgets"])
    assert bad.exit_code == 1
    assert "not exportable" in bad.output and "Traceback" not in bad.output


def test_formula_like_text_is_exported_inert_and_imports_back_unchanged(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
        s.add(Lead(name='=HYPERLINK("http://evil.example","click")', company="@corp", phone="+14155552671"))
        s.commit()
        out = io.StringIO()
        export_csv(s, SYSTEM, "leads", out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert (row["company"], row["phone"]) == ("'@corp", "'+14155552671")
    path = tmp_path / "leads.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    with Session(engine) as s:
        s.exec(delete(Lead))  # type: ignore[call-overload]
        s.commit()
    with session_scope(engine) as s:
        import_csv(s, SYSTEM, "leads", path)
    with Session(engine) as s:
        lead = s.exec(select(Lead)).one()
    assert (lead.name, lead.company, lead.phone) == (
        '=HYPERLINK("http://evil.example","click")',
        "@corp",
        "+14155552671",
    )
