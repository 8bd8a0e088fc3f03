"""SQLModel tables: the single source of truth for users, the pipeline, activity, approvals and the audit log.

Conventions: every timestamp is an aware UTC datetime (``UTCDateTime``); money is ``Numeric(14, 2)`` in the
deal's currency; free-form imported attributes live in ``attributes`` JSON so the analytics feature set can use
them without a schema change.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime, utcnow


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class LeadStatus(StrEnum):
    NEW = "new"
    WORKING = "working"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    CONVERTED = "converted"


class Channel(StrEnum):
    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    SLACK = "slack"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class MessageStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SENT = "sent"
    QUEUED = "queued"  # recorded in the outbox, not delivered
    FAILED = "failed"
    REJECTED = "rejected"
    BLOCKED = "blocked"  # refused at send time: opted out, or its sequence stopped (sales.outbound)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    email: str = Field(max_length=320, unique=True)
    role: str = Field(default=Role.REP, max_length=16)
    manager_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    team: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    slack_user_id: str | None = Field(default=None, max_length=64, unique=True)
    started_at: date | None = None
    active: bool = True
    created_at: datetime = _created()


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=300, unique=True)
    domain: str | None = Field(default=None, max_length=255, index=True)
    industry: str | None = Field(default=None, max_length=100)
    employees: int | None = None
    size_band: str | None = Field(default=None, max_length=32)
    annual_revenue: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    region: str | None = Field(default=None, max_length=100)
    owner_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    attributes: dict[str, Any] = _json()
    created_at: datetime = _created()


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32)
    title: str | None = Field(default=None, max_length=200)
    owner_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    created_at: datetime = _created()


class Lead(SQLModel, table=True):
    __tablename__ = "leads"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=100, index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32)
    company: str | None = Field(default=None, max_length=300)
    company_key: str | None = Field(
        default=None, max_length=300, index=True, description="normalised company for dedupe"
    )
    title: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    status: str = Field(default=LeadStatus.NEW, max_length=16, index=True)
    outcome: str | None = Field(
        default=None, max_length=16, description="converted / lost once known; the label for scoring"
    )
    owner_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    score: float | None = None
    score_band: str | None = Field(default=None, max_length=16)
    score_model_version: str | None = Field(default=None, max_length=64)
    scored_at: datetime | None = _ts(nullable=True)
    attributes: dict[str, Any] = _json()
    created_at: datetime = _created()
    updated_at: datetime = _created()
    qualified_at: datetime | None = _ts(nullable=True)


class Deal(SQLModel, table=True):
    __tablename__ = "deals"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=100, index=True)
    name: str = Field(max_length=300)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    owner_id: int = Field(foreign_key="users.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="leads.id")
    product: str | None = Field(default=None, max_length=200)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    currency: str = Field(default="USD", max_length=3)
    stage: str = Field(max_length=32, index=True)
    stage_entered_at: datetime = _created()
    expected_close_date: date | None = None
    probability: float | None = None
    loss_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    closed_at: datetime | None = _ts(nullable=True)


class StageChange(SQLModel, table=True):
    """One row per stage entered: the event log that process mining reads."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_deal_at", "deal_id", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id")
    from_stage: str | None = Field(default=None, max_length=32)
    to_stage: str = Field(max_length=32)
    changed_at: datetime = _created()
    changed_by_id: int | None = Field(default=None, foreign_key="users.id")


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int | None = Field(default=None, foreign_key="deals.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    channel: str = Field(max_length=16)
    direction: str = Field(default=Direction.INTERNAL, max_length=16)
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    occurred_at: datetime = _created()
    sentiment: float | None = None
    indexed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Task(SQLModel, table=True):
    __tablename__ = "tasks"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=500)
    kind: str = Field(default="manual", max_length=32)
    due_date: date | None = Field(default=None, index=True)
    owner_id: int = Field(foreign_key="users.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deals.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    status: str = Field(default=TaskStatus.OPEN, max_length=16, index=True)
    created_at: datetime = _created()
    completed_at: datetime | None = _ts(nullable=True)


class OutboundMessage(SQLModel, table=True):
    __tablename__ = "outbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int | None = Field(default=None, foreign_key="deals.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=500)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=MessageStatus.DRAFT, max_length=20, index=True)
    channel: str | None = Field(default=None, max_length=16)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    approval_id: int | None = Field(default=None, foreign_key="approvals.id")
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _created()
    sent_at: datetime | None = _ts(nullable=True)


class Approval(SQLModel, table=True):
    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=64, index=True)
    arguments: dict[str, Any] = _json()
    record_type: str | None = Field(default=None, max_length=32)
    record_id: int | None = None
    requested_by_id: int | None = Field(default=None, foreign_key="users.id")
    approver_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=ApprovalStatus.PENDING, max_length=16, index=True)
    decision: str | None = Field(default=None, max_length=16)
    decided_arguments: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, max_length=1000)
    decided_by_id: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = _ts(nullable=True)
    expires_at: datetime = _created()
    thread_id: str | None = Field(default=None, max_length=200, index=True)
    executed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained log of every state change (see ``store.audit``)."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    actor: str = Field(max_length=320, description="email of the acting user, or 'system'")
    action: str = Field(max_length=64, index=True)
    record_type: str = Field(max_length=32)
    record_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class AuditPersonalValue(SQLModel, table=True):
    """A personal value an audit event refers to instead of holding it, so it can be erased later.

    The event stores ``{"pii": ref}`` where ``ref`` is sha256(salt + value), and the hash chain covers the ref:
    erasing the value (``value``, ``salt`` and ``subject`` set to NULL, ``erased_at`` set) leaves the chain intact,
    while a value edited in place no longer matches its ref. ``subject`` is the normalised email of the person the
    value is about, when the snapshot named one. See ``store.audit``.
    """

    __tablename__ = "audit_personal_values"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="audit_events.id", index=True)
    ref: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    subject: str | None = Field(default=None, max_length=320, index=True)
    salt: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    value: str | None = Field(default=None, sa_column=Column(Text, nullable=True), description="canonical JSON")
    erased_at: datetime | None = _ts(nullable=True)


class BriefingDelivery(SQLModel, table=True):
    """One row per team and day: the daily briefing's delivery, so a second run the same day posts nothing.

    ``status`` is ``sending`` while a process holds the claim (a stale claim can be retaken), then ``delivered``
    or ``failed``; ``deliveries`` counts how often it went out (``--force`` sends again).
    """

    __tablename__ = "briefing_deliveries"
    __table_args__ = (UniqueConstraint("manager_id", "briefing_date", name="uq_briefing_deliveries_manager_date"),)

    id: int | None = Field(default=None, primary_key=True)
    manager_id: int = Field(foreign_key="users.id")
    briefing_date: date
    status: str = Field(max_length=16)
    target: str | None = Field(default=None, max_length=16, description="slack or file")
    channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=32)
    path: str | None = Field(default=None, max_length=1000)
    deliveries: int = 0
    error: str | None = Field(default=None, max_length=1000)
    receipt_id: int | None = None
    claimed_at: datetime = _created()
    delivered_at: datetime | None = _ts(nullable=True)


class PipelineSnapshot(SQLModel, table=True):
    """One open deal as it stood on a day (stage, amount, close date, owner, win chances then): one row per deal
    and day, so a second snapshot the same day writes nothing."""

    __tablename__ = "pipeline_snapshots"
    __table_args__ = (UniqueConstraint("snapshot_date", "deal_id", name="uq_pipeline_snapshots_date_deal"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_date: date = Field(index=True)
    deal_id: int = Field(foreign_key="deals.id")
    owner_id: int = Field(foreign_key="users.id")
    stage: str = Field(max_length=32)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    currency: str = Field(max_length=3)
    expected_close_date: date | None = None
    p_win: float | None = None
    period: str = Field(max_length=16, description="the quarter p_won_in_period refers to")
    p_won_in_period: float | None = None
    taken_at: datetime = _created()


class ForecastSnapshot(SQLModel, table=True):
    """The forecast of one period in one currency as it stood on a day (the method it used and its interval)."""

    __tablename__ = "forecast_snapshots"
    __table_args__ = (
        UniqueConstraint("snapshot_date", "period", "currency", name="uq_forecast_snapshots_date_period_currency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_date: date
    period: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    method: str = Field(max_length=64)
    expected: float
    p10: float
    p90: float
    simulation: float
    run_rate: float | None = None
    blend: float | None = None
    blend_weight: float | None = None
    won_to_date: float
    open_deals: int
    taken_at: datetime = _created()


class WorkspaceTerm(SQLModel, table=True):
    """A word this workspace uses for one of ours, e.g. Maven's stage ``Engaging`` for ``Qualified``.

    Written by imports (a mapping's ``values:``) so the assistant understands the team's own vocabulary.
    """

    __tablename__ = "workspace_terms"
    __table_args__ = (UniqueConstraint("kind", "term", name="uq_workspace_terms_kind_term"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, description="what the term names: stage")
    term: str = Field(max_length=200, description="the workspace's word, as it spells it")
    meaning: str = Field(max_length=200, description="our value it stands for")
    source: str | None = Field(default=None, max_length=300, description="where it came from (an import file)")
    created_at: datetime = _created()


class StageConfiguration(SQLModel, table=True):
    """The workspace's deal stages, as ``salesgraph stages set`` stored them (``sales.stages``).

    The newest row is the configuration in force and older rows are its history; no row at all means the built-in
    pipeline (Prospecting → Qualified → Discovery → Proposal → Negotiation → Won/Lost).
    """

    __tablename__ = "stage_configurations"

    id: int | None = Field(default=None, primary_key=True)
    config: dict[str, Any] = _json()
    source: str | None = Field(default=None, max_length=300, description="the stage file it came from")
    set_by_id: int | None = Field(default=None, foreign_key="users.id")
    receipt_id: int | None = None
    created_at: datetime = _created()


class ExternalRef(SQLModel, table=True):
    """Which of our rows an outside system's record is: (system, object, external id) → (record type, id).

    Written by CRM imports and syncs (``sales.importing``, ``connectors``), so a re-import or a sync updates the
    row it made instead of adding a second one. ``synced`` holds the field values as last agreed with the system,
    the base a sync compares both sides against to tell a conflict (both changed) from a one-sided change.
    """

    __tablename__ = "external_refs"
    __table_args__ = (
        UniqueConstraint("system", "object", "external_id", name="uq_external_refs_system_object_id"),
        Index("ix_external_refs_record", "record_type", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    system: str = Field(max_length=32, description="hubspot, salesforce, pipedrive")
    object: str = Field(max_length=32, description="the system's object: deals, contacts, companies, persons...")
    external_id: str = Field(max_length=100)
    record_type: str = Field(max_length=32, description="our table: deals, leads, accounts, contacts, interactions")
    record_id: int
    synced: dict[str, Any] = _json()
    remote_updated_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ConnectorState(SQLModel, table=True):
    """A connector's stored progress for one stream: the modified-since cursor, the page being read, and so on."""

    __tablename__ = "connector_states"
    __table_args__ = (UniqueConstraint("connector", "stream", name="uq_connector_states_connector_stream"),)

    id: int | None = Field(default=None, primary_key=True)
    connector: str = Field(max_length=32)
    stream: str = Field(max_length=64, description="deals, companies, writeback ...")
    state: dict[str, Any] = _json()
    updated_at: datetime = _created()


class SyncWrite(SQLModel, table=True):
    """One write-back to an outside system, keyed by its idempotency key: recorded before the call, completed
    after it, so a crash in between is retried with the same key and never writes twice."""

    __tablename__ = "sync_writes"
    __table_args__ = (UniqueConstraint("connector", "idempotency_key", name="uq_sync_writes_connector_key"),)

    id: int | None = Field(default=None, primary_key=True)
    connector: str = Field(max_length=32)
    idempotency_key: str = Field(max_length=64)
    audit_event_id: int | None = Field(default=None, index=True)
    operation: str = Field(max_length=32, description="move_deal, create_note, create_lead")
    record_type: str = Field(max_length=32)
    record_id: int
    remote_id: str | None = Field(default=None, max_length=100)
    status: str = Field(default="pending", max_length=16, description="pending, done, failed")
    attempts: int = 0
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _created()
    done_at: datetime | None = _ts(nullable=True)


class SlackEventReceipt(SQLModel, table=True):
    """A Slack event salesgraph has taken: its ``event_id`` and the message's ``client_msg_id``, each unique.

    Inserted (in its own transaction) before the event's turn runs, so Slack's redelivery, the same message
    arriving as both ``app_mention`` and ``message``, or the same event reaching a second app process runs once,
    even across restarts (``store.slack_events``).
    """

    __tablename__ = "slack_event_receipts"

    event_id: str = Field(primary_key=True, max_length=64)
    client_msg_id: str | None = Field(default=None, max_length=64, unique=True)
    kind: str = Field(max_length=40, description="the event type: app_mention, message")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


# -- automation (issue 14): domain events, rules, sequences, escalation, opt-outs, inbound mail ----------------


class DomainEvent(SQLModel, table=True):
    """The outbox: one row per domain event, written in the same transaction as the change it reports.

    ``sales.automation`` reads unprocessed rows, fires the matching rules (each at most once per event, see
    ``RuleFiring``) and sets ``processed_at``. ``dedupe_key`` makes time-based events (a deal stalled since a given
    stage entry, a task overdue on a given due date) happen once however often the scheduler looks.
    """

    __tablename__ = "domain_events"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    record_type: str = Field(max_length=32)
    record_id: int | None = None
    payload: dict[str, Any] = _json()
    dedupe_key: str | None = Field(default=None, max_length=300, unique=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    occurred_at: datetime = _created()
    processed_at: datetime | None = _ts(nullable=True, index=True)


class AutomationRuleSet(SQLModel, table=True):
    """The workspace's rules and sequences, as ``salesgraph rules set`` stored them (``sales.automation``).

    The newest row is in force and older rows are its history; no row means no automation at all.
    """

    __tablename__ = "automation_rule_sets"

    id: int | None = Field(default=None, primary_key=True)
    config: dict[str, Any] = _json()
    source: str | None = Field(default=None, max_length=300, description="the rules file it came from")
    set_by_id: int | None = Field(default=None, foreign_key="users.id")
    receipt_id: int | None = None
    created_at: datetime = _created()


class RuleFiring(SQLModel, table=True):
    """A rule fired for an event: unique per (rule, event), inserted in the same transaction as the rule's action,
    so an event processed again after a crash cannot fire the rule a second time."""

    __tablename__ = "rule_firings"
    __table_args__ = (UniqueConstraint("rule", "event_id", name="uq_rule_firings_rule_event"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=100)
    event_id: int = Field(foreign_key="domain_events.id", index=True)
    action: str = Field(max_length=40)
    result: dict[str, Any] = _json()
    receipt_id: int | None = None
    fired_at: datetime = _created()


class SequenceEnrolment(SQLModel, table=True):
    """A lead or deal on a nurture sequence: which step comes next and when, until it completes or stops."""

    __tablename__ = "sequence_enrolments"

    id: int | None = Field(default=None, primary_key=True)
    enrol_key: str = Field(max_length=200, unique=True, description="sequence:record_type:record_id")
    sequence: str = Field(max_length=100, index=True)
    lead_id: int | None = Field(default=None, foreign_key="leads.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deals.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    to_address: str = Field(max_length=320, index=True)
    owner_id: int = Field(foreign_key="users.id")
    next_step: int = 0
    next_due_at: datetime | None = _ts(nullable=True, index=True)
    status: str = Field(default="active", max_length=16, index=True)
    stop_reason: str | None = Field(default=None, max_length=300)
    enrolled_at: datetime = _created()
    stopped_at: datetime | None = _ts(nullable=True)
    receipt_id: int | None = None


class SequenceMessage(SQLModel, table=True):
    """The draft written for one step of an enrolment (one per step), and the standing approval it may go under."""

    __tablename__ = "sequence_messages"
    __table_args__ = (UniqueConstraint("enrolment_id", "step", name="uq_sequence_messages_enrolment_step"),)

    id: int | None = Field(default=None, primary_key=True)
    enrolment_id: int = Field(foreign_key="sequence_enrolments.id")
    step: int
    template: str = Field(max_length=100)
    text_hash: str = Field(max_length=64, description="sha256 of the drafted subject and body")
    message_id: int = Field(foreign_key="outbound_messages.id", unique=True)
    standing_approval_id: int | None = Field(default=None, foreign_key="standing_approvals.id")
    created_at: datetime = _created()


class StandingApproval(SQLModel, table=True):
    """A manager's recorded approval of a sequence template: its steps' emails may go out without a per-message
    approval while it stands (``revoked_at`` unset)."""

    __tablename__ = "standing_approvals"

    id: int | None = Field(default=None, primary_key=True)
    template: str = Field(max_length=100, index=True)
    template_hash: str = Field(max_length=64, description="sha256 of the approved subject and body")
    granted_by_id: int = Field(foreign_key="users.id")
    note: str | None = Field(default=None, max_length=500)
    receipt_id: int | None = None
    granted_at: datetime = _created()
    revoked_at: datetime | None = _ts(nullable=True)
    revoked_by_id: int | None = Field(default=None, foreign_key="users.id")


class OptOut(SQLModel, table=True):
    """An address that must never be emailed (``sales.outbound.send_message`` checks it on every send)."""

    __tablename__ = "opt_outs"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, description="normalised address")
    reason: str | None = Field(default=None, max_length=300)
    source: str = Field(default="manual", max_length=32, description="manual, reply, bounce, import")
    recorded_by_id: int | None = Field(default=None, foreign_key="users.id")
    receipt_id: int | None = None
    created_at: datetime = _created()


class Notification(SQLModel, table=True):
    """A message for a user from automation (a stalled deal, an escalation, a rule): delivered to their Slack DM by
    the scheduler when Slack is configured, and listed by ``salesgraph rules notifications`` either way."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=40)
    text: str = Field(sa_column=Column(Text, nullable=False))
    record_type: str | None = Field(default=None, max_length=32)
    record_id: int | None = None
    event_id: int | None = Field(default=None, foreign_key="domain_events.id")
    status: str = Field(default="pending", max_length=16, index=True)
    error: str | None = Field(default=None, max_length=500)
    attempts: int = Field(default=0, description="Slack delivery attempts so far (bots.notify)")
    next_attempt_at: datetime | None = _ts(nullable=True)
    claimed_at: datetime | None = _ts(nullable=True)
    slack_channel: str | None = Field(default=None, max_length=64)
    slack_ts: str | None = Field(default=None, max_length=32)
    receipt_id: int | None = None
    created_at: datetime = _created()
    delivered_at: datetime | None = _ts(nullable=True)


class InboundEmail(SQLModel, table=True):
    """One email read from the IMAP mailbox or an imported file, by Message-ID, so a message read twice is logged
    once (``sales.inbound``). A sender we cannot match is kept here (with its text) and reported, never dropped."""

    __tablename__ = "inbound_emails"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=500, unique=True)
    mailbox: str = Field(max_length=200)
    from_address: str | None = Field(default=None, max_length=320, index=True)
    subject: str | None = Field(default=None, max_length=500)
    kind: str = Field(max_length=16, index=True, description="reply, auto_reply, bounce or unmatched")
    matched_by: str | None = Field(default=None, max_length=16, description="thread (In-Reply-To) or from")
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    lead_id: int | None = Field(default=None, foreign_key="leads.id")
    deal_id: int | None = Field(default=None, foreign_key="deals.id")
    outbound_message_id: int | None = Field(default=None, foreign_key="outbound_messages.id")
    interaction_id: int | None = Field(default=None, foreign_key="interactions.id")
    event_id: int | None = Field(default=None, foreign_key="domain_events.id")
    receipt_id: int | None = None
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sent_at: datetime | None = _ts(nullable=True)
    received_at: datetime = _created()


class ApiToken(SQLModel, table=True):
    """A personal API token (MCP clients, scripts): only its SHA-256 is stored; the token is shown once.

    A token acts as its user with that user's permissions, never more; a revoked or expired token is refused.
    """

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100, description="what the token is for, e.g. 'claude desktop'")
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    prefix: str = Field(max_length=16, description="the token's first characters, to recognise it in a list")
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = _created()
    expires_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


# -- experiments (issue 16): a process change measured against a control (``sales.experiments``) ----------------


class Experiment(SQLModel, table=True):
    """A process change under measurement: the change (an automation rule, or a process in words), who is in which
    arm (a seeded hash of the record's id, or before/after the start with a matched control), the primary metric,
    and the plan fixed before it starts (sample size for the minimum detectable effect at alpha and power)."""

    __tablename__ = "experiments"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    rule: str | None = Field(default=None, max_length=100, index=True, description="the automation rule changed")
    change: str = Field(max_length=1000, description="the change, in words")
    unit: str = Field(max_length=8, description="deal or lead")
    entry_stage: str | None = Field(default=None, max_length=32, description="cases enter here; None: created")
    metric: str = Field(max_length=16, description="conversion or cycle_time")
    target: str = Field(max_length=32, description="the stage (or 'qualified' for leads) the metric counts")
    window_days: int | None = Field(default=None, description="conversion: reached the target within this")
    design: str = Field(max_length=16, description="random or before_after")
    seed: str = Field(max_length=64)
    treatment_share: float = 0.5
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    control_from: datetime | None = _ts(nullable=True)
    baseline: float
    minimum_detectable_effect: float
    alpha: float
    power: float
    looks: int
    plan: dict[str, Any] = _json()
    status: str = Field(default="running", max_length=16, index=True)
    conclusion: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    concluded_at: datetime | None = _ts(nullable=True)
    stopped_at: datetime | None = _ts(nullable=True)
    stop_reason: str | None = Field(default=None, max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    receipt_id: int | None = None
    created_at: datetime = _created()


class ExperimentLook(SQLModel, table=True):
    """One formal look at an experiment's primary test: the information so far, the statistic and the boundary
    the alpha-spending function allows at this look given the earlier ones (planned or not)."""

    __tablename__ = "experiment_looks"
    __table_args__ = (UniqueConstraint("experiment_id", "look", name="uq_experiment_looks_experiment_look"),)

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiments.id")
    look: int
    planned: bool
    information: float
    statistic: float
    boundary: float
    crossed: bool
    final: bool
    result: dict[str, Any] = _json()
    receipt_id: int | None = None
    at: datetime = _created()


__all__ = [
    "Account",
    "ApiToken",
    "Approval",
    "ApprovalStatus",
    "AuditEvent",
    "AuditPersonalValue",
    "AutomationRuleSet",
    "BriefingDelivery",
    "Channel",
    "ConnectorState",
    "Contact",
    "Deal",
    "Direction",
    "DomainEvent",
    "Experiment",
    "ExperimentLook",
    "ExternalRef",
    "ForecastSnapshot",
    "InboundEmail",
    "Interaction",
    "Lead",
    "LeadStatus",
    "MessageStatus",
    "Notification",
    "OptOut",
    "OutboundMessage",
    "PipelineSnapshot",
    "Role",
    "RuleFiring",
    "SequenceEnrolment",
    "SequenceMessage",
    "SlackEventReceipt",
    "StageChange",
    "StageConfiguration",
    "StandingApproval",
    "SyncWrite",
    "Task",
    "TaskStatus",
    "User",
    "WorkspaceTerm",
]
