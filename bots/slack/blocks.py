"""What salesgraph shows in Slack: answers as Block Kit, the approval card, the edit and reject modals, the App
Home tab and the "log this to a deal" modal.

Pure functions over plain dicts (no Slack client): everything a user typed or a record holds is shown as data,
in ``plain_text`` or escaped ``mrkdwn``, so a lead called ``<!channel>`` pings nobody.
"""

from __future__ import annotations

import json
import re
from typing import Any

APPROVE, EDIT, REJECT = "approve", "edit", "reject"
ACTION_ID = re.compile(r"^approval:(approve|edit|reject):(\d+)$")
EDIT_CALLBACK = "approval_edit"
REJECT_CALLBACK = "approval_reject"
REASON_BLOCK = "reason"
ARGUMENT_BLOCK_PREFIX = "arg:"
MULTILINE_ARGUMENTS = frozenset({"body", "note"})
LOG_CALLBACK = "log_to_deal"
LOG_DEAL_BLOCK, LOG_TEXT_BLOCK, LOG_CHANNEL_BLOCK = "deal", "text", "channel"
SHORTCUT_CALLBACK = "log_to_deal"

_SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text
_INPUT_LIMIT = 3000  # and in a plain_text_input's initial value
_FIELD_LIMIT = 1900  # a section field's text: 2000
_HEADER_LIMIT = 150  # a header's plain text
_MAX_BLOCKS = 50  # per message or modal; a Home tab allows 100

# --- text ------------------------------------------------------------------------------------------------------

_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def plain_text_from_slack(text: str, bot_user_id: str | None = None) -> str:
    """Slack's message markup as the plain text the person typed: our own mention dropped, links and other
    mentions written out (``<mailto:a@b.example|a@b.example>`` → ``a@b.example``), entities unescaped."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "" if bot_user_id and target[1:] == bot_user_id else f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:].split('^')[0]}"
        if label:
            return label
        return target.removeprefix("mailto:").removeprefix("tel:")

    converted = _LINK.sub(replace, text or "")
    converted = converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", converted).strip()


def escape(text: str) -> str:
    """Text safe to put in ``mrkdwn``: no mentions, links or channel pings can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = _SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text) or " ", "emoji": False}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text) or " "}


# --- answers --------------------------------------------------------------------------------------------------

_ROW = re.compile(r"^\s*[-*•]\s+(?P<label>[^:\n]{1,200}?):\s+(?P<value>.+)$")
_BULLET = re.compile(r"^\s*[-*•]\s+(?P<text>.+)$")
_PIPE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_PIPE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")


def _table_rows(lines: list[str]) -> list[tuple[str, str]] | None:
    """``- label: value`` lines, or a two-column ``| a | b |`` table, as (label, value) rows; None otherwise."""
    rows: list[tuple[str, str]] = []
    if all(_PIPE_ROW.match(line) or _PIPE_RULE.match(line) for line in lines):
        for line in lines:
            if _PIPE_RULE.match(line) and "-" in line:
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 2:
                return None
            rows.append((cells[0], cells[1]))
        return rows or None
    for line in lines:
        match = _ROW.match(line)
        if match is None:
            return None
        rows.append((match.group("label").strip(), match.group("value").strip()))
    return rows


def _paragraphs(text: str) -> list[list[str]]:
    """Runs of lines: a run of list or table lines stays together, prose lines each stand alone."""
    runs: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            runs.append([])
            continue
        listy = bool(_BULLET.match(line) or _PIPE_ROW.match(line) or (_PIPE_RULE.match(line) and "|" in line))
        previous = runs[-1][-1] if runs and runs[-1] else None
        previous_listy = previous is not None and bool(_BULLET.match(previous) or _PIPE_ROW.match(previous))
        if previous is not None and listy == previous_listy:
            runs[-1].append(line)  # a list or table keeps its lines together, and so does a paragraph
        else:
            runs.append([line])
    return [r for r in runs if r]


def answer_blocks(text: str) -> list[dict[str, Any]]:
    """An answer as Block Kit: prose in sections, a table (``- label: value`` rows, or a two-column markdown
    table) as section fields, label beside value, five rows per section (Slack's ten fields). Everything is
    escaped: an answer quoting a customer's ``<!channel>`` pings nobody."""
    out: list[dict[str, Any]] = []
    for run in _paragraphs(text):
        rows = _table_rows(run) if len(run) > 1 or _ROW.match(run[0]) else None
        if rows:
            for start in range(0, len(rows), 5):
                fields: list[dict[str, Any]] = []
                for label, value in rows[start : start + 5]:
                    fields.append(mrkdwn(_clip(f"*{escape(label)}*", _FIELD_LIMIT)))
                    fields.append(mrkdwn(_clip(escape(value), _FIELD_LIMIT)))
                out.append({"type": "section", "fields": fields})
        elif all(_BULLET.match(line) for line in run):
            items = [f"• {escape(m.group('text'))}" for line in run if (m := _BULLET.match(line))]
            out.append({"type": "section", "text": mrkdwn("\n".join(items))})
        else:
            out.append({"type": "section", "text": mrkdwn(escape("\n".join(run)))})
    if not out:
        out.append({"type": "section", "text": mrkdwn(" ")})
    if len(out) > _MAX_BLOCKS:  # a very long answer: the first blocks, then the rest as text
        rest = "\n".join(b["text"]["text"] if "text" in b else "" for b in out[_MAX_BLOCKS - 1 :])
        out = [*out[: _MAX_BLOCKS - 1], {"type": "section", "text": mrkdwn(rest)}]
    return out


# --- the approval card ----------------------------------------------------------------------------------------

ACTION_TITLES = {"qualify_lead": "Qualify a lead", "send_follow_up": "Send a follow-up email"}


def human_title(action: str, arguments: dict[str, Any] | None = None) -> str:
    """What an approval is about, for people: "Qualify a lead: Dana Fox", "Send a follow-up email to a@b.example"."""
    args = arguments or {}
    base = ACTION_TITLES.get(action) or action.replace("_", " ").capitalize()
    if action == "qualify_lead" and args.get("lead_name"):
        base += f": {args['lead_name']}"
    elif action == "send_follow_up" and args.get("to"):
        base += f" to {args['to']}"
    return base


def action_id(decision: str, approval_id: int) -> str:
    return f"approval:{decision}:{approval_id}"


def parse_action_id(value: str) -> tuple[str, int]:
    match = ACTION_ID.match(value)
    if match is None:
        raise ValueError(f"not an approval action: {value!r}")
    return match.group(1), int(match.group(2))


def _expires(value: Any) -> str:
    return str(value)[:16].replace("T", " ") + " UTC"


def _facts(request: dict[str, Any], approver_mentions: list[str], admins_decide: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": plain(
                _clip(f"Approval needed: {human_title(request['action'], request.get('arguments'))}", _HEADER_LIMIT)
            ),
        },
        {"type": "section", "text": plain(str(request.get("summary") or request["action"]))},
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_preformatted",
                    "elements": [
                        {
                            "type": "text",
                            "text": _clip(json.dumps(request.get("arguments") or {}, indent=2, default=str)),
                        }
                    ],
                }
            ],
        },
    ]
    if request.get("preview"):
        blocks.append({"type": "section", "text": plain(str(request["preview"]))})
    who = ", ".join(approver_mentions) or "an admin"
    blocks.append(
        {
            "type": "context",
            "elements": [
                mrkdwn(
                    f"approval #{request['approval_id']} ({escape(str(request['action']))})"
                    f" · requested by {escape(str(request.get('requested_by')))}"
                    f" · who may decide: {who}{' (admins too)' if admins_decide else ''} · expires {_expires(request.get('expires_at'))}"
                )
            ],
        }
    )
    return blocks


def approval_card(
    request: dict[str, Any], approver_mentions: list[str], *, admins_decide: bool = True
) -> list[dict[str, Any]]:
    """The card for one ``ApprovalRequest``: what will happen, the arguments as data, who decides, the buttons."""
    approval_id = int(request["approval_id"])
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": plain("Approve"),
            "style": "primary",
            "action_id": action_id(APPROVE, approval_id),
            "value": str(approval_id),
        }
    ]
    if request.get("editable"):
        buttons.append(
            {
                "type": "button",
                "text": plain("Edit"),
                "action_id": action_id(EDIT, approval_id),
                "value": str(approval_id),
            }
        )
    buttons.append(
        {
            "type": "button",
            "text": plain("Reject"),
            "style": "danger",
            "action_id": action_id(REJECT, approval_id),
            "value": str(approval_id),
        }
    )
    blocks = _facts(request, approver_mentions, admins_decide)
    if request.get("refusal"):
        blocks.append({"type": "section", "text": plain(f"Not accepted: {request['refusal']}")})
    blocks.append({"type": "actions", "block_id": f"approval:{approval_id}", "elements": buttons})
    return blocks


def card_fallback(request: dict[str, Any]) -> str:
    title = human_title(request["action"], request.get("arguments"))
    return escape(f"Approval needed: {title} (#{request['approval_id']}): {request.get('summary') or ''}")


def decided_card(action: str, approval_id: int, arguments: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    """The card once decided: what it was about (the arguments acted on) and the outcome, without buttons."""
    return [
        {"type": "header", "text": plain(_clip(f"#{approval_id}: {human_title(action, arguments)}", _HEADER_LIMIT))},
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_preformatted",
                    "elements": [{"type": "text", "text": _clip(json.dumps(arguments, indent=2, default=str))}],
                }
            ],
        },
        {"type": "section", "text": mrkdwn(outcome)},
    ]


# --- modals ---------------------------------------------------------------------------------------------------


def reject_modal(approval_id: int, action: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": json.dumps({**metadata, "approval_id": approval_id}),
        "title": plain(f"Reject #{approval_id}"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "section",
                "text": plain(f"Reject {action}. Nothing is done; the assistant tells the requester why."),
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Reason"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2000},
            },
        ],
    }


def _initial(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _clip(str(value), _INPUT_LIMIT)


def edit_modal(
    approval_id: int, action: str, arguments: dict[str, Any], editable: list[str], metadata: dict[str, Any]
) -> dict[str, Any]:
    """One text input per editable argument, pre-filled with the current value (as the CLI's edit does)."""
    inputs: list[dict[str, Any]] = []
    for name in editable:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": name in MULTILINE_ARGUMENTS,
        }
        initial = _initial(arguments.get(name))
        if initial:
            element["initial_value"] = initial
        inputs.append(
            {
                "type": "input",
                "block_id": ARGUMENT_BLOCK_PREFIX + name,
                "optional": True,
                "label": plain(name.replace("_", " ")),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": json.dumps({**metadata, "approval_id": approval_id, "editable": editable}),
        "title": plain(f"Edit #{approval_id}"),
        "submit": plain("Approve with edits"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": plain(f"Change {action}, then approve it in one step.")},
            *inputs,
        ],
    }


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """``{block_id: text}`` from a view_submission's state (an emptied optional input reads as "")."""
    out: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for state in actions.values():
            out[block_id] = str(state.get("value") or "")
    return out


def edited_arguments(
    values: dict[str, str], current: dict[str, Any], editable: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The arguments the approver changed, and form errors (block id → message) for values that are not even
    the right kind (an amount that is not a number). Whether a change is allowed is the domain's call."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in editable:
        block = ARGUMENT_BLOCK_PREFIX + name
        if block not in values:
            continue
        text = values[block].strip() if name not in MULTILINE_ARGUMENTS else values[block]
        before = _initial(current.get(name)) or ""
        if text == before:
            continue
        if name == "amount":
            if not text.strip():
                errors[block] = "enter an amount, e.g. 25000"
                continue
            try:
                changes[name] = float(text.replace(",", "").replace("$", "").strip())
            except ValueError:
                errors[block] = f"{text!r} is not a number; write it like 25000"
            continue
        changes[name] = text
    return changes, errors


# --- the App Home tab -----------------------------------------------------------------------------------------


def home_view(
    name: str,
    approvals: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    stalled: list[dict[str, Any]],
    *,
    stalled_title: str = "My stalled deals",
) -> dict[str, Any]:
    """The Home tab: the approvals waiting for this person, their tasks due today (and overdue), the stalled
    deals. Each item is a dict of plain facts (the app fills them from the store); each list shows its first
    15 and says how many more there are."""

    def listing(
        title: str, items: list[dict[str, Any]], empty: str, line: Any, buttons: Any = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"type": "header", "text": plain(f"{title} ({len(items)})")}]
        if not items:
            out.append({"type": "context", "elements": [mrkdwn(empty)]})
        for item in items[:15]:
            out.append({"type": "section", "text": mrkdwn(line(item))})
            if buttons is not None:
                out.append(buttons(item))
        if len(items) > 15:
            out.append({"type": "context", "elements": [mrkdwn(f"and {len(items) - 15} more")]})
        out.append({"type": "divider"})
        return out

    def approval_line(a: dict[str, Any]) -> str:
        return (
            f"*#{a['id']} {escape(human_title(a['action'], a.get('arguments')))}*\n"
            f"{escape(str(a.get('summary') or ''))}\nrequested by {escape(str(a.get('requested_by') or '?'))}"
            f" · expires {_expires(a.get('expires_at'))}"
        )

    def approval_buttons(a: dict[str, Any]) -> dict[str, Any]:
        """Approve decides here; Edit and Reject open their modals, as on the card."""
        return {
            "type": "actions",
            "block_id": f"home:approval:{a['id']}",
            "elements": [
                {"type": "button", "text": plain("Approve"), "style": "primary",
                 "action_id": action_id(APPROVE, int(a["id"])), "value": str(a["id"])},
                *([{"type": "button", "text": plain("Edit"), "action_id": action_id(EDIT, int(a["id"])),
                    "value": str(a["id"])}] if a.get("editable") else []),
                {"type": "button", "text": plain("Reject"), "style": "danger",
                 "action_id": action_id(REJECT, int(a["id"])), "value": str(a["id"])},
            ],
        }  # fmt: skip

    def task_line(t: dict[str, Any]) -> str:
        due = t.get("due_date")
        overdue = " · *overdue*" if t.get("overdue") else ""
        about = f" · {escape(str(t['about']))}" if t.get("about") else ""
        return f"*{escape(str(t['title']))}* (task #{t['id']}) · due {due or 'today'}{overdue}{about}"

    def stalled_line(d: dict[str, Any]) -> str:
        owner = f" · {escape(str(d['owner']))}" if d.get("owner") else ""
        return f"*#{d['id']} {escape(str(d['name']))}* · {escape(str(d['stage']))}{owner}\n{escape(str(d['reason']))}"

    body: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"Hello {escape(name)}. Ask me anything with `/salesgraph`, a mention, or "
                                           "a direct message; reply in my threads without mentioning me.")},
        {"type": "divider"},
        *listing("Approvals waiting for me", approvals, "Nothing waits for your decision.", approval_line,
                 approval_buttons),
        *listing("My tasks today", tasks, "No open tasks due today or overdue.", task_line),
        *listing(stalled_title, stalled, "No stalled deals.", stalled_line),
    ]  # fmt: skip
    return {"type": "home", "blocks": body[:100]}


def home_problem_view(problem: str) -> dict[str, Any]:
    return {"type": "home", "blocks": [{"type": "section", "text": mrkdwn(escape(problem))}]}


# --- "log this to a deal" ---------------------------------------------------------------------------------------


def log_modal(deals: list[tuple[int, str]], text: str, author: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """Pick the deal (the person's open deals, most recently updated first; Slack lists up to 100) and check the
    text; submitting logs it as a Slack interaction on the deal, with a receipt."""
    options = [{"text": plain(_clip(f"#{deal_id} {name}", 75)), "value": str(deal_id)} for deal_id, name in deals[:100]]
    return {
        "type": "modal",
        "callback_id": LOG_CALLBACK,
        "private_metadata": json.dumps(metadata),
        "title": plain("Log to a deal"),
        "submit": plain("Log it"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": LOG_DEAL_BLOCK,
                "label": plain("Deal"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "placeholder": plain("Pick one of your open deals"),
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": LOG_TEXT_BLOCK,
                "label": plain(f"What {author} wrote (logged as a Slack interaction)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": _INPUT_LIMIT,
                    "initial_value": _clip(text, _INPUT_LIMIT),
                },
            },
        ],
    }


def selected_value(view: dict[str, Any], block_id: str) -> str:
    """The chosen option's value (a static_select) or the typed text of an input block; "" when empty."""
    state = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    for action in state.values():
        option = action.get("selected_option")
        if option:
            return str(option.get("value") or "")
        return str(action.get("value") or "")
    return ""
