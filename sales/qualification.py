"""Qualifying a lead: a manager approves, then the lead becomes a deal in Qualified with the playbook's tasks.

``qualify_lead`` refuses without an approved approval row for exactly this lead (fail closed even when the agent
is bypassed) and acts once per approval: a second call returns the deal the first one created.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from sales.approvals import (
    DEFAULT_POLICY,
    QUALIFY_LEAD,
    ApprovalPolicy,
    effective_arguments,
    mark_executed,
    request_approval,
    require_approved,
)
from sales.deals import DealInput, create_deal
from sales.errors import InvalidInput
from sales.leads import get_lead
from sales.permissions import Actor, ensure_can_change
from sales.receipts import snapshot, write_receipt
from sales.stages import StageMachine, workspace_machine
from store.models import Approval, Deal, Lead, LeadStatus, User
from store.types import utcnow

QUALIFIED_STAGE = "Qualified"


@dataclass(frozen=True)
class QualificationResult:
    lead: Lead
    deal: Deal
    approval: Approval
    receipt_id: int
    task_ids: list[int]
    repeated: bool = False


def _check_qualifiable(lead: Lead) -> None:
    if lead.status in (LeadStatus.QUALIFIED, LeadStatus.CONVERTED):
        raise InvalidInput({"lead": f"lead #{lead.id} ({lead.name}) is already {lead.status}"})
    if lead.status == LeadStatus.DISQUALIFIED:
        raise InvalidInput({"lead": f"lead #{lead.id} ({lead.name}) was disqualified; reopen it before qualifying"})


def request_qualification(
    session: Session,
    actor: Actor,
    lead_id: int,
    *,
    amount: float | None = None,
    note: str | None = None,
    thread_id: str | None = None,
    ttl_hours: int = 72,
    policy: ApprovalPolicy = DEFAULT_POLICY,
) -> Approval:
    """Ask a manager to approve qualifying the lead; nothing changes on the lead until they do."""
    lead = get_lead(session, actor, lead_id)
    ensure_can_change(actor, lead.owner_id, f"lead #{lead_id}")
    _check_qualifiable(lead)
    if amount is not None and amount < 0:
        raise InvalidInput({"amount": "must not be negative"})
    deal_name = f"{lead.company or lead.name}"
    arguments: dict[str, Any] = {"lead_id": lead_id, "lead_name": lead.name, "deal_name": deal_name}
    if amount is not None:
        arguments["amount"] = amount
    if note:
        arguments["note"] = note
    approval, _ = request_approval(
        session,
        actor,
        action=QUALIFY_LEAD,
        arguments=arguments,
        record_type="lead",
        record_id=lead_id,
        owner_id=lead.owner_id,
        thread_id=thread_id,
        ttl_hours=ttl_hours,
        policy=policy,
    )
    return approval


def qualify_lead(
    session: Session, actor: Actor, approval_id: int | None, lead_id: int, *, machine: StageMachine | None = None
) -> QualificationResult:
    """Qualify the lead as the approved request says: deal in Qualified (else the pipeline's first stage), playbook
    tasks, lead marked qualified."""
    machine = machine or workspace_machine(session)
    approval = require_approved(session, approval_id, action=QUALIFY_LEAD, record_type="lead", record_id=lead_id)
    lead = get_lead(session, actor, lead_id)
    if approval.executed_at is not None:
        deal = session.exec(select(Deal).where(Deal.lead_id == lead_id).order_by(col(Deal.id))).first()
        if deal is not None:
            receipt = write_receipt(
                session, actor, "qualify_repeat_refused", "lead", lead_id, after={"deal_id": deal.id}
            )
            return QualificationResult(lead, deal, approval, receipt, [], repeated=True)
    _check_qualifiable(lead)
    args = effective_arguments(approval)
    owner = session.get(User, lead.owner_id) if lead.owner_id is not None else None
    amount = args.get("amount")
    created = create_deal(
        session,
        actor,
        DealInput(
            name=str(args.get("deal_name") or lead.company or lead.name),
            account_name=lead.company,
            owner_email=owner.email if owner is not None else None,
            amount=Decimal(str(amount)) if amount is not None else None,
            stage=QUALIFIED_STAGE if machine.canonical(QUALIFIED_STAGE) else machine.open_stages[0],
            lead_id=lead_id,
        ),
        machine=machine,
    )
    before = snapshot(lead, ("status", "qualified_at"))
    lead.status = LeadStatus.QUALIFIED
    lead.qualified_at = utcnow()
    lead.updated_at = lead.qualified_at
    if lead.account_id is None:
        lead.account_id = created.deal.account_id
    session.add(lead)
    mark_executed(session, approval)
    receipt = write_receipt(
        session,
        actor,
        "qualify_lead",
        "lead",
        lead_id,
        before=before,
        after={
            **snapshot(lead, ("status", "qualified_at")),
            "deal_id": created.deal.id,
            "approval_id": approval.id,
            "note": args.get("note"),
        },
    )
    return QualificationResult(lead, created.deal, approval, receipt, created.task_ids)
