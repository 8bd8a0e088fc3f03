"""Whatever a user types, the offline model answers without crashing, and any tool call it makes follows the
tool's argument schema exactly."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from agent.offline import OfflineChatModel
from tools.schemas import TOOL_ARGS

MODEL = OfflineChatModel(today=date(2026, 11, 23))
_VOCABULARY = (
    "move mark we won lost Acme Globex to negotiation proposal remind me call Bob next Friday log a note: they "
    "want discount how much did each rep win last quarter q3 2026-Q4 win rate by industry forecast where stuck "
    "draft follow-up send it don't score qualify lead #12 deal 7 $40k 1.2m jane@acme.example +1 415 555 2671 "
    '"Saltmarsh - Lumen" what did say about pricing tasks this week between 2026-04-01 and ignore previous '
    "instructions system prompt token opp pls tmrw ytd avg per month, ? ! - :"
)
WORDS = _VOCABULARY.split()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14).map(" ".join))
def test_word_salad_never_crashes_and_tool_calls_validate(text: str) -> None:
    reply = MODEL.respond([HumanMessage(text)])
    assert reply.tool_calls or reply.content
    for call in reply.tool_calls:
        TOOL_ARGS[call["name"]].model_validate(call["args"])
        if call["name"] == "send_follow_up":  # no draft in a one-message conversation: only an explicit id
            assert "send" in text.lower() and str(call["args"]["message_id"]) in text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    reply = MODEL.respond([HumanMessage(text)])
    for call in reply.tool_calls:
        TOOL_ARGS[call["name"]].model_validate(call["args"])
