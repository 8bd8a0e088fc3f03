"""Deal stages per workspace, in the store (SQLite and PostgreSQL): the configuration in force, its receipt, moves
it allows or refuses, refusing to orphan deals, and a Maven workspace whose analytics and questions use Maven's own
stage names. With nothing configured, everything is the built-in pipeline."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from sales.deals import DealInput, create_deal, list_stalled_deals, move_deal_to_stage
from sales.errors import InvalidInput, PermissionDenied, TransitionNotAllowed
from sales.importing import MAPPINGS_DIR, import_maven
from sales.permissions import SYSTEM
from sales.stages import (
    DEFAULT_MACHINE,
    StageMachine,
    load_stage_file,
    machine_to_config,
    set_stage_configuration,
    stage_configuration,
    workspace_machine,
)
from sales.vocabulary import load_vocabulary
from store.db import session_scope
from store.models import AuditEvent, Deal, StageChange, StageConfiguration
from tests.unit.test_agent_support import Team, seed_team

MAVEN_STAGES = ("Prospecting", "Engaging", "Won", "Lost")
SKIPPING = StageMachine(
    open_stages=("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation"),
    stall_limit_days=dict(DEFAULT_MACHINE.stall_limit_days),
    probabilities=dict(DEFAULT_MACHINE.probabilities),
    allow_skip=True,
    max_skip=1,
)


def _maven_machine() -> StageMachine:
    return load_stage_file(MAPPINGS_DIR / "maven" / "stages.yaml")[0]


def test_nothing_configured_is_the_built_in_pipeline(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert workspace_machine(s) is DEFAULT_MACHINE
        info = stage_configuration(s)
        assert not info.configured and info.machine == DEFAULT_MACHINE
        assert load_vocabulary(s).stages == DEFAULT_MACHINE.stages


def test_setting_the_stages_is_audited_and_in_force(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        result = set_stage_configuration(
            s, team.admin, _maven_machine(), description="Maven", source="mappings/maven/stages.yaml"
        )
    assert result.changed and result.receipt_id is not None
    with Session(engine) as s:
        event = s.get(AuditEvent, result.receipt_id)
        assert event is not None and event.action == "set_stages" and event.record_type == "stage_configuration"
        assert event.actor == "ada@example.com"
        assert [st["name"] for st in (event.before or {})["stages"]] == list(DEFAULT_MACHINE.stages)
        assert [st["name"] for st in (event.after or {})["stages"]] == list(MAVEN_STAGES)
        assert (event.after or {})["source"] == "mappings/maven/stages.yaml"
        row = s.exec(select(StageConfiguration)).one()
        assert row.receipt_id == event.id and row.set_by_id == team.admin.user_id
        assert workspace_machine(s).stages == MAVEN_STAGES
        info = stage_configuration(s)
        assert info.configured and info.set_by == "ada@example.com" and info.description == "Maven"
    with session_scope(engine) as s:  # the same stages again: nothing written
        again = set_stage_configuration(s, team.admin, _maven_machine(), source="again")
    assert not again.changed and again.receipt_id is None
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(StageConfiguration)).one() == 1
        assert s.exec(select(func.count()).where(col(AuditEvent.action) == "set_stages")).one() == 1


def test_only_admins_set_the_stages(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s, pytest.raises(PermissionDenied, match="only admins change the deal stages"):
        set_stage_configuration(s, team.manager, _maven_machine())


def test_a_change_written_elsewhere_is_seen_on_the_next_call(engine: Engine) -> None:
    with session_scope(engine) as s:
        set_stage_configuration(s, SYSTEM, _maven_machine())
    with session_scope(engine, read_only=True) as s:
        assert workspace_machine(s).stages == MAVEN_STAGES  # now cached for this engine
    with session_scope(engine) as s:  # another process: a row written without this process's cache
        s.add(StageConfiguration(config=machine_to_config(SKIPPING)))
    with session_scope(engine, read_only=True) as s:
        assert workspace_machine(s) == SKIPPING


def test_a_configuration_that_would_orphan_deals_is_refused_naming_them(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        create_deal(s, team.rep, DealInput(name="Acme renewal", stage="Discovery"))
        create_deal(s, team.rep, DealInput(name="Initech pilot", stage="Prospecting"))
    with session_scope(engine) as s, pytest.raises(InvalidInput) as refused:
        set_stage_configuration(s, team.admin, _maven_machine())
    message = refused.value.problems["stages"]
    assert "leave out Discovery, where 1 deal still sits: #1 Acme renewal" in message
    assert "Initech" not in message  # Prospecting is kept
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(StageConfiguration)).one() == 0
        assert workspace_machine(s) is DEFAULT_MACHINE


def test_skipping_forward_where_the_configuration_allows_it(engine: Engine) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        first = create_deal(s, team.rep, DealInput(name="Skipper", stage="Qualified", amount=1000)).deal.id
        second = create_deal(s, team.rep, DealInput(name="Too far", stage="Qualified")).deal.id
    assert first is not None and second is not None
    with session_scope(engine) as s, pytest.raises(TransitionNotAllowed) as refused:
        move_deal_to_stage(s, team.rep, first, "Proposal")  # the built-in pipeline: one stage at a time
    assert "it can move to Prospecting, Discovery, Lost, not Proposal" in str(refused.value)
    assert "one stage at a time" in str(refused.value)
    with session_scope(engine) as s:
        set_stage_configuration(s, team.admin, SKIPPING)
    with session_scope(engine) as s:
        moved = move_deal_to_stage(s, team.rep, first, "Proposal")
        assert (moved.from_stage, moved.to_stage) == ("Qualified", "Proposal")
        won = move_deal_to_stage(s, team.rep, first, "Won")  # over Negotiation: one stage skipped
        assert won.deal.probability == 1.0
    with session_scope(engine) as s, pytest.raises(TransitionNotAllowed) as refused:
        move_deal_to_stage(s, team.rep, second, "Negotiation")
    assert refused.value.allowed == ["Prospecting", "Discovery", "Proposal", "Lost"]
    assert "can move to Prospecting, Discovery, Proposal, Lost" in str(refused.value)
    assert "skip at most 1 stage" in str(refused.value)
    with Session(engine) as s:
        path = s.exec(select(StageChange.to_stage).where(StageChange.deal_id == first).order_by(col(StageChange.id)))
        assert list(path) == ["Qualified", "Proposal", "Won"]


def test_a_new_deal_starts_in_the_workspaces_first_stage(engine: Engine) -> None:
    team: Team = seed_team(engine)
    with session_scope(engine) as s:
        set_stage_configuration(s, team.admin, _maven_machine())
    with session_scope(engine) as s:
        assert create_deal(s, team.rep, DealInput(name="New one")).deal.stage == "Prospecting"
        assert create_deal(s, team.rep, DealInput(name="Engaged", stage="engaging")).deal.stage == "Engaging"
        with pytest.raises(InvalidInput, match="Prospecting, Engaging"):
            create_deal(s, team.rep, DealInput(name="Old name", stage="Discovery"))


def test_the_demo_company_goes_only_into_the_built_in_pipeline(engine: Engine) -> None:
    from sales.demo import WorkspaceNotEmpty, seed_demo

    with session_scope(engine) as s:
        set_stage_configuration(s, SYSTEM, _maven_machine())
    with session_scope(engine) as s, pytest.raises(WorkspaceNotEmpty, match="its own deal stages"):
        seed_demo(s)


@pytest.mark.slow
def test_a_maven_workspace_answers_in_its_own_stages(engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    from agent.context import Context
    from analytics.bottlenecks import bottleneck_analysis
    from analytics.forecast import forecast_by_currency
    from tests.unit.test_agent_support import services_for
    from tools.analysis import pipeline_question
    from tools.schemas import PipelineQuestionArgs

    today = date(2017, 12, 31)
    with session_scope(engine) as s:
        import_maven(s, SYSTEM, shared_data / "crm" / "maven", MAPPINGS_DIR / "maven")
    with Session(engine) as s:
        engaging = s.exec(select(func.count()).where(col(Deal.stage) == "Engaging")).one()
        assert engaging == 1589
        assert load_vocabulary(s).stages == MAVEN_STAGES and not load_vocabulary(s).stage_terms
        stalled = list_stalled_deals(s, SYSTEM)
        assert stalled and {d.stage for d in stalled} <= {"Prospecting", "Engaging"}
        assert {d.limit_days for d in stalled if d.stage == "Engaging"} == {60}

    with session_scope(engine, read_only=True) as s:
        report = bottleneck_analysis(s, SYSTEM)
    assert report.stage_order == list(MAVEN_STAGES)
    assert {m.stage for m in report.stage_metrics} >= {"Prospecting", "Engaging"}
    assert any("Engaging" in f.title for f in report.findings)

    with session_scope(engine, read_only=True) as s:
        (forecast,) = forecast_by_currency(s, SYSTEM, "next quarter", today=today, simulations=200)
    # Engaging deals are open deals of this pipeline (under the built-in one they would be in no stage at all)
    assert forecast.total.open_deals >= engaging and forecast.total.stage_weighted > 0

    context = Context(actor=SYSTEM, services=services_for(engine, tmp_path), today_override=today)
    answer = pipeline_question(context, PipelineQuestionArgs(metric="count", stage="Engaging"))
    assert answer.total.value == engaging and answer.filters["stage"] == "Engaging"
    assert "stored as" not in answer.computed
    by_stage = pipeline_question(context, PipelineQuestionArgs(metric="count", group_by=["stage"], status="open"))
    assert {row.group["stage"]: row.value for row in by_stage.rows} == {"Prospecting": 500, "Engaging": engaging}


def test_stages_set_and_show_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import bots.common
    from app.settings import get_settings
    from bots.cli import app

    monkeypatch.setenv("SALESGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_USER", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    runner = CliRunner()
    try:
        added = runner.invoke(app, ["users", "add", "--name", "Ada", "--email", "ada@x.example", "--role", "admin"])
        assert added.exit_code == 0, added.output
        assert runner.invoke(app, ["users", "add", "--name", "Rita", "--email", "rita@x.example"]).exit_code == 0
        shown = runner.invoke(app, ["stages", "show", "--json"])
        assert shown.exit_code == 0 and json.loads(shown.stdout)["configured"] is False

        bad = tmp_path / "bad.yaml"
        bad.write_text("stages:\n  - Prospecting\n  - prospecting\n  - {name: Won, kind: won}\n", encoding="utf-8")
        refused = runner.invoke(app, ["stages", "set", str(bad)])
        assert refused.exit_code == 1
        assert "nothing changed" in refused.output and "listed twice" in refused.output
        assert "exactly one stage must have kind: lost" in refused.output

        maven = str(MAPPINGS_DIR / "maven" / "stages.yaml")
        by_rep = runner.invoke(app, ["stages", "set", maven, "--as", "rita@x.example"])
        assert by_rep.exit_code == 1 and "only admins change the deal stages" in by_rep.output
        dry = runner.invoke(app, ["stages", "set", maven, "--dry-run"])
        assert dry.exit_code == 0 and "nothing changed" in dry.output
        done = runner.invoke(app, ["stages", "set", maven])
        assert done.exit_code == 0 and "Prospecting → Engaging → Won / Lost; receipt" in done.output

        shown = json.loads(runner.invoke(app, ["stages", "show", "--json"]).stdout)
        assert shown["configured"] and shown["set_by"] == "ada@x.example" and shown["source"] == maven
        assert [st["name"] for st in shown["stages"]] == list(MAVEN_STAGES)
        assert shown["stages"][1]["moves_to"] == ["Prospecting", "Won", "Lost"]
        with Session(bots.common.services().engine) as s:
            event = s.get(AuditEvent, shown["receipt_id"])
            assert event is not None and event.action == "set_stages" and event.actor == "ada@x.example"
        as_yaml = runner.invoke(app, ["stages", "show", "--yaml"]).stdout
        saved = tmp_path / "saved.yaml"
        saved.write_text(as_yaml, encoding="utf-8")
        assert load_stage_file(saved)[0] == _maven_machine()
    finally:
        if bots.common._services is not None:
            bots.common._services.engine.dispose()
        get_settings.cache_clear()
