"""CSV export of any store entity, filtered to what the acting user may see.

Column names are the importer's field names (``owner`` as an email, ``account`` as a name, ``deal`` as the
deal's external id), so an exported file imports again with automatic mapping. Columns the importer does not
read (``id``, timestamps it derives) are ignored by it and listed in its report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from sales.errors import PermissionDenied
from sales.importing.core import FORMULA_STARTS
from sales.permissions import Actor
from store.models import Account, AuditEvent, Contact, Deal, Interaction, Lead, StageChange, Task, User

EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "name",
        "email",
        "role",
        "manager",
        "team",
        "region",
        "slack_user_id",
        "started_at",
        "active",
        "created_at",
    ),
    "accounts": (
        "id",
        "name",
        "domain",
        "industry",
        "employees",
        "size_band",
        "annual_revenue",
        "region",
        "owner",
        "attributes",
        "created_at",
    ),
    "contacts": ("id", "name", "account", "email", "phone", "title", "owner", "created_at"),
    "leads": (
        "id",
        "external_id",
        "name",
        "email",
        "phone",
        "company",
        "title",
        "source",
        "industry",
        "region",
        "status",
        "outcome",
        "owner",
        "account",
        "score",
        "score_band",
        "attributes",
        "created_at",
        "updated_at",
        "qualified_at",
    ),
    "deals": (
        "id",
        "external_id",
        "name",
        "account",
        "owner",
        "product",
        "amount",
        "currency",
        "stage",
        "expected_close_date",
        "probability",
        "loss_reason",
        "created_at",
        "stage_entered_at",
        "closed_at",
        "updated_at",
    ),
    "stage_changes": ("id", "deal", "deal_id", "from_stage", "to_stage", "changed_at", "changed_by"),
    "interactions": (
        "id",
        "deal",
        "lead",
        "contact",
        "account",
        "user",
        "channel",
        "direction",
        "subject",
        "body",
        "occurred_at",
        "sentiment",
    ),
    "tasks": (
        "id",
        "title",
        "kind",
        "due_date",
        "owner",
        "deal_id",
        "lead_id",
        "account_id",
        "status",
        "created_at",
        "completed_at",
    ),
    "audit_events": (
        "id",
        "at",
        "actor",
        "action",
        "record_type",
        "record_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    ),
}
EXPORT_ENTITIES: tuple[str, ...] = tuple(EXPORT_COLUMNS)

_BATCH = 2000


def cell(value: Any) -> str:
    """One value as CSV text: ISO dates, plain decimals, JSON for structures, empty for None."""
    kind = type(value)
    if kind is str:
        text: str = value
        # Text from customers may start like a formula (=HYPERLINK(...), +1..., @SUM); spreadsheets would run it.
        # A leading quote makes it inert text; the importer removes exactly this quote again.
        return "'" + text if text[:1] in FORMULA_STARTS and text else text
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


class _Names:
    """Small id -> name maps used to write references the way the importer reads them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._users: dict[int, str] | None = None
        self._accounts: dict[int, str] | None = None
        self._deals: dict[int, str | None] | None = None
        self._leads: dict[int, str | None] | None = None
        self._contacts: dict[int, str | None] | None = None

    def user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if self._users is None:
            self._users = {i: e for i, e in self.session.exec(select(User.id, User.email)).all() if i is not None}
        return self._users.get(uid)

    def account(self, aid: int | None) -> str | None:
        if aid is None:
            return None
        if self._accounts is None:
            self._accounts = {
                i: n for i, n in self.session.exec(select(Account.id, Account.name)).all() if i is not None
            }
        return self._accounts.get(aid)

    def deal(self, did: int | None) -> str | None:
        if did is None:
            return None
        if self._deals is None:
            self._deals = {i: e for i, e in self.session.exec(select(Deal.id, Deal.external_id)).all() if i is not None}
        return self._deals.get(did)

    def lead(self, lid: int | None) -> str | None:
        if lid is None:
            return None
        if self._leads is None:
            self._leads = {i: e for i, e in self.session.exec(select(Lead.id, Lead.external_id)).all() if i is not None}
        return self._leads.get(lid)

    def contact(self, cid: int | None) -> str | None:
        if cid is None:
            return None
        if self._contacts is None:
            self._contacts = {
                i: e for i, e in self.session.exec(select(Contact.id, Contact.email)).all() if i is not None
            }
        return self._contacts.get(cid)


def _stream(session: Session, statement: Any) -> Iterator[dict[str, Any]]:
    # Core rows, not ORM objects: building 40,000 model instances costs more than writing the file.
    result = session.connection().execution_options(yield_per=_BATCH).execute(statement)
    for row in result.mappings():
        yield dict(row)


def _readable_audit(session: Session, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Audit rows with their sealed personal values re-joined (``[erased]`` once forgotten), a batch at a time."""
    from itertools import islice

    from store.audit import personal_values, rejoin

    while batch := list(islice(rows, _BATCH)):
        values = personal_values(session, [r["id"] for r in batch])
        for r in batch:
            yield {**r, "before": rejoin(r["before"], values), "after": rejoin(r["after"], values)}


def _owned(actor: Actor, column: Any, *, include_unowned: bool = False) -> ColumnElement[bool] | None:
    clause = actor.owner_filter(column)
    if clause is None or not include_unowned:
        return clause
    return or_(clause, col(column).is_(None))


def _select(model: Any, where: ColumnElement[bool] | None = None) -> Any:
    table = model.__table__
    stmt = sa_select(table).order_by(table.c.id)
    return stmt if where is None else stmt.where(where)


def _rows(session: Session, actor: Actor, entity: str) -> Iterator[dict[str, Any]]:
    names = _Names(session)
    if entity == "users":
        visible_users = actor.owner_filter(User.id)  # a user "owns" their own row
        for u in _stream(session, _select(User, visible_users)):
            yield {**u, "manager": names.user(u["manager_id"])}
    elif entity == "accounts":
        # accounts without an owner are shared reference data: everyone sees them
        for a in _stream(session, _select(Account, _owned(actor, Account.owner_id, include_unowned=True))):
            yield {**a, "owner": names.user(a["owner_id"])}
    elif entity == "contacts":
        for c in _stream(session, _select(Contact, _owned(actor, Contact.owner_id, include_unowned=True))):
            yield {**c, "owner": names.user(c["owner_id"]), "account": names.account(c["account_id"])}
    elif entity == "leads":
        for ld in _stream(session, _select(Lead, _owned(actor, Lead.owner_id))):
            yield {**ld, "owner": names.user(ld["owner_id"]), "account": names.account(ld["account_id"])}
    elif entity == "deals":
        for d in _stream(session, _select(Deal, _owned(actor, Deal.owner_id))):
            yield {**d, "owner": names.user(d["owner_id"]), "account": names.account(d["account_id"])}
    elif entity == "stage_changes":
        stmt_s = _select(StageChange)
        deal_visible = _owned(actor, Deal.owner_id)
        if deal_visible is not None:
            stmt_s = stmt_s.join(Deal, col(Deal.id) == col(StageChange.deal_id)).where(deal_visible)
        for sc in _stream(session, stmt_s):
            yield {**sc, "deal": names.deal(sc["deal_id"]), "changed_by": names.user(sc["changed_by_id"])}
    elif entity == "interactions":
        stmt_i = _select(Interaction)
        if actor.visible_owner_ids is not None:
            visible = sorted(actor.visible_owner_ids)
            stmt_i = (
                stmt_i.outerjoin(Deal, col(Deal.id) == col(Interaction.deal_id))
                .outerjoin(Lead, col(Lead.id) == col(Interaction.lead_id))
                .where(
                    or_(
                        col(Interaction.user_id).in_(visible),
                        col(Deal.owner_id).in_(visible),
                        col(Lead.owner_id).in_(visible),
                    )
                )
            )
        for i in _stream(session, stmt_i):
            yield {
                **i,
                "deal": names.deal(i["deal_id"]),
                "lead": names.lead(i["lead_id"]),
                "contact": names.contact(i["contact_id"]),
                "account": names.account(i["account_id"]),
                "user": names.user(i["user_id"]),
            }
    elif entity == "tasks":
        for t in _stream(session, _select(Task, _owned(actor, Task.owner_id))):
            yield {**t, "owner": names.user(t["owner_id"])}
    elif entity == "audit_events":
        if not actor.is_admin:
            raise PermissionDenied(f"only admins export the audit log; {actor.email} is a {actor.role}")
        yield from _readable_audit(session, _stream(session, _select(AuditEvent)))
    else:
        raise AssertionError(entity)


def export_csv(
    session: Session,
    actor: Actor,
    entity: str,
    out: TextIO,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``entity`` as CSV (header first) to ``out``; returns the number of data rows written."""
    if entity not in EXPORT_COLUMNS:
        from sales.errors import InvalidInput

        raise InvalidInput({"entity": f"{entity!r} is not exportable; choose one of {', '.join(EXPORT_ENTITIES)}"})
    columns = EXPORT_COLUMNS[entity]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for record in _rows(session, actor, entity):
        writer.writerow([cell(record.get(c)) for c in columns])
        count += 1
        if on_progress is not None and count % _BATCH == 0:
            on_progress(count)
    return count
