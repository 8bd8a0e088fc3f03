"""The issue's examples through the real graph, offline model and tools, on the Maven CRM import: each is answered
correctly (the figure the store holds, saying what was computed) or answered with a question / a stated limit."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import text
from sqlalchemy.engine import Engine

from agent.context import Context
from agent.graph import build_graph
from agent.offline import OfflineChatModel  # type: ignore[attr-defined]
from agent.offline.format import money, number, percent
from sales.importing import MAPPINGS_DIR, import_maven
from sales.permissions import SYSTEM, actor_for_user
from sales.users import user_by_email
from store.db import session_scope
from store.models import Role, User
from tests.unit.test_agent_support import services_for

pytestmark = pytest.mark.slow
TODAY = date(2017, 12, 31)
ADMIN = "admin@maven-crm.example"


@pytest.fixture(scope="module")
def maven_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    from store.db import make_engine, upgrade

    directory = shared_data / "crm" / "maven"
    if not (directory / "sales_pipeline.csv").is_file():
        pytest.skip(f"the Maven CRM data set is not at {directory}")
    path = tmp_path_factory.mktemp("maven") / "maven.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as s:
        s.add(User(name="Maven Admin", email=ADMIN, role=Role.ADMIN))
        s.flush()
        import_maven(s, SYSTEM, directory, MAPPINGS_DIR / "maven")
    return engine


def _ask(engine: Engine, tmp_path: Path, question: str, as_email: str = ADMIN) -> tuple[str, list[dict[str, Any]]]:
    with session_scope(engine) as s:
        user = user_by_email(s, as_email)
        assert user is not None
        actor = actor_for_user(s, user)
    graph = build_graph(OfflineChatModel(today=TODAY), checkpointer=InMemorySaver())
    context = Context(actor=actor, services=services_for(engine, tmp_path), today_override=TODAY)
    state = graph.invoke({"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": "t"}}, context=context)
    calls = [c for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
    return str(state["messages"][-1].content), calls


def _one(engine: Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def test_revenue_won_by_an_office_in_a_year(maven_store: Engine, tmp_path: Path) -> None:
    answer, calls = _ask(maven_store, tmp_path, "How much revenue did the West office win in 2017?")
    expected = _one(
        maven_store,
        "SELECT sum(d.amount) FROM deals d JOIN users u ON u.id = d.owner_id WHERE d.stage = 'Won' "
        "AND u.region = 'West' AND d.closed_at >= '2017-01-01' AND d.closed_at < '2018-01-01'",
    )
    assert calls[0]["args"]["region"] == "West"
    assert money(float(expected)) in answer and "region West" in answer and "2017" in answer


def test_win_rate_for_a_product(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "What's the win rate for MG Advanced?")
    rate = _one(
        maven_store,
        "SELECT 1.0 * sum(CASE WHEN stage = 'Won' THEN 1 ELSE 0 END) / count(*) FROM deals "
        "WHERE product = 'MG Advanced' AND stage IN ('Won', 'Lost')",
    )
    assert percent(float(rate)) in answer and "product MG Advanced" in answer


def test_the_teams_own_stage_name(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "How many deals are in the Engaging stage?")
    count = _one(maven_store, "SELECT count(*) FROM deals WHERE stage = 'Engaging'")
    # Maven's stages are the workspace's own (mappings/maven/stages.yaml): Engaging is a stage, not a rename
    assert number(int(count)) in answer and "Engaging" in answer and "stored as" not in answer


def test_which_sales_agent_won_the_most(maven_store: Engine, tmp_path: Path) -> None:
    answer, calls = _ask(maven_store, tmp_path, "Which sales agent has won the most revenue?")
    top = _one(
        maven_store,
        "SELECT u.name FROM deals d JOIN users u ON u.id = d.owner_id WHERE d.stage = 'Won' "
        "GROUP BY u.name ORDER BY sum(d.amount) DESC LIMIT 1",
    )
    assert calls[0]["args"]["group_by"] == ["owner"] and top in answer and "the highest" in answer


def test_top_three_accounts_by_won_revenue(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "top 3 accounts by won revenue")
    with maven_store.connect() as connection:
        top = (
            connection.execute(
                text(
                    "SELECT a.name FROM deals d JOIN accounts a ON a.id = d.account_id WHERE d.stage = 'Won' "
                    "GROUP BY a.name ORDER BY sum(d.amount) DESC LIMIT 4"
                )
            )
            .scalars()
            .all()
        )
    assert all(name in answer for name in top[:3]) and top[3] not in answer
    assert "more groups not shown" not in answer


def test_which_regional_office_has_the_best_win_rate(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "Which regional office has the best win rate?")
    best = _one(
        maven_store,
        "SELECT u.region FROM deals d JOIN users u ON u.id = d.owner_id WHERE d.stage IN ('Won', 'Lost') "
        "GROUP BY u.region ORDER BY 1.0 * sum(CASE WHEN d.stage = 'Won' THEN 1 ELSE 0 END) / count(*) DESC LIMIT 1",
    )
    assert f"- {best}:" in answer and "by region" in answer


def test_closed_won_or_lost_in_december(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "How many deals did we close, won or lost, in December?")
    count = _one(
        maven_store,
        "SELECT count(*) FROM deals WHERE stage IN ('Won', 'Lost') "
        "AND closed_at >= '2017-12-01' AND closed_at < '2018-01-01'",
    )
    assert f": {number(int(count))}." in answer and "won or lost" in answer


def test_a_manager_named_as_the_team(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(maven_store, tmp_path, "How much did Dustin Brinkmann's team win?")
    total = _one(
        maven_store,
        "SELECT sum(d.amount) FROM deals d JOIN users u ON u.id = d.owner_id "
        "WHERE d.stage = 'Won' AND u.team = 'Dustin Brinkmann'",
    )
    assert money(float(total)) in answer and "team Dustin Brinkmann" in answer


def test_an_office_the_workspace_does_not_have_is_asked_about(maven_store: Engine, tmp_path: Path) -> None:
    answer, calls = _ask(maven_store, tmp_path, "How much did the Northeast office win in 2017?")
    assert not calls and '"Northeast"' in answer and "Central, East, West" in answer and answer.endswith("?")


def test_a_rep_asking_for_another_agents_pipeline_is_told_the_limit(maven_store: Engine, tmp_path: Path) -> None:
    answer, _ = _ask(
        maven_store, tmp_path, "what's moses frase's pipeline worth", as_email="anna.snelling@maven-crm.example"
    )
    assert answer.startswith("You can see only your own deals") and "Moses Frase" in answer
    assert "$" not in answer


def test_two_questions_in_one_message(maven_store: Engine, tmp_path: Path) -> None:
    answer, calls = _ask(maven_store, tmp_path, "How many deals did we win in 2017 and how many did we lose?")
    won = _one(maven_store, "SELECT count(*) FROM deals WHERE stage = 'Won' AND closed_at >= '2017-01-01'")
    lost = _one(maven_store, "SELECT count(*) FROM deals WHERE stage = 'Lost' AND closed_at >= '2017-01-01'")
    assert [c["args"].get("status") for c in calls] == ["won", "lost"]
    assert number(int(won)) in answer and number(int(lost)) in answer
