"""The demo company behind ``salesgraph seed --demo``: a deterministic year of sales history with planted effects.

What it writes (for a seed and an anchor date; history covers the 365 days before the anchor, all of it
strictly before the anchor date's midnight UTC):

* Users: one admin, two managers (teams/regions "Americas" and "EMEA"), eight reps with clearly different
  tenures (``started_at`` from two months to four years before the anchor) and Slack user ids.
* About 150 accounts (fictional companies on ``.example`` domains so nothing real is ever emailed), with
  industry, employees, size band, region, and contacts with titles, valid emails and E.164 phones.
* About 2,000 leads with source, title, industry, region and ``attributes`` (``employees``, ``page_views``,
  ``email_opens``, ``webinar_attended``, ``seniority``, ``country``); older leads have a known
  ``outcome`` (converted / lost) that really depends on those features plus noise, so a scoring model can
  learn it (AUC around 0.8, not 1.0). ``status``, ``qualified_at``, ``account_id`` and ``contact_id`` are
  consequences of the outcome (conversion links the lead to an account and a contact): don't use them as features.
* About 600 deals with log-normal amounts, products, expected close dates and a full stage history in
  ``stage_changes`` (first row from ``None`` to Prospecting) that only makes moves ``DEFAULT_MACHINE`` allows:
  forward one stage, rework step-backs, losses from any open stage with a loss reason, wins from
  Negotiation. A deal's ``stage``, ``stage_entered_at``, ``created_at`` and ``closed_at`` agree with its
  history. Deals still open at the anchor form a live pipeline with future expected close dates.
* About 5,600 interactions (emails in and out, call and meeting notes, Slack notes) written from many
  templates: pricing, named competitors, security reviews, budget approval, legal redlines, champion changes,
  scheduling; tone follows how the deal went. ``sentiment`` and ``indexed_at`` are left NULL.
* Tasks from the playbook (first contact, meeting, close plan) and follow-ups, open and done.
* One audit event, action ``seed_demo``, whose ``after`` holds the counts, the seed and the anchor.

Planted effects (``PLANTED``), which analytics must find again:

* Proposal → Negotiation takes ``slow_factor`` times longer (median) for enterprise deals
  (``sales.segments.deal_size_band`` of the amount) than for the other size bands; the other transitions
  of enterprise deals are only a little slower.
* One rep (``low_converting_rep_email``) wins well under half as often as the others on the same mix of deals
  (compare reps with at least ``min_closed_deals_for_rep_comparison`` closed deals; the two new hires have few).
* ``stalled_deal_count`` open deals have had no stage change and no interaction for longer than their
  stage's ``DEFAULT_MACHINE.stall_limit_days`` at the anchor; every other open deal had activity in the
  last two weeks, so the stalled ones are exactly the deals the stall rule flags at the anchor. Their ids
  are in ``DemoSummary.stalled_deal_ids``.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col, select

from sales.demo_text import (
    COMPANY_STEMS,
    COUNTRIES,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    PHONE_SHAPES,
    PRODUCTS_BY_BAND,
    SENIORITY_TITLES,
    Slots,
    TextComposer,
)
from sales.errors import SalesError
from sales.playbook import CLOSE_PLAN, FIRST_CONTACT, MEETING, add_business_days
from sales.segments import deal_size_band
from sales.stages import DEFAULT_MACHINE, workspace_machine
from sales.validation import company_key
from store.audit import SYSTEM_ACTOR, record_event
from store.models import (
    Account,
    AuditEvent,
    Channel,
    Contact,
    Deal,
    Direction,
    Interaction,
    Lead,
    LeadStatus,
    Role,
    StageChange,
    Task,
    TaskStatus,
    User,
)

DEMO_DOMAIN = "demo.example"
DEMO_ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
# The manager and rep used by the tour and the evals: the rep reports to the manager.
DEMO_MANAGER_EMAIL = f"maria.chen@{DEMO_DOMAIN}"
DEMO_REP_EMAIL = f"sam.rivera@{DEMO_DOMAIN}"
DEMO_OTHER_MANAGER_EMAIL = f"henrik.larsen@{DEMO_DOMAIN}"

SEED_ACTION = "seed_demo"
DEFAULT_SEED = 7
HISTORY_DAYS = 365


@dataclass(frozen=True)
class PlantedEffects:
    """The effects planted in the demo data, for analytics tests, evals and the tour to check against."""

    slow_transition: tuple[str, str] = ("Proposal", "Negotiation")
    slow_segment: tuple[str, str] = ("size_band", "enterprise")
    # median wait of the slow transition in the slow segment / median wait of the same transition elsewhere
    slow_factor: float = 3.2
    low_converting_rep_email: str = f"jordan.blake@{DEMO_DOMAIN}"
    # the low rep's chance of winning a deal, relative to the other reps on the same kind of deal
    low_rep_win_factor: float = 0.4
    # reps with fewer closed deals than this (the two new hires) are too noisy to compare
    min_closed_deals_for_rep_comparison: int = 20
    stalled_deal_count: int = 6
    stalled_rule: str = (
        "open at the anchor, and the later of its last stage change and last interaction is older than "
        "DEFAULT_MACHINE.stall_limit_days of its current stage"
    )


PLANTED = PlantedEffects()


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    team: str | None
    region: str | None


@dataclass(frozen=True)
class DemoSummary:
    """What ``seed_demo`` wrote: row counts per table, the demo users, the planted stalled deals, the receipt."""

    seed: int
    anchor: date
    counts: dict[str, int]
    users: tuple[DemoUser, ...]
    stalled_deal_ids: tuple[int, ...]
    audit_event_id: int
    planted: PlantedEffects = field(default=PLANTED)


class WorkspaceNotEmpty(SalesError):
    """The store already holds users; seeding would mix demo data with real data."""


# --- the fixed cast: who works at the demo company -----------------------------------------------------------

_ADMIN = ("Alex Morgan", DEMO_ADMIN_EMAIL, 70)
# team/region -> (manager name, manager email, tenure in months)
_MANAGERS: dict[str, tuple[str, str, int]] = {
    "Americas": ("Maria Chen", DEMO_MANAGER_EMAIL, 62),
    "EMEA": ("Henrik Larsen", DEMO_OTHER_MANAGER_EMAIL, 55),
}
# (name, region, tenure in months at the anchor): veterans, ramped reps and two new hires (<6 months)
_REPS: tuple[tuple[str, str, int], ...] = (
    ("Sam Rivera", "Americas", 38),
    ("Jordan Blake", "Americas", 27),
    ("Priya Nair", "Americas", 13),
    ("Leo Martins", "Americas", 3),
    ("Sophie Dubois", "EMEA", 49),
    ("Tom Fischer", "EMEA", 20),
    ("Aisha Okafor", "EMEA", 9),
    ("Marco Rossi", "EMEA", 2),
)
_REGIONS = ("Americas", "EMEA")

# --- scale and shape -------------------------------------------------------------------------------------------

_LISTED_ACCOUNTS = 100  # target-list accounts that exist before the history starts; conversions add ~50 more
_UNLISTED_COMPANIES = 100  # companies leads come from that are not accounts yet
_LEADS = 2000
_DEALS = 600
_SEED_SIZE_BANDS = (("small", 0.35), ("mid-market", 0.35), ("enterprise", 0.30))

# Lead conversion: log-odds contributions. Referral/partner/event leads, senior titles, right-sized companies
# and engaged leads convert more; noise keeps a model's AUC believable.
_LEAD_BASE = -1.75
_SOURCE_WEIGHTS = {"web": 28, "referral": 9, "event": 12, "outbound": 22, "partner": 7, "paid_ads": 14, "webinar": 8}
_SOURCE_EFFECT = {
    "web": 0.0,
    "referral": 1.1,
    "event": 0.6,
    "outbound": -0.7,
    "partner": 0.7,
    "paid_ads": -0.4,
    "webinar": 0.3,
}
_SENIORITY_WEIGHTS = {"c_level": 7, "vp": 13, "director": 22, "manager": 28, "individual": 30}
_SENIORITY_EFFECT = {"c_level": 0.4, "vp": 0.7, "director": 0.6, "manager": 0.1, "individual": -0.6}
_INDUSTRY_EFFECT = {"Software": 0.3, "Financial Services": 0.2, "Education": -0.3, "Hospitality": -0.3}
_ENGAGEMENT_EFFECT = 1.3
_LEAD_NOISE = 0.4

# Deals: chance of winning by size band, multiplied by source and rep effects.
_WIN_BASE = {"small": 0.46, "mid-market": 0.40, "enterprise": 0.32}
_WIN_SOURCE = {"referral": 1.25, "partner": 1.15, "event": 1.1, "webinar": 1.05, "paid_ads": 0.9, "outbound": 0.85}
_WIN_EXPANSION = 1.3
_LOSS_STAGE_WEIGHTS = (17, 20, 25, 23, 15)  # where lost deals drop out, by open stage

# Median waiting times in days per transition (log-normal, sigma _WAIT_SIGMA).
_WAIT_FORWARD = {"Prospecting": 6.0, "Qualified": 8.0, "Discovery": 12.0, "Proposal": 9.0, "Negotiation": 11.0}
_WAIT_TO_LOST = 12.0
_WAIT_STEP_BACK = 6.0
_WAIT_SIGMA = 0.4
_ENTERPRISE_SLOWER = 1.15  # every other enterprise transition: a little slower, not a planted effect
_REWORK_CHANCE = 0.06
_MAX_REWORKS = 2
_RECENT_TOUCH_DAYS = 12.0  # every open, non-stalled deal has an interaction this recent at the anchor

_AMOUNT_MEDIAN = {"small": 6500.0, "mid-market": 24000.0, "enterprise": 80000.0}
_AMOUNT_SIGMA = 0.5

_STAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "Prospecting": ("scheduling", "scheduling", "discovery_call", "check_in"),
    "Qualified": ("discovery_call", "scheduling", "technical_question", "check_in"),
    "Discovery": ("demo_meeting", "technical_question", "security_review", "competitor", "scheduling"),
    "Proposal": ("pricing_question", "competitor", "budget", "pricing_question", "check_in"),
    "Negotiation": ("legal_redlines", "discount_request", "procurement", "budget", "champion_change", "check_in"),
}
# topic -> choices of (channel, direction, is_email)
_TOPIC_CHANNELS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "scheduling": ((Channel.EMAIL, Direction.OUTBOUND, True), (Channel.EMAIL, Direction.INBOUND, True)),
    "intro_reply": ((Channel.EMAIL, Direction.INBOUND, True),),
    "discovery_call": ((Channel.CALL, Direction.OUTBOUND, False),),
    "demo_meeting": ((Channel.MEETING, Direction.OUTBOUND, False),),
    "technical_question": ((Channel.EMAIL, Direction.INBOUND, True),),
    "security_review": ((Channel.EMAIL, Direction.INBOUND, True), (Channel.NOTE, Direction.INTERNAL, False)),
    "proposal_sent": ((Channel.EMAIL, Direction.OUTBOUND, True),),
    "pricing_question": ((Channel.EMAIL, Direction.INBOUND, True),),
    "competitor": ((Channel.CALL, Direction.OUTBOUND, False), (Channel.NOTE, Direction.INTERNAL, False)),
    "budget": ((Channel.EMAIL, Direction.INBOUND, True),),
    "legal_redlines": ((Channel.EMAIL, Direction.INBOUND, True),),
    "discount_request": ((Channel.SLACK, Direction.INTERNAL, False),),
    "procurement": ((Channel.EMAIL, Direction.INBOUND, True),),
    "champion_change": ((Channel.EMAIL, Direction.INBOUND, True), (Channel.NOTE, Direction.INTERNAL, False)),
    "verbal_commit": ((Channel.CALL, Direction.OUTBOUND, False),),
    "won": ((Channel.EMAIL, Direction.INBOUND, True),),
    "won_slack": ((Channel.SLACK, Direction.INTERNAL, False),),
    "lost": ((Channel.NOTE, Direction.INTERNAL, False), (Channel.SLACK, Direction.INTERNAL, False)),
    "lost_email": ((Channel.EMAIL, Direction.INBOUND, True),),
    "rework": ((Channel.NOTE, Direction.INTERNAL, False),),
    "check_in": ((Channel.EMAIL, Direction.OUTBOUND, True), (Channel.EMAIL, Direction.INBOUND, True)),
    "stall_note": ((Channel.NOTE, Direction.INTERNAL, False),),
    "intro_out": ((Channel.EMAIL, Direction.OUTBOUND, True),),
    "lead_web_form": ((Channel.NOTE, Direction.INBOUND, False),),
    "lead_follow_up": ((Channel.EMAIL, Direction.OUTBOUND, True),),
    "lead_reply_pos": ((Channel.EMAIL, Direction.INBOUND, True),),
    "lead_reply_neg": ((Channel.EMAIL, Direction.INBOUND, True),),
    "lead_event": ((Channel.NOTE, Direction.INTERNAL, False),),
}
_NOTE_SUBJECT: dict[str, str] = {Channel.CALL: "Call notes", Channel.MEETING: "Meeting notes", Channel.NOTE: "Note"}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower())


def _money(value: float) -> str:
    return f"${value:,.0f}"


@dataclass
class _Company:
    name: str
    domain: str
    industry: str
    region: str
    country: str
    employees: int
    account: int | None  # index into the account rows once the company is an account
    people: set[str] = field(default_factory=set)


@dataclass
class _DealPlan:
    index: int
    account: int
    company: _Company
    owner: int
    contact: int
    lead: int | None
    source: str
    amount: float
    product: str
    created_at: datetime
    # (from, to, at); the first is (None, "Prospecting", created_at)
    changes: list[tuple[str | None, str, datetime]]
    won: bool
    loss_reason: str | None
    stalled: bool = False

    @property
    def stage(self) -> str:
        return self.changes[-1][1]

    @property
    def is_open(self) -> bool:
        return DEFAULT_MACHINE.is_open(self.stage)

    @property
    def band(self) -> str:
        return deal_size_band(self.amount)


class _DemoBuilder:
    """Builds every row in memory (foreign keys as list indices) from one seeded random generator."""

    def __init__(self, seed: int, anchor: date) -> None:
        self.rng = random.Random(seed)
        self.text = TextComposer(self.rng)
        self.anchor = anchor
        self.end = datetime.combine(anchor, time(0), tzinfo=UTC)
        self.start = self.end - timedelta(days=HISTORY_DAYS)
        self.users: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.contacts: list[dict[str, Any]] = []
        self.leads: list[dict[str, Any]] = []
        self.deals: list[dict[str, Any]] = []
        self.stage_changes: list[dict[str, Any]] = []
        self.interactions: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.companies: list[_Company] = []
        self.company_names: set[str] = set()
        self.emails: set[str] = set()
        self.plans: list[_DealPlan] = []
        self.rep_indices: dict[str, list[int]] = {region: [] for region in _REGIONS}
        self.round_robin: dict[str, int] = dict.fromkeys(_REGIONS, 0)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _ts(self, value: datetime) -> datetime:
        return value.replace(microsecond=0)

    def _lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    def _poisson(self, mean: float) -> int:
        # Knuth's method: small means only.
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _weighted(self, weights: dict[str, int] | dict[str, float]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[float(weights[n]) for n in names])[0]

    def _work_time(self, day: datetime) -> datetime:
        """The same day at a random minute of office hours (UTC, 08:00-18:00)."""
        midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(minutes=self.rng.randint(8 * 60, 18 * 60))

    def _phone(self, country: str) -> str:
        import phonenumbers

        for _ in range(50):
            shape = self.rng.choice(PHONE_SHAPES[country])
            number = re.sub(
                r"\{(\d)\}", lambda m: "".join(str(self.rng.randint(0, 9)) for _ in range(int(m[1]))), shape
            )
            parsed = phonenumbers.parse(number, None)
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        raise AssertionError(f"no valid demo phone number shape for {country}")

    def _person(self, company: _Company) -> tuple[str, str]:
        """A new (name, email) at ``company``: unique per company (dedupe rule) and unique email overall."""
        for _ in range(200):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            if name in company.people:
                continue
            pattern = self.rng.random()
            local = (
                f"{_slug(first)}.{_slug(last)}"
                if pattern < 0.6
                else f"{_slug(first)[0]}{_slug(last)}"
                if pattern < 0.85
                else f"{_slug(first)}{_slug(last)[0]}"
            )
            email = f"{local}@{company.domain}"
            if email in self.emails:
                continue
            company.people.add(name)
            self.emails.add(email)
            return name, email
        raise AssertionError(f"could not find a fresh name at {company.name}")

    def _title(self) -> tuple[str, str]:
        seniority = self._weighted(_SENIORITY_WEIGHTS)
        return seniority, self.rng.choice(SENIORITY_TITLES[seniority])

    def _active_reps(self, region: str, when: datetime) -> list[int]:
        return [i for i in self.rep_indices[region] if self.users[i]["started_at"] <= when.date()]

    def _assign(self, region: str, when: datetime) -> int:
        """Round-robin among the region's reps who had started by ``when`` (as lead assignment does)."""
        reps = self._active_reps(region, when)
        turn = self.round_robin[region]
        self.round_robin[region] = turn + 1
        return reps[turn % len(reps)]

    def _rep_is_new(self, user: int, when: datetime) -> bool:
        started: date = self.users[user]["started_at"]
        return (when.date() - started).days < 183

    # -- people and companies ------------------------------------------------------------------------------

    def build_users(self) -> None:
        def user(name: str, email: str, role: str, team: str | None, region: str | None, months: int) -> int:
            index = len(self.users)
            self.users.append(
                {
                    "name": name,
                    "email": email,
                    "role": role,
                    "team": team,
                    "region": region,
                    "slack_user_id": f"UDEMO{index + 1:04d}",
                    "started_at": self.anchor - timedelta(days=round(months * 30.44)),
                    "active": True,
                    "created_at": self.start - timedelta(days=30),
                    "_manager": None,
                }
            )
            return index

        user(_ADMIN[0], _ADMIN[1], Role.ADMIN, None, None, _ADMIN[2])
        managers = {
            region: user(name, email, Role.MANAGER, region, region, months)
            for region, (name, email, months) in _MANAGERS.items()
        }
        for name, region, months in _REPS:
            first, last = name.lower().split()
            index = user(name, f"{first}.{last}@{DEMO_DOMAIN}", Role.REP, region, region, months)
            self.users[index]["_manager"] = managers[region]
            self.rep_indices[region].append(index)

    def _new_company(self, *, employees: int, region: str | None = None) -> _Company:
        while True:
            stem = self.rng.choice(COMPANY_STEMS)
            industry = self.rng.choice(list(INDUSTRIES))
            name = f"{stem} {self.rng.choice(INDUSTRIES[industry])}"
            if name not in self.company_names:
                break
        self.company_names.add(name)
        region = region or self.rng.choice(_REGIONS)
        country = self.rng.choice(COUNTRIES[region])
        tld = ".example"
        company = _Company(name, f"{_slug(name)}{tld}", industry, region, country, employees, None)
        self.companies.append(company)
        return company

    def _employees(self, band: str) -> int:
        if band == "small":
            return max(8, min(199, round(self._lognormal(60, 0.7))))
        if band == "mid-market":
            return max(200, min(1999, round(self._lognormal(600, 0.6))))
        return max(2000, min(60000, round(self._lognormal(6000, 0.8))))

    def _make_account(self, company: _Company, created_at: datetime, owner: int | None = None) -> int:
        band = "small" if company.employees < 200 else "mid-market" if company.employees < 2000 else "enterprise"
        if owner is None:
            owners = [i for i in self.rep_indices[company.region] if self.users[i]["started_at"] <= created_at.date()]
            owner = self.rng.choice(owners) if owners else self.rep_indices[company.region][0]
        company.account = len(self.accounts)
        self.accounts.append(
            {
                "name": company.name,
                "domain": company.domain,
                "industry": company.industry,
                "employees": company.employees,
                "size_band": band,
                "annual_revenue": Decimal(round(company.employees * self.rng.uniform(120, 320))) * 1000,
                "region": company.region,
                "_owner": owner,
                "attributes": {"country": company.country},
                "created_at": self._ts(created_at),
            }
        )
        return company.account

    def _make_contact(
        self,
        company: _Company,
        created_at: datetime,
        person: tuple[str, str] | None = None,
        title: str | None = None,
        owner: int | None = None,
    ) -> int:
        assert company.account is not None
        name, email = person or self._person(company)
        index = len(self.contacts)
        self.contacts.append(
            {
                "_account": company.account,
                "name": name,
                "email": email,
                "phone": self._phone(company.country),
                "title": title or self._title()[1],
                "_owner": self.accounts[company.account]["_owner"] if owner is None else owner,
                "created_at": self._ts(created_at),
            }
        )
        return index

    def build_accounts(self) -> None:
        bands = [b for b, _ in _SEED_SIZE_BANDS]
        weights = [w for _, w in _SEED_SIZE_BANDS]
        for i in range(_LISTED_ACCOUNTS):
            band = self.rng.choices(bands, weights=weights)[0]
            region = _REGIONS[0] if i % 20 < 11 else _REGIONS[1]
            company = self._new_company(employees=self._employees(band), region=region)
            created = self._work_time(self.start - timedelta(days=self.rng.randint(20, 900)))
            self._make_account(company, created)
            for _ in range({"small": 2, "mid-market": 3, "enterprise": 4}[band] + self.rng.randint(0, 1)):
                self._make_contact(company, created + timedelta(days=self.rng.randint(0, 15)))
        self.listed = list(self.companies)
        for _ in range(_UNLISTED_COMPANIES):
            # Companies not on the target list skew small: many leads from them are a poor fit.
            band = self.rng.choices(bands, weights=[0.6, 0.3, 0.1])[0]
            self._new_company(employees=self._employees(band))
        self.unlisted = self.companies[len(self.listed) :]

    # -- leads ------------------------------------------------------------------------------------------------

    def _lead_times(self) -> list[datetime]:
        """Lead creation times: weekdays mostly, office hours, volume growing ~40% over the year."""
        times: list[datetime] = []
        while len(times) < _LEADS:
            offset = self.rng.random() * HISTORY_DAYS
            day = self.start + timedelta(days=offset)
            growth = (1 + 0.4 * offset / HISTORY_DAYS) / 1.4
            weekday = 1.0 if day.weekday() < 5 else 0.2
            if self.rng.random() < growth * weekday:
                times.append(self._ts(self._work_time(day)))
        return sorted(times)

    def build_leads(self) -> list[tuple[int, datetime]]:
        """Write the leads and their early touches; returns (lead index, converted at) for each converted lead."""
        converted: list[tuple[int, datetime]] = []
        for n, created in enumerate(self._lead_times()):
            company = self.rng.choice(self.listed) if self.rng.random() < 0.8 else self.rng.choice(self.unlisted)
            name, email = self._person(company)
            seniority, title = self._title()
            source = self._weighted(_SOURCE_WEIGHTS)
            engagement = self.rng.gauss(0.0, 1.0)
            page_views = self._poisson(math.exp(1.3 + 0.55 * engagement))
            email_opens = self._poisson(math.exp(0.9 + 0.5 * engagement))
            webinar = source == "webinar" or self.rng.random() < _sigmoid(-1.6 + 0.8 * engagement)
            # Right-sized companies (200-5,000 people) buy; very small ones rarely do.
            fit = 0.6 if 200 <= company.employees <= 5000 else -0.9 if company.employees < 50 else 0.0
            logit = (
                _LEAD_BASE
                + _SOURCE_EFFECT[source]
                + _SENIORITY_EFFECT[seniority]
                + _INDUSTRY_EFFECT.get(company.industry, 0.0)
                + fit
                + _ENGAGEMENT_EFFECT * engagement
                + self.rng.gauss(0.0, _LEAD_NOISE)
            )
            converts = self.rng.random() < _sigmoid(logit)
            decided = self._ts(created + timedelta(days=max(1.0, self._lognormal(12.0, 0.6))))
            owner = self._assign(company.region, created)
            lead = len(self.leads)
            row: dict[str, Any] = {
                "external_id": f"DEMO-L{n + 1:05d}",
                "name": name,
                "email": email,
                "phone": self._phone(company.country) if self.rng.random() < 0.7 else None,
                "company": company.name,
                "company_key": company_key(company.name),
                "title": title,
                "source": source,
                "industry": company.industry,
                "region": company.region,
                "status": LeadStatus.NEW,
                "outcome": None,
                "_owner": owner,
                "_account": company.account,
                "_contact": None,
                "attributes": {
                    "employees": company.employees,
                    "page_views": page_views,
                    "email_opens": email_opens,
                    "webinar_attended": webinar,
                    "seniority": seniority,
                    "country": company.country,
                },
                "created_at": created,
                "updated_at": created,
                "qualified_at": None,
            }
            self.leads.append(row)
            known = decided < self.end
            if known:
                row["outcome"] = "converted" if converts else "lost"
                row["status"] = LeadStatus.CONVERTED if converts else LeadStatus.DISQUALIFIED
                row["updated_at"] = decided
                if converts:
                    row["qualified_at"] = decided
                    if company.account is None:
                        self._make_account(company, decided, owner=owner)
                    row["_account"] = company.account
                    # the converting rep owns the new contact, so they can see it on their deal
                    row["_contact"] = self._make_contact(
                        company, decided, person=(name, email), title=title, owner=owner
                    )
                    if row["phone"]:
                        self.contacts[row["_contact"]]["phone"] = row["phone"]
                    converted.append((lead, decided))
            elif (self.end - created).days >= 2:
                row["status"] = LeadStatus.QUALIFIED if converts and self.rng.random() < 0.5 else LeadStatus.WORKING
                row["updated_at"] = self._ts(min(self.end - timedelta(hours=1), created + timedelta(days=2)))
                if row["status"] == LeadStatus.QUALIFIED:
                    row["qualified_at"] = row["updated_at"]
            self._lead_touches(lead, company, created, decided if known else self.end, converts if known else None)
            self._first_contact_task(lead, company, created, known)
        return converted

    def _lead_touches(
        self, lead: int, company: _Company, created: datetime, until: datetime, converted: bool | None
    ) -> None:
        row = self.leads[lead]
        slots = Slots(
            company=company.name,
            industry=company.industry,
            contact=row["name"],
            contact_title=row["title"],
            rep=self.users[row["_owner"]]["name"],
            manager=self.users[self.users[row["_owner"]]["_manager"]]["name"],
        )
        source = row["source"]
        first_topic = (
            "lead_web_form"
            if source in ("web", "paid_ads", "webinar")
            else "lead_event"
            if source == "event"
            else "intro_out"
        )
        touches: list[tuple[str, str, datetime]] = []
        if self.rng.random() < 0.4:
            touches.append((first_topic, "neu", created))
        span = (until - created).total_seconds()

        def later(lo: float, hi: float) -> datetime:
            return self._ts(created + timedelta(seconds=span * self.rng.uniform(lo, hi)))

        if converted is True and self.rng.random() < 0.6:
            touches.append(("lead_reply_pos", "pos", later(0.3, 0.95)))
        elif converted is False:
            if self.rng.random() < 0.25:
                touches.append(("lead_follow_up", "neu", later(0.2, 0.6)))
            if self.rng.random() < 0.12:
                touches.append(("lead_reply_neg", "neg", later(0.6, 0.95)))
        elif converted is None and self.rng.random() < 0.3:
            touches.append(("lead_follow_up", "neu", later(0.1, 0.9)))
        for topic, tone, at in touches:
            if at >= self.end:
                continue
            self._interaction(topic, tone, slots, at, user=row["_owner"], lead=lead, account=row["_account"])

    def _first_contact_task(self, lead: int, company: _Company, created: datetime, known: bool) -> None:
        row = self.leads[lead]
        recent = (self.end - created).days < 2
        open_task = not known and (recent or self.rng.random() < 0.05)
        done_at = self._ts(created + timedelta(hours=self.rng.uniform(0.5, 30)))
        if done_at >= self.end:
            open_task = True
        self.tasks.append(
            {
                "title": f"First contact with {row['name']} ({company.name})",
                "kind": FIRST_CONTACT,
                "due_date": add_business_days(created.date(), 1),
                "_owner": row["_owner"],
                "_deal": None,
                "_lead": lead,
                "_account": row["_account"],
                "status": TaskStatus.OPEN if open_task else TaskStatus.DONE,
                "created_at": created,
                "completed_at": None if open_task else done_at,
            }
        )

    def _interaction(
        self,
        topic: str,
        tone: str,
        slots: Slots,
        at: datetime,
        *,
        user: int,
        lead: int | None = None,
        deal: int | None = None,
        contact: int | None = None,
        account: int | None = None,
    ) -> None:
        channel, direction, email = self.rng.choice(_TOPIC_CHANNELS[topic])
        subject, body = self.text.topic(topic, tone, slots, email=email, inbound=direction == Direction.INBOUND)
        if subject is None and channel in _NOTE_SUBJECT:
            subject = f"{_NOTE_SUBJECT[channel]}: {slots.company}"
        self.interactions.append(
            {
                "_deal": deal,
                "_lead": lead,
                "_contact": contact,
                "_account": account,
                "_user": user,
                "channel": str(channel),
                "direction": str(direction),
                "subject": subject,
                "body": body,
                "occurred_at": self._ts(at),
                "sentiment": None,
                "indexed_at": None,
                "created_at": self._ts(at),
                "updated_at": self._ts(at),
            }
        )

    # -- deals ------------------------------------------------------------------------------------------------

    def _wait(self, frm: str, to: str, band: str) -> timedelta:
        machine = DEFAULT_MACHINE
        if to == machine.lost_stage:
            median = _WAIT_TO_LOST
        elif to in machine.open_stages and machine.order(to) < machine.order(frm):
            median = _WAIT_STEP_BACK
        else:
            median = _WAIT_FORWARD[frm]
        if band == "enterprise":
            median *= PLANTED.slow_factor if (frm, to) == PLANTED.slow_transition else _ENTERPRISE_SLOWER
        return timedelta(days=self._lognormal(median, _WAIT_SIGMA))

    def _plan_deal(
        self,
        *,
        company: _Company,
        owner: int,
        contact: int,
        lead: int | None,
        source: str,
        created: datetime,
        stalled_in: str | None = None,
    ) -> _DealPlan:
        assert company.account is not None
        account_band = self.accounts[company.account]["size_band"]
        amount = round(self._lognormal(_AMOUNT_MEDIAN[account_band], _AMOUNT_SIGMA), -2)
        band = deal_size_band(amount)
        product = self.rng.choice(PRODUCTS_BY_BAND[band])
        stages = DEFAULT_MACHINE.open_stages
        won_stage, lost_stage = DEFAULT_MACHINE.won_stage, DEFAULT_MACHINE.lost_stage
        if stalled_in is not None:
            moves = [(stages[i], stages[i + 1]) for i in range(stages.index(stalled_in))]
            waits = [self._wait(f, t, band) for f, t in moves]
            entered = self.end - timedelta(
                days=(DEFAULT_MACHINE.stall_limit(stalled_in) or 30) + self.rng.uniform(9, 40)
            )
            created = self._ts(entered - sum(waits, timedelta()))
            changes: list[tuple[str | None, str, datetime]] = [(None, stages[0], created)]
            at = created
            for (f, t), wait in zip(moves, waits, strict=True):
                at = self._ts(at + wait)
                changes.append((f, t, at))
            return _DealPlan(
                0,
                company.account,
                company,
                owner,
                contact,
                lead,
                source,
                amount,
                product,
                created,
                changes,
                won=False,
                loss_reason=None,
                stalled=True,
            )

        chance = _WIN_BASE[band] * (_WIN_EXPANSION if source == "expansion" else _WIN_SOURCE.get(source, 1.0))
        if self.users[owner]["email"] == PLANTED.low_converting_rep_email:
            chance *= PLANTED.low_rep_win_factor
        won = self.rng.random() < min(chance, 0.9)
        final = len(stages) - 1 if won else self.rng.choices(range(len(stages)), weights=_LOSS_STAGE_WEIGHTS)[0]
        moves = []
        current, reworks = 0, 0
        while current < final:
            moves.append((stages[current], stages[current + 1]))
            current += 1
            if current >= 2 and reworks < _MAX_REWORKS and self.rng.random() < _REWORK_CHANCE:
                moves += [(stages[current], stages[current - 1]), (stages[current - 1], stages[current])]
                reworks += 1
        moves.append((stages[current], won_stage if won else lost_stage))
        changes = [(None, stages[0], created)]
        at = created
        for f, t in moves:
            at = self._ts(at + self._wait(f, t, band))
            if at >= self.end:
                break  # still open at the anchor
            changes.append((f, t, at))
        reason = self.text.loss_reason() if changes[-1][1] == lost_stage else None
        return _DealPlan(
            0,
            company.account,
            company,
            owner,
            contact,
            lead,
            source,
            amount,
            product,
            created,
            changes,
            won=changes[-1][1] == won_stage,
            loss_reason=reason,
        )

    def build_deals(self, converted: list[tuple[int, datetime]]) -> None:
        plans: list[_DealPlan] = []
        for lead, at in converted:
            row = self.leads[lead]
            company = next(c for c in self.companies if c.account == row["_account"])
            created = self._ts(min(at + timedelta(hours=self.rng.uniform(1, 48)), self.end - timedelta(hours=2)))
            plans.append(
                self._plan_deal(
                    company=company,
                    owner=row["_owner"],
                    contact=row["_contact"],
                    lead=lead,
                    source=row["source"],
                    created=created,
                )
            )
        # Expansion deals on existing accounts make up the rest, spread over the year.
        contacts_by_account: dict[int, list[int]] = {}
        for index, contact_row in enumerate(self.contacts):
            contacts_by_account.setdefault(contact_row["_account"], []).append(index)
        # The stalled deals belong to reps who were there before they started, the tour's rep among them.
        six_months_ago = self.anchor - timedelta(days=183)
        experienced = [
            i for r in _REGIONS for i in self.rep_indices[r] if self.users[i]["started_at"] <= six_months_ago
        ]
        tour_rep = next(i for i in experienced if self.users[i]["email"] == DEMO_REP_EMAIL)
        stalled_owners = [tour_rep, *self.rng.sample([i for i in experienced if i != tour_rep], 5)]
        stalled_stages = ("Qualified", "Discovery", "Proposal", "Negotiation", "Proposal", "Discovery")
        for owner, stage in zip(stalled_owners, stalled_stages, strict=True):
            # on one of the rep's own accounts when they have one, so they can see all of it
            own = [c for c in self.listed if c.account is not None and self.accounts[c.account]["_owner"] == owner]
            region = [c for c in self.listed if c.region == self.users[owner]["region"]]
            company = self.rng.choice(own or region)
            assert company.account is not None
            if own:
                contact = self.rng.choice(contacts_by_account[company.account])
            else:
                contact = self._make_contact(company, self.start, owner=owner)
            plans.append(
                self._plan_deal(
                    company=company,
                    owner=owner,
                    contact=contact,
                    lead=None,
                    source="expansion",
                    created=self.end,
                    stalled_in=stage,
                )
            )
        while len(plans) < _DEALS:
            company = self.rng.choice(self.listed)
            assert company.account is not None
            created = self._ts(self._work_time(self.start + timedelta(days=self.rng.uniform(0, HISTORY_DAYS - 1))))
            owners = self._active_reps(company.region, created)
            account_owner = self.accounts[company.account]["_owner"]
            owner = account_owner if account_owner in owners else self.rng.choice(owners)
            contact = self.rng.choice(contacts_by_account[company.account])
            plans.append(
                self._plan_deal(
                    company=company, owner=owner, contact=contact, lead=None, source="expansion", created=created
                )
            )
        plans.sort(key=lambda p: (p.created_at, p.company.name))
        for index, plan in enumerate(plans):
            plan.index = index
            self._deal_rows(plan)
        self.plans = plans

    def _deal_rows(self, plan: _DealPlan) -> None:
        machine = DEFAULT_MACHINE
        deal = plan.index
        company, owner = plan.company, plan.owner
        contact = self.contacts[plan.contact]
        name = f"{company.name} - {plan.product}" + (" (expansion)" if plan.source == "expansion" else "")
        closed_at = plan.changes[-1][2] if not plan.is_open else None
        band = plan.band
        if plan.is_open:
            remaining = sum(_WAIT_FORWARD[s] for s in machine.open_stages[machine.open_stages.index(plan.stage) :]) * (
                _ENTERPRISE_SLOWER if band == "enterprise" else 1.0
            )
            days_left = 7 if plan.stalled else 0
            expected = self.anchor + timedelta(days=max(7, round(remaining * self.rng.uniform(0.8, 1.6)) + days_left))
        elif plan.won:
            assert closed_at is not None
            expected = closed_at.date() + timedelta(days=self.rng.randint(-21, 14))
        else:
            cycle = sum(_WAIT_FORWARD.values()) * self.rng.uniform(1.0, 1.6)
            expected = plan.created_at.date() + timedelta(days=round(cycle))
        slots = Slots(
            company=company.name,
            industry=company.industry,
            contact=contact["name"],
            contact_title=contact["title"],
            rep=self.users[owner]["name"],
            manager=self.users[self.users[owner]["_manager"]]["name"],
            product=plan.product,
            amount=_money(plan.amount),
            loss_reason=plan.loss_reason or "",
        )
        for frm, to, at in plan.changes:
            self.stage_changes.append(
                {"_deal": deal, "from_stage": frm, "to_stage": to, "changed_at": at, "_changed_by": owner}
            )
        last_activity = self._deal_activity(plan, slots)
        self.deals.append(
            {
                "external_id": f"DEMO-D{deal + 1:05d}",
                "name": name,
                "_account": plan.account,
                "_owner": owner,
                "_lead": plan.lead,
                "product": plan.product,
                "amount": Decimal(f"{plan.amount:.2f}"),
                "currency": "USD",
                "stage": plan.stage,
                "stage_entered_at": plan.changes[-1][2],
                "expected_close_date": expected,
                "probability": None if plan.is_open else (1.0 if plan.won else 0.0),
                "loss_reason": plan.loss_reason,
                "created_at": plan.created_at,
                "updated_at": max(plan.changes[-1][2], last_activity),
                "closed_at": closed_at,
            }
        )
        self._deal_tasks(plan, name, expected, contact["name"])

    def _tone(self, plan: _DealPlan, at: datetime, last: datetime) -> str:
        """Tone drifts with how the deal ends: warmer towards a win, colder towards a loss."""
        bias = 0.45 if plan.won else -0.45 if not plan.is_open else -0.25 if plan.stalled else 0.05
        span = max((last - plan.created_at).total_seconds(), 1.0)
        drift = bias * (0.4 + 0.6 * (at - plan.created_at).total_seconds() / span)
        roll = self.rng.random()
        if roll < max(0.05, 0.3 + 0.5 * drift):
            return "pos"
        if roll > 1 - max(0.05, 0.15 - 0.5 * drift):
            return "neg"
        return "neu"

    def _deal_activity(self, plan: _DealPlan, slots: Slots) -> datetime:
        """Interactions along the deal's history; returns the time of the last one."""
        machine = DEFAULT_MACHINE
        deal_touch = {"deal": plan.index, "contact": plan.contact, "account": plan.account, "user": plan.owner}
        events: list[tuple[str, str, datetime]] = []
        last = plan.changes[-1][2] if not plan.is_open else self.end
        proposal_sent = False
        for i, (frm, stage, entered) in enumerate(plan.changes):
            if frm is not None and stage in machine.open_stages and machine.order(stage) < machine.order(frm):
                events.append(("rework", "neu", entered))
            if stage == machine.won_stage:
                events.append(("won", "pos", entered + timedelta(hours=self.rng.uniform(0.2, 3))))
                if self.rng.random() < 0.6:
                    events.append(("won_slack", "pos", entered + timedelta(hours=self.rng.uniform(0.5, 5))))
                continue
            if stage == machine.lost_stage:
                events.append(("lost", "neg", entered + timedelta(minutes=self.rng.uniform(5, 120))))
                if self.rng.random() < 0.5:
                    events.append(("lost_email", "neg", entered - timedelta(hours=self.rng.uniform(1, 20))))
                continue
            until = plan.changes[i + 1][2] if i + 1 < len(plan.changes) else self.end
            current = i + 1 == len(plan.changes)
            if current and plan.stalled:
                # One last touch soon after entering the stage, then silence: the planted stall.
                events.append(("stall_note", "neu", entered + timedelta(days=self.rng.uniform(0.1, 3))))
                continue
            if stage == "Proposal" and not proposal_sent:
                events.append(("proposal_sent", "neu", entered + timedelta(hours=self.rng.uniform(1, 30))))
                proposal_sent = True
            days = (until - entered).total_seconds() / 86400
            count = min(3, self._poisson(0.4 + days / 12))
            for _ in range(count):
                at = entered + timedelta(seconds=(until - entered).total_seconds() * self.rng.uniform(0.05, 0.95))
                topic = self.rng.choice(_STAGE_TOPICS[stage])
                if topic == "champion_change" and plan.won:
                    topic = "check_in"
                events.append((topic, self._tone(plan, at, last), at))
            if not plan.won and not plan.is_open and stage in ("Discovery", "Proposal") and self.rng.random() < 0.1:
                # champions leaving is a classic reason deals die
                at = entered + timedelta(seconds=(until - entered).total_seconds() * self.rng.uniform(0.1, 0.9))
                events.append(("champion_change", "neg", at))
            if stage == "Negotiation" and plan.won and self.rng.random() < 0.5:
                events.append(("verbal_commit", "pos", until - timedelta(days=self.rng.uniform(0.5, 3))))
            if current:
                # A live deal: somebody touched it in the last days, so only the planted deals are stalled.
                recent = self.end - timedelta(days=self.rng.uniform(0.2, _RECENT_TOUCH_DAYS))
                events.append(("check_in", self._tone(plan, recent, last), max(recent, entered)))
        latest = plan.created_at
        for topic, tone, at in events:
            when = self._ts(max(at, plan.created_at))
            if when >= self.end:
                continue
            latest = max(latest, when)
            self._interaction(topic, tone, slots, when, **deal_touch)
        return latest

    def _deal_tasks(self, plan: _DealPlan, name: str, expected: date, contact_name: str) -> None:
        machine = DEFAULT_MACHINE
        base = {"_owner": plan.owner, "_deal": plan.index, "_lead": None, "_account": plan.account}
        reached_discovery = any(
            machine.order(t) >= machine.order("Discovery") and t != machine.lost_stage for _, t, _ in plan.changes
        )
        closed_at = plan.changes[-1][2] if not plan.is_open else None
        cap = closed_at or self.end - timedelta(hours=1)

        def done(at: datetime) -> dict[str, Any]:
            return {"status": TaskStatus.DONE, "completed_at": self._ts(max(plan.created_at, min(at, cap)))}

        meeting_due = plan.created_at.date() + timedelta(days=10)
        if reached_discovery:
            meeting = done(plan.created_at + timedelta(days=self.rng.uniform(1, 9)))
        elif closed_at is not None:
            meeting = {"status": TaskStatus.CANCELLED, "completed_at": None}
        else:
            meeting = {"status": TaskStatus.OPEN, "completed_at": None}
        self.tasks.append(
            {
                **base,
                "title": f"Hold a discovery meeting for {name}",
                "kind": MEETING,
                "due_date": meeting_due,
                "created_at": plan.created_at,
                **meeting,
            }
        )
        close_due = max(expected - timedelta(days=30), plan.created_at.date())
        due_at = datetime.combine(close_due, time(15), tzinfo=UTC)
        if closed_at is not None:
            close = done(due_at) if plan.won or closed_at >= due_at else {"status": TaskStatus.CANCELLED}
        elif close_due < self.anchor and self.rng.random() < 0.7:
            close = done(due_at)
        else:
            close = {"status": TaskStatus.OPEN}
        self.tasks.append(
            {
                **base,
                "title": f"Write the close plan for {name} (expected close {expected.isoformat()})",
                "kind": CLOSE_PLAN,
                "due_date": close_due,
                "created_at": plan.created_at,
                "completed_at": None,
                **close,
            }
        )
        if plan.stalled:
            since = plan.changes[-1][2].date().isoformat()
            self.tasks.append(
                {
                    **base,
                    "title": f"Re-engage {contact_name} at {plan.company.name}: no activity since {since}",
                    "kind": "follow_up",
                    "due_date": self.anchor - timedelta(days=self.rng.randint(1, 10)),
                    "created_at": self._ts(plan.changes[-1][2] + timedelta(days=7)),
                    "status": TaskStatus.OPEN,
                    "completed_at": None,
                }
            )
        elif plan.is_open and self.rng.random() < 0.6:
            topic = self.rng.choice(("the proposal", "pricing", "the security review", "next steps", "the trial"))
            self.tasks.append(
                {
                    **base,
                    "title": f"Follow up with {contact_name} on {topic}",
                    "kind": "follow_up",
                    "due_date": self.anchor + timedelta(days=self.rng.randint(-3, 14)),
                    "created_at": self._ts(self.end - timedelta(days=self.rng.uniform(1, 6))),
                    "status": TaskStatus.OPEN,
                    "completed_at": None,
                }
            )

    def build(self) -> None:
        self.build_users()
        self.build_accounts()
        converted = self.build_leads()
        self.build_deals(converted)
        self.interactions.sort(key=lambda row: row["occurred_at"])
        self.tasks.sort(key=lambda row: row["created_at"])


# --- writing to the store --------------------------------------------------------------------------------------


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _resolve(rows: list[dict[str, Any]], refs: dict[str, tuple[str, list[int]]]) -> list[dict[str, Any]]:
    """Replace the builder's ``_name`` index references with database ids (``refs``: key -> (column, ids))."""
    resolved = []
    for row in rows:
        out = {k: v for k, v in row.items() if not k.startswith("_")}
        for key, (column, ids) in refs.items():
            index = row.get(key)
            out[column] = None if index is None else ids[index]
        resolved.append(out)
    return resolved


def _insert(conn: Connection, model: type[SQLModel], rows: list[dict[str, Any]], *, ids: bool = True) -> list[int]:
    if not rows:
        return []
    table = _table(model)
    if not ids:
        conn.execute(insert(table), rows)
        return []
    # insertmanyvalues with RETURNING in parameter order: bulk speed and the new ids, on SQLite and PostgreSQL.
    result = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars().all()]


def wipe_store(session: Session) -> None:
    """Delete every row of every table (children first) in the session's transaction."""
    conn = session.connection()
    for table in reversed(SQLModel.metadata.sorted_tables):
        conn.execute(table.delete())


def seed_demo(
    session: Session,
    *,
    seed: int = DEFAULT_SEED,
    anchor: date | None = None,
    reset: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Write the demo company into an empty store (or wipe it first with ``reset``) and return what was written.

    Deterministic for a given ``seed`` and ``anchor`` (default: today, UTC). Writes one audit event for the whole
    seed. Raises ``WorkspaceNotEmpty`` if the store has users and ``reset`` is false; nothing is changed then.
    """
    step = on_step or (lambda _name: None)
    anchor = anchor or datetime.now(UTC).date()
    users = session.exec(select(func.count()).select_from(User)).one()
    if users and not reset:
        raise WorkspaceNotEmpty(
            f"this store already has {users} user(s); the demo company only goes into an empty store. "
            "Use `salesgraph seed --demo --reset` to delete ALL existing data first, or point SALESGRAPH_HOME "
            "(or SALESGRAPH_DATABASE_URL) at a fresh workspace."
        )
    if not reset and workspace_machine(session) != DEFAULT_MACHINE:
        raise WorkspaceNotEmpty(
            f"this workspace has its own deal stages ({', '.join(workspace_machine(session).stages)}); the demo "
            "company uses the built-in ones: `salesgraph stages set mappings/default/stages.yaml` first, or seed "
            "with --reset"
        )
    if reset:
        step("wiping the store")
        wipe_store(session)

    step("generating the demo company")
    b = _DemoBuilder(seed, anchor)
    b.build()

    step("writing users, accounts and contacts")
    conn = session.connection()
    top = [u for u in b.users if u["_manager"] is None]
    user_ids = _insert(conn, User, _resolve(top, {}))
    by_index = dict(zip([i for i, u in enumerate(b.users) if u["_manager"] is None], user_ids, strict=True))
    reports = [(i, u) for i, u in enumerate(b.users) if u["_manager"] is not None]
    report_rows = [
        {**{k: v for k, v in u.items() if k != "_manager"}, "manager_id": by_index[u["_manager"]]} for _, u in reports
    ]
    by_index.update(zip([i for i, _ in reports], _insert(conn, User, report_rows), strict=True))
    uid = [by_index[i] for i in range(len(b.users))]
    account_ids = _insert(conn, Account, _resolve(b.accounts, {"_owner": ("owner_id", uid)}))
    contact_ids = _insert(
        conn, Contact, _resolve(b.contacts, {"_account": ("account_id", account_ids), "_owner": ("owner_id", uid)})
    )
    step("writing leads and deals")
    lead_ids = _insert(
        conn,
        Lead,
        _resolve(
            b.leads,
            {
                "_owner": ("owner_id", uid),
                "_account": ("account_id", account_ids),
                "_contact": ("contact_id", contact_ids),
            },
        ),
    )
    deal_ids = _insert(
        conn,
        Deal,
        _resolve(
            b.deals,
            {"_account": ("account_id", account_ids), "_owner": ("owner_id", uid), "_lead": ("lead_id", lead_ids)},
        ),
    )
    _insert(
        conn,
        StageChange,
        _resolve(b.stage_changes, {"_deal": ("deal_id", deal_ids), "_changed_by": ("changed_by_id", uid)}),
        ids=False,
    )
    step("writing interactions and tasks")
    common = {"_deal": ("deal_id", deal_ids), "_lead": ("lead_id", lead_ids), "_account": ("account_id", account_ids)}
    _insert(
        conn,
        Interaction,
        _resolve(b.interactions, {**common, "_contact": ("contact_id", contact_ids), "_user": ("user_id", uid)}),
        ids=False,
    )
    _insert(conn, Task, _resolve(b.tasks, {**common, "_owner": ("owner_id", uid)}), ids=False)

    counts = {
        "users": len(b.users),
        "accounts": len(b.accounts),
        "contacts": len(b.contacts),
        "leads": len(b.leads),
        "deals": len(b.deals),
        "stage_changes": len(b.stage_changes),
        "interactions": len(b.interactions),
        "tasks": len(b.tasks),
    }
    stalled = tuple(deal_ids[p.index] for p in b.plans if p.stalled)
    event = record_event(
        session,
        actor_id=None,
        actor=SYSTEM_ACTOR,
        action=SEED_ACTION,
        record_type="workspace",
        record_id=None,
        after={"seed": seed, "anchor": anchor.isoformat(), "reset": reset, "counts": counts},
    )
    assert event.id is not None
    demo_users = tuple(DemoUser(u["email"], u["name"], u["role"], u["team"], u["region"]) for u in b.users)
    return DemoSummary(seed, anchor, counts, demo_users, stalled, event.id)


def seeded_demo(session: Session) -> tuple[int, date] | None:
    """(seed, anchor) of the demo company in this store, from its ``seed_demo`` audit event; None if not seeded.

    Analytics, evals and the tour use the anchor as "today" for the planted stalls: a week after the anchor more
    open deals will have gone quiet on their own.
    """
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == SEED_ACTION).order_by(col(AuditEvent.id).desc())
    ).first()
    if event is None or not event.after:
        return None
    return int(event.after["seed"]), date.fromisoformat(str(event.after["anchor"]))


# --- the automation, run once: one rule firing, one sequence email waiting, stalled deals' owners told -----------

DEMO_RULES_FILE = Path(__file__).with_name("demo_rules.yaml")
DEMO_WEB_LEAD = {
    "name": "Iris Okafor",
    "email": "iris.okafor@harborview-foods.example",
    "company": "Harborview Foods",
    "title": "Operations Director",
    "source": "Web",
    "industry": "Hospitality",
    "region": "Americas",
}


@dataclass(frozen=True)
class DemoAutomation:
    """What one automation pass did on the demo company, with the receipts to show for it."""

    rules_receipt_id: int | None
    lead_id: int
    lead_receipt_id: int
    firings: tuple[tuple[str, int, int], ...]
    """(rule, event id, fire_rule receipt id)."""
    waiting: tuple[tuple[int, int, str, str], ...]
    """Sequence emails waiting for a person: (approval id, message id, to, subject)."""
    notified: tuple[tuple[int, str, str, str, int, int | None], ...]
    """Stalled deals whose owner was told: (deal id, deal name, stage, owner name, notification id, receipt id)."""
    report: str


def run_demo_automation(engine: Engine, delivery: Any, *, now: datetime | None = None) -> DemoAutomation:
    """Set the demo's rules (as the demo manager), capture a web lead (as the demo rep), then run the automation
    once as the scheduler does: the stalled deals' owners are notified, the rule fires on the new lead and its
    nurture sequence's first email is drafted and waits for approval."""
    from sales.automation import read_rules_file, set_rule_set, tick
    from sales.leads import LeadInput, create_lead
    from sales.permissions import load_actor
    from store.db import session_scope
    from store.models import Approval, Notification, OutboundMessage, SequenceMessage

    with session_scope(engine) as s:
        manager = load_actor(s, DEMO_MANAGER_EMAIL)
        rules = set_rule_set(s, manager, read_rules_file(DEMO_RULES_FILE))
    with session_scope(engine) as s:
        rep = load_actor(s, DEMO_REP_EMAIL)
        created = create_lead(s, rep, LeadInput(**DEMO_WEB_LEAD))
        assert created.lead.id is not None
        lead_id, lead_receipt = created.lead.id, created.receipt_id
    with session_scope(engine, read_only=True) as s:
        first_note = s.exec(select(func.max(Notification.id))).one() or 0
    tick_report = tick(engine, delivery, now=now)
    with session_scope(engine, read_only=True) as s:
        waiting = s.exec(
            select(Approval.id, OutboundMessage.id, OutboundMessage.to_address, OutboundMessage.subject)
            .join(OutboundMessage, col(OutboundMessage.approval_id) == col(Approval.id))
            .join(SequenceMessage, col(SequenceMessage.message_id) == col(OutboundMessage.id))
            .where(Approval.status == "pending")
            .order_by(col(Approval.id))
        ).all()
        notes = s.exec(
            select(Notification, Deal, User)
            .join(Deal, col(Deal.id) == col(Notification.record_id))
            .join(User, col(User.id) == col(Notification.user_id))
            .where(col(Notification.id) > first_note, Notification.kind == "deal_stalled")
            .order_by(col(Notification.id))
        ).all()
        notified = tuple((d.id or 0, d.name, d.stage, u.name, n.id or 0, n.receipt_id) for n, d, u in notes)
    return DemoAutomation(
        rules_receipt_id=rules.receipt_id,
        lead_id=lead_id,
        lead_receipt_id=lead_receipt,
        firings=tuple(tick_report.outbox.firings),
        waiting=tuple((a or 0, m or 0, to, subject) for a, m, to, subject in waiting),
        notified=notified,
        report=tick_report.describe(),
    )
