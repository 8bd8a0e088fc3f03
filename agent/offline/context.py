"""What the conversation so far tells the offline model: records mentioned, the last draft, a pending question."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from prompts.loader import unfence
from sales.vocabulary import VOCABULARY_KEY, Vocabulary

PENDING_KEY = "salesgraph_offline"


def message_text(message: BaseMessage) -> str:
    """The message's text; a tool result without the data fence the agent node puts around it for the model."""
    content = message.content
    if isinstance(content, str):
        text = content
    else:
        text = "\n".join(p for p in (b if isinstance(b, str) else str(b.get("text", "")) for b in content) if p)
    return unfence(text) if isinstance(message, ToolMessage) else text


def tool_result(message: ToolMessage) -> Any:
    """The tool's result as JSON data when it is JSON, else the raw text."""
    text = message_text(message)
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


@dataclass
class Mention:
    kind: str  # "lead" or "deal"
    name: str | None
    id: int | None


@dataclass
class ConversationContext:
    mentions: list[Mention] = field(default_factory=list)
    last_draft_id: int | None = None
    draft_record: str | None = None
    last_records: list[Mention] = field(default_factory=list)  # the last find_records result
    records_are_latest: bool = False  # nothing was named after that list, so "it" could be any of them
    pending: dict[str, Any] | None = None
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    """The workspace's names, from the system message (empty when the caller gave none, e.g. unit tests)."""

    def last(self, kind: str | None = None) -> Mention | None:
        for mention in reversed(self.mentions):
            if kind is None or mention.kind == kind:
                return mention
        return None

    def known_names(self) -> dict[str, Mention]:
        names: dict[str, Mention] = {}
        for mention in self.mentions:
            if mention.name:
                names[mention.name.lower()] = mention
        return names


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _record_from_args(name: str, args: dict[str, Any]) -> Mention | None:
    if name == "create_lead":
        return Mention("lead", args.get("name"), None)
    for kind in ("deal", "lead"):
        if args.get(f"{kind}_id") is not None or args.get(f"{kind}_name"):
            return Mention(kind, args.get(f"{kind}_name"), _int(args.get(f"{kind}_id")))
    return None


def _mention(kind: Any, name: Any, ident: Any) -> Mention | None:
    if kind not in ("lead", "deal"):
        return None
    return Mention(str(kind), name if isinstance(name, str) else None, _int(ident))


def records_in_result(tool: str, data: Any) -> list[Mention]:
    """The leads and deals a tool result names (``tools.results`` shapes), most relevant last."""
    if not isinstance(data, dict):
        return []
    found: list[Mention | None] = []
    if tool == "find_records":
        for row in data.get("records") or []:
            if isinstance(row, dict):
                found.append(_mention(row.get("type") or data.get("entity"), row.get("name"), row.get("id")))
    elif tool in ("create_lead", "score_lead"):
        found.append(_mention("lead", data.get("name"), data.get("lead_id")))
    elif tool == "qualify_lead":
        found.append(_mention("lead", data.get("lead_name"), data.get("lead_id")))
        found.append(_mention("deal", data.get("deal_name"), data.get("deal_id")))
    elif tool == "move_deal":
        found.append(_mention("deal", data.get("deal_name"), data.get("deal_id")))
    elif tool in ("log_interaction", "draft_follow_up"):
        found.append(_mention(data.get("record_type"), data.get("record_name"), data.get("record_id")))
    return [mention for mention in found if mention is not None]


def read_context(messages: list[BaseMessage]) -> ConversationContext:
    """Scan the history (everything before the latest human message) for records, drafts and a pending question."""
    ctx = ConversationContext()
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=len(messages))
    for message in messages[:last_human]:
        if isinstance(message, SystemMessage) and VOCABULARY_KEY in message.additional_kwargs:
            ctx.vocabulary = Vocabulary.from_dict(message.additional_kwargs[VOCABULARY_KEY])
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                calls[call.get("id") or ""] = (call["name"], call["args"])
                mention = _record_from_args(call["name"], call["args"])
                if mention:
                    ctx.mentions.append(mention)
                    ctx.records_are_latest = False
        elif isinstance(message, ToolMessage):
            name, args = calls.get(message.tool_call_id, (message.name or "", {}))
            data = tool_result(message)
            if getattr(message, "status", "success") == "error" or (isinstance(data, dict) and data.get("error")):
                continue
            if name == "draft_follow_up" and isinstance(data, dict):
                ctx.last_draft_id = _int(data.get("message_id"))
                ctx.draft_record = args.get("deal_name") or args.get("lead_name")
            elif name == "edit_draft" and isinstance(data, dict):
                ctx.last_draft_id = _int(data.get("message_id"))  # still the draft to send
            elif name == "send_follow_up":
                ctx.last_draft_id = None  # already sent (or decided): "send it" again needs a new draft
            records = records_in_result(name, data)
            if name == "find_records":
                ctx.last_records = records
                ctx.records_are_latest = True
            elif records:
                ctx.records_are_latest = False
            ctx.mentions.extend(records)
    # a clarifying question is only pending for the very next human message
    previous = messages[last_human - 1] if 0 < last_human <= len(messages) else None
    if isinstance(previous, AIMessage) and not previous.tool_calls:
        pending = previous.additional_kwargs.get(PENDING_KEY)
        if isinstance(pending, dict):
            ctx.pending = pending
    return ctx


def latest_human_text(messages: list[BaseMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message_text(message)
    return None
