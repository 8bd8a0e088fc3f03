"""OfflineChatModel as a LangChain chat model: bind_tools, zero usage, determinism, a light import, and a real
LangGraph tool loop."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool

from agent.offline import OfflineChatModel
from tools.results import MoveDealResult, ScoreLeadResult
from tools.schemas import MoveDealArgs, ScoreLeadArgs

TODAY = date(2026, 11, 23)
MOVES: list[dict[str, Any]] = []


def _move_deal(**kwargs: Any) -> str:
    MOVES.append(kwargs)
    return MoveDealResult(
        receipt_id=345, deal_id=7, deal_name="Acme renewal", from_stage="Proposal", to_stage=kwargs["to_stage"]
    ).model_dump_json()


def _score_lead(**kwargs: Any) -> str:
    return ScoreLeadResult(lead_id=1, name="x", score=50).model_dump_json()


MOVE_TOOL = StructuredTool.from_function(
    _move_deal, name="move_deal", description="Move a deal.", args_schema=MoveDealArgs
)
SCORE_TOOL = StructuredTool.from_function(
    _score_lead, name="score_lead", description="Score a lead.", args_schema=ScoreLeadArgs
)


def test_bind_tools_keeps_the_tool_names_and_only_calls_bound_tools() -> None:
    bound = OfflineChatModel(today=TODAY).bind_tools([MOVE_TOOL])
    names = [tool["function"]["name"] for tool in bound.kwargs["tools"]]  # type: ignore[attr-defined]
    assert names == ["move_deal"]
    call = bound.invoke([HumanMessage("move Acme to negotiation")])
    assert isinstance(call, AIMessage)
    assert call.tool_calls[0]["name"] == "move_deal"
    refused = bound.invoke([HumanMessage("score Jane Doe")])
    assert refused.tool_calls == []  # score_lead is not bound here
    assert "score_lead tool is not available" in str(refused.content)


def test_usage_is_reported_as_zero_tokens() -> None:
    reply = OfflineChatModel(today=TODAY).invoke([HumanMessage("what's the forecast?")])
    assert reply.usage_metadata == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def test_the_same_conversation_gives_the_same_reply() -> None:
    messages = [HumanMessage("How much did each of my reps win last quarter?")]
    first = OfflineChatModel(today=TODAY).invoke(messages)
    second = OfflineChatModel(today=TODAY).invoke(messages)
    assert first.tool_calls == second.tool_calls and first.content == second.content


def test_streaming_yields_the_same_message() -> None:
    chunks = list(OfflineChatModel(today=TODAY).stream([HumanMessage("move Acme to negotiation")]))
    assert chunks and chunks[-1].tool_calls[0]["args"] == {"deal_name": "Acme", "to_stage": "Negotiation"}


def test_importing_the_model_loads_no_heavy_libraries() -> None:
    code = (
        "import sys, agent.offline\n"
        "heavy = [m for m in ('sklearn', 'chromadb', 'pm4py', 'pandas', 'langchain_openai', 'spellchecker') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_langgraph_tool_loop_runs_the_call_and_answers_with_the_receipt() -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    model = OfflineChatModel(today=TODAY).bind_tools([MOVE_TOOL, SCORE_TOOL])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([MOVE_TOOL, SCORE_TOOL]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    graph = builder.compile()
    MOVES.clear()
    result = graph.invoke({"messages": [HumanMessage("push the Acme renewal deal to negotiation pls")]})
    assert [{k: v for k, v in move.items() if v is not None} for move in MOVES] == [
        {"deal_name": "Acme renewal", "to_stage": "Negotiation"}
    ]
    final = result["messages"][-1]
    assert final.content == "Moved deal #7 Acme renewal from Proposal to Negotiation (receipt #345)."
    assert END  # the loop ended on its own: the answer has no tool calls


def test_words_inside_a_quoted_record_name_do_not_decide_the_request() -> None:
    """A deal called "... - Forecasting add-on" is a name, not a forecast request (the demo sells that product)."""
    model = OfflineChatModel(today=TODAY)
    asked = model.invoke([HumanMessage("which stage is 'Hollis Bank - Forecasting add-on' in?")])
    [call] = asked.tool_calls
    assert call["name"] == "find_records" and call["args"]["query"] == "Hollis Bank - Forecasting add-on"
    moved = model.invoke([HumanMessage('move "Sterling Power - Forecasting add-on" to Proposal')])
    [call] = moved.tool_calls
    assert call["name"] == "move_deal"
    assert call["args"] == {"deal_name": "Sterling Power - Forecasting add-on", "to_stage": "Proposal"}
    # outside quotes the word still means what it says
    assert model.invoke([HumanMessage("what's the forecast for Q4?")]).tool_calls[0]["name"] == "forecast"
