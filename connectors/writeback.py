"""Write-back: what reps did and approved here, sent to the CRM exactly once.

What goes back, read from the audit log since a stored cursor (``connector_states`` stream ``writeback``):
stage moves (``move_deal``), new leads (``create_lead``: a HubSpot contact, or a Pipedrive person, with its
account as a company / organization), logged interactions (``log_interaction``: HubSpot note, call, meeting or
email engagements, Pipedrive notes or call/meeting/email activities, associated with the deal, person and
company the CRM knows) and sent emails (``send_message``, which only an approved send writes: a HubSpot email
engagement, a Pipedrive email activity). Nothing a sync pulled is sent back: a pull writes ``sync_*`` events, never
these, and a record that already has an external ref in this CRM (it came from there, or went there) is skipped.

Exactly once: each write has an idempotency key (sha256 of connector, operation and our record) recorded in
``sync_writes`` before the call; the remote id, the external ref, the ledger's ``done`` and the cursor are stored
in one transaction after it. A crash in between leaves the ledger row pending with an attempt counted, so the retry
first looks the write up in the CRM by its key (HubSpot: the ``salesgraph_key`` custom property the connector
creates on first use; Pipedrive: the person's email or the organization's name, or the ``salesgraph ref`` line a
note or activity carries) and adopts what it finds instead of creating a second one. Stage moves set the stage
(they do not step it), so re-sending one is harmless.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.http import ApiClient, ConnectorError
from connectors.sources import HubSpotDeals, PipedriveDeals, hubspot_owners, pipedrive_users
from connectors.sync import COMPANY_OBJECT, PERSON_OBJECT, find_ref, load_state, stage_names
from sales.permissions import Actor
from sales.receipts import write_receipt
from sales.stages import StageMachine, workspace_machine
from store.db import session_scope
from store.models import (
    Account,
    AuditEvent,
    Deal,
    Direction,
    ExternalRef,
    Interaction,
    Lead,
    MessageStatus,
    OutboundMessage,
    SyncWrite,
    User,
)
from store.types import utcnow

PUSHED_ACTIONS = ("move_deal", "create_lead", "log_interaction", "send_message")
KEY_PROPERTY = "salesgraph_key"


@dataclass
class PushReport:
    connector: str
    sent: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    by_operation: dict[str, int] = field(default_factory=dict)
    adopted: int = 0  # writes a retry found already made in the CRM (a crash after the call)
    notes: list[str] = field(default_factory=list)  # why events were skipped


def idempotency_key(connector: str, event_id: int) -> str:
    """The key of a stage move (one per ``move_deal`` audit event)."""
    return hashlib.sha256(f"{connector}:{event_id}".encode()).hexdigest()[:40]


def record_key(connector: str, operation: str, record_type: str, record_id: int) -> str:
    """The key of a created record: one per (connector, operation, our row), whichever event asked for it."""
    return hashlib.sha256(f"{connector}:{operation}:{record_type}:{record_id}".encode()).hexdigest()[:40]


def marker(key: str) -> str:
    """The line a Pipedrive note or activity carries so a retry can recognise it."""
    return f"salesgraph ref {key[:16]}"


@dataclass
class _Write:
    """One remote write: the call, how to look it up after a crash, and what to record once it is made."""

    operation: str
    record_type: str  # ours: deals, accounts, leads, contacts, interactions, outbound_messages
    record_id: int
    key: str
    obj: str  # the CRM object the new external ref names ("" for a move: the deal's ref exists)
    send: Callable[[], str]
    find: Callable[[], str | None] | None = None
    find_first: bool = False  # look up before every create (a natural key), not only after a crash
    agreed: dict[str, Any] = field(default_factory=dict)  # the values both sides now hold (the ref's ``synced``)
    on_done: Callable[[Session, str], None] | None = None


def _name_parts(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last


class _HubSpot:
    """HubSpot CRM v3: create objects with ``associations`` in the create body, look them up by the
    ``salesgraph_key`` property through the search endpoint."""

    system = "hubspot"
    ENGAGEMENT: ClassVar[dict[str, str]] = {
        "note": "notes",
        "slack": "notes",
        "call": "calls",
        "meeting": "meetings",
        "email": "emails",
    }
    # HubSpot-defined association type ids: engagement → contact / deal / company, contact → company
    ASSOCIATION: ClassVar[dict[tuple[str, str], int]] = {
        ("notes", "contacts"): 202,
        ("notes", "deals"): 214,
        ("notes", "companies"): 190,
        ("calls", "contacts"): 194,
        ("calls", "deals"): 206,
        ("calls", "companies"): 182,
        ("meetings", "contacts"): 200,
        ("meetings", "deals"): 212,
        ("meetings", "companies"): 188,
        ("emails", "contacts"): 198,
        ("emails", "deals"): 210,
        ("emails", "companies"): 186,
        ("contacts", "companies"): 279,
    }

    def __init__(self, source: HubSpotDeals) -> None:
        self.source = source
        self.client: ApiClient = source.client
        self.owner_ids: dict[str, str] = {}
        self.emails: dict[int, str] = {}
        self._keyed: set[str] = set()

    def email_of(self, user_id: int | None) -> str:
        return self.emails.get(user_id or 0, "")

    def prepare(self) -> None:
        self.owner_ids = {email: owner for owner, email in (self.source.owners or hubspot_owners(self.client)).items()}

    def ensure_key_property(self, object_type: str) -> None:
        """Create the ``salesgraph_key`` property (in a ``salesgraph`` group) on an object type once."""
        if object_type in self._keyed:
            return
        try:
            self.client.request("GET", f"/crm/v3/properties/{object_type}/{KEY_PROPERTY}")
        except ConnectorError as exc:
            if exc.status != 404:
                raise
            try:
                self.client.request(
                    "POST",
                    f"/crm/v3/properties/{object_type}/groups",
                    json={"name": "salesgraph", "label": "salesgraph", "displayOrder": -1},
                )
            except ConnectorError as group_exc:
                if group_exc.status != 409:
                    raise
            try:
                self.client.request(
                    "POST",
                    f"/crm/v3/properties/{object_type}",
                    json={
                        "name": KEY_PROPERTY,
                        "label": "salesgraph key",
                        "description": "Set by salesgraph on records it created, so a retried write is recognised",
                        "groupName": "salesgraph",
                        "type": "string",
                        "fieldType": "text",
                        "hasUniqueValue": object_type in ("companies", "contacts"),
                    },
                )
            except ConnectorError as prop_exc:
                if prop_exc.status != 409:
                    raise
        self._keyed.add(object_type)

    def find(self, object_type: str, key: str) -> str | None:
        self.ensure_key_property(object_type)
        body = self.client.request(
            "POST",
            f"/crm/v3/objects/{object_type}/search",
            json={
                "filterGroups": [{"filters": [{"propertyName": KEY_PROPERTY, "operator": "EQ", "value": key}]}],
                "properties": [KEY_PROPERTY],
                "limit": 1,
            },
        )
        results = (body or {}).get("results") or []
        return str(results[0]["id"]) if results else None

    def create(self, object_type: str, key: str, properties: dict[str, Any], links: dict[str, str]) -> str:
        self.ensure_key_property(object_type)
        associations = [
            {
                "to": {"id": remote_id},
                "types": [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": self.ASSOCIATION[(object_type, to_type)],
                    }
                ],
            }
            for to_type, remote_id in links.items()
            if (object_type, to_type) in self.ASSOCIATION
        ]
        body: dict[str, Any] = {
            "properties": {**{k: v for k, v in properties.items() if v is not None}, KEY_PROPERTY: key}
        }
        if associations:
            body["associations"] = associations
        try:
            created = self.client.request("POST", f"/crm/v3/objects/{object_type}", json=body)
        except ConnectorError as exc:
            existing = re.search(r"Existing ID: (\d+)", str(exc))
            if object_type == "contacts" and exc.status == 409 and existing:
                return existing.group(1)  # the person is in HubSpot already (same email): that is the contact
            raise
        return str(created["id"])

    def company(self, account: Account, key: str) -> tuple[Callable[[], str], Callable[[], str | None], dict[str, Any]]:
        owner = self.owner_ids.get(self.email_of(account.owner_id))
        props = {"name": account.name, "domain": account.domain, "industry": account.industry}
        props["hubspot_owner_id"] = owner
        agreed = {"name": account.name, "domain": account.domain, "industry": account.industry}
        return (
            lambda: self.create("companies", key, props, {}),
            lambda: self.find("companies", key),
            {**agreed, "owner_id": account.owner_id if owner else None},
        )

    def person(
        self, lead: Lead, key: str, company: Callable[[], str | None]
    ) -> tuple[Callable[[], str], Callable[[], str | None], bool, dict[str, Any]]:
        """The contact's create and look-up (``company()`` gives the company's id once it exists) and the values
        both sides hold afterwards."""
        first, last = _name_parts(lead.name)
        owner = self.owner_ids.get(self.email_of(lead.owner_id))
        props = {
            "firstname": first,
            "lastname": last,
            "email": lead.email,
            "phone": lead.phone,
            "jobtitle": lead.title,
            "company": lead.company,
            "hubspot_owner_id": owner,
        }

        def send() -> str:
            company_id = company()
            return self.create("contacts", key, props, {"companies": company_id} if company_id else {})

        agreed = {
            "name": lead.name,
            "email": (lead.email or "").lower() or None,
            "phone": lead.phone,
            "title": lead.title,
            "owner_id": lead.owner_id if owner else None,
        }
        return send, lambda: self.find("contacts", key), False, agreed

    def log(
        self, kind: str, key: str, fields: dict[str, Any], links: dict[str, str]
    ) -> tuple[str, Callable[[], str], Callable[[], str | None]]:
        object_type = self.ENGAGEMENT.get(kind, "notes")
        when = fields["at"].isoformat()
        subject, body = fields.get("subject") or "", fields.get("body") or ""
        owner = self.owner_ids.get(fields.get("owner_email") or "")
        outgoing = fields.get("direction") != Direction.INBOUND
        props: dict[str, Any] = {"hs_timestamp": when, "hubspot_owner_id": owner}
        if object_type == "notes":
            props["hs_note_body"] = f"{subject}\n\n{body}".strip()
        elif object_type == "calls":
            props |= {
                "hs_call_title": subject or "Call",
                "hs_call_body": body,
                "hs_call_direction": "OUTBOUND" if outgoing else "INBOUND",
                "hs_call_status": "COMPLETED",
            }
        elif object_type == "meetings":
            props |= {
                "hs_meeting_title": subject or "Meeting",
                "hs_meeting_body": body,
                "hs_meeting_start_time": when,
                "hs_meeting_end_time": when,
                "hs_meeting_outcome": "COMPLETED",
            }
        else:
            props |= {
                "hs_email_direction": "EMAIL" if outgoing else "INCOMING_EMAIL",
                "hs_email_subject": subject,
                "hs_email_text": body,
                "hs_email_status": "SENT",
            }
            if fields.get("to"):
                props["hs_email_headers"] = json.dumps({"to": [{"email": fields["to"]}]})
        return (
            object_type,
            lambda: self.create(object_type, key, props, links),
            lambda: self.find(object_type, key),
        )


class _Pipedrive:
    """Pipedrive: v2 persons, organizations and activities, v1 notes; persons found by email, organizations by
    name (``/search`` with ``exact_match``), notes and activities by the ``salesgraph ref`` line they carry."""

    system = "pipedrive"
    ACTIVITY: ClassVar[dict[str, str]] = {"call": "call", "meeting": "meeting", "email": "email"}

    def __init__(self, source: PipedriveDeals) -> None:
        self.source = source
        self.client: ApiClient = source.client
        self.user_ids: dict[str, int] = {}
        self.emails: dict[int, str] = {}

    def email_of(self, user_id: int | None) -> str:
        return self.emails.get(user_id or 0, "")

    def prepare(self) -> None:
        self.user_ids = {email: uid for uid, email in (self.source.users or pipedrive_users(self.client)).items()}

    def _search(self, what: str, term: str, fields: str) -> str | None:
        if len(term.strip()) < 1:
            return None
        body = self.client.request(
            "GET", f"/api/v2/{what}/search", params={"term": term, "fields": fields, "exact_match": "true"}
        )
        items = ((body or {}).get("data") or {}).get("items") or []
        return str(items[0]["item"]["id"]) if items else None

    def _create(self, path: str, body: dict[str, Any]) -> str:
        created = self.client.request("POST", path, json={k: v for k, v in body.items() if v is not None})
        if not created or created.get("success") is False:
            raise ConnectorError(f"Pipedrive refused POST {path}: {(created or {}).get('error')}")
        return str(created["data"]["id"])

    def company(self, account: Account, key: str) -> tuple[Callable[[], str], Callable[[], str | None], dict[str, Any]]:
        owner = self.user_ids.get(self.email_of(account.owner_id))
        body = {"name": account.name, "owner_id": owner}
        agreed = {"name": account.name, "domain": None, "industry": None}
        return (
            lambda: self._create("/api/v2/organizations", body),
            lambda: self._search("organizations", account.name, "name"),
            {**agreed, "owner_id": account.owner_id if owner else None},
        )

    def person(
        self, lead: Lead, key: str, company: Callable[[], str | None]
    ) -> tuple[Callable[[], str], Callable[[], str | None], bool, dict[str, Any]]:
        owner = self.user_ids.get(self.email_of(lead.owner_id))
        body: dict[str, Any] = {"name": lead.name, "owner_id": owner}
        if lead.email:
            body["emails"] = [{"value": lead.email, "primary": True, "label": "work"}]
        if lead.phone:
            body["phones"] = [{"value": lead.phone, "primary": True, "label": "work"}]

        def send() -> str:
            company_id = company()
            return self._create("/api/v2/persons", {**body, "org_id": int(company_id) if company_id else None})

        agreed = {
            "name": lead.name,
            "email": (lead.email or "").lower() or None,
            "phone": lead.phone,
            "title": None,  # not sent: Pipedrive's person has no job title field
            "owner_id": lead.owner_id if owner else None,
        }
        term, fields = (lead.email, "email") if lead.email else (lead.name, "name")
        return send, lambda: self._search("persons", term, fields), True, agreed

    def _find_marked(self, path: str, links: dict[str, str], key: str, text_field: str) -> str | None:
        tag = marker(key)
        for name, link in (("deal_id", "deals"), ("person_id", "persons"), ("org_id", "organizations")):
            if link not in links:
                continue
            params: dict[str, Any] = {name: links[link], "limit": 500}
            if path == "/v1/notes":
                params["sort"] = "add_time DESC"
            body = self.client.request("GET", path, params=params)
            for item in (body or {}).get("data") or []:
                if tag in str(item.get(text_field) or ""):
                    return str(item["id"])
            return None
        return None

    def log(
        self, kind: str, key: str, fields: dict[str, Any], links: dict[str, str]
    ) -> tuple[str, Callable[[], str], Callable[[], str | None]]:
        subject, text = fields.get("subject") or "", fields.get("body") or ""
        ids = {
            "deal_id": int(links["deals"]) if "deals" in links else None,
            "org_id": int(links["organizations"]) if "organizations" in links else None,
        }
        activity = self.ACTIVITY.get(kind)
        if activity is None:  # a note (or a Slack thread): a Pipedrive note
            content = "".join(f"<p>{html.escape(part)}</p>" for part in (subject, text) if part)
            body = {**ids, "content": f"{content}<p>({marker(key)})</p>"}
            if "persons" in links:
                body["person_id"] = int(links["persons"])
            return (
                "notes",
                lambda: self._create("/v1/notes", body),
                lambda: self._find_marked("/v1/notes", links, key, "content"),
            )
        at = fields["at"]
        activity_body: dict[str, Any] = {
            **ids,
            "subject": (subject or kind.capitalize())[:255],
            "type": activity,
            "done": True,
            "due_date": at.strftime("%Y-%m-%d"),
            "due_time": at.strftime("%H:%M"),
            "note": f"{text}\n\n({marker(key)})".strip(),
            "owner_id": self.user_ids.get(fields.get("owner_email") or ""),
        }
        if "persons" in links:
            activity_body["participants"] = [{"person_id": int(links["persons"]), "primary": True}]
        return (
            "activities",
            lambda: self._create("/api/v2/activities", activity_body),
            lambda: self._find_marked("/api/v2/activities", links, key, "note"),
        )


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


class _Planner:
    """Turns one audit event into the writes it needs (or a reason to skip it), inside a transaction."""

    def __init__(self, session: Session, crm: _HubSpot | _Pipedrive, source: HubSpotDeals | PipedriveDeals) -> None:
        self.session = session
        self.crm = crm
        self.source = source
        self.system = crm.system

    def ref_of(self, record_type: str, record_id: int | None) -> ExternalRef | None:
        if record_id is None:
            return None
        return self.session.exec(
            select(ExternalRef).where(
                ExternalRef.system == self.system,
                ExternalRef.record_type == record_type,
                ExternalRef.record_id == record_id,
                col(ExternalRef.deleted_at).is_(None),
            )
        ).first()

    def plan(self, event: AuditEvent) -> list[_Write] | str:
        assert event.id is not None
        record_id = int(event.record_id or 0)
        if event.action == "move_deal":
            return self._move(event, record_id)
        if event.action == "create_lead":
            return self._lead(record_id)
        if event.action == "log_interaction":
            return self._interaction(record_id)
        if event.action == "send_message":
            return self._message(record_id)
        return f"{event.action} is not sent to a CRM"

    def _move(self, event: AuditEvent, deal_id: int) -> list[_Write] | str:
        assert event.id is not None
        ref = self.ref_of("deals", deal_id)
        if ref is None:
            return f"deal #{deal_id} is not in {self.system}"
        stage = str((event.after or {}).get("stage") or "")
        body = _remote_stage(self.source, workspace_machine(self.session), stage)
        if body is None:
            return f"failed: no {self.system} stage for {stage!r} (audit event #{event.id})"
        path = ("/crm/v3/objects/deals/{}" if self.system == "hubspot" else "/api/v2/deals/{}").format(ref.external_id)
        key = idempotency_key(self.system, event.id)
        client = self.crm.client
        remote_id, ref_id = ref.external_id, ref.id

        def send() -> str:
            client.request("PATCH", path, json=body, headers={"Idempotency-Key": key})
            return remote_id

        def agree(session: Session, _: str) -> None:  # the CRM now agrees with us: the next pull sees no conflict
            stored = session.get(ExternalRef, ref_id)
            if stored is not None:
                stored.synced = {**stored.synced, "stage": stage}
                session.add(stored)

        return [_Write("move_deal", "deals", deal_id, key, "", send, on_done=agree)]

    def _company(self, account_id: int | None) -> tuple[list[_Write], str | None]:
        """The write that puts our account in the CRM (none when it is there already) and its remote id if known."""
        if account_id is None:
            return [], None
        ref = self.ref_of("accounts", account_id)
        if ref is not None:
            return [], ref.external_id
        account = self.session.get(Account, account_id)
        if account is None:
            return [], None
        key = record_key(self.system, "create_company", "accounts", account_id)
        send, find, agreed = self.crm.company(account, key)
        pipedrive = self.system == "pipedrive"
        obj = COMPANY_OBJECT[self.system]
        return [_Write("create_company", "accounts", account_id, key, obj, send, find, pipedrive, agreed)], None

    def _lead(self, lead_id: int) -> list[_Write] | str:
        lead = self.session.get(Lead, lead_id)
        if lead is None:
            return f"lead #{lead_id} is gone"
        if self.ref_of("leads", lead_id) is not None or self.ref_of("contacts", lead.contact_id) is not None:
            return f"lead #{lead_id} is already in {self.system}"
        writes, company_id = self._company(lead.account_id)
        holder: dict[str, str | None] = {"company": company_id}
        if writes:  # the company goes first; the person is linked to it once its id is known
            writes[0].on_done = lambda _session, remote: holder.__setitem__("company", remote)
        key = record_key(self.system, "create_lead", "leads", lead_id)
        send, find, natural, agreed = self.crm.person(lead, key, lambda: holder["company"])
        agreed["account_id"] = lead.account_id if (company_id or writes) else None
        obj = PERSON_OBJECT[self.system]
        return [*writes, _Write("create_lead", "leads", lead_id, key, obj, send, find, natural, agreed)]

    def _links(
        self, deal_id: int | None, lead_id: int | None, contact_id: int | None, account_id: int | None
    ) -> dict[str, str]:
        links: dict[str, str] = {}
        person_obj = PERSON_OBJECT[self.system]
        deal = self.ref_of("deals", deal_id)
        if deal is not None:
            links["deals"] = deal.external_id
        person = self.ref_of("leads", lead_id) or self.ref_of("contacts", contact_id)
        if person is not None:
            links[person_obj] = person.external_id
        company = self.ref_of("accounts", account_id)
        if company is not None:
            links[COMPANY_OBJECT[self.system]] = company.external_id
        return links

    def _interaction(self, interaction_id: int) -> list[_Write] | str:
        row = self.session.get(Interaction, interaction_id)
        if row is None:
            return f"interaction #{interaction_id} is gone"
        if self.ref_of("interactions", interaction_id) is not None:
            return f"interaction #{interaction_id} came from (or went to) {self.system}"
        links = self._links(row.deal_id, row.lead_id, row.contact_id, row.account_id)
        if not links:
            return f"interaction #{interaction_id} is about nothing {self.system} knows"
        key = record_key(self.system, "log_interaction", "interactions", interaction_id)
        fields = {
            "at": row.occurred_at,
            "subject": row.subject,
            "body": row.body,
            "direction": row.direction,
            "owner_email": self.crm.email_of(row.user_id),
        }
        obj, send, find = self.crm.log(row.channel, key, fields, links)
        return [_Write("log_interaction", "interactions", interaction_id, key, obj, send, find)]

    def _message(self, message_id: int) -> list[_Write] | str:
        row = self.session.get(OutboundMessage, message_id)
        if row is None:
            return f"message #{message_id} is gone"
        if row.status != MessageStatus.SENT:  # an outbox channel records a send it did not deliver
            return f"message #{message_id} was not delivered ({row.status})"
        if self.ref_of("outbound_messages", message_id) is not None:
            return f"message #{message_id} is already in {self.system}"
        account_id, deal = None, None
        if row.deal_id is not None:
            deal = self.session.get(Deal, row.deal_id)
            account_id = deal.account_id if deal else None
        lead_id = row.lead_id or (deal.lead_id if row.deal_id is not None and deal is not None else None)
        if lead_id is not None:
            lead = self.session.get(Lead, lead_id)
            account_id = account_id or (lead.account_id if lead else None)
        links = self._links(row.deal_id, lead_id, row.contact_id, account_id)
        if not links:
            return f"message #{message_id} is to no one {self.system} knows"
        key = record_key(self.system, "log_email", "outbound_messages", message_id)
        fields = {
            "at": row.sent_at or row.created_at,
            "subject": row.subject,
            "body": row.body,
            "direction": Direction.OUTBOUND,
            "owner_email": self.crm.email_of(row.created_by_id),
            "to": row.to_address,
        }
        obj, send, find = self.crm.log("email", key, fields, links)
        return [_Write("log_email", "outbound_messages", message_id, key, obj, send, find)]


def _perform(
    engine: Engine,
    actor: Actor,
    system: str,
    write: _Write,
    event_id: int,
    report: PushReport,
    after_call: Callable[[int], None] | None,
    *,
    advance: bool,
) -> None:
    """One write, exactly once: ledger row before the call, the receipt of it (ref, ledger, cursor) after."""
    with session_scope(engine) as session:
        ledger = session.exec(
            select(SyncWrite).where(SyncWrite.connector == system, SyncWrite.idempotency_key == write.key)
        ).first()
        if ledger is not None and ledger.status == "done":
            if write.on_done is not None and ledger.remote_id:
                write.on_done(session, ledger.remote_id)
            if advance:
                _advance(session, system, event_id)
            report.skipped += 1
            return
        if ledger is None:
            ledger = SyncWrite(
                connector=system,
                idempotency_key=write.key,
                audit_event_id=event_id,
                operation=write.operation,
                record_type=write.record_type,
                record_id=write.record_id,
            )
        retry = ledger.attempts > 0
        ledger.attempts += 1
        session.add(ledger)
    remote_id = None
    if write.find is not None and (retry or write.find_first):
        remote_id = write.find()
        if remote_id is not None and retry:
            report.adopted += 1
    if remote_id is None:
        remote_id = write.send()
    if after_call is not None:
        after_call(event_id)
    with session_scope(engine) as session:
        ledger = session.exec(
            select(SyncWrite).where(SyncWrite.connector == system, SyncWrite.idempotency_key == write.key)
        ).one()
        ledger.status, ledger.done_at, ledger.remote_id = "done", utcnow(), remote_id
        session.add(ledger)
        if write.obj and find_ref(session, system, write.obj, remote_id) is None:
            session.add(
                ExternalRef(
                    system=system,
                    object=write.obj,
                    external_id=remote_id,
                    record_type=write.record_type,
                    record_id=write.record_id,
                    synced=dict(write.agreed),
                )
            )
        if write.on_done is not None:
            write.on_done(session, remote_id)
        write_receipt(
            session,
            actor,
            "sync_push",
            write.record_type.removesuffix("s"),
            write.record_id,
            after={
                "system": system,
                "operation": write.operation,
                "external_id": remote_id,
                "audit_event_id": event_id,
                "key": write.key,
            },
        )
        if advance:
            _advance(session, system, event_id)
    report.sent += 1
    report.by_operation[write.operation] = report.by_operation.get(write.operation, 0) + 1


def _advance(session: Session, system: str, event_id: int) -> None:
    state = load_state(session, system, "writeback")
    state.state = {**state.state, "audit_event_id": event_id}
    state.updated_at = utcnow()
    session.add(state)


def push_changes(
    engine: Engine,
    actor: Actor,
    source: HubSpotDeals | PipedriveDeals,
    *,
    after_call: Callable[[int], None] | None = None,
) -> PushReport:
    """Send every approved change since the write-back cursor to the CRM, in the order it was made; returns what
    was sent and why anything was skipped.

    ``after_call(event_id)`` runs after the CRM accepted a write and before it is recorded (tests crash there).
    """
    system = source.system
    report = PushReport(connector=system)
    source.prepare()
    crm: _HubSpot | _Pipedrive = _HubSpot(source) if isinstance(source, HubSpotDeals) else _Pipedrive(source)
    crm.prepare()
    with session_scope(engine) as session:
        crm.emails = {u.id: u.email.lower() for u in session.exec(select(User)).all() if u.id is not None}
    while True:
        with session_scope(engine) as session:
            cursor = int(load_state(session, system, "writeback").state.get("audit_event_id") or 0)
            ids = list(
                session.exec(
                    select(AuditEvent.id)
                    .where(col(AuditEvent.id) > cursor, col(AuditEvent.action).in_(PUSHED_ACTIONS))
                    .order_by(col(AuditEvent.id))
                    .limit(200)
                ).all()
            )
        if not ids:
            return report
        for event_id in ids:
            assert event_id is not None
            with session_scope(engine) as session:
                event = session.get(AuditEvent, event_id)
                assert event is not None
                plan = _Planner(session, crm, source).plan(event)
                if isinstance(plan, str):
                    if plan.startswith("failed: "):
                        report.failed.append(plan.removeprefix("failed: "))
                    else:
                        report.skipped += 1
                        report.notes.append(plan)
                    _advance(session, system, event_id)
                    continue
            for i, write in enumerate(plan):
                _perform(engine, actor, system, write, event_id, report, after_call, advance=i == len(plan) - 1)


__all__ = ["PushReport", "idempotency_key", "marker", "push_changes", "record_key"]
