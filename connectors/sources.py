"""The two CRMs as page streams of deals: HubSpot CRM v3 objects/search/pipelines/owners, Pipedrive v2 deals.

Each source reads pages from a stored state (a plain dict kept in ``connector_states``) and returns the records
of one page with the state to store once that page is written, so a sync resumes at the page it was on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
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


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
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


class DealSource(Protocol):
    system: str
    client: ApiClient

    def prepare(self) -> None: ...

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteDeal], dict[str, Any]]: ...


PAGE_SIZE = 100
HUBSPOT_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate")


class HubSpotDeals:
    """HubSpot CRM v3: a full listing first (GET /crm/v3/objects/deals, paging.next.after), then the search
    endpoint filtered on hs_lastmodifieddate >= the last sync; archived deals from ?archived=true."""

    system = "hubspot"

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.stages: dict[str, tuple[str, str | None]] = {}
        self.owners: dict[str, str] = {}

    def prepare(self) -> None:
        for pipeline in self.client.request("GET", "/crm/v3/pipelines/deals")["results"]:
            for stage in pipeline["stages"]:
                meta = stage.get("metadata") or {}
                outcome = None
                if str(meta.get("isClosed", "false")).lower() == "true":
                    outcome = "won" if float(meta.get("probability") or 0) >= 1.0 else "lost"
                self.stages[str(stage["id"])] = (str(stage["label"]), outcome)
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE, **({"after": after} if after else {})}
            body = self.client.request("GET", "/crm/v3/owners", params=params)
            for owner in body["results"]:
                if owner.get("email"):
                    self.owners[str(owner["id"])] = str(owner["email"]).lower()
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break

    def _deal(self, item: dict[str, Any], deleted: bool = False) -> RemoteDeal:
        props = item.get("properties") or {}
        label, outcome = self.stages.get(str(props.get("dealstage")), (props.get("dealstage"), None))
        return RemoteDeal(
            id=str(item["id"]),
            name=str(props.get("dealname") or f"HubSpot deal {item['id']}"),
            stage_label=label,
            outcome=outcome,
            amount=_money(props.get("amount")),
            currency=props.get("deal_currency_code") or None,
            close_date=_day(props.get("closedate")),
            owner_email=self.owners.get(str(props.get("hubspot_owner_id"))),
            modified_at=_when(item.get("updatedAt") or props.get("hs_lastmodifieddate")) or datetime.now(UTC),
            deleted=deleted,
        )

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteDeal], dict[str, Any]]:
        phase = state.get("phase", "live")
        after = state.get("after")
        since = state.get("since")
        properties = [*HUBSPOT_PROPERTIES, "hubspot_owner_id", "hs_lastmodifieddate"]
        if phase == "live" and since is None:
            params: dict[str, Any] = {"limit": PAGE_SIZE, "properties": ",".join(properties), "archived": "false"}
            if after:
                params["after"] = after
            body = self.client.request("GET", "/crm/v3/objects/deals", params=params)
        elif phase == "live":
            millis = int(datetime.fromisoformat(str(since)).timestamp() * 1000)
            search = {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(millis)}]}
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": properties,
                "limit": PAGE_SIZE,
                **({"after": after} if after else {}),
            }
            body = self.client.request("POST", "/crm/v3/objects/deals/search", json=search)
        else:
            params = {"limit": PAGE_SIZE, "archived": "true", "properties": "dealname"}
            if after:
                params["after"] = after
            body = self.client.request("GET", "/crm/v3/objects/deals", params=params)
        deals = [self._deal(item, deleted=phase == "archived") for item in body.get("results", [])]
        if phase == "archived" and since is not None:
            floor = datetime.fromisoformat(str(since))
            deals = [d for d in deals if d.modified_at >= floor]
        return deals, _advance(state, deals, ((body.get("paging") or {}).get("next") or {}).get("after"))


class PipedriveDeals:
    """Pipedrive API v2: GET /api/v2/deals with cursor pagination (additional_data.next_cursor), updated_since
    for incremental syncs, sorted by update_time; deleted deals from status=deleted; stages and users for names."""

    system = "pipedrive"

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
        for user in self.client.request("GET", "/v1/users").get("data") or []:
            if user.get("email"):
                self.users[int(user["id"])] = str(user["email"]).lower()

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
        )

    def page(self, state: dict[str, Any]) -> tuple[list[RemoteDeal], dict[str, Any]]:
        phase = state.get("phase", "live")
        params: dict[str, Any] = {"limit": PAGE_SIZE, "sort_by": "update_time", "sort_direction": "asc"}
        if state.get("after"):
            params["cursor"] = state["after"]
        if state.get("since"):
            params["updated_since"] = datetime.fromisoformat(state["since"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        if phase == "archived":
            params["status"] = "deleted"
        body = self.client.request("GET", "/api/v2/deals", params=params)
        if body.get("success") is False:
            raise ConnectorError(f"Pipedrive refused GET /api/v2/deals: {body.get('error')}")
        deals = [self._deal(item) for item in body.get("data") or []]
        return deals, _advance(state, deals, (body.get("additional_data") or {}).get("next_cursor"))


def _advance(state: dict[str, Any], deals: list[RemoteDeal], next_after: str | None) -> dict[str, Any]:
    """The state after this page: the next page of this phase, else the next phase, else a finished pass whose
    ``since`` is the newest modification seen (records modified at that instant are read again next time)."""
    newest = max([d.modified_at.isoformat() for d in deals] + [state.get("newest") or ""]) or None
    if next_after:
        return {**state, "after": str(next_after), "newest": newest}
    if state.get("phase", "live") == "live":
        return {**state, "phase": "archived", "after": None, "newest": newest}
    return {"phase": "live", "after": None, "since": newest or state.get("since"), "newest": None, "done": True}
