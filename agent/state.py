"""The graph's state: the conversation's messages and the guarded tool calls waiting for a human decision."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class PendingApproval(TypedDict):
    tool_call_id: str
    ticket: dict[str, Any]
    """``tools.base.ApprovalTicket`` as JSON: the stored approval row and what it would do."""


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    approvals: NotRequired[list[PendingApproval]]
    """Guarded calls the tools node prepared; the approval node works through them one at a time."""
