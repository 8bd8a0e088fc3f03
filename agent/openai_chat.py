"""The chat model for ``openai:<model>``: langchain-openai's client, plus what real OpenAI-compatible servers need.

Small local models behind llama.cpp, Ollama or vLLM answer tool-calling turns in shapes the OpenAI client does not
read as tool calls (``agent.tool_calls`` repairs them), and their context windows can be too small for the full
tool schemas (``compact_tool_schema``, on with ``SALESGRAPH_OPENAI_COMPACT_TOOLS``). Built by ``agent.models``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI

from agent.tool_calls import repair_tool_calls


class RepairingChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose tool-bound form repairs each reply's tool calls against the tools it was bound to."""

    compact_tools: bool = False
    """Send ``compact_tool_schema`` versions of the tools (for a small context window)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        schemas = [convert_to_openai_tool(t) for t in tools]
        if self.compact_tools:
            schemas = [compact_tool_schema(s) for s in schemas]
        known = frozenset(s["function"]["name"] for s in schemas)

        def repair(message: AIMessage) -> AIMessage:
            return repair_tool_calls(message, known)

        # "auto" is what OpenAI assumes when tools are sent; llama-cpp-python's chatml-function-calling format
        # leaves the tools out of the prompt altogether unless it is said
        kwargs.setdefault("tool_choice", "auto")
        return super().bind_tools(schemas, **kwargs) | RunnableLambda(repair, name="repair_tool_calls")

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if self.openai_api_base and "max_completion_tokens" in payload:
            # The client spells the cap OpenAI's new way only; llama-cpp-python's server and older Ollama read
            # max_tokens alone and would let a looping small model run to the end of its context.
            payload.setdefault("max_tokens", payload["max_completion_tokens"])
        return payload


def compact_tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool schema made short for a small context window: the description's first sentence, no argument
    descriptions, titles or null defaults, ``anyOf [X, null]`` written as X. Names, types, enums, bounds and the
    required list stay, and the tools validate their arguments exactly as before."""
    function = dict(tool["function"])
    description = str(function.get("description") or "")
    function["description"] = re.split(r"(?<=[.!?])\s", description, maxsplit=1)[0]
    if "parameters" in function:
        function["parameters"] = _compact(function["parameters"])
    return {**tool, "function": function}


def _compact(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    options = node.get("anyOf")
    if isinstance(options, list):
        concrete = [o for o in options if o != {"type": "null"}]
        if len(concrete) == 1 and len(options) == 2:
            return _compact({**{k: v for k, v in node.items() if k != "anyOf"}, **concrete[0]})
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "description") or (key == "default" and value is None):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _compact(schema) for name, schema in value.items()}
        else:
            out[key] = _compact(value)
    return out
