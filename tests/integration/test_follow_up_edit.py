"""Through the compiled graph with the offline model: draft, "change the subject to Intro call", send, approve;
the approver is shown the edited draft and the message that goes out has the new subject."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from agent.graph import build_graph
from agent.offline import OfflineChatModel
from store.db import session_scope
from store.models import Approval, AuditEvent, MessageStatus, OutboundMessage
from tests.unit.test_agent_support import seed_team, services_for


def test_draft_then_change_the_subject_then_send_and_approve(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = build_graph(OfflineChatModel(today=date(2026, 11, 23)), checkpointer=InMemorySaver())
    context = Context(actor=team.rep, services=services_for(engine, tmp_path))
    config: Any = {"configurable": {"thread_id": "edit-then-send"}}

    def say(payload: Any) -> dict[str, Any]:
        if isinstance(payload, str):
            payload = {"messages": [HumanMessage(payload)]}
        return graph.invoke(payload, config, context=context)  # type: ignore[no-any-return]

    drafted = say("Draft a follow-up email to Dana Fox to book a demo")
    assert "I'm writing to book a demo." in drafted["messages"][-1].content
    edited = say("change the subject to Intro call")
    assert '"Intro call"' in edited["messages"][-1].content and "__interrupt__" not in edited
    with session_scope(engine) as s:
        message = s.exec(select(OutboundMessage)).one()
        assert (message.subject, message.status) == ("Intro call", MessageStatus.DRAFT)
    asked = say("send it")
    [pending] = asked["__interrupt__"]
    request = pending.value
    assert request["action"] == "send_follow_up" and request["arguments"]["subject"] == "Intro call"
    assert "'Intro call'" in request["summary"] and "I'm writing to book a demo." in request["preview"]
    done = say(Command(resume={"decision": "approve", "decided_by": "mia@example.com"}))
    assert "__interrupt__" not in done and "receipt #" in done["messages"][-1].content
    with session_scope(engine) as s:
        sent = s.exec(select(OutboundMessage)).one()
        assert (sent.subject, sent.status) == ("Intro call", MessageStatus.QUEUED)
        assert s.exec(select(Approval)).one().status == "approved"
        actions = [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]  # type: ignore[arg-type]
    assert actions.index("draft_message") < actions.index("edit_draft") < actions.index("send_message")
