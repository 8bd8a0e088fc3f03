"""Running the agent for a front door: one turn in, a plain record out (answer, tool calls, pending approvals).

Front doors (CLI, Slack, the demo tour) use these helpers and never touch graph internals: ``open_agent`` builds
the graph with the configured checkpointer, ``run_turn`` sends a message or a decision, ``decide`` records a
human decision in the store and resumes the thread that was waiting for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command

from agent.approval import ApprovalDecision
from agent.context import Context, approval_policy_from_env
from sales.errors import SalesError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from app.services import Services
    from sales.approvals import ApprovalPolicy
    from sales.permissions import Actor


@dataclass
class ToolCallRecord:
    name: str
    args: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "args": self.args, "result": self.result}
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class TurnOutcome:
    thread_id: str
    answer: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    interrupts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "answer": self.answer,
            "tool_calls": [c.to_json() for c in self.tool_calls],
            "interrupts": self.interrupts,
        }


class ConversationWaiting(SalesError):
    """A new message was sent to a conversation that is waiting for an approval decision."""


def new_thread_id(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextmanager
def open_agent(
    services: Services, model: BaseChatModel | str | None = None, *, checkpoint_schema: str | None = None
) -> Iterator[Any]:
    """The compiled graph with the workspace's checkpointer, open for the duration of the block."""
    from agent.checkpoint import open_checkpointer
    from agent.graph import build_graph
    from agent.models import resolve_model

    chat_model = model if model is not None and not isinstance(model, str) else resolve_model(model, services.settings)
    with open_checkpointer(services.settings, schema=checkpoint_schema) as saver:
        yield build_graph(chat_model, checkpointer=saver)


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def pending_requests(graph: Any, thread_id: str) -> list[dict[str, Any]]:
    """The approval requests the thread is waiting on (empty when it is not waiting)."""
    state = graph.get_state(_config(thread_id))
    return [dict(i.value) for i in state.interrupts if isinstance(i.value, dict)]


def _records(messages: list[Any], new_from: int) -> list[ToolCallRecord]:
    """Tool calls made in this turn, or answered in it (a resumed approval answers an earlier call)."""
    results = {m.tool_call_id: m for m in messages[new_from:] if isinstance(m, ToolMessage)}
    records: list[ToolCallRecord] = []
    for index, message in enumerate(messages):
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            if index < new_from and (call["id"] or "") not in results:
                continue
            record = ToolCallRecord(name=call["name"], args=dict(call["args"]))
            reply = results.get(call["id"] or "")
            if reply is not None:
                if reply.status == "error":
                    record.error = str(reply.content)
                else:
                    try:
                        record.result = json.loads(str(reply.content))
                    except json.JSONDecodeError:
                        record.result = {"text": str(reply.content)}
            records.append(record)
    return records


def run_turn(
    graph: Any,
    context: Context,
    thread_id: str,
    *,
    text: str | None = None,
    resume: ApprovalDecision | None = None,
    on_update: Callable[[str, Any], None] | None = None,
) -> TurnOutcome:
    """Send ``text`` (a new message) or ``resume`` (a decision) to the thread and run until it answers or waits."""
    if (text is None) == (resume is None):
        raise ValueError("give either text or resume")
    config = _config(thread_id)
    if text is not None:
        waiting = pending_requests(graph, thread_id)
        if waiting:
            ids = ", ".join(f"#{r.get('approval_id')}" for r in waiting)
            raise ConversationWaiting(
                f"this conversation is waiting for approval {ids}; decide it first "
                f"(salesgraph approvals list) or start a new conversation"
            )
    before = len(graph.get_state(config).values.get("messages", []))
    payload: Any = Command(resume=resume.model_dump()) if resume is not None else {"messages": [HumanMessage(text)]}
    for mode, chunk in graph.stream(payload, config, context=context, stream_mode=["updates", "messages"]):
        if on_update is not None:
            on_update(mode, chunk)
    state = graph.get_state(config)
    every = list(state.values.get("messages", []))
    new = every[before:]
    interrupts = [dict(i.value) for i in state.interrupts if isinstance(i.value, dict)]
    answer = ""
    if not interrupts:
        last = new[-1] if new else None
        if isinstance(last, AIMessage) and not last.tool_calls:
            answer = str(last.content)
    return TurnOutcome(thread_id=thread_id, answer=answer, tool_calls=_records(every, before), interrupts=interrupts)


@dataclass
class DecisionOutcome:
    approval_id: int
    status: str
    turn: TurnOutcome | None
    """The resumed thread's turn; None when no conversation was waiting (decided in the store only)."""


def decide(
    graph: Any,
    services: Services,
    approval_id: int,
    decision: ApprovalDecision,
    *,
    context_factory: Callable[[Actor], Context] | None = None,
    on_update: Callable[[str, Any], None] | None = None,
    policy: ApprovalPolicy | None = None,
) -> DecisionOutcome:
    """Record the decision (refused unless ``decided_by`` may decide), then resume the thread that waits on it.

    The thread resumes as the person who asked (tools act as them), not as the approver.
    """
    from sales.approvals import ApprovalClosed, decide_approval, get_approval
    from sales.permissions import SYSTEM, actor_for_user, load_actor
    from store.db import session_scope
    from store.models import User

    with session_scope(services.engine) as s:
        decider = load_actor(s, decision.decided_by)
        try:
            result = decide_approval(
                s,
                decider,
                approval_id,
                decision.decision,
                arguments=decision.arguments,
                reason=decision.reason,
                policy=policy or approval_policy_from_env(),
            )
            row = result.approval
        except ApprovalClosed:
            row = get_approval(s, approval_id)
            if not row.thread_id or not any(
                r.get("approval_id") == approval_id for r in pending_requests(graph, row.thread_id)
            ):
                raise
        requester_user = s.get(User, row.requested_by_id) if row.requested_by_id else None
        requester = actor_for_user(s, requester_user) if requester_user is not None else SYSTEM
        status, thread = row.status, row.thread_id
    if not thread or not any(r.get("approval_id") == approval_id for r in pending_requests(graph, thread)):
        return DecisionOutcome(approval_id, status, None)
    context = context_factory(requester) if context_factory else Context(actor=requester, services=services)
    return DecisionOutcome(approval_id, status, run_turn(graph, context, thread, resume=decision, on_update=on_update))
