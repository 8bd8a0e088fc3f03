"""Tools for everyday rep work: fix a mistake (edit, reopen, undo) and decide what to do next (stalled deals, who to
call first, hottest leads, contacts at an account). Edits, reopening and undo are audited state changes; the rest
only read what the asker may see."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select

from store.db import session_scope
from tools.base import RunContext
from tools.records import deal_id_for, lead_id_for
from tools.results import (
    AccountContactsResult,
    CallTargetRow,
    EditRecordResult,
    HotLeadRow,
    HotLeadsResult,
    ReopenDealResult,
    StalledDealRow,
    StalledDealsResult,
    UndoResult,
    WhoToCallResult,
)
from tools.schemas import (
    AccountContactsArgs,
    EditRecordArgs,
    HotLeadsArgs,
    ReopenDealArgs,
    StalledDealsArgs,
    UndoArgs,
    WhoToCallArgs,
)


def _record_id(s: object, ctx: RunContext, args: EditRecordArgs) -> int:
    from sqlmodel import Session

    from sales.errors import NotFound
    from sales.permissions import ensure_can_see
    from store.models import Contact

    assert isinstance(s, Session)
    if args.record_type == "deal":
        return deal_id_for(s, ctx.actor, args.record_id, args.record_name, prefer_open=True)
    if args.record_type == "lead":
        return lead_id_for(s, ctx.actor, args.record_id, args.record_name)
    if args.record_id is not None:
        return args.record_id
    wanted = (args.record_name or "").strip().lower()
    found = [
        c
        for c in s.exec(select(Contact).where(func.lower(Contact.name).like(f"%{wanted}%"))).all()
        if ctx.actor.can_see_owner(c.owner_id)
    ]
    if not found:
        raise NotFound(f"no contact you can see is called {args.record_name!r}")
    if len(found) > 1:
        listed = "; ".join(f"#{c.id} {c.name}" for c in found[:8])
        raise NotFound(f"{args.record_name!r} matches several: {listed}. Say which")
    ensure_can_see(ctx.actor, found[0].owner_id, f"contact {found[0].name}")
    assert found[0].id is not None
    return found[0].id


def edit_record(ctx: RunContext, args: EditRecordArgs) -> EditRecordResult:
    from sales.edits import edit_record as edit
    from store.audit import jsonable

    with session_scope(ctx.engine) as s:
        record_id = _record_id(s, ctx, args)
        done = edit(s, ctx.actor, args.record_type, record_id, args.changes())
        return EditRecordResult(
            receipt_id=done.receipt_id,
            record_type=args.record_type,
            record_id=record_id,
            name=done.name,
            changed={k: [jsonable(b), jsonable(a)] for k, (b, a) in done.changed.items()},
        )


def reopen_deal(ctx: RunContext, args: ReopenDealArgs) -> ReopenDealResult:
    from sales.edits import reopen_deal as reopen

    with session_scope(ctx.engine) as s:
        deal_id = deal_id_for(s, ctx.actor, args.deal_id, args.deal_name)
        done = reopen(s, ctx.actor, deal_id, args.reason, args.to_stage)
        return ReopenDealResult(
            receipt_id=done.receipt_id,
            deal_id=deal_id,
            deal_name=done.deal.name,
            from_stage=done.from_stage,
            to_stage=done.to_stage,
            reason=args.reason,
        )


def undo_last_change(ctx: RunContext, args: UndoArgs) -> UndoResult:
    from sales.edits import undo_last_change as undo
    from store.audit import jsonable

    with session_scope(ctx.engine) as s:
        done = undo(s, ctx.actor)
        return UndoResult(
            receipt_id=done.receipt_id,
            undone_receipt_id=done.undone_event_id,
            undone_action=done.action,
            record_type=done.record_type,
            record_id=done.record_id,
            name=done.name,
            restored=jsonable(done.restored),
        )


def stalled_deals(ctx: RunContext, args: StalledDealsArgs) -> StalledDealsResult:
    from datetime import UTC, datetime

    from sales.deals import list_stalled_deals
    from store.models import User
    from tools.records import owner_id_for

    with session_scope(ctx.engine) as s:
        owner_id = owner_id_for(s, ctx.actor, args.owner)
        now = datetime.combine(ctx.today(), datetime.max.time(), UTC)
        found = list_stalled_deals(s, ctx.actor, now=now, idle_days=args.idle_days)
        stalled = [d for d in found if owner_id is None or d.owner_id == owner_id]
        emails = dict(s.exec(select(User.id, User.email).where(col(User.id).in_({d.owner_id for d in stalled}))).all())
        rows = [
            StalledDealRow(
                deal_id=d.deal_id,
                name=d.name,
                owner_email=emails.get(d.owner_id),
                stage=d.stage,
                days_idle=d.days_idle,
                limit_days=d.limit_days,
                reason=d.reason,
            )
            for d in stalled[: args.limit]
        ]
        return StalledDealsResult(deals=rows, total=len(stalled), idle_days=args.idle_days)


def who_to_call(ctx: RunContext, args: WhoToCallArgs) -> WhoToCallResult:
    from sales.priorities import who_to_call as rank

    with session_scope(ctx.engine) as s:
        targets = rank(s, ctx.actor, today=ctx.today(), limit=args.limit)
        return WhoToCallResult(
            ranking="chance to win × amount × how long it has been idle against its stage's limit × tasks due today",
            deals=[
                CallTargetRow(
                    deal_id=t.deal_id,
                    name=t.name,
                    owner=t.owner,
                    stage=t.stage,
                    p_win=t.p_win,
                    amount=t.amount,
                    amount_imputed=t.amount_imputed,
                    currency=t.currency,
                    days_idle=t.days_idle,
                    tasks_due=t.tasks_due,
                    priority=t.priority,
                    reason=t.reason,
                )
                for t in targets
            ],
        )


def hot_leads(ctx: RunContext, args: HotLeadsArgs) -> HotLeadsResult:
    """Open leads by score; open leads without a score are scored first (one audited batch), so the ranking
    covers every lead the asker may see rather than only those someone happened to score."""
    from sales.priorities import hottest_leads
    from store.models import Lead, LeadStatus

    with session_scope(ctx.engine) as s:
        stmt = select(Lead.id).where(
            col(Lead.status).in_([LeadStatus.NEW, LeadStatus.WORKING]), col(Lead.score).is_(None)
        )
        visible = ctx.actor.owner_filter(Lead.owner_id)
        if visible is not None:
            stmt = stmt.where(visible)
        unscored = [int(i) for i in s.exec(stmt).all() if i is not None]
        scored_now, receipt = 0, None
        if unscored:
            from analytics.scoring import score_leads

            batch = score_leads(s, ctx.actor, settings=ctx.settings, lead_ids=unscored)
            scored_now, receipt = batch.scored, batch.audit_event_id
        leads = hottest_leads(s, ctx.actor, limit=args.limit)
        return HotLeadsResult(
            leads=[
                HotLeadRow(
                    lead_id=lead.lead_id,
                    name=lead.name,
                    company=lead.company,
                    owner=lead.owner,
                    score=lead.score,
                    band=lead.band,
                    status=lead.status,
                )
                for lead in leads
            ],
            unscored=len(unscored) - scored_now,
            scored_now=scored_now,
            receipt_id=receipt,
        )


def account_contacts(ctx: RunContext, args: AccountContactsArgs) -> AccountContactsResult:
    from sales.priorities import contacts_at_account

    with session_scope(ctx.engine) as s:
        found = contacts_at_account(s, ctx.actor, args.account)
        return AccountContactsResult(account_id=found.account_id, account=found.account, contacts=found.contacts)
