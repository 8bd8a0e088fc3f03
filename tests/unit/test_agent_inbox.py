"""Agent Inbox compatibility: approval interrupts carry the HumanInterrupt shape and a thread resumes with each
HumanResponse type (accept, edit, response, ignore), decided as the run's authenticated user; checked in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from store.db import session_scope
from store.models import Approval, ApprovalStatus, Deal, MessageStatus
from tests.unit.test_agent_graph import QUALIFY_SCRIPT, SEND_SCRIPT, _graph, _message, _say
from tests.unit.test_agent_support import seed_team, services_for


def _invoke(graph: Any, engine: Engine, tmp_path: Path, actor: Any, payload: Any, user: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": "inbox"}
    if user is not None:
        configurable["langgraph_auth_user_id"] = user
    context = Context(actor=actor, services=services_for(engine, tmp_path))
    return graph.invoke(payload, {"configurable": configurable}, context=context)


def _approval(engine: Engine) -> Approval:
    with session_scope(engine) as s:
        return s.exec(select(Approval)).one()


def test_interrupt_carries_the_human_interrupt_shape_and_accept_applies(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(QUALIFY_SCRIPT)
    out = _invoke(graph, engine, tmp_path, team.rep, _say("qualify Dana Fox at 25k"))
    request = out["__interrupt__"][0].value
    assert request["action_request"]["action"] == "qualify_lead"
    assert request["action_request"]["args"]["amount"] == 25000
    assert request["config"] == {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True}
    assert "qualify lead" in request["description"] and request["type"] == "approval_request"

    # No authenticated user: the answer is refused and the request stays pending.
    out = _invoke(graph, engine, tmp_path, team.rep, Command(resume=[{"type": "accept", "args": None}]))
    assert "names nobody" in out["__interrupt__"][0].value["refusal"]
    assert _approval(engine).status == ApprovalStatus.PENDING
    # The rep who asked may not decide it, even from Agent Inbox.
    out = _invoke(graph, engine, tmp_path, team.rep, Command(resume=[{"type": "accept"}]), user="rita@example.com")
    assert "may not decide" in out["__interrupt__"][0].value["refusal"]

    out = _invoke(graph, engine, tmp_path, team.rep, Command(resume=[{"type": "accept"}]), user="mia@example.com")
    assert "__interrupt__" not in out
    approval = _approval(engine)
    assert approval.status == ApprovalStatus.APPROVED and approval.executed_at is not None
    with session_scope(engine) as s:
        deal = s.exec(select(Deal)).one()
        assert float(deal.amount or 0) == 25000


def test_edit_response_sends_the_edited_text(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    graph = _graph(SEND_SCRIPT)
    out = _invoke(graph, engine, tmp_path, team.rep, _say("send Dana a follow-up"))
    args = dict(out["__interrupt__"][0].value["action_request"]["args"])
    args["body"] = "Hi Dana,\n\nEdited in Agent Inbox.\n"
    edit = {"type": "edit", "args": {"action": "send_follow_up", "args": args}}
    _invoke(graph, engine, tmp_path, team.rep, Command(resume=[edit]), user="mia@example.com")
    message = _message(engine)
    assert message.body == args["body"] and message.status == MessageStatus.QUEUED
    approval = _approval(engine)
    assert approval.decision == "edit" and approval.decided_arguments is not None


def test_response_and_ignore_reject_and_send_nothing(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    for answer, reason in (
        ({"type": "response", "args": "wait for the pricing call"}, "wait for the pricing call"),
        ({"type": "ignore", "args": None}, "ignored in Agent Inbox"),
    ):
        graph = _graph(SEND_SCRIPT)
        _invoke(graph, engine, tmp_path, team.rep, _say("send Dana a follow-up"))
        _invoke(graph, engine, tmp_path, team.rep, Command(resume=answer), user="mia@example.com")
        with session_scope(engine) as s:
            approval = s.exec(select(Approval).order_by(Approval.id.desc())).first()  # type: ignore[union-attr]
            assert approval is not None
            assert approval.status == ApprovalStatus.REJECTED and approval.reason == reason
        assert all(m.status == MessageStatus.REJECTED for m in _messages(engine))


def _messages(engine: Engine) -> list[Any]:
    from store.models import OutboundMessage

    with session_scope(engine) as s:
        return list(s.exec(select(OutboundMessage)).all())
