"""CRM exports (HubSpot, Salesforce, Pipedrive) import with their ready mappings, detected from the header alone,
and a second import of an updated export updates rather than refuses (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from sales.importing import (
    MAPPINGS_DIR,
    ImportFailed,
    ImportMapping,
    adopt_source_stages,
    detect_mapping,
    import_csv,
)
from sales.permissions import SYSTEM
from sales.stages import workspace_machine
from store.db import session_scope
from store.models import Account, AuditEvent, Contact, Deal, ExternalRef, Interaction, Lead, StageChange, User
from tests.factories import small_org

DATA = Path(__file__).resolve().parents[1] / "data" / "crm"


def _mapping_for(path: Path) -> ImportMapping:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    mapping = detect_mapping(header, MAPPINGS_DIR)
    assert mapping is not None, f"no ready mapping detected for {path.name}"
    return mapping


def _import(engine: Engine, path: Path, mapping: ImportMapping | None = None, **kw: object):  # type: ignore[no-untyped-def]
    mapping = mapping or _mapping_for(path)
    assert mapping.entity is not None
    with session_scope(engine) as s:
        return import_csv(s, SYSTEM, mapping.entity, path, mapping, **kw)  # type: ignore[arg-type]


def _org(engine: Engine) -> dict[str, int | None]:
    with Session(engine) as s:
        return {role: user.id for role, user in small_org(s).items()}


def _count(s: Session, model: type) -> int:
    return int(s.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize(
    ("name", "system", "entity"),
    [
        ("hubspot-deals.csv", "hubspot", "deals"),
        ("hubspot-contacts.csv", "hubspot", "leads"),
        ("hubspot-companies.csv", "hubspot", "accounts"),
        ("salesforce-opportunities.csv", "salesforce", "deals"),
        ("salesforce-leads.csv", "salesforce", "leads"),
        ("salesforce-accounts.csv", "salesforce", "accounts"),
        ("salesforce-contacts.csv", "salesforce", "contacts"),
        ("pipedrive-deals.csv", "pipedrive", "deals"),
        ("pipedrive-persons.csv", "pipedrive", "contacts"),
        ("pipedrive-organizations.csv", "pipedrive", "accounts"),
        ("pipedrive-activities.csv", "pipedrive", "interactions"),
    ],
)
def test_each_export_is_recognised_by_its_header(name: str, system: str, entity: str) -> None:
    mapping = _mapping_for(DATA / name)
    assert (mapping.system, mapping.entity) == (system, entity)


def test_hubspot_deals_export_imports_with_no_map(engine: Engine) -> None:
    org = _org(engine)
    report = _import(engine, DATA / "hubspot-deals.csv")
    assert report.created["deals"] == 6
    assert (report.updated, report.unchanged, report.refused) == (0, 0, 0)
    with Session(engine) as s:
        deals = {d.name: d for d in s.exec(select(Deal)).all()}
        assert deals["Acme Corp - Platform"].stage == "Prospecting"
        assert deals["Initech - Seats expansion"].stage == "Negotiation"
        won = deals["Umbrella - Pilot"]
        assert (won.stage, won.amount, won.owner_id) == ("Won", Decimal("4200.00"), org["west_rep1"])
        assert won.closed_at is not None and won.closed_at.date() == date(2025, 1, 10)
        assert deals["Acme Corp - Platform"].expected_close_date == date(2025, 3, 31)
        assert deals["Acme Corp - Support plan"].amount is None
        acme = s.exec(select(Account).where(Account.name == "Acme Corp")).one()
        assert deals["Acme Corp - Platform"].account_id == acme.id == deals["Acme Corp - Support plan"].account_id
        refs = s.exec(select(ExternalRef).where(ExternalRef.system == "hubspot")).all()
        assert {(r.object, r.external_id) for r in refs} >= {("deals", "15236728001"), ("deals", "15236728006")}


def test_salesforce_opportunities_export_imports_with_no_map(engine: Engine) -> None:
    _org(engine)
    report = _import(engine, DATA / "salesforce-opportunities.csv")
    assert report.created["deals"] == 5
    with Session(engine) as s:
        deals = {d.name: d for d in s.exec(select(Deal)).all()}
        stark = deals["Stark Industries - Renewal"]
        assert (stark.stage, stark.expected_close_date) == ("Negotiation", date(2025, 3, 31))
        assert stark.created_at.date() == date(2024, 11, 2)
        cyberdyne = deals["Cyberdyne - Pilot"]
        assert (cyberdyne.stage, cyberdyne.currency) == ("Won", "EUR")
        assert deals["Wayne Enterprises - Training"].stage == "Discovery"


def test_people_exports_join_first_and_last_name_and_match_owners_by_email_or_name(engine: Engine) -> None:
    org = _org(engine)
    _import(engine, DATA / "hubspot-contacts.csv")
    _import(engine, DATA / "salesforce-contacts.csv")
    with Session(engine) as s:
        maria = s.exec(select(Lead).where(Lead.email == "maria.lopez@acme.example")).one()
        assert (maria.name, maria.owner_id, maria.status) == ("Maria Lopez", org["east_rep1"], "new")
        assert maria.attributes == {"Lifecycle Stage": "Lead"}
        tom = s.exec(select(Lead).where(Lead.email == "tom.becker@globex.example")).one()
        assert (tom.owner_id, tom.status, tom.phone) == (org["east_rep2"], "working", "+12125550144")
        lucius = s.exec(select(Contact).where(Contact.email == "lucius.fox@wayne.example")).one()
        assert lucius.name == "Lucius Fox"


def test_pipedrive_status_wins_over_the_stage_and_activities_link_to_deals(engine: Engine) -> None:
    _org(engine)
    _import(engine, DATA / "pipedrive-deals.csv")
    report = _import(engine, DATA / "pipedrive-activities.csv")
    assert report.created["interactions"] == 3
    with Session(engine) as s:
        deals = {d.external_id: d for d in s.exec(select(Deal)).all()}
        assert deals["103"].stage == "Won" and deals["103"].closed_at is not None
        assert deals["104"].stage == "Lost" and deals["104"].loss_reason == "Went with a competitor"
        assert deals["102"].stage == "Proposal"
        calls = s.exec(select(Interaction).where(Interaction.deal_id == deals["101"].id)).all()
        assert [(c.channel, c.occurred_at.hour) for c in calls] == [("call", 10)]


def _edited(tmp_path: Path, name: str, edit: dict[str, dict[str, str]], add: list[dict[str, str]] = ()) -> Path:  # type: ignore[assignment]
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    key = next(iter(rows[0]))
    for row in rows:
        row.update(edit.get(row[key], {}))
    rows.extend(add)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_reimport_of_an_updated_export_updates_and_reports_counts(engine: Engine, tmp_path: Path) -> None:
    _org(engine)
    _import(engine, DATA / "hubspot-deals.csv")
    new_row = {
        "Record ID": "15236728099",
        "Deal Name": "Globex - Add-on",
        "Deal Stage": "Appointment Scheduled",
        "Pipeline": "Sales Pipeline",
        "Amount": "900",
        "Close Date": "2025-06-30",
        "Create Date": "2025-01-25 10:00",
        "Deal owner": "Eva Two",
        "Associated Company": "Globex Inc.",
        "Deal Type": "newbusiness",
        "Last Modified Date": "2025-01-25 10:00",
    }
    path = _edited(
        tmp_path,
        "hubspot-deals.csv",
        {"15236728001": {"Deal Stage": "Closed Won", "Close Date": "2025-02-01"}, "15236728002": {"Amount": "9100"}},
        [new_row],
    )
    dry = _import(engine, path, dry_run=True)
    assert (dry.created["deals"], dry.updated, dry.unchanged) == (1, 2, 4)
    report = _import(engine, path)
    assert (report.created["deals"], report.updated, report.unchanged, report.refused) == (1, 2, 4, 0)
    with Session(engine) as s:
        assert _count(s, Deal) == 7
        acme = s.exec(select(Deal).where(Deal.name == "Acme Corp - Platform")).one()
        assert acme.stage == "Won" and acme.closed_at is not None and acme.closed_at.date() == date(2025, 2, 1)
        moves = s.exec(select(StageChange).where(StageChange.deal_id == acme.id).order_by(col(StageChange.id))).all()
        assert [(m.from_stage, m.to_stage) for m in moves][-1] == ("Prospecting", "Won")
        globex = s.exec(select(Deal).where(Deal.name == "Globex - Renewal 2025")).one()
        assert globex.amount == Decimal("9100.00")
        event = s.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
        assert event is not None and event.after is not None
        assert (event.after["updated"], event.after["unchanged"]) == (2, 4)
        assert sorted(event.after["updated_ids"]) == sorted([acme.id or 0, globex.id or 0])
    again = _import(engine, path)
    assert (again.created["deals"], again.updated, again.unchanged) == (0, 0, 7)


def test_a_bad_row_in_a_reimport_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    _org(engine)
    _import(engine, DATA / "hubspot-deals.csv")
    path = _edited(
        tmp_path,
        "hubspot-deals.csv",
        {"15236728002": {"Amount": "9100"}, "15236728003": {"Deal owner": "Nobody Known"}},
    )
    with pytest.raises(ImportFailed) as failed:
        _import(engine, path)
    report = failed.value.report
    assert report.refused == 1
    assert [(p.row, p.column) for p in report.problems] == [(4, "Deal owner")]
    with Session(engine) as s:
        globex = s.exec(select(Deal).where(Deal.name == "Globex - Renewal 2025")).one()
        assert globex.amount == Decimal("8500.50")


def test_accounts_made_by_a_deals_import_are_adopted_by_the_companies_export(engine: Engine) -> None:
    _org(engine)
    _import(engine, DATA / "hubspot-deals.csv")
    report = _import(engine, DATA / "hubspot-companies.csv")
    assert (report.created["accounts"], report.updated) == (0, 3)
    with Session(engine) as s:
        acme = s.exec(select(Account).where(Account.name == "Acme Corp")).one()
        assert (acme.domain, acme.employees) == ("acme.example", 250)
        assert _count(s, Account) == 5  # Acme, Globex, Initech, Umbrella, Hooli: none doubled


def test_adopting_the_source_stages_keeps_hubspot_stage_names(engine: Engine) -> None:
    _org(engine)
    path = DATA / "hubspot-deals.csv"
    with session_scope(engine) as s:
        mapping, _, _ = adopt_source_stages(s, SYSTEM, _mapping_for(path))
        import_csv(s, SYSTEM, "deals", path, mapping)
    with Session(engine) as s:
        assert workspace_machine(s).stages[0] == "Appointment Scheduled"
        stages = {d.name: d.stage for d in s.exec(select(Deal)).all()}
        assert stages["Initech - Seats expansion"] == "Contract Sent"
        assert stages["Umbrella - Pilot"] == "Closed Won"


def test_unknown_users_are_never_created(engine: Engine, tmp_path: Path) -> None:
    _org(engine)
    with Session(engine) as s:
        users = _count(s, User)
    path = tmp_path / "x.csv"
    shutil.copy(DATA / "salesforce-leads.csv", path)
    path.write_text(path.read_text().replace("Eli One", "Ghost Rep"), encoding="utf-8")
    with pytest.raises(ImportFailed):
        _import(engine, path)
    with Session(engine) as s:
        assert _count(s, User) == users and _count(s, Lead) == 0


def test_a_sync_after_importing_the_exports_updates_the_imported_rows(engine: Engine) -> None:
    """Import the HubSpot companies and contacts exports, then sync with HubSpot: the same records, by id."""
    from datetime import UTC, datetime

    from connectors.http import ApiClient
    from connectors.sync import pull_all
    from tests.crm_servers import TOKEN, CrmData, FakeRecord, crm_server

    _org(engine)
    assert _import(engine, DATA / "hubspot-companies.csv").ok
    assert _import(engine, DATA / "hubspot-contacts.csv").ok
    with Session(engine) as s:
        leads_before, accounts_before = _count(s, Lead), _count(s, Account)
    data = CrmData()
    when = datetime(2025, 2, 1, tzinfo=UTC)
    data.table("companies")[9001] = FakeRecord(9001, {"name": "Acme Corp", "domain": "acme.example"}, when)
    data.table("contacts")[501] = FakeRecord(
        501,
        {
            "firstname": "Maria",
            "lastname": "Lopez",
            "email": "maria.lopez@acme.example",
            "phone": "+14155550199",  # changed in HubSpot since the export
            "jobtitle": "VP Operations",
            "associatedcompanyid": "9001",
            "hubspot_owner_id": "1",
        },
        when,
    )
    with crm_server("hubspot", data) as url:
        reports = {
            r.stream: r
            for r in pull_all(engine, SYSTEM, "hubspot", ApiClient(url, {"Authorization": f"Bearer {TOKEN}"}))
        }
    assert reports["companies"].created == 0 and reports["contacts"].created == 0
    assert reports["contacts"].conflicts == 0  # the export was HubSpot's own data: nothing to arbitrate
    with Session(engine) as s:
        assert (_count(s, Lead), _count(s, Account)) == (leads_before, accounts_before)
        maria = s.exec(select(Lead).where(Lead.email == "maria.lopez@acme.example")).one()
        acme = s.exec(select(Account).where(Account.name == "Acme Corp")).one()
        assert maria.phone == "+14155550199" and maria.account_id == acme.id
