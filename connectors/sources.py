"""The two CRMs as page streams: HubSpot CRM v3 (objects, search, associations v4, pipelines, owners) and Pipedrive
(v2 deals, organizations and persons; stages and v1 users).

Each source reads one stream (deals, companies, contacts, organizations, persons) page by page from a stored state
(a plain dict kept in ``connector_states``) and returns the records of one page with the state to store once that
page is written, so a sync resumes at the page it was on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from connectors.http import ApiClient, ConnectorError


@dataclass(frozen=True)
class RemoteDeal:
    id: str
    name: str
    stage_label: str | None
    outcome: str | None  # "won", "lost" or None while open
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_email: str | None
    modified_at: datetime
    deleted: bool = False
    company_id: str | None = None  # the CRM's company / organization the deal is with
    contact_id: str | None = None  # its (primary) contact / person


@dataclass(frozen=True)
class RemoteCompany:
    id: str
    name: str
    domain: str | None
    industry: str | None
    owner_email: str | None
    modified_at: datetime
    deleted: bool = False


@dataclass(frozen=True)
class RemotePerson:
    id: str
    name: str
    email: str | None
    phone: str | None
    title: str | None
    company_id: str | None
    owner_email: str | None
    modified_at: datetime
    deleted: bool = False


Remote = RemoteDeal | RemoteCompany | RemotePerson


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    if text.isdigit():  # HubSpot returns some datetimes as epoch milliseconds
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text[:10])


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _millis(moment: datetime) -> int:
    """Epoch milliseconds, in integer arithmetic (a float product can land one millisecond short)."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


class Source(Protocol):
    system: str
    stream: str
    client: ApiClient

    def prepare(self) -> None: ...

    def page(self, state: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]: ...


DealSource = Source

PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200  # the most the search endpoint returns per request
HUBSPOT_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate")


class HubSpotObjects:
    """One HubSpot CRM v3 object type, read in pages: a full listing first (``GET /crm/v3/objects/{type}``,
    ``paging.next.after``), then the search endpoint filtered on the modified-date property >= the last sync, then
    the archived listing (``?archived=true``).

    The search endpoint returns at most 10,000 results per query (a request past that is refused), so an
    incremental window with more modified records is split: sorted ascending, it restarts from the last modified
    time it reached (records at that instant are read again, which the upsert makes harmless); should 10,000 share
    one millisecond, that instant is drained by ``hs_object_id`` before the window moves past it.
    """

    search_cap = 10_000

    def __init__(self, client: ApiClient, object_type: str, properties: list[str], modified_property: str) -> None:
        self.client = client
        self.object_type = object_type
        self.properties = properties
        self.modified_property = modified_property

    def modified(self, item: dict[str, Any]) -> datetime:
        props = item.get("properties") or {}
        return _when(props.get(self.modified_property) or item.get("updatedAt")) or datetime.now(UTC)

    def _list(self, archived: bool, after: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": PAGE_SIZE,
            "properties": ",".join(self.properties),
            "archived": "true" if archived else "false",
        }
        if after:
            params["after"] = after
        body: dict[str, Any] = self.client.request("GET", f"/crm/v3/objects/{self.object_type}", params=params)
        return body

    def page(self, state: dict[str, Any]) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
        """The raw items of the page ``state`` points at, whether they are archived, and the state after it
        (``phase: end`` once the pass is over)."""
        phase = state.get("phase", "live")
        after = state.get("after")
        if phase == "archived":
            body = self._list(True, after)
            items = list(body.get("results") or [])
            if state.get("since") is not None:
                floor = datetime.fromisoformat(str(state["since"]))
                items = [i for i in items if self.modified(i) >= floor]
            nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
            return items, True, ({**state, "after": str(nxt)} if nxt else {**state, "phase": "end"})
        if state.get("since") is None:
            body = self._list(False, after)
            nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
            following = {**state, "after": str(nxt)} if nxt else {**state, "phase": "archived", "after": None}
            return list(body.get("results") or []), False, following
        return self._search(state)

    def _search(self, state: dict[str, Any]) -> tuple[list[dict[str, Any]], bool, dict[str, Any]]:
        window = int(state.get("window_ms") or _millis(datetime.fromisoformat(str(state["since"]))))
        tie = state.get("tie_ms")
        if tie is not None:
            filters = [
                {"propertyName": self.modified_property, "operator": "EQ", "value": str(tie)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(state.get("tie_id") or 0)},
            ]
            sort = "hs_object_id"
        else:
            filters = [{"propertyName": self.modified_property, "operator": "GTE", "value": str(window)}]
            sort = self.modified_property
        after = state.get("after")
        search: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": SEARCH_PAGE_SIZE,
            **({"after": after} if after else {}),
        }
        body = self.client.request("POST", f"/crm/v3/objects/{self.object_type}/search", json=search)
        items = list(body.get("results") or [])
        end = int(after or 0) + len(items)
        nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
        if nxt is not None and int(nxt) < self.search_cap:
            return items, False, {**state, "window_ms": window, "after": str(nxt)}
        capped = items and (nxt is not None or int(body.get("total") or 0) > end)
        if not capped:  # this window is read to its end
            if tie is not None:  # the crowded instant is drained: carry on just after it
                return items, False, {**state, "window_ms": int(tie) + 1, "tie_ms": None, "tie_id": None, "after": None}
            return items, False, {**state, "phase": "archived", "after": None, "window_ms": None}
        if tie is not None:
            return items, False, {**state, "tie_id": str(items[-1]["id"]), "after": None}
        reached = _millis(self.modified(items[-1]))
        if reached > window:
            return items, False, {**state, "window_ms": reached, "after": None}
        return items, False, {**state, "window_ms": window, "tie_ms": window, "tie_id": "0", "after": None}


def hubspot_owners(client: ApiClient) -> dict[str, str]:
    """HubSpot owner id → email (``GET /crm/v3/owners``, all pages)."""
    owners: dict[str, str] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_SIZE, **({"after": after} if after else {})}
        body = client.request("GET", "/crm/v3/owners", params=params)
        for owner in body["results"]:
            if owner.get("email"):
                owners[str(owner["id"])] = str(owner["email"]).lower()
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return owners


class HubSpotDeals:
    """HubSpot deals with their stage (from the pipelines), owner and associated company and contact (associations
    v4 batch read, the primary association first)."""

    system = "hubspot"
    stream = "deals"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.stages: dict[str, tuple[str, str | None]] = {}
        self.owners: dict[str, str] = {}
        properties = [*HUBSPOT_PROPERTIES, "hubspot_owner_id", "hs_lastmodifieddate"]
        self.reader = HubSpotObjects(client, "deals", properties, "hs_lastmodifieddate")

    def prepare(self) -> None:
        for pipeline in self.client.request("GET", "/crm/v3/pipelines/deals")["results"]:
            for stage in pipeline["stages"]:
                meta = stage.get("metadata") or {}
                outcome = None
                if str(meta.get("isClosed", "false")).lower() == "true":
                    outcome = "won" if float(meta.get("probability") or 0) >= 1.0 else "lost"
                self.stages[str(stage["id"])] = (str(stage["label"]), outcome)
        self.owners = hubspot_owners(self.client)

    def associations(self, to_type: str, ids: list[str]) -> dict[str, str]:
        """Deal id → the id of its primary ``to_type`` record (else its first), by ``POST
        /crm/v4/associations/deals/{to_type}/batch/read``."""
        if not ids:
            return {}
        body = self.client.request(
            "POST", f"/crm/v4/associations/deals/{to_type}/batch/read", json={"inputs": [{"id": i} for i in ids]}
        )
        found: dict[str, str] = {}
        for result in (body or {}).get("results") or []:
            targets = result.get("to") or []
            primary = [
                t
                for t in targets
                if any(str(a.get("label") or "").lower() == "primary" for a in t.get("associationTypes") or [])
            ]
            if primary or targets:
                found[str(result["from"]["id"])] = str((primary or targets)[0]["toObjectId"])
        return found

    def _deal(self, item: dict[str, Any], companies: dict[str, str], contacts: dict[str, str]) -> RemoteDeal:
        props = item.get("properties") or {}
        label, outcome = self.stages.get(str(props.get("dealstage")), (props.get("dealstage"), None))
        deal_id = str(item["id"])
        return RemoteDeal(
            id=deal_id,
            name=str(props.get("dealname") or f"HubSpot deal {item['id']}"),
            stage_label=label,
            outcome=outcome,
            amount=_money(props.get("amount")),
            currency=props.get("deal_currency_code") or None,
            close_date=_day(props.get("closedate")),
            owner_email=self.owners.get(str(props.get("hubspot_owner_id"))),
            modified_at=self.reader.modified(item),
            company_id=companies.get(deal_id),
            contact_id=contacts.get(deal_id),
        )

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteDeal], dict[str, Any]]:
        items, archived, following = self.reader.page(state)
        if archived:
            deals = [
                RemoteDeal(str(i["id"]), "", None, None, None, None, None, None, self.reader.modified(i), deleted=True)
                for i in items
            ]
        else:
            ids = [str(i["id"]) for i in items]
            companies, contacts = self.associations("companies", ids), self.associations("contacts", ids)
            deals = [self._deal(item, companies, contacts) for item in items]
        return deals, _advance(state, deals, following)


class HubSpotCompanies:
    """HubSpot companies (name, domain, industry, owner), archived ones marked deleted."""

    system = "hubspot"
    stream = "companies"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.owners: dict[str, str] = {}
        properties = ["name", "domain", "industry", "hubspot_owner_id", "hs_lastmodifieddate"]
        self.reader = HubSpotObjects(client, "companies", properties, "hs_lastmodifieddate")

    def prepare(self) -> None:
        self.owners = hubspot_owners(self.client)

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteCompany], dict[str, Any]]:
        items, archived, following = self.reader.page(state)
        companies = []
        for item in items:
            props = item.get("properties") or {}
            companies.append(
                RemoteCompany(
                    id=str(item["id"]),
                    name=str(props.get("name") or props.get("domain") or f"HubSpot company {item['id']}"),
                    domain=props.get("domain") or None,
                    industry=props.get("industry") or None,
                    owner_email=self.owners.get(str(props.get("hubspot_owner_id"))),
                    modified_at=self.reader.modified(item),
                    deleted=archived,
                )
            )
        return companies, _advance(state, companies, following)


class HubSpotContacts:
    """HubSpot contacts (name, email, phone, job title, owner) with their primary company
    (``associatedcompanyid``); contacts use ``lastmodifieddate`` where the other objects use
    ``hs_lastmodifieddate``."""

    system = "hubspot"
    stream = "contacts"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.owners: dict[str, str] = {}
        properties = [
            "firstname",
            "lastname",
            "email",
            "phone",
            "jobtitle",
            "associatedcompanyid",
            "hubspot_owner_id",
            "lastmodifieddate",
        ]
        self.reader = HubSpotObjects(client, "contacts", properties, "lastmodifieddate")

    def prepare(self) -> None:
        self.owners = hubspot_owners(self.client)

    def page(self, state: dict[str, Any]) -> tuple[list[RemotePerson], dict[str, Any]]:
        items, archived, following = self.reader.page(state)
        people = []
        for item in items:
            props = item.get("properties") or {}
            name = " ".join(str(props.get(k) or "").strip() for k in ("firstname", "lastname")).strip()
            people.append(
                RemotePerson(
                    id=str(item["id"]),
                    name=name or str(props.get("email") or f"HubSpot contact {item['id']}"),
                    email=(props.get("email") or None),
                    phone=props.get("phone") or None,
                    title=props.get("jobtitle") or None,
                    company_id=str(props["associatedcompanyid"]) if props.get("associatedcompanyid") else None,
                    owner_email=self.owners.get(str(props.get("hubspot_owner_id"))),
                    modified_at=self.reader.modified(item),
                    deleted=archived,
                )
            )
        return people, _advance(state, people, following)


def pipedrive_users(client: ApiClient) -> dict[int, str]:
    """Pipedrive user id → email (``GET /v1/users``)."""
    return {
        int(user["id"]): str(user["email"]).lower()
        for user in client.request("GET", "/v1/users").get("data") or []
        if user.get("email")
    }


def _pipedrive_page(
    client: ApiClient, path: str, state: dict[str, Any], *, deleted_phase: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of a Pipedrive v2 listing (cursor pagination, ``updated_since``, sorted by update time), then, for
    deals, the deleted ones (``status=deleted``); the state after it (``phase: end`` once the pass is over)."""
    phase = state.get("phase", "live")
    params: dict[str, Any] = {"limit": PAGE_SIZE, "sort_by": "update_time", "sort_direction": "asc"}
    if state.get("after"):
        params["cursor"] = state["after"]
    if state.get("since"):
        params["updated_since"] = datetime.fromisoformat(state["since"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    if phase == "archived":
        params["status"] = "deleted"
    body = client.request("GET", path, params=params)
    if body.get("success") is False:
        raise ConnectorError(f"Pipedrive refused GET {path}: {body.get('error')}")
    nxt = (body.get("additional_data") or {}).get("next_cursor")
    if nxt:
        following = {**state, "after": str(nxt)}
    elif phase == "live" and deleted_phase:
        following = {**state, "phase": "archived", "after": None}
    else:
        following = {**state, "phase": "end"}
    return list(body.get("data") or []), following


class PipedriveDeals:
    """Pipedrive API v2: GET /api/v2/deals with cursor pagination (additional_data.next_cursor), updated_since
    for incremental syncs, sorted by update_time; deleted deals from status=deleted; stages and users for names;
    ``org_id`` and ``person_id`` name the deal's organization and person."""

    system = "pipedrive"
    stream = "deals"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.stages: dict[int, str] = {}
        self.users: dict[int, str] = {}

    def prepare(self) -> None:
        cursor: str | None = None
        while True:
            body = self.client.request(
                "GET", "/api/v2/stages", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            )
            for stage in body.get("data") or []:
                self.stages[int(stage["id"])] = str(stage["name"])
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                break
        self.users = pipedrive_users(self.client)

    def _deal(self, item: dict[str, Any]) -> RemoteDeal:
        status = item.get("status")
        deleted = bool(item.get("is_deleted")) or status == "deleted"
        return RemoteDeal(
            id=str(item["id"]),
            name=str(item.get("title") or f"Pipedrive deal {item['id']}"),
            stage_label=self.stages.get(int(item["stage_id"])) if item.get("stage_id") is not None else None,
            outcome=status if status in ("won", "lost") else None,
            amount=_money(item.get("value")),
            currency=item.get("currency") or None,
            close_date=_day(item.get("expected_close_date")),
            owner_email=self.users.get(int(item["owner_id"])) if item.get("owner_id") is not None else None,
            modified_at=_when(item.get("update_time")) or datetime.now(UTC),
            deleted=deleted,
            company_id=str(item["org_id"]) if item.get("org_id") else None,
            contact_id=str(item["person_id"]) if item.get("person_id") else None,
        )

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteDeal], dict[str, Any]]:
        items, following = _pipedrive_page(self.client, "/api/v2/deals", state, deleted_phase=True)
        deals = [self._deal(item) for item in items]
        return deals, _advance(state, deals, following)


class PipedriveOrganizations:
    """Pipedrive organizations (API v2 ``GET /api/v2/organizations``); v2 lists no deleted ones."""

    system = "pipedrive"
    stream = "organizations"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.users: dict[int, str] = {}

    def prepare(self) -> None:
        self.users = pipedrive_users(self.client)

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteCompany], dict[str, Any]]:
        items, following = _pipedrive_page(self.client, "/api/v2/organizations", state, deleted_phase=False)
        companies = [
            RemoteCompany(
                id=str(item["id"]),
                name=str(item.get("name") or f"Pipedrive organization {item['id']}"),
                domain=None,
                industry=item.get("industry") or None,
                owner_email=self.users.get(int(item["owner_id"])) if item.get("owner_id") is not None else None,
                modified_at=_when(item.get("update_time")) or datetime.now(UTC),
                deleted=bool(item.get("is_deleted")),
            )
            for item in items
        ]
        return companies, _advance(state, companies, following)


def _primary(values: Any) -> str | None:
    """The primary (else first) value of a Pipedrive ``emails``/``phones`` list."""
    entries = [v for v in values or [] if isinstance(v, dict) and v.get("value")]
    chosen = [v for v in entries if v.get("primary")] or entries
    return str(chosen[0]["value"]) if chosen else None


class PipedrivePersons:
    """Pipedrive persons (API v2 ``GET /api/v2/persons``: emails, phones, organization, owner)."""

    system = "pipedrive"
    stream = "persons"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.users: dict[int, str] = {}

    def prepare(self) -> None:
        self.users = pipedrive_users(self.client)

    def page(self, state: dict[str, Any]) -> tuple[list[RemotePerson], dict[str, Any]]:
        items, following = _pipedrive_page(self.client, "/api/v2/persons", state, deleted_phase=False)
        people = [
            RemotePerson(
                id=str(item["id"]),
                name=str(item.get("name") or _primary(item.get("emails")) or f"Pipedrive person {item['id']}"),
                email=_primary(item.get("emails")),
                phone=_primary(item.get("phones")),
                title=item.get("job_title") or None,
                company_id=str(item["org_id"]) if item.get("org_id") else None,
                owner_email=self.users.get(int(item["owner_id"])) if item.get("owner_id") is not None else None,
                modified_at=_when(item.get("update_time")) or datetime.now(UTC),
                deleted=bool(item.get("is_deleted")),
            )
            for item in items
        ]
        return people, _advance(state, people, following)


def sources_for(system: str, client: ApiClient) -> list[Source]:
    """Every stream of a CRM in the order a sync reads them: companies, then people (who belong to companies),
    then deals (which belong to both), so each lands on rows that already exist."""
    if system == "hubspot":
        return [HubSpotCompanies(client), HubSpotContacts(client), HubSpotDeals(client)]
    if system == "pipedrive":
        return [PipedriveOrganizations(client), PipedrivePersons(client), PipedriveDeals(client)]
    raise ValueError(f"unknown CRM {system!r}: hubspot or pipedrive")


def _advance(state: dict[str, Any], records: list[Any], following: dict[str, Any]) -> dict[str, Any]:
    """The state to store after this page: ``following`` with the newest modification seen so far, or, once the
    pass is over, a finished pass whose ``since`` is that newest modification (records modified at that instant
    are read again next time)."""
    newest = max([r.modified_at.isoformat() for r in records] + [state.get("newest") or ""]) or None
    if following.get("phase") != "end":
        return {**following, "newest": newest}
    return {"phase": "live", "after": None, "since": newest or state.get("since"), "newest": None, "done": True}
