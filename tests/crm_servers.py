"""Loopback HubSpot CRM v3 and Pipedrive API servers (127.0.0.1, port 0) over an in-memory CRM.

They speak the documented shapes the connectors read and write.

HubSpot: the ``results``/``paging.next.after`` listing of deals, companies, contacts and engagements, with
``?archived=true``; the search endpoint (``filterGroups`` with EQ/GT/GTE/LT/LTE, one sort, at most 200 a page and
**at most 10,000 results per query**: a page past that is refused with 400, as HubSpot does); object creation with
``associations`` (association type ids), 409 for a contact whose email exists; associations v4 batch read;
custom properties and property groups; pipelines and owners.

Pipedrive: v2 ``data``/``additional_data.next_cursor`` listings of deals, organizations, persons and activities
with ``updated_since`` and ``status=deleted``; v2 create and search of persons and organizations; v1 notes; stages
and v1 users. ``storm`` answers every n-th request with 429 and a Retry-After; every answer carries rate-limit
headers.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "pat-na1-loopback-secret"  # the token the servers require; tests check it never reaches logs


@dataclass
class FakeDeal:
    id: int
    name: str
    stage: str  # HubSpot stage id / Pipedrive stage id as text
    amount: str | None
    owner: int
    modified: datetime
    status: str = "open"  # Pipedrive: open, won, lost
    archived: bool = False
    company: int | None = None  # HubSpot company / Pipedrive organization id
    contact: int | None = None  # HubSpot contact / Pipedrive person id


@dataclass
class FakeRecord:
    """Any other CRM record: a company, contact, person, organization, engagement, note or activity."""

    id: int
    props: dict[str, Any]
    modified: datetime
    archived: bool = False
    links: dict[str, list[int]] = field(default_factory=dict)  # object type → associated ids


@dataclass
class CrmData:
    deals: dict[int, FakeDeal] = field(default_factory=dict)
    # HubSpot: companies, contacts, notes, calls, meetings, emails; Pipedrive: organizations, persons, notes,
    # activities
    objects: dict[str, dict[int, FakeRecord]] = field(default_factory=dict)
    storm: int = 0  # every n-th request answers 429 (0: never)
    search_cap: int = 10_000  # HubSpot search: results one query may page through
    requests: int = 0
    writes: list[tuple[str, str, Any]] = field(default_factory=list)  # (idempotency key, path, body) of PATCHes
    created: list[tuple[str, int]] = field(default_factory=list)  # (object type, id) of every record created
    properties: dict[str, set[str]] = field(default_factory=dict)  # HubSpot custom properties per object type
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(900_001))

    def table(self, name: str) -> dict[int, FakeRecord]:
        return self.objects.setdefault(name, {})


OWNERS = {1: "eli.one@test.example", 2: "eva.two@test.example", 3: "will.one@test.example"}
HUBSPOT_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "false", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "false", "0.4"),
    ("contractsent", "Contract Sent", "false", "0.9"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
PIPEDRIVE_STAGES = {1: "Qualified", 2: "Proposal Made", 3: "Negotiations Started"}
# HubSpot-defined association type ids (from → to) the connector uses, as HubSpot documents them.
HUBSPOT_ASSOCIATION_TYPES: dict[int, tuple[str, str]] = {
    279: ("contacts", "companies"),
    1: ("contacts", "companies"),
    202: ("notes", "contacts"),
    214: ("notes", "deals"),
    190: ("notes", "companies"),
    194: ("calls", "contacts"),
    206: ("calls", "deals"),
    182: ("calls", "companies"),
    200: ("meetings", "contacts"),
    212: ("meetings", "deals"),
    188: ("meetings", "companies"),
    198: ("emails", "contacts"),
    210: ("emails", "deals"),
    186: ("emails", "companies"),
}
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}  # every other HubSpot object: hs_lastmodifieddate


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _millis(moment: datetime) -> int:
    """Epoch milliseconds, in integer arithmetic (a float product can land one millisecond short)."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


class _Handler(BaseHTTPRequestHandler):
    data: CrmData
    kind: str

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _gate(self) -> bool:
        expected = {"hubspot": ("Authorization", f"Bearer {TOKEN}"), "pipedrive": ("x-api-token", TOKEN)}[self.kind]
        if self.headers.get(expected[0]) != expected[1]:
            self._send(401, {"status": "error", "message": "Authentication credentials not found."})
            return False
        with self.data.lock:
            self.data.requests += 1
            n = self.data.requests
        if self.data.storm and n % self.data.storm == 0:
            if self.kind == "hubspot":
                body = {
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                }
                self._send(429, body, {"Retry-After": "0", "X-HubSpot-RateLimit-Remaining": "0"})
            else:
                self._send(429, {"success": False, "error": "Request over limit"}, {"x-ratelimit-reset": "0"})
            return False
        return True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        if self._gate():
            self._route("GET", None)

    def do_POST(self) -> None:
        if self._gate():
            self._route("POST", self._body())

    def do_PATCH(self) -> None:
        if self._gate():
            self._route("PATCH", self._body())

    def _route(self, method: str, body: Any) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        handler = getattr(self, f"_{self.kind}", None)
        assert handler is not None
        with self.data.lock:  # one request at a time changes the CRM, as a real one serialises writes
            handler(method, url.path, query, body)

    # --- HubSpot CRM v3

    def _hubspot_deal(self, deal: FakeDeal) -> dict[str, Any]:
        return {
            "id": str(deal.id),
            "properties": {
                "dealname": deal.name,
                "dealstage": deal.stage,
                "pipeline": "default",
                "amount": deal.amount,
                "hubspot_owner_id": str(deal.owner),
                "hs_lastmodifieddate": _iso(deal.modified),
                "hs_object_id": str(deal.id),
            },
            "createdAt": _iso(deal.modified),
            "updatedAt": _iso(deal.modified),
            "archived": deal.archived,
        }

    def _hubspot_record(self, object_type: str, record: FakeRecord) -> dict[str, Any]:
        modified = MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate")
        props = {k: (None if v is None else str(v)) for k, v in record.props.items()}
        return {
            "id": str(record.id),
            "properties": {**props, "hs_object_id": str(record.id), modified: _iso(record.modified)},
            "createdAt": _iso(record.modified),
            "updatedAt": _iso(record.modified),
            "archived": record.archived,
        }

    def _hubspot_rows(self, object_type: str) -> list[tuple[int, bool, int, FakeDeal | FakeRecord]]:
        """(id, archived, modified in epoch ms, record) of every record of a type, by id."""
        if object_type == "deals":
            return [
                (d.id, d.archived, _millis(d.modified), d) for d in sorted(self.data.deals.values(), key=lambda d: d.id)
            ]
        return [(r.id, r.archived, _millis(r.modified), r) for _, r in sorted(self.data.table(object_type).items())]

    def _hubspot_shape(self, object_type: str, record: FakeDeal | FakeRecord) -> dict[str, Any]:
        if isinstance(record, FakeDeal):
            return self._hubspot_deal(record)
        return self._hubspot_record(object_type, record)

    def _matches(
        self, object_type: str, row: tuple[int, bool, int, FakeDeal | FakeRecord], flt: dict[str, Any]
    ) -> bool:
        record_id, _, modified, record = row
        name, op, wanted = str(flt["propertyName"]), str(flt["operator"]), str(flt.get("value"))
        if name.endswith("lastmodifieddate"):
            have: Any = modified
            want: Any = int(wanted)
        elif name == "hs_object_id":
            have, want = record_id, int(wanted)
        else:
            value = self._hubspot_shape(object_type, record)["properties"].get(name)
            if value is None:
                return op == "NOT_HAS_PROPERTY"
            have, want = str(value).lower(), wanted.lower()
        return bool(
            {
                "EQ": have == want,
                "GT": have > want,
                "GTE": have >= want,
                "LT": have < want,
                "LTE": have <= want,
            }[op]
        )

    def _hubspot_search(self, object_type: str, body: dict[str, Any]) -> None:
        after = int(body.get("after") or 0)
        if after >= self.data.search_cap:
            self._send(
                400,
                {
                    "status": "error",
                    "message": f"The search endpoint returns at most {self.data.search_cap} results per query",
                    "category": "VALIDATION_ERROR",
                },
            )
            return
        rows = [row for row in self._hubspot_rows(object_type) if not row[1]]
        groups = body.get("filterGroups") or [{"filters": []}]
        chosen = [r for r in rows if any(all(self._matches(object_type, r, f) for f in g["filters"]) for g in groups)]
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        prop = sorts[0]["propertyName"]

        def key(row: tuple[int, bool, int, FakeDeal | FakeRecord]) -> tuple[Any, int]:
            if prop.endswith("lastmodifieddate"):
                return (row[2], row[0])
            if prop == "hs_object_id":
                return (row[0], row[0])
            return (str(self._hubspot_shape(object_type, row[3])["properties"].get(prop) or ""), row[0])

        chosen.sort(key=key, reverse=sorts[0].get("direction") == "DESCENDING")
        limit = min(int(body.get("limit", 10)), 200)
        stop = min(after + limit, self.data.search_cap, len(chosen))
        page: dict[str, Any] = {"results": [self._hubspot_shape(object_type, r[3]) for r in chosen[after:stop]]}
        if stop < min(len(chosen), self.data.search_cap):
            page["paging"] = {"next": {"after": str(stop), "link": "?after=" + str(stop)}}
        self._send(200, {"total": len(chosen), **page})

    def _hubspot_create(self, object_type: str, body: dict[str, Any]) -> None:
        props = dict(body.get("properties") or {})
        custom = self.data.properties.get(object_type, set())
        if "salesgraph_key" in props and "salesgraph_key" not in custom:
            self._send(
                400,
                {
                    "status": "error",
                    "message": 'Property values were not valid: [{"name":"salesgraph_key","error":"PROPERTY_DOESNT_EXIST"}]',
                    "category": "VALIDATION_ERROR",
                },
            )
            return
        table = self.data.table(object_type)
        if object_type == "contacts" and props.get("email"):
            for existing in table.values():
                if str(existing.props.get("email") or "").lower() == str(props["email"]).lower():
                    self._send(
                        409,
                        {
                            "status": "error",
                            "message": f"Contact already exists. Existing ID: {existing.id}",
                            "category": "CONFLICT",
                        },
                    )
                    return
        if props.get("salesgraph_key"):
            for existing in table.values():
                if existing.props.get("salesgraph_key") == props["salesgraph_key"]:
                    self._send(
                        400,
                        {
                            "status": "error",
                            "message": f"A record with salesgraph_key {props['salesgraph_key']} already exists",
                            "category": "VALIDATION_ERROR",
                        },
                    )
                    return
        record = FakeRecord(id=next(self.data.ids), props=props, modified=datetime.now(UTC))
        for association in body.get("associations") or []:
            for kind in association.get("types") or []:
                pair = HUBSPOT_ASSOCIATION_TYPES.get(int(kind["associationTypeId"]))
                if pair is None or pair[0] != object_type:
                    self._send(400, {"status": "error", "message": f"bad association type {kind}"})
                    return
                record.links.setdefault(pair[1], []).append(int(association["to"]["id"]))
        if object_type == "contacts" and record.links.get("companies"):
            record.props["associatedcompanyid"] = str(record.links["companies"][0])
        table[record.id] = record
        self.data.created.append((object_type, record.id))
        self._send(201, self._hubspot_record(object_type, record))

    def _hubspot_associations(self, from_type: str, to_type: str, body: dict[str, Any]) -> None:
        results = []
        for entry in body.get("inputs") or []:
            source_id = int(entry["id"])
            targets: list[int] = []
            if from_type == "deals" and source_id in self.data.deals:
                deal = self.data.deals[source_id]
                target = {"companies": deal.company, "contacts": deal.contact}.get(to_type)
                targets = [target] if target else []
            elif source_id in self.data.table(from_type):
                targets = self.data.table(from_type)[source_id].links.get(to_type, [])
            if targets:
                types = [{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}]
                results.append(
                    {
                        "from": {"id": str(source_id)},
                        "to": [{"toObjectId": t, "associationTypes": types} for t in targets],
                    }
                )
        self._send(200, {"status": "COMPLETE", "results": results, "numErrors": 0})

    def _hubspot(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        parts = path.strip("/").split("/")
        limit = min(int(query.get("limit", 10)), 100)
        if path == "/crm/v3/pipelines/deals":
            stages = [
                {"id": sid, "label": label, "displayOrder": i, "metadata": {"isClosed": closed, "probability": p}}
                for i, (sid, label, closed, p) in enumerate(HUBSPOT_STAGES)
            ]
            self._send(200, {"results": [{"id": "default", "label": "Sales Pipeline", "stages": stages}]})
        elif path == "/crm/v3/owners":
            owners = [{"id": str(i), "email": e, "firstName": e.split(".")[0]} for i, e in OWNERS.items()]
            self._send(200, {"results": owners})
        elif parts[:3] == ["crm", "v3", "properties"] and len(parts) >= 4:
            object_type = parts[3]
            defined = self.data.properties.setdefault(object_type, set())
            if method == "GET" and len(parts) == 5:
                if parts[4] in defined:
                    self._send(200, {"name": parts[4], "type": "string", "fieldType": "text"})
                else:
                    self._send(404, {"status": "error", "message": f"Unable to find property {parts[4]}"})
            elif method == "POST" and len(parts) == 5 and parts[4] == "groups":
                self._send(201, {"name": body["name"], "label": body.get("label")})
            elif method == "POST" and len(parts) == 4:
                if body["name"] in defined:
                    self._send(409, {"status": "error", "message": "Property already exists", "category": "CONFLICT"})
                else:
                    defined.add(body["name"])
                    self._send(201, {"name": body["name"], "hasUniqueValue": body.get("hasUniqueValue", False)})
            else:
                self._send(404, {"status": "error", "message": f"no route {method} {path}"})
        elif parts[:3] == ["crm", "v4", "associations"] and len(parts) == 7 and method == "POST":
            self._hubspot_associations(parts[3], parts[4], body)
        elif parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and method == "GET":
            archived = query.get("archived") == "true"
            rows = [r for _, arch, _, r in self._hubspot_rows(parts[3]) if arch == archived]
            start = int(query.get("after") or 0)
            listing: dict[str, Any] = {
                "results": [self._hubspot_shape(parts[3], r) for r in rows[start : start + limit]]
            }
            if start + limit < len(rows):
                listing["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
            self._send(200, listing, {"X-HubSpot-RateLimit-Remaining": "99"})
        elif parts[:3] == ["crm", "v3", "objects"] and len(parts) == 5 and parts[4] == "search" and method == "POST":
            self._hubspot_search(parts[3], body)
        elif parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and method == "POST":
            self._hubspot_create(parts[3], body)
        elif path.startswith("/crm/v3/objects/deals/") and method == "PATCH":
            deal = self.data.deals[int(path.rsplit("/", 1)[1])]
            self.data.writes.append((self.headers.get("Idempotency-Key") or "", path, body))
            deal.stage = body["properties"].get("dealstage", deal.stage)
            deal.modified = datetime.now(UTC)
            self._send(200, self._hubspot_deal(deal))
        else:
            self._send(404, {"status": "error", "message": f"no route {method} {path}"})

    # --- Pipedrive v2 (and v1 where v2 has no endpoint)

    def _pipedrive_deal(self, deal: FakeDeal) -> dict[str, Any]:
        return {
            "id": deal.id,
            "title": deal.name,
            "owner_id": deal.owner,
            "stage_id": int(deal.stage),
            "pipeline_id": 1,
            "value": float(deal.amount) if deal.amount else 0,
            "currency": "USD",
            "status": deal.status,
            "is_deleted": deal.archived,
            "org_id": deal.company,
            "person_id": deal.contact,
            "add_time": _iso(deal.modified),
            "update_time": _iso(deal.modified),
            "expected_close_date": None,
        }

    @staticmethod
    def _pipedrive_record(record: FakeRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            **record.props,
            "is_deleted": record.archived,
            "add_time": _iso(record.modified),
            "update_time": _iso(record.modified),
        }

    def _pipedrive_list(self, rows: list[tuple[datetime, int, bool, dict[str, Any]]], query: dict[str, str]) -> None:
        deleted = query.get("status") == "deleted"
        chosen = [r for r in rows if r[2] == deleted]
        if "updated_since" in query:
            floor = datetime.fromisoformat(query["updated_since"].replace("Z", "+00:00"))
            chosen = [r for r in chosen if r[0].replace(microsecond=0) >= floor]
        for name in ("deal_id", "person_id", "org_id"):
            if name in query:
                chosen = [
                    r
                    for r in chosen
                    if str(r[3].get(name)) == query[name] or self._participant(r[3], name, query[name])
                ]
        chosen.sort(key=lambda r: (r[0], r[1]))
        start = int(query.get("cursor") or 0)
        limit = min(int(query.get("limit", 100)), 500)
        more = start + limit < len(chosen)
        self._send(
            200,
            {
                "success": True,
                "data": [r[3] for r in chosen[start : start + limit]],
                "additional_data": {"next_cursor": str(start + limit) if more else None},
            },
            {"x-ratelimit-limit": "80", "x-ratelimit-remaining": "79", "x-ratelimit-reset": "2"},
        )

    @staticmethod
    def _participant(item: dict[str, Any], name: str, value: str) -> bool:
        return name == "person_id" and any(str(p.get("person_id")) == value for p in item.get("participants") or [])

    def _pipedrive_rows(self, table: str) -> list[tuple[datetime, int, bool, dict[str, Any]]]:
        if table == "deals":
            return [(d.modified, d.id, d.archived, self._pipedrive_deal(d)) for d in self.data.deals.values()]
        return [(r.modified, r.id, r.archived, self._pipedrive_record(r)) for r in self.data.table(table).values()]

    def _pipedrive_create(self, table: str, body: dict[str, Any]) -> None:
        record = FakeRecord(id=next(self.data.ids), props=dict(body), modified=datetime.now(UTC))
        self.data.table(table)[record.id] = record
        self.data.created.append((table, record.id))
        self._send(201 if table != "notes" else 200, {"success": True, "data": self._pipedrive_record(record)})

    def _pipedrive_search(self, table: str, query: dict[str, str]) -> None:
        term = query.get("term", "").lower()
        fields = (query.get("fields") or "name").split(",")
        items = []
        for record in self.data.table(table).values():
            values = [str(record.props.get("name") or "").lower()] if "name" in fields else []
            if "email" in fields:
                values += [str(e.get("value") or "").lower() for e in record.props.get("emails") or []]
            exact = query.get("exact_match") in ("true", "1")
            if any(v == term if exact else term in v for v in values):
                items.append({"result_score": 1.0, "item": {"id": record.id, "type": table[:-1], **record.props}})
        self._send(200, {"success": True, "data": {"items": items}, "additional_data": {"next_cursor": None}})

    def _pipedrive(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        parts = path.strip("/").split("/")
        if path == "/api/v2/stages":
            stages = [{"id": i, "name": n, "pipeline_id": 1, "order_nr": i} for i, n in PIPEDRIVE_STAGES.items()]
            self._send(200, {"success": True, "data": stages, "additional_data": {"next_cursor": None}})
        elif path == "/v1/users":
            users = [{"id": i, "email": e, "name": e.split("@")[0]} for i, e in OWNERS.items()]
            self._send(200, {"success": True, "data": users})
        elif parts[:2] == ["api", "v2"] and len(parts) == 3 and method == "GET":
            self._pipedrive_list(self._pipedrive_rows(parts[2]), query)
        elif parts[:2] == ["api", "v2"] and len(parts) == 4 and parts[3] == "search" and method == "GET":
            self._pipedrive_search(parts[2], query)
        elif parts[:2] == ["api", "v2"] and len(parts) == 3 and method == "POST" and parts[2] != "deals":
            self._pipedrive_create(parts[2], body)
        elif path == "/v1/notes" and method == "POST":
            self._pipedrive_create("notes", body)
        elif path == "/v1/notes" and method == "GET":
            rows = list(self.data.table("notes").values())
            for name in ("deal_id", "person_id", "org_id"):
                if name in query:
                    rows = [r for r in rows if str(r.props.get(name)) == query[name]]
            start, limit = int(query.get("start") or 0), int(query.get("limit") or 100)
            chunk = rows[start : start + limit]
            more = start + limit < len(rows)
            self._send(
                200,
                {
                    "success": True,
                    "data": [self._pipedrive_record(r) for r in chunk] or None,
                    "additional_data": {
                        "pagination": {"start": start, "limit": limit, "more_items_in_collection": more}
                    },
                },
            )
        elif path.startswith("/api/v2/deals/") and method == "PATCH":
            deal = self.data.deals[int(path.rsplit("/", 1)[1])]
            self.data.writes.append((self.headers.get("Idempotency-Key") or "", path, body))
            deal.stage = str(body.get("stage_id", deal.stage))
            deal.status = body.get("status", deal.status)
            deal.modified = datetime.now(UTC)
            self._send(200, {"success": True, "data": self._pipedrive_deal(deal)})
        else:
            self._send(404, {"success": False, "error": f"no route {method} {path}"})


@contextmanager
def crm_server(kind: str, data: CrmData) -> Iterator[str]:
    """Serve ``data`` as HubSpot or Pipedrive on 127.0.0.1 (a free port); yields the base URL."""
    handler = type(f"{kind}Handler", (_Handler,), {"data": data, "kind": kind})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
