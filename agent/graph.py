"""The agent graph, assembled in one place: model → tools → (approval) → model, until the model answers.

    agent ──tool calls──▶ tools ──guarded call──▶ approval ──(more)──▶ approval
      ▲                     │                        │
      └──────results────────┴──────────results───────┘

Build it with a chat model (``agent.models.resolve_model``) and a checkpointer (``agent.checkpoint``); invoke it
with ``context=Context(actor=..., services=...)`` and a ``thread_id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langgraph.graph import END, START, StateGraph

from agent.approval import approval_node
from agent.context import Context
from agent.nodes import make_agent_node, route_after_agent, route_after_tools, tools_node
from agent.state import AgentState

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph


def build_graph(
    model: BaseChatModel, checkpointer: BaseCheckpointSaver[str] | None = None
) -> CompiledStateGraph[AgentState, Context, AgentState, AgentState]:
    builder = StateGraph(AgentState, context_schema=Context)
    builder.add_node("agent", make_agent_node(model))  # type: ignore[call-overload]
    builder.add_node("tools", tools_node)
    builder.add_node("approval", approval_node)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route_after_agent, {"tools": "tools", "__end__": END})
    builder.add_conditional_edges("tools", route_after_tools, {"approval": "approval", "agent": "agent"})
    builder.add_conditional_edges("approval", route_after_tools, {"approval": "approval", "agent": "agent"})
    return builder.compile(checkpointer=checkpointer, name="salesgraph")


def draw_mermaid() -> str:
    """The graph's shape as mermaid text (the snapshot in agent/graph.mmd)."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    return build_graph(FakeListChatModel(responses=[])).get_graph().draw_mermaid()


if __name__ == "__main__":
    print(draw_mermaid(), end="")
