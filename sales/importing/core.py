"""The CSV importer: read a file through a mapping, check every row, then insert all rows in bulk or none.

Rules a user can rely on:
- Every row is checked before anything is written; one bad row means nothing is imported, and the report names
  each bad row (as a spreadsheet numbers it: the header is row 1), its column and the problem.
- Accounts named in a deal, lead, contact or interaction are matched by name (ignoring case, punctuation and
  legal suffixes such as "Inc."); unknown accounts are created and counted in the report.
- Users named as owners (by email or by name) must exist already, or be rows of the same users file; an unknown
  user is an error for that row. Deals, leads and contacts referenced by interactions or stage changes must exist.
- Users can be imported by admins only. Anyone else may import only records owned by people they can see; rows
  without an owner are owned by the importing user.
- One audit event per import records the counts, the file name and the file's SHA-256.
- A mapping with a ``system`` (the ready HubSpot, Salesforce and Pipedrive mappings) upserts: each row's record id
  is kept as an external ref (``external_refs``), and a second import of an updated export updates the rows it made
  (or adopts a same-named account, same-email contact or lead) instead of refusing them; the report counts created,
  updated, unchanged and refused rows, and a refused row still means nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, col, select

from sales.errors import PermissionDenied, SalesError
from sales.importing.fields import (
    ENTITY_FIELDS,
    REF_DEAL,
    REF_USER,
    ParseContext,
    attribute_value,
    parse_datetime,
    parse_value,
)
from sales.importing.mapping import ROW_COLUMN, ImportMapping, MappingError
from sales.permissions import Actor
from sales.receipts import write_receipt
from sales.stages import StageMachine, workspace_machine
from sales.validation import company_key, person_key
from store.models import Account, Contact, Deal, ExternalRef, Lead, LeadStatus, Role, User
from store.types import utcnow

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(phase, done, total)`` while a file is checked ("checking") and written ("writing")."""

_NUMERIC_KINDS = {"int", "decimal14", "decimal18", "probability", "sentiment"}
_PROGRESS_EVERY = 500


@dataclass(frozen=True)
class RowProblem:
    row: int  # as a spreadsheet counts it: the header is row 1, the first data row is row 2
    column: str
    problem: str


@dataclass
class ImportReport:
    entity: str
    file_name: str
    sha256: str
    rows: int = 0
    dry_run: bool = False
    created: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # field -> where its value comes from
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    audit_event_id: int | None = None
    system: str | None = None  # set for CRM imports, which upsert
    updated: int = 0
    unchanged: int = 0
    updated_ids: list[int] = field(default_factory=list)
    stages_adopted: str | None = None  # the stage file applied first, if any
    terms: dict[str, dict[str, str]] = field(default_factory=dict)
    """The workspace's own spellings kept from the mapping's ``values:`` (e.g. stage Engaging → Qualified)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> int:
        return len({p.row for p in self.problems})

    @property
    def refused(self) -> int:
        """Rows refused for a problem (then nothing at all was written)."""
        return self.bad_rows

    def summary(self) -> dict[str, Any]:
        upsert = (
            {
                "system": self.system,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "refused": self.refused,
                "updated_ids": list(self.updated_ids),
            }
            if self.system
            else {}
        )
        return {
            "entity": self.entity,
            "file": self.file_name,
            "sha256": self.sha256,
            "rows": self.rows,
            "created": dict(self.created),
            **upsert,
            "columns": dict(self.columns),
            "ignored_columns": list(self.ignored_columns),
            **({"terms": {k: dict(v) for k, v in self.terms.items()}} if self.terms else {}),
        }


class ImportFailed(SalesError):
    """At least one row is wrong; nothing was imported. ``report.problems`` lists every bad cell."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(
            f"{len(report.problems)} problem(s) in {report.bad_rows} row(s) of {report.file_name}; nothing was imported"
        )


# --------------------------------------------------------------------------------------------------- reading


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _count_data_rows(path: Path) -> int:
    newlines = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            newlines += chunk.count(b"\n")
            last = chunk
    if last and not last.endswith(b"\n"):
        newlines += 1
    return max(newlines - 1, 0)


def detect_delimiter(header_line: str) -> str:
    """The most frequent of , ; tab | outside quotes in the header line (a comma when there is none)."""
    counts: dict[str, int] = dict.fromkeys(",;\t|", 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else ","


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these runs as a formula in spreadsheets; exports guard it with a quote."""


def _cell(text: str) -> str:
    """A cell's value: surrounding spaces removed, and the export's formula guard (a leading ') taken off."""
    text = text.strip()
    if text.startswith("'") and text[1:2] in FORMULA_STARTS and text[1:2]:
        return text[1:]
    return text


@dataclass
class _ParsedRow:
    row: int
    values: dict[str, Any]
    attributes: dict[str, Any] | None
    stage_dates: dict[str, datetime]


class _ColumnPlan:
    """Where each field's value comes from, checked against the entity's fields and the file's header."""

    def __init__(self, entity: str, header: list[str], mapping: ImportMapping, machine: StageMachine) -> None:
        self.entity = entity
        self.specs = {spec.name: spec for spec in ENTITY_FIELDS[entity]}
        self.header = header
        index = {name: i for i, name in enumerate(header)}
        lower_index = {name.lower(): i for i, name in reversed(list(enumerate(header)))}
        problems: list[str] = []

        def check_fields(kind: str, names: list[str]) -> None:
            unknown = [n for n in names if n not in self.specs]
            if unknown:
                problems.append(
                    f"{kind} name(s) unknown field(s) {', '.join(unknown)}; {entity} fields are {', '.join(self.specs)}"
                )

        check_fields("`columns`/--map", list(mapping.columns))
        check_fields("`values`", list(mapping.values))
        check_fields("`defaults`", list(mapping.defaults))
        check_fields("`templates`", list(mapping.templates))
        check_fields("`scale`", list(mapping.scale))
        for name in mapping.scale:
            spec = self.specs.get(name)
            if spec is not None and spec.kind not in _NUMERIC_KINDS:
                problems.append(f"`scale` applies to numbers only; {name} is not a number field")
        self.scale: dict[str, Decimal] = {}
        for name, factor in mapping.scale.items():
            try:
                self.scale[name] = Decimal(factor)
            except ArithmeticError:
                problems.append(f"`scale` for {name} must be a number, got {factor!r}")

        # field -> column index (-1 for the row-number pseudo column)
        self.column_of: dict[str, int] = {}
        for name, column in mapping.columns.items():
            if name not in self.specs or not column:
                continue  # an empty column switches automatic mapping off for that field
            if column == ROW_COLUMN:
                self.column_of[name] = -1
            elif column in index:
                self.column_of[name] = index[column]
            else:
                problems.append(
                    f"column {column!r} (for field {name}) is not in the file; its columns are {', '.join(header)}"
                )
        self.fallbacks: dict[str, list[int]] = {}
        for name, columns in mapping.fallbacks.items():
            missing = [c for c in columns if c not in index]
            if missing:
                problems.append(f"column(s) {', '.join(map(repr, missing))} (for field {name}) not in the file")
            self.fallbacks[name] = [index[c] for c in columns if c in index]
        for name in self.specs:
            if name not in self.column_of and name not in mapping.columns and name.lower() in lower_index:
                self.column_of[name] = lower_index[name.lower()]

        known_names = set(header) | {ROW_COLUMN} | set(self.column_of)
        template_names = {n for t in mapping.templates.values() for n in t.names}
        self.template_columns = [(n, index[n]) for n in sorted(template_names) if n in index]
        for name, template in mapping.templates.items():
            missing = [n for n in template.names if n not in known_names]
            if missing:
                problems.append(
                    f"template for {name} uses {', '.join(missing)}, which is neither a column of the file "
                    "nor a mapped field"
                )

        self.stage_dates: dict[str, int] = {}
        if mapping.stage_dates:
            if entity != "deals":
                problems.append("`stage_dates` applies to deals only")
            for stage_name, column in mapping.stage_dates.items():
                stage = machine.canonical(stage_name)
                if stage is None:
                    problems.append(f"`stage_dates` names {stage_name!r}, not a stage ({', '.join(machine.stages)})")
                elif column not in index:
                    problems.append(f"`stage_dates` column {column!r} for {stage} is not in the file")
                else:
                    self.stage_dates[stage] = index[column]

        self.attribute_columns: list[tuple[str, int]] = []
        used = {i for i in self.column_of.values() if i >= 0}
        used.update(i for columns in self.fallbacks.values() for i in columns)
        for template in mapping.templates.values():
            used.update(index[n] for n in template.names if n in index)
        used.update(self.stage_dates.values())
        if mapping.attributes_include is not None:
            if "attributes" not in self.specs:
                problems.append(f"`attributes` applies to leads and accounts, not {entity}")
            elif mapping.attributes_include == ("*",):
                excluded = set(mapping.attributes_exclude)
                self.attribute_columns = [
                    (name, i) for i, name in enumerate(header) if i not in used and name not in excluded
                ]
            else:
                for name in mapping.attributes_include:
                    if name not in index:
                        problems.append(f"`attributes` column {name!r} is not in the file")
                    else:
                        self.attribute_columns.append((name, index[name]))
            for name in mapping.attributes_exclude:
                if name not in index:
                    problems.append(f"`attributes.exclude` column {name!r} is not in the file")
        used.update(i for _, i in self.attribute_columns)
        self.ignored = [name for i, name in enumerate(header) if i not in used]

        for name, spec in self.specs.items():
            if (
                spec.required
                and name not in self.column_of
                and name not in mapping.templates
                and name not in mapping.defaults
            ):
                problems.append(
                    f"required field {name} has no column: add a column named {name!r}, "
                    f"or map one with --map {name}=COLUMN (or `columns:` in a mapping file)"
                )
        if problems:
            raise MappingError("the mapping does not fit the file:\n  - " + "\n  - ".join(problems))

        self.mapping = mapping
        self.sources: dict[str, str] = {}
        for name in self.specs:
            if name in self.column_of:
                i = self.column_of[name]
                self.sources[name] = ROW_COLUMN if i < 0 else header[i]
                if self.fallbacks.get(name):
                    self.sources[name] += ", else " + ", else ".join(header[j] for j in self.fallbacks[name])
            elif name in mapping.templates:
                self.sources[name] = f"template {mapping.templates[name].text!r}"
            elif name in mapping.defaults:
                self.sources[name] = f"default {mapping.defaults[name]!r}"
        if self.stage_dates:
            self.sources["stage history"] = ", ".join(f"{st} on {header[i]}" for st, i in self.stage_dates.items())
        if self.attribute_columns:
            self.sources["attributes"] = f"{len(self.attribute_columns)} column(s) as attributes"

    def column_label(self, name: str) -> str:
        if name in self.column_of:
            i = self.column_of[name]
            return ROW_COLUMN if i < 0 else self.header[i]
        return name

    def parse_row(
        self, row_no: int, data_index: int, cells: list[str], ctx: ParseContext
    ) -> tuple[_ParsedRow, list[RowProblem]]:
        """The row's checked values and its problems; with problems, ``values`` holds only the cells that passed."""
        problems: list[RowProblem] = []
        mapping = self.mapping
        raw: dict[str, str] = {}
        for name, i in self.column_of.items():
            text = str(data_index) if i < 0 else _cell(cells[i])
            value_map = mapping.values.get(name)
            if value_map and text in value_map:
                text = value_map[text].strip()
            for j in self.fallbacks.get(name, ()) if not text else ():
                text = _cell(cells[j])
                if value_map and text in value_map:
                    text = value_map[text].strip()
                if text:
                    break
            raw[name] = text
        if mapping.templates:
            # fields (after value maps) win over same-named columns; only the names templates use are looked up
            context = {n: _cell(cells[i]) for n, i in self.template_columns}
            context[ROW_COLUMN] = str(data_index)
            context.update(raw)
            for name, template in mapping.templates.items():
                if not raw.get(name):
                    raw[name] = template.render(context)
        values: dict[str, Any] = {}
        for name, spec in self.specs.items():
            text = raw.get(name, "")
            if not text and name in mapping.defaults:
                text = mapping.defaults[name]
            if not text:
                if spec.required:
                    problems.append(RowProblem(row_no, self.column_label(name), f"{name} is empty"))
                continue
            try:
                value = parse_value(spec, text, ctx)
            except ValueError as exc:
                problems.append(RowProblem(row_no, self.column_label(name), str(exc)))
                continue
            if name in self.scale:
                scaled = Decimal(str(value)) * self.scale[name]
                value = scaled.quantize(Decimal("0.01")) if isinstance(value, Decimal) else type(value)(scaled)
            values[name] = value
        attributes: dict[str, Any] | None = None
        if self.attribute_columns:
            attributes = dict(values.get("attributes") or {})
            for name, i in self.attribute_columns:
                text = _cell(cells[i])
                attributes[name] = attribute_value(text) if text else None
        stage_dates: dict[str, datetime] = {}
        for stage, i in self.stage_dates.items():
            text = _cell(cells[i])
            if not text:
                continue
            try:
                stage_dates[stage] = parse_datetime(text, ctx.formats)
            except ValueError as exc:
                problems.append(RowProblem(row_no, self.header[i], str(exc)))
        return _ParsedRow(row_no, values, attributes, stage_dates), problems


# --------------------------------------------------------------------------------------------------- lookups


class _Lookups:
    """Existing records by the names rows use for them, loaded once per import."""

    def __init__(self, session: Session, system: str | None = None) -> None:
        self.session = session
        self.system = system
        self._users: tuple[dict[str, int], dict[str, list[int]], dict[int, str]] | None = None
        self._accounts: dict[str, int] | None = None
        self._account_keys: dict[str, int] | None = None

    def users(self) -> tuple[dict[str, int], dict[str, list[int]], dict[int, str]]:
        if self._users is None:
            by_email: dict[str, int] = {}
            by_name: dict[str, list[int]] = defaultdict(list)
            emails: dict[int, str] = {}
            for uid, name, email in self.session.exec(select(User.id, User.name, User.email)).all():
                assert uid is not None
                by_email[email.lower()] = uid
                by_name[person_key(name) or ""].append(uid)
                emails[uid] = email
            self._users = (by_email, dict(by_name), emails)
        return self._users

    def find_user(self, text: str) -> int | str:
        """The user id, or a message saying why no single user matches."""
        by_email, by_name, _ = self.users()
        if "@" in text:
            uid = by_email.get(text.lower())
            return uid if uid is not None else f"no user with email {text!r}"
        ids = by_name.get(person_key(text) or "", [])
        if len(ids) == 1:
            return ids[0]
        if not ids:
            return f"no user named {text!r} (import users first, or use their email)"
        return f"{len(ids)} users are named {text!r}; use an email to say which"

    def accounts(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._accounts is None or self._account_keys is None:
            self._accounts = {}
            self._account_keys = {}
            for aid, name in self.session.exec(select(Account.id, Account.name)).all():
                assert aid is not None
                self._accounts[name] = aid
                self._account_keys.setdefault(company_key(name) or name.lower(), aid)
        return self._accounts, self._account_keys

    def find_account(self, name: str) -> int | None:
        exact, keys = self.accounts()
        if name in exact:
            return exact[name]
        return keys.get(company_key(name) or name.lower())

    def external_ids(self, model: type[Deal] | type[Lead]) -> dict[str, tuple[int, int | None]]:
        """External id → (id, owner id); in a CRM import, the ids that CRM gave (its external refs)."""
        if self.system is not None:
            table = model.__tablename__
            refs = self.session.exec(
                select(ExternalRef.external_id, model.id, model.owner_id)
                .join(model, col(model.id) == col(ExternalRef.record_id))
                .where(ExternalRef.system == self.system, ExternalRef.record_type == table)
            ).all()
            return {ext: (rid, owner) for ext, rid, owner in refs if rid is not None}
        rows = self.session.exec(
            select(model.id, model.external_id, model.owner_id).where(col(model.external_id).is_not(None))
        ).all()
        return {ext: (rid, owner) for rid, ext, owner in rows if ext is not None and rid is not None}


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _insert_returning_ids(conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    table = _table(table_name)
    if conn.dialect.name == "postgresql":
        # INSERT ... RETURNING over many rows makes psycopg re-parse one huge statement per page (3 s for 8,800
        # deals); taking the ids from the sequence first lets the rows go through the fast executemany path.
        ids = [
            int(i)
            for i in conn.execute(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table_name, "n": len(rows)},
            ).scalars()
        ]
        conn.execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids
    result = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(r) for r in result.scalars().all()]


def _insert(conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(_table(table_name)), rows)


# --------------------------------------------------------------------------------------------------- importing


class _Importer:
    def __init__(
        self,
        session: Session,
        actor: Actor,
        entity: str,
        plan: _ColumnPlan,
        report: ImportReport,
        machine: StageMachine,
        now: datetime,
    ) -> None:
        self.session = session
        self.actor = actor
        self.entity = entity
        self.plan = plan
        self.report = report
        self.machine = machine
        self.now = now
        self.system = plan.mapping.system
        self.object = plan.mapping.object or entity
        self.lookups = _Lookups(session, self.system)
        self.matches: dict[int, int] = {}  # row -> id of the existing record it updates (CRM imports)
        self.adopted: set[int] = set()  # matched rows whose record has no external ref yet (matched by name/email)
        self.updates: list[tuple[int, dict[str, Any], dict[str, Any]]] = []  # (id, changes, record) planned
        self.stage_moves: list[dict[str, Any]] = []  # stage changes the updates make
        self.new_accounts: dict[str, str] = {}  # company key -> name as first written
        self.rows: list[_ParsedRow] = []
        self.broken: list[_ParsedRow] = []  # rows with bad cells: only their references are still checked
        self.resolved: list[dict[str, Any]] = []

    def problem(self, row: int, name: str, text: str) -> None:
        self.report.problems.append(RowProblem(row, self.plan.column_label(name), text))

    # --- references

    def _owner(self, parsed: _ParsedRow, name: str = "owner", *, default_to_actor: bool = True) -> int | bool | None:
        """The owner id, None when there is none, or False after reporting a problem."""
        text = parsed.values.get(name)
        if text is None:
            if default_to_actor and not self.actor.is_admin and self.actor.user_id is not None:
                return self.actor.user_id
            return None
        found = self.lookups.find_user(text)
        if isinstance(found, str):
            self.problem(parsed.row, name, found)
            return False
        if not self.actor.can_see_owner(found):
            self.problem(
                parsed.row, name, f"{text} is not in your team; {self.actor.email} may import only their team's records"
            )
            return False
        return found

    def _account(self, parsed: _ParsedRow, name: str = "account") -> int | str | None:
        """An existing account id, a company key for an account this import creates, or None."""
        text = parsed.values.get(name)
        if text is None:
            return None
        found = self.lookups.find_account(text)
        if found is not None:
            return found
        key = company_key(text) or text.lower()
        self.new_accounts.setdefault(key, text)
        return key

    def _check_unique(self, seen: dict[Any, int], existing: Any, parsed: _ParsedRow, name: str, what: str) -> bool:
        value = parsed.values.get(name)
        if value is None:
            return True
        key = value
        if key in existing and parsed.row not in self.matches:
            self.problem(parsed.row, name, f"{what} {value!r} already exists in the store")
            return False
        if key in seen:
            self.problem(parsed.row, name, f"{what} {value!r} is also on row {seen[key]}")
            return False
        seen[key] = parsed.row
        return True

    # --- per entity: check and resolve (no writes)

    def resolve(self) -> None:
        if self.system is not None:
            self._match_existing()
        getattr(self, f"_resolve_{self.entity}")()
        self._check_broken_references()
        if self.system is not None and not self.report.problems:
            self._plan_updates()

    # --- CRM imports: which rows update an existing record, and how

    def _natural_keys(self) -> dict[str, int]:
        """An existing record by the key a CRM row without an external ref is matched on (adopted, not duplicated)."""
        session = self.session
        if self.entity == "accounts":
            _, keys = self.lookups.accounts()
            return dict(keys)
        if self.entity == "contacts":
            return {e.lower(): i for i, e in session.exec(select(Contact.id, Contact.email)).all() if e and i}
        if self.entity == "leads":
            return {e.lower(): i for i, e in session.exec(select(Lead.id, Lead.email)).all() if e and i}
        if self.entity == "deals":
            rows = session.exec(select(Deal.id, Deal.external_id).where(col(Deal.external_id).is_not(None))).all()
            return {e: i for i, e in rows if e and i}
        return {}

    def _natural_key(self, values: dict[str, Any]) -> str | None:
        if self.entity == "accounts":
            return company_key(values.get("name")) or str(values.get("name", "")).lower()
        if self.entity in ("contacts", "leads"):
            email = values.get("email")
            return email.lower() if email else None
        if self.entity == "deals":
            return values.get("external_id")
        return None

    def _match_existing(self) -> None:
        refs = dict(
            self.session.exec(
                select(ExternalRef.external_id, ExternalRef.record_id).where(
                    ExternalRef.system == self.system, ExternalRef.object == self.object
                )
            ).all()
        )
        natural = self._natural_keys()
        referenced = set(refs.values())
        seen: dict[str, int] = {}
        for parsed in self.rows:
            ext = parsed.values.get("external_id")
            if ext is None:
                self.problem(parsed.row, "external_id", f"the {self.system} record id is empty")
                continue
            if ext in seen:
                self.problem(parsed.row, "external_id", f"{self.system} record {ext!r} is also on row {seen[ext]}")
                continue
            seen[ext] = parsed.row
            if ext in refs:
                self.matches[parsed.row] = refs[ext]
                continue
            key = self._natural_key(parsed.values)
            found = natural.get(key) if key else None
            if found is not None and found not in referenced:
                self.matches[parsed.row] = found
                self.adopted.add(parsed.row)
                referenced.add(found)

    def _plan_updates(self) -> None:
        """Compare each matched row with its record: the changed mapped fields become updates, the rest unchanged."""
        assert len(self.resolved) == len(self.rows), "every row resolved when there is no problem"
        fields = [f for f in _UPDATABLE[self.entity] if f in self.plan.sources]
        table = _table(self.entity)
        ids = sorted(set(self.matches.values()))
        current: dict[int, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self.session.connection().execute(table.select().where(table.c.id.in_(chunk))).mappings():
                current[int(row["id"])] = row
        for parsed, record in zip(self.rows, self.resolved, strict=True):
            record_id = self.matches.get(parsed.row)
            if record_id is None:
                continue
            now_row = current[record_id]
            changes: dict[str, Any] = {}
            for name in fields:
                key = _RECORD_KEY.get(name, name)
                column = "account_id" if key == "_account" else key
                new = record.get(key)
                if key == "_account" and isinstance(new, str):
                    changes[column] = new  # an account this import creates: its id is known when written
                elif key == "attributes":
                    merged = {**(now_row["attributes"] or {}), **(new or {})}
                    if merged != (now_row["attributes"] or {}):
                        changes[column] = merged
                elif new != now_row[column]:
                    changes[column] = new
            if "company" in changes:
                changes["company_key"] = company_key(changes["company"])
            if self.entity == "deals" and "stage" in changes:
                when = next((at for st, at in reversed(record["_history"]) if st == changes["stage"]), self.now)
                changes["stage_entered_at"] = when
                changes["closed_at"] = when if changes["stage"] in self.machine.closed_stages else None
                self.stage_moves.append(
                    {
                        "deal_id": record_id,
                        "from_stage": now_row["stage"],
                        "to_stage": changes["stage"],
                        "changed_at": when,
                        "changed_by_id": self.actor.user_id,
                    }
                )
            if changes:
                if "updated_at" in table.c:
                    changes["updated_at"] = self.now
                self.updates.append((record_id, changes, record))
                self.report.updated_ids.append(record_id)
            else:
                self.report.unchanged += 1
        self.report.updated = len(self.updates)

    def _check_broken_references(self) -> None:
        """Name unknown users and deals on rows that already have a bad cell, so one report lists everything."""
        if not self.broken:
            return
        deals = self.lookups.external_ids(Deal) if "deal" in self.plan.column_of else {}
        for parsed in self.broken:
            for name, spec in self.plan.specs.items():
                text = parsed.values.get(name)
                if text is None:
                    continue
                if spec.kind == REF_USER and name != "manager":
                    self._owner(parsed, name, default_to_actor=False)
                elif spec.kind == REF_DEAL and text not in deals:
                    self.problem(parsed.row, name, f"no deal with external id {text!r}")

    def _resolve_users(self) -> None:
        by_email, _, _ = self.lookups.users()
        slack_ids = {s.lower() for s in self.session.exec(select(User.slack_user_id)).all() if s is not None}
        seen_email: dict[Any, int] = {}
        seen_slack: dict[Any, int] = {}
        file_names: dict[str, list[str]] = defaultdict(list)
        for parsed in self.rows:
            file_names[person_key(parsed.values["name"]) or ""].append(parsed.values["email"])
        file_emails = {p.values["email"] for p in self.rows}
        for parsed in self.rows:
            ok = self._check_unique(seen_email, by_email, parsed, "email", "a user with email")
            ok = self._check_unique(seen_slack, slack_ids, parsed, "slack_user_id", "Slack user id") and ok
            manager = parsed.values.get("manager")
            manager_ref: int | str | None = None
            if manager is not None:
                in_file = (
                    [manager.lower()]
                    if manager.lower() in file_emails
                    else file_names.get(person_key(manager) or "", [])
                )
                if len(in_file) == 1:
                    manager_ref = in_file[0]
                    if manager_ref == parsed.values["email"]:
                        self.problem(parsed.row, "manager", "a user cannot be their own manager")
                        ok = False
                elif len(in_file) > 1:
                    self.problem(parsed.row, "manager", f"{len(in_file)} rows are named {manager!r}; use an email")
                    ok = False
                else:
                    found = self.lookups.find_user(manager)
                    if isinstance(found, str):
                        self.problem(parsed.row, "manager", found)
                        ok = False
                    else:
                        manager_ref = found
            if ok:
                v = parsed.values
                self.resolved.append(
                    {
                        "name": v["name"],
                        "email": v["email"],
                        "role": v.get("role", Role.REP.value),
                        "team": v.get("team"),
                        "region": v.get("region"),
                        "slack_user_id": v.get("slack_user_id"),
                        "started_at": v.get("started_at"),
                        "active": v.get("active", True),
                        "created_at": self.now,
                        "manager_id": manager_ref if isinstance(manager_ref, int) else None,
                        "_manager_email": manager_ref if isinstance(manager_ref, str) else None,
                    }
                )

    def _resolve_accounts(self) -> None:
        exact, keys = self.lookups.accounts()
        seen: dict[str, int] = {}
        for parsed in self.rows:
            v = parsed.values
            key = company_key(v["name"]) or v["name"].lower()
            ok = True
            if (v["name"] in exact or key in keys) and parsed.row not in self.matches:
                self.problem(parsed.row, "name", f"an account named {v['name']!r} already exists in the store")
                ok = False
            elif key in seen:
                self.problem(parsed.row, "name", f"account {v['name']!r} is also on row {seen[key]}")
                ok = False
            seen.setdefault(key, parsed.row)
            owner = self._owner(parsed, default_to_actor=False)
            if owner is False or not ok:
                continue
            attributes = parsed.attributes if parsed.attributes is not None else v.get("attributes", {})
            self.resolved.append(
                {
                    "name": v["name"],
                    "domain": v.get("domain"),
                    "industry": v.get("industry"),
                    "employees": v.get("employees"),
                    "size_band": v.get("size_band"),
                    "annual_revenue": v.get("annual_revenue"),
                    "region": v.get("region"),
                    "owner_id": owner,
                    "attributes": attributes,
                    "created_at": self.now,
                }
            )

    def _resolve_contacts(self) -> None:
        existing = {e.lower() for e in self.session.exec(select(Contact.email)).all() if e is not None}
        seen: dict[Any, int] = {}
        for parsed in self.rows:
            ok = self._check_unique(seen, existing, parsed, "email", "a contact with email")
            owner = self._owner(parsed)
            if owner is False or not ok:
                continue
            v = parsed.values
            self.resolved.append(
                {
                    "name": v["name"],
                    "_account": self._account(parsed),
                    "email": v.get("email"),
                    "phone": v.get("phone"),
                    "title": v.get("title"),
                    "owner_id": owner,
                    "created_at": self.now,
                }
            )

    def _resolve_leads(self) -> None:
        existing_ids = self.lookups.external_ids(Lead)
        existing_emails = {e.lower() for e in self.session.exec(select(Lead.email)).all() if e is not None}
        seen_ids: dict[Any, int] = {}
        seen_emails: dict[Any, int] = {}
        for parsed in self.rows:
            ok = self._check_unique(seen_ids, existing_ids, parsed, "external_id", "a lead with external id")
            ok = self._check_unique(seen_emails, existing_emails, parsed, "email", "a lead with email") and ok
            owner = self._owner(parsed)
            if owner is False or not ok:
                continue
            v = parsed.values
            attributes = parsed.attributes if parsed.attributes is not None else v.get("attributes", {})
            created = v.get("created_at", self.now)
            status = v.get("status", LeadStatus.NEW.value)
            self.resolved.append(
                {
                    "external_id": v.get("external_id"),
                    "name": v["name"],
                    "email": v.get("email"),
                    "phone": v.get("phone"),
                    "company": v.get("company"),
                    "company_key": company_key(v.get("company")),
                    "title": v.get("title"),
                    "source": v.get("source"),
                    "industry": v.get("industry"),
                    "region": v.get("region"),
                    "status": status,
                    "outcome": v.get("outcome"),
                    "owner_id": owner,
                    "_account": self._account(parsed),
                    "attributes": attributes,
                    "created_at": created,
                    "updated_at": self.now,
                    "qualified_at": None,
                }
            )

    def _stage_history(self, parsed: _ParsedRow, stage: str) -> list[tuple[str, datetime]] | None:
        """The stages the deal entered and when, oldest first; None after reporting a problem."""
        machine = self.machine
        dates = parsed.stage_dates
        columns = self.plan.stage_dates
        history: list[tuple[str, datetime]] = []
        ok = True
        for candidate in machine.stages:
            if candidate not in columns:
                continue
            if candidate in machine.closed_stages and candidate != stage:
                continue  # Won and Lost often share one close-date column; only the deal's own outcome counts
            when = dates.get(candidate)
            if when is None:
                if candidate == stage and candidate in machine.closed_stages:
                    self.problem(
                        parsed.row,
                        "stage",
                        f"the deal is {stage} but {self.plan.header[columns[candidate]]} (the date it was "
                        f"{stage.lower()}) is empty",
                    )
                    ok = False
                continue
            if (
                machine.is_open(candidate)
                and machine.is_open(stage)
                and machine.order(candidate) > machine.order(stage)
            ):
                self.problem(
                    parsed.row,
                    self.plan.header[columns[candidate]],
                    f"gives a date for {candidate}, a later stage than the deal's stage {stage}",
                )
                ok = False
                continue
            history.append((candidate, when))
        for (earlier, t1), (later, t2) in pairwise(history):
            if t2 < t1:
                self.problem(
                    parsed.row,
                    self.plan.header[columns[later]],
                    f"{later} on {t2.date()} is before {earlier} on {t1.date()} ({self.plan.header[columns[earlier]]})",
                )
                ok = False
        if not ok:
            return None
        if not history or history[-1][0] != stage:
            # The file does not say when the deal entered its current stage: it enters it now, at import.
            history.append((stage, max(self.now, history[-1][1]) if history else self.now))
        return history

    def _resolve_deals(self) -> None:
        existing = self.lookups.external_ids(Deal)
        seen: dict[Any, int] = {}
        for parsed in self.rows:
            v = parsed.values
            ok = self._check_unique(seen, existing, parsed, "external_id", "a deal with external id")
            owner = self._owner(parsed)
            if owner is None:
                self.problem(
                    parsed.row, "owner", "owner is empty; every deal needs an owner (map one with --map owner=COLUMN)"
                )
                ok = False
            stage = v["stage"]
            if stage == self.machine.won_stage and v.get("amount") is None:
                self.problem(parsed.row, "amount", f"the deal is {stage} but has no amount")
                ok = False
            history = self._stage_history(parsed, stage)
            if history is not None and "created_at" in v and v["created_at"] > history[0][1]:
                self.problem(
                    parsed.row,
                    "created_at",
                    f"created {v['created_at'].date()}, after it entered {history[0][0]} on {history[0][1].date()}",
                )
                ok = False
            if owner is False or owner is None or history is None or not ok:
                continue
            entered = history[-1][1]
            self.resolved.append(
                {
                    "external_id": v.get("external_id"),
                    "name": v["name"],
                    "_account": self._account(parsed),
                    "owner_id": owner,
                    "product": v.get("product"),
                    "amount": v.get("amount"),
                    "currency": v.get("currency", "USD"),
                    "stage": stage,
                    "stage_entered_at": entered,
                    "expected_close_date": v.get("expected_close_date"),
                    "probability": v.get("probability"),
                    "loss_reason": v.get("loss_reason"),
                    "created_at": v.get("created_at", history[0][1]),
                    "updated_at": self.now,
                    "closed_at": entered if stage in self.machine.closed_stages else None,
                    "_history": history,
                }
            )

    def _visible_record(self, parsed: _ParsedRow, name: str, owner_id: int | None, what: str) -> bool:
        if self.actor.can_see_owner(owner_id):
            return True
        self.problem(parsed.row, name, f"{what} belongs to another team; {self.actor.email} cannot change it")
        return False

    def _resolve_stage_changes(self) -> None:
        deals = self.lookups.external_ids(Deal)
        for parsed in self.rows:
            v = parsed.values
            ok = True
            deal = deals.get(v["deal"])
            if deal is None:
                self.problem(parsed.row, "deal", f"no deal with external id {v['deal']!r}")
                ok = False
            else:
                ok = self._visible_record(parsed, "deal", deal[1], f"deal {v['deal']!r}")
            by = self._owner(parsed, "changed_by", default_to_actor=False)
            if v.get("from_stage") is not None and v["from_stage"] == v["to_stage"]:
                self.problem(parsed.row, "to_stage", f"from_stage and to_stage are both {v['to_stage']}")
                ok = False
            if by is False or deal is None or not ok:
                continue
            self.resolved.append(
                {
                    "deal_id": deal[0],
                    "from_stage": v.get("from_stage"),
                    "to_stage": v["to_stage"],
                    "changed_at": v["changed_at"],
                    "changed_by_id": by,
                }
            )

    def _resolve_interactions(self) -> None:
        deals = self.lookups.external_ids(Deal) if "deal" in self.plan.column_of else {}
        leads = self.lookups.external_ids(Lead) if "lead" in self.plan.column_of else {}
        contacts: dict[str, tuple[int, int | None]] = {}
        if "contact" in self.plan.column_of:
            for cid, email, owner in self.session.exec(select(Contact.id, Contact.email, Contact.owner_id)).all():
                if email is not None and cid is not None:
                    contacts[email.lower()] = (cid, owner)
        for parsed in self.rows:
            v = parsed.values
            ok = True
            ids: dict[str, int | None] = {"deal_id": None, "lead_id": None, "contact_id": None}
            for name, table, what in (
                ("deal", deals, "deal"),
                ("lead", leads, "lead"),
                ("contact", contacts, "contact"),
            ):
                text = v.get(name)
                if text is None:
                    continue
                found = table.get(text.lower() if name == "contact" else text)
                if found is None:
                    key = "email" if name == "contact" else "external id"
                    self.problem(parsed.row, name, f"no {what} with {key} {text!r}")
                    ok = False
                elif self._visible_record(parsed, name, found[1], f"{what} {text!r}"):
                    ids[f"{name}_id"] = found[0]
                else:
                    ok = False
            if not any(v.get(n) for n in ("deal", "lead", "contact", "account")):
                self.problem(parsed.row, "deal", "an interaction must name a deal, lead, contact or account")
                ok = False
            user = self._owner(parsed, "user")
            if user is False or not ok:
                continue
            self.resolved.append(
                {
                    **ids,
                    "_account": self._account(parsed),
                    "user_id": user,
                    "channel": v["channel"],
                    "direction": v.get("direction", "internal"),
                    "subject": v.get("subject"),
                    "body": v.get("body", ""),
                    "occurred_at": v["occurred_at"],
                    "sentiment": v.get("sentiment"),
                    "indexed_at": None,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )

    # --- writing

    def _inserts(self) -> list[dict[str, Any]]:
        if not self.matches:
            return self.resolved
        return [r for p, r in zip(self.rows, self.resolved, strict=True) if p.row not in self.matches]

    def planned_counts(self) -> dict[str, int]:
        inserts = self._inserts()
        counts = {self.entity: len(inserts)}
        if self.new_accounts:
            counts["accounts"] = counts.get("accounts", 0) + len(self.new_accounts)
        if self.entity == "deals":
            counts["stage_changes"] = sum(len(r["_history"]) for r in inserts) + len(self.stage_moves)
        return counts

    def write(self, progress: Callable[[int], None]) -> None:
        conn = self.session.connection()
        inserts = self._inserts()
        account_ids: dict[str, int] = {}
        if self.new_accounts:
            keys = list(self.new_accounts)
            account_id_list = _insert_returning_ids(
                conn,
                "accounts",
                [{"name": self.new_accounts[k], "attributes": {}, "created_at": self.now} for k in keys],
            )
            account_ids = dict(zip(keys, account_id_list, strict=True))
        rows: list[dict[str, Any]] = []
        extras: list[dict[str, Any]] = []
        for record in inserts:
            row = {k: v for k, v in record.items() if not k.startswith("_")}
            if "_account" in record:
                ref = record["_account"]
                row["account_id"] = account_ids[ref] if isinstance(ref, str) else ref
            rows.append(row)
        batch = 2000
        ids: list[int] = []
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            if self.entity in ("deals", "users") or self.system is not None:
                ids.extend(_insert_returning_ids(conn, self.entity, chunk))
            else:
                _insert(conn, self.entity, chunk)
            progress(len(chunk))
        if self.entity == "deals":
            for deal_id, record in zip(ids, inserts, strict=True):
                previous: str | None = None
                for stage, when in record["_history"]:
                    extras.append({"deal_id": deal_id, "from_stage": previous, "to_stage": stage, "changed_at": when})
                    previous = stage
            extras.extend(self.stage_moves)
            for start in range(0, len(extras), 5000):
                _insert(conn, "stage_changes", extras[start : start + 5000])
        if self.entity == "users":
            by_email = dict(zip((r["email"] for r in self.resolved), ids, strict=True))
            updates = [
                {"uid": uid, "mid": by_email[r["_manager_email"]]}
                for uid, r in zip(ids, self.resolved, strict=True)
                if r["_manager_email"] is not None
            ]
            if updates:
                users = _table("users")
                from sqlalchemy import bindparam

                conn.execute(
                    update(users).where(users.c.id == bindparam("uid")).values(manager_id=bindparam("mid")), updates
                )
        if self.system is not None:
            self._write_upserts(conn, ids, inserts, account_ids, progress)

    def _write_upserts(
        self,
        conn: Connection,
        ids: list[int],
        inserts: list[dict[str, Any]],
        account_ids: dict[str, int],
        progress: Callable[[int], None],
    ) -> None:
        """Apply the planned updates and record the external refs of created and adopted rows."""
        table = _table(self.entity)
        for record_id, changes, _ in self.updates:
            if isinstance(changes.get("account_id"), str):
                changes["account_id"] = account_ids[changes["account_id"]]
            conn.execute(update(table).where(table.c.id == record_id).values(**changes))
        if self.updates:
            progress(len(self.updates))
        refs: list[dict[str, Any]] = []
        new_rows = [p for p in self.rows if p.row not in self.matches]
        for record_id, parsed in zip(ids, new_rows, strict=True):
            refs.append(self._ref(str(parsed.values["external_id"]), record_id))
        for parsed in self.rows:
            if parsed.row in self.adopted:
                refs.append(self._ref(str(parsed.values["external_id"]), self.matches[parsed.row]))
        for start in range(0, len(refs), 5000):
            _insert(conn, "external_refs", refs[start : start + 5000])

    def _ref(self, external_id: str, record_id: int) -> dict[str, Any]:
        return {
            "system": self.system,
            "object": self.object,
            "external_id": external_id,
            "record_type": self.entity,
            "record_id": record_id,
            "synced": {},
            "created_at": self.now,
            "updated_at": self.now,
        }


_UPDATABLE: dict[str, tuple[str, ...]] = {
    "deals": (
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
    ),
    "leads": (
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
        "attributes",
    ),
    "accounts": (
        "name",
        "domain",
        "industry",
        "employees",
        "size_band",
        "annual_revenue",
        "region",
        "owner",
        "attributes",
    ),
    "contacts": ("name", "account", "email", "phone", "title", "owner"),
    "interactions": (
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
    "users": (),
    "stage_changes": (),
}
"""The fields a re-import of a CRM export may change on an existing record (only those the mapping fills)."""
_RECORD_KEY = {
    "owner": "owner_id",
    "account": "_account",
    "user": "user_id",
    "deal": "deal_id",
    "lead": "lead_id",
    "contact": "contact_id",
}


def _rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, int, list[str]]]:
    """(row number as a spreadsheet shows it, 1-based index among non-blank data rows, cells).

    Blank lines are skipped but still counted in the row number, as a spreadsheet shows them.
    """
    data_index = 0
    for record_index, cells in enumerate(reader):
        if not cells or all(not c.strip() for c in cells):
            continue
        data_index += 1
        yield record_index + 2, data_index, cells


def import_csv(
    session: Session,
    actor: Actor,
    entity: str,
    path: Path,
    mapping: ImportMapping | None = None,
    *,
    dry_run: bool = False,
    phone_region: str = "US",
    machine: StageMachine | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import every row of ``path`` as ``entity`` in the session's transaction, or raise ``ImportFailed``.

    Stages are checked against the workspace's own (``workspace_machine``) unless ``machine`` is given. With
    ``dry_run`` nothing is written; the report says what would be created.
    """
    machine = machine or workspace_machine(session)
    if entity not in ENTITY_FIELDS:
        raise MappingError(f"unknown entity {entity!r}; choose one of {', '.join(ENTITY_FIELDS)}")
    mapping = mapping or ImportMapping()
    if mapping.entity and mapping.entity != entity:
        raise MappingError(f"the mapping {mapping.source or ''} is for {mapping.entity}, not {entity}")
    if entity == "users" and not actor.is_admin:
        raise PermissionDenied(f"only admins import users; {actor.email} is a {actor.role}")
    if not path.is_file():
        raise MappingError(f"{path} is not a file")
    if mapping.system is not None and entity in ("users", "stage_changes"):
        raise MappingError(f"CRM mappings ({mapping.system}) import deals, leads, accounts, contacts or interactions")
    report = ImportReport(
        entity=entity, file_name=path.name, sha256=file_sha256(path), dry_run=dry_run, system=mapping.system
    )
    total = _count_data_rows(path)
    ctx = ParseContext(
        date_format=mapping.date_format,
        date_formats=mapping.date_formats,
        phone_region=mapping.phone_region or phone_region,
        machine=machine,
    )
    line_of: Any = None
    try:
        with path.open("r", encoding=mapping.encoding, newline="") as fh:
            first = fh.readline()
            delimiter = mapping.delimiter or detect_delimiter(first)
            header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
            header = [h.strip() for h in header]
            if not any(header):
                raise MappingError(f"{path.name} has no header row; the first line must name the columns")
            duplicates = sorted({h for h in header if header.count(h) > 1})
            if duplicates:
                raise MappingError(f"{path.name} has duplicate column names: {', '.join(duplicates)}")
            plan = _ColumnPlan(entity, header, mapping, machine)
            report.columns = dict(plan.sources)
            report.ignored_columns = list(plan.ignored)
            importer = _Importer(session, actor, entity, plan, report, machine, utcnow())
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            line_of = reader
            for row_no, data_index, cells in _rows(reader):
                report.rows += 1
                if len(cells) != len(header):
                    report.problems.append(
                        RowProblem(row_no, "(row)", f"has {len(cells)} cells, the header has {len(header)}")
                    )
                else:
                    parsed, row_problems = plan.parse_row(row_no, data_index, cells, ctx)
                    if row_problems:
                        report.problems.extend(row_problems)
                        importer.broken.append(parsed)
                    else:
                        importer.rows.append(parsed)
                if on_progress and report.rows % _PROGRESS_EVERY == 0:
                    on_progress("checking", report.rows, max(total, report.rows))
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{path.name} is not {mapping.encoding} text ({exc.reason} at byte {exc.start}); "
            "set `encoding:` in a mapping file (e.g. latin-1)"
        ) from None
    except csv.Error as exc:
        where = f" near line {line_of.line_num + 1}" if line_of is not None else ""
        raise MappingError(f"{path.name} is not a well-formed CSV file{where}: {exc}") from None
    if on_progress:
        on_progress("checking", report.rows, report.rows)
    if report.rows == 0:
        raise MappingError(f"{path.name} has a header but no data rows")
    importer.resolve()
    if report.problems:
        report.problems.sort(key=lambda p: (p.row, p.column))
        raise ImportFailed(report)
    report.created = importer.planned_counts()
    if dry_run:
        return report
    written = 0

    def advance(n: int) -> None:
        nonlocal written
        written += n
        if on_progress:
            on_progress("writing", written, len(importer.resolved) + len(importer.updates))

    importer.write(advance)
    _keep_terms(session, mapping, report)
    receipt_id = write_receipt(
        session,
        actor,
        action="import",
        record_type=entity,
        record_id=None,
        after=report.summary(),
    )
    report.audit_event_id = receipt_id
    return report


def _keep_terms(session: Session, mapping: ImportMapping, report: ImportReport) -> None:
    """The mapping's renames of stages, products, industries and regions become the workspace's vocabulary, so
    "deals in Engaging" is understood after a Maven import (in the import's transaction)."""
    from sales.vocabulary import TERM_KINDS, record_terms

    for kind in TERM_KINDS:
        renames = mapping.values.get(kind)
        if renames:
            record_terms(session, kind, renames, f"import of {report.file_name}")
            report.terms[kind] = dict(renames)


MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"
"""The ready mapping files shipped in the repository (``mappings/<source>/<entity>.yaml``)."""

MAVEN_FILES: tuple[tuple[str, str, str], ...] = (
    ("accounts", "accounts.csv", "accounts.yaml"),
    ("users", "sales_teams.csv", "users.yaml"),
    ("deals", "sales_pipeline.csv", "deals.yaml"),
)
STAGES_FILE = "stages.yaml"
"""A source's own deal stages, beside its mappings (``mappings/maven/stages.yaml``)."""


def import_maven(
    session: Session,
    actor: Actor,
    directory: Path,
    mappings_dir: Path,
    *,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    stages_file: Path | None = None,
) -> list[ImportReport]:
    """Import the Maven CRM files (accounts, sales teams as users, pipeline as deals) in one transaction.

    The deals keep Maven's own stages: ``stages_file`` (default: ``stages.yaml`` beside the mappings, when there is
    one) becomes the workspace's stage configuration first, with its receipt (``sales.stages``). A dry run performs
    it all in a savepoint and rolls it back, since the deals refer to the users and accounts the earlier files
    create.
    """
    from sales.importing.mapping import load_mapping
    from sales.stages import load_stage_file, set_stage_configuration

    missing = [name for _, name, _ in MAVEN_FILES if not (directory / name).is_file()]
    if missing:
        raise MappingError(f"{directory} does not hold the Maven CRM files: missing {', '.join(missing)}")
    mappings = {entity: load_mapping(mappings_dir / yaml_name) for entity, _, yaml_name in MAVEN_FILES}
    if stages_file is None and (mappings_dir / STAGES_FILE).is_file():
        stages_file = mappings_dir / STAGES_FILE
    stages = load_stage_file(stages_file) if stages_file is not None else None
    savepoint = session.begin_nested() if dry_run else None
    reports: list[ImportReport] = []
    try:
        if stages is not None and stages_file is not None:
            machine, description = stages
            set_stage_configuration(session, actor, machine, description=description, source=str(stages_file))
        for entity, file_name, _ in MAVEN_FILES:
            reports.append(
                import_csv(session, actor, entity, directory / file_name, mappings[entity], on_progress=on_progress)
            )
    finally:
        if savepoint is not None:
            savepoint.rollback()
    if dry_run:
        for report in reports:
            report.dry_run = True
            report.audit_event_id = None
    return reports


def source_stages(mapping: ImportMapping, mappings_dir: Path = MAPPINGS_DIR) -> Path:
    """The stage file of a CRM mapping's system (``mappings/<system>/stages.yaml``): that CRM's default pipeline."""
    if mapping.system is None:
        raise MappingError("only a CRM mapping (one with `system:`) has the source's stages to adopt")
    path = mappings_dir / mapping.system / STAGES_FILE
    if not path.is_file():
        raise MappingError(f"there is no stage file for {mapping.system} at {path}")
    return path


def adopt_source_stages(
    session: Session,
    actor: Actor,
    mapping: ImportMapping,
    *,
    stages_file: Path | None = None,
    dry_run: bool = False,
) -> tuple[ImportMapping, StageMachine, Path]:
    """Make the export's own pipeline the workspace's stages (as ``import maven`` does), with its receipt.

    Returns the mapping without its stage renames (the stage names are now the CRM's own), the stages in force
    and the stage file used. With ``dry_run`` the stages are checked and returned, not stored.
    """
    from sales.stages import load_stage_file, set_stage_configuration

    path = stages_file or source_stages(mapping)
    machine, description = load_stage_file(path)
    set_stage_configuration(session, actor, machine, description=description, source=str(path), dry_run=dry_run)
    # the renames onto our stage names go; "read the next column" ("") and won/lost (Deal - Status) stay
    values = dict(mapping.values)
    values["stage"] = {
        k: v
        for k, v in mapping.values.get("stage", {}).items()
        if not v or machine.canonical(v) in machine.closed_stages
    }
    return ImportMapping(**{**mapping.__dict__, "values": values}), machine, path
