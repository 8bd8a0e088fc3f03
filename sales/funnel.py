"""Funnel metrics: how leads become deals and how much selling time a won dollar takes, over visible records.

Each metric is one ``PipelineQuery`` metric (``sales.pipeline_query`` hands them here) with the same owner, team,
period and grouping filters. Definitions (the README's "Funnel metrics" says the same):

* ``funnel_conversion``: the leads created in the period, followed down the funnel. One row per step: lead →
  qualified lead (``qualified_at`` set, status qualified or converted, or a deal opened from it), qualified lead
  → deal (a deal whose ``lead_id`` is the lead), then each step of the workspace's deal path (its open stages,
  then Won): of the leads whose deal reached a stage, the share whose deal reached the next one. A deal reached a
  stage when it entered it or any stage further along the path (``stage_changes``, else its current stage), so a
  deal created part-way still counts for the stages it skipped; Lost is not a step. Two overall rows follow,
  lead → deal and lead → won; the total is lead → deal.
* ``lead_to_deal``: the share of the leads created in the period with a deal opened from them.
* ``time_to_first_touch``: days from a lead's creation to its first touch, averaged over the leads with one. A
  touch is a logged call, meeting or outbound email on the lead, at or after its creation; notes, Slack notes and
  inbound messages are not. Leads with no touch yet are left out of the average and counted in the notes.
* ``first_reply_rate``: of the leads created in the period that were sent an email (an outbound email logged on
  the lead), the share that answered the first one: an inbound email on the lead after the first outbound email
  and before the second.
* ``reply_interest_rate``: of the leads created in the period that wrote to us (an inbound email on the lead),
  the share whose first such email was followed by progress: the lead was qualified at or after it, a deal was
  opened from it at or after it, or the email's sentiment (VADER compound, when scored) is above +0.05.
* ``revenue_per_closer_hour``: won revenue (amounts of won deals closed in the period, per currency, by the
  people in scope: everyone the actor may see, or the owner or team asked about) divided by the same people's
  selling hours: the calls, meetings and outbound emails they logged on deals in the period, so time spent on
  deals that were lost counts too (a rep with hours and no wins is at 0 per hour). Interactions carry no duration,
  so each counts a standard length (``TOUCH_HOURS``: a call 30 minutes, a meeting an hour, an outbound email 15
  minutes). A rep with won revenue but no logged hours has no value (said why).

Lead metrics count a lead once, under its owner; they see the leads (and deals) the actor may see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from sales.errors import InvalidInput
from sales.leads import lead_source_is
from sales.permissions import Actor, team_member_ids
from sales.pipeline_query import whose_records
from sales.query_terms import FunnelMetric
from sales.stages import StageMachine
from store.models import Deal, Interaction, Lead, LeadStatus, StageChange, User

LEAD_METRICS: tuple[str, ...] = (
    "funnel_conversion",
    "lead_to_deal",
    "time_to_first_touch",
    "first_reply_rate",
    "reply_interest_rate",
)
FUNNEL_METRICS: tuple[str, ...] = (*LEAD_METRICS, "revenue_per_closer_hour")
LEAD_GROUPS = ("owner", "team", "region", "industry", "source", "month", "quarter")
CLOSER_GROUPS = ("owner", "team")
TOUCH_HOURS: dict[str, float] = {"call": 0.5, "meeting": 1.0, "email": 0.25}
"""Standard length of a touch in hours (interactions have no duration field); an email counts only outbound."""
POSITIVE_SENTIMENT = 0.05
"""VADER's compound score above which a text reads as positive (its authors' threshold)."""
QUALIFIED_STATUSES = (LeadStatus.QUALIFIED.value, LeadStatus.CONVERTED.value)

COUNTED = {
    "funnel_conversion": "leads",
    "lead_to_deal": "leads",
    "time_to_first_touch": "leads touched",
    "first_reply_rate": "leads emailed",
    "reply_interest_rate": "leads that replied",
    "revenue_per_closer_hour": "won deals",
}
"""What a row's count counts, per metric (the pipeline's own metrics count deals)."""


Row = tuple[dict[str, str | None], float | None, int, str | None]
"""A result row: (group, value, how many it counts, currency for revenue)."""


@dataclass
class FunnelResult:
    """A funnel metric's rows before they become a ``PipelineAnswer``: ``(group, value, n, currency)``."""

    rows: list[Row]
    total: tuple[float | None, int, str | None]
    truncated: bool
    filters: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    totals_by_currency: list[tuple[float | None, int, str]] = field(default_factory=list)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_filters(query: Any, allowed_groups: tuple[str, ...], what: str) -> None:
    """Refuse what a funnel metric cannot honour (a filter on deal fields, an unknown grouping), never ignore it."""
    problems: dict[str, str] = {}
    bad = [g for g in query.group_by if g not in allowed_groups]
    if bad:
        problems["group_by"] = f"{what} can be grouped by {', '.join(allowed_groups)}, not {', '.join(bad)}"
    deal_only = {
        "stage": query.stage,
        "product": query.product,
        "account": query.account,
        "amount_min": query.amount_min,
        "amount_max": query.amount_max,
    }
    if query.metric == "revenue_per_closer_hour":
        deal_only |= {"industry": query.industry, "region": query.region, "source": getattr(query, "source", None)}
    for name, value in deal_only.items():
        if value is not None and value != "":
            problems[name] = f"{what} cannot be filtered by {name.replace('_', ' ')}"
    if query.date_field == "expected_close":
        problems["date_field"] = f"{what} has no expected close date; its period is {_period_date(query.metric)}"
    if query.metric in LEAD_METRICS and query.status not in ("all", None):
        problems["status"] = f"{what} is over leads, so a deal status ({query.status}) does not apply"
    if query.metric == "revenue_per_closer_hour" and query.status not in ("all", "won", None):
        problems["status"] = "revenue per closer hour is over won deals only"
    if problems:
        raise InvalidInput(problems)


def _period_date(metric: str) -> str:
    if metric == "revenue_per_closer_hour":
        return "the won deals' close date and the activity's date"
    return "the lead's creation date"


# -- lead metrics --------------------------------------------------------------------------------------------


@dataclass
class _LeadFacts:
    groups: dict[str, str | None]
    created_at: datetime
    qualified: bool
    qualified_at: datetime | None
    first_touch_at: datetime | None = None
    outbound: list[datetime] = field(default_factory=list)
    inbound: list[tuple[datetime, float | None]] = field(default_factory=list)
    deal_created_at: datetime | None = None
    reached: int = -1
    """The furthest position on the deal path any of its deals reached (-1: no deal)."""


def _is_touch() -> ColumnElement[bool]:
    return or_(
        col(Interaction.channel).in_(["call", "meeting"]),
        and_(col(Interaction.channel) == "email", col(Interaction.direction) == "outbound"),
    )


def _lead_facts(
    session: Session, actor: Actor, query: Any, machine: StageMachine, filters: dict[str, Any]
) -> dict[int, _LeadFacts]:
    owner = aliased(User, name="owner")
    manager = aliased(User, name="manager")
    group_exprs: dict[str, Any] = {
        "owner": col(owner.name),
        "team": func.coalesce(owner.team, manager.name, owner.name),
        "region": func.coalesce(Lead.region, owner.region),
        "industry": col(Lead.industry),
        "source": col(Lead.source),
    }
    conditions: list[ColumnElement[bool]] = []
    visible = actor.owner_filter(Lead.owner_id)
    if visible is not None:
        conditions.append(visible)
    conditions += whose_records(session, query, Lead.owner_id, owner, manager, filters)
    if query.region:
        conditions.append(func.lower(group_exprs["region"]) == query.region.strip().lower())
        filters["region"] = query.region
    if query.industry:
        conditions.append(func.lower(col(Lead.industry)) == query.industry.strip().lower())
        filters["industry"] = query.industry
    source = getattr(query, "source", None)
    if source:  # where the lead came from, case and "_" / " " aside, as in listings
        conditions.append(lead_source_is(str(source)))
        filters["source"] = source
    if query.date_from is not None:
        conditions.append(col(Lead.created_at) >= _midnight(query.date_from))
        filters["date_from"] = query.date_from.isoformat()
    if query.date_to is not None:
        conditions.append(col(Lead.created_at) < _midnight(query.date_to))
        filters["date_to"] = query.date_to.isoformat()
    if query.date_from is not None or query.date_to is not None:
        filters["date_field"] = "created"

    def scoped(stmt: Any) -> Any:
        stmt = stmt.select_from(Lead).join(owner, col(owner.id) == col(Lead.owner_id), isouter=True)
        stmt = stmt.join(manager, col(manager.id) == col(owner.manager_id), isouter=True)
        return stmt.where(*conditions) if conditions else stmt

    wanted = [g for g in query.group_by if g in group_exprs]
    stmt = scoped(
        select(
            col(Lead.id),
            col(Lead.created_at),
            col(Lead.status),
            col(Lead.qualified_at),
            *[group_exprs[g].label(f"g_{g}") for g in wanted],
        )
    )
    facts: dict[int, _LeadFacts] = {}
    for row in session.execute(stmt).all():
        created = _aware(row[1])
        groups: dict[str, str | None] = {}
        for g in query.group_by:
            if g == "month":
                groups[g] = f"{created.year}-{created.month:02d}"
            elif g == "quarter":
                groups[g] = f"{created.year}-Q{(created.month + 2) // 3}"
            else:
                value = row[4 + wanted.index(g)]
                groups[g] = None if value is None else str(value)
        qualified_at = _aware(row[3]) if row[3] is not None else None
        facts[int(row[0])] = _LeadFacts(
            groups=groups,
            created_at=created,
            qualified=qualified_at is not None or row[2] in QUALIFIED_STATUSES,
            qualified_at=qualified_at,
        )
    if not facts:
        return facts
    lead_scope = scoped(select(col(Lead.id)))
    touches = select(
        col(Interaction.lead_id),
        col(Interaction.channel),
        col(Interaction.direction),
        col(Interaction.occurred_at),
        col(Interaction.sentiment),
    ).where(col(Interaction.lead_id).in_(lead_scope), or_(_is_touch(), col(Interaction.channel) == "email"))
    for lead_id, channel, direction, occurred, sentiment in session.execute(touches).all():
        lead = facts.get(int(lead_id))
        if lead is None:
            continue
        at = _aware(occurred)
        if (channel in ("call", "meeting") or (channel == "email" and direction == "outbound")) and (
            at >= lead.created_at and (lead.first_touch_at is None or at < lead.first_touch_at)
        ):
            lead.first_touch_at = at
        if channel == "email" and direction == "outbound":
            lead.outbound.append(at)
        elif channel == "email" and direction == "inbound":
            lead.inbound.append((at, sentiment))
    path = [*machine.open_stages, machine.won_stage]
    position = {stage: i for i, stage in enumerate(path)}
    deal_conditions: list[ColumnElement[bool]] = [col(Deal.lead_id).in_(lead_scope)]
    deal_visible = actor.owner_filter(Deal.owner_id)
    if deal_visible is not None:
        deal_conditions.append(deal_visible)
    deals = select(col(Deal.id), col(Deal.lead_id), col(Deal.created_at), col(Deal.stage)).where(*deal_conditions)
    deal_lead: dict[int, int] = {}
    for deal_id, lead_id, created, stage in session.execute(deals).all():
        lead = facts.get(int(lead_id))
        if lead is None:
            continue
        deal_lead[int(deal_id)] = int(lead_id)
        at = _aware(created)
        lead.deal_created_at = at if lead.deal_created_at is None else min(lead.deal_created_at, at)
        lead.reached = max(lead.reached, position.get(stage, 0))
    if deal_lead:
        deal_scope = select(col(Deal.id)).where(*deal_conditions)
        moves = select(col(StageChange.deal_id), col(StageChange.to_stage)).where(
            col(StageChange.deal_id).in_(deal_scope)
        )
        for deal_id, stage in session.execute(moves).all():
            lead_id = deal_lead.get(int(deal_id))
            if lead_id is not None and stage in position:
                facts[lead_id].reached = max(facts[lead_id].reached, position[stage])
    return facts


def _observations(metric: str, lead: _LeadFacts, machine: StageMachine) -> list[tuple[str | None, float]]:
    """(funnel step or None, value) pairs a lead contributes to ``metric``; none when it is not in the population."""
    has_deal = lead.deal_created_at is not None
    if metric == "lead_to_deal":
        return [(None, 1.0 if has_deal else 0.0)]
    if metric == "time_to_first_touch":
        if lead.first_touch_at is None:
            return []
        return [(None, (lead.first_touch_at - lead.created_at).total_seconds() / 86400.0)]
    if metric == "first_reply_rate":
        if not lead.outbound:
            return []
        first = min(lead.outbound)
        second = min((at for at in lead.outbound if at > first), default=None)
        replied = any(at > first and (second is None or at < second) for at, _ in lead.inbound)
        return [(None, 1.0 if replied else 0.0)]
    if metric == "reply_interest_rate":
        if not lead.inbound:
            return []
        reply_at, sentiment = min(lead.inbound, key=lambda item: item[0])
        interested = (
            (lead.qualified_at is not None and lead.qualified_at >= reply_at)
            or (lead.deal_created_at is not None and lead.deal_created_at >= reply_at)
            or (sentiment is not None and sentiment > POSITIVE_SENTIMENT)
        )
        return [(None, 1.0 if interested else 0.0)]
    # funnel_conversion: a row per step the lead got to, converted or not
    qualified = lead.qualified or has_deal
    steps: list[tuple[str | None, float]] = [("lead → qualified lead", 1.0 if qualified else 0.0)]
    if qualified:
        steps.append(("qualified lead → deal", 1.0 if has_deal else 0.0))
    path = [*machine.open_stages, machine.won_stage]
    for i in range(len(path) - 1):
        if lead.reached >= i:
            steps.append((f"{path[i]} → {path[i + 1]}", 1.0 if lead.reached >= i + 1 else 0.0))
    steps.append(("lead → deal (overall)", 1.0 if has_deal else 0.0))
    steps.append((f"lead → {machine.won_stage} (overall)", 1.0 if lead.reached >= len(path) - 1 else 0.0))
    return steps


def _steps(machine: StageMachine) -> list[str]:
    path = [*machine.open_stages, machine.won_stage]
    return [
        "lead → qualified lead",
        "qualified lead → deal",
        *[f"{path[i]} → {path[i + 1]}" for i in range(len(path) - 1)],
        "lead → deal (overall)",
        f"lead → {machine.won_stage} (overall)",
    ]


def _aggregate(
    values: dict[tuple[str | None, ...], list[float]], reduce: Callable[[list[float]], float]
) -> dict[tuple[str | None, ...], tuple[float | None, int]]:
    return {key: (reduce(v) if v else None, len(v)) for key, v in values.items()}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _ordered(
    query: Any,
    rows: list[Row],
    *,
    step_order: list[str] | None = None,
) -> list[Row]:
    def labels(row: Row) -> tuple[str, ...]:
        return tuple("" if row[0].get(g) is None else str(row[0].get(g)) for g in query.group_by)

    if step_order is not None:
        return sorted(rows, key=lambda r: (step_order.index(str(r[0]["step"])), labels(r)))
    if query.order is None and any(g in ("month", "quarter") for g in query.group_by):
        return sorted(rows, key=labels)
    sign = 1.0 if query.order == "asc" else -1.0
    return sorted(rows, key=lambda r: (r[1] is None, sign * (r[1] or 0.0), labels(r)))


def lead_metric(session: Session, actor: Actor, query: Any, machine: StageMachine) -> FunnelResult:
    """One of ``LEAD_METRICS`` over the leads ``actor`` may see, created in the query's period."""
    what = query.metric.replace("_", " ")
    _check_filters(query, LEAD_GROUPS, what)
    filters: dict[str, Any] = {}
    facts = _lead_facts(session, actor, query, machine, filters)
    per_group: dict[tuple[str | None, ...], list[float]] = {}
    overall: list[float] = []
    for lead in facts.values():
        base = tuple(lead.groups.get(g) for g in query.group_by)
        for step, value in _observations(query.metric, lead, machine):
            key = (step, *base) if query.metric == "funnel_conversion" else base
            per_group.setdefault(key, []).append(value)
            if step is None or step == "lead → deal (overall)":
                overall.append(value)
    names = ["step", *query.group_by] if query.metric == "funnel_conversion" else list(query.group_by)
    rows: list[Row] = [
        ({name: key[i] for i, name in enumerate(names)}, None if value is None else round(value, 6), n, None)
        for key, (value, n) in _aggregate(per_group, _mean).items()
        if names
    ]
    step_order = _steps(machine) if query.metric == "funnel_conversion" else None
    rows = _ordered(query, rows, step_order=step_order)
    notes = _lead_notes(query.metric, facts.values(), overall, machine)
    total_value = _mean(overall) if overall else None
    return FunnelResult(
        rows=rows[: query.limit],
        total=(None if total_value is None else round(total_value, 6), len(overall), None),
        truncated=len(rows) > query.limit,
        filters=filters,
        notes=notes,
    )


def _lead_notes(metric: str, leads: Iterable[_LeadFacts], overall: list[float], machine: StageMachine) -> list[str]:
    from statistics import median

    everyone = list(leads)
    if not everyone:
        return ["not available because no leads match (none created in the period, or none you may see)"]
    if metric == "time_to_first_touch":
        untouched = sum(1 for lead in everyone if lead.first_touch_at is None)
        notes = []
        if overall:
            notes.append(f"median {median(overall):.1f} days")
        else:
            notes.append("not available because none of these leads has a logged call, meeting or outbound email yet")
        if untouched:
            notes.append(f"{untouched:,} of {len(everyone):,} leads have no touch logged yet and are not in the figure")
        return notes
    if metric == "first_reply_rate":
        unsent = sum(1 for lead in everyone if not lead.outbound)
        if not overall:
            return ["not available because no outbound email is logged on these leads"]
        return [f"{unsent:,} of {len(everyone):,} leads were never emailed and are not counted"] if unsent else []
    if metric == "reply_interest_rate":
        if not overall:
            return ["not available because none of these leads has written an email to us"]
        silent = sum(1 for lead in everyone if not lead.inbound)
        return [f"{silent:,} of {len(everyone):,} leads never wrote to us and are not counted"] if silent else []
    if metric == "funnel_conversion":
        won = sum(1 for lead in everyone if lead.reached >= len(machine.open_stages))
        deals = sum(1 for lead in everyone if lead.deal_created_at is not None)
        return [f"{len(everyone):,} leads, {deals:,} with a deal, {won:,} won"]
    return []


# -- revenue per closer hour ---------------------------------------------------------------------------------


def closer_metric(session: Session, actor: Actor, query: Any, machine: StageMachine) -> FunnelResult:
    """Won revenue per selling hour of the reps who closed it (see the module docstring), per owner or team."""
    _check_filters(query, CLOSER_GROUPS, "revenue per closer hour")
    filters: dict[str, Any] = {"status": "won", "hours_per_touch": dict(TOUCH_HOURS)}
    manager = aliased(User, name="manager")
    people: list[ColumnElement[bool]] = []
    visible = actor.owner_filter(User.id)
    if visible is not None:
        people.append(visible)
    if query.owner_ids is not None:
        people.append(col(User.id).in_(query.owner_ids))
        filters["owner_ids"] = list(query.owner_ids)
    if query.team_manager_id is not None:
        people.append(col(User.id).in_(sorted(team_member_ids(session, query.team_manager_id))))
        filters["team_manager_id"] = query.team_manager_id
    if query.team_label:
        people.append(func.lower(func.coalesce(User.team, manager.name)) == query.team_label.strip().lower())
        filters["team_label"] = query.team_label
    group_of: dict[int, tuple[str | None, ...]] = {}
    users = select(col(User.id), col(User.name), func.coalesce(User.team, manager.name, User.name)).select_from(User)
    users = users.join(manager, col(manager.id) == col(User.manager_id), isouter=True)
    if people:
        users = users.where(*people)
    for user_id, name, team in session.execute(users).all():
        labels = {"owner": name, "team": team}
        group_of[int(user_id)] = tuple(labels[g] for g in query.group_by)
    if not group_of:
        return FunnelResult([], (None, 0, None), False, filters, ["not available because no reps match"])
    won: list[ColumnElement[bool]] = [col(Deal.stage) == machine.won_stage, col(Deal.closed_at).is_not(None)]
    touched: list[ColumnElement[bool]] = [col(Interaction.deal_id).is_not(None), _is_touch()]
    if query.date_from is not None:
        won.append(col(Deal.closed_at) >= _midnight(query.date_from))
        touched.append(col(Interaction.occurred_at) >= _midnight(query.date_from))
        filters["date_from"] = query.date_from.isoformat()
    if query.date_to is not None:
        won.append(col(Deal.closed_at) < _midnight(query.date_to))
        touched.append(col(Interaction.occurred_at) < _midnight(query.date_to))
        filters["date_to"] = query.date_to.isoformat()
    if query.date_from is not None or query.date_to is not None:
        filters["date_field"] = "closed"
    ids = sorted(group_of)
    deal_visible = actor.owner_filter(Deal.owner_id)
    if deal_visible is not None:
        won.append(deal_visible)
    revenue: dict[tuple[tuple[str | None, ...], str], tuple[Decimal, int]] = {}
    deals = (
        select(col(Deal.owner_id), col(Deal.currency), func.sum(col(Deal.amount)), func.count(col(Deal.id)))
        .where(col(Deal.owner_id).in_(ids), *won)
        .group_by(col(Deal.owner_id), col(Deal.currency))
    )
    for owner_id, currency, amount, n in session.execute(deals).all():
        key = (group_of[int(owner_id)], str(currency))
        before = revenue.get(key, (Decimal(0), 0))
        revenue[key] = (before[0] + Decimal(amount or 0), before[1] + int(n))
    hours: dict[tuple[str | None, ...], float] = {}
    counts: dict[str, int] = {}
    logged = (
        select(col(Interaction.user_id), col(Interaction.channel), func.count())
        .where(col(Interaction.user_id).in_(ids), *touched)
        .group_by(col(Interaction.user_id), col(Interaction.channel))
    )
    for user_id, channel, n in session.execute(logged).all():
        group = group_of[int(user_id)]
        hours[group] = hours.get(group, 0.0) + TOUCH_HOURS[str(channel)] * int(n)
        counts[str(channel)] = counts.get(str(channel), 0) + int(n)
    currencies = sorted({c for _, c in revenue})
    notes = [_hours_note(counts)]
    rows: list[Row] = []
    if query.group_by:
        groups = sorted({g for g, _ in revenue} | set(hours), key=lambda g: tuple(str(x) for x in g))
        for group in groups:
            spent = hours.get(group, 0.0)
            label = {g: group[i] for i, g in enumerate(query.group_by)}
            options: list[str | None] = [*currencies] if currencies else [None]
            for currency in options:
                amount, n = revenue.get((group, currency), (Decimal(0), 0)) if currency else (Decimal(0), 0)
                if n == 0 and len(currencies) > 1:
                    continue  # a rep without wins in this currency: their hours show under the others
                rows.append((label, round(float(amount) / spent, 6) if spent else None, n, currency))
                if not spent and n:
                    who = " / ".join(str(v) for v in group)
                    notes.append(f"{who}: not available because no calls, meetings or outbound emails are logged")
        rows = _ordered(query, rows)
    total_hours = sum(hours.values())
    totals: list[tuple[float | None, int, str]] = []
    for currency in currencies:
        amount = sum((a for (_, c), (a, _) in revenue.items() if c == currency), Decimal(0))
        n = sum(k for (_, c), (_, k) in revenue.items() if c == currency)
        totals.append((round(float(amount) / total_hours, 6) if total_hours else None, n, currency))
    if not total_hours:
        notes.append(
            "not available because no calls, meetings or outbound emails on deals are logged by these reps"
            + (" in the period" if query.date_from or query.date_to else "")
            + ", so there are no selling hours to divide by"
        )
    elif not currencies:
        notes.append("no won deals in the period, so no revenue to divide")
    if len(totals) == 1:
        total: tuple[float | None, int, str | None] = totals[0]
    elif not totals:
        total = (0.0 if total_hours else None, 0, None)
    else:
        total = (None, sum(t[1] for t in totals), None)
    filters["selling_hours"] = round(total_hours, 2)
    return FunnelResult(
        rows=rows[: query.limit],
        total=total,
        truncated=len(rows) > query.limit,
        filters=filters,
        notes=notes,
        totals_by_currency=totals,
    )


def _hours_note(counts: dict[str, int]) -> str:
    if not counts:
        return "0 selling hours logged"
    hours = sum(TOUCH_HOURS[c] * n for c, n in counts.items())
    parts = [
        f"{counts[c]:,} {c}{'s' if counts[c] != 1 else ''} × {TOUCH_HOURS[c]:g} h"
        for c in ("call", "meeting", "email")
        if counts.get(c)
    ]
    return f"{hours:,.1f} selling hours ({', '.join(parts)}; emails outbound only)"


# -- words ---------------------------------------------------------------------------------------------------

DEFINITIONS = {
    "funnel_conversion": "Funnel conversion by step (lead → qualified lead → deal → each deal stage → won; of those "
    "that reached a step, the share that reached the next)",
    "lead_to_deal": "Lead-to-deal conversion (share of leads with a deal opened from them)",
    "time_to_first_touch": "Average days from lead created to its first touch (a logged call, meeting or outbound "
    "email; notes do not count)",
    "first_reply_rate": "Reply rate to the first email (share of emailed leads that answered the first outbound "
    "email before a second was sent)",
    "reply_interest_rate": "Interest after a reply (share of leads whose first email to us was followed by "
    "qualification, a deal, or read positive)",
    "revenue_per_closer_hour": "Won revenue per selling hour of the closing reps (hours: calls 30 min, meetings "
    "1 h, outbound emails 15 min, on deals)",
}


def describe(query: Any, *, owner: str | None, team: str | None, period: str | None) -> str:
    """What a funnel query computes, in words: definition, population and period, filters, grouping."""
    from datetime import timedelta

    text = DEFINITIONS[query.metric]
    noun = "won deals closed" if query.metric == "revenue_per_closer_hour" else "leads created"
    if query.date_from is not None or query.date_to is not None:
        last = query.date_to - timedelta(days=1) if query.date_to is not None else None
        if query.date_from is not None and last is not None:
            span = f"{query.date_from.isoformat()} to {last.isoformat()}"
        elif query.date_from is not None:
            span = f"since {query.date_from.isoformat()}"
        else:
            span = f"before {query.date_to.isoformat()}"
        text += f", {noun} {span}" + (f" ({period})" if period else "")
    else:
        text += ", all won deals" if query.metric == "revenue_per_closer_hour" else ", all leads"
    parts = []
    if owner:
        parts.append(f"owner {owner}")
    if team or query.team_label:
        parts.append(f"team {team or query.team_label}")
    for label, value in (
        ("region", query.region),
        ("industry", query.industry),
        ("lead source", getattr(query, "source", None)),
    ):
        if value:
            parts.append(f"{label} {value}")
    if parts:
        text += ", " + ", ".join(parts)
    if query.group_by:
        text += ", by " + " and ".join(g.replace("_", " ") for g in query.group_by)
    return text


__all__ = [
    "CLOSER_GROUPS",
    "COUNTED",
    "DEFINITIONS",
    "FUNNEL_METRICS",
    "LEAD_GROUPS",
    "LEAD_METRICS",
    "POSITIVE_SENTIMENT",
    "TOUCH_HOURS",
    "FunnelMetric",
    "FunnelResult",
    "closer_metric",
    "describe",
    "lead_metric",
]
