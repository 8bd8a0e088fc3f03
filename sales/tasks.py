"""Tasks: what someone has to do, for whom, by when, and about which record."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from sales.errors import InvalidInput, NotFound
from sales.permissions import Actor, ensure_can_change, ensure_can_see
from sales.receipts import snapshot, write_receipt
from store.models import Deal, Lead, Task, TaskStatus, User
from store.types import utcnow

TASK_FIELDS = ("title", "due_date", "owner_id", "deal_id", "lead_id", "status", "kind")


class TaskInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    due_date: date | None = None
    owner_id: int | None = None
    deal_id: int | None = None
    lead_id: int | None = None


def create_task(session: Session, actor: Actor, data: TaskInput) -> tuple[Task, int]:
    """Create a task (default owner: the actor) and return it with its receipt id."""
    owner_id = data.owner_id if data.owner_id is not None else actor.user_id
    if owner_id is None:
        raise InvalidInput({"owner": "say who the task is for"})
    owner = session.get(User, owner_id)
    if owner is None or not owner.active:
        raise InvalidInput({"owner": f"there is no active user #{owner_id}"})
    ensure_can_see(actor, owner_id, f"a task for {owner.email}")
    account_id = None
    if data.deal_id is not None:
        deal = session.get(Deal, data.deal_id)
        if deal is None:
            raise NotFound(f"there is no deal #{data.deal_id}")
        ensure_can_see(actor, deal.owner_id, f"deal #{deal.id} ({deal.name})")
        account_id = deal.account_id
    if data.lead_id is not None:
        lead = session.get(Lead, data.lead_id)
        if lead is None:
            raise NotFound(f"there is no lead #{data.lead_id}")
        ensure_can_see(actor, lead.owner_id, f"lead #{lead.id} ({lead.name})")
        account_id = account_id or lead.account_id
    task = Task(
        title=data.title,
        due_date=data.due_date,
        owner_id=owner_id,
        deal_id=data.deal_id,
        lead_id=data.lead_id,
        account_id=account_id,
    )
    session.add(task)
    session.flush()
    receipt = write_receipt(session, actor, "create_task", "task", task.id, after=snapshot(task, TASK_FIELDS))
    return task, receipt


def list_tasks(
    session: Session,
    actor: Actor,
    *,
    owner_ids: list[int] | None = None,
    status: str = TaskStatus.OPEN,
    due_before: date | None = None,
    due_after: date | None = None,
    deal_id: int | None = None,
    lead_id: int | None = None,
    limit: int = 100,
) -> list[Task]:
    """Tasks the actor may see, soonest due first (undated last)."""
    stmt = select(Task)
    visible = actor.owner_filter(Task.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if owner_ids is not None:
        stmt = stmt.where(col(Task.owner_id).in_(owner_ids))
    if status != "all":
        if status not in (TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELLED):
            raise InvalidInput({"status": "use open, done, cancelled or all"})
        stmt = stmt.where(Task.status == status)
    if due_before is not None:
        stmt = stmt.where(col(Task.due_date) < due_before)
    if due_after is not None:
        stmt = stmt.where(col(Task.due_date) >= due_after)
    if deal_id is not None:
        stmt = stmt.where(Task.deal_id == deal_id)
    if lead_id is not None:
        stmt = stmt.where(Task.lead_id == lead_id)
    stmt = stmt.order_by(col(Task.due_date).is_(None), col(Task.due_date), col(Task.id)).limit(limit)
    return list(session.exec(stmt).all())


def complete_task(session: Session, actor: Actor, task_id: int) -> tuple[Task, int]:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"there is no task #{task_id}")
    ensure_can_change(actor, task.owner_id, f"task #{task_id}")
    if task.status != TaskStatus.OPEN:
        raise InvalidInput({"status": f"task #{task_id} is already {task.status}"})
    before = snapshot(task, TASK_FIELDS)
    task.status = TaskStatus.DONE
    task.completed_at = utcnow()
    session.add(task)
    receipt = write_receipt(
        session, actor, "complete_task", "task", task.id, before=before, after=snapshot(task, TASK_FIELDS)
    )
    return task, receipt


def reschedule_task(session: Session, actor: Actor, task_id: int, due_date: date) -> tuple[Task, int]:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"there is no task #{task_id}")
    ensure_can_change(actor, task.owner_id, f"task #{task_id}")
    if task.status != TaskStatus.OPEN:
        raise InvalidInput({"status": f"task #{task_id} is {task.status}; only open tasks can be rescheduled"})
    before = snapshot(task, TASK_FIELDS)
    task.due_date = due_date
    session.add(task)
    receipt = write_receipt(
        session, actor, "reschedule_task", "task", task.id, before=before, after=snapshot(task, TASK_FIELDS)
    )
    return task, receipt
