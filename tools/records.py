"""Tools over records: create a lead, find records, move a deal, log an interaction, create and list tasks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from sales.errors import InvalidInput
from sales.permissions import Actor
from store.db import session_scope
from store.models import Account, Contact, Deal, Lead, Task, TaskStatus, User
from tools.base import RunContext, resolve_id
from tools.results import (
    CreateLeadResult,
    CreateTaskResult,
    FindRecordsResult,
    ListTasksResult,
    LogInteractionResult,
    MoveDealResult,
    RecordSummary,
    TaskSummary,
)
from tools.schemas import (
    CreateLeadArgs,
    CreateTaskArgs,
    FindRecordsArgs,
    ListTasksArgs,
    LogInteractionArgs,
    MoveDealArgs,
)


def _emails(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {
        uid: email for uid, email in session.exec(select(User.id, User.email).where(col(User.id).in_(wanted))) if uid
    }


def _iso_date(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidInput({field: f"{value!r} is not a date (use YYYY-MM-DD)"}) from None


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


def lead_id_for(session: Session, actor: Actor, lead_id: int | None, lead_name: str | None) -> int:
    from sales.leads import list_leads

    return resolve_id(session, actor, "lead", lead_id, lead_name, list_leads, lambda lead: lead.name)


def deal_id_for(
    session: Session, actor: Actor, deal_id: int | None, deal_name: str | None, *, prefer_open: bool = False
) -> int:
    """The deal meant by an id or a name. With ``prefer_open`` (moving, logging, a task, an edit), a name that
    matches several deals of which exactly one is still open means that one: closed deals are rarely the target."""
    from sales.deals import list_deals

    if prefer_open and deal_id is None and deal_name:
        still_open = list_deals(session, actor, query=deal_name, status="open", limit=2)
        if len(still_open) == 1 and still_open[0].id is not None:
            return still_open[0].id

    return resolve_id(session, actor, "deal", deal_id, deal_name, list_deals, lambda deal: deal.name)


def owner_id_for(session: Session, actor: Actor, owner: str | None) -> int | None:
    from sales.users import find_user

    if owner is None or not owner.strip():
        return None
    return find_user(session, actor, owner).id


def create_lead(ctx: RunContext, args: CreateLeadArgs) -> CreateLeadResult:
    from sales.leads import LeadInput
    from sales.leads import create_lead as create

    with session_scope(ctx.engine) as s:
        result = create(
            s,
            ctx.actor,
            LeadInput(**args.model_dump(exclude_none=True)),
            default_phone_region=ctx.settings.default_phone_region,
        )
        lead = result.lead
        assert lead.id is not None
        owner = _emails(s, {lead.owner_id}).get(lead.owner_id or -1)
        return CreateLeadResult(
            receipt_id=result.receipt_id,
            lead_id=lead.id,
            name=lead.name,
            company=lead.company,
            email=lead.email,
            owner_email=owner,
            status=lead.status,
            created=result.created,
            duplicate_of=lead.id if result.merged else None,
            assignment=result.assignment,
            task_id=result.task_id,
        )


def _period_bounds(name: str, label: str | None, today: date | None) -> tuple[date | None, date | None]:
    """The first day and the day after the last of a period named in words ("this month", "2017")."""
    if not label:
        return None, None
    from sales.periods import parse_period

    try:
        period = parse_period(label, today or datetime.now(UTC).date())
    except ValueError as exc:
        raise InvalidInput({name: str(exc)}) from None
    return period.start, period.end


def _find(
    s: Session, actor: Actor, args: FindRecordsArgs, today: date | None = None
) -> tuple[list[RecordSummary], int]:
    """The records the listing shows (at most ``args.limit``) and how many match in all."""
    from sales.deals import find_deals
    from sales.leads import find_leads
    from sales.tasks import list_tasks

    owner_id = owner_id_for(s, actor, args.owner)
    deal_only = {
        name: value
        for name in (
            "amount_min",
            "amount_max",
            "industry",
            "product",
            "region",
            "closing",
            "closed",
            "created",
            "stage",
        )
        if (value := getattr(args, name)) is not None
        and not (name == "industry" and args.entity == "account")
        and not (name == "created" and args.entity == "lead")
    }
    if args.entity != "deal" and deal_only:
        raise InvalidInput(
            {name: f"only deals can be filtered by {name.replace('_', ' ')}, not {args.entity}s" for name in deal_only}
        )
    if args.longest_in_stage and args.entity != "deal":
        raise InvalidInput({"longest_in_stage": f"only deals have stages to sit in, not {args.entity}s"})
    if args.source and args.entity != "lead":
        raise InvalidInput({"source": f"only leads can be filtered by where they came from, not {args.entity}s"})
    if args.entity == "lead":
        created_from, created_to = _period_bounds("created", args.created, today)
        leads, lead_total = find_leads(
            s,
            actor,
            status=args.status,
            owner_id=owner_id,
            query=args.query,
            limit=args.limit,
            source=args.source,
            created_from=created_from,
            created_to=created_to,
        )
        owners = _emails(s, {lead.owner_id for lead in leads})
        lead_rows = [
            RecordSummary(
                id=lead.id or 0,
                type="lead",
                name=lead.name,
                owner_email=owners.get(lead.owner_id or -1),
                company=lead.company,
                status=lead.status,
                email=lead.email,
                score=lead.score,
            )
            for lead in leads
        ]
        return lead_rows, len(lead_rows) if lead_total is None else lead_total
    if args.entity == "deal":
        closing_from, closing_to = _period_bounds("closing", args.closing, today)
        closed_from, closed_to = _period_bounds("closed", args.closed, today)
        created_from, created_to = _period_bounds("created", args.created, today)
        deals, total = find_deals(
            s,
            actor,
            stage=args.stage,
            status=args.status,
            owner_id=owner_id,
            query=args.query,
            limit=args.limit,
            closing_from=closing_from,
            closing_to=closing_to,
            largest_first=args.largest_first,
            longest_in_stage=args.longest_in_stage,
            amount_min=args.amount_min,
            amount_max=args.amount_max,
            amount_currency=args.amount_currency,
            industry=args.industry,
            product=args.product,
            region=args.region,
            closed_from=closed_from,
            closed_to=closed_to,
            created_from=created_from,
            created_to=created_to,
        )
        owners = _emails(s, {deal.owner_id for deal in deals})
        now = datetime.now(UTC)  # days in stage as of the end of ``today`` when a run gives an earlier day
        reference = now if today is None or today >= now.date() else datetime.combine(today, time.max, tzinfo=UTC)
        account_ids = [d.account_id for d in deals if d.account_id]
        accounts = dict(s.exec(select(Account.id, Account.name).where(col(Account.id).in_(account_ids))).all())
        deal_rows = [
            RecordSummary(
                id=deal.id or 0,
                type="deal",
                name=deal.name,
                owner_email=owners.get(deal.owner_id),
                company=accounts.get(deal.account_id) if deal.account_id else None,
                stage=deal.stage,
                amount=_money(deal.amount),
                currency=deal.currency,
                due_date=deal.expected_close_date.isoformat() if deal.expected_close_date else None,
                days_in_stage=round((reference - deal.stage_entered_at).total_seconds() / 86400, 1)
                if args.longest_in_stage
                else None,
            )
            for deal in deals
        ]
        return deal_rows, len(deal_rows) if total is None else total
    if args.entity == "task":
        status = args.status or TaskStatus.OPEN
        tasks = list_tasks(s, actor, owner_ids=[owner_id] if owner_id else None, status=status, limit=200)
        if args.query:
            tasks = [t for t in tasks if args.query.lower() in t.title.lower()]
        owners = _emails(s, {t.owner_id for t in tasks})
        task_rows = [
            RecordSummary(
                id=t.id or 0,
                type="task",
                name=t.title,
                owner_email=owners.get(t.owner_id),
                status=t.status,
                due_date=t.due_date.isoformat() if t.due_date else None,
            )
            for t in tasks[: args.limit]
        ]
        return task_rows, len(task_rows)
    # Accounts and contacts have no listing in the domain yet; a read with the same owner filter as everywhere.
    table: type[Account] | type[Contact] = Account if args.entity == "account" else Contact
    stmt = select(table)
    visible = actor.owner_filter(table.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if owner_id is not None:
        stmt = stmt.where(table.owner_id == owner_id)
    if args.query:
        pattern = f"%{args.query.lower()}%"
        if table is Contact:
            stmt = stmt.where(
                or_(func.lower(Contact.name).like(pattern), func.lower(func.coalesce(Contact.email, "")).like(pattern))
            )
        else:
            stmt = stmt.where(func.lower(Account.name).like(pattern))
    if table is Account and args.industry:  # the account's own industry, as stored (case aside)
        stmt = stmt.where(func.lower(func.coalesce(Account.industry, "")) == args.industry.strip().lower())
    found: list[Any] = list(s.exec(stmt.order_by(col(table.id)).limit(args.limit)).all())
    total = len(found)
    if total == args.limit:  # a full page: how many match in all, so "Found 10" never stands for 300
        total = int(s.exec(select(func.count()).select_from(stmt.subquery())).one())
    owners = _emails(s, {r.owner_id for r in found})
    if table is Contact:
        contacts = [
            RecordSummary(id=r.id, type="contact", name=r.name, owner_email=owners.get(r.owner_id or -1), email=r.email)
            for r in found
        ]
        return contacts, total
    account_rows = [
        RecordSummary(
            id=r.id, type="account", name=r.name, owner_email=owners.get(r.owner_id or -1), company=r.industry
        )
        for r in found
    ]
    return account_rows, total


def find_records(ctx: RunContext, args: FindRecordsArgs) -> FindRecordsResult:
    with session_scope(ctx.engine) as s:
        records, total = _find(s, ctx.actor, args, ctx.today())
        return FindRecordsResult(entity=args.entity, records=records, total=total)


def move_deal(ctx: RunContext, args: MoveDealArgs) -> MoveDealResult:
    from sales.deals import move_deal_to_stage

    with session_scope(ctx.engine) as s:
        deal_id = deal_id_for(s, ctx.actor, args.deal_id, args.deal_name, prefer_open=True)
        moved = move_deal_to_stage(
            s, ctx.actor, deal_id, args.to_stage, amount=args.amount, loss_reason=args.loss_reason
        )
        return MoveDealResult(
            receipt_id=moved.receipt_id,
            deal_id=deal_id,
            deal_name=moved.deal.name,
            from_stage=moved.from_stage,
            to_stage=moved.to_stage,
            amount=_money(moved.deal.amount),
            currency=moved.deal.currency,
        )


def _occurred_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput({"occurred_at": f"{value!r} is not an ISO date or datetime"}) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def log_interaction(ctx: RunContext, args: LogInteractionArgs) -> LogInteractionResult:
    from sales.interactions import InteractionInput
    from sales.interactions import log_interaction as log

    with session_scope(ctx.engine) as s:
        deal_id = lead_id = None
        if args.deal_id is not None or args.deal_name:
            deal_id = deal_id_for(s, ctx.actor, args.deal_id, args.deal_name, prefer_open=True)
        else:
            lead_id = lead_id_for(s, ctx.actor, args.lead_id, args.lead_name)
        direction = args.direction or ("internal" if args.channel == "note" else "outbound")
        interaction, receipt = log(
            s,
            ctx.actor,
            InteractionInput(
                deal_id=deal_id,
                lead_id=lead_id,
                channel=args.channel,
                direction=direction,
                subject=args.subject,
                body=args.body,
                occurred_at=_occurred_at(args.occurred_at),
            ),
        )
        record = s.get(Deal, deal_id) if deal_id is not None else s.get(Lead, lead_id)
        assert interaction.id is not None and record is not None
        return LogInteractionResult(
            receipt_id=receipt,
            interaction_id=interaction.id,
            record_type="deal" if deal_id is not None else "lead",
            record_id=deal_id if deal_id is not None else lead_id or 0,
            record_name=record.name,
            channel=interaction.channel,
            occurred_at=interaction.occurred_at.isoformat(),
        )


def _task_summary(task: Task, owners: dict[int, str], today: date) -> TaskSummary:
    return TaskSummary(
        id=task.id or 0,
        title=task.title,
        due_date=task.due_date.isoformat() if task.due_date else None,
        status=task.status,
        owner_email=owners.get(task.owner_id),
        deal_id=task.deal_id,
        lead_id=task.lead_id,
        overdue=task.status == TaskStatus.OPEN and task.due_date is not None and task.due_date < today,
    )


def create_task(ctx: RunContext, args: CreateTaskArgs) -> CreateTaskResult:
    from sales.tasks import TaskInput
    from sales.tasks import create_task as create

    with session_scope(ctx.engine) as s:
        deal_id = lead_id = None
        if args.deal_id is not None or args.deal_name:
            deal_id = deal_id_for(s, ctx.actor, args.deal_id, args.deal_name, prefer_open=True)
        if args.lead_id is not None or args.lead_name:
            lead_id = lead_id_for(s, ctx.actor, args.lead_id, args.lead_name)
        task, receipt = create(
            s,
            ctx.actor,
            TaskInput(
                title=args.title,
                due_date=_iso_date(args.due_date, "due_date"),
                owner_id=owner_id_for(s, ctx.actor, args.owner),
                deal_id=deal_id,
                lead_id=lead_id,
            ),
        )
        return CreateTaskResult(receipt_id=receipt, task=_task_summary(task, _emails(s, {task.owner_id}), ctx.today()))


def list_tasks(ctx: RunContext, args: ListTasksArgs) -> ListTasksResult:
    from sales.tasks import list_tasks as list_

    with session_scope(ctx.engine) as s:
        owner_ids = None
        if args.owner and args.owner.strip().lower() not in ("team", "everyone", "all"):
            owner = owner_id_for(s, ctx.actor, args.owner)
            owner_ids = [owner] if owner is not None else None
        deal_id = deal_id_for(s, ctx.actor, None, args.deal_name) if args.deal_name else None
        lead_id = lead_id_for(s, ctx.actor, None, args.lead_name) if args.lead_name else None
        tasks = list_(
            s,
            ctx.actor,
            owner_ids=owner_ids,
            status=args.status,
            due_before=_iso_date(args.due_before, "due_before"),
            due_after=_iso_date(args.due_after, "due_after"),
            deal_id=deal_id,
            lead_id=lead_id,
        )
        owners = _emails(s, {t.owner_id for t in tasks})
        today = ctx.today()
        return ListTasksResult(tasks=[_task_summary(t, owners, today) for t in tasks], total=len(tasks))
