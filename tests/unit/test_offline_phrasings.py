"""The offline model turns at least 20 distinct phrasings per intent into the right tool call and arguments."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.offline import OfflineChatModel
from tests.unit.test_offline_corpus import ALL_CASES, Case
from tools.schemas import TOOL_ARGS

TODAY = date(2026, 11, 23)  # a Monday


def draft_history() -> list[BaseMessage]:
    """A conversation in which message #7 was just drafted for Acme."""
    return [
        HumanMessage("draft a follow-up to Acme about the proposal"),
        AIMessage(
            "", tool_calls=[{"name": "draft_follow_up", "args": {"deal_name": "Acme"}, "id": "c1", "type": "tool_call"}]
        ),
        ToolMessage(
            '{"message_id": 7, "to": "buyer@acme.example", "subject": "Proposal", "receipt": 31}', tool_call_id="c1"
        ),
        AIMessage("Drafted message #7 (receipt 31)."),
    ]


def run(text: str, history: list[BaseMessage] | None = None) -> AIMessage:
    model = OfflineChatModel(today=TODAY)
    return model.respond([*(history or []), HumanMessage(text)])


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, tuple) and expected[:1] == ("~",):
        return isinstance(actual, str) and expected[1].lower() in actual.lower()
    return bool(expected == actual)


def check(case: Case) -> tuple[bool, str]:
    text, tool, expected = case
    history = draft_history() if tool == "send_follow_up" else None
    reply = run(text, history)
    if not reply.tool_calls:
        return False, f"{text!r}: no tool call, said {reply.content!r}"
    call = reply.tool_calls[0]
    if call["name"] != tool:
        return False, f"{text!r}: called {call['name']} {call['args']}, expected {tool}"
    TOOL_ARGS[tool].model_validate(call["args"])  # the arguments follow the schema exactly
    wrong = {k: call["args"].get(k) for k, v in expected.items() if not matches(v, call["args"].get(k))}
    if wrong:
        return False, f"{text!r}: {tool} args {call['args']} differ on {wrong}, expected {expected}"
    return True, ""


@pytest.mark.parametrize("intent", sorted(ALL_CASES))
def test_at_least_twenty_distinct_phrasings_per_intent(intent: str) -> None:
    cases = ALL_CASES[intent]
    assert len({text.lower() for text, _, _ in cases}) >= 20


@pytest.mark.parametrize(
    "case", [case for cases in ALL_CASES.values() for case in cases], ids=lambda case: case[0][:60]
)
def test_phrasing_becomes_the_right_tool_call(case: Case) -> None:
    ok, problem = check(case)
    assert ok, problem
