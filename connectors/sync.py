"""Pulling a CRM's deals into the store: page by page, each page and its cursor in one transaction.

Resumable: the cursor (``connector_states``) moves in the same transaction as the rows it covers, so a crash
between writing a page and storing its cursor rolls both back and the page is read again; rows are matched on the
CRM's id (``external_refs``), so reading a page twice never duplicates a deal.

Conflict rule per field (a conflict: both sides changed the field since the last sync, to different values):
``CONFLICT_RULES`` says who wins; each conflict writes a ``sync_conflict`` audit event naming the field, both
values, the winner and the rule. A field only one side changed takes that side's value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.sources import DealSource, RemoteDeal
from sales.permissions import Actor
from sales.receipts import write_receipt
from sales.stages import StageMachine, workspace_machine
from store.db import session_scope
from store.models import ConnectorState, Deal, ExternalRef, StageChange, User
from store.types import utcnow

SYNCED_FIELDS = ("name", "stage", "amount", "currency", "expected_close_date", "owner_id")
CONFLICT_RULES: dict[str, str] = {
    "stage": "newest",  # the side that moved the deal last wins (our stage_entered_at vs the CRM's modified time)
    "name": "crm",
    "amount": "crm",
    "currency": "crm",
    "expected_close_date": "crm",
    "owner_id": "crm",
}
"""Who wins a conflicting field: ``crm`` (the CRM's value) or ``newest`` (whichever side changed it last)."""

PageHook = Callable[[int], None]


@dataclass
class SyncReport:
    connector: str
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    conflicts: int = 0
    refused: list[str] = field(default_factory=list)
    requests: int = 0
    waited_seconds: float = 0.0
    cursor: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "pages": self.pages,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "conflicts": self.conflicts,
            "refused": len(self.refused),
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


def load_state(session: Session, connector: str, stream: str) -> ConnectorState:
    state = session.exec(
        select(ConnectorState).where(ConnectorState.connector == connector, ConnectorState.stream == stream)
    ).first()
    return state or ConnectorState(connector=connector, stream=stream, state={})


def stage_names(system: str) -> dict[str, str]:
    """The CRM stage labels the ready import mapping renames (mappings/<system>/deals.yaml ``values: stage``)."""
    from sales.importing import MAPPINGS_DIR, load_mapping

    path = MAPPINGS_DIR / system / "deals.yaml"
    return dict(load_mapping(path).values.get("stage", {})) if path.is_file() else {}


class _PageWriter:
    def __init__(self, session: Session, actor: Actor, system: str, machine: StageMachine, report: SyncReport) -> None:
        self.session = session
        self.actor = actor
        self.system = system
        self.machine = machine
        self.report = report
        self.renames = stage_names(system)
        self.users = {u.email.lower(): u.id for u in session.exec(select(User)).all() if u.id is not None}

    def stage_of(self, deal: RemoteDeal) -> str | None:
        if deal.outcome == "won":
            return self.machine.won_stage
        if deal.outcome == "lost":
            return self.machine.lost_stage
        label = deal.stage_label or ""
        return self.machine.canonical(label) or self.machine.canonical(self.renames.get(label, "") or "")

    def write(self, deals: list[RemoteDeal]) -> None:
        ids = [d.id for d in deals]
        refs = {
            r.external_id: r
            for r in self.session.exec(
                select(ExternalRef).where(
                    ExternalRef.system == self.system,
                    ExternalRef.object == "deals",
                    col(ExternalRef.external_id).in_(ids),
                )
            ).all()
        }
        for remote in deals:
            ref = refs.get(remote.id)
            if remote.deleted:
                if ref is not None and ref.deleted_at is None:
                    ref.deleted_at = utcnow()
                    self.session.add(ref)
                    self.report.deleted += 1
                    write_receipt(
                        self.session,
                        self.actor,
                        "sync_remote_deleted",
                        "deal",
                        ref.record_id,
                        after={"system": self.system, "external_id": remote.id},
                    )
                continue
            stage = self.stage_of(remote)
            owner = self.users.get(remote.owner_email or "")
            if stage is None or owner is None:
                why = f"stage {remote.stage_label!r} is not a workspace stage" if stage is None else "owner unknown"
                self.report.refused.append(f"{self.system} deal {remote.id}: {why}")
                continue
            values = {
                "name": remote.name[:300],
                "stage": stage,
                "amount": remote.amount,
                "currency": (remote.currency or "USD").upper()[:3],
                "expected_close_date": remote.close_date,
                "owner_id": owner,
            }
            if ref is None:
                self._create(remote, values)
            else:
                if ref.deleted_at is not None:
                    ref.deleted_at = None  # restored in the CRM
                self._update(remote, ref, values)

    def _create(self, remote: RemoteDeal, values: dict[str, Any]) -> None:
        now = utcnow()
        closed = values["stage"] in self.machine.closed_stages
        deal = Deal(
            **values,
            external_id=remote.id,
            stage_entered_at=remote.modified_at,
            created_at=remote.modified_at,
            updated_at=now,
            closed_at=remote.modified_at if closed else None,
        )
        self.session.add(deal)
        self.session.flush()
        assert deal.id is not None
        self.session.add(StageChange(deal_id=deal.id, to_stage=values["stage"], changed_at=remote.modified_at))
        self.session.add(
            ExternalRef(
                system=self.system,
                object="deals",
                external_id=remote.id,
                record_type="deals",
                record_id=deal.id,
                synced={k: _jsonable(v) for k, v in values.items()},
                remote_updated_at=remote.modified_at,
            )
        )
        self.report.created += 1

    def _update(self, remote: RemoteDeal, ref: ExternalRef, values: dict[str, Any]) -> None:
        deal = self.session.get(Deal, ref.record_id)
        if deal is None:
            self.report.refused.append(f"{self.system} deal {remote.id}: our deal #{ref.record_id} is gone")
            return
        changes: dict[str, Any] = {}
        for name in SYNCED_FIELDS:
            remote_value, local_value = values[name], getattr(deal, name)
            if _jsonable(remote_value) == _jsonable(local_value):
                continue
            base = ref.synced.get(name)
            if _jsonable(local_value) == base:
                changes[name] = remote_value  # only the CRM changed it
            elif _jsonable(remote_value) == base:
                continue  # only we changed it: ours stands (write-back carries approved moves to the CRM)
            else:
                rule = CONFLICT_RULES[name]
                crm_wins = rule == "crm" or remote.modified_at > deal.stage_entered_at
                self.report.conflicts += 1
                write_receipt(
                    self.session,
                    self.actor,
                    "sync_conflict",
                    "deal",
                    deal.id,
                    before={name: local_value},
                    after={
                        "field": name,
                        "ours": local_value,
                        "crm": remote_value,
                        "winner": "crm" if crm_wins else "ours",
                        "rule": rule,
                        "system": self.system,
                        "external_id": remote.id,
                    },
                )
                if crm_wins:
                    changes[name] = remote_value
        if changes:
            before = {k: getattr(deal, k) for k in changes}
            if "stage" in changes:
                assert deal.id is not None
                self.session.add(
                    StageChange(
                        deal_id=deal.id, from_stage=deal.stage, to_stage=changes["stage"], changed_at=remote.modified_at
                    )
                )
                deal.stage_entered_at = remote.modified_at
                closed = changes["stage"] in self.machine.closed_stages
                deal.closed_at = remote.modified_at if closed else None
            for name, value in changes.items():
                setattr(deal, name, value)
            deal.updated_at = utcnow()
            self.session.add(deal)
            write_receipt(
                self.session,
                self.actor,
                "sync_update_deal",
                "deal",
                deal.id,
                before=before,
                after={**changes, "system": self.system, "external_id": remote.id},
            )
            self.report.updated += 1
        else:
            self.report.unchanged += 1
        ref.synced = {k: _jsonable(getattr(deal, k)) for k in SYNCED_FIELDS}
        ref.remote_updated_at = remote.modified_at
        ref.updated_at = utcnow()
        self.session.add(ref)


def pull_deals(
    engine: Engine,
    actor: Actor,
    source: DealSource,
    *,
    on_page: Callable[[SyncReport], None] | None = None,
    before_cursor: PageHook | None = None,
    max_pages: int | None = None,
) -> SyncReport:
    """Read the CRM's deals from where the last run stopped until a full pass ends; one transaction per page.

    ``before_cursor(page_number)`` runs after a page's rows are written and before its cursor is stored (the
    moment a crash is most dangerous; tests raise there). ``max_pages`` stops early (the cursor says where).
    """
    report = SyncReport(connector=source.system)
    source.prepare()
    while max_pages is None or report.pages < max_pages:
        with session_scope(engine) as session:
            stored = load_state(session, source.system, "deals")
            state = {k: v for k, v in stored.state.items() if k != "done"}
            deals, next_state = source.page(state)
            _PageWriter(session, actor, source.system, workspace_machine(session), report).write(deals)
            if before_cursor is not None:
                before_cursor(report.pages + 1)
            stored.state = next_state
            stored.updated_at = utcnow()
            session.add(stored)
            report.pages += 1
            if next_state.get("done"):
                write_receipt(session, actor, "sync_pull", "connector", source.system, after=report.summary())
        report.cursor = next_state.get("since")
        if on_page is not None:
            on_page(report)
        if next_state.get("done"):
            break
    report.requests = source.client.requests
    report.waited_seconds = source.client.waited
    return report


def last_synced(session: Session, connector: str) -> datetime | None:
    since = load_state(session, connector, "deals").state.get("since")
    return datetime.fromisoformat(since) if since else None
