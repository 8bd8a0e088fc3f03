"""Fixing mistakes from the command line: `deals edit`, `deals reopen`, `leads edit`, `contacts edit`, `undo`.

Each is one audited change (sales/edits.py): every field is checked before anything is written, and the command
prints the receipt. The same operations are chat tools (edit_record, reopen_deal, undo_last_change).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bots.common import AsOption, JsonOption

_DateOption = Annotated[
    str | None,
    typer.Option(
        "--close-date",
        help="Expected close date: YYYY-MM-DD or words ('next friday', 'in two weeks', 'end of month').",
        show_default=False,
    ),
]


def _date(text: str | None, option: str) -> str | None:
    """An ISO date from YYYY-MM-DD or words ("next friday", "end of quarter"), the parser the chat uses."""
    from bots.common import parse_date

    day = parse_date(text, option, period_end=True)
    return day.isoformat() if day else None


def _report(done: Any, json_out: bool) -> None:
    from bots.common import console
    from bots.render import emit_json, jsonable

    changed = {k: [jsonable(before), jsonable(after)] for k, (before, after) in done.changed.items()}
    if json_out:
        payload = {"record_type": done.record_type, "record_id": done.record_id, "name": done.name}
        emit_json({**payload, "changed": changed, "receipt_id": done.receipt_id})
        return
    parts = "; ".join(f"{k}: {b} → {a}" for k, (b, a) in changed.items())
    console().print(
        f"{done.record_type.title()} #{done.record_id} {done.name}: {parts}; receipt {done.receipt_id}",
        highlight=False,
    )


def _edit(record_type: str, record_id: int, changes: dict[str, Any], as_: str | None, json_out: bool) -> None:
    from bots.common import fail, resolve_actor, session
    from sales.edits import edit_record

    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        fail("say what to change, e.g. --amount 45000 or --close-date 'next friday' (see --help)", code=2)
    with session() as s:
        done = edit_record(s, resolve_actor(s, as_), record_type, record_id, changes)
    _report(done, json_out)


def deals_edit(
    deal_id: int,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    amount: Annotated[float | None, typer.Option(min=0, help="New amount, in the deal's currency.")] = None,
    close_date: _DateOption = None,
    owner: Annotated[str | None, typer.Option(help="New owner's email or name (managers and admins).")] = None,
    product: Annotated[str | None, typer.Option(help="New product.")] = None,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Change a deal's name, amount, expected close date, owner or product; audited. `salesgraph undo` reverts it."""
    changes = {
        "name": name,
        "amount": amount,
        "expected_close_date": _date(close_date, "--close-date"),
        "owner": owner,
        "product": product,
    }
    _edit("deal", deal_id, changes, as_, json_out)


def leads_edit(
    lead_id: int,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    email: Annotated[str | None, typer.Option(help="New email.")] = None,
    phone: Annotated[str | None, typer.Option(help="New phone.")] = None,
    company: Annotated[str | None, typer.Option(help="New company.")] = None,
    title: Annotated[str | None, typer.Option(help="New job title.")] = None,
    source: Annotated[str | None, typer.Option(help="New source.")] = None,
    industry: Annotated[str | None, typer.Option(help="New industry.")] = None,
    region: Annotated[str | None, typer.Option(help="New region.")] = None,
    owner: Annotated[str | None, typer.Option(help="New owner's email or name (managers and admins).")] = None,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Change a lead's fields; audited. `salesgraph undo` reverts it."""
    changes = {
        "name": name,
        "email": email,
        "phone": phone,
        "company": company,
        "title": title,
        "source": source,
        "industry": industry,
        "region": region,
        "owner": owner,
    }
    _edit("lead", lead_id, changes, as_, json_out)


def contacts_edit(
    contact_id: int,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    email: Annotated[str | None, typer.Option(help="New email.")] = None,
    phone: Annotated[str | None, typer.Option(help="New phone.")] = None,
    title: Annotated[str | None, typer.Option(help="New job title.")] = None,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Change a contact's name, email, phone or title; audited."""
    _edit("contact", contact_id, {"name": name, "email": email, "phone": phone, "title": title}, as_, json_out)


def deals_reopen(
    deal_id: int,
    reason: Annotated[str, typer.Option(help="Why it is reopened (required; kept in the audit log).")],
    stage: Annotated[
        str | None, typer.Option(help="Open stage to reopen into. Default: the stage it closed from.")
    ] = None,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Reopen a Won or Lost deal (the owner's manager or an admin only)."""
    from bots.common import console, resolve_actor, session
    from bots.render import emit_json
    from sales.edits import reopen_deal

    with session() as s:
        done = reopen_deal(s, resolve_actor(s, as_), deal_id, reason, stage)
        if json_out:
            emit_json(
                {
                    "deal_id": deal_id,
                    "from_stage": done.from_stage,
                    "to_stage": done.to_stage,
                    "receipt_id": done.receipt_id,
                }
            )
            return
        console().print(
            f"Deal #{deal_id} reopened {done.from_stage} → {done.to_stage}; receipt {done.receipt_id}", highlight=False
        )


def undo_cmd(json_out: JsonOption = False, as_: AsOption = None) -> None:
    """Undo your own last edit, stage move or reopen, if it is less than 30 minutes old and nobody changed the
    record since. The undo is audited too (`salesgraph audit`)."""
    from bots.common import console, resolve_actor, session
    from bots.render import emit_json, jsonable
    from sales.edits import undo_last_change

    with session() as s:
        done = undo_last_change(s, resolve_actor(s, as_))
        restored = {k: jsonable(v) for k, v in done.restored.items()}
        if json_out:
            emit_json(
                {
                    "undid_receipt_id": done.undone_event_id,
                    "action": done.action,
                    "record_type": done.record_type,
                    "record_id": done.record_id,
                    "restored": restored,
                    "receipt_id": done.receipt_id,
                }
            )
            return
        shown = "; ".join(f"{k} → {v}" for k, v in restored.items() if k not in ("stage_entered_at", "closed_at"))
        console().print(
            f"Undid {done.action.replace('_', ' ')} (receipt {done.undone_event_id}) on {done.record_type} "
            f"#{done.record_id} {done.name}: {shown}; receipt {done.receipt_id}",
            highlight=False,
        )
