"""The LangGraph-server front door (langgraph.json → bots/langgraph_server.py): a run acts as its authenticated
user, an approval interrupt surfaces through the outer graph in Agent Inbox's shape, another user's HumanResponse
resumes it, and the action is carried out as the person who asked; checked in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import select

from bots.langgraph_server import build_server_graph
from store.db import session_scope
from store.models import Approval, ApprovalStatus, AuditEvent, Deal
from tests.unit.test_agent_graph import QUALIFY_SCRIPT, ScriptedChatModel, _say
from tests.unit.test_agent_support import seed_team, services_for

ROOT = Path(__file__).resolve().parents[2]


def _run(graph: Any, payload: Any, user: str | None, thread: str = "lg-1") -> Any:
    configurable: dict[str, Any] = {"thread_id": thread}
    if user is not None:
        configurable["langgraph_auth_user_id"] = user
    return graph.invoke(payload, {"configurable": configurable})


def _server_graph(engine: Engine, tmp_path: Path) -> Any:
    return build_server_graph(
        services_for(engine, tmp_path), ScriptedChatModel(steps=list(QUALIFY_SCRIPT)), checkpointer=InMemorySaver()
    )


def test_langgraph_json_names_the_server_graph_and_auth() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["graphs"] == {"salesgraph": "./bots/langgraph_server.py:graph"}
    assert config["auth"] == {"path": "./bots/langgraph_server.py:auth"}
    assert config["dependencies"] == ["."]


def test_a_run_acts_as_its_user_and_agent_inbox_resumes_it_as_the_asker(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _server_graph(engine, tmp_path)
    out = _run(graph, _say("qualify Dana Fox at 25k"), "rita@example.com")
    [interrupt] = out["__interrupt__"]
    assert interrupt.value["action_request"]["action"] == "qualify_lead"
    with session_scope(engine) as s:
        approval = s.exec(select(Approval)).one()
        assert approval.status == ApprovalStatus.PENDING and approval.thread_id == "lg-1"
        assert approval.requested_by_id == team.rep.user_id

    # The rep cannot answer their own request from Agent Inbox either.
    out = _run(graph, Command(resume=[{"type": "accept"}]), "rita@example.com")
    assert "may not decide" in out["__interrupt__"][0].value["refusal"]

    # The manager answers from Agent Inbox: decided by them, carried out as the rep who asked.
    out = _run(graph, Command(resume=[{"type": "accept", "args": None}]), "mia@example.com")
    assert "__interrupt__" not in out
    with session_scope(engine) as s:
        approval = s.exec(select(Approval)).one()
        assert approval.status == ApprovalStatus.APPROVED and approval.executed_at is not None
        assert approval.decided_by_id == team.manager.user_id
        deal = s.exec(select(Deal)).one()
        assert float(deal.amount or 0) == 25000
        qualified = s.exec(select(AuditEvent).where(AuditEvent.action == "qualify_lead")).one()
        assert qualified.actor_id == team.rep.user_id


def test_anonymous_runs_and_writing_in_someone_elses_thread_are_refused(engine: Engine, tmp_path: Path) -> None:
    from sales.errors import PermissionDenied

    seed_team(engine)
    graph = _server_graph(engine, tmp_path)
    with pytest.raises(PermissionDenied, match="no authenticated user"):
        _run(graph, _say("qualify Dana Fox at 25k"), None, thread="anon")
    _run(graph, _say("qualify Dana Fox at 25k"), "rita@example.com", thread="mine")
    _run(graph, Command(resume=[{"type": "ignore"}]), "mia@example.com", thread="mine")  # Mia ignores it: rejected
    with pytest.raises(PermissionDenied, match=r"is rita@example\.com's"):
        _run(graph, _say("qualify Dana Fox at 99k"), "mia@example.com", thread="mine")
    with session_scope(engine) as s:
        assert s.exec(select(Deal)).all() == []
        assert s.exec(select(Approval)).one().status == ApprovalStatus.REJECTED
