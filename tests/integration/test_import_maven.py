"""The real data sets: the Maven CRM files and the UCI Bank Marketing leads import through the shipped mappings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from sales.importing import MAPPINGS_DIR, import_csv, import_maven, load_mapping
from sales.permissions import SYSTEM
from sales.pipeline import pipeline_summary
from store.db import session_scope
from store.models import Account, AuditEvent, Deal, Lead, StageChange, User

pytestmark = pytest.mark.slow


def _count(s: Session, model: type) -> int:
    return int(s.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def maven(shared_data: Path) -> Path:
    return shared_data / "crm" / "maven"


def test_maven_import_gives_8800_deals_85_accounts_35_users(engine: Engine, maven: Path) -> None:
    with session_scope(engine) as s:
        reports = import_maven(s, SYSTEM, maven, MAPPINGS_DIR / "maven")
    assert [r.entity for r in reports] == ["accounts", "users", "deals"]
    with Session(engine) as s:
        assert _count(s, Deal) == 8800
        assert _count(s, Account) == 85  # every account a deal names is in accounts.csv: none created
        assert _count(s, User) == 35
        assert _count(s, AuditEvent) == 4  # Maven's stages (mappings/maven/stages.yaml), then the three files
        # the file's quirks, handled: typo'd sector, product spelling; Maven's own stage names are kept
        assert s.exec(select(func.count()).where(col(Account.industry) == "technolgy")).one() == 0
        assert s.exec(select(func.count()).where(col(Account.industry) == "technology")).one() == 12
        products = set(s.exec(select(Deal.product).distinct()).all())
        assert "GTXPro" not in products and "GTX Pro" in products
        stages = dict(s.exec(select(Deal.stage, func.count()).group_by(col(Deal.stage))).all())
        assert stages == {"Won": 4238, "Lost": 2473, "Engaging": 1589, "Prospecting": 500}
        # history: Engaging on engage_date for all but Prospecting deals, plus Won/Lost on close_date,
        # plus one entry for each Prospecting deal at import time
        assert _count(s, StageChange) == (8800 - 500) + (4238 + 2473) + 500
        assert s.exec(select(func.count()).where(col(Deal.account_id).is_(None))).one() == 1088 + 337
        acme = s.exec(select(Account).where(Account.name == "Acme Corporation")).one()
        assert acme.annual_revenue == Decimal("1100040000.00")  # revenue is given in millions
        assert acme.attributes["year_established"] == 1996
        teams = {u.team for u in s.exec(select(User)).all()}
        assert len(teams) == 6 and all(u.role == "rep" for u in s.exec(select(User)).all())


def _pandas_pipeline(maven: Path) -> dict[tuple[str, str], tuple[int, Decimal]]:
    df = pd.read_csv(maven / "sales_pipeline.csv")
    grouped = df.groupby(["deal_stage", "sales_agent"]).agg(
        deals=("opportunity_id", "count"), amount=("close_value", "sum")
    )
    return {
        (str(stage), str(agent)): (int(row.deals), Decimal(str(row.amount)).quantize(Decimal("0.01")))
        for (stage, agent), row in grouped.iterrows()
    }


def test_pipeline_summary_matches_pandas_on_the_csv(engine: Engine, maven: Path) -> None:
    with session_scope(engine) as s:
        import_maven(s, SYSTEM, maven, MAPPINGS_DIR / "maven")
    expected = _pandas_pipeline(maven)
    with Session(engine) as s:
        rows = pipeline_summary(s, SYSTEM)
    got = {(r.stage, r.owner_name): (r.deals, r.amount) for r in rows}
    assert got == expected
    assert sum(a for _, a in got.values()) == Decimal("10005534.00")


def test_bank_marketing_leads_keep_time_order_and_drop_duration(sqlite_engine: Engine, shared_data: Path) -> None:
    path = shared_data / "leads" / "bank-additional-full.csv"
    with session_scope(sqlite_engine) as s:
        report = import_csv(s, SYSTEM, "leads", path, load_mapping(MAPPINGS_DIR / "bank-marketing" / "leads.yaml"))
    assert report.created == {"leads": 41188}
    df = pd.read_csv(path, sep=";")
    with Session(sqlite_engine) as s:
        assert _count(s, Lead) == 41188
        converted = s.exec(select(func.count()).where(col(Lead.outcome) == "converted")).one()
        assert converted == int((df["y"] == "yes").sum())
        last = s.exec(select(Lead).order_by(col(Lead.id).desc())).first()
        assert last is not None and last.external_id == "41188"
        expected = df.iloc[-1]
        assert last.attributes["age"] == int(expected["age"]) and last.attributes["job"] == expected["job"]
        assert last.attributes["euribor3m"] == pytest.approx(float(expected["euribor3m"]))
        assert "duration" not in last.attributes and "y" not in last.attributes
        assert len(last.attributes) == len(df.columns) - 2


def test_maven_dry_run_checks_all_three_files_and_keeps_nothing(sqlite_engine: Engine, maven: Path) -> None:
    with session_scope(sqlite_engine) as s:
        reports = import_maven(s, SYSTEM, maven, MAPPINGS_DIR / "maven", dry_run=True)
    assert [(r.entity, r.created[r.entity], r.dry_run, r.audit_event_id) for r in reports] == [
        ("accounts", 85, True, None),
        ("users", 35, True, None),
        ("deals", 8800, True, None),
    ]
    with Session(sqlite_engine) as s:
        assert _count(s, Deal) == _count(s, User) == _count(s, Account) == _count(s, AuditEvent) == 0
