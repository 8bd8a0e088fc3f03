"""OfflineChatModel: a deterministic LangChain chat model with tool calling, no network and no API key."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from agent.offline.compose import compose, stated_difference
from agent.offline.context import PENDING_KEY, latest_human_text, message_text, read_context, tool_result
from agent.offline.planner import WHY_NOT, plan

_TODAY = re.compile(r"\btoday is (\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
ZERO_USAGE = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


class OfflineChatModel(BaseChatModel):
    """Understands the supported sales requests in plain English and answers from tool results, deterministically.

    ``today`` anchors relative dates ("next Friday", "last quarter"); ``fiscal_year_start_month`` sets quarters.
    """

    today: date = Field(default_factory=date.today)
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)

    @property
    def _llm_type(self) -> str:
        return "salesgraph-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "fiscal_year_start_month": self.fiscal_year_start_month}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools like any chat model; only tools bound here are ever called (their names are kept)."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self.respond(messages, tool_names=_tool_names(kwargs.get("tools")))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def respond(self, messages: list[BaseMessage], tool_names: set[str] | None = None) -> AIMessage:
        """The model's next message for ``messages`` (also usable without LangChain's invoke machinery)."""
        usage = dict(ZERO_USAGE)
        if messages and isinstance(messages[-1], ToolMessage):
            ambiguous = _ambiguity_question(messages)
            if ambiguous is not None:
                question, pending = ambiguous
                return AIMessage(content=question, additional_kwargs={PENDING_KEY: pending}, usage_metadata=usage)
            step = _next_step(messages, tool_names)
            if step is not None:
                return step
            return AIMessage(content=self._answer_from_tools(messages), usage_metadata=usage)
        text = latest_human_text(messages)
        if text is None:
            return AIMessage(content="How can I help with your pipeline?", usage_metadata=usage)
        ctx = read_context(messages)
        decision = plan(text, ctx, self.reference_date(messages), self.fiscal_year_start_month, tool_names)
        if decision.kind == "tool" and decision.tool:
            calls = [(decision.tool, decision.args), *decision.calls]
            notes = {
                "unused": decision.unused,
                "unapplied": decision.unapplied,
                "why_not": _why_not(decision),
                "skipped": decision.skipped,
                "then": decision.then,
                "excluding": decision.excluding,
            }
            return _tool_message(len(messages), calls, {k: v for k, v in notes.items() if v})
        extra = {PENDING_KEY: decision.pending} if decision.pending else {}
        return AIMessage(content=decision.text, additional_kwargs=extra, usage_metadata=usage)

    def warm_up(self) -> None:
        """Load what the first turn would otherwise load lazily (spell-check dictionary, dateparser, phonenumbers):
        about 2 s once per process, so a front door can pay it at start-up instead of on the first request."""
        from agent.offline.normalize import normalise
        from agent.offline.slots import find_phone, resolve_day

        normalise("pls remnd me")
        resolve_day("Dec 3rd 2026", self.today)
        find_phone("+1 415 555 2671")

    def reference_date(self, messages: list[BaseMessage]) -> date:
        """``today`` when given explicitly; else the date the system prompt states ("Today is 2026-11-23"), so the
        model agrees with the run's context; else the real date."""
        if "today" in self.model_fields_set:
            return self.today
        for message in messages:
            if isinstance(message, SystemMessage):
                match = _TODAY.search(message_text(message))
                if match:
                    try:
                        return date.fromisoformat(match.group(1))
                    except ValueError:
                        break
        return self.today

    def _answer_from_tools(self, messages: list[BaseMessage]) -> str:
        """Compose one answer from every tool result of this request (all steps since the user's message), then
        name what the parse did not use, so a smaller answer never passes for the whole one."""
        start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1) + 1
        turn = messages[start:]
        results = [m for m in turn if isinstance(m, ToolMessage)]
        calls: dict[str, tuple[str, dict[str, Any]]] = {}
        for message in messages:
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    calls[call.get("id") or ""] = (call["name"], call["args"])
        answers = []
        answered: list[tuple[str, dict[str, Any], Any]] = []
        for result in results:
            name, args = calls.get(result.tool_call_id, (result.name or "", {}))
            data = tool_result(result)
            answers.append(compose(name, args, data, message_text(result), getattr(result, "status", None)))
            if getattr(result, "status", None) != "error":
                answered.append((name, args, data))
        answers = list(dict.fromkeys(answers))  # the same refusal for two periods is said once
        notes = [m.additional_kwargs.get(NOTES_KEY) for m in turn if isinstance(m, AIMessage)]
        excluding = next((n["excluding"] for n in notes if isinstance(n, dict) and n.get("excluding")), None)
        change = stated_difference(answered, self.reference_date(messages), excluding=excluding)
        if change:
            answers.append(change)
        unused = list(dict.fromkeys(w for n in notes if isinstance(n, dict) for w in n.get("unused") or []))
        skipped = list(dict.fromkeys(p for n in notes if isinstance(n, dict) for p in n.get("skipped") or []))
        unapplied = list(dict.fromkeys(p for n in notes if isinstance(n, dict) for p in n.get("unapplied") or []))
        why_not = next((n["why_not"] for n in notes if isinstance(n, dict) and n.get("why_not")), None)
        if unapplied:
            parts = [p for p in unapplied if not p.startswith('"')]
            quoted = [p for p in unapplied if p.startswith('"')]
            said = "; ".join(parts + ([f"the words {', '.join(quoted)}"] if quoted else []))
            reason = f" ({why_not})" if why_not and parts else ""
            answers.append(
                f"Not applied: {said}{reason}. The figures above do not take it into account; ask again "
                "if it should change the answer."
            )
        if unused:
            words = ", ".join(f'"{w}"' for w in unused)
            answers.append(f"(I did not use {words} from your request; ask again if it should change the answer.)")
        for part in skipped:
            answers.append(f'I did not act on "{part}": I could not tell what to do; please ask it on its own.')
        return "\n\n".join(answers)


def _why_not(decision: Any) -> str | None:
    """Why the chosen tool cannot apply what the request asked for beyond it (None when it applied everything)."""
    return WHY_NOT.get(str(decision.tool)) if decision.unapplied else None


NOTES_KEY = "salesgraph_offline_notes"
"""On a tool-calling message: the words the parse did not use, parts it skipped, and the steps still to run."""


def _tool_message(n: int, calls: list[tuple[str, dict[str, Any]]], notes: dict[str, Any]) -> AIMessage:
    tool_calls: list[ToolCall] = []
    for i, (tool, args) in enumerate(calls):
        call_id = f"call_offline_{n}_{tool}" + (f"_{i}" if i else "")
        tool_calls.append({"name": tool, "args": args, "id": call_id, "type": "tool_call"})
    extra = {NOTES_KEY: notes} if notes else {}
    return AIMessage(content="", tool_calls=tool_calls, additional_kwargs=extra, usage_metadata=dict(ZERO_USAGE))


def _dig(data: Any, path: str) -> Any:
    """``records.0.id`` out of a tool result."""
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit():
            data = data[int(part)] if int(part) < len(data) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _next_step(messages: list[BaseMessage], tool_names: set[str] | None) -> AIMessage | None:
    """The next step of a multi-step request ("draft ... and send it"), fed from the result of the step before;
    None when there is none, or when that step failed (the answer then says what was not done)."""
    caller = next((m for m in reversed(messages) if isinstance(m, AIMessage) and m.tool_calls), None)
    notes = caller.additional_kwargs.get(NOTES_KEY) if caller is not None else None
    if caller is None or not isinstance(notes, dict) or not notes.get("then"):
        return None
    ids = {c.get("id") for c in caller.tool_calls}
    results = [m for m in messages if isinstance(m, ToolMessage) and m.tool_call_id in ids]
    if not results or any(getattr(r, "status", None) == "error" for r in results):
        return None
    data = tool_result(results[0])
    step, rest = notes["then"][0], notes["then"][1:]
    args = dict(step.get("args") or {})
    for name, path in (step.get("from") or {}).items():
        value = _dig(data, str(path))
        if value is None:
            return None  # nothing to feed the step (no lead found, no draft): answer with what there is
        args[name] = value
    if tool_names is not None and step["tool"] not in tool_names:
        return None
    return _tool_message(len(messages), [(str(step["tool"]), args)], {"then": rest} if rest else {})


_SEVERAL = re.compile(r"matches several:\s*(?P<list>.+?)\.\s*Say which", re.IGNORECASE | re.DOTALL)
_CHOICE = re.compile(r"#(?P<id>\d+)\s+(?P<name>[^;]+)")
_SLOT_OF_TOOL = {"move_deal": "deal", "score_lead": "lead", "qualify_lead": "lead"}


def _ambiguity_question(messages: list[BaseMessage]) -> tuple[str, dict[str, Any]] | None:
    """A tool said a name matches several records: ask which one, and remember the choices for the answer."""
    last = messages[-1]
    if not isinstance(last, ToolMessage) or getattr(last, "status", None) != "error":
        return None
    match = _SEVERAL.search(message_text(last))
    if not match:
        return None
    choices = [
        {"id": int(m.group("id")), "name": m.group("name").strip()} for m in _CHOICE.finditer(match.group("list"))
    ]
    call = next(
        (
            c
            for m in reversed(messages)
            if isinstance(m, AIMessage)
            for c in m.tool_calls
            if c.get("id") == last.tool_call_id
        ),
        None,
    )
    human = latest_human_text(messages)
    if not choices or call is None or human is None:
        return None
    slot = _SLOT_OF_TOOL.get(call["name"], "record")
    kind = "lead" if call["name"] in ("score_lead", "qualify_lead") or "lead_name" in call["args"] else "deal"
    for choice in choices:
        choice["kind"] = kind
    listed = "; ".join(f"#{c['id']} {c['name']}" for c in choices[:8])
    word = call["args"].get("deal_name") or call["args"].get("lead_name")
    pending: dict[str, Any] = {"intent": call["name"], "slot": slot, "text": human, "filled": {}}
    pending |= {"choices": choices, "word": word}
    return f"Which one do you mean: {listed}?", pending


def _tool_names(tools: Any) -> set[str] | None:
    if not tools:
        return None
    names: set[str] = set()
    for tool in tools:
        if isinstance(tool, dict):
            function = tool.get("function", tool)
            if isinstance(function, dict) and function.get("name"):
                names.add(str(function["name"]))
    return names or None


def dumps(data: Any) -> str:
    """JSON as tools return it (for tests and fakes)."""
    return json.dumps(data, default=str)
