"""What salesgraph shows in Slack: message text in and out, the approval card, and the edit and reject modals.

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

_SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text
_INPUT_LIMIT = 3000  # and in a plain_text_input's initial value

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


# --- the approval card ----------------------------------------------------------------------------------------


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
        {"type": "header", "text": plain(f"Approval needed: {request['action']}")},
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
                    f"approval #{request['approval_id']} · requested by {escape(str(request.get('requested_by')))}"
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
    return escape(f"Approval needed: {request['action']} (#{request['approval_id']}): {request.get('summary') or ''}")


def decided_card(action: str, approval_id: int, arguments: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    """The card once decided: what it was about (the arguments acted on) and the outcome, without buttons."""
    return [
        {"type": "header", "text": plain(f"Approval #{approval_id}: {action}")},
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
