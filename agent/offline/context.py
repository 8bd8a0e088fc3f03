"""What the conversation so far tells the offline model: records mentioned, the last draft, a pending question."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

PENDING_KEY = "salesgraph_offline"


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [block if isinstance(block, str) else str(block.get("text", "")) for block in content]
    return "\n".join(part for part in parts if part)


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
    pending: dict[str, Any] | None = None

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


def _records_in_result(data: Any, default_kind: str | None) -> list[Mention]:
    """Leads and deals named in a tool result (a dict, or a list of dicts under a common key)."""
    found: list[Mention] = []
    items: list[Any] = []
    if isinstance(data, dict):
        for key in ("records", "results", "items", "leads", "deals"):
            if isinstance(data.get(key), list):
                items.extend(data[key])
        if not items:
            items = [data]
    elif isinstance(data, list):
        items = data
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("entity") or item.get("kind") or default_kind
        if item.get("deal_id") is not None and kind not in ("lead",):
            kind = "deal"
        if kind not in ("lead", "deal"):
            continue
        ident = _int(item.get(f"{kind}_id")) or _int(item.get("id"))
        name = item.get(f"{kind}_name") or item.get("name")
        found.append(Mention(kind, name if isinstance(name, str) else None, ident))
    return found


def read_context(messages: list[BaseMessage]) -> ConversationContext:
    """Scan the history (everything before the latest human message) for records, drafts and a pending question."""
    ctx = ConversationContext()
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=len(messages))
    for message in messages[:last_human]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                calls[call.get("id") or ""] = (call["name"], call["args"])
                mention = _record_from_args(call["name"], call["args"])
                if mention:
                    ctx.mentions.append(mention)
        elif isinstance(message, ToolMessage):
            name, args = calls.get(message.tool_call_id, (message.name or "", {}))
            if getattr(message, "status", "success") == "error":
                continue
            data = tool_result(message)
            if isinstance(data, dict) and (data.get("error") or data.get("ok") is False):
                continue
            if name == "draft_follow_up" and isinstance(data, dict):
                ctx.last_draft_id = _int(data.get("message_id")) or _int(data.get("id"))
                ctx.draft_record = args.get("deal_name") or args.get("lead_name")
            elif name == "send_follow_up":
                ctx.last_draft_id = None  # already sent (or decided): "send it" again needs a new draft
            default_kind = {"create_lead": "lead", "score_lead": "lead", "qualify_lead": "lead"}.get(name)
            default_kind = default_kind or ("deal" if name == "move_deal" else None)
            if name == "find_records":
                default_kind = args.get("entity")
            records = _records_in_result(data, default_kind)
            if name == "find_records":
                ctx.last_records = records
            if name == "create_lead" and records:
                records = [Mention("lead", records[0].name or args.get("name"), records[0].id)]
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
