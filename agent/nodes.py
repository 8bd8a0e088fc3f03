"""The graph's nodes besides approval: the model turn and the tools turn."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolMessage
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.context import Context
from agent.state import AgentState, PendingApproval
from sales.errors import SalesError
from tools.base import ApprovalTicket, describe_error
from tools.registry import SPECS, langchain_tools, tools_by_name

if TYPE_CHECKING:
    from sales.vocabulary import Vocabulary

log = logging.getLogger(__name__)


def workspace_vocabulary(ctx: Context) -> Vocabulary:
    """The workspace's names (owners, teams, offices, products, accounts, industries, stage terms), from the store."""
    from sales.vocabulary import load_vocabulary
    from store.db import session_scope

    with session_scope(ctx.engine) as s:
        return load_vocabulary(s)


def system_prompt(ctx: Context, vocabulary: Vocabulary | None = None) -> str:
    """The system prompt; the vocabulary comes from the workspace's data and is fenced as data (names in a CRM
    are customer text)."""
    from prompts.loader import data_block, render
    from sales.stages import DEFAULT_MACHINE

    words = vocabulary.prompt_lines() if vocabulary is not None else ""
    stages = vocabulary.stages if vocabulary is not None else DEFAULT_MACHINE.stages
    return render(
        "system",
        company=ctx.company,
        user_name=ctx.actor.name,
        user_email=ctx.actor.email,
        user_role=ctx.actor.role,
        today=ctx.today().isoformat(),
        stages=", ".join(stages),
        vocabulary=data_block("workspace vocabulary", words) if words else "(none recorded yet)",
    )


def system_message(ctx: Context) -> SystemMessage:
    """The system message of a turn; it also carries the vocabulary as data for a model that reads it directly
    (the offline model), so both kinds of model understand the same names."""
    from sales.vocabulary import VOCABULARY_KEY

    vocabulary = workspace_vocabulary(ctx)
    return SystemMessage(system_prompt(ctx, vocabulary), additional_kwargs={VOCABULARY_KEY: vocabulary.to_dict()})


def make_agent_node(model: BaseChatModel) -> Callable[[AgentState, Runtime[Context]], dict[str, Any]]:
    bound: list[Any] = []

    def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        if not bound:  # bound on first use, so drawing the graph needs no tool-calling model
            bound.append(model.bind_tools(list(langchain_tools())))
        messages = [system_message(runtime.context), *fence_tool_results(state["messages"])]
        return {"messages": [bound[0].invoke(messages)]}

    return agent


def fence_tool_results(messages: list[AnyMessage]) -> list[AnyMessage]:
    """What the model reads: every tool result inside a data fence, because results carry customer text (notes,
    emails, CRM fields) and the system prompt tells the model fenced text is data, never instructions. The graph
    state keeps the plain result; only the model's view is fenced."""
    from prompts.loader import data_block

    return [
        m.model_copy(update={"content": data_block(f"tool {m.name or 'result'}", str(m.content))})
        if isinstance(m, ToolMessage)
        else m
        for m in messages
    ]


def _error(call_id: str, name: str, exc: BaseException) -> ToolMessage:
    failure = describe_error(exc)
    return ToolMessage(failure.error, tool_call_id=call_id, name=name, status="error", artifact=failure.model_dump())


def tools_node(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the model's tool calls in order, as the Context's actor; guarded calls only prepare their approval."""
    last = state["messages"][-1]
    if not isinstance(last, AIMessage):
        return {}
    tools = tools_by_name()
    messages: list[ToolMessage] = []
    pending: list[PendingApproval] = []
    for bad in last.invalid_tool_calls:
        # Arguments that were not JSON even after agent.tool_calls' repairs: say so, so the model can try again.
        name = bad.get("name") or "(no name)"
        messages.append(
            ToolMessage(
                f"the arguments for {name} were not a JSON object ({bad.get('error') or 'unreadable'}); "
                "call the tool again with its arguments as one JSON object",
                tool_call_id=bad.get("id") or f"call_{name}",
                name=name,
                status="error",
            )
        )
    for call in last.tool_calls:
        call_id, name = call["id"] or name_fallback(call), call["name"]
        tool = tools.get(name)
        if tool is None:
            messages.append(
                ToolMessage(
                    f"there is no tool called {name!r}; the tools are {', '.join(sorted(SPECS))}",
                    tool_call_id=call_id,
                    name=name,
                    status="error",
                )
            )
            continue
        try:
            result = tool.invoke(call["args"])
        except GraphBubbleUp:
            raise
        except (ValidationError, SalesError, LookupError) as exc:
            messages.append(_error(call_id, name, exc))
            continue
        except Exception as exc:
            # A bug, not a refusal: keep the traceback in the log and tell the model the call failed.
            log.exception("tool %s failed", name)
            messages.append(_error(call_id, name, RuntimeError(f"{name} failed unexpectedly: {exc}")))
            continue
        if isinstance(result, ApprovalTicket):
            pending.append({"tool_call_id": call_id, "ticket": result.model_dump(mode="json")})
        else:
            messages.append(ToolMessage(result.model_dump_json(), tool_call_id=call_id, name=name))
    return {"messages": messages, "approvals": pending}


def name_fallback(call: Any) -> str:
    return f"call_{call['name']}"


def route_after_agent(state: AgentState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls) else "__end__"


def route_after_tools(state: AgentState) -> str:
    return "approval" if state.get("approvals") else "agent"
