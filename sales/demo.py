"""The demo company behind ``salesgraph seed --demo``: a deterministic year of sales history with known, planted effects.

What it writes (for a seed and an anchor date; history covers the 365 days before the anchor, all of it
strictly before the anchor date's midnight UTC):

* Users: one admin, two managers (teams/regions "Americas" and "EMEA"), eight reps with clearly different
  tenures (``started_at`` from two months to four years before the anchor) and Slack user ids.
* About 150 accounts (fictional companies on ``.example`` domains so nothing real is ever emailed), with
  industry, employees, size band, region, and contacts with titles, valid emails and E.164 phones.
* About 2,000 leads with source, title, industry, region and ``attributes`` (``employees``, ``page_views``,
  ``email_opens``, ``webinar_attended``, ``seniority``, ``company_fit``); older leads have a known
  ``outcome`` (converted / lost) that really depends on those features plus noise, so a scoring model can
  learn it (AUC around 0.8, not 1.0). ``status``, ``qualified_at``, ``account_id`` and ``contact_id`` are
  consequences of the outcome (conversion links the lead to an account and a contact): don't use them as features.
* About 600 deals with log-normal amounts, products, expected close dates and a full stage history in
  ``stage_changes`` (first row from ``None`` to Prospecting) that only makes moves ``DEFAULT_MACHINE`` allows:
  forward one stage, rework step-backs, losses from any open stage with a loss reason, wins from
  Negotiation. A deal's ``stage``, ``stage_entered_at``, ``created_at`` and ``closed_at`` agree with its
  history. Deals still open at the anchor form a live pipeline with future expected close dates.
* About 5,000 interactions (emails in and out, call and meeting notes, Slack notes) written from many
  templates: pricing, named competitors, security reviews, budget approval, legal redlines, champion changes,
  scheduling; tone follows how the deal went. ``sentiment`` and ``indexed_at`` are left NULL.
* Tasks from the playbook (first contact, meeting, close plan) and follow-ups, open and done.
* One audit event, action ``seed_demo``, whose ``after`` holds the counts, the seed and the anchor.

Planted effects (``PLANTED``), which analytics must find again:

* Proposal → Negotiation takes ``slow_factor`` times longer (median) for enterprise deals
  (``sales.segments.deal_size_band`` of the amount) than for the other size bands; the other transitions
  of enterprise deals are only a little slower.
* One rep (``low_converting_rep_email``) wins about half as often as the others on the same mix of deals.
* ``stalled_deal_count`` open deals have had no stage change and no interaction for longer than their
  stage's ``DEFAULT_MACHINE.stall_limit_days`` at the anchor; every other open deal had activity in the
  last two weeks, so the stalled ones are exactly the deals the stall rule flags at the anchor. Their ids
  are in ``DemoSummary.stalled_deal_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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
    slow_factor: float = 3.0
    low_converting_rep_email: str = f"jordan.blake@{DEMO_DOMAIN}"
    # the low rep's chance of winning a deal, relative to the other reps on the same kind of deal
    low_rep_win_factor: float = 0.45
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
