"""Short, factual answers composed from tool results (JSON). Actions are claimed only with their receipt; an
error result is reported as an error, never as success. Numbers go through ``agent.offline.format``.
"""

from __future__ import annotations

from typing import Any

from agent.offline.format import days, money, number, percent

_RECEIPT_KEYS = ("receipt", "receipt_id", "audit_event_id", "audit_id")
_MONEY_HINTS = (
    "amount",
    "total",
    "value",
    "revenue",
    "weighted",
    "forecast",
    "pipeline",
    "commit",
    "best_case",
    "won_amount",
)
_RATE_HINTS = ("rate", "probability", "conversion", "ratio", "share", "percent")
_DAY_HINTS = ("days", "cycle", "duration", "age")
_ACTIONS = {
    "create_lead": "create the lead",
    "qualify_lead": "qualify the lead",
    "move_deal": "move the deal",
    "log_interaction": "log the interaction",
    "create_task": "create the task",
    "draft_follow_up": "draft the follow-up",
    "send_follow_up": "send the follow-up",
    "find_records": "find records",
    "score_lead": "score the lead",
    "list_tasks": "list the tasks",
    "pipeline_question": "answer the pipeline question",
    "bottleneck_analysis": "analyse bottlenecks",
    "forecast": "build the forecast",
    "search_interactions": "search the interactions",
}
MAX_ROWS = 10


def receipt_of(data: Any) -> Any:
    if isinstance(data, dict):
        for key in _RECEIPT_KEYS:
            if data.get(key) is not None:
                return data[key]
    return None


def error_of(data: Any, raw: str, status: str | None) -> str | None:
    """The error a result reports, if any: an error status, an ``error`` field, or a non-JSON error text."""
    if isinstance(data, dict):
        for key in ("error", "error_message", "detail"):
            if data.get(key):
                return str(data[key])
        if data.get("ok") is False:
            return str(data.get("message") or "the tool reported a failure")
        if status == "error":
            return str(data.get("message") or raw)
        return None
    if status == "error" or (isinstance(data, str) and raw.strip().lower().startswith(("error", "traceback"))):
        return raw.strip().removeprefix("Error:").strip() or "unknown error"
    return None


def fmt_value(key: str, value: Any, currency: str = "USD") -> str:
    """Format a value by what its key says it is: money, a rate, days, a count, or text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        lowered = key.lower()
        if any(hint in lowered for hint in _RATE_HINTS):
            return percent(value if abs(value) <= 1 else value / 100)
        if any(hint in lowered for hint in _DAY_HINTS):
            return days(value)
        if any(hint in lowered for hint in _MONEY_HINTS):
            return money(value, currency)
        return number(value, 0 if float(value).is_integer() else 1)
    if isinstance(value, list):
        return ", ".join(fmt_value(key, item, currency) for item in value[:MAX_ROWS])
    return str(value)


def _currency(data: Any) -> str:
    return str(data.get("currency") or "USD") if isinstance(data, dict) else "USD"


def _ident(data: dict[str, Any], kind: str) -> Any:
    return data.get(f"{kind}_id") or data.get("id")


def _receipt_suffix(data: Any) -> str:
    receipt = receipt_of(data)
    return f" (receipt {receipt})" if receipt is not None else ""


def compose(tool: str, args: dict[str, Any], data: Any, raw: str, status: str | None = None) -> str:
    """One short answer for one tool result."""
    error = error_of(data, raw, status)
    if error:
        action = _ACTIONS.get(tool, tool.replace("_", " "))
        return f"I couldn't {action}: {error}"
    if not isinstance(data, dict | list):
        return f"{raw.strip()}" if raw.strip() else "Done."
    composer = _COMPOSERS.get(tool, _generic)
    return composer(args, data)


def _action_needs_receipt(text: str, data: Any) -> str:
    """An action answer without a receipt would be a claim we cannot back: say what happened, honestly."""
    if receipt_of(data) is None:
        return text + " (no receipt was returned, so I can't confirm it was recorded)"
    return text + _receipt_suffix(data)


def _pending(data: Any) -> str | None:
    if isinstance(data, dict) and str(data.get("status", "")).lower() in (
        "pending",
        "pending_approval",
        "awaiting_approval",
    ):
        ident = data.get("approval_id") or data.get("id")
        return f"That needs approval; request {ident} is waiting for a decision." if ident else "That needs approval."
    if isinstance(data, dict) and str(data.get("status", "")).lower() in ("rejected", "expired"):
        reason = data.get("reason") or data.get("message")
        return f"That was {data['status']}" + (f": {reason}" if reason else ".")
    return None


def _create_lead(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    name = data.get("name") or args.get("name")
    company = data.get("company") or args.get("company")
    who = f"{name}" + (f" ({company})" if company else "")
    ident = _ident(data, "lead")
    if data.get("duplicate_of") or data.get("duplicate") or data.get("merged_into"):
        existing = data.get("duplicate_of") or data.get("merged_into") or ident
        text = f"{who} is already lead #{existing}; I updated that record instead of creating a duplicate"
    else:
        text = f"Created lead #{ident} {who}"
    owner = data.get("owner_name") or data.get("owner") or data.get("assigned_to")
    if owner:
        text += f", assigned to {owner}"
    return _action_needs_receipt(text, data) + "."


def _score_lead(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    name = data.get("name") or data.get("lead_name") or args.get("lead_name") or f"#{_ident(data, 'lead')}"
    score = data.get("score")
    band = data.get("band") or data.get("score_band")
    text = f"Lead {name} scores {number(score, 0 if float(score).is_integer() else 1) if isinstance(score, int | float) else score}"
    if isinstance(score, int | float) and score <= 1:
        text = f"Lead {name} has a {percent(score)} conversion score"
    if band:
        text += f" ({band})"
    reasons = data.get("reasons") or data.get("top_factors") or data.get("explanation")
    if isinstance(reasons, list) and reasons:
        shown = [r if isinstance(r, str) else str(r.get("text") or r.get("feature") or r) for r in reasons[:3]]
        text += ". Main factors: " + "; ".join(shown)
    elif isinstance(reasons, str):
        text += f". {reasons}"
    return text + _receipt_suffix(data) + "."


def _qualify(args: dict[str, Any], data: Any) -> str:
    pending = _pending(data)
    if pending:
        return pending
    if not isinstance(data, dict):
        return _generic(args, data)
    name = data.get("name") or data.get("lead_name") or args.get("lead_name") or f"#{_ident(data, 'lead')}"
    text = f"Qualified lead {name}"
    if data.get("deal_id"):
        text += f" and opened deal #{data['deal_id']}"
    return _action_needs_receipt(text, data) + "."


def _move_deal(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    name = data.get("name") or data.get("deal_name") or args.get("deal_name") or ""
    ident = _ident(data, "deal")
    to_stage = data.get("to_stage") or data.get("stage") or args.get("to_stage")
    from_stage = data.get("from_stage")
    text = f"Moved deal #{ident} {name}".rstrip() + (f" from {from_stage}" if from_stage else "") + f" to {to_stage}"
    if data.get("amount") is not None and to_stage == "Won":
        text += f" at {money(data['amount'], _currency(data))}"
    return _action_needs_receipt(text, data) + "."


def _log_interaction(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    channel = data.get("channel") or args.get("channel") or "note"
    record = data.get("deal_name") or data.get("lead_name") or args.get("deal_name") or args.get("lead_name") or ""
    ident = data.get("interaction_id") or data.get("id")
    text = f"Logged the {channel}" + (f" on {record}" if record else "") + (f" (interaction #{ident})" if ident else "")
    return _action_needs_receipt(text, data) + "."


def _create_task(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    title = data.get("title") or args.get("title")
    due = data.get("due_date") or args.get("due_date")
    text = f'Created task #{_ident(data, "task")} "{title}"' + (f" due {due}" if due else "")
    owner = data.get("owner_name") or data.get("owner")
    if owner and owner != "me":
        text += f" for {owner}"
    return _action_needs_receipt(text, data) + "."


def _draft(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    ident = data.get("message_id") or data.get("id")
    to = data.get("to") or data.get("to_address")
    subject = data.get("subject")
    text = f"Drafted message #{ident}" + (f" to {to}" if to else "") + (f': "{subject}"' if subject else "")
    text = _action_needs_receipt(text, data) + "."
    body = data.get("body")
    if isinstance(body, str) and body.strip():
        text += "\n\n" + body.strip()
    return text + '\n\nSay "send it" to send it; sending needs approval.'


def _send(args: dict[str, Any], data: Any) -> str:
    pending = _pending(data)
    if pending:
        return pending
    if not isinstance(data, dict):
        return _generic(args, data)
    ident = data.get("message_id") or data.get("id") or args.get("message_id")
    status = str(data.get("status") or "").lower()
    to = data.get("to") or data.get("to_address")
    if status in ("queued", "outbox", "recorded"):
        text = f"Message #{ident} is recorded in the outbox but was not delivered (no mail channel is configured)"
    elif status in ("failed",):
        return (
            f"I couldn't send message #{ident}: {data.get('error') or 'delivery failed'}" + _receipt_suffix(data) + "."
        )
    else:
        text = f"Sent message #{ident}" + (f" to {to}" if to else "")
    return _action_needs_receipt(text, data) + "."


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    if isinstance(data, dict):
        for key in ("rows", "records", "results", "items", "tasks", "groups", "stages", "segments", "matches", "hits"):
            if isinstance(data.get(key), list):
                return [row for row in data[key] if isinstance(row, dict)]
    return []


def _describe(row: dict[str, Any], currency: str) -> str:
    name_key = next((k for k in ("name", "title", "deal_name", "lead_name", "subject") if row.get(k)), None)
    head = str(row[name_key]) if name_key else ""
    ident = row.get("id")
    if ident is not None and name_key:
        head = f"#{ident} {head}"
    skip = {name_key, "id", "currency", "receipt", "receipt_id", "text", "snippet", "body"}
    details = [
        f"{k.replace('_', ' ')} {fmt_value(k, v, currency)}"
        for k, v in row.items()
        if k not in skip and v not in (None, "", [])
    ]
    snippet = row.get("snippet") or row.get("text") or row.get("body")
    text = head + (f" ({', '.join(details[:5])})" if details else "")
    if isinstance(snippet, str) and snippet.strip():
        short = " ".join(snippet.split())
        text += f': "{short[:200]}{"…" if len(short) > 200 else ""}"'
    return text.strip()


def _listing(noun: str, args: dict[str, Any], data: Any) -> str:
    rows = _rows(data)
    currency = _currency(data)
    if not rows:
        return f"No {noun} found."
    total: int = len(rows)
    if isinstance(data, dict) and isinstance(data.get("total"), int):
        total = data["total"]
    lines = [f"- {_describe(row, currency)}" for row in rows[:MAX_ROWS]]
    more = f"\n…and {total - MAX_ROWS} more." if total > MAX_ROWS else ""
    return f"Found {number(total)} {noun if total != 1 else noun.rstrip('s')}:\n" + "\n".join(lines) + more


def _find(args: dict[str, Any], data: Any) -> str:
    entity = str(args.get("entity") or "record")
    return _listing(f"{entity}s", args, data)


def _tasks(args: dict[str, Any], data: Any) -> str:
    rows = _rows(data)
    if not rows:
        return "No open tasks match." if args.get("status", "open") == "open" else "No tasks match."
    lines = []
    for row in rows[:MAX_ROWS]:
        due = row.get("due_date")
        lines.append(f"- #{row.get('id')} {row.get('title')}" + (f" (due {due})" if due else ""))
    more = f"\n…and {len(rows) - MAX_ROWS} more." if len(rows) > MAX_ROWS else ""
    return f"You have {len(rows)} task{'s' if len(rows) != 1 else ''}:\n" + "\n".join(lines) + more


_METRIC_NAMES = {
    "count": "Deals",
    "total_amount": "Total amount",
    "avg_amount": "Average deal size",
    "win_rate": "Win rate",
    "avg_cycle_days": "Average sales cycle",
    "stage_conversion": "Stage conversion",
}


def _metric_value(metric: str, value: Any, currency: str) -> str:
    if value is None:
        return "n/a"
    if metric in ("total_amount", "avg_amount"):
        return money(value, currency)
    if metric in ("win_rate", "stage_conversion"):
        return percent(value)
    if metric == "avg_cycle_days":
        return days(value)
    return number(value)


def _pipeline(args: dict[str, Any], data: Any) -> str:
    metric = str((data.get("metric") if isinstance(data, dict) else None) or args.get("metric") or "count")
    currency = _currency(data)
    label = _METRIC_NAMES.get(metric, metric.replace("_", " ").capitalize())
    scope = data.get("period_label") or data.get("period") or args.get("period") if isinstance(data, dict) else None
    suffix = f" ({scope})" if scope else ""
    rows = _rows(data)
    value_key = "value"
    if rows and not args.get("group_by") and len(rows) == 1 and value_key in rows[0]:
        return f"{label}{suffix}: {_metric_value(metric, rows[0][value_key], currency)}."
    if isinstance(data, dict) and value_key in data and not rows:
        return f"{label}{suffix}: {_metric_value(metric, data[value_key], currency)}."
    if not rows:
        return f"{label}{suffix}: no deals match."
    lines = []
    for row in rows[: MAX_ROWS * 2]:
        group = row.get("group") or row.get("key") or row.get("label")
        if group is None:
            group = " / ".join(
                str(v)
                for k, v in row.items()
                if k not in ("value", "count", "deals", "n") and not isinstance(v, int | float)
            )
        extra = ""
        count = row.get("deals") if row.get("deals") is not None else row.get("count") if metric != "count" else None
        if isinstance(count, int):
            extra = f" ({number(count)} deal{'s' if count != 1 else ''})"
        lines.append(f"- {group or 'all'}: {_metric_value(metric, row.get(value_key), currency)}{extra}")
    return f"{label}{suffix}:\n" + "\n".join(lines)


def _generic(args: dict[str, Any], data: Any) -> str:
    pending = _pending(data)
    if pending:
        return pending
    rows = _rows(data)
    currency = _currency(data)
    parts: list[str] = []
    if isinstance(data, dict):
        summary = data.get("summary") or data.get("answer") or data.get("message")
        if isinstance(summary, str) and summary.strip():
            parts.append(summary.strip())
        scalars = {
            k: v
            for k, v in data.items()
            if isinstance(v, int | float | str)
            and not isinstance(v, bool)
            and k not in ("summary", "answer", "message", "currency", *_RECEIPT_KEYS)
        }
        if scalars and not parts:
            parts.append(
                "; ".join(f"{k.replace('_', ' ')}: {fmt_value(k, v, currency)}" for k, v in list(scalars.items())[:8])
            )
    if rows:
        parts.append("\n".join(f"- {_describe(row, currency)}" for row in rows[:MAX_ROWS]))
    if not parts:
        parts.append("Done." if data else "Nothing found.")
    text = "\n".join(parts)
    return text + _receipt_suffix(data) if receipt_of(data) is not None else text


def _search(args: dict[str, Any], data: Any) -> str:
    rows = _rows(data)
    if not rows:
        return f'I found nothing in the notes and emails about "{args.get("query")}".'
    lines = []
    for row in rows[:MAX_ROWS]:
        when = str(row.get("occurred_at") or row.get("date") or "")[:10]
        where = row.get("deal_name") or row.get("account") or row.get("account_name") or row.get("lead_name") or ""
        channel = row.get("channel") or ""
        text = " ".join(str(row.get("snippet") or row.get("text") or row.get("body") or "").split())
        head = " · ".join(part for part in (when, str(where), str(channel)) if part)
        lines.append(f'- {head}: "{text[:200]}{"…" if len(text) > 200 else ""}"')
    return (
        f'Found {len(rows)} matching interaction{"s" if len(rows) != 1 else ""} for "{args.get("query")}":\n'
        + "\n".join(lines)
    )


def _forecast(args: dict[str, Any], data: Any) -> str:
    if not isinstance(data, dict):
        return _generic(args, data)
    currency = _currency(data)
    period = data.get("period_label") or data.get("period") or args.get("period")
    parts = [f"Forecast for {period}:"]
    for key in (
        "expected",
        "forecast",
        "weighted",
        "weighted_pipeline",
        "commit",
        "best_case",
        "closed_won",
        "won",
        "pipeline",
    ):
        if isinstance(data.get(key), int | float):
            parts.append(f"{key.replace('_', ' ')} {money(data[key], currency)}")
    low, high = data.get("low"), data.get("high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        parts.append(f"range {money(low, currency)}–{money(high, currency)}")
    text = parts[0] + (" " + ", ".join(parts[1:]) + "." if len(parts) > 1 else "")
    rows = _rows(data)
    if rows:
        text += "\n" + "\n".join(f"- {_describe(row, currency)}" for row in rows[:MAX_ROWS])
    if len(parts) == 1 and not rows:
        return _generic(args, data)
    return text


_COMPOSERS = {
    "create_lead": _create_lead,
    "score_lead": _score_lead,
    "qualify_lead": _qualify,
    "move_deal": _move_deal,
    "log_interaction": _log_interaction,
    "create_task": _create_task,
    "draft_follow_up": _draft,
    "send_follow_up": _send,
    "find_records": _find,
    "list_tasks": _tasks,
    "pipeline_question": _pipeline,
    "search_interactions": _search,
    "forecast": _forecast,
}
