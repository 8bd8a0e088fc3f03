"""Pulling a CRM into the store: its companies, people and deals, page by page, each page and its cursor in one
transaction.

Resumable: the cursor (``connector_states``, one per stream) moves in the same transaction as the rows it covers,
so a crash between writing a page and storing its cursor rolls both back and the page is read again; rows are
matched on the CRM's id (``external_refs``), so reading a page twice never duplicates a record.

Where rows land: CRM companies / organizations on accounts; people on the table the ready import mapping puts
them in (``mappings/<system>/<object>.yaml``: HubSpot contacts are leads, Pipedrive persons are contacts), so an
export imported first and a sync afterwards update the same rows; deals on deals, with the account and lead their
CRM associations name.

Conflict rule per field (a conflict: both sides changed the field since the last sync, to different values):
``CONFLICT_RULES`` says who wins; each conflict writes a ``sync_conflict`` audit event naming the field, both
values, the winner and the rule. A field only one side changed takes that side's value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, func, select

from connectors.sources import RemoteCompany, RemoteDeal, RemotePerson, Source, sources_for
from sales.permissions import Actor
from sales.receipts import write_receipt
from sales.stages import StageMachine, workspace_machine
from sales.validation import company_key
from store.db import session_scope
from store.models import Account, ConnectorState, Contact, Deal, ExternalRef, Lead, StageChange, User
from store.types import utcnow

SYNCED_FIELDS = ("name", "stage", "amount", "currency", "expected_close_date", "owner_id", "account_id", "lead_id")
ACCOUNT_FIELDS = ("name", "domain", "industry", "owner_id")
PERSON_FIELDS = ("name", "email", "phone", "title", "account_id", "owner_id")
CONFLICT_RULES: dict[str, str] = {
    "stage": "newest",  # the side that moved the deal last wins (our stage_entered_at vs the CRM's modified time)
    "name": "crm",
    "amount": "crm",
    "currency": "crm",
    "expected_close_date": "crm",
    "owner_id": "crm",
    "account_id": "crm",
    "lead_id": "crm",
    "domain": "crm",
    "industry": "crm",
    "email": "crm",
    "phone": "crm",
    "title": "crm",
}
"""Who wins a conflicting field: ``crm`` (the CRM's value) or ``newest`` (whichever side changed it last)."""

COMPANY_OBJECT = {"hubspot": "companies", "pipedrive": "organizations"}
PERSON_OBJECT = {"hubspot": "contacts", "pipedrive": "persons"}

PageHook = Callable[[int], None]


@dataclass
class SyncReport:
    connector: str
    stream: str = "deals"
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
            "stream": self.stream,
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
    return dict(_stage_names(system))


@cache
def _stage_names(system: str) -> dict[str, str]:  # the ready mappings ship with the program: read once
    from sales.importing import MAPPINGS_DIR, load_mapping

    path = MAPPINGS_DIR / system / "deals.yaml"
    return dict(load_mapping(path).values.get("stage", {})) if path.is_file() else {}


@cache
def person_table(system: str) -> str:
    """Our table for the CRM's people, as its ready import mapping says (``leads`` or ``contacts``)."""
    from sales.importing import MAPPINGS_DIR, load_mapping

    path = MAPPINGS_DIR / system / f"{PERSON_OBJECT[system]}.yaml"
    entity = load_mapping(path).entity if path.is_file() else "contacts"
    return "leads" if entity == "leads" else "contacts"


def find_ref(session: Session, system: str, obj: str, external_id: str | None) -> ExternalRef | None:
    if not external_id:
        return None
    return session.exec(
        select(ExternalRef).where(
            ExternalRef.system == system,
            ExternalRef.object == obj,
            ExternalRef.external_id == external_id,
            col(ExternalRef.deleted_at).is_(None),
        )
    ).first()


class _PageWriter:
    """Writes one page of any stream: creates, one-sided changes, conflicts by the stated rule, deletions."""

    def __init__(self, session: Session, actor: Actor, system: str, machine: StageMachine, report: SyncReport) -> None:
        self.session = session
        self.actor = actor
        self.system = system
        self.machine = machine
        self.report = report
        self.renames = stage_names(system)
        self.users = {u.email.lower(): u.id for u in session.exec(select(User)).all() if u.id is not None}
        self.created_ids: list[int] = []
        self._new_deals: list[tuple[Deal, RemoteDeal, dict[str, Any]]] = []
        self._held: list[Any] = []

    def stage_of(self, deal: RemoteDeal) -> str | None:
        if deal.outcome == "won":
            return self.machine.won_stage
        if deal.outcome == "lost":
            return self.machine.lost_stage
        label = deal.stage_label or ""
        return self.machine.canonical(label) or self.machine.canonical(self.renames.get(label, "") or "")

    def _refs(self, obj: str, ids: list[str]) -> dict[str, ExternalRef]:
        return {
            r.external_id: r
            for r in self.session.exec(
                select(ExternalRef).where(
                    ExternalRef.system == self.system,
                    ExternalRef.object == obj,
                    col(ExternalRef.external_id).in_(ids),
                )
            ).all()
        }

    def _load(self, model: type[Deal] | type[Account] | type[Lead] | type[Contact], ids: list[int]) -> None:
        """Read the page's rows in one query, so the per-record ``session.get`` finds them in the identity map
        (which holds rows weakly: the writer keeps them)."""
        if ids:
            self._held.extend(self.session.exec(select(model).where(col(model.id).in_(ids))).all())

    def _record_ids(self, obj: str, external_ids: list[str | None], record_type: str) -> dict[str, int]:
        """Our row ids for the CRM records named (live refs of ``record_type`` only), in one query."""
        wanted = sorted({e for e in external_ids if e})
        if not wanted:
            return {}
        rows = self.session.exec(
            select(ExternalRef.external_id, ExternalRef.record_id).where(
                ExternalRef.system == self.system,
                ExternalRef.object == obj,
                ExternalRef.record_type == record_type,
                col(ExternalRef.external_id).in_(wanted),
                col(ExternalRef.deleted_at).is_(None),
            )
        ).all()
        return dict(rows)

    def _mark_deleted(self, ref: ExternalRef | None, remote_id: str, record_type: str) -> None:
        if ref is None or ref.deleted_at is not None:
            return
        ref.deleted_at = utcnow()
        self.session.add(ref)
        self.report.deleted += 1
        write_receipt(
            self.session,
            self.actor,
            "sync_remote_deleted",
            record_type.rstrip("s"),
            ref.record_id,
            after={"system": self.system, "object": ref.object, "external_id": remote_id},
        )

    def _new_ref(
        self, obj: str, remote_id: str, record_type: str, record_id: int, values: dict[str, Any]
    ) -> ExternalRef:
        ref = ExternalRef(
            system=self.system,
            object=obj,
            external_id=remote_id,
            record_type=record_type,
            record_id=record_id,
            synced={k: _jsonable(v) for k, v in values.items()},
        )
        self.session.add(ref)
        return ref

    def write(self, records: list[Any]) -> None:
        deals = [r for r in records if isinstance(r, RemoteDeal)]
        companies = [r for r in records if isinstance(r, RemoteCompany)]
        people = [r for r in records if isinstance(r, RemotePerson)]
        if companies:
            self.write_companies(companies)
        if people:
            self.write_people(people)
        if deals:
            self.write_deals(deals)

    # -- reconciling one record's fields with the CRM's values

    def _merge(
        self,
        record: SQLModel,
        record_type: str,
        ref: ExternalRef,
        values: dict[str, Any],
        remote_id: str,
        remote_modified: datetime,
        local_moved: datetime | None = None,
    ) -> dict[str, Any]:
        """The changes to make to ``record``: fields only the CRM changed, and conflicts the CRM wins by the rule
        (each conflict audited). ``local_moved`` is when our side last moved the record (for ``newest``)."""
        changes: dict[str, Any] = {}
        for name, remote_value in values.items():
            local_value = getattr(record, name)
            if _jsonable(remote_value) == _jsonable(local_value):
                continue
            base = ref.synced.get(name)
            if not ref.synced:  # imported from an export: nothing agreed yet, and the export was the CRM's data
                changes[name] = remote_value
            elif _jsonable(local_value) == base:
                changes[name] = remote_value  # only the CRM changed it
            elif _jsonable(remote_value) == base:
                continue  # only we changed it: ours stands (write-back carries approved changes to the CRM)
            else:
                rule = CONFLICT_RULES.get(name, "crm")
                crm_wins = rule == "crm" or local_moved is None or remote_modified > local_moved
                self.report.conflicts += 1
                write_receipt(
                    self.session,
                    self.actor,
                    "sync_conflict",
                    record_type,
                    getattr(record, "id", None),
                    before={name: local_value},
                    after={
                        "field": name,
                        "ours": local_value,
                        "crm": remote_value,
                        "winner": "crm" if crm_wins else "ours",
                        "rule": rule,
                        "system": self.system,
                        "external_id": remote_id,
                    },
                )
                if crm_wins:
                    changes[name] = remote_value
        return changes

    def _apply(
        self,
        record: SQLModel,
        record_type: str,
        ref: ExternalRef,
        changes: dict[str, Any],
        remote_id: str,
        remote_modified: datetime,
        fields: tuple[str, ...],
    ) -> None:
        if changes:
            before = {k: getattr(record, k) for k in changes}
            for name, value in changes.items():
                setattr(record, name, value)
            if hasattr(record, "updated_at"):
                setattr(record, "updated_at", utcnow())  # noqa: B010 (Account has none)
            self.session.add(record)
            write_receipt(
                self.session,
                self.actor,
                f"sync_update_{record_type}",
                record_type,
                getattr(record, "id", None),
                before=before,
                after={**changes, "system": self.system, "external_id": remote_id},
            )
            self.report.updated += 1
        else:
            self.report.unchanged += 1
        if ref.deleted_at is not None:
            ref.deleted_at = None  # restored in the CRM
        ref.synced = {k: _jsonable(getattr(record, k)) for k in fields}
        ref.remote_updated_at = remote_modified
        ref.updated_at = utcnow()
        self.session.add(ref)

    # -- companies / organizations → accounts

    def write_companies(self, companies: list[RemoteCompany]) -> None:
        obj = COMPANY_OBJECT[self.system]
        refs = self._refs(obj, [c.id for c in companies])
        self._load(Account, [r.record_id for r in refs.values()])
        for remote in companies:
            ref = refs.get(remote.id)
            if remote.deleted:
                self._mark_deleted(ref, remote.id, "accounts")
                continue
            values: dict[str, Any] = {
                "name": remote.name[:300],
                "domain": (remote.domain or None) and remote.domain[:255],
                "industry": (remote.industry or None) and remote.industry[:100],
                "owner_id": self.users.get(remote.owner_email or ""),
            }
            account = self.session.get(Account, ref.record_id) if ref is not None else None
            if ref is None:
                account = self.session.exec(
                    select(Account).where(func.lower(Account.name) == values["name"].lower())
                ).first()
                if account is None:
                    account = Account(**values)
                    self.session.add(account)
                    self.session.flush()
                    assert account.id is not None
                    refs[remote.id] = self._new_ref(obj, remote.id, "accounts", account.id, values)
                    self.created_ids.append(account.id)
                    self.report.created += 1
                    continue
                # An account of that name already here (typed in, or imported from elsewhere): the same company.
                assert account.id is not None
                ref = self._new_ref(obj, remote.id, "accounts", account.id, {k: getattr(account, k) for k in values})
                refs[remote.id] = ref
            if account is None:
                self.report.refused.append(f"{self.system} company {remote.id}: our account #{ref.record_id} is gone")
                continue
            changes = self._merge(account, "account", ref, values, remote.id, remote.modified_at)
            clash = (
                "name" in changes
                and self.session.exec(
                    select(Account.id).where(
                        func.lower(Account.name) == changes["name"].lower(), Account.id != account.id
                    )
                ).first()
            )
            if clash:
                self.report.refused.append(
                    f"{self.system} company {remote.id}: renamed to {changes.pop('name')!r}, which another account "
                    "already has; kept our name"
                )
            self._apply(account, "account", ref, changes, remote.id, remote.modified_at, ACCOUNT_FIELDS)

    # -- contacts / persons → leads or contacts

    def write_people(self, people: list[RemotePerson]) -> None:
        obj = PERSON_OBJECT[self.system]
        table = person_table(self.system)
        model: type[Lead] | type[Contact] = Lead if table == "leads" else Contact
        refs = self._refs(obj, [p.id for p in people])
        self._load(Lead, [r.record_id for r in refs.values() if r.record_type == "leads"])
        self._load(Contact, [r.record_id for r in refs.values() if r.record_type == "contacts"])
        accounts = self._record_ids(COMPANY_OBJECT[self.system], [p.company_id for p in people], "accounts")
        for remote in people:
            ref = refs.get(remote.id)
            if remote.deleted:
                self._mark_deleted(ref, remote.id, ref.record_type if ref else table)
                continue
            values: dict[str, Any] = {
                "name": remote.name[:200],
                "email": remote.email.strip().lower()[:320] if remote.email else None,
                "phone": remote.phone[:32] if remote.phone else None,
                "title": remote.title[:200] if remote.title else None,
                "account_id": accounts.get(remote.company_id or ""),
                "owner_id": self.users.get(remote.owner_email or ""),
            }
            if ref is not None:
                kind: type[Lead] | type[Contact] = Lead if ref.record_type == "leads" else Contact
                record = self.session.get(kind, ref.record_id)
                if record is None:
                    self.report.refused.append(f"{self.system} person {remote.id}: our row #{ref.record_id} is gone")
                    continue
                label = "lead" if kind is Lead else "contact"
                changes = self._merge(record, label, ref, values, remote.id, remote.modified_at)
                self._apply(record, label, ref, changes, remote.id, remote.modified_at, PERSON_FIELDS)
                continue
            existing: Lead | Contact | None = None
            if values["email"]:
                taken = select(ExternalRef.record_id).where(
                    ExternalRef.system == self.system, ExternalRef.record_type == table
                )
                found = self.session.exec(
                    select(model).where(func.lower(model.email) == values["email"], col(model.id).not_in(taken))
                ).first()
                existing = found if isinstance(found, Lead | Contact) else None
            if existing is not None:  # the same person, added here before the first sync
                assert existing.id is not None
                ref = self._new_ref(obj, remote.id, table, existing.id, {k: getattr(existing, k) for k in values})
                label = "lead" if model is Lead else "contact"
                changes = self._merge(existing, label, ref, values, remote.id, remote.modified_at)
                self._apply(existing, label, ref, changes, remote.id, remote.modified_at, PERSON_FIELDS)
                continue
            now = utcnow()
            record_new: Lead | Contact
            if model is Lead:
                account = self.session.get(Account, values["account_id"]) if values["account_id"] else None
                record_new = Lead(
                    **values,
                    company=account.name if account else None,
                    company_key=company_key(account.name) if account else None,
                    source=self.system,
                    created_at=remote.modified_at,
                    updated_at=now,
                )
            else:
                record_new = Contact(**values, created_at=remote.modified_at)
            self.session.add(record_new)
            self.session.flush()
            assert record_new.id is not None
            self._new_ref(obj, remote.id, table, record_new.id, values)
            self.created_ids.append(record_new.id)
            self.report.created += 1

    # -- deals

    def write_deals(self, deals: list[RemoteDeal]) -> None:
        refs = self._refs("deals", [d.id for d in deals])
        self._load(Deal, [r.record_id for r in refs.values()])
        accounts = self._record_ids(COMPANY_OBJECT[self.system], [d.company_id for d in deals], "accounts")
        leads = self._record_ids(PERSON_OBJECT[self.system], [d.contact_id for d in deals], "leads")
        for remote in deals:
            ref = refs.get(remote.id)
            if remote.deleted:
                self._mark_deleted(ref, remote.id, "deals")
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
                "account_id": accounts.get(remote.company_id or ""),
                "lead_id": leads.get(remote.contact_id or ""),
            }
            if ref is None:
                self._create(remote, values)
            else:
                self._update(remote, ref, values)
        self._flush_new_deals()

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
        self._new_deals.append((deal, remote, values))

    def _flush_new_deals(self) -> None:
        """Insert the page's new deals in one batch, then their first stage and external ref."""
        if not self._new_deals:
            return
        self.session.add_all([deal for deal, _, _ in self._new_deals])
        self.session.flush()
        for deal, remote, values in self._new_deals:
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
            self.created_ids.append(deal.id)
            self.report.created += 1
        self._new_deals = []

    def _update(self, remote: RemoteDeal, ref: ExternalRef, values: dict[str, Any]) -> None:
        deal = self.session.get(Deal, ref.record_id)
        if deal is None:
            self.report.refused.append(f"{self.system} deal {remote.id}: our deal #{ref.record_id} is gone")
            return
        changes = self._merge(deal, "deal", ref, values, remote.id, remote.modified_at, deal.stage_entered_at)
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
        self._apply(deal, "deal", ref, changes, remote.id, remote.modified_at, SYNCED_FIELDS)


def pull_stream(
    engine: Engine,
    actor: Actor,
    source: Source,
    *,
    on_page: Callable[[SyncReport], None] | None = None,
    before_cursor: PageHook | None = None,
    max_pages: int | None = None,
) -> SyncReport:
    """Read one stream of the CRM from where the last run stopped until a full pass ends; one transaction per page
    (its rows, a ``sync_page`` receipt naming what it created, and its cursor).

    ``before_cursor(page_number)`` runs after a page's rows are written and before its cursor is stored (the
    moment a crash is most dangerous; tests raise there). ``max_pages`` stops early (the cursor says where).
    """
    report = SyncReport(connector=source.system, stream=source.stream)
    source.prepare()
    while max_pages is None or report.pages < max_pages:
        with session_scope(engine) as session:
            stored = load_state(session, source.system, source.stream)
            state = {k: v for k, v in stored.state.items() if k != "done"}
            records, next_state = source.page(state)
            writer = _PageWriter(session, actor, source.system, workspace_machine(session), report)
            writer.write(records)
            if writer.created_ids:
                write_receipt(
                    session,
                    actor,
                    "sync_page",
                    "connector",
                    source.system,
                    after={"stream": source.stream, "page": report.pages + 1, "created_ids": writer.created_ids},
                )
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


def pull_all(
    engine: Engine,
    actor: Actor,
    system: str,
    client: Any,
    *,
    on_page: Callable[[SyncReport], None] | None = None,
    before_cursor: PageHook | None = None,
    max_pages: int | None = None,
) -> list[SyncReport]:
    """Every stream of the CRM in order (companies, people, deals: ``sources_for``); page numbers passed to
    ``before_cursor`` and ``max_pages`` count across the streams. A stream stopped early stops the rest."""
    reports: list[SyncReport] = []
    pages = 0
    _start_write_back_here(engine, actor, system)
    _reread_deals_for_their_associations(engine, actor, system)
    for source in sources_for(system, client):
        left = None if max_pages is None else max_pages - pages
        if left is not None and left <= 0:
            break
        offset = pages
        hook = None if before_cursor is None else (lambda n, o=offset: before_cursor(o + n))
        before = client.requests, client.waited
        report = pull_stream(engine, actor, source, on_page=on_page, before_cursor=hook, max_pages=left)
        report.requests -= before[0]
        report.waited_seconds -= before[1]
        reports.append(report)
        pages += report.pages
        with session_scope(engine) as session:
            if not load_state(session, system, source.stream).state.get("done"):
                break  # stopped early: the next run resumes this stream before reading the next
    return reports


def _start_write_back_here(engine: Engine, actor: Actor, system: str) -> None:
    """On the first sync with a CRM, start its write-back cursor at the newest audit event: what was made here
    before the CRM was connected is not uploaded unasked; everything after it is."""
    from store.models import AuditEvent

    with session_scope(engine) as session:
        state = load_state(session, system, "writeback")
        if state.id is not None:
            return
        newest = session.exec(select(func.max(AuditEvent.id))).one() or 0
        state.state = {"audit_event_id": int(newest)}
        session.add(state)
        write_receipt(
            session, actor, "sync_connect", "connector", system, after={"write_back_from_audit_event": int(newest)}
        )


def _reread_deals_for_their_associations(engine: Engine, actor: Actor, system: str) -> None:
    """Deals synced before companies were (an older salesgraph read deals only) are read once more in full, so they
    land on their accounts without waiting to be modified in the CRM; the upsert makes the second read harmless."""
    with session_scope(engine) as session:
        companies = load_state(session, system, COMPANY_OBJECT[system])
        deals = load_state(session, system, "deals")
        if companies.id is not None or deals.id is None or not deals.state.get("since"):
            return
        before = dict(deals.state)
        deals.state = {}
        deals.updated_at = utcnow()
        session.add(deals)
        write_receipt(
            session,
            actor,
            "sync_reread",
            "connector",
            system,
            before=before,
            after={"stream": "deals", "why": "companies are synced now: read every deal once for its account"},
        )


def last_synced(session: Session, connector: str, stream: str = "deals") -> datetime | None:
    since = load_state(session, connector, stream).state.get("since")
    return datetime.fromisoformat(since) if since else None
