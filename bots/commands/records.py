"""``salesgraph leads|deals|tasks|users``: list, show, create and move records from the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from typing import Any

    from sqlmodel import Session

    from sales.permissions import Actor
    from store.models import Deal, Interaction, Lead, Task, User

leads = typer.Typer(
    help="Leads: capture, list, show and move them through new → working → disqualified.", no_args_is_help=True
)
deals = typer.Typer(help="Deals: create them, move them through the stages, find stalled ones.", no_args_is_help=True)
tasks = typer.Typer(help="Tasks: what is due, for whom, about which record.", no_args_is_help=True)
users = typer.Typer(help="Users of this workspace: reps, managers, admins.", no_args_is_help=True)

OwnerOption = Annotated[str | None, typer.Option("--owner", help="'me', an email or a name.", show_default=False)]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many rows.")]


def _owner_id(s: Session, who: Actor, owner: str | None) -> int | None:
    from sales.users import find_user

    return None if owner is None else find_user(s, who, owner).id


def _names(s: Session) -> dict[int | None, str]:
    from sqlmodel import select

    from store.models import User

    return dict(s.exec(select(User.id, User.name)).all())


# JSON shapes: every key on every row (null when empty), ISO dates, amounts as numbers beside their currency


def lead_json(lead: Lead, names: dict[int | None, str]) -> dict[str, Any]:
    return {
        "id": lead.id, "name": lead.name, "company": lead.company, "email": lead.email, "phone": lead.phone,
        "title": lead.title, "source": lead.source, "industry": lead.industry, "region": lead.region,
        "status": lead.status, "score": lead.score, "score_band": lead.score_band, "owner_id": lead.owner_id,
        "owner": names.get(lead.owner_id), "created_at": lead.created_at,
    }  # fmt: skip


def deal_json(deal: Deal, names: dict[int | None, str]) -> dict[str, Any]:
    return {
        "id": deal.id, "name": deal.name, "account_id": deal.account_id, "product": deal.product,
        "stage": deal.stage, "amount": deal.amount, "currency": deal.currency, "owner_id": deal.owner_id,
        "owner": names.get(deal.owner_id), "expected_close_date": deal.expected_close_date,
        "stage_entered_at": deal.stage_entered_at, "loss_reason": deal.loss_reason, "created_at": deal.created_at,
        "updated_at": deal.updated_at, "closed_at": deal.closed_at,
    }  # fmt: skip


def task_json(task: Task, names: dict[int | None, str], today: Any) -> dict[str, Any]:
    overdue = bool(task.due_date and task.due_date < today and task.status == "open")
    return {
        "id": task.id, "title": task.title, "kind": task.kind, "due_date": task.due_date, "overdue": overdue,
        "status": task.status, "owner_id": task.owner_id, "owner": names.get(task.owner_id), "deal_id": task.deal_id,
        "lead_id": task.lead_id, "created_at": task.created_at, "completed_at": task.completed_at,
    }  # fmt: skip


def interaction_json(note: Interaction) -> dict[str, Any]:
    return {
        "id": note.id, "occurred_at": note.occurred_at, "channel": note.channel, "direction": note.direction,
        "subject": note.subject, "body": note.body,
    }  # fmt: skip


def user_json(user: User, names: dict[int | None, str]) -> dict[str, Any]:
    return {
        "id": user.id, "name": user.name, "email": user.email, "role": user.role, "manager_id": user.manager_id,
        "manager": names.get(user.manager_id) if user.manager_id else None, "team": user.team,
        "region": user.region, "started_at": user.started_at, "active": user.active,
    }  # fmt: skip


# ---------------------------------------------------------------- leads


@leads.command("list")
def leads_list(
    status: Annotated[str | None, typer.Option(help="new, working, qualified, disqualified, converted.")] = None,
    owner: OwnerOption = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Text in the name, company or email.")] = None,
    limit: LimitOption = 50,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """List the leads you may see, newest first."""
    from rich.table import Table

    from bots.common import resolve_actor, session
    from bots.render import emit_json, print_table, when
    from sales.leads import list_leads

    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        rows = list_leads(s, who, status=status, owner_id=_owner_id(s, who, owner), query=search, limit=limit)
        names = _names(s)
        if json_out:
            emit_json([lead_json(lead, names) for lead in rows])
            return
        table = Table(title=f"Leads visible to {who.email}", caption=f"{len(rows)} shown")
        for column in ("id", "name", "company", "email", "status", "score", "owner", "created"):
            table.add_column(column, justify="right" if column in ("id", "score") else "left")
        for lead in rows:
            score = "—" if lead.score is None else f"{lead.score:.0f} {lead.score_band or ''}".strip()
            table.add_row(
                str(lead.id), lead.name, lead.company or "", lead.email or "", lead.status, score,
                names.get(lead.owner_id, ""), when(lead.created_at),
            )  # fmt: skip
        print_table(table)


@leads.command("show")
def leads_show(lead_id: int, json_out: JsonOption = False, as_: AsOption = None) -> None:
    """Show one lead with its tasks and latest interactions."""
    from bots.common import console, resolve_actor, session
    from bots.render import emit_json, when
    from sales.interactions import list_interactions
    from sales.leads import get_lead
    from sales.tasks import list_tasks
    from store.types import utcnow

    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        lead = get_lead(s, who, lead_id)
        names = _names(s)
        if json_out:
            today = utcnow().date()
            emit_json(
                {
                    "lead": lead_json(lead, names),
                    "tasks": [task_json(t, names, today) for t in list_tasks(s, who, lead_id=lead.id, status="all")],
                    "interactions": [interaction_json(n) for n in list_interactions(s, who, lead_id=lead.id, limit=5)],
                }
            )
            return
        out = console()
        out.print(f"[bold]Lead #{lead.id}: {lead.name}[/]  ({lead.status})", highlight=False)
        for label, value in (
            ("company", lead.company), ("title", lead.title), ("email", lead.email), ("phone", lead.phone),
            ("source", lead.source), ("industry", lead.industry), ("region", lead.region),
            ("owner", names.get(lead.owner_id)), ("created", when(lead.created_at)),
            ("score", None if lead.score is None else f"{lead.score:.0f} ({lead.score_band}, model {lead.score_model_version})"),
        ):  # fmt: skip
            if value:
                out.print(f"  {label:>9}: {value}", highlight=False)
        for task in list_tasks(s, who, lead_id=lead.id, status="all"):
            out.print(f"  task #{task.id} ({task.status}) due {when(task.due_date)}: {task.title}", highlight=False)
        for note in list_interactions(s, who, lead_id=lead.id, limit=5):
            out.print(
                f"  {when(note.occurred_at)} {note.channel}: {' '.join(note.body[:100].split())}", highlight=False
            )


@leads.command("create")
def leads_create(
    name: Annotated[str, typer.Option(help="The person's full name.")],
    email: Annotated[str | None, typer.Option(help="Email address (validated).")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number in any common format.")] = None,
    company: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option(help="Job title.")] = None,
    source: Annotated[str | None, typer.Option(help="web, referral, event, outbound, partner...")] = None,
    industry: Annotated[str | None, typer.Option()] = None,
    region: Annotated[
        str | None, typer.Option(help="Territory; decides assignment when a manager captures the lead.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Assign to this user (email) instead of by rule.")] = None,
    merge: Annotated[bool, typer.Option(help="Merge into an existing duplicate instead of refusing.")] = False,
    as_: AsOption = None,
) -> None:
    """Capture a lead. Duplicates (same email, or same company and name) are refused unless --merge."""
    from app.settings import get_settings
    from bots.common import console, resolve_actor, session
    from sales.leads import LeadInput, create_lead

    with session() as s:
        who = resolve_actor(s, as_)
        data = LeadInput(
            name=name, email=email, phone=phone, company=company, title=title, source=source,
            industry=industry, region=region, owner_email=owner,
        )  # fmt: skip
        result = create_lead(
            s,
            who,
            data,
            on_duplicate="merge" if merge else "refuse",
            default_phone_region=get_settings().default_phone_region,
        )
        verb = "Merged into" if result.merged else "Created"
        console().print(
            f"{verb} lead #{result.lead.id} {result.lead.name} — owner: {_names(s).get(result.lead.owner_id)} "
            f"({result.assignment}); receipt {result.receipt_id}"
            + (f"; first-contact task #{result.task_id}" if result.task_id else ""),
            highlight=False,
        )


@leads.command("move")
def leads_move(
    lead_id: int,
    status: Annotated[
        str, typer.Argument(help="working, new or disqualified (qualification needs approval: use chat).")
    ],
    reason: Annotated[str | None, typer.Option(help="Why; required for disqualified.")] = None,
    as_: AsOption = None,
) -> None:
    """Change a lead's status."""
    from bots.common import console, resolve_actor, session
    from sales.leads import set_lead_status

    with session() as s:
        receipt = set_lead_status(s, resolve_actor(s, as_), lead_id, status.lower(), reason)
        console().print(f"Lead #{lead_id} is now {status.lower()}; receipt {receipt}", highlight=False)


# ---------------------------------------------------------------- deals


@deals.command("list")
def deals_list(
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    status: Annotated[str | None, typer.Option(help="open, won, lost or all.")] = None,
    owner: OwnerOption = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Text in the deal or account name.")] = None,
    limit: LimitOption = 50,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """List the deals you may see, most recently updated first."""
    from rich.table import Table

    from bots.common import resolve_actor, session
    from bots.render import emit_json, money, print_table, when
    from sales.deals import list_deals

    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        rows = list_deals(
            s, who, stage=stage, status=status, owner_id=_owner_id(s, who, owner), query=search, limit=limit
        )
        names = _names(s)
        if json_out:
            emit_json([deal_json(deal, names) for deal in rows])
            return
        table = Table(title=f"Deals visible to {who.email}", caption=f"{len(rows)} shown")
        for column in ("id", "name", "stage", "amount", "owner", "expected close", "in stage since"):
            table.add_column(column, justify="right" if column in ("id", "amount") else "left")
        for deal in rows:
            table.add_row(
                str(deal.id), deal.name, deal.stage, money(deal.amount, deal.currency), names.get(deal.owner_id, ""),
                when(deal.expected_close_date), when(deal.stage_entered_at),
            )  # fmt: skip
        print_table(table)


@deals.command("show")
def deals_show(deal_id: int, json_out: JsonOption = False, as_: AsOption = None) -> None:
    """Show one deal with its stage history, tasks and latest interactions."""
    from sqlmodel import col, select

    from bots.common import console, resolve_actor, session
    from bots.render import emit_json, money, when
    from sales.deals import get_deal
    from sales.interactions import list_interactions
    from sales.stages import workspace_machine
    from sales.tasks import list_tasks
    from store.models import Account, StageChange
    from store.types import utcnow

    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        deal = get_deal(s, who, deal_id)
        machine = workspace_machine(s)
        names = _names(s)
        account = s.get(Account, deal.account_id) if deal.account_id else None
        history = s.exec(
            select(StageChange).where(StageChange.deal_id == deal.id).order_by(col(StageChange.changed_at))
        ).all()
        if json_out:
            today = utcnow().date()
            emit_json(
                {
                    "deal": {**deal_json(deal, names), "account": account.name if account else None},
                    "can_move_to": machine.allowed_moves(deal.stage),
                    "history": [
                        {"from_stage": h.from_stage, "to_stage": h.to_stage, "changed_at": h.changed_at}
                        for h in history
                    ],
                    "tasks": [task_json(t, names, today) for t in list_tasks(s, who, deal_id=deal.id, status="all")],
                    "interactions": [interaction_json(n) for n in list_interactions(s, who, deal_id=deal.id, limit=5)],
                }
            )
            return
        out = console()
        out.print(
            f"[bold]Deal #{deal.id}: {deal.name}[/]  {deal.stage}, {money(deal.amount, deal.currency)}", highlight=False
        )
        out.print(f"  account: {account.name if account else '—'}; owner: {names.get(deal.owner_id)}; "
                  f"expected close: {when(deal.expected_close_date)}", highlight=False)  # fmt: skip
        if deal.loss_reason:
            out.print(f"  lost because: {deal.loss_reason}", highlight=False)
        if machine.is_open(deal.stage):
            out.print(f"  can move to: {', '.join(machine.allowed_moves(deal.stage))}", highlight=False)
        out.print(
            "  history: " + " → ".join(f"{h.to_stage} ({h.changed_at.date().isoformat()})" for h in history),
            highlight=False,
        )
        for task in list_tasks(s, who, deal_id=deal.id, status="all"):
            out.print(f"  task #{task.id} ({task.status}) due {when(task.due_date)}: {task.title}", highlight=False)
        for note in list_interactions(s, who, deal_id=deal.id, limit=5):
            out.print(
                f"  {when(note.occurred_at)} {note.channel}: {' '.join(note.body[:100].split())}", highlight=False
            )


@deals.command("create")
def deals_create(
    name: Annotated[str, typer.Option(help="Deal name.")],
    account: Annotated[str | None, typer.Option(help="Account name (created if new).")] = None,
    amount: Annotated[float | None, typer.Option(help="Expected amount.")] = None,
    currency: Annotated[str, typer.Option(help="ISO currency code.")] = "USD",
    product: Annotated[str | None, typer.Option()] = None,
    close_date: Annotated[
        str | None,
        typer.Option(
            "--close-date", help="Expected close: 2027-02-15, 'end of quarter', 'in 3 months', 'next quarter'."
        ),
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Starting stage (default: the first; `salesgraph stages show` lists them).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's email (default: you).")] = None,
    as_: AsOption = None,
) -> None:
    """Create a deal; the playbook adds its meeting and close-plan tasks."""
    from decimal import Decimal

    from bots.common import console, parse_date, resolve_actor, session
    from sales.deals import DealInput, create_deal

    close = parse_date(close_date, "--close-date", period_end=True)
    with session() as s:
        data = DealInput(
            name=name, account_name=account, amount=None if amount is None else Decimal(str(amount)), currency=currency,
            product=product, expected_close_date=close, stage=stage, owner_email=owner,
        )  # fmt: skip
        result = create_deal(s, resolve_actor(s, as_), data)
        console().print(
            f"Created deal #{result.deal.id} {result.deal.name} in {result.deal.stage}; tasks "
            f"{', '.join('#' + str(t) for t in result.task_ids)}; receipt {result.receipt_id}",
            highlight=False,
        )


@deals.command("move")
def deals_move(
    deal_id: int,
    stage: Annotated[
        str,
        typer.Argument(
            help="Target stage: one forward (more if the stages allow skipping), one back, or Lost; Won from the "
            "last open stage. `salesgraph stages show` lists the moves."
        ),
    ],
    amount: Annotated[float | None, typer.Option(help="Final amount (needed for Won if the deal has none).")] = None,
    reason: Annotated[str | None, typer.Option(help="Loss reason (needed for Lost).")] = None,
    as_: AsOption = None,
) -> None:
    """Move a deal to another stage. Disallowed moves are refused with the allowed ones listed."""
    from bots.common import console, resolve_actor, session
    from sales.deals import move_deal_to_stage

    with session() as s:
        result = move_deal_to_stage(s, resolve_actor(s, as_), deal_id, stage, amount=amount, loss_reason=reason)
        console().print(
            f"Deal #{deal_id} moved {result.from_stage} → {result.to_stage}; receipt {result.receipt_id}",
            highlight=False,
        )


@deals.command("stalled")
def deals_stalled(json_out: JsonOption = False, as_: AsOption = None) -> None:
    """Open deals with no stage change or interaction for longer than their stage allows."""
    from rich.table import Table

    from bots.common import resolve_actor, session
    from bots.render import emit_json, jsonable, print_table
    from sales.deals import list_stalled_deals

    with session(read_only=True) as s:
        rows = list_stalled_deals(s, resolve_actor(s, as_))
        names = _names(s)
        if json_out:
            emit_json([{**jsonable(d), "owner": names.get(d.owner_id)} for d in rows])
            return
        table = Table(
            title="Stalled deals",
            caption=f"{len(rows)} stalled: no stage change or interaction for longer than the stage allows",
        )
        for column in ("id", "deal", "owner", "stage", "idle", "allowed", "last activity"):
            table.add_column(column, justify="right" if column in ("id", "idle", "allowed") else "left")
        for d in rows:
            table.add_row(
                str(d.deal_id), d.name, names.get(d.owner_id, ""), d.stage, f"{d.days_idle} d", f"{d.limit_days} d",
                d.last_activity_at.date().isoformat(),
            )  # fmt: skip
        print_table(table)


# ---------------------------------------------------------------- tasks


@tasks.command("list")
def tasks_list(
    owner: Annotated[str, typer.Option(help="'me', 'team' (everyone you may see), an email or a name.")] = "me",
    status: Annotated[str, typer.Option(help="open, done, cancelled or all.")] = "open",
    due_before: Annotated[
        str | None,
        typer.Option(help="Only tasks due before this day: 2026-12-01, tomorrow, 'next monday', 'end of month'."),
    ] = None,
    limit: LimitOption = 100,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """List tasks, soonest due first."""
    from rich.table import Table

    from bots.common import parse_date, resolve_actor, session
    from bots.render import emit_json, print_table, when
    from sales.tasks import list_tasks
    from store.types import utcnow

    before = parse_date(due_before, "--due-before")
    with session(read_only=True) as s:
        who = resolve_actor(s, as_)
        owner_id = None if owner == "team" else _owner_id(s, who, owner)
        owner_ids = None if owner_id is None else [owner_id]
        rows = list_tasks(s, who, owner_ids=owner_ids, status=status, due_before=before, limit=limit)
        names = _names(s)
        today = utcnow().date()
        if json_out:
            emit_json([task_json(t, names, today) for t in rows])
            return
        table = Table(title="Tasks", caption=f"{len(rows)} shown")
        for column in ("id", "due", "title", "owner", "status", "record"):
            table.add_column(column)
        for t in rows:
            due = when(t.due_date)
            if t.due_date and t.due_date < today and t.status == "open":
                due = f"[red]{due} (overdue)[/]"
            record = f"deal #{t.deal_id}" if t.deal_id else (f"lead #{t.lead_id}" if t.lead_id else "")
            table.add_row(str(t.id), due, t.title, names.get(t.owner_id, ""), t.status, record)
        print_table(table)


@tasks.command("create")
def tasks_create(
    title: Annotated[str, typer.Argument(help="What has to be done.")],
    due: Annotated[
        str | None, typer.Option(help="Due date: 2026-12-01, tomorrow, 'next friday', 'in 2 weeks', 'end of month'.")
    ] = None,
    deal: Annotated[int | None, typer.Option(help="Related deal id.")] = None,
    lead: Annotated[int | None, typer.Option(help="Related lead id.")] = None,
    owner: Annotated[str | None, typer.Option(help="Who does it (default: you).")] = None,
    as_: AsOption = None,
) -> None:
    """Create a task."""
    from bots.common import console, parse_date, resolve_actor, session
    from sales.tasks import TaskInput, create_task

    due_date = parse_date(due, "--due")
    with session() as s:
        who = resolve_actor(s, as_)
        task, receipt = create_task(
            s,
            who,
            TaskInput(title=title, due_date=due_date, deal_id=deal, lead_id=lead, owner_id=_owner_id(s, who, owner)),
        )
        console().print(f"Created task #{task.id}; receipt {receipt}", highlight=False)


@tasks.command("move")
def tasks_move(
    task_id: int,
    due: Annotated[str, typer.Argument(help="New due date: 2026-12-01, tomorrow, 'next friday', 'in 2 weeks'.")],
    as_: AsOption = None,
) -> None:
    """Reschedule an open task."""
    from bots.common import console, parse_date, resolve_actor, session
    from sales.tasks import reschedule_task

    due_date = parse_date(due, "the due date")
    assert due_date is not None  # a required argument
    with session() as s:
        _, receipt = reschedule_task(s, resolve_actor(s, as_), task_id, due_date)
        console().print(f"Task #{task_id} now due {due_date.isoformat()}; receipt {receipt}", highlight=False)


@tasks.command("done")
def tasks_done(task_id: int, as_: AsOption = None) -> None:
    """Mark a task done."""
    from bots.common import console, resolve_actor, session
    from sales.tasks import complete_task

    with session() as s:
        _, receipt = complete_task(s, resolve_actor(s, as_), task_id)
        console().print(f"Task #{task_id} done; receipt {receipt}", highlight=False)


# ---------------------------------------------------------------- users


@users.command("list")
def users_list(json_out: JsonOption = False) -> None:
    """Everyone in the workspace, with role, manager and tenure."""
    from rich.table import Table

    from bots.common import session
    from bots.render import emit_json, print_table, when
    from sales.users import list_users

    with session(read_only=True) as s:
        rows = list_users(s)
        names: dict[int | None, str] = {u.id: u.name for u in rows}
        if json_out:
            emit_json([user_json(u, names) for u in rows])
            return
        table = Table(title="Users", caption=f"{len(rows)} users")
        for column in ("id", "name", "email", "role", "manager", "team", "region", "started"):
            table.add_column(column)
        for u in rows:
            table.add_row(
                str(u.id), u.name, u.email, u.role, names.get(u.manager_id, "") if u.manager_id else "",
                u.team or "", u.region or "", when(u.started_at),
            )  # fmt: skip
        print_table(table)


@users.command("add")
def users_add(
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="rep, manager or admin.")] = "rep",
    manager: Annotated[str | None, typer.Option(help="Manager's email.")] = None,
    region: Annotated[str | None, typer.Option()] = None,
    started: Annotated[
        str | None, typer.Option(help="Start date, for tenure: 2025-01-15, today, 'last monday', '3 months ago'.")
    ] = None,
    slack_id: Annotated[str | None, typer.Option("--slack-id", help="Slack user id (U...).")] = None,
    as_: AsOption = None,
) -> None:
    """Add a user (admins only). In an empty workspace the CLI acts as the system, so the first admin can be added."""
    from bots.common import console, parse_date, resolve_actor, session
    from sales.users import UserInput, create_user

    started_at = parse_date(started, "--started", prefer="past")
    with session() as s:
        data = UserInput(
            name=name, email=email, role=role, manager_email=manager, region=region, started_at=started_at,
            slack_user_id=slack_id,
        )  # fmt: skip
        user, receipt = create_user(s, resolve_actor(s, as_), data)
        console().print(
            f"Added {user.role} {user.name} <{user.email}> as user #{user.id}; receipt {receipt}", highlight=False
        )
