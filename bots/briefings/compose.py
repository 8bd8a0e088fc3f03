"""Compose a team's daily briefing from the store, as its manager would see it.

A briefing for day D (in the team's timezone) shows the open pipeline by stage, what changed the day before D
(stage changes between the two local midnights), deals stalled at D's start, open tasks due on D or overdue per
rep, approval requests waiting on the team, the forecast for D's month or quarter (analytics.forecast, 80 %
interval, commit and best case), open deals whose conversations are turning sour (memory.sentiment), and the
experiments that concluded the day before (sales.experiments).

It lives in ``bots/`` because it needs ``sales``, ``analytics`` and ``memory`` together and only a front door
sits above all three; every number is a query over the store with the manager's permissions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from sales.errors import InvalidInput, PermissionDenied, SalesError
from sales.permissions import Actor, actor_for_user, team_member_ids, user_by_email
from sales.pipeline import PipelineRow, pipeline_summary, totals_by_currency
from sales.stages import StageMachine, workspace_machine
from store.models import Deal, Role, StageChange, Task, TaskStatus, User
from store.types import utcnow

if TYPE_CHECKING:
    from analytics.forecast import Forecast

log = logging.getLogger(__name__)

ChangeKind = Literal["new", "forward", "back", "won", "lost"]
MIN_SENTIMENT_POINTS = 3
SENTIMENT_DROP = 0.05  # VADER's own neutral band: a smaller drop of the recent mean is not a change of tone
LIST_LIMIT = 10  # rows per section in a rendered briefing; the counts always cover everything


class StageLine(BaseModel):
    stage: str
    currency: str  # amounts are never added across currencies: a mixed book has one line per stage and currency
    deals: int
    amount: Decimal


class FunnelSummary(BaseModel):
    """The team's funnel over the ``days`` before the briefing day against the ``days`` before that (sales.funnel):
    lead → deal conversion of the leads created in each window, and the median created → won cycle of the deals
    won in it. A figure is None when its window has no leads (no won deals)."""

    days: int
    start: date
    end: date  # exclusive: the briefing day
    lead_to_deal: float | None
    leads: int
    previous_lead_to_deal: float | None
    previous_leads: int
    median_cycle_days: float | None
    won: int
    previous_median_cycle_days: float | None
    previous_won: int

    def line(self) -> str:
        def ratio(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 100:.1f}%"

        def days(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} days"

        return (
            f"Funnel, last {self.days} days vs the {self.days} before: lead → deal {ratio(self.lead_to_deal)} of "
            f"{self.leads:,} leads (was {ratio(self.previous_lead_to_deal)} of {self.previous_leads:,}); median sales "
            f"cycle {days(self.median_cycle_days)} over {self.won:,} won (was {days(self.previous_median_cycle_days)} "
            f"over {self.previous_won:,})"
        )


class DealChange(BaseModel):
    deal_id: int
    name: str
    owner: str
    kind: ChangeKind
    from_stage: str | None
    to_stage: str
    amount: Decimal | None
    currency: str
    loss_reason: str | None
    changed_at: datetime


class StalledLine(BaseModel):
    deal_id: int
    name: str
    owner: str
    stage: str
    days_idle: int
    limit_days: int
    reason: str


class RepTasks(BaseModel):
    owner_id: int
    owner: str
    due_today: int
    overdue: int
    oldest_due: date | None


class WaitingApproval(BaseModel):
    approval_id: int
    action: str
    what: str
    requested_by: str
    approvers: list[str]
    waiting_hours: float
    expires_at: datetime


class ForecastSummary(BaseModel):
    currency: str
    period: str
    start: str
    end: str
    expected: float
    p10: float
    p90: float
    commit: float
    best_case: float
    won_to_date: float
    open_deals: int
    method: str


class SentimentLine(BaseModel):
    deal_id: int
    name: str
    owner: str
    slope_per_30_days: float
    recent_mean: float
    mean: float


class ExperimentLine(BaseModel):
    experiment_id: int
    name: str
    change: str
    verdict: str
    concluded_at: datetime


class Section(BaseModel):
    title: str
    lines: list[str]
    more: int = 0  # lines left out of ``lines`` (the section's count still covers them)


class Briefing(BaseModel):
    """A team's briefing for one day; ``chart_png`` is filled by ``attach_chart``."""

    manager_email: str
    manager_name: str
    team_name: str
    team_slug: str
    team_member_ids: list[int]
    day: date
    timezone: str
    window_start: datetime  # the day before ``day``, local midnight to midnight, in UTC
    window_end: datetime
    generated_at: datetime
    funnel: FunnelSummary | None = None  # conversion and cycle length against the previous window
    pipeline: list[StageLine]
    open_deals: int
    open_amounts: dict[str, Decimal]  # per currency, in code order
    changes: list[DealChange]
    stalled: list[StalledLine]
    tasks: list[RepTasks]
    approvals: list[WaitingApproval]
    forecasts: list[ForecastSummary]  # one per currency of the team's deals
    forecast_note: str | None = None
    declining: list[SentimentLine]
    experiments: list[ExperimentLine] = Field(default_factory=list)  # experiments that concluded in the window
    chart_png: bytes | None = Field(default=None, repr=False)

    @property
    def title(self) -> str:
        return f"Daily briefing: {self.team_name} ({self.manager_name}), {self.day.isoformat()}"

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    def won_amounts(self) -> dict[str, Decimal]:
        """Yesterday's won amounts, per currency."""
        out: dict[str, Decimal] = {}
        for c in self.changes:
            if c.kind == "won":
                out[c.currency] = out.get(c.currency, Decimal(0)) + (c.amount or Decimal(0))
        return dict(sorted(out.items()))

    def facts(self) -> list[str]:
        """The headline numbers, one line each (the Slack fallback text and the top of every rendering)."""
        from bots.render import money

        facts = [f"Open pipeline: {self.open_deals:,} deals, {amounts(self.open_amounts)}"]
        moved = [
            f"{self.count('won')} won ({amounts(self.won_amounts())})",
            f"{self.count('lost')} lost",
            f"{self.count('forward')} moved forward",
            f"{self.count('back')} moved back",
            f"{self.count('new')} new",
        ]
        facts.append(f"Yesterday ({(self.day - timedelta(days=1)).isoformat()}): " + ", ".join(moved))
        facts.append(f"Stalled deals: {len(self.stalled)}")
        facts.append(
            f"Tasks: {sum(t.due_today for t in self.tasks)} due today, {sum(t.overdue for t in self.tasks)} overdue"
        )
        facts.append(f"Approvals waiting: {len(self.approvals)}")
        if self.funnel is not None:
            facts.append(self.funnel.line())
        for f in self.forecasts:
            c = f.currency
            facts.append(
                f"Forecast {f.period}: {money(f.expected, c, whole=True)} expected (80% interval "
                f"{money(f.p10, c, whole=True)} to {money(f.p90, c, whole=True)}); commit "
                f"{money(f.commit, c, whole=True)}, best case {money(f.best_case, c, whole=True)}, "
                f"won so far {money(f.won_to_date, c, whole=True)}"
            )
        if not self.forecasts and self.forecast_note:
            facts.append(f"Forecast: {self.forecast_note}")
        if self.declining:
            facts.append(f"Deals with declining sentiment: {len(self.declining)}")
        if self.experiments:
            facts.append(f"Experiments concluded: {len(self.experiments)}")
        return facts

    def sections(self) -> list[Section]:
        """The briefing's body, in reading order; renderers (Markdown, Block Kit, terminal) only format these."""
        from bots.render import money

        def cut(lines: list[str]) -> Section:
            return Section(title="", lines=lines[:LIST_LIMIT], more=max(len(lines) - LIST_LIMIT, 0))

        out: list[Section] = []
        out.append(
            Section(
                title="Open pipeline by stage",
                lines=[f"{s.stage}: {s.deals:,} deals, {money(s.amount, s.currency)}" for s in self.pipeline]
                or ["no open deals"],
            )
        )
        change_lines = []
        for c in self.changes:
            if c.kind == "won":
                text = f"WON #{c.deal_id} {c.name} ({c.owner}): {money(c.amount, c.currency)}"
            elif c.kind == "lost":
                text = f"LOST #{c.deal_id} {c.name} ({c.owner}) in {c.from_stage}: {c.loss_reason or 'no reason'}"
            elif c.kind == "new":
                text = f"new #{c.deal_id} {c.name} ({c.owner}) in {c.to_stage}"
            else:
                arrow = "forward" if c.kind == "forward" else "back"
                text = f"{arrow}: #{c.deal_id} {c.name} ({c.owner}) {c.from_stage} -> {c.to_stage}"
            change_lines.append(text)
        out.append(cut(change_lines or ["no stage changes"]).model_copy(update={"title": "What changed yesterday"}))
        out.append(
            cut(
                [f"#{s.deal_id} {s.name} ({s.owner}, {s.stage}): {s.reason}" for s in self.stalled]
                or ["none: every open deal moved or was touched within its stage's limit"]
            ).model_copy(update={"title": "Stalled deals"})
        )
        out.append(
            Section(
                title="Tasks due today and overdue, per rep",
                lines=[
                    f"{t.owner}: {t.due_today} due today, {t.overdue} overdue"
                    + (f" (oldest due {t.oldest_due.isoformat()})" if t.overdue and t.oldest_due else "")
                    for t in self.tasks
                ]
                or ["nothing due or overdue"],
            )
        )
        out.append(
            cut(
                [
                    f"#{a.approval_id} {a.action}: {a.what}, asked by {a.requested_by} {a.waiting_hours:.0f} h ago; "
                    f"decides: {', '.join(a.approvers) or 'an admin'}"
                    for a in self.approvals
                ]
                or ["none"]
            ).model_copy(update={"title": "Approvals waiting on the team"})
        )
        lines = []
        for f in self.forecasts:
            code = f.currency
            head = f"{code}: " if len(self.forecasts) > 1 else ""
            lines += [
                f"{head}expected {money(f.expected, code, whole=True)}, 80% interval "
                f"{money(f.p10, code, whole=True)} to {money(f.p90, code, whole=True)}",
                f"{head}commit {money(f.commit, code, whole=True)}, best case {money(f.best_case, code, whole=True)}, "
                f"won so far {money(f.won_to_date, code, whole=True)}",
                f"{head}{f.open_deals} open deals simulated ({f.method})",
            ]
        if not lines:
            lines = [self.forecast_note or "not computed"]
        first = self.forecasts[0] if self.forecasts else None
        # a period's end is exclusive ([start, end)): show its last day
        last = (date.fromisoformat(first.end) - timedelta(days=1)).isoformat() if first else ""
        period = f" {first.period} ({first.start} to {last})" if first else ""
        out.append(Section(title=f"Forecast{period}", lines=lines))
        out.append(
            cut(
                [
                    f"#{d.deal_id} {d.name} ({d.owner}): last notes {d.recent_mean:+.2f} vs {d.mean:+.2f} overall "
                    f"(slope {d.slope_per_30_days:+.2f} per 30 days)"
                    for d in self.declining
                ]
                or ["none"]
            ).model_copy(update={"title": "Sentiment declining"})
        )
        if self.experiments:
            out.append(
                cut([f"{e.name} ({e.change}): {e.verdict}" for e in self.experiments]).model_copy(
                    update={"title": "Experiments concluded"}
                )
            )
        return out


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "team"


def team_slug(session: Session, manager: User) -> str:
    """The team's file-name slug: its team name, or the manager's email name when that is missing or shared."""
    local = slugify(manager.email.split("@")[0])
    if not manager.team:
        return local
    same = session.exec(
        select(func.count(col(User.id))).where(
            func.lower(User.team) == manager.team.lower(), col(User.role).in_([Role.MANAGER, Role.ADMIN])
        )
    ).one()
    return slugify(manager.team) if int(same) <= 1 else f"{slugify(manager.team)}-{local}"


def team_actor(session: Session, manager: User) -> Actor:
    """The manager's own Actor, limited to their team (an admin leading a team sees only that team here)."""
    if manager.role not in (Role.MANAGER, Role.ADMIN):
        raise InvalidInput({"manager": f"{manager.email} is a {manager.role}; briefings are for managers' teams"})
    assert manager.id is not None
    actor = actor_for_user(session, manager)
    return replace(actor, visible_owner_ids=frozenset(team_member_ids(session, manager.id)))


def manager_for(session: Session, requester: Actor, email: str) -> User:
    """The manager ``email`` names, if ``requester`` may see all of that team (themselves, their manager, admins)."""
    manager = user_by_email(session, email)
    if manager is None or not manager.active:
        raise InvalidInput({"manager": f"no active user with email {email!r}; see `salesgraph users list`"})
    assert manager.id is not None
    team = team_member_ids(session, manager.id)
    if requester.visible_owner_ids is not None and not team <= requester.visible_owner_ids:
        raise PermissionDenied(f"{requester.email} may not see all of {manager.email}'s team, so not its briefing")
    return manager


def managers_visible_to(session: Session, requester: Actor) -> list[User]:
    """Active managers whose whole team ``requester`` may see (every manager for an admin)."""
    managers = session.exec(
        select(User).where(User.role == Role.MANAGER, col(User.active)).order_by(col(User.email))
    ).all()
    out = []
    for m in managers:
        assert m.id is not None
        if requester.visible_owner_ids is None or team_member_ids(session, m.id) <= requester.visible_owner_ids:
            out.append(m)
    return out


def day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day before ``day`` in ``zone``, as [start, end) in UTC."""
    end = datetime.combine(day, time(0), zone)
    start = datetime.combine(day - timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: n for i, n in session.exec(select(User.id, User.name).where(col(User.id).in_(sorted(ids)))).all() if i}


def _stage_lines(rows: list[PipelineRow], machine: StageMachine) -> list[StageLine]:
    """Pipeline summary rows (by stage, owner and currency) without the owner split."""
    lines: dict[tuple[str, str], StageLine] = {}
    for row in rows:
        line = lines.setdefault(
            (row.stage, row.currency), StageLine(stage=row.stage, currency=row.currency, deals=0, amount=Decimal(0))
        )
        line.deals += row.deals
        line.amount += row.amount
    return sorted(lines.values(), key=lambda line: (machine.order(line.stage), line.currency))


def _changes(session: Session, actor: Actor, start: datetime, end: datetime, machine: StageMachine) -> list[DealChange]:
    stmt = (
        select(StageChange, Deal)
        .join(Deal, col(Deal.id) == col(StageChange.deal_id))
        .where(col(StageChange.changed_at) >= start, col(StageChange.changed_at) < end)
        .order_by(col(StageChange.changed_at), col(StageChange.id))
    )
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    rows = session.exec(stmt).all()
    names = _names(session, {deal.owner_id for _, deal in rows})
    out: list[DealChange] = []
    for change, deal in rows:
        assert deal.id is not None
        kind: ChangeKind
        if change.to_stage == machine.won_stage:
            kind = "won"
        elif change.to_stage == machine.lost_stage:
            kind = "lost"
        elif change.from_stage is None or change.from_stage not in machine.stages:
            kind = "new"
        else:
            kind = "forward" if machine.order(change.to_stage) > machine.order(change.from_stage) else "back"
        out.append(
            DealChange(
                deal_id=deal.id,
                name=deal.name,
                owner=names.get(deal.owner_id, f"user #{deal.owner_id}"),
                kind=kind,
                from_stage=change.from_stage,
                to_stage=change.to_stage,
                amount=deal.amount if kind == "won" else None,
                currency=deal.currency,
                loss_reason=deal.loss_reason if kind == "lost" else None,
                changed_at=change.changed_at,
            )
        )
    return out


def _tasks(session: Session, actor: Actor, day: date) -> list[RepTasks]:
    due_today = func.sum(case((col(Task.due_date) == day, 1), else_=0))
    overdue = func.sum(case((col(Task.due_date) < day, 1), else_=0))
    stmt = (
        select(Task.owner_id, due_today, overdue, func.min(Task.due_date))
        .where(Task.status == TaskStatus.OPEN, col(Task.due_date) <= day)
        .group_by(col(Task.owner_id))
    )
    visible = actor.owner_filter(Task.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    rows = session.exec(stmt).all()
    names = _names(session, {owner for owner, *_ in rows})
    lines = [
        RepTasks(
            owner_id=owner,
            owner=names.get(owner, f"user #{owner}"),
            due_today=int(today or 0),
            overdue=int(late or 0),
            oldest_due=oldest,
        )
        for owner, today, late, oldest in rows
    ]
    return sorted(lines, key=lambda t: (-t.overdue, -t.due_today, t.owner))


def _approvals(session: Session, actor: Actor, now: datetime) -> list[WaitingApproval]:
    from sales.approvals import approver_emails, list_approvals
    from store.models import ApprovalStatus

    rows = list_approvals(session, actor, status=ApprovalStatus.PENDING, limit=10_000)
    waiting = [a for a in rows if a.expires_at > now]
    requesters = _names(session, {a.requested_by_id for a in waiting if a.requested_by_id is not None})
    out = []
    for a in sorted(waiting, key=lambda a: a.created_at):
        assert a.id is not None
        args = a.arguments
        if a.action == "send_follow_up":
            what = f"email to {args.get('to')}: {args.get('subject')}"
        else:
            what = f"{a.record_type} #{a.record_id} {args.get('lead_name', '')}".strip()
        out.append(
            WaitingApproval(
                approval_id=a.id,
                action=a.action,
                what=what,
                requested_by=requesters.get(a.requested_by_id or 0, "system"),
                approvers=approver_emails(session, a),
                waiting_hours=max((now - a.created_at).total_seconds() / 3600, 0.0),
                expires_at=a.expires_at,
            )
        )
    return out


def _forecast(
    session: Session, actor: Actor, day: date, period: str, simulations: int
) -> tuple[list[ForecastSummary], str | None]:
    from analytics.forecast import forecast_by_currency

    try:
        results: list[Forecast] = forecast_by_currency(
            session, actor, f"this {period}", today=day, simulations=simulations
        )
    except SalesError as exc:
        log.warning("briefing for %s: no forecast: %s", actor.email, exc)
        return [], f"not available: {exc}"
    summaries = []
    for result in results:
        t = result.total
        summaries.append(
            ForecastSummary(
                currency=result.currency,
                period=result.period,
                start=result.start,
                end=result.end,
                expected=t.expected,
                p10=t.p10,
                p90=t.p90,
                commit=t.commit,
                best_case=t.best_case,
                won_to_date=t.won_to_date,
                open_deals=t.open_deals,
                method=result.method,
            )
        )
    return summaries, None if summaries else "no deals to forecast"


def _declining(session: Session, actor: Actor, machine: StageMachine, names: dict[int, str]) -> list[SentimentLine]:
    from memory.sentiment import deal_sentiment_trend

    stmt = select(Deal.id, Deal.name, Deal.owner_id).where(col(Deal.stage).in_(machine.open_stages))
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        stmt = stmt.where(visible)
    out = []
    for deal_id, name, owner_id in session.exec(stmt.order_by(col(Deal.id))).all():
        assert deal_id is not None
        trend = deal_sentiment_trend(session, deal_id, actor=actor)
        # A slope through two notes a day apart is noise: ask for three or more notes and a recent tone
        # that is really below the deal's overall tone.
        if trend.direction != "declining" or len(trend.points) < MIN_SENTIMENT_POINTS:
            continue
        assert trend.slope_per_30_days is not None and trend.recent_mean is not None and trend.mean is not None
        out.append(
            SentimentLine(
                deal_id=deal_id,
                name=name,
                owner=names.get(owner_id, f"user #{owner_id}"),
                slope_per_30_days=trend.slope_per_30_days,
                recent_mean=trend.recent_mean,
                mean=trend.mean,
            )
        )
    return sorted(
        (d for d in out if d.recent_mean < d.mean - SENTIMENT_DROP), key=lambda d: (d.recent_mean - d.mean, d.deal_id)
    )


FUNNEL_DAYS = 90
"""The funnel line's window: a team gets a few dozen leads a month, too few for a month-on-month rate to mean much."""


def funnel_summary(
    session: Session, actor: Actor, day: date, *, days: int = FUNNEL_DAYS, machine: StageMachine | None = None
) -> FunnelSummary:
    """Lead → deal and the median sales cycle over the ``days`` before ``day`` and the ``days`` before those."""
    from sales.pipeline_query import PipelineQuery, run_pipeline_query

    windows = [(day - timedelta(days=days), day), (day - timedelta(days=2 * days), day - timedelta(days=days))]
    figures = []
    for start, end in windows:
        leads = run_pipeline_query(
            session, actor, PipelineQuery(metric="lead_to_deal", date_from=start, date_to=end), machine=machine
        )
        cycle = run_pipeline_query(
            session,
            actor,
            PipelineQuery(metric="median_cycle_days", status="won", date_field="closed", date_from=start, date_to=end),
            machine=machine,
        )
        figures.append((leads.total, cycle.total))
    (now_leads, now_cycle), (then_leads, then_cycle) = figures
    return FunnelSummary(
        days=days,
        start=windows[0][0],
        end=day,
        lead_to_deal=now_leads.value,
        leads=now_leads.deals,
        previous_lead_to_deal=then_leads.value,
        previous_leads=then_leads.deals,
        median_cycle_days=now_cycle.value,
        won=now_cycle.deals,
        previous_median_cycle_days=then_cycle.value,
        previous_won=then_cycle.deals,
    )


def compose_briefing(
    session: Session,
    manager: User,
    day: date,
    *,
    timezone: str = "UTC",
    period: Literal["month", "quarter"] = "month",
    now: datetime | None = None,
    machine: StageMachine | None = None,
    forecast: bool = True,
    sentiment: bool = True,
    simulations: int = 2000,
) -> Briefing:
    """The briefing of ``manager``'s team for ``day`` (see the module docstring), read in ``session``."""
    from sales.deals import list_stalled_deals

    machine = machine or workspace_machine(session)
    actor = team_actor(session, manager)
    assert actor.visible_owner_ids is not None and manager.id is not None
    zone = ZoneInfo(timezone)
    now = now or utcnow()
    start, end = day_window(day, zone)
    names = _names(session, set(actor.visible_owner_ids))
    open_rows = [r for r in pipeline_summary(session, actor, machine=machine) if r.stage in machine.open_stages]
    pipeline = _stage_lines(open_rows, machine)
    stalled = [
        StalledLine(
            deal_id=s.deal_id,
            name=s.name,
            owner=names.get(s.owner_id, f"user #{s.owner_id}"),
            stage=s.stage,
            days_idle=s.days_idle,
            limit_days=s.limit_days,
            reason=s.reason,
        )
        for s in list_stalled_deals(session, actor, now=end, machine=machine)
    ]
    summaries, note = _forecast(session, actor, day, period, simulations) if forecast else ([], "not computed")
    return Briefing(
        manager_email=manager.email,
        manager_name=manager.name,
        team_name=manager.team or manager.name,
        team_slug=team_slug(session, manager),
        team_member_ids=sorted(actor.visible_owner_ids),
        day=day,
        timezone=timezone,
        window_start=start,
        window_end=end,
        generated_at=now,
        funnel=funnel_summary(session, actor, day, machine=machine),
        pipeline=pipeline,
        open_deals=sum(s.deals for s in pipeline),
        open_amounts={code: amount for code, (_, amount) in totals_by_currency(open_rows).items()},
        changes=_changes(session, actor, start, end, machine),
        stalled=stalled,
        tasks=_tasks(session, actor, day),
        approvals=_approvals(session, actor, now),
        forecasts=summaries,
        forecast_note=note,
        declining=_declining(session, actor, machine, names) if sentiment else [],
        experiments=_experiments(session, start, end),
    )


def _experiments(session: Session, start: datetime, end: datetime) -> list[ExperimentLine]:
    """Experiments whose conclusion was recorded in the window (a look that crossed its boundary, or the last)."""
    from sales.experiments import concluded_between

    return [
        ExperimentLine(
            experiment_id=e.id or 0,
            name=e.name,
            change=e.change,
            verdict=str((e.conclusion or {}).get("verdict") or "concluded"),
            concluded_at=e.concluded_at or end,
        )
        for e in concluded_between(session, start, end)
    ]


def amounts(per_currency: dict[str, Decimal]) -> str:
    """``$1,200`` for one currency, ``$1,200 + €300`` for several (never one sum across currencies)."""
    from bots.render import money

    if not per_currency:
        return money(Decimal(0))
    return " + ".join(money(amount, currency) for currency, amount in per_currency.items())


def attach_chart(briefing: Briefing) -> Briefing:
    """The briefing with its PNG chart: open pipeline by stage, and the forecast with its 80 % band, in the
    currency with the most open pipeline (a chart cannot add currencies either; the text has them all)."""
    from analytics.charts import briefing_chart

    currency = max(briefing.open_amounts, key=lambda c: briefing.open_amounts[c]) if briefing.open_amounts else None
    if currency is None and briefing.forecasts:
        currency = briefing.forecasts[0].currency
    stages = [(s.stage, s.deals, float(s.amount)) for s in briefing.pipeline if s.currency == currency]
    forecast: dict[str, float | str] | None = None
    chosen = next((f for f in briefing.forecasts if f.currency == currency), None)
    if chosen is not None:
        f = chosen
        forecast = {
            "period": f.period,
            "expected": f.expected,
            "p10": f.p10,
            "p90": f.p90,
            "commit": f.commit,
            "best_case": f.best_case,
            "won_to_date": f.won_to_date,
        }
    several = len(briefing.open_amounts) > 1 or len(briefing.forecasts) > 1
    title = briefing.title + (f" ({currency} only)" if several and currency else "")
    png = briefing_chart(stages, forecast, title=title)
    return briefing.model_copy(update={"chart_png": png})
