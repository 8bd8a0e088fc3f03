"""Must show: expected numbers come from the store, so a case still passes after the store changes.

The same pipeline cases run on the demo store, then on that store after new deals are won and open deals move,
and finally (with ``--db``) on a store holding the Maven CRM import; the numbers they expect change each time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import col, select

from evals.cases import CASES_DIR, load_cases
from evals.expectations import Filler
from evals.runner import run_cases
from evals.workspace import existing_workspace, seed_demo_workspace
from store.db import make_engine, session_scope
from store.models import Deal, User

CASE_IDS = [
    "pq-won-team-last-quarter",
    "pq-count-won-last-quarter",
    "pq-open-pipeline-total",
    "pq-count-open",
    "pq-win-rate-this-year",
    "pq-admin-won-emea-last-quarter",
]
REAL = Path(__file__).resolve().parents[2] / "evals" / "real"


def _expected(url: str, today: date, case_ids: list[str]) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        out = {}
        for case in load_cases([CASES_DIR], only=case_ids):
            filler = Filler(engine, today)
            filler.speaker_email = filler.text(case.as_)
            out[case.id] = [filler.text(n) for n in case.turns[0].expect.answer_contains]
        return out
    finally:
        engine.dispose()


def _change_the_store(url: str, today: date) -> None:
    """Win two new deals last quarter in Maria's team, and win every open Negotiation deal this quarter."""
    engine = make_engine(url)
    closed_last_quarter = datetime(today.year, 8, 14, 15, tzinfo=UTC)
    with session_scope(engine) as s:
        rep = s.exec(select(User).where(User.email == "sam.rivera@demo.example")).one()
        emea_rep = s.exec(select(User).where(User.email == "sophie.dubois@demo.example")).one()
        for owner, amount in ((rep, "123457"), (emea_rep, "98765")):
            assert owner.id is not None
            s.add(Deal(name=f"Late entry {amount}", owner_id=owner.id, stage="Won", amount=Decimal(amount),
                       created_at=closed_last_quarter - timedelta(days=40), closed_at=closed_last_quarter))  # fmt: skip
        for deal in s.exec(select(Deal).where(col(Deal.stage) == "Negotiation")).all():
            deal.stage, deal.closed_at = "Won", datetime.combine(today, datetime.min.time(), UTC) - timedelta(hours=3)
            s.add(deal)
    engine.dispose()


def test_store_derived_cases_still_pass_after_the_store_changes(tmp_path: Path) -> None:
    workspace = seed_demo_workspace(root=tmp_path / "run")
    try:
        cases = load_cases([CASES_DIR], only=CASE_IDS)
        before = run_cases(cases, workspace)
        assert [r.id for r in before.results if not r.passed] == [], [r.reasons for r in before.results]
        expected_before = _expected(workspace.source_url, workspace.today, CASE_IDS)

        _change_the_store(workspace.source_url, workspace.today)
        expected_after = _expected(workspace.source_url, workspace.today, CASE_IDS)
        after = run_cases(cases, workspace)
        assert [r.id for r in after.results if not r.passed] == [], [r.reasons for r in after.results]
    finally:
        workspace.close()
    changed = [cid for cid in CASE_IDS if expected_before[cid] != expected_after[cid]]
    assert len(changed) >= 5, (expected_before, expected_after)  # the numbers really moved; none is hard-coded


@pytest.mark.slow
def test_the_same_kind_of_cases_pass_on_the_maven_import(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bots.cli import app
    from sales.importing import MAPPINGS_DIR, import_maven
    from sales.permissions import SYSTEM
    from store.db import ensure_schema
    from store.models import Role

    url = f"sqlite:///{tmp_path / 'maven.db'}"
    engine = make_engine(url)
    ensure_schema(engine, auto_upgrade=True)
    with session_scope(engine) as s:
        import_maven(s, SYSTEM, shared_data / "crm" / "maven", MAPPINGS_DIR / "maven")
        s.add(User(name="Maven Admin", email="admin@maven-crm.example", role=Role.ADMIN))
    engine.dispose()
    source = (tmp_path / "maven.db").read_bytes()

    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(REAL / "maven.yaml"),
            "--db",
            url,
            "--today",
            "2017-12-31",
            "--no-index",
            "--json",
            str(tmp_path / "maven.json"),
        ],
        env={"SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    import json

    report = json.loads((tmp_path / "maven.json").read_text())
    assert report["scorecard"]["passed"] == report["scorecard"]["cases"] == 5, result.output
    assert (tmp_path / "maven.db").read_bytes() == source  # --db runs on a copy; the given store is untouched
    workspace = existing_workspace(url, today=date(2017, 12, 31), root=tmp_path / "check")
    try:
        filler = Filler(make_engine(workspace.source_url), workspace.today)
        assert filler.text("{{ sql: SELECT count(*) FROM deals }}") == "8,800"
    finally:
        workspace.close()
