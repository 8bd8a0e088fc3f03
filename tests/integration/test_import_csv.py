"""The CSV importer on SQLite and PostgreSQL: all rows or none, named bad rows, references, history, permissions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from sales.errors import PermissionDenied
from sales.importing import ImportFailed, MappingError, import_csv, mapping_from_dict
from sales.permissions import SYSTEM
from store.db import session_scope
from store.models import (
    Account,
    AuditEvent,
    Contact,
    Deal,
    Interaction,
    Lead,
    StageChange,
    User,
)
from tests.factories import actor, small_org

DEALS_MAPPING = mapping_from_dict(
    {
        "entity": "deals",
        "columns": {"external_id": "opportunity_id", "owner": "sales_agent", "stage": "deal_stage", "amount": "value"},
        "values": {"stage": {"Engaging": "Qualified"}},
        "templates": {"name": "{account} {opportunity_id}"},
        "stage_dates": {"Qualified": "engage_date", "Won": "close_date", "Lost": "close_date"},
    }
)
DEALS_HEADER = "opportunity_id,sales_agent,account,deal_stage,engage_date,close_date,value\n"


def _write(tmp_path: Path, text: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(s: Session, model: type) -> int:
    return int(s.exec(select(func.count()).select_from(model)).one())


def test_one_broken_row_imports_nothing_and_names_the_row(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
    rows = [f"D{i},Eli One,Acme,Won,2024-01-{i:02d},2024-02-{i:02d},{i * 100}" for i in range(1, 21)]
    rows[13] = "D14,Eli One,Acme,Won,2024-01-14,2024-02-14,12x0"  # the 14th data row: row 15 in a spreadsheet
    path = _write(tmp_path, DEALS_HEADER + "\n".join(rows) + "\n")
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING)
    report = failed.value.report
    assert [(p.row, p.column) for p in report.problems] == [(15, "value")]
    assert "'12x0' is not a number" in report.problems[0].problem
    assert report.rows == 20
    with Session(engine) as s:
        assert _count(s, Deal) == 0
        assert _count(s, Account) == 0  # the account the good rows named was not created either
        assert _count(s, StageChange) == 0
        assert _count(s, AuditEvent) == 0


def test_every_bad_row_is_reported_with_its_column(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
    text = DEALS_HEADER + (
        "D1,Eli One,Acme,Won,2024-01-01,2024-02-01,100\n"
        "D2,Nobody Known,Acme,Won,2024-01-01,2024-02-01,100\n"  # unknown user
        "D3,Eli One,Acme,Engaged,2024-01-01,,\n"  # unknown stage
        "D4,Eli One,Acme,Won,2024-03-01,2024-02-01,100\n"  # closed before engaged
        "D5,Eli One,Acme,Won,2024-01-01,,100\n"  # won without a close date
        "D6,Eli One,Acme,Won,2024-01-01,2024-02-01,\n"  # won without an amount
        "D1,Eli One,Acme,Lost,2024-01-01,2024-02-01,0\n"  # duplicate external id
        "D8,Eli One,Acme,Won,01/02/2024,2024-02-01,100\n"  # not an ISO date
        "D9,Eli One\n"  # short row
        "D10,Ghost Person,Acme,Won,2024-01-01,2024-02-01,12x\n"  # two problems on one row: both reported
    )
    path = _write(tmp_path, text)
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING)
    problems = {(p.row, p.column): p.problem for p in failed.value.report.problems}
    assert "no user named 'Nobody Known'" in problems[(3, "sales_agent")]
    assert "'Engaged' is not a stage" in problems[(4, "deal_stage")]
    assert "Won on 2024-02-01 is before Qualified on 2024-03-01" in problems[(5, "close_date")]
    assert "close_date" in problems[(6, "deal_stage")]
    assert "no amount" in problems[(7, "value")]
    assert "also on row 2" in problems[(8, "opportunity_id")]
    assert "ISO" in problems[(9, "engage_date")]
    assert "has 2 cells" in problems[(10, "(row)")]
    assert "no user named 'Ghost Person'" in problems[(11, "sales_agent")]
    assert "'12x' is not a number" in problems[(11, "value")]
    assert failed.value.report.bad_rows == 9
    with Session(engine) as s:
        assert _count(s, Deal) == 0


def test_deals_get_history_from_dates_and_unknown_accounts_are_created(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        org = small_org(s)
        s.add(Account(name="Acme, Inc."))
        s.commit()
        eli = org["east_rep1"].id
    text = DEALS_HEADER + (
        "W1,Eli One,ACME,Won,2024-01-05,2024-03-01,5000\n"  # matches the existing "Acme, Inc." by company key
        "L1,eli.one@test.example,Globex,Lost,2024-01-06,2024-02-01,0\n"  # owner by email; Globex is new
        "Q1,Eli One,Globex,Engaging,2024-02-10,,\n"
        "P1,Eli One,,Prospecting,,,\n"
    )
    path = _write(tmp_path, text)
    with session_scope(engine) as s:
        report = import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING)
    assert report.created == {"deals": 4, "accounts": 1, "stage_changes": 6}
    with Session(engine) as s:
        deals = {d.external_id: d for d in s.exec(select(Deal)).all()}
        accounts = {a.id: a.name for a in s.exec(select(Account)).all()}
        assert sorted(accounts.values()) == ["Acme, Inc.", "Globex"]
        assert accounts[deals["W1"].account_id] == "Acme, Inc."
        assert accounts[deals["L1"].account_id] == accounts[deals["Q1"].account_id] == "Globex"
        assert deals["P1"].account_id is None
        assert {d.owner_id for d in deals.values()} == {eli}

        def history(ext: str) -> list[tuple[str | None, str, datetime]]:
            rows = s.exec(
                select(StageChange).where(StageChange.deal_id == deals[ext].id).order_by(col(StageChange.id))
            ).all()
            return [(c.from_stage, c.to_stage, c.changed_at) for c in rows]

        jan5, mar1 = datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
        assert history("W1") == [(None, "Qualified", jan5), ("Qualified", "Won", mar1)]
        won = deals["W1"]
        assert (won.stage, won.amount, won.created_at, won.stage_entered_at, won.closed_at) == (
            "Won",
            Decimal("5000.00"),
            jan5,
            mar1,
            mar1,
        )
        assert [h[1] for h in history("L1")] == ["Qualified", "Lost"]
        q1 = deals["Q1"]
        assert q1.stage == "Qualified" and q1.closed_at is None
        assert q1.stage_entered_at == datetime(2024, 2, 10, tzinfo=UTC)
        # no dates at all: one stage change into the current stage, at import time
        p1_history = history("P1")
        assert [(h[0], h[1]) for h in p1_history] == [(None, "Prospecting")]
        assert deals["P1"].created_at == deals["P1"].stage_entered_at == p1_history[0][2]
        assert p1_history[0][2] > datetime(2026, 1, 1, tzinfo=UTC)
        event = s.exec(select(AuditEvent)).one()
        assert (event.action, event.record_type, event.id) == ("import", "deals", report.audit_event_id)
        assert event.after is not None
        assert event.after["created"] == {"deals": 4, "accounts": 1, "stage_changes": 6}
        assert event.after["file"] == "file.csv" and event.after["sha256"] == report.sha256


def test_dry_run_reports_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
    path = _write(tmp_path, DEALS_HEADER + "A1,Eli One,Initech,Won,2024-01-01,2024-01-09,10\n")
    with session_scope(engine) as s:
        report = import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING, dry_run=True)
    assert report.dry_run and report.audit_event_id is None
    assert report.created == {"deals": 1, "accounts": 1, "stage_changes": 2}
    with Session(engine) as s:
        assert _count(s, Deal) == _count(s, Account) == _count(s, AuditEvent) == 0


def test_reimporting_the_same_deals_is_refused_row_by_row(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
    path = _write(tmp_path, DEALS_HEADER + "A1,Eli One,Initech,Won,2024-01-01,2024-01-09,10\n")
    with session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING)
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", path, DEALS_MAPPING)
    assert [(p.row, p.column) for p in failed.value.report.problems] == [(2, "opportunity_id")]
    assert "already exists" in failed.value.report.problems[0].problem


def test_users_with_templated_email_and_managers_from_the_same_file(engine: Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "full name,boss,office,role\nMaria Boss,,North,manager\nJosé Núñez,Maria Boss,North,\nKim Lee,maria boss,North,\n",
    )
    mapping = mapping_from_dict(
        {
            "columns": {"name": "full name", "manager": "boss", "region": "office"},
            "templates": {"email": "{name|dotted}@corp.example"},
        }
    )
    with session_scope(engine) as s:
        report = import_csv(s, SYSTEM, "users", path, mapping)
    assert report.created == {"users": 3}
    with Session(engine) as s:
        users = {u.email: u for u in s.exec(select(User)).all()}
        assert set(users) == {"maria.boss@corp.example", "jose.nunez@corp.example", "kim.lee@corp.example"}
        boss = users["maria.boss@corp.example"]
        assert boss.role == "manager" and boss.manager_id is None
        assert users["jose.nunez@corp.example"].manager_id == boss.id
        assert users["kim.lee@corp.example"].manager_id == boss.id
        assert users["kim.lee@corp.example"].role == "rep"


def test_only_admins_import_users(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        org = small_org(s)
        manager = actor(s, org["east_mgr"])
    path = _write(tmp_path, "name,email\nNew Person,new@corp.example\n")
    with pytest.raises(PermissionDenied), session_scope(engine) as s:
        import_csv(s, manager, "users", path)


def test_a_rep_imports_only_their_own_deals(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
    path = _write(
        tmp_path,
        "name,stage,owner,amount\nMine,Prospecting,,\nAlso mine,Qualified,Eli One,\nTheirs,Prospecting,Will One,\n",
    )
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, rep, "deals", path)
    assert [(p.row, p.column) for p in failed.value.report.problems] == [(4, "owner")]
    assert "not in your team" in failed.value.report.problems[0].problem
    ok = _write(tmp_path, "name,stage,owner\nMine,Prospecting,\nAlso mine,Qualified,Eli One\n", "ok.csv")
    with session_scope(engine) as s:
        import_csv(s, rep, "deals", ok)
    with Session(engine) as s:
        assert {d.owner_id for d in s.exec(select(Deal)).all()} == {org["east_rep1"].id}


def test_leads_with_semicolons_value_maps_and_attributes(engine: Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '"age";"job";"duration";"rate";"y"\n56;"housemaid";261;1.1;"no"\n41;"admin.";120;-0.10;"yes"\n',
    )
    mapping = mapping_from_dict(
        {
            "columns": {"external_id": "__row__", "outcome": "y", "status": "y"},
            "values": {"outcome": {"yes": "converted", "no": "lost"}, "status": {"yes": "converted", "no": "new"}},
            "templates": {"name": "Contact {__row__}"},
            "defaults": {"source": "campaign"},
            "attributes": {"include": "*", "exclude": ["y", "duration"]},
        }
    )
    with session_scope(engine) as s:
        report = import_csv(s, SYSTEM, "leads", path, mapping)
    assert report.ignored_columns == ["duration"]
    with Session(engine) as s:
        leads = s.exec(select(Lead).order_by(col(Lead.id))).all()
        assert [(ld.external_id, ld.name, ld.outcome, ld.status, ld.source) for ld in leads] == [
            ("1", "Contact 1", "lost", "new", "campaign"),
            ("2", "Contact 2", "converted", "converted", "campaign"),
        ]
        # numbers that print back identically become numbers; "-0.10" would not, so it stays text
        assert leads[0].attributes == {"age": 56, "job": "housemaid", "rate": 1.1}
        assert leads[1].attributes == {"age": 41, "job": "admin.", "rate": "-0.10"}


def test_leads_emails_and_phones_are_validated(engine: Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "name,email,phone\nAnn,ANN@Example.COM,(415) 555-2671\nBob,bob@@example,\nCy,,12\nDi,ann@example.com,\n",
    )
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, SYSTEM, "leads", path)
    problems = {(p.row, p.column): p.problem for p in failed.value.report.problems}
    assert set(problems) == {(3, "email"), (4, "phone"), (5, "email")}
    assert "not a valid email" in problems[(3, "email")]
    assert "also on row 2" in problems[(5, "email")]
    good = _write(tmp_path, "name,email,phone\nAnn,ANN@Example.COM,(415) 555-2671\n", "good.csv")
    with session_scope(engine) as s:
        import_csv(s, SYSTEM, "leads", good)
    with Session(engine) as s:
        lead = s.exec(select(Lead)).one()
        assert (lead.email, lead.phone) == ("ann@example.com", "+14155552671")


def test_contacts_interactions_and_stage_changes_resolve_their_references(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as s:
        small_org(s)
    deals = _write(tmp_path, DEALS_HEADER + "D1,Eli One,Acme,Engaging,2024-01-01,,\n", "deals.csv")
    contacts = _write(tmp_path, "name,email,account,owner\nPat Buyer,pat@acme.example,Acme,Eli One\n", "contacts.csv")
    interactions = _write(
        tmp_path,
        "deal,contact,user,channel,direction,subject,body,occurred_at,sentiment\n"
        "D1,pat@acme.example,Eli One,call,outbound,Intro,Talked budget,2024-01-02T10:00:00+02:00,0.5\n",
        "interactions.csv",
    )
    changes = _write(
        tmp_path,
        "deal,from_stage,to_stage,changed_at,changed_by\nD1,Qualified,discovery,2024-01-03,Eli One\n",
        "changes.csv",
    )
    with session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", deals, DEALS_MAPPING)
        import_csv(s, SYSTEM, "contacts", contacts)
        import_csv(s, SYSTEM, "interactions", interactions)
        import_csv(s, SYSTEM, "stage_changes", changes)
    with Session(engine) as s:
        deal = s.exec(select(Deal)).one()
        contact = s.exec(select(Contact)).one()
        assert contact.account_id == deal.account_id
        interaction = s.exec(select(Interaction)).one()
        assert (interaction.deal_id, interaction.contact_id, interaction.channel) == (deal.id, contact.id, "call")
        assert interaction.occurred_at == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
        last = s.exec(select(StageChange).order_by(col(StageChange.id).desc())).first()
        assert last is not None and (last.from_stage, last.to_stage) == ("Qualified", "Discovery")
        assert _count(s, AuditEvent) == 4
    unknown = _write(
        tmp_path,
        "deal,channel,occurred_at\nNOPE,call,2024-01-01\n,email,2024-01-01\nD1,fax,2024-01-01\n",
        "bad_interactions.csv",
    )
    with pytest.raises(ImportFailed) as failed, session_scope(engine) as s:
        import_csv(s, SYSTEM, "interactions", unknown)
    problems = {(p.row, p.column): p.problem for p in failed.value.report.problems}
    assert "no deal with external id 'NOPE'" in problems[(2, "deal")]
    assert "must name a deal" in problems[(3, "deal")]
    assert "'fax' is not one of" in problems[(4, "channel")]


def test_mapping_mistakes_are_one_clear_error(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, "title,value\nA,1\n")
    with pytest.raises(MappingError) as wrong, session_scope(engine) as s:
        import_csv(s, SYSTEM, "deals", path, mapping_from_dict({"columns": {"amount": "valu", "nmae": "title"}}))
    message = str(wrong.value)
    assert "column 'valu' (for field amount) is not in the file" in message
    assert "unknown field(s) nmae" in message
    assert "required field stage has no column" in message


def test_encodings_bom_and_blank_lines(sqlite_engine: Engine, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,company\nJosé,Café Ltd\n".encode("latin-1"))
    with pytest.raises(MappingError, match="encoding"), session_scope(sqlite_engine) as s:
        import_csv(s, SYSTEM, "leads", latin)
    with session_scope(sqlite_engine) as s:
        import_csv(s, SYSTEM, "leads", latin, mapping_from_dict({"encoding": "latin-1"}))
    # Excel's UTF-8 files start with a byte-order mark; a blank line still counts as a row, as a spreadsheet shows
    excel = tmp_path / "excel.csv"
    excel.write_bytes("\ufeffname,email\r\nAnn,ann@example.com\r\n\r\nBob,bob@\r\n".encode())
    with pytest.raises(ImportFailed) as failed, session_scope(sqlite_engine) as s:
        import_csv(s, SYSTEM, "leads", excel)
    assert [(p.row, p.column) for p in failed.value.report.problems] == [(4, "email")]
    with Session(sqlite_engine) as s:
        assert [ld.name for ld in s.exec(select(Lead)).all()] == ["José"]
