"""Drives the real compiled graph for the evals: one turn (a message or an approval decision) on one thread.

A thin adapter over ``agent.graph.build_graph``: it invokes a turn with the run Context, then reads what the
turn added to the thread (tool calls, tool results, the answer, a pending approval interrupt, token usage).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from agent.context import Context


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]
    call_id: str
    ok: bool | None = None
    """True: the tool returned a result; False: an error ToolMessage; None: no result yet (awaiting approval)."""
    error: str | None = None
    error_kind: str | None = None
    result: Any = None


@dataclass
class TurnOutcome:
    answer: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    """Tool calls the model made in this turn."""
    results: list[ToolCall] = field(default_factory=list)
    """Every tool result that arrived in this turn (including a guarded call made in an earlier turn)."""
    interrupt: dict[str, Any] | None = None
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    crash: str | None = None
    """The graph raised: a bug, reported as the turn's failure."""


def build_model(spec: str, today: date) -> BaseChatModel:
    """The chat model for a run; the offline one gets the run's fixed "today" so relative dates are reproducible."""
    if spec == "offline":
        from agent.offline import OfflineChatModel

        return OfflineChatModel(today=today)
    from agent.models import resolve_model

    model = resolve_model(spec)
    if hasattr(model, "stream_usage"):
        # Streaming OpenAI-compatible clients report token usage only when asked; the scorecard needs it.
        model.stream_usage = True
    return model


class GraphDriver:
    """The compiled graph with an in-memory checkpointer; every case runs on its own thread id."""

    def __init__(self, model: BaseChatModel) -> None:
        from langgraph.checkpoint.memory import InMemorySaver

        from agent.graph import build_graph

        self.checkpointer = InMemorySaver()
        self.graph = build_graph(model, self.checkpointer)

    def _messages(self, config: dict[str, Any]) -> list[BaseMessage]:
        state = self.graph.get_state(config)  # type: ignore[arg-type]
        return list((state.values or {}).get("messages", []))

    def say(self, thread_id: str, context: Context, text: str) -> TurnOutcome:
        from langchain_core.messages import HumanMessage

        return self._run(thread_id, context, {"messages": [HumanMessage(text)]})

    def decide(self, thread_id: str, context: Context, decision: dict[str, Any]) -> TurnOutcome:
        from langgraph.types import Command

        return self._run(thread_id, context, Command(resume=decision))

    def pending_interrupt(self, thread_id: str) -> dict[str, Any] | None:
        state = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        for interrupt in getattr(state, "interrupts", ()) or ():
            value = interrupt.value
            return value if isinstance(value, dict) else {"value": value}
        return None

    def _run(self, thread_id: str, context: Context, payload: Any) -> TurnOutcome:
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}, "recursion_limit": 30}
        before = len(self._messages(config))
        outcome = TurnOutcome()
        started = time.perf_counter()
        try:
            graph: Any = self.graph  # the compiled graph's overloads do not cover a plain dict input
            graph.invoke(payload, config, context=context)
        except Exception as exc:  # a crash is a failed turn, not the end of the run
            outcome.crash = f"{type(exc).__name__}: {exc}"
        outcome.latency_s = time.perf_counter() - started
        messages = self._messages(config)
        read_turn(messages, before, outcome)
        outcome.interrupt = self.pending_interrupt(thread_id)
        return outcome


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "\n".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def read_turn(messages: list[BaseMessage], before: int, outcome: TurnOutcome) -> None:
    """Fill ``outcome`` from the messages the turn appended (``messages[before:]``)."""
    from langchain_core.messages import AIMessage, ToolMessage

    names: dict[str, tuple[str, dict[str, Any]]] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                names[call.get("id") or ""] = (call["name"], dict(call.get("args") or {}))
    by_id: dict[str, ToolCall] = {}
    for message in messages[before:]:
        if isinstance(message, AIMessage):
            usage: dict[str, Any] = dict(message.usage_metadata or {})
            outcome.input_tokens += int(usage.get("input_tokens") or 0)
            outcome.output_tokens += int(usage.get("output_tokens") or 0)
            for call in message.tool_calls:
                record = ToolCall(call["name"], dict(call.get("args") or {}), call.get("id") or "")
                outcome.calls.append(record)
                by_id[record.call_id] = record
            if not message.tool_calls and _text(message).strip():
                outcome.answer = _text(message)
        elif isinstance(message, ToolMessage):
            name, args = names.get(message.tool_call_id, (message.name or "", {}))
            record = by_id.get(message.tool_call_id) or ToolCall(name, args, message.tool_call_id)
            text = _text(message)
            if getattr(message, "status", "success") == "error":
                record.ok = False
                record.error = text
                artifact = message.artifact if isinstance(message.artifact, dict) else {}
                record.error_kind = str(artifact.get("kind") or "error")
            else:
                record.ok = True
                try:
                    record.result = json.loads(text)
                except ValueError:
                    record.result = text
            outcome.results.append(record)
