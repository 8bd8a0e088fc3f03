"""Stalled-deal escalation: a stalled deal notifies its owner once, then its owner's manager once after a further
wait (``escalation.manager_after_days`` in the rules), however often the scheduler looks.

"Once" is held by the outbox: the owner's notice is written with the ``deal_stalled`` event whose dedupe key names
the deal and the stage entry it stalled in, and the manager's with the ``deal_escalated`` event keyed the same way,
in one transaction each. A second tick, a second scheduler process or a restart finds the key and does nothing;
a deal that moves on (a new stage entry) and stalls again is a new stall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from sales import events as ev
from sales.automation import Escalation, current_rule_set, manager_of, notify
from sales.deals import list_stalled_deals
from sales.permissions import SYSTEM
from store.db import session_scope
from store.models import Deal, DomainEvent, User
from store.types import utcnow


@dataclass
class EscalationReport:
    owners_notified: list[int] = field(default_factory=list)
    managers_notified: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return f"{len(self.owners_notified)} owners told of a stalled deal, {len(self.managers_notified)} escalated"


def stall_key(deal: Deal) -> str:
    return f"stall:{deal.id}:{deal.stage_entered_at.isoformat()}"


def escalate_deal(
    session: Session, deal: Deal, reason: str, config: Escalation, now: datetime, report: EscalationReport
) -> None:
    key = stall_key(deal)
    owner = session.get(User, deal.owner_id)
    payload = {"stage": deal.stage, "reason": reason}
    first = session.exec(select(DomainEvent).where(DomainEvent.dedupe_key == f"{key}:owner")).first()
    if first is None:
        event = ev.emit(session, ev.DEAL_STALLED, "deal", deal.id, payload, dedupe_key=f"{key}:owner", at=now)
        if event is not None and owner is not None and config.notify_owner:
            notify(
                session,
                owner,
                "deal_stalled",
                f"Deal #{deal.id} ({deal.name}) has stalled in {deal.stage}: {reason}.",
                record_type="deal",
                record_id=deal.id,
                event_id=event.id,
            )
            report.owners_notified.append(deal.id or 0)
        return
    if now - first.occurred_at < timedelta(days=config.manager_after_days):
        return
    manager = manager_of(session, owner)
    event = ev.emit(session, ev.DEAL_ESCALATED, "deal", deal.id, payload, dedupe_key=f"{key}:manager", at=now)
    if event is not None and manager is not None:
        notify(
            session,
            manager,
            "deal_escalated",
            f"Deal #{deal.id} ({deal.name}, {owner.name if owner else 'no owner'}) is still stalled in {deal.stage} "
            f"{config.manager_after_days} days after its owner was told: {reason}.",
            record_type="deal",
            record_id=deal.id,
            event_id=event.id,
        )
        report.managers_notified.append(deal.id or 0)


def run_escalations(engine: Engine, *, now: datetime | None = None) -> EscalationReport:
    """Notify owners of newly stalled deals and escalate the ones still stalled; one transaction per deal."""
    now = now or utcnow()
    report = EscalationReport()
    with session_scope(engine, read_only=True) as s:
        config = current_rule_set(s).escalation
        stalled = [(d.deal_id, d.reason) for d in list_stalled_deals(s, SYSTEM, now=now)]
    for deal_id, reason in stalled:
        with session_scope(engine) as s:
            deal = s.get(Deal, deal_id)
            if deal is not None:
                escalate_deal(s, deal, reason, config, now, report)
    return report


__all__ = ["EscalationReport", "escalate_deal", "run_escalations", "stall_key"]
