"""Playbook cadence: the tasks the rules create, so nobody has to remember to add them by hand.

- a new lead gets a first-contact task for its owner, due the next business day;
- a new deal gets a meeting task due within 10 days;
- a deal with an expected close date gets a close-plan task due 30 days before that date (today if closer),
  re-planned whenever the expected close date changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from store.models import Deal, Lead, Task, TaskStatus


@dataclass(frozen=True)
class Cadence:
    first_contact_business_days: int = 1
    meeting_within_days: int = 10
    close_plan_days_before_close: int = 30


DEFAULT_CADENCE = Cadence()

FIRST_CONTACT = "first_contact"
MEETING = "meeting"
CLOSE_PLAN = "close_plan"


def add_business_days(day: date, days: int) -> date:
    current = day
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def first_contact_task(lead: Lead, today: date, cadence: Cadence = DEFAULT_CADENCE) -> Task:
    assert lead.id is not None and lead.owner_id is not None
    who = f"{lead.name} ({lead.company})" if lead.company else lead.name
    return Task(
        title=f"First contact with {who}",
        kind=FIRST_CONTACT,
        due_date=add_business_days(today, cadence.first_contact_business_days),
        owner_id=lead.owner_id,
        lead_id=lead.id,
        account_id=lead.account_id,
    )


def meeting_task(deal: Deal, today: date, cadence: Cadence = DEFAULT_CADENCE) -> Task:
    assert deal.id is not None
    return Task(
        title=f"Hold a discovery meeting for {deal.name}",
        kind=MEETING,
        due_date=today + timedelta(days=cadence.meeting_within_days),
        owner_id=deal.owner_id,
        deal_id=deal.id,
        account_id=deal.account_id,
    )


def close_plan_due(expected_close: date, today: date, cadence: Cadence = DEFAULT_CADENCE) -> date:
    return max(expected_close - timedelta(days=cadence.close_plan_days_before_close), today)


def plan_close_task(session: Session, deal: Deal, today: date, cadence: Cadence = DEFAULT_CADENCE) -> Task | None:
    """Create or move the deal's open close-plan task to match its expected close date; returns it."""
    assert deal.id is not None
    existing = session.exec(
        select(Task).where(Task.deal_id == deal.id, Task.kind == CLOSE_PLAN, col(Task.status) == TaskStatus.OPEN)
    ).first()
    if deal.expected_close_date is None:
        if existing is not None:
            existing.status = TaskStatus.CANCELLED
            session.add(existing)
        return None
    due = close_plan_due(deal.expected_close_date, today, cadence)
    if existing is not None:
        existing.due_date = due
        existing.owner_id = deal.owner_id
        session.add(existing)
        return existing
    task = Task(
        title=f"Write the close plan for {deal.name} (expected close {deal.expected_close_date.isoformat()})",
        kind=CLOSE_PLAN,
        due_date=due,
        owner_id=deal.owner_id,
        deal_id=deal.id,
        account_id=deal.account_id,
    )
    session.add(task)
    return task
