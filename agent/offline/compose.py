"""Short, factual answers composed from tool results (the JSON of ``tools.results``). An action is claimed only
with its receipt; an error result is reported as an error, never as success. Numbers go through
``agent.offline.format``. Text fields from the store are quoted as data, never followed.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from agent.offline.format import days, money, number, percent

_RECEIPT_KEYS = ("receipt_id", "receipt", "audit_event_id")
_ACTIONS = {
    "create_lead": "create the lead",
    "qualify_lead": "qualify the lead",
    "move_deal": "move the deal",
    "log_interaction": "log the interaction",
    "create_task": "create the task",
    "draft_follow_up": "draft the follow-up",
    "send_follow_up": "send the follow-up",
    "edit_draft": "change the draft",
    "find_records": "find records",
    "score_lead": "score the lead",
    "list_tasks": "list the tasks",
    "pipeline_question": "answer the pipeline question",
    "bottleneck_analysis": "analyse bottlenecks",
    "forecast": "build the forecast",
    "search_interactions": "search the interactions",
    "edit_record": "make that change",
    "reopen_deal": "reopen the deal",
    "undo_last_change": "undo your last change",
    "stalled_deals": "list the stalled deals",
    "who_to_call": "rank who to call",
    "hot_leads": "list the hottest leads",
    "account_contacts": "list the account's contacts",
    "experiment_status": "report the experiment",
}
MAX_ROWS = 10


def receipt_of(data: Any) -> Any:
    if isinstance(data, dict):
        for key in _RECEIPT_KEYS:
            if data.get(key) is not None:
                return data[key]
    return None


def error_of(data: Any, raw: str, status: str | None) -> str | None:
    """The error a result reports, if any: an error status, an ``error`` field, or an error text."""
    if status == "error":
        if isinstance(data, dict):
            return str(data.get("error") or data.get("message") or raw).strip() or "the tool failed"
        return raw.strip().removeprefix("Error:").strip() or "the tool failed"
    if isinstance(data, dict):
        if data.get("error"):
            return str(data["error"])
        if data.get("ok") is False:
            return str(data.get("message") or "the tool reported a failure")
        return None
    if isinstance(data, str) and raw.strip().lower().startswith(("error", "traceback")):
        return raw.strip().removeprefix("Error:").strip() or "the tool failed"
    return None


def _receipt(data: Any) -> str:
    receipt = receipt_of(data)
    return f" (receipt #{receipt})" if receipt is not None else ""


def _claim(text: str, data: Any) -> str:
    """An action answer cites its receipt; without one it says the change could not be confirmed."""
    if receipt_of(data) is None:
        return f"{text}, but no receipt came back, so I can't confirm it was recorded."
    return f"{text}{_receipt(data)}."


def compose(tool: str, args: dict[str, Any], data: Any, raw: str, status: str | None = None) -> str:
    """One short answer for one tool result."""
    error = error_of(data, raw, status)
    if error:
        if error.startswith("not allowed: you can see only"):  # a permission limit, said as one
            limit = error.removeprefix("not allowed: ")
            return limit[:1].upper() + limit[1:].rstrip(".") + "."
        return f"I couldn't {_ACTIONS.get(tool, tool.replace('_', ' '))}: {error}"
    if not isinstance(data, dict):
        return raw.strip() or "Done."
    composer = _COMPOSERS.get(tool, _generic)
    try:
        text = composer(args, data)
    except (KeyError, TypeError, ValueError):  # an unexpected result shape: fall back to listing what came back
        text = _generic(args, data)
    # a missing number that reached a tool's text as NaN reads as "unknown", never as "nan"
    return re.sub(r"\b(?:nan|NaN)\b", "unknown", text)


def _currency(data: dict[str, Any]) -> str:
    return str(data.get("currency") or "USD")


def _create_lead(args: dict[str, Any], data: dict[str, Any]) -> str:
    name = data.get("name") or args.get("name")
    who = f"{name}" + (f" ({data['company']})" if data.get("company") else "")
    ident = data.get("lead_id")
    if data.get("created") is False:
        existing = data.get("duplicate_of") or ident
        text = f"{who} already exists as lead #{existing}; I updated that lead instead of adding a duplicate"
    else:
        text = f"Created lead #{ident} {who}"
    if data.get("owner_email"):
        text += f", owned by {data['owner_email']}"
    answer = _claim(text, data)
    if data.get("task_id"):
        answer += f" First-contact task #{data['task_id']} is on the owner's list."
    return answer


_SCORE_SENTENCE = re.compile(r"^(?:Rule-based score|Score) \d[\d.]*/100.*?\.(?=\s|$)\s*")


def _score_lead(args: dict[str, Any], data: dict[str, Any]) -> str:
    name = data.get("name") or args.get("lead_name") or f"#{data.get('lead_id')}"
    score = data.get("score")
    text = f"Lead {name} scores {number(score, 1)} out of 100" if score is not None else f"Lead {name} has no score"
    if data.get("band"):
        text += f" ({data['band']})"
    if score is not None and data.get("rule_based"):
        text += f" on rule points ({data.get('model_version') or 'no model'})"
    elif score is not None and data.get("model_version"):
        text += f": an estimated {number(score, 1)}% chance to convert according to model {data['model_version']}"
    text += "."
    if data.get("summary"):  # the tool's own explanation names the factors and the next step
        # said once: a summary that opens with the score again (an older tool's brief) loses that sentence
        summary = _SCORE_SENTENCE.sub("", str(data["summary"]).strip())
        text += f" {summary}" if summary else ""
    else:
        factors = data.get("factors") or []
        shown = [str(f.get("description") or f.get("feature")) for f in factors[:3] if isinstance(f, dict)]
        if shown:
            text += " Main factors: " + "; ".join(shown) + "."
        if data.get("next_action"):
            text += f" Next: {data['next_action']}."
    if data.get("receipt_id") is not None:
        text += f" Stored on the lead (receipt #{data['receipt_id']})."
    return text


def _qualify(args: dict[str, Any], data: dict[str, Any]) -> str:
    name = data.get("lead_name") or args.get("lead_name") or f"#{data.get('lead_id')}"
    text = f"Qualified lead {name}"
    if data.get("approved_by"):
        text += f" (approved by {data['approved_by']})"
    if data.get("deal_id"):
        text += f" and opened deal #{data['deal_id']} {data.get('deal_name') or ''}".rstrip()
        if data.get("stage"):
            text += f" in {data['stage']}"
        if data.get("amount") is not None:
            text += f" at {money(data['amount'], _currency(data))}"
    return _claim(text, data)


def _move_deal(args: dict[str, Any], data: dict[str, Any]) -> str:
    name = data.get("deal_name") or args.get("deal_name") or ""
    text = f"Moved deal #{data.get('deal_id')} {name}".rstrip()
    if data.get("from_stage"):
        text += f" from {data['from_stage']}"
    text += f" to {data.get('to_stage') or args.get('to_stage')}"
    if data.get("amount") is not None and data.get("to_stage") == "Won":
        text += f" at {money(data['amount'], _currency(data))}"
    return _claim(text, data)


def _log_interaction(args: dict[str, Any], data: dict[str, Any]) -> str:
    channel = data.get("channel") or args.get("channel") or "note"
    record = data.get("record_name") or args.get("deal_name") or args.get("lead_name")
    text = f"Logged the {channel}" + (f" on {record}" if record else "")
    if data.get("interaction_id"):
        text += f" as interaction #{data['interaction_id']}"
    return _claim(text, data)


def _create_task(args: dict[str, Any], data: dict[str, Any]) -> str:
    task: dict[str, Any] = data["task"] if isinstance(data.get("task"), dict) else data
    text = f'Created task #{task.get("id")} "{task.get("title") or args.get("title")}"'
    if task.get("due_date"):
        text += f" due {task['due_date']}"
    if task.get("owner_email") and args.get("owner") not in (None, "me"):
        text += f" for {task['owner_email']}"
    return _claim(text, data)


def _draft(args: dict[str, Any], data: dict[str, Any]) -> str:
    text = f"Drafted message #{data.get('message_id')}"
    if data.get("to"):
        text += f" to {data['to']}"
    if data.get("subject"):
        text += f': "{data["subject"]}"'
    answer = _claim(text, data)
    body = data.get("body")
    if isinstance(body, str) and body.strip():
        answer += "\n\n" + body.strip()
    return answer + '\n\nSay "send it" when it\'s ready; sending needs approval.'


def _edit_draft(args: dict[str, Any], data: dict[str, Any]) -> str:
    changed = [str(name) for name in data.get("changed") or []]
    ident = data.get("message_id") or args.get("message_id")
    if not changed:
        return _claim(f"Draft #{ident} already reads that way, so nothing changed", data)
    done = ["changed the subject"] if "subject" in changed else []
    if "tone" in changed:
        done.append("made it friendlier" if args.get("tone") == "friendly" else "made it more formal")
    if "length" in changed:
        done.append("made it shorter")
    if "body" in changed and not {"tone", "length"} & set(changed):
        done.append("replaced the text")
    said = ", ".join(done[:-1]) + (" and " if len(done) > 1 else "") + done[-1] if done else "changed it"
    text = f"Updated draft #{ident} ({said})"
    if data.get("subject"):
        text += f': "{data["subject"]}"'
    answer = _claim(text, data)
    body = data.get("body")
    if isinstance(body, str) and body.strip():
        answer += "\n\n" + body.strip()
    if data.get("withdrawn_approval_id"):
        withdrawn = data["withdrawn_approval_id"]
        answer += f"\n\nThe send request (approval #{withdrawn}) was for the old text, so it was withdrawn."
    return answer + '\n\nSay "send it" when it\'s ready; sending needs approval.'


def _send(args: dict[str, Any], data: dict[str, Any]) -> str:
    ident = data.get("message_id") or args.get("message_id")
    status = str(data.get("status") or "").lower()
    to = f" to {data['to']}" if data.get("to") else ""
    if status == "failed":
        note = data.get("note") or "delivery failed"
        return f"Message #{ident}{to} was approved but NOT delivered: {note}{_receipt(data)}."
    approved = f" by {data['approved_by']}" if data.get("approved_by") else ""
    if status == "queued" or data.get("delivered") is False:
        note = data.get("note") or "recorded in the outbox, not delivered"
        text = f"Message #{ident}{to} was approved{approved} and {note}"
    else:
        text = f"Sent message #{ident}{to}" + (f" (approved{approved})" if approved else "")
    return _claim(text, data)


def _record_line(row: dict[str, Any]) -> str:
    currency = str(row.get("currency") or "USD")
    head = f"#{row.get('id')} {row.get('name')}"
    details = [str(row[key]) for key in ("type", "company", "stage", "status") if row.get(key)]
    if row.get("amount") is not None:
        details.append(money(row["amount"], currency))
    if row.get("score") is not None:
        details.append(f"score {number(row['score'], 1)}")
    if row.get("due_date"):
        details.append(f"due {row['due_date']}")
    if row.get("days_in_stage") is not None:
        details.append(f"{number(row['days_in_stage'], 0)} days in {row.get('stage') or 'its stage'}")
    if row.get("owner_email"):
        details.append(f"owner {row['owner_email']}")
    return head + (f" ({', '.join(details)})" if details else "")


def _find(args: dict[str, Any], data: dict[str, Any]) -> str:
    records = [row for row in data.get("records") or [] if isinstance(row, dict)]
    entity = str(data.get("entity") or args.get("entity") or "record")
    scope = _find_scope(args)
    if not records:
        return f"I found no matching {entity}s{scope}."
    total: int = data["total"] if isinstance(data.get("total"), int) else len(records)
    if args.get("limit") == 1:
        total = len(records)  # "the latest lead" is one lead, however many there are
    lines = [f"- {_record_line(row)}" for row in records[:MAX_ROWS]]
    more = f"\n…and {number(total - len(lines))} more." if total > len(lines) else ""
    noun = entity if total == 1 else f"{entity}s"
    return f"Found {number(total)} {noun}{scope}:\n" + "\n".join(lines) + more


def _find_scope(args: dict[str, Any]) -> str:
    """What the search was, in words: " (owner me, open, expected to close this month)"."""
    parts = []
    if args.get("query"):
        parts.append(f'matching "{args["query"]}"')
    if args.get("owner"):
        parts.append("yours" if args["owner"] == "me" else f"owner {args['owner']}")
    for key in ("status", "stage"):
        if args.get(key):
            parts.append(str(args[key]))
    if args.get("closing"):
        parts.append(f"expected to close {args['closing']}")
    if args.get("closed"):
        parts.append(f"closed {args['closed']}")
    if args.get("created"):
        parts.append(f"created {args['created']}")
    for key in ("industry", "product", "region", "source"):
        if args.get(key):
            parts.append(f"{key} {args[key]}")
    code = str(args.get("amount_currency") or "")
    if args.get("amount_min") is not None:
        parts.append(f"amount at least {money(args['amount_min'], code) if code else number(args['amount_min'])}")
    if args.get("amount_max") is not None:
        parts.append(f"amount at most {money(args['amount_max'], code) if code else number(args['amount_max'])}")
    if args.get("longest_in_stage"):
        parts.append("longest in their stage first" if args.get("limit") != 1 else "the longest in its stage")
    elif args.get("largest_first"):
        parts.append("largest amount first" if args.get("limit") != 1 else "the largest")
    elif args.get("limit") == 1:
        parts.append("the latest")
    return f" ({', '.join(parts)})" if parts else ""


def _tasks(args: dict[str, Any], data: dict[str, Any]) -> str:
    tasks = [row for row in data.get("tasks") or [] if isinstance(row, dict)]
    if not tasks:
        return "No tasks match." if args.get("status") not in (None, "open") else "No open tasks match."
    total: int = data["total"] if isinstance(data.get("total"), int) else len(tasks)
    lines = []
    for task in tasks[:MAX_ROWS]:
        due = f" (due {task['due_date']}{', overdue' if task.get('overdue') else ''})" if task.get("due_date") else ""
        lines.append(f"- #{task.get('id')} {task.get('title')}{due}")
    more = f"\n…and {number(total - len(lines))} more." if total > len(lines) else ""
    return f"{number(total)} task{'s' if total != 1 else ''}:\n" + "\n".join(lines) + more


_METRIC_NAMES = {
    "count": "Deals",
    "total_amount": "Total amount",
    "avg_amount": "Average deal size",
    "median_amount": "Median deal size",
    "win_rate": "Win rate",
    "avg_cycle_days": "Average sales cycle",
    "median_cycle_days": "Median sales cycle",
    "stage_conversion": "Stage conversion",
    "funnel_conversion": "Funnel conversion",
    "lead_to_deal": "Lead-to-deal conversion",
    "time_to_first_touch": "Time to first touch",
    "first_reply_rate": "Reply rate to the first email",
    "reply_interest_rate": "Interest after a reply",
    "revenue_per_closer_hour": "Revenue per closer hour",
}
_UNITS = {
    "count": "deals",
    "total_amount": "currency",
    "avg_amount": "currency",
    "median_amount": "currency",
    "win_rate": "ratio",
}
_UNITS |= {"avg_cycle_days": "days", "median_cycle_days": "days", "stage_conversion": "ratio"}
_UNITS |= {"funnel_conversion": "ratio", "lead_to_deal": "ratio", "time_to_first_touch": "days"}
_UNITS |= {"first_reply_rate": "ratio", "reply_interest_rate": "ratio", "revenue_per_closer_hour": "currency"}


def _metric_value(unit: str, value: Any, currency: str) -> str:
    if value is None:
        return "n/a"
    if unit == "currency":
        return money(value, currency)
    if unit == "ratio":
        return percent(value)
    if unit == "days":
        return days(value)
    return number(value)


_COMPARED_KEYS = ("period", "open_on", "owner", "team", "region", "product", "account", "industry", "source", "stage")


def _unfinished(data: dict[str, Any], today: date | None) -> str | None:
    """ "2026-10-01 to 2026-12-31 is 68 of 92 days in": a period that has not ended, so it is not compared whole."""
    filters = data.get("filters") or {}
    try:
        start, end = date.fromisoformat(str(filters["date_from"])), date.fromisoformat(str(filters["date_to"]))
    except (KeyError, ValueError):
        return None
    if today is None or not start <= today < end - timedelta(days=1):
        return None
    label = filters.get("period") or f"{start.isoformat()} to {(end - timedelta(days=1)).isoformat()}"
    return f"{label} is not over ({(today - start).days + 1} of {(end - start).days} days so far)"


def stated_difference(
    answered: list[tuple[str, dict[str, Any], Any]], today: date | None = None, *, excluding: str | None = None
) -> str | None:
    """ "last month versus the month before", "Priya compared with Sam": when one pipeline question was answered
    for two periods or two values of one filter (the same figure, ungrouped, in one currency), the difference
    between them, so the comparison asked for is stated."""
    asked = [(args, data) for tool, args, data in answered if tool == "pipeline_question" and isinstance(data, dict)]
    if len(asked) != 2:
        return None
    (args_a, data_a), (args_b, data_b) = asked
    differ = [k for k in sorted(set(args_a) | set(args_b)) if args_a.get(k) != args_b.get(k)]
    if differ == ["status"] and args_b.get("status") == "closed" and args_a.get("metric") in _ADDITIVE:
        return _share_of_closed(args_a, data_a, data_b)  # "what percentage of deals did Anna lose"
    if differ and set(differ) <= {"amount_min", "amount_max"} and not data_a.get("group_by"):
        return _bands_compared(args_a, data_a, args_b, data_b)  # "over 50k compared with under 50k"
    if len(differ) != 1 or differ[0] not in _COMPARED_KEYS or data_a.get("group_by") or data_b.get("group_by"):
        return None  # one thing compared (two periods, two reps, two products), the rest the same
    (key,) = differ
    if key == "open_on":  # the pipeline now against the pipeline as it stood on a past day
        args_a = {**args_a, "open_on": args_a.get("open_on") or "now"}
        args_b = {**args_b, "open_on": args_b.get("open_on") or "now"}
    if args_a.get(key) is None and args_b.get(key) is None:
        return None
    if args_a.get(key) is None:  # the whole first: the part is the one that names the value
        (args_a, data_a), (args_b, data_b) = (args_b, data_b), (args_a, data_a)
    figures = _figures(data_a, data_b)
    if figures is None:
        return None
    value_a, value_b, unit, currency = figures
    first = _compared_value(key, args_a.get(key))
    if args_b.get(key) is None and excluding == key and args_a.get("metric") in _ADDITIVE:
        rest = value_b - value_a  # "everyone except Sam": the whole less Sam's part
        return (
            f"Excluding {first}: {_metric_value(unit, value_b, currency)} in all, less "
            f"{_metric_value(unit, value_a, currency)} for {first}, leaves {_metric_value(unit, rest, currency)}."
        )
    if args_b.get(key) is None:  # one side is everyone: the part's share of the whole, or the part against it
        return _against_everyone(key, first, unit, currency, value_a, value_b, args_a, data_b)
    second = _compared_value(key, args_b.get(key))
    change = _change(unit, value_a, value_b, currency)
    unfinished = [u for u in (_unfinished(data_a, today), _unfinished(data_b, today)) if u] if key == "period" else []
    caveat = f" Note: {'; '.join(unfinished)}." if unfinished else ""
    if key == "open_on":
        then = f"at the end of {second}" if second != "now" else "now"
        return (
            f"Compared: the pipeline {'now' if first == 'now' else f'at the end of {first}'} "
            f"{_metric_value(unit, value_a, currency)} against {_metric_value(unit, value_b, currency)} {then}, "
            f"a change of {change}. Note: the deals then are valued at today's amounts (no amount history is kept)."
        )
    return (
        f"Compared: {first} {_metric_value(unit, value_a, currency)} against {second} "
        f"{_metric_value(unit, value_b, currency)}, a {'change' if key in ('period', 'open_on') else 'difference'} "
        f"of {change}.{caveat}"
    )


def _figures(data_a: dict[str, Any], data_b: dict[str, Any]) -> tuple[float, float, str, str] | None:
    """The two answers' overall figures, their unit and currency, or None when they cannot be set side by side
    (a figure missing, another unit, amounts in two currencies)."""
    total_a, total_b = data_a.get("total") or {}, data_b.get("total") or {}
    value_a, value_b = total_a.get("value"), total_b.get("value")
    unit = str(data_a.get("unit") or "")
    if value_a is None or value_b is None or unit != data_b.get("unit"):
        return None
    if unit == "currency" and total_a.get("currency") != total_b.get("currency"):
        return None
    return float(value_a), float(value_b), unit, str(total_a.get("currency") or data_a.get("currency") or "")


def _change(unit: str, value_a: float, value_b: float, currency: str) -> str:
    """The first figure less the second: percentage points for rates, else the amount and the relative change."""
    diff = value_a - value_b
    if unit == "ratio":
        return f"{diff * 100:+.1f} percentage points"
    change = f"{'+' if diff >= 0 else '-'}{_metric_value(unit, abs(diff), currency)}"
    return change + (f" ({diff / abs(value_b) * 100:+.1f}%)" if value_b else "")


def _share_of_closed(args: dict[str, Any], data: dict[str, Any], closed: dict[str, Any]) -> str | None:
    """The lost (or won) deals' share of the closed ones: "Share: lost is 128 of 400 closed deals, 32.0%"."""
    figures = None if data.get("group_by") else _figures(data, closed)
    if figures is None:
        return None
    part, whole, unit, currency = figures
    status = str(args.get("status"))
    what = "closed deals" if unit != "currency" else "the closed deals' amount"
    if not whole:
        return f"Share: no deals closed here, so there is no share {status}."
    return (
        f"Share: {status} is {_metric_value(unit, part, currency)} of {_metric_value(unit, whole, currency)} {what} "
        f"(won or lost), {part / whole * 100:.1f}%."
    )


def _band(args: dict[str, Any]) -> str:
    low, high = args.get("amount_min"), args.get("amount_max")
    if low is not None and high is not None:
        return f"deals of {number(low)} to {number(high)}"
    return f"deals of at least {number(low)}" if low is not None else f"deals of at most {number(high)}"


def _bands_compared(
    args_a: dict[str, Any], data_a: dict[str, Any], args_b: dict[str, Any], data_b: dict[str, Any]
) -> str | None:
    """Two amount bands of one figure ("win rate under 10k vs over 50k"): the difference between them."""
    figures = None if data_b.get("group_by") else _figures(data_a, data_b)
    if figures is None:
        return None
    value_a, value_b, unit, currency = figures
    return (
        f"Compared: {_band(args_a)} {_metric_value(unit, value_a, currency)} against {_band(args_b)} "
        f"{_metric_value(unit, value_b, currency)}, a difference of {_change(unit, value_a, value_b, currency)}."
    )


def _compared_value(key: str, value: Any) -> str:
    if key == "owner" and str(value).lower() in ("me", "my", "i"):
        return "you"
    return str(value).replace("_", " ") if key == "source" else str(value)


_ADDITIVE = ("count", "total_amount")
"""Figures whose parts add up to the whole, so a part is a share of it."""


def _against_everyone(
    key: str, part: str, unit: str, currency: str, value: float, whole: float, args: dict[str, Any], data: Any
) -> str:
    """ "Proposal is 36.1% of the open pipeline"; for a rate or an average, the part against everyone's."""
    computed = str(data.get("computed") or "").strip() if isinstance(data, dict) else ""
    additive = args.get("metric") in _ADDITIVE
    fallback = f"the same figure without the {key} filter" if additive else f"everyone's, without the {key} filter"
    described = f"{computed[:1].lower()}{computed[1:]}" if computed else fallback
    whole_text = f"{_metric_value(unit, whole, currency)} ({described})"
    if additive:
        if not whole:
            return f"Share: {part} {_metric_value(unit, value, currency)} of {whole_text}: the whole is zero."
        return f"Share: {part} is {_metric_value(unit, value, currency)} of {whole_text}, {value / whole * 100:.1f}%."
    diff = value - whole
    if unit == "ratio":
        change = f"{diff * 100:+.1f} percentage points"
    else:
        change = ("+" if diff >= 0 else "-") + _metric_value(unit, abs(diff), currency)
    return (
        f"Compared: {part} {_metric_value(unit, value, currency)} against {whole_text}, {part} included, "
        f"a difference of {change}."
    )


def _group_label(group: Any) -> str:
    if isinstance(group, dict):
        return " / ".join("(none)" if value is None else str(value) for value in group.values()) or "all"
    return str(group)


def _not_compared(data: dict[str, Any]) -> str:
    """The deals an amount filter left out because their currency is not the threshold's, in words; or ""."""
    skipped = {str(k): v for k, v in (data.get("not_compared") or {}).items() if isinstance(v, int) and v > 0}
    filters = data.get("filters") or {}
    code = str(filters.get("amount_currency") or "")
    if not skipped or not code:
        return ""
    low, high = filters.get("amount_min"), filters.get("amount_max")
    if low is not None and high is not None:
        threshold = f"{money(low, code)} to {money(high, code)}"
    elif low is not None:
        threshold = f"at least {money(low, code)}"
    else:
        threshold = f"at most {money(high, code)}"
    left_out = " and ".join(f"{number(n)} {cur} deal{'s' if n != 1 else ''}" for cur, n in skipped.items())
    verb = "was" if sum(skipped.values()) == 1 else "were"
    return (
        f"\nOnly {code} deals were compared with the amount threshold ({threshold}); {left_out} {verb} left out: "
        "amounts in different currencies are not compared (no exchange rates)."
    )


def _pipeline(args: dict[str, Any], data: dict[str, Any]) -> str:
    notes = [str(n) for n in data.get("notes") or [] if str(n).strip()]
    told = "".join(f"\n{n[:1].upper()}{n[1:]}." for n in notes)  # what a funnel figure leaves out, or why it has none
    return _pipeline_answer(args, data) + _not_compared(data) + _no_reasons(data) + told


def _counted(data: dict[str, Any], n: int) -> str:
    """What a row's count counts, in the number's grammar: "1 deal", "12 leads emailed", "1 lead emailed"."""
    noun = str(data.get("counted") or "deals")
    return re.sub(r"\b(lead|deal)s\b", r"\1", noun, count=1) if n == 1 else noun


def _no_reasons(data: dict[str, Any]) -> str:
    """Lost deals grouped by reason where none was recorded (an import without reasons) say so."""
    rows = [row for row in data.get("rows") or [] if isinstance(row, dict)]
    groups: list[dict[str, Any]] = [row["group"] for row in rows if isinstance(row.get("group"), dict)]
    if rows and groups and all("loss_reason" in g and g["loss_reason"] is None for g in groups):
        return "\nNo loss reason is recorded on these deals, so they cannot be told apart by why they were lost."
    return ""


def _pipeline_answer(args: dict[str, Any], data: dict[str, Any]) -> str:
    metric = str(data.get("metric") or args.get("metric") or "count")
    unit = str(data.get("unit") or _UNITS.get(metric, "deals"))
    currency = str((data.get("filters") or {}).get("currency") or data.get("currency") or "USD")
    label = _METRIC_NAMES.get(metric, metric.replace("_", " ").capitalize())
    filters = data.get("filters") or {}
    scope = filters.get("period_label") or filters.get("period") or args.get("period")
    computed = str(data.get("computed") or "").strip()
    # the tool's own words for what it computed, so a misreading shows; older results: the metric and period
    title = computed[:1].upper() + computed[1:] if computed else label + (f" ({scope})" if scope else "")
    rows = [row for row in data.get("rows") or [] if isinstance(row, dict)]
    total = data.get("total") if isinstance(data.get("total"), dict) else None

    def with_count(row: dict[str, Any]) -> str:
        value = _metric_value(unit, row.get("value"), str(row.get("currency") or currency))
        if metric == "revenue_per_closer_hour" and row.get("value") is not None:
            value += " per selling hour"
        deals = row.get("deals")
        if unit != "deals" and isinstance(deals, int):
            value += f" over {number(deals)} {_counted(data, deals)}"
        return value

    # amounts in several currencies: one figure per currency, never a sum or average across them
    per_currency = [row for row in data.get("amounts_by_currency") or [] if isinstance(row, dict)]
    overall: str | None = None
    if len(per_currency) > 1:
        overall = (" + " if metric == "total_amount" else "; ").join(with_count(row) for row in per_currency)
    elif total is not None and total.get("value") is not None:
        overall = with_count(total)
    if not (data.get("group_by") or args.get("group_by")):
        row = total or (rows[0] if rows else None)
        if row is None or (row.get("deals") == 0 and unit != "deals"):
            return f"{title}: no {_counted(data, 0)} match."
        return f"{title}: {overall or with_count(row)}."
    if not rows:
        bounded = args.get("value_min") is not None or args.get("value_max") is not None
        if bounded and overall is not None and (total or {}).get("deals"):
            return f"{title}: no group is within the bound.\nOverall: {overall}."
        return f"{title}: no {_counted(data, 0)} match."
    lines = [f"- {_group_label(row.get('group'))}: {with_count(row)}" for row in rows[: MAX_ROWS * 2]]
    asked_top = isinstance(args.get("limit"), int) and args["limit"] <= MAX_ROWS * 2
    if (data.get("truncated") and not asked_top) or len(rows) > MAX_ROWS * 2:
        lines.append("- … (more groups not shown)")
    text = f"{title}:\n" + "\n".join(lines)
    if overall is not None:
        text += f"\nOverall: {overall}."
    return text


def _bottlenecks(args: dict[str, Any], data: dict[str, Any]) -> str:
    text = str(data.get("summary") or "").strip()
    findings = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    lines = []
    for finding in findings[:5]:
        label = finding.get("stage") or finding.get("activity") or finding.get("title") or finding.get("name")
        detail = finding.get("description") or finding.get("summary") or ""
        numbers = []
        cost = finding.get("cost")
        if isinstance(cost, int | float) and finding.get("cost_unit"):
            # cost is in its own unit (deal-days or deals), never money
            numbers.append(f"cost {number(cost, 0)} {finding['cost_unit']}")
        revenue = _revenue_at_risk(finding)
        if revenue:
            numbers.append(f"revenue at risk {revenue}")
        numbers += [
            f"{key.replace('_', ' ')} {_fmt_by_key(key, value)}"
            for key, value in finding.items()
            if isinstance(value, int | float)
            and not isinstance(value, bool)
            and key not in ("cost", "rank", "impact", "rank_score", "revenue_at_risk")
        ][: 3 - len(numbers)]
        parts = [str(label)] if label else []
        if detail:
            parts.append(str(detail))
        if numbers:
            parts.append("(" + ", ".join(numbers) + ")")
        if parts:
            lines.append("- " + " ".join(parts))
    if lines:
        text = (text + "\n" if text else "") + "\n".join(lines)
    return text or "No bottlenecks found."


def _revenue_at_risk(finding: dict[str, Any]) -> str | None:
    """A finding's deal value at risk in its own currency (one figure per currency, never a sum), or None."""
    by_currency = finding.get("revenue_at_risk_by_currency")
    if isinstance(by_currency, dict) and by_currency:
        return " and ".join(
            money(value, str(code)) for code, value in sorted(by_currency.items()) if isinstance(value, int | float)
        )
    value = finding.get("revenue_at_risk")
    if isinstance(value, int | float) and not isinstance(value, bool) and value:
        code = finding.get("revenue_currency")
        return money(value, str(code)) if code else f"{number(value)} (currency not known)"
    return None


def _fmt_by_key(key: str, value: float) -> str:
    lowered = key.lower()
    if any(hint in lowered for hint in ("rate", "share", "ratio", "probability", "conversion")):
        return percent(value if abs(value) <= 1 else value / 100)
    if any(hint in lowered for hint in ("days", "wait", "duration", "cycle")):
        return days(value)
    if any(hint in lowered for hint in ("amount", "value", "revenue", "cost")):
        return money(value)
    return number(value, 0 if float(value).is_integer() else 1)


def _expected(entry: dict[str, Any], currency: str) -> str:
    text = f"{money(entry['expected'], currency)} expected"
    if entry.get("low") is not None and entry.get("high") is not None:
        text += f" (range {money(entry['low'], currency)} to {money(entry['high'], currency)})"
    return text


def _forecast_scope(args: dict[str, Any]) -> str:
    """Whose pipeline the forecast covers, in words: " of owner Sam Rivera's deals, by owner"."""
    parts = []
    if args.get("owner"):
        parts.append(f"owner {args['owner']}'s deals")
    if args.get("team"):
        parts.append(f"team {args['team']}")
    scope = f" ({', '.join(parts)})" if parts else ""
    if args.get("group_by"):
        scope += f", by {args['group_by']}"
    return scope


def _forecast(args: dict[str, Any], data: dict[str, Any]) -> str:
    currency = _currency(data)
    period = data.get("period") or args.get("period")
    period = f"{period}{_forecast_scope(args)}"
    per_currency = [row for row in data.get("by_currency") or [] if isinstance(row, dict)]
    if data.get("expected") is None and len(per_currency) > 1:
        # never one figure across currencies: each currency is forecast on its own
        text = f"Forecast for {period}, per currency (amounts in different currencies are never added):"
        for entry in per_currency:
            code = str(entry.get("currency") or "")
            text += f"\n- {code}: {_expected(entry, code)}"
    else:
        text = f"Forecast for {period}: {_expected(data, currency)}."
    rows = [row for row in data.get("rows") or [] if isinstance(row, dict)]
    for row in rows[:MAX_ROWS]:
        # forecast lines carry their owner's email or team name as "key"
        label = row.get("key") or row.get("owner") or row.get("team") or row.get("name") or row.get("label")
        value = row.get("expected", row.get("value"))
        if label is not None and isinstance(value, int | float):
            text += f"\n- {_group_label(label)}: {money(value, str(row.get('currency') or currency))}"
    if data.get("method"):
        text += f"\nMethod: {data['method']}."
    return text


def _search(args: dict[str, Any], data: dict[str, Any]) -> str:
    hits = [row for row in data.get("hits") or [] if isinstance(row, dict)]
    query = data.get("query") or args.get("query")
    note = data.get("index_note")
    if not hits:
        answer = f'I found nothing in the notes and emails about "{query}"'
        if note:
            return answer + f", but {note}."
        if str(data.get("mode") or "").startswith("keyword only"):
            return answer + f" ({data['mode']}; an admin runs `salesgraph memory sync` once it is fixed)."
        return answer + "."
    lines = []
    for hit in hits[:MAX_ROWS]:
        when = str(hit.get("occurred_at") or "")[:10]
        where = hit.get("deal_name") or hit.get("account_name") or ""
        head = " · ".join(part for part in (when, str(where), str(hit.get("channel") or "")) if part)
        snippet = " ".join(str(hit.get("snippet") or "").split())
        lines.append(f'- {head}: "{snippet[:200]}{"…" if len(snippet) > 200 else ""}"')
    noun = "interaction" if len(hits) == 1 else "interactions"
    answer = f'Found {len(hits)} {noun} about "{query}":\n' + "\n".join(lines)
    if data.get("mode"):
        answer += f"\n({data['mode']})"
    if note:
        answer += f"\nNote: {note}."
    return answer


def _generic(args: dict[str, Any], data: dict[str, Any]) -> str:
    """Any other result: its summary or message, its scalar fields and any list of rows, plus the receipt."""
    parts: list[str] = []
    for key in ("summary", "answer", "message", "note"):
        if isinstance(data.get(key), str) and data[key].strip():
            parts.append(data[key].strip())
            break
    if not parts:
        scalars = [
            f"{key.replace('_', ' ')}: {_fmt_by_key(key, value) if isinstance(value, int | float) else value}"
            for key, value in data.items()
            if isinstance(value, int | float | str)
            and not isinstance(value, bool)
            and key not in ("kind", *_RECEIPT_KEYS)
        ]
        if scalars:
            parts.append("; ".join(scalars[:8]))
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            parts.append("\n".join(f"- {_record_line(row) if 'name' in row else row}" for row in value[:MAX_ROWS]))
            break
    return ("\n".join(parts) or "Done.") + (_receipt(data) + "." if receipt_of(data) is not None else "")


def _show(value: Any) -> str:
    if value in (None, ""):
        return "(empty)"
    try:  # an amount: 3500.00 and 4200.0 both read as 3,500 and 4,200
        number_value = float(str(value))
    except ValueError:
        return str(value)
    return f"{number_value:,.2f}".removesuffix(".00") if "." in str(value) else str(value)


def _edit_record(args: dict[str, Any], data: dict[str, Any]) -> str:
    changed = data.get("changed") or {}
    parts = [
        f"{field.replace('_id', '').replace('_', ' ')} {_show(pair[0])} → {_show(pair[1])}"
        for field, pair in changed.items()
        if isinstance(pair, list) and len(pair) == 2
    ]
    what = f"{data.get('record_type', 'record')} #{data.get('record_id')} {data.get('name') or ''}".rstrip()
    return _claim(f"Updated {what}: " + "; ".join(parts), data)


def _reopen(args: dict[str, Any], data: dict[str, Any]) -> str:
    text = (
        f"Reopened deal #{data.get('deal_id')} {data.get('deal_name') or ''}: {data.get('from_stage')} → "
        f"{data.get('to_stage')} (reason: {data.get('reason')})"
    )
    return _claim(text, data)


def _undo(args: dict[str, Any], data: dict[str, Any]) -> str:
    restored = data.get("restored") or {}
    shown = "; ".join(
        f"{k.replace('_id', '').replace('_', ' ')} back to {_show(v)}"
        for k, v in restored.items()
        if k not in ("stage_entered_at", "closed_at", "probability")
    )
    action = str(data.get("undone_action") or "change").replace("_", " ")
    text = (
        f"Undid your {action} (receipt #{data.get('undone_receipt_id')}) on {data.get('record_type')} "
        f"#{data.get('record_id')} {data.get('name') or ''}".rstrip()
        + (f": {shown}" if shown else "")
    )
    return _claim(text, data)


def _stalled(args: dict[str, Any], data: dict[str, Any]) -> str:
    deals = [d for d in data.get("deals") or [] if isinstance(d, dict)]
    scope = " of your own" if args.get("owner") == "me" else ""
    idle = data.get("idle_days") if isinstance(data.get("idle_days"), int) else None
    if not deals:
        if idle is not None:
            return f"No open deals{scope} have gone {idle}+ days without a stage change or interaction."
        return f"No stalled deals{scope}: every open deal has had a stage change or an interaction within its limit."
    total: int = data["total"] if isinstance(data.get("total"), int) else len(deals)
    plural = "s" if total != 1 else ""
    if idle is not None:  # one span asked for ("not touched in a month") instead of each stage's limit
        title = f"open deal{plural}{scope} with no stage change or interaction for {idle}+ days, longest idle first"
    else:
        title = f"stalled deal{plural}{scope}, longest overdue first"
    lines = [
        f"- #{d['deal_id']} {d['name']} ({d['stage']}, {d.get('owner_email') or 'unassigned'}): {d['reason']}"
        for d in deals[:MAX_ROWS]
    ]
    more = f"\n…and {number(total - len(lines))} more." if total > len(lines) else ""
    return f"{number(total)} {title}:\n" + "\n".join(lines) + more


def _who_to_call(args: dict[str, Any], data: dict[str, Any]) -> str:
    deals = [d for d in data.get("deals") or [] if isinstance(d, dict)]
    if not deals:
        return "You have no open deals to call about."
    lines = [f"{i}. #{d['deal_id']} {d['name']} ({d['stage']}): {d['reason']}" for i, d in enumerate(deals, 1)]
    return f"Call first (ranked by {data.get('ranking') or 'priority'}):\n" + "\n".join(lines)


def _hot_leads(args: dict[str, Any], data: dict[str, Any]) -> str:
    leads = [row for row in data.get("leads") or [] if isinstance(row, dict)]
    unscored = data.get("unscored") or 0
    note = f"\n{number(unscored)} open lead{'s have' if unscored != 1 else ' has'} no score yet." if unscored else ""
    if data.get("scored_now"):
        count = int(data["scored_now"])
        note += (
            f"\n(I scored {number(count)} open lead{'s' if count != 1 else ''} that had no score yet first; "
            f"receipt #{data.get('receipt_id')}.)"
        )
    if not leads:
        return "No open lead has a score yet." + note
    lines = [
        f"- #{row['lead_id']} {row['name']}"
        + (f" ({row['company']})" if row.get("company") else "")
        + f": score {number(row['score'], 1)}"
        + (f", {row['band']}" if row.get("band") else "")
        for row in leads
    ]
    return "Hottest open leads, by score:\n" + "\n".join(lines) + note


def _experiments(args: dict[str, Any], data: dict[str, Any]) -> str:
    found = [e for e in data.get("experiments") or [] if isinstance(e, dict)]
    if not found:
        return str(data.get("note") or "No experiment matches.")
    lines = []
    for e in found:
        sample = (
            f"Sample so far: {number(e['control_cases'])} control and {number(e['treatment_cases'])} with the "
            f"change, of {number(e['needed_per_arm'])} per arm planned ({percent(e['information'])} of the plan)."
        )
        receipt = f" (planned look {e['look']} taken now; receipt #{e['receipt_id']}.)" if e.get("receipt_id") else ""
        lines.append(f"{e['name']} ({e['change']}; {e['metric']}): {e['verdict']}. {sample}{receipt}")
    return "\n".join(lines)


def _contacts(args: dict[str, Any], data: dict[str, Any]) -> str:
    contacts = [c for c in data.get("contacts") or [] if isinstance(c, dict)]
    if not contacts:
        return f"No contacts you can see at {data.get('account')}."
    lines = [
        "- " + ", ".join(str(c[k]) for k in ("name", "title", "email", "phone") if c.get(k)) for c in contacts[:20]
    ]
    return f"Contacts at {data.get('account')}:\n" + "\n".join(lines)


_COMPOSERS = {
    "edit_record": _edit_record,
    "reopen_deal": _reopen,
    "undo_last_change": _undo,
    "stalled_deals": _stalled,
    "who_to_call": _who_to_call,
    "hot_leads": _hot_leads,
    "account_contacts": _contacts,
    "experiment_status": _experiments,
    "create_lead": _create_lead,
    "score_lead": _score_lead,
    "qualify_lead": _qualify,
    "move_deal": _move_deal,
    "log_interaction": _log_interaction,
    "create_task": _create_task,
    "draft_follow_up": _draft,
    "send_follow_up": _send,
    "edit_draft": _edit_draft,
    "find_records": _find,
    "list_tasks": _tasks,
    "pipeline_question": _pipeline,
    "bottleneck_analysis": _bottlenecks,
    "forecast": _forecast,
    "search_interactions": _search,
}
