"""The compiled graph with a scripted model and an in-memory checkpointer: approve, edit, reject, refusals, expiry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from agent.graph import build_graph
from sales.permissions import Actor
from store.db import session_scope
from store.models import Approval, AuditEvent, Deal, Lead, MessageStatus, OutboundMessage
from store.types import utcnow
from tests.unit.test_agent_support import (
    ScriptedChatModel,
    answer_with_receipt,
    call,
    last_result,
    seed_team,
    services_for,
)

REPO = Path(__file__).resolve().parents[2]


def _graph(steps: list[Any]) -> Any:
    return build_graph(ScriptedChatModel(steps=steps), checkpointer=InMemorySaver())


def _run(graph: Any, engine: Engine, tmp_path: Path, actor: Actor, payload: Any, thread: str = "t1") -> dict[str, Any]:
    context = Context(actor=actor, services=services_for(engine, tmp_path))
    return graph.invoke(payload, {"configurable": {"thread_id": thread}}, context=context)  # type: ignore[no-any-return]


def _say(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


SEND_SCRIPT = [
    lambda m: call("draft_follow_up", lead_name="Dana Fox", purpose="book a demo"),
    lambda m: call("send_follow_up", message_id=last_result(m)["message_id"]),
    answer_with_receipt,
]


def _message(engine: Engine) -> OutboundMessage:
    with session_scope(engine) as s:
        message = s.exec(select(OutboundMessage)).one()
        return message


def _receipt_in(answer: str) -> int:
    return int(answer.split("receipt #")[1].rstrip("."))


def test_send_interrupts_and_resumes_on_approval_citing_a_real_receipt(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(SEND_SCRIPT)
    out = _run(graph, engine, tmp_path, team.rep, _say("draft a follow-up to Dana and send it"))
    [pending] = out["__interrupt__"]
    request = pending.value
    assert request["type"] == "approval_request" and request["action"] == "send_follow_up"
    assert request["approvers"] == ["mia@example.com", "rita@example.com"]
    assert "book a demo" in request["preview"] and request["thread_id"] == "t1"
    assert _message(engine).status == MessageStatus.PENDING_APPROVAL
    out = _run(
        graph, engine, tmp_path, team.rep, Command(resume={"decision": "approve", "decided_by": "mia@example.com"})
    )
    answer = out["messages"][-1].content
    assert "__interrupt__" not in out and "receipt #" in answer
    message = _message(engine)
    assert message.status == MessageStatus.QUEUED and message.channel == "outbox"
    with session_scope(engine) as s:
        event = s.get(AuditEvent, _receipt_in(answer))
        assert event is not None and event.action == "send_message" and event.record_id == str(message.id)
    result = json.loads(out["messages"][-2].content)
    assert (
        result["delivered"] is False
        and "NOT delivered" in result["note"]
        and result["approved_by"] == "mia@example.com"
    )


def test_edit_decision_sends_the_edited_body(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(SEND_SCRIPT)
    _run(graph, engine, tmp_path, team.rep, _say("send Dana a follow-up"))
    edited = "Hi Dana,\n\nEdited by Rita before sending.\n"
    out = _run(
        graph,
        engine,
        tmp_path,
        team.rep,
        Command(resume={"decision": "edit", "decided_by": "rita@example.com", "arguments": {"body": edited}}),
    )
    assert "receipt #" in out["messages"][-1].content
    message = _message(engine)
    assert message.body == edited and message.status == MessageStatus.QUEUED
    assert json.loads(out["messages"][-2].content)["edited"] is True


def test_reject_returns_the_reason_to_the_model_and_sends_nothing(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(SEND_SCRIPT)
    _run(graph, engine, tmp_path, team.rep, _say("send Dana a follow-up"))
    out = _run(
        graph,
        engine,
        tmp_path,
        team.rep,
        Command(resume={"decision": "reject", "decided_by": "mia@example.com", "reason": "wait for pricing"}),
    )
    tool_message = out["messages"][-2]
    assert isinstance(tool_message, ToolMessage) and tool_message.status == "error"
    assert "rejected by mia@example.com: wait for pricing" in str(tool_message.content)
    assert "wait for pricing" in out["messages"][-1].content
    assert _message(engine).status == MessageStatus.REJECTED
    with session_scope(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "send_message")).first() is None


QUALIFY_SCRIPT = [call("qualify_lead", lead_name="Dana Fox", amount=25000), answer_with_receipt]


def test_rep_cannot_approve_own_qualification_and_the_request_stays_pending(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(QUALIFY_SCRIPT)
    out = _run(graph, engine, tmp_path, team.rep, _say("qualify Dana, 25k"))
    assert out["__interrupt__"][0].value["approvers"] == ["mia@example.com"]
    out = _run(
        graph, engine, tmp_path, team.rep, Command(resume={"decision": "approve", "decided_by": "rita@example.com"})
    )
    [again] = out["__interrupt__"]
    assert "may not decide" in again.value["refusal"]
    out = _run(
        graph, engine, tmp_path, team.rep, Command(resume={"decision": "approve", "decided_by": "olga@example.com"})
    )
    assert "may not decide" in out["__interrupt__"][0].value["refusal"]
    with session_scope(engine) as s:
        approval = s.exec(select(Approval)).one()
        assert approval.status == "pending"
        assert s.exec(select(Deal)).first() is None
    out = _run(
        graph, engine, tmp_path, team.rep, Command(resume={"decision": "approve", "decided_by": "mia@example.com"})
    )
    answer = out["messages"][-1].content
    with session_scope(engine) as s:
        deal = s.exec(select(Deal)).one()
        assert deal.stage == "Qualified" and float(deal.amount or 0) == 25000 and deal.lead_id == team.lead_id
        lead = s.get(Lead, team.lead_id)
        assert lead is not None and lead.status == "qualified"
        event = s.get(AuditEvent, _receipt_in(answer))
        assert event is not None and event.action == "qualify_lead" and event.record_id == str(team.lead_id)


def test_an_expired_request_is_never_executed(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(QUALIFY_SCRIPT)
    _run(graph, engine, tmp_path, team.rep, _say("qualify Dana"))
    with session_scope(engine) as s:
        approval = s.exec(select(Approval)).one()
        approval.expires_at = utcnow() - timedelta(minutes=1)
        s.add(approval)
    out = _run(
        graph, engine, tmp_path, team.rep, Command(resume={"decision": "approve", "decided_by": "mia@example.com"})
    )
    tool_message = out["messages"][-2]
    assert tool_message.status == "error" and "expired" in str(tool_message.content)
    with session_scope(engine) as s:
        assert s.exec(select(Approval)).one().status == "expired"
        assert s.exec(select(Deal)).first() is None
        lead = s.get(Lead, team.lead_id)
        assert lead is not None and lead.status == "new"


def test_tools_act_only_as_the_context_actor(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    with session_scope(engine) as s:
        foreign = Lead(name="Zed West", company="Westco", owner_id=team.other_rep.user_id)
        s.add(foreign)
        s.flush()
        foreign_id = foreign.id
    script = [
        # The model "claims" to be someone else: extra arguments are refused, and ids it should not see are refused.
        call("create_lead", name="Eve", owner_email="olga@example.com"),
        call("qualify_lead", lead_id=foreign_id),
        answer_with_receipt,
    ]
    graph = _graph(script)
    out = _run(graph, engine, tmp_path, team.rep, _say("do things"))
    errors = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in errors] == ["error", "error"]
    assert "invalid arguments" in str(errors[0].content) and "owner_email" in str(errors[0].content)
    assert "not allowed" in str(errors[1].content)
    assert "__interrupt__" not in out
    with session_scope(engine) as s:
        assert s.exec(select(Approval)).first() is None
        assert len(s.exec(select(Lead)).all()) == 2


def test_mermaid_snapshot_matches_the_compiled_graph() -> None:
    drawn = build_graph(ScriptedChatModel(steps=[])).get_graph().draw_mermaid()
    snapshot = (REPO / "agent" / "graph.mmd").read_text(encoding="utf-8")
    assert drawn == snapshot, "the graph changed: regenerate agent/graph.mmd (python -m agent.graph > agent/graph.mmd)"
    for node in ("agent", "tools", "approval"):
        assert node in drawn


def test_a_waiting_conversation_takes_no_new_messages(sqlite_engine: Engine, tmp_path: Path) -> None:
    from agent.turns import ConversationWaiting, run_turn

    team = seed_team(sqlite_engine)
    graph = _graph(QUALIFY_SCRIPT)
    context = Context(actor=team.rep, services=services_for(sqlite_engine, tmp_path))
    first = run_turn(graph, context, "w1", text="qualify Dana")
    assert first.interrupts and first.tool_calls[0].name == "qualify_lead"
    with pytest.raises(ConversationWaiting, match="waiting for approval #"):
        run_turn(graph, context, "w1", text="and another thing")
