"""Sending through a real SMTP server on loopback (aiosmtpd): the approved, edited message arrives exactly once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from agent.graph import build_graph
from sales.permissions import Actor
from store.db import session_scope
from store.models import AuditEvent, OutboundMessage
from tests.unit.test_agent_support import (
    ScriptedChatModel,
    answer_with_receipt,
    call,
    last_result,
    seed_team,
    services_for,
)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


SCRIPT = [
    lambda m: call("draft_follow_up", lead_name="Dana Fox", purpose="Send the proposal"),
    lambda m: call("send_follow_up", message_id=last_result(m)["message_id"]),
    answer_with_receipt,
]


def _graph_run(engine: Engine, home: Path, port: int, actor: Actor, payload: Any, graph: Any) -> dict[str, Any]:
    services = services_for(engine, home, send_channel="smtp", smtp_port=port, smtp_from="rita@example.com")
    context = Context(actor=actor, services=services)
    return graph.invoke(payload, {"configurable": {"thread_id": "smtp"}}, context=context)  # type: ignore[no-any-return]


def test_edited_follow_up_arrives_through_smtp_once(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    team = seed_team(sqlite_engine)
    graph = build_graph(ScriptedChatModel(steps=SCRIPT), checkpointer=InMemorySaver())
    out = _graph_run(
        sqlite_engine, tmp_path, port, team.rep, {"messages": [HumanMessage("send Dana the proposal")]}, graph
    )
    assert out["__interrupt__"] and inbox.messages == []
    edited = "Hi Dana,\n\nThe proposal is attached; edited by Mia before it went out.\n\nRita\n"
    decision = {
        "decision": "edit",
        "decided_by": "mia@example.com",
        "arguments": {"body": edited, "subject": "Your proposal"},
    }
    out = _graph_run(sqlite_engine, tmp_path, port, team.rep, Command(resume=decision), graph)
    assert len(inbox.messages) == 1
    sender, recipients, message = inbox.messages[0]
    assert sender == "rita@example.com" and recipients == ["dana@acme.example"]
    assert message["Subject"] == "Your proposal"
    assert message.get_payload(decode=True).decode().replace("\r\n", "\n") == edited  # type: ignore[union-attr]
    answer = out["messages"][-1].content
    with session_scope(sqlite_engine) as s:
        stored = s.exec(select(OutboundMessage)).one()
        assert stored.status == "sent" and stored.provider_message_id == message["Message-ID"]
        event = s.get(AuditEvent, int(answer.split("receipt #")[1].rstrip(".")))
        assert event is not None and event.action == "send_message"
    # Resuming again (a replayed node) does not deliver a second time.
    from sales.outbound import DeliveryConfig, SmtpConfig, send_message

    repeat = send_message(
        sqlite_engine, team.rep, stored.id or 0, DeliveryConfig("smtp", SmtpConfig("127.0.0.1", port, "x@y.z"))
    )
    assert repeat.repeated and len(inbox.messages) == 1


def test_unreachable_smtp_server_is_reported_as_failed_not_sent(sqlite_engine: Engine, tmp_path: Path) -> None:
    team = seed_team(sqlite_engine)
    graph = build_graph(ScriptedChatModel(steps=SCRIPT), checkpointer=InMemorySaver())
    port = _free_port()  # nothing listens here
    _graph_run(sqlite_engine, tmp_path, port, team.rep, {"messages": [HumanMessage("send it")]}, graph)
    out = _graph_run(
        sqlite_engine,
        tmp_path,
        port,
        team.rep,
        Command(resume={"decision": "approve", "decided_by": "mia@example.com"}),
        graph,
    )
    result = last_result(out["messages"])
    assert result["status"] == "failed" and result["delivered"] is False and "delivery failed" in result["note"]
    with session_scope(sqlite_engine) as s:
        stored = s.exec(select(OutboundMessage)).one()
        assert stored.status == "failed" and stored.error and stored.sent_at is None
