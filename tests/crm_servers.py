"""Loopback HubSpot CRM v3 and Pipedrive API servers (127.0.0.1, port 0) over an in-memory set of deals.

They speak the documented shapes the connectors read: HubSpot's results/paging.next.after listing, the search
endpoint with an hs_lastmodifieddate GTE filter, ?archived=true, pipelines and owners; Pipedrive v2's
data/additional_data.next_cursor with updated_since and status=deleted, stages and v1 users. ``storm`` answers
every n-th request with 429 and a Retry-After, and every answer carries the rate-limit headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass
class CrmData:
    deals: dict[int, FakeDeal] = field(default_factory=dict)
    storm: int = 0  # every n-th request answers 429 (0: never)
    requests: int = 0
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


OWNERS = {1: "eli.one@test.example", 2: "eva.two@test.example", 3: "will.one@test.example"}
HUBSPOT_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "false", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "false", "0.4"),
    ("contractsent", "Contract Sent", "false", "0.9"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
PIPEDRIVE_STAGES = {1: "Qualified", 2: "Proposal Made", 3: "Negotiations Started"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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

    def _hubspot_page(self, deals: list[FakeDeal], after: str | None, limit: int) -> dict[str, Any]:
        start = int(after or 0)
        chunk = deals[start : start + limit]
        body: dict[str, Any] = {"results": [self._hubspot_deal(d) for d in chunk]}
        if start + limit < len(deals):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return body

    def _hubspot(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        deals = sorted(self.data.deals.values(), key=lambda d: d.id)
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
        elif path == "/crm/v3/objects/deals" and method == "GET":
            archived = query.get("archived") == "true"
            chosen = [d for d in deals if d.archived == archived]
            self._send(
                200, self._hubspot_page(chosen, query.get("after"), limit), {"X-HubSpot-RateLimit-Remaining": "99"}
            )
        elif path == "/crm/v3/objects/deals/search" and method == "POST":
            floor = int(body["filterGroups"][0]["filters"][0]["value"])
            chosen = [d for d in deals if not d.archived and d.modified.timestamp() * 1000 >= floor]
            chosen.sort(key=lambda d: (d.modified, d.id))
            page = self._hubspot_page(chosen, body.get("after"), min(int(body.get("limit", 10)), 200))
            self._send(200, {"total": len(chosen), **page})
        elif path.startswith("/crm/v3/objects/deals/") and method == "PATCH":
            deal = self.data.deals[int(path.rsplit("/", 1)[1])]
            self.data.writes.append((self.headers.get("Idempotency-Key") or "", path, body))
            deal.stage = body["properties"].get("dealstage", deal.stage)
            deal.modified = datetime.now(UTC)
            self._send(200, self._hubspot_deal(deal))
        else:
            self._send(404, {"status": "error", "message": f"no route {method} {path}"})

    # --- Pipedrive v2

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
            "add_time": _iso(deal.modified),
            "update_time": _iso(deal.modified),
            "expected_close_date": None,
        }

    def _pipedrive(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        if path == "/api/v2/stages":
            stages = [{"id": i, "name": n, "pipeline_id": 1, "order_nr": i} for i, n in PIPEDRIVE_STAGES.items()]
            self._send(200, {"success": True, "data": stages, "additional_data": {"next_cursor": None}})
        elif path == "/v1/users":
            users = [{"id": i, "email": e, "name": e.split("@")[0]} for i, e in OWNERS.items()]
            self._send(200, {"success": True, "data": users})
        elif path == "/api/v2/deals" and method == "GET":
            deleted = query.get("status") == "deleted"
            chosen = [d for d in self.data.deals.values() if d.archived == deleted]
            if "updated_since" in query:
                floor = datetime.fromisoformat(query["updated_since"].replace("Z", "+00:00"))
                chosen = [d for d in chosen if d.modified.replace(microsecond=0) >= floor]
            chosen.sort(key=lambda d: (d.modified, d.id))
            start = int(query.get("cursor") or 0)
            limit = min(int(query.get("limit", 100)), 500)
            more = start + limit < len(chosen)
            self._send(
                200,
                {
                    "success": True,
                    "data": [self._pipedrive_deal(d) for d in chosen[start : start + limit]],
                    "additional_data": {"next_cursor": str(start + limit) if more else None},
                },
                {"x-ratelimit-limit": "80", "x-ratelimit-remaining": "79", "x-ratelimit-reset": "2"},
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
