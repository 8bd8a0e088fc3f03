"""Write-back: deal stage moves reps made here (``move_deal`` audit events) sent to the CRM, exactly once.

Read from the audit log since a stored cursor (``connector_states`` stream ``writeback``), so nothing in the
agent or the domain changes. Each move gets an idempotency key (sha256 of connector and audit event id) recorded
in ``sync_writes`` before the call and completed, with the cursor, after it; a crash in between re-sends the same
key, and the call itself is idempotent (it sets the stage, it does not step it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from connectors.sources import HubSpotDeals, PipedriveDeals
from connectors.sync import load_state, stage_names
from sales.permissions import Actor
from sales.receipts import write_receipt
from sales.stages import StageMachine, workspace_machine
from store.db import session_scope
from store.models import AuditEvent, ExternalRef, SyncWrite
from store.types import utcnow


@dataclass
class PushReport:
    connector: str
    sent: int = 0
    skipped: int = 0
    failed: list[str] | None = None


def idempotency_key(connector: str, event_id: int) -> str:
    return hashlib.sha256(f"{connector}:{event_id}".encode()).hexdigest()[:40]


def _remote_stage(source: HubSpotDeals | PipedriveDeals, machine: StageMachine, stage: str) -> dict[str, Any] | None:
    """The CRM's update body that puts a deal in our ``stage``, or None when the CRM has no such stage."""
    renames = stage_names(source.system)

    def ours(label: str) -> str | None:
        return machine.canonical(label) or machine.canonical(renames.get(label, "") or "")

    if isinstance(source, HubSpotDeals):
        for stage_id, (label, outcome) in source.stages.items():
            won_lost = {"won": machine.won_stage, "lost": machine.lost_stage}.get(outcome or "")
            if (won_lost or ours(label)) == stage:
                return {"properties": {"dealstage": stage_id}}
        return None
    if stage == machine.won_stage:
        return {"status": "won"}
    if stage == machine.lost_stage:
        return {"status": "lost"}
    for number, name in source.stages.items():
        if ours(name) == stage:
            return {"stage_id": number, "status": "open"}
    return None


def push_stage_moves(
    engine: Engine,
    actor: Actor,
    source: HubSpotDeals | PipedriveDeals,
    *,
    after_call: Callable[[int], None] | None = None,
) -> PushReport:
    """Send every stage move since the write-back cursor for deals this CRM knows; returns what was sent.

    ``after_call(event_id)`` runs after the CRM accepted a write and before it is recorded (tests crash there).
    """
    system = source.system
    report = PushReport(connector=system, failed=[])
    source.prepare()
    path = "/crm/v3/objects/deals/{}" if system == "hubspot" else "/api/v2/deals/{}"
    while True:
        with session_scope(engine) as session:
            state = load_state(session, system, "writeback")
            cursor = int(state.state.get("audit_event_id") or 0)
            events = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.id) > cursor, AuditEvent.action == "move_deal", AuditEvent.record_type == "deal")
                .order_by(col(AuditEvent.id))
                .limit(200)
            ).all()
            machine = workspace_machine(session)
            work: list[tuple[int, str, dict[str, Any] | None, str, int]] = []
            for event in events:
                assert event.id is not None
                ref = session.exec(
                    select(ExternalRef).where(
                        ExternalRef.system == system,
                        ExternalRef.record_type == "deals",
                        ExternalRef.record_id == int(event.record_id or 0),
                        col(ExternalRef.deleted_at).is_(None),
                    )
                ).first()
                stage = str((event.after or {}).get("stage") or "")
                key = idempotency_key(system, event.id)
                ledger = session.exec(
                    select(SyncWrite).where(SyncWrite.connector == system, SyncWrite.idempotency_key == key)
                ).first()
                if ref is None or (ledger is not None and ledger.status == "done"):
                    work.append((event.id, "", None, key, 0))
                    continue
                if ledger is None:
                    session.add(
                        SyncWrite(
                            connector=system,
                            idempotency_key=key,
                            audit_event_id=event.id,
                            operation="move_deal",
                            record_type="deals",
                            record_id=ref.record_id,
                            remote_id=ref.external_id,
                        )
                    )
                work.append((event.id, ref.external_id, _remote_stage(source, machine, stage), key, ref.record_id))
        if not events:
            return report
        for event_id, remote_id, body, key, record_id in work:
            with session_scope(engine) as session:
                ledger = session.exec(
                    select(SyncWrite).where(SyncWrite.connector == system, SyncWrite.idempotency_key == key)
                ).first()
                if remote_id and body is not None and ledger is not None:
                    ledger.attempts += 1
                    session.add(ledger)
            if remote_id and body is not None:
                source.client.request("PATCH", path.format(remote_id), json=body, headers={"Idempotency-Key": key})
                if after_call is not None:
                    after_call(event_id)
            with session_scope(engine) as session:
                state = load_state(session, system, "writeback")
                ledger = session.exec(
                    select(SyncWrite).where(SyncWrite.connector == system, SyncWrite.idempotency_key == key)
                ).first()
                if remote_id and ledger is not None and ledger.status != "done":
                    if body is None:
                        ledger.status, ledger.error = "failed", "the CRM has no stage for this move"
                        assert report.failed is not None
                        report.failed.append(f"audit event #{event_id}: no {system} stage for it")
                    else:
                        ledger.status, ledger.done_at = "done", utcnow()
                        ref = session.exec(
                            select(ExternalRef).where(
                                ExternalRef.system == system, ExternalRef.external_id == remote_id
                            )
                        ).first()
                        if ref is not None:  # the CRM now agrees with us: the next pull sees no conflict
                            moved = session.get(AuditEvent, event_id)
                            ref.synced = {**ref.synced, "stage": (moved.after or {}).get("stage") if moved else None}
                            session.add(ref)
                        write_receipt(
                            session,
                            actor,
                            "sync_push",
                            "deal",
                            record_id,
                            after={"system": system, "external_id": remote_id, "audit_event_id": event_id, "key": key},
                        )
                        report.sent += 1
                    session.add(ledger)
                else:
                    report.skipped += 1
                state.state = {**state.state, "audit_event_id": event_id}
                state.updated_at = utcnow()
                session.add(state)
