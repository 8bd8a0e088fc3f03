"""``salesgraph approvals``: see pending requests and decide them; the waiting conversation then carries on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from typing import Any

    from sqlmodel import Session

    from agent.approval import ApprovalDecision
    from store.models import Approval

app = typer.Typer(
    help=(
        "Approval requests: sending a follow-up needs the record's owner or their manager; qualifying a lead needs "
        "a manager. Pending requests survive restarts; a request past its expiry is rejected, never approved."
    ),
    no_args_is_help=True,
)

IdArgument = Annotated[int, typer.Argument(help="The approval's id (see `salesgraph approvals list`).")]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Model that writes the reply once the conversation resumes.", show_default=False),
]


def _what(row: Approval) -> str:
    """One line saying what the request would do."""
    args = row.arguments
    if row.action == "send_follow_up":
        return f"email #{args.get('message_id')} to {args.get('to')}: {args.get('subject')}"
    amount = f", {args['amount']:,.0f}" if isinstance(args.get("amount"), int | float) else ""
    return f"lead #{row.record_id} {args.get('lead_name', '')}{amount}"


def _email_of(s: Session, user_id: int | None) -> str | None:
    from store.models import User

    user = s.get(User, user_id) if user_id else None
    return user.email if user else None


def approval_json(s: Session, row: Approval) -> dict[str, Any]:
    from sales.approvals import approver_emails

    return {
        "id": row.id, "action": row.action, "what": _what(row), "status": row.status,
        "record_type": row.record_type, "record_id": row.record_id, "arguments": row.arguments,
        "requested_by": _email_of(s, row.requested_by_id) or "system", "approvers": approver_emails(s, row),
        "decision": row.decision, "decided_arguments": row.decided_arguments, "reason": row.reason,
        "decided_by": _email_of(s, row.decided_by_id), "decided_at": row.decided_at, "expires_at": row.expires_at,
        "thread_id": row.thread_id, "executed_at": row.executed_at, "created_at": row.created_at,
    }  # fmt: skip


def _expire_overdue() -> None:
    from bots.common import session
    from sales.approvals import expire_overdue
    from sales.permissions import SYSTEM

    with session() as s:
        expire_overdue(s, SYSTEM)


@app.command("list")
def list_cmd(
    as_: AsOption = None,
    status: Annotated[
        str, typer.Option(help="pending, approved, rejected, expired, or all.", show_default=True)
    ] = "pending",
    json_out: JsonOption = False,
) -> None:
    """Requests you asked for, may decide, or (as a manager) can see. Overdue ones are expired first."""
    from rich.table import Table

    from bots.common import console, resolve_actor, session
    from bots.render import emit_json, print_table, when
    from sales.approvals import approver_emails, list_approvals

    _expire_overdue()
    with session() as s:
        actor = resolve_actor(s, as_)
        rows = list_approvals(s, actor, status=None if status == "all" else status)
        if json_out:
            emit_json([approval_json(s, row) for row in rows])
            return
        table = Table(title=f"{status} approvals for {actor.email}", show_lines=False)
        for column in ("id", "action", "what", "requested by", "who may decide", "expires", "status", "thread"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                str(row.id),
                row.action,
                _what(row),
                _email_of(s, row.requested_by_id) or "system",
                ", ".join(approver_emails(s, row)) or "an admin",
                when(row.expires_at),
                row.status,
                row.thread_id or "—",
            )
    out = console()
    if not rows:
        out.print(f"No {status} approvals for {actor.email}.")
        return
    print_table(table, out)


@app.command("show")
def show_cmd(approval_id: IdArgument, json_out: JsonOption = False, as_: AsOption = None) -> None:
    """One request in full: what it would do, its arguments (the email text), who may decide, and its outcome."""
    from bots.common import console, fail, resolve_actor, session
    from bots.render import emit_json, when
    from sales.approvals import get_approval, list_approvals

    _expire_overdue()
    with session() as s:
        actor = resolve_actor(s, as_)
        row = get_approval(s, approval_id)
        if row.id not in {a.id for a in list_approvals(s, actor, status=None, limit=1_000_000)}:
            fail(f"approval #{approval_id} is not one you asked for, may decide or can see through your team")
        data = approval_json(s, row)
    if json_out:
        emit_json(data)
        return
    out = console()
    out.print(f"[bold]Approval #{row.id}: {row.action}[/]  ({row.status})", highlight=False)
    for label, value in (
        ("what", data["what"]), ("requested by", data["requested_by"]),
        ("may decide", ", ".join(data["approvers"]) or "an admin"), ("expires", when(row.expires_at)),
        ("decided by", data["decided_by"]), ("decided", when(row.decided_at) if row.decided_at else None),
        ("reason", row.reason), ("thread", row.thread_id),
    ):  # fmt: skip
        if value:
            out.print(f"  {label:>12}: {value}", highlight=False)
    for key, value in (row.decided_arguments or row.arguments).items():
        text = str(value)
        out.print(
            f"  {key:>12}: " + (text if "\n" not in text else "\n    " + text.replace("\n", "\n    ")),
            highlight=False,
            markup=False,
        )


def _decide(approval_id: int, decision: ApprovalDecision, model: str | None) -> None:
    from agent.turns import decide, open_agent
    from bots.commands.chat import context_for, model_or_fail, render_outcome
    from bots.common import console, fail, friendly_errors, services

    svc = services()
    chat_model = model_or_fail(svc, model)
    out = console()
    with friendly_errors(), _conversation_of(svc, approval_id), open_agent(svc, chat_model) as graph:
        result = decide(graph, svc, approval_id, decision, context_factory=lambda a: context_for(a, svc))
    if result.status == "expired":
        fail(f"approval #{approval_id} had expired; it was rejected automatically and nothing was done")
    verb = {"approve": "approved", "edit": "approved with your changes", "reject": "rejected"}[decision.decision]
    out.print(f"[bold]approval #{approval_id}[/] {verb}.", highlight=False)
    if result.turn is None:
        out.print("[dim](no conversation was waiting on it; the decision is recorded)[/]")
        return
    out.print(f"[dim]conversation {result.turn.thread_id} resumed:[/]", highlight=False)
    render_outcome(out, result.turn)


@contextmanager
def _conversation_of(svc: Any, approval_id: int) -> Iterator[None]:
    """Hold the waiting conversation's lock while deciding, as a Slack app process does: a CLI decision racing
    a click on the card is recorded once either way, and this makes sure the thread is resumed once too."""
    from store.db import session_scope
    from store.locks import advisory_lock
    from store.models import Approval

    with session_scope(svc.engine, read_only=True) as s:
        row = s.get(Approval, approval_id)
        thread = row.thread_id if row is not None else None
    if not thread:
        yield
        return
    with advisory_lock(svc.engine, f"conversation:{thread}"):
        yield


def _decider(as_: str | None) -> str:
    from bots.common import resolve_actor, session

    with session() as s:
        return resolve_actor(s, as_).email


@app.command("approve")
def approve_cmd(approval_id: IdArgument, as_: AsOption = None, model: ModelOption = None) -> None:
    """Approve the request as it stands; the send or qualification happens now."""
    from agent.approval import ApprovalDecision

    _decide(approval_id, ApprovalDecision(decision="approve", decided_by=_decider(as_)), model)


@app.command("reject")
def reject_cmd(
    approval_id: IdArgument,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why; the assistant tells the requester.")],
    as_: AsOption = None,
    model: ModelOption = None,
) -> None:
    """Reject the request with a reason; nothing is sent or qualified."""
    from agent.approval import ApprovalDecision

    _decide(approval_id, ApprovalDecision(decision="reject", decided_by=_decider(as_), reason=reason), model)


@app.command("edit")
def edit_cmd(
    approval_id: IdArgument,
    as_: AsOption = None,
    body: Annotated[str | None, typer.Option(help="New email body (default: open it in $EDITOR).")] = None,
    subject: Annotated[str | None, typer.Option(help="New email subject.")] = None,
    to: Annotated[str | None, typer.Option(help="New recipient address.")] = None,
    amount: Annotated[float | None, typer.Option(help="Qualification: the expected deal amount.")] = None,
    note: Annotated[str | None, typer.Option(help="Qualification: a note.")] = None,
    model: ModelOption = None,
) -> None:
    """Change the request (e.g. the email text) and approve it in one step."""
    from agent.approval import ApprovalDecision
    from bots.common import fail, session
    from sales.approvals import get_approval

    changes = {
        k: v
        for k, v in {"body": body, "subject": subject, "to": to, "amount": amount, "note": note}.items()
        if v is not None
    }
    if not changes:
        with session() as s:
            row = get_approval(s, approval_id)
            current = str(row.arguments.get("body") or "") if row.action == "send_follow_up" else None
        if current is None:
            fail("say what to change: --amount and/or --note")
        import click

        edited = click.edit(current)
        if edited is None or edited.strip() == current.strip():
            fail("the text was not changed; nothing decided")
        changes = {"body": edited}
    _decide(approval_id, ApprovalDecision(decision="edit", decided_by=_decider(as_), arguments=changes), model)
