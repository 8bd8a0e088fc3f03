"""Lead capture: validation, duplicate detection (merge or refuse), assignment by rule, first-contact task.

Assignment rule: a rep who captures a lead owns it. Leads captured by a manager go to the active reps of
that manager's team, those by an admin or the system to all active reps; in both cases the reps of the
lead's region are preferred, in round-robin order (the rep whose latest assigned lead is oldest goes next).

Derived fields: a lead typed into chat rarely says its seniority, industry or region. The seniority level is
read from the title (``sales.seniority``); industry, region, employees and country come from the matching
account (by name, normalised name or email domain); a typed source, industry or region is spelled the way the
workspace already spells it ("software" → "Software"). Typed values always win; what was derived, and from
where, is listed in the create (or merge) receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, or_, select

from sales.errors import DuplicateRecord, InvalidInput, NotFound, PermissionDenied
from sales.permissions import Actor, assignable_owner_id, ensure_can_see
from sales.playbook import first_contact_task
from sales.receipts import snapshot, write_receipt
from sales.seniority import SENIORITY_ATTRIBUTE, seniority_of
from sales.validation import company_key, normalize_email, normalize_phone, person_key
from store.models import Account, Lead, LeadStatus, Role, User
from store.types import utcnow

LEAD_FIELDS = ("name", "email", "phone", "company", "title", "source", "industry", "region", "status", "owner_id")
# account facts a lead at that company shares (columns, then keys of the account's attributes)
ACCOUNT_FIRMOGRAPHICS = ("industry", "region")
ACCOUNT_ATTRIBUTES = ("employees", "country")
NAME_MATCH_THRESHOLD = 92  # rapidfuzz token_sort_ratio on normalised person names, same company


class LeadInput(BaseModel):
    """What a person (or an import row) says about a new lead."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    phone: str | None = None
    company: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    owner_email: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class LeadResult:
    lead: Lead
    receipt_id: int
    created: bool
    merged: bool
    task_id: int | None
    assignment: str


def validate_lead(data: LeadInput, default_phone_region: str = "US") -> dict[str, Any]:
    """Normalised fields, or ``InvalidInput`` naming every problem at once."""
    problems: dict[str, str] = {}
    fields = data.model_dump()
    if not (data.email or data.phone):
        problems["contact"] = "give at least an email or a phone number so someone can reach the lead"
    if data.email:
        try:
            fields["email"] = normalize_email(data.email)
        except ValueError as exc:
            problems["email"] = str(exc)
    if data.phone:
        try:
            fields["phone"] = normalize_phone(data.phone, default_phone_region)
        except ValueError as exc:
            problems["phone"] = str(exc)
    if problems:
        raise InvalidInput(problems)
    return fields


def find_duplicate(session: Session, email: str | None, company: str | None, name: str) -> tuple[Lead, str] | None:
    """An existing lead with the same email, or the same normalised company and (nearly) the same name."""
    if email:
        same_email = session.exec(select(Lead).where(func.lower(Lead.email) == email.lower())).first()
        if same_email is not None:
            return same_email, f"the same email ({email})"
    key = company_key(company)
    wanted = person_key(name)
    if key and wanted:
        for candidate in session.exec(select(Lead).where(Lead.company_key == key)).all():
            other = person_key(candidate.name)
            if other and fuzz.token_sort_ratio(wanted, other) >= NAME_MATCH_THRESHOLD:
                return candidate, f"the same name at the same company ({candidate.name}, {candidate.company})"
    return None


def assign_owner(session: Session, region: str | None, actor: Actor) -> tuple[int, str]:
    """Round-robin among the active reps the requester may see (a manager: their team), preferring the region's."""
    stmt = select(User).where(User.role == Role.REP, col(User.active)).order_by(col(User.id))
    visible = actor.owner_filter(User.id)
    if visible is not None:
        stmt = stmt.where(visible)
    reps = session.exec(stmt).all()
    if not reps:
        raise InvalidInput(
            {"owner": "there is no active rep to assign the lead to; add a rep (or give the lead an owner) first"}
        )
    pool = [r for r in reps if region and r.region and r.region.lower() == region.lower()]
    team = "your team's" if visible is not None else "all"
    reason = f"round-robin among {team} {region} reps" if pool else f"round-robin among {team} reps"
    if not pool:
        pool = list(reps)
    latest = dict(
        session.exec(
            select(Lead.owner_id, func.max(Lead.created_at))
            .where(col(Lead.owner_id).in_([r.id for r in pool]))
            .group_by(col(Lead.owner_id))
        ).all()
    )
    never = datetime.min.replace(tzinfo=utcnow().tzinfo)

    def last_assigned(rep: User) -> tuple[datetime, int]:
        value = latest.get(rep.id)
        return (value if isinstance(value, datetime) else never, rep.id or 0)

    chosen = min(pool, key=last_assigned)
    assert chosen.id is not None
    return chosen.id, reason


def match_account(session: Session, company: str | None, email: str | None) -> Account | None:
    """The account a lead works at: same name (any case), same normalised name ("Acme, Inc." = "ACME"), or an
    account whose domain is the email's domain."""
    if company:
        same = session.exec(select(Account).where(func.lower(Account.name) == company.lower())).first()
        if same is not None:
            return same
    domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
    if domain:
        by_domain = session.exec(select(Account).where(func.lower(Account.domain) == domain)).first()
        if by_domain is not None:
            return by_domain
    key = company_key(company)
    if key:
        for account in session.exec(select(Account).order_by(col(Account.id))).all():
            if company_key(account.name) == key:
                return account
    return None


def _spelling_key(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


def workspace_spelling(session: Session, column: str, value: str | None) -> str | None:
    """``value`` as the workspace's leads (or accounts) already spell it: "software" → "Software", "Paid ads" →
    "paid_ads"; unchanged when nothing matches (a new value stays new)."""
    if not value:
        return value
    wanted = _spelling_key(value)
    tables: list[Any] = [Lead] + ([Account] if column in ACCOUNT_FIRMOGRAPHICS else [])
    for table in tables:
        field = getattr(table, column)
        for known in session.exec(select(field).where(field.is_not(None)).distinct()).all():
            if known == value:
                return value
            if _spelling_key(str(known)) == wanted:
                return str(known)
    return value


def derive_fields(session: Session, fields: dict[str, Any]) -> dict[str, str]:
    """Fill what a chat-captured lead lacks, in place; returns {field: where it came from} for the receipt."""
    derived: dict[str, str] = {}
    for column in ("source", "industry", "region"):
        spelled = workspace_spelling(session, column, fields.get(column))
        if spelled != fields.get(column):
            derived[column] = f"spelled as the workspace does ({fields[column]!r})"
            fields[column] = spelled
    attributes = dict(fields.get("attributes") or {})
    if not attributes.get(SENIORITY_ATTRIBUTE):
        level = seniority_of(fields.get("title"))
        if level:
            attributes[SENIORITY_ATTRIBUTE] = level
            derived[f"attributes.{SENIORITY_ATTRIBUTE}"] = f"from the title {fields['title']!r}"
    account = match_account(session, fields.get("company"), fields.get("email"))
    if account is not None:
        where = f"from account #{account.id} {account.name}"
        for column in ACCOUNT_FIRMOGRAPHICS:
            if not fields.get(column) and getattr(account, column):
                fields[column] = getattr(account, column)
                derived[column] = where
        account_facts = {"employees": account.employees, **(account.attributes or {})}
        for key in ACCOUNT_ATTRIBUTES:
            if attributes.get(key) in (None, "") and account_facts.get(key) not in (None, ""):
                attributes[key] = account_facts[key]
                derived[f"attributes.{key}"] = where
    fields["attributes"] = attributes
    fields["_account"] = account
    return derived


def create_lead(
    session: Session,
    actor: Actor,
    data: LeadInput,
    *,
    on_duplicate: Literal["refuse", "merge"] = "refuse",
    default_phone_region: str = "US",
) -> LeadResult:
    fields = validate_lead(data, default_phone_region)
    duplicate = find_duplicate(session, fields["email"], fields["company"], fields["name"])
    if duplicate is not None:
        existing, why = duplicate
        assert existing.id is not None
        if on_duplicate == "refuse" or not actor.can_see_owner(existing.owner_id):
            visible = actor.can_see_owner(existing.owner_id)
            where = f"lead #{existing.id} ({existing.name})" if visible else "a lead owned by another team"
            raise DuplicateRecord(
                f"not created: {where} already has {why}. "
                + ("Merge the new details into it instead." if visible else "Ask its owner's manager."),
                existing.id,
            )
        derived = derive_fields(session, fields)
        return _merge_into(session, actor, existing, fields, why, derived)

    derived = derive_fields(session, fields)
    account: Account | None = fields.pop("_account")
    if fields["owner_email"]:
        owner_id, assignment = (
            assignable_owner_id(session, actor, fields["owner_email"], "a lead"),
            "chosen by the requester",
        )
    elif actor.role == Role.REP and actor.user_id is not None:
        owner_id, assignment = actor.user_id, "captured by the rep"
    else:
        owner_id, assignment = assign_owner(session, fields["region"], actor)

    lead = Lead(
        name=fields["name"],
        email=fields["email"],
        phone=fields["phone"],
        company=fields["company"],
        company_key=company_key(fields["company"]),
        title=fields["title"],
        source=fields["source"],
        industry=fields["industry"],
        region=fields["region"],
        owner_id=owner_id,
        account_id=account.id if account else None,
        attributes=fields["attributes"],
    )
    session.add(lead)
    session.flush()
    task = first_contact_task(lead, utcnow().date())
    session.add(task)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "create_lead",
        "lead",
        lead.id,
        after={
            **snapshot(lead, LEAD_FIELDS),
            "attributes": lead.attributes,
            "derived": derived,
            "assignment": assignment,
            "task_id": task.id,
        },
    )
    from sales.events import LEAD_CREATED, emit

    emit(session, LEAD_CREATED, "lead", lead.id, {"owner_id": owner_id, "source": lead.source}, actor=actor)
    return LeadResult(lead, receipt, created=True, merged=False, task_id=task.id, assignment=assignment)


def _merge_into(
    session: Session, actor: Actor, existing: Lead, fields: dict[str, Any], why: str, derived: dict[str, str]
) -> LeadResult:
    fields.pop("_account", None)
    before = {**snapshot(existing, LEAD_FIELDS), "attributes": dict(existing.attributes or {})}
    for name in ("email", "phone", "company", "title", "source", "industry", "region"):
        if getattr(existing, name) in (None, "") and fields.get(name):
            setattr(existing, name, fields[name])
    existing.company_key = company_key(existing.company)
    existing.attributes = {**fields["attributes"], **existing.attributes}
    existing.updated_at = utcnow()
    session.add(existing)
    session.flush()
    receipt = write_receipt(
        session,
        actor,
        "merge_lead",
        "lead",
        existing.id,
        before=before,
        after={
            **snapshot(existing, LEAD_FIELDS),
            "attributes": existing.attributes,
            "derived": derived,
            "matched_on": why,
        },
    )
    return LeadResult(existing, receipt, created=False, merged=True, task_id=None, assignment="kept the existing owner")


def get_lead(session: Session, actor: Actor, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"there is no lead #{lead_id}")
    ensure_can_see(actor, lead.owner_id, f"lead #{lead_id}")
    return lead


def lead_source_is(source: str) -> ColumnElement[bool]:
    """The condition that a lead came from ``source`` as said ("paid ads") or stored ("paid_ads"): case and
    "_" / " " aside; a lead without a source never matches. Listings, pipeline questions and funnel metrics share it."""
    said = " ".join(source.replace("_", " ").split()).lower()
    return func.lower(func.replace(func.coalesce(Lead.source, ""), "_", " ")) == said


def list_leads(session: Session, actor: Actor, **filters: Any) -> list[Lead]:
    """Leads ``actor`` may see that match ``filters`` (those of ``find_leads``), newest first."""
    return find_leads(session, actor, count_all=False, **filters)[0]


def find_leads(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    owner_id: int | None = None,
    query: str | None = None,
    limit: int = 50,
    source: str | None = None,
    count_all: bool = True,
    created_from: date | None = None,
    created_to: date | None = None,
) -> tuple[list[Lead], int | None]:
    """Leads ``actor`` may see, newest first, and how many match in all (None with ``count_all=False``);
    ``source`` matches where a lead came from, case and "_" / " " aside; ``created_from``/``created_to``
    (exclusive end) the day it was created, in UTC."""
    stmt = select(Lead)
    if created_from is not None:
        stmt = stmt.where(col(Lead.created_at) >= datetime.combine(created_from, time.min, tzinfo=UTC))
    if created_to is not None:
        stmt = stmt.where(col(Lead.created_at) < datetime.combine(created_to, time.min, tzinfo=UTC))
    if source:
        stmt = stmt.where(lead_source_is(source))
    visible = actor.owner_filter(Lead.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if status:
        stmt = stmt.where(Lead.status == status)
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    if query:
        pattern = f"%{query.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Lead.name).like(pattern),
                func.lower(func.coalesce(Lead.company, "")).like(pattern),
                func.lower(func.coalesce(Lead.email, "")).like(pattern),
            )
        )
    # how many match in all, for a listing that says so; a lookup (``list_*``) skips the extra COUNT
    total = int(session.exec(select(func.count()).select_from(stmt.subquery())).one()) if count_all else None
    return list(session.exec(stmt.order_by(col(Lead.created_at).desc(), col(Lead.id).desc()).limit(limit)).all()), total


def set_lead_status(session: Session, actor: Actor, lead_id: int, status: str, reason: str | None = None) -> int:
    """Move a lead to new, working or disqualified; qualification goes through approval (sales.qualification)."""
    allowed = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.DISQUALIFIED)
    if status == LeadStatus.QUALIFIED:
        raise PermissionDenied("qualifying a lead needs a manager's approval; ask the assistant to qualify it")
    if status not in allowed:
        raise InvalidInput({"status": f"{status!r} is not one of {', '.join(allowed)}"})
    if status == LeadStatus.DISQUALIFIED and not reason:
        raise InvalidInput({"reason": "say why the lead is disqualified"})
    lead = get_lead(session, actor, lead_id)
    before = snapshot(lead, ("status",))
    lead.status = status
    lead.updated_at = utcnow()
    if status == LeadStatus.DISQUALIFIED:
        lead.outcome = "lost"
    session.add(lead)
    return write_receipt(
        session, actor, "set_lead_status", "lead", lead.id, before=before, after={"status": status, "reason": reason}
    )
