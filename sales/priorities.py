"""What to work on: who to call first today, the hottest leads, stalled deals, the people at an account.

"Who should I call first" ranks the open deals the asker may see by expected value and urgency:

    priority = P(win) × amount × staleness × tasks

P(win) and the amount come from the win-probability model (``analytics.winprob``: a deal without an amount is
valued at its product's median won amount, and says so); staleness is ``1 + min(idle / stall limit, 2)`` (a deal
idle for its stage's whole limit counts double, capped at three times); tasks is ``1 + 0.5 × tasks due today or
overdue on the deal``. Each line carries the reason in words, so the ranking can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from sales.errors import NotFound
from sales.permissions import Actor
from sales.stages import StageMachine, workspace_machine
from store.models import Account, Contact, Deal, Interaction, Lead, LeadStatus, Task, TaskStatus, User
from store.types import UTCDateTime


@dataclass(frozen=True)
class CallTarget:
    deal_id: int
    name: str
    owner: str
    stage: str
    p_win: float
    amount: float
    amount_imputed: bool
    currency: str
    days_idle: int
    stall_limit: int | None
    tasks_due: list[str]
    priority: float
    reason: str


def _last_touch(session: Session, deal_ids: list[int]) -> dict[int, datetime]:
    if not deal_ids:
        return {}
    rows = session.exec(
        select(Interaction.deal_id, func.max(Interaction.occurred_at, type_=UTCDateTime()))
        .where(col(Interaction.deal_id).in_(deal_ids))
        .group_by(col(Interaction.deal_id))
    ).all()
    return {int(d): t for d, t in rows if d is not None and t is not None}


def _money(amount: float, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    return f"{symbol}{amount:,.0f}" if symbol else f"{amount:,.0f} {currency}"


def who_to_call(
    session: Session,
    actor: Actor,
    *,
    today: date,
    limit: int = 5,
    machine: StageMachine | None = None,
) -> list[CallTarget]:
    """The open deals the actor may see, most worth a call today first (see the module's formula)."""
    from analytics.winprob import win_probabilities

    machine = machine or workspace_machine(session)

    probabilities = win_probabilities(session, actor, today=today).deals
    if not probabilities:
        return []
    ids = [p.deal_id for p in probabilities]
    deals = {d.id: d for d in session.exec(select(Deal).where(col(Deal.id).in_(ids))).all()}
    owners = dict(session.exec(select(User.id, User.name)).all())
    touched = _last_touch(session, ids)
    due: dict[int, list[str]] = {}
    for task in session.exec(
        select(Task).where(col(Task.deal_id).in_(ids), Task.status == TaskStatus.OPEN, col(Task.due_date) <= today)
    ).all():
        if task.deal_id is not None:
            overdue = " (overdue)" if task.due_date and task.due_date < today else ""
            due.setdefault(task.deal_id, []).append(task.title + overdue)
    now = datetime.combine(today, datetime.min.time(), UTC)
    targets = []
    for p in probabilities:
        deal = deals.get(p.deal_id)
        if deal is None:
            continue
        last = max(deal.stage_entered_at, touched[p.deal_id]) if p.deal_id in touched else deal.stage_entered_at
        idle = max((now - last).days, 0)
        stall = machine.stall_limit(deal.stage)
        staleness = 1 + min(idle / stall, 2.0) if stall else 1.0
        tasks = due.get(p.deal_id, [])
        priority = p.p_win * p.amount * staleness * (1 + 0.5 * len(tasks))
        parts = [
            f"{p.p_win:.0%} to win × {_money(p.amount, p.currency)}"
            + (" (typical amount: the deal has none)" if p.amount_imputed else ""),
            f"{idle} day{'s' if idle != 1 else ''} since the last touch"
            + (f" ({deal.stage} allows {stall})" if stall else ""),
        ]
        if tasks:
            parts.append(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} due: {'; '.join(tasks[:2])}")
        targets.append(
            CallTarget(
                deal_id=p.deal_id,
                name=deal.name,
                owner=owners.get(deal.owner_id, ""),
                stage=deal.stage,
                p_win=p.p_win,
                amount=p.amount,
                amount_imputed=p.amount_imputed,
                currency=p.currency,
                days_idle=idle,
                stall_limit=stall,
                tasks_due=tasks,
                priority=round(priority, 2),
                reason="; ".join(parts),
            )
        )
    # priorities in different currencies are not comparable; rank within the actor's main currency first
    return sorted(targets, key=lambda t: (-t.priority, t.deal_id))[:limit]


@dataclass(frozen=True)
class HotLead:
    lead_id: int
    name: str
    company: str | None
    owner: str
    score: float
    band: str | None
    status: str
    scored_at: datetime | None


def hottest_leads(session: Session, actor: Actor, *, limit: int = 5) -> list[HotLead]:
    """The open leads (new or working) the actor may see, highest stored score first; unscored leads are left out
    (``salesgraph leads score`` or the score_lead tool scores them)."""
    stmt = select(Lead).where(col(Lead.status).in_([LeadStatus.NEW, LeadStatus.WORKING]), col(Lead.score).is_not(None))
    visible = actor.owner_filter(Lead.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    owners = dict(session.exec(select(User.id, User.name)).all())
    rows = session.exec(stmt.order_by(col(Lead.score).desc(), col(Lead.id)).limit(limit)).all()
    return [
        HotLead(
            lead_id=lead.id or 0,
            name=lead.name,
            company=lead.company,
            owner=owners.get(lead.owner_id or -1, ""),
            score=float(lead.score or 0.0),
            band=lead.score_band,
            status=lead.status,
            scored_at=lead.scored_at,
        )
        for lead in rows
    ]


@dataclass(frozen=True)
class AccountContacts:
    account_id: int
    account: str
    contacts: list[dict[str, str | None]] = field(default_factory=list)


def contacts_at_account(session: Session, actor: Actor, account: str) -> AccountContacts:
    """The contacts at the account ``account`` names (exact, else a unique partial match) that the actor may see:
    their own contacts, or any contact at an account where they own a deal or a lead."""
    wanted = account.strip().lower()
    exact = session.exec(select(Account).where(func.lower(Account.name) == wanted)).all()
    found = list(exact) or list(session.exec(select(Account).where(func.lower(Account.name).like(f"%{wanted}%"))).all())
    if not found:
        raise NotFound(f"no account called {account!r}")
    if len(found) > 1:
        names = "; ".join(f"#{a.id} {a.name}" for a in found[:8])
        raise NotFound(f"{account!r} matches several: {names}. Say which")
    acct = found[0]
    stmt = select(Contact).where(Contact.account_id == acct.id)
    visible = actor.owner_filter(Contact.owner_id)
    if visible is not None:
        deal_filter, lead_filter = actor.owner_filter(Deal.owner_id), actor.owner_filter(Lead.owner_id)
        assert deal_filter is not None and lead_filter is not None
        deals = session.exec(
            select(func.count()).select_from(Deal).where(col(Deal.account_id) == acct.id, deal_filter)
        ).one()
        leads = session.exec(
            select(func.count()).select_from(Lead).where(col(Lead.account_id) == acct.id, lead_filter)
        ).one()
        if not deals and not leads:
            stmt = stmt.where(visible)
    contacts = session.exec(stmt.order_by(col(Contact.name))).all()
    assert acct.id is not None
    return AccountContacts(
        acct.id,
        acct.name,
        [{"name": c.name, "title": c.title, "email": c.email, "phone": c.phone} for c in contacts],
    )


__all__ = ["AccountContacts", "CallTarget", "HotLead", "contacts_at_account", "hottest_leads", "who_to_call"]
