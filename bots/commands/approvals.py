"""``salesgraph approvals``: see pending requests and decide them; the waiting conversation then carries on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption

if TYPE_CHECKING:
    from agent.approval import ApprovalDecision

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


@app.command("list")
def list_cmd(
    as_: AsOption = None,
    status: Annotated[
        str, typer.Option(help="pending, approved, rejected, expired, or all.", show_default=True)
    ] = "pending",
) -> None:
    """Requests you asked for, may decide, or (as a manager) can see. Overdue ones are expired first."""
    from rich.table import Table

    from bots.common import console, resolve_actor, session
    from bots.render import when
    from sales.approvals import approver_emails, expire_overdue, list_approvals
    from sales.permissions import SYSTEM
    from store.models import User

    with session() as s:
        expire_overdue(s, SYSTEM)
    with session() as s:
        actor = resolve_actor(s, as_)
        rows = list_approvals(s, actor, status=None if status == "all" else status)
        table = Table(title=f"{status} approvals for {actor.email}", show_lines=False)
        for column in ("id", "action", "what", "requested by", "who may decide", "expires", "status", "thread"):
            table.add_column(column, overflow="fold")
        for row in rows:
            requester = s.get(User, row.requested_by_id) if row.requested_by_id else None
            args = row.arguments
            what = (
                f"email #{args.get('message_id')} to {args.get('to')}: {args.get('subject')}"
                if row.action == "send_follow_up"
                else f"lead #{row.record_id} {args.get('lead_name', '')}"
                + (f", {args['amount']:,.0f}" if isinstance(args.get("amount"), int | float) else "")
            )
            table.add_row(
                str(row.id),
                row.action,
                what,
                requester.email if requester else "system",
                ", ".join(approver_emails(s, row)) or "an admin",
                when(row.expires_at),
                row.status,
                row.thread_id or "—",
            )
    out = console()
    if not rows:
        out.print(f"No {status} approvals for {actor.email}.")
        return
    out.print(table)


def _decide(approval_id: int, decision: ApprovalDecision, model: str | None) -> None:
    from agent.turns import decide, open_agent
    from bots.commands.chat import context_for, model_or_fail, render_outcome
    from bots.common import console, fail, friendly_errors, services

    svc = services()
    chat_model = model_or_fail(svc, model)
    out = console()
    with friendly_errors(), open_agent(svc, chat_model) as graph:
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
