"""The workspace vocabulary comes from the store: names, teams, offices, products, accounts, its stage names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from sales.importing import ImportMapping, import_csv
from sales.vocabulary import Vocabulary, load_vocabulary, record_terms
from store.db import session_scope
from store.models import Account, Deal, WorkspaceTerm
from tests.unit.test_agent_support import seed_team


def test_vocabulary_reads_the_workspaces_own_names(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        s.add(Account(name="Konex", industry="retail", region="Central"))
        assert team.rep.user_id is not None
        s.add(Deal(name="K1", owner_id=team.rep.user_id, stage="Qualified", product="GTX Pro"))
        record_terms(s, "stage", {"Engaging": "Qualified"}, "test")
    with session_scope(engine) as s:
        vocabulary = load_vocabulary(s)
    assert {"Rita Rep", "Mia Manager"} <= set(vocabulary.owners)
    assert {"East", "West", "Mia Manager", "Otto Manager"} <= set(vocabulary.teams)  # labels and managers
    assert "Central" in vocabulary.regions and vocabulary.products == ("GTX Pro",)
    assert vocabulary.accounts == ("Konex",) and vocabulary.industries == ("retail",)
    assert vocabulary.stage_terms == {"engaging": "Qualified"}
    assert Vocabulary.from_dict(vocabulary.to_dict()) == vocabulary
    assert "'engaging' means Qualified" in vocabulary.prompt_lines()


def test_an_import_keeps_the_mappings_renamed_stages_as_workspace_terms(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    path = tmp_path / "deals.csv"
    path.write_text("id,owner,stage,name\n1,rita@example.com,Engaging,First\n", encoding="utf-8")
    mapping = ImportMapping(
        entity="deals",
        columns={"external_id": "id", "owner": "owner", "stage": "stage", "name": "name"},
        values={"stage": {"Engaging": "Qualified"}},
    )
    with session_scope(engine) as s:
        report = import_csv(s, team.admin, "deals", path, mapping)
    assert report.summary()["terms"] == {"stage": {"Engaging": "Qualified"}}
    with session_scope(engine) as s:
        terms = [(t.kind, t.term, t.meaning) for t in s.exec(select(WorkspaceTerm)).all()]
        assert terms == [("stage", "Engaging", "Qualified")]
        assert s.exec(select(Deal.stage)).all() == ["Qualified"]


def test_find_records_filters_deals_by_the_period_they_are_expected_to_close(engine: Engine, tmp_path: Path) -> None:
    from datetime import date

    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.records import find_records
    from tools.schemas import FindRecordsArgs

    team = seed_team(engine)
    assert team.rep.user_id is not None
    with session_scope(engine) as s:
        for name, day in (("Late", date(2026, 12, 28)), ("Soon", date(2026, 12, 3)), ("Next", date(2027, 1, 5))):
            s.add(Deal(name=name, owner_id=team.rep.user_id, stage="Proposal", expected_close_date=day))
    context = Context(actor=team.rep, services=services_for(engine, tmp_path), today_override=date(2026, 12, 7))
    found = find_records(context, FindRecordsArgs(entity="deal", owner="me", status="open", closing="this month"))
    assert [r.name for r in found.records] == ["Soon", "Late"]  # soonest first; January's deal is not this month
