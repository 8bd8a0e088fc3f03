"""What a real model's reply needs before the tools node can trust it: tool calls written as text, arguments that
are not quite JSON, near-miss tool names.

Small local models (and servers that do not parse tool calls out of the text) answer a tool-calling turn in many
shapes: a JSON object in the content instead of ``tool_calls``, ``<tool_call>`` tags, a fenced code block, a
Python-style call, arguments cut off or wrapped twice. ``repair_tool_calls`` turns the ones that name one of our
tools into ordinary tool calls and leaves everything else alone; what cannot be repaired stays an invalid call,
which the tools node answers with an error the model can read and correct.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from langchain_core.messages import AIMessage

_FENCE = re.compile(r"^```[a-zA-Z_]*\s*\n?(.*?)\n?```$", re.DOTALL)
_TAGGED = re.compile(
    r"<(tool_call|function_call|functioncall|tool_code)>\s*(.*?)\s*(?:</\1>|$)", re.DOTALL | re.IGNORECASE
)
# llama.cpp's chatml-function-calling format, leaked as text: "functions.create_lead:\n{...}"
_PREFIXED = re.compile(r"^(?:functions|tools)\.([A-Za-z_][\w.-]*)\s*:\s*(\{.*\})$", re.DOTALL)
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action")
_ARG_KEYS = ("arguments", "args", "parameters", "params", "input", "tool_input", "action_input")


def canonical_tool_name(name: str, known: Collection[str]) -> str | None:
    """``name`` as one of ``known``, forgiving case, ``functions.``-style prefixes, hyphens and spaces."""
    if name in known:
        return name
    cleaned = name.strip().strip("`'\"").rsplit(".", 1)[-1].rstrip("()")
    cleaned = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cleaned)  # PipelineQuestion -> Pipeline_Question
    cleaned = re.sub(r"[\s-]+", "_", cleaned).lower()
    return cleaned if cleaned in known else None


def parse_arguments(raw: Any) -> dict[str, Any] | None:
    """Tool arguments as a dict: JSON, JSON encoded twice, cut-off JSON, Python literals; None if hopeless."""
    if isinstance(raw, dict):
        return raw
    if raw is None:
        return {}
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text:
        return {}
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    for attempt in (_loads, _loads_partial, _literal):
        value = attempt(text)
        if isinstance(value, str):  # encoded twice: "{\"name\": ...}"
            value = parse_arguments(value)
        if isinstance(value, dict):
            return value
    return None


def repair_tool_calls(message: AIMessage, known: Collection[str]) -> AIMessage:
    """``message`` with text tool calls lifted into ``tool_calls``, tool names made canonical and invalid calls
    repaired where their arguments can be read; returned unchanged when nothing needed doing."""
    changed = False
    calls: list[dict[str, Any]] = []
    for call in message.tool_calls:
        canonical = canonical_tool_name(call["name"], known)
        args = call.get("args") or {}
        unwrapped = _unwrap(args, canonical or call["name"])
        if (canonical and canonical != call["name"]) or unwrapped is not args:
            changed = True
        calls.append({**call, "name": canonical or call["name"], "args": unwrapped})
    invalid: list[dict[str, Any]] = []
    for bad in message.invalid_tool_calls:
        raw_name = bad.get("name") or ""
        name = canonical_tool_name(raw_name, known) or raw_name
        parsed = parse_arguments(bad.get("args"))
        call_id = bad.get("id") or _new_id()
        changed = True
        if name and parsed is not None:
            # an unknown name stays as written: the tools node answers it with the list of tools
            calls.append({"name": name, "args": _unwrap(parsed, name), "id": call_id, "type": "tool_call"})
        else:
            # kept invalid, with an id, so the tools node can answer it and the model can try again
            invalid.append({**bad, "id": call_id})
    content = message.content
    if not calls and not invalid and isinstance(content, str):
        lifted = text_tool_calls(content, known)
        if lifted:
            calls, content, changed = lifted, "", True
    if not changed:
        return message
    return message.model_copy(update={"content": content, "tool_calls": calls, "invalid_tool_calls": invalid})


def text_tool_calls(text: str, known: Collection[str]) -> list[dict[str, Any]]:
    """The tool calls a reply wrote as text instead of ``tool_calls``; empty unless the whole reply is calls of
    tools in ``known`` (prose that merely mentions a tool, or shows JSON to the user, stays prose)."""
    stripped = text.strip()
    if not stripped:
        return []
    tagged = _TAGGED.findall(stripped)
    if tagged:
        # The tags say "this is a call"; text around them (a model's preamble) does not make it prose.
        bodies = [body for _, body in tagged]
    else:
        fenced = _FENCE.match(stripped)
        bodies = [fenced.group(1).strip() if fenced else stripped]
    calls: list[dict[str, Any]] = []
    for body in bodies:
        found = _calls_in(body.strip(), known)
        if not found:
            return []
        calls.extend(found)
    return calls


def _calls_in(body: str, known: Collection[str]) -> list[dict[str, Any]]:
    prefixed = _PREFIXED.match(body)
    if prefixed:
        name, args = canonical_tool_name(prefixed.group(1), known), parse_arguments(prefixed.group(2))
        return [_call(name, args)] if name and args is not None else []
    value = _loads(body)
    if value is None:
        value = _literal(body)
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        calls = [_from_object(v, known) for v in value]
        return [c for c in calls if c is not None] if all(calls) else []
    return _python_calls(body, known)


def _from_object(obj: dict[str, Any], known: Collection[str]) -> dict[str, Any] | None:
    """{"name": ..., "arguments": {...}} and its cousins, also OpenAI's own {"type": "function", "function": {...}}."""
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    raw_name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if raw_name is None:
        return None
    name = canonical_tool_name(raw_name, known)
    raw_args: Any = next((obj[k] for k in _ARG_KEYS if k in obj), {})
    args = parse_arguments(raw_args)
    return _call(name, args) if name and args is not None else None


def _python_calls(body: str, known: Collection[str]) -> list[dict[str, Any]]:
    """``pipeline_question(metric="count")`` lines, as Gemma-style models write in a tool_code block."""
    try:
        tree = ast.parse(body.removeprefix("print(").removesuffix(")") if body.startswith("print(") else body)
    except SyntaxError:
        return []
    calls: list[dict[str, Any]] = []
    for statement in tree.body:
        node = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(node, ast.Call) or node.args:
            return []
        func = node.func
        raw = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        name = canonical_tool_name(raw, known)
        if name is None:
            return []
        try:
            args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError:
            return []
        calls.append(_call(name, args))
    return calls


def _unwrap(args: dict[str, Any], name: str) -> dict[str, Any]:
    """Arguments a model wrapped once more: {"arguments": {...}}, {"create_lead": {...}}, or a JSON string."""
    if len(args) == 1:
        ((key, value),) = args.items()
        if key in (*_ARG_KEYS, name):
            inner = parse_arguments(value)
            if inner is not None:
                return inner
    return args


def _call(name: str | None, args: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name, "args": args if args is not None else {}, "id": _new_id(), "type": "tool_call"}


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _loads_partial(text: str) -> Any:
    """JSON cut off mid-way (a reply that ran out of tokens) or followed by chatter after the object."""
    from langchain_core.utils.json import parse_partial_json

    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
        return value
    except ValueError:
        pass
    try:
        return parse_partial_json(text[start:])
    except ValueError:
        return None


def _literal(text: str) -> Any:
    """Python-literal dicts: single quotes, True/False/None."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
