"""The pipeline's semantic layer: one metric, optional groupings and filters, computed in SQL over visible deals.

Managers' questions become a ``PipelineQuery``; the model never writes SQL. Metrics: count, total_amount,
avg_amount, median_amount, win_rate (won / (won + lost)), avg_cycle_days (created → closed, won deals unless the status filter
says lost/closed) and stage_conversion (of the deals that entered a stage, the share that went further, Lost
excluded), median_cycle_days (the median of the same durations), and the funnel metrics of ``sales.funnel``
(funnel_conversion, lead_to_deal, time_to_first_touch, first_reply_rate, reply_interest_rate,
revenue_per_closer_hour), which count leads or a rep's selling hours rather than deals. Amount metrics never add across currencies (there are no exchange rates): they are computed per
currency, so an answer in one currency looks as it always did and one in several carries a row per currency.
An amount filter (``amount_min``/``amount_max``) is a threshold in one currency, ``amount_currency``: the one
given, else the one currency of the matching deals, else the default (USD). Deals in other currencies cannot be
compared with it, so they are left out and counted in ``PipelineAnswer.not_compared``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from sales.errors import InvalidInput
from sales.leads import lead_source_is
from sales.money import DEFAULT_CURRENCY, currency_code
from sales.permissions import Actor, team_member_ids
from sales.query_terms import PAST_PIPELINE_METRICS, DateField, DealStatus, GroupBy, Metric
from sales.stages import StageMachine, workspace_machine
from store.models import Account, Deal, Lead, StageChange, User

Status = DealStatus

UNITS: dict[str, Literal["deals", "currency", "ratio", "days"]] = {
    "count": "deals",
    "total_amount": "currency",
    "avg_amount": "currency",
    "median_amount": "currency",
    "win_rate": "ratio",
    "avg_cycle_days": "days",
    "median_cycle_days": "days",
    "stage_conversion": "ratio",
    "funnel_conversion": "ratio",
    "lead_to_deal": "ratio",
    "time_to_first_touch": "days",
    "first_reply_rate": "ratio",
    "reply_interest_rate": "ratio",
    "revenue_per_closer_hour": "currency",
}
TIME_GROUPS = ("month", "quarter")


@dataclass(frozen=True)
class PipelineQuery:
    metric: Metric
    group_by: tuple[GroupBy, ...] = ()
    status: Status = "all"
    owner_ids: tuple[int, ...] | None = None
    team_manager_id: int | None = None
    team_label: str | None = None
    """A team by its label (``users.team``, else the manager's name), for workspaces whose managers are not users."""
    stage: str | None = None
    industry: str | None = None
    product: str | None = None
    region: str | None = None
    account: str | None = None
    source: str | None = None
    """Where the deal's lead came from ("webinar"), case and "_" / " " aside; deals without a lead never match."""
    date_field: DateField = "created"
    date_from: date | None = None
    date_to: date | None = None
    """Exclusive."""
    amount_min: float | None = None
    amount_max: float | None = None
    amount_currency: str | None = None
    """The currency of ``amount_min``/``amount_max``; None: the matching deals' one currency, else USD."""
    to_stage: str | None = None
    """stage_conversion only: the share of deals that entered the stage (or each stage) and later reached this
    one or went past it ("Proposal to Won"); None: reached any stage further along."""
    open_on: date | None = None
    """The pipeline as it stood at the end of this day: deals created by then and not yet closed, at their current
    amounts and owners (the store keeps no history of amounts); open deals only, no stage (stages change)."""
    limit: int = 50
    order: Literal["desc", "asc"] | None = None
    """Groups ranked by the metric, highest first (``asc``: lowest first, for "which ... the fewest"); None: highest
    first, except months and quarters, which then stay in time order (a ranked time series needs ``order``)."""
    exclude: tuple[tuple[str, str], ...] = ()
    """Values left out: ("product", "Lumen Starter"), ("stage", "Prospecting"), ("owner", "<user id>"), also industry,
    region and account ("win rate excluding Jordan", "pipeline by product excluding Lumen Starter")."""
    value_min: float | None = None
    value_max: float | None = None
    """With ``group_by``: only the groups whose figure is at least / at most this ("which reps won more than 200k":
    total_amount by owner, value_min 200000; rates as fractions). Each group's figure is in its own currency.
    Without: the one figure, and a note saying whether it is within the bound ("did I win more than 500k")."""


@dataclass(frozen=True)
class PipelineAnswerRow:
    group: dict[str, str | None]
    value: float | None
    deals: int
    currency: str | None = None
    """Set for amount metrics: the one currency ``value`` is in."""


@dataclass(frozen=True)
class PipelineAnswer:
    metric: str
    unit: Literal["deals", "currency", "ratio", "days"]
    group_by: list[str]
    rows: list[PipelineAnswerRow]
    """Amount metrics over several currencies: one row per group and currency."""
    total: PipelineAnswerRow
    """Amount metrics over several currencies: ``value`` is None (see ``totals_by_currency``)."""
    truncated: bool
    filters: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None
    """Amount metrics: the currency every amount is in; None when there are several."""
    totals_by_currency: list[PipelineAnswerRow] = field(default_factory=list)
    """Amount metrics: the total per currency, in code order (one entry when all share a currency)."""
    not_compared: dict[str, int] = field(default_factory=dict)
    """With an amount filter: deals with an amount in another currency than the threshold's, per currency, left
    out because they cannot be compared with it (no exchange rates). Empty when none were."""
    counted: str = "deals"
    """What each row's ``deals`` count counts: deals, or for the funnel metrics leads, leads emailed, won deals..."""
    notes: list[str] = field(default_factory=list)
    """What the figure leaves out and why ("312 of 1,050 leads have no touch logged yet"), or why it is not
    available ("not available because no calls, meetings or outbound emails are logged")."""


def whose_records(
    session: Session, query: Any, owner_column: Any, owner: Any, manager: Any, filters: dict[str, Any]
) -> list[ColumnElement[bool]]:
    """The conditions of a query's people filters (owners, a manager's team, a team by its label) on the records
    whose owner is ``owner_column``, with ``owner``/``manager`` the aliases joined for the label; each filter used
    is noted in ``filters``. Deal questions and the funnel's lead metrics share it."""
    conditions: list[ColumnElement[bool]] = []
    if query.owner_ids is not None:
        conditions.append(col(owner_column).in_(query.owner_ids))
        filters["owner_ids"] = list(query.owner_ids)
    if query.team_manager_id is not None:
        conditions.append(col(owner_column).in_(sorted(team_member_ids(session, query.team_manager_id))))
        filters["team_manager_id"] = query.team_manager_id
    if query.team_label:
        conditions.append(func.lower(func.coalesce(owner.team, manager.name)) == query.team_label.strip().lower())
        filters["team_label"] = query.team_label
    return conditions


EXCLUDABLE: Final = ("owner", "stage", "product", "industry", "region", "account")


def _exclusions(query: PipelineQuery, machine: StageMachine, owner: Any) -> list[ColumnElement[bool]]:
    """A condition per value left out; a deal with no value of that kind (no account, say) stays in."""
    conditions: list[ColumnElement[bool]] = []
    for kind, value in query.exclude:
        if kind == "owner":
            if not str(value).isdigit():
                raise InvalidInput({"exclude": f"an owner is left out by user id, not {value!r}"})
            conditions.append(col(Deal.owner_id) != int(value))
        elif kind == "stage":
            stage = machine.canonical(value)
            if stage is None:
                raise InvalidInput({"exclude": f"{value!r} is not a stage; the stages are {', '.join(machine.stages)}"})
            conditions.append(col(Deal.stage) != stage)
        elif kind in ("product", "industry", "account", "region"):
            column = {
                "product": col(Deal.product),
                "industry": col(Account.industry),
                "account": col(Account.name),
                "region": func.coalesce(Account.region, owner.region),
            }[kind]
            conditions.append(or_(column.is_(None), func.lower(column) != value.strip().lower()))
        else:
            raise InvalidInput({"exclude": f"cannot leave out a {kind}; use one of {', '.join(EXCLUDABLE)}"})
    return conditions


def _sqlite_quarter(column: Any) -> ColumnElement[Any]:
    month = cast(func.strftime("%m", column, type_=String), Integer)
    quarter = cast((month + 2) // 3, String)
    return func.strftime("%Y", column, type_=String) + literal("-Q", String) + quarter


def _days_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _date_column(query: PipelineQuery) -> Any:
    return {
        "created": Deal.created_at,
        "closed": Deal.closed_at,
        "expected_close": Deal.expected_close_date,
    }[query.date_field]


def _bound(query: PipelineQuery, day: date) -> date | datetime:
    # Timestamps compare against midnight UTC of the day; the expected close date is a plain date.
    if query.date_field == "expected_close":
        return day
    return datetime.combine(day, time.min, tzinfo=UTC)


MAX_GROUPS: Final = 500
"""The most groups a threshold on the figure looks through (the tool's largest limit)."""


def run_pipeline_query(
    session: Session, actor: Actor, query: PipelineQuery, *, machine: StageMachine | None = None
) -> PipelineAnswer:
    """Compute ``query`` over the deals ``actor`` may see; one SQL statement for the rows, one for the total.
    With ``value_min``/``value_max`` the groups are ranked as usual and those outside the bounds left out (the
    overall total still covers every deal)."""
    if query.value_min is None and query.value_max is None:
        return _run(session, actor, query, machine)
    if query.value_min is not None and query.value_max is not None and query.value_min > query.value_max:
        raise InvalidInput({"value_min": "the lower bound is above the upper one"})
    if not query.group_by:  # "did I win more than 500k": the one figure, and whether it is within the bound
        answer = _run(session, actor, replace(query, value_min=None, value_max=None), machine)
        return replace(answer, notes=[*answer.notes, _against_bound(query, answer)])
    wide = _run(session, actor, replace(query, limit=MAX_GROUPS, value_min=None, value_max=None), machine)
    low, high = query.value_min, query.value_max
    kept = [
        r
        for r in wide.rows
        if r.value is not None and (low is None or r.value >= low) and (high is None or r.value <= high)
    ]
    notes = list(wide.notes)
    if wide.truncated:
        notes.append(f"only the first {MAX_GROUPS} groups were checked against the bound")
    if wide.unit == "currency" and wide.currency is None and len(wide.totals_by_currency) > 1:
        notes.append("each group's amount is compared with the bound in its own currency (no exchange rates)")
    return replace(wide, rows=kept[: query.limit], truncated=len(kept) > query.limit or wide.truncated, notes=notes)


def _against_bound(query: PipelineQuery, answer: PipelineAnswer) -> str:
    """ "against the bound of at least 500,000: yes (1,388,100)"; no answer across currencies or without a figure."""
    words = " and ".join(
        f"{word} {_figure(query.metric, bound)}"
        for word, bound in (("at least", query.value_min), ("at most", query.value_max))
        if bound is not None
    )
    value = answer.total.value
    if value is None:
        several = answer.unit == "currency" and len(answer.totals_by_currency) > 1
        why = "the amounts are in several currencies" if several else "there is no figure"
        return f"against the bound of {words}: not compared ({why})"
    low, high = query.value_min, query.value_max
    within = (low is None or value >= low) and (high is None or value <= high)
    return f"against the bound of {words}: {'yes' if within else 'no'} ({_figure(query.metric, value)})"


def _run(session: Session, actor: Actor, query: PipelineQuery, machine: StageMachine | None) -> PipelineAnswer:
    machine = machine or workspace_machine(session)
    if query.metric not in UNITS:
        raise InvalidInput({"metric": f"use one of {', '.join(UNITS)}"})
    unknown = [
        g
        for g in query.group_by
        if g
        not in (
            "owner",
            "team",
            "stage",
            "industry",
            "product",
            "region",
            "account",
            "source",
            "loss_reason",
            *TIME_GROUPS,
        )
    ]
    if unknown:
        raise InvalidInput({"group_by": f"cannot group by {', '.join(unknown)}"})
    from sales.funnel import FUNNEL_METRICS

    if query.metric in FUNNEL_METRICS:
        if query.exclude:
            raise InvalidInput({"exclude": "the funnel metrics take no exclusions; ask for the breakdown instead"})
        return _funnel_answer(session, actor, query, machine)
    owner = aliased(User, name="owner")
    manager = aliased(User, name="manager")
    date_col = _date_column(query)
    dialect = session.get_bind().dialect.name

    group_exprs: dict[str, Any] = {}
    for g in query.group_by:
        if g == "owner":
            group_exprs[g] = col(owner.name)
        elif g == "team":
            group_exprs[g] = func.coalesce(owner.team, manager.name, owner.name)
        elif g == "stage":
            group_exprs[g] = col(Deal.stage)
        elif g == "industry":
            group_exprs[g] = col(Account.industry)
        elif g == "product":
            group_exprs[g] = col(Deal.product)
        elif g == "region":
            group_exprs[g] = func.coalesce(Account.region, owner.region)
        elif g == "account":
            group_exprs[g] = col(Account.name)
        elif g == "source":  # where the deal's lead came from; deals opened without a lead group as none
            group_exprs[g] = col(Lead.source)
        elif g == "loss_reason":  # the reason as the rep wrote it when moving the deal to Lost
            group_exprs[g] = col(Deal.loss_reason)
        elif g == "month":
            group_exprs[g] = (
                func.to_char(date_col, "YYYY-MM")
                if dialect == "postgresql"
                else func.strftime("%Y-%m", date_col, type_=String)
            )
        else:
            group_exprs[g] = (
                func.to_char(date_col, 'YYYY-"Q"Q') if dialect == "postgresql" else _sqlite_quarter(date_col)
            )

    conditions: list[ColumnElement[bool]] = []
    visible = actor.owner_filter(Deal.owner_id)
    if visible is not None:
        conditions.append(visible)
    filters: dict[str, Any] = {"status": query.status}
    won, lost = machine.won_stage, machine.lost_stage
    if query.open_on is not None:
        _check_open_on(query)
        after = datetime.combine(query.open_on + timedelta(days=1), time.min, tzinfo=UTC)
        # open at the end of that day: created by then, and not closed by then (still open, or closed later)
        conditions.append(col(Deal.created_at) < after)
        conditions.append(
            col(Deal.stage).in_(machine.open_stages)
            | (col(Deal.closed_at).is_not(None) & (col(Deal.closed_at) >= after))
        )
        filters["open_on"] = query.open_on.isoformat()
    elif query.status == "open":
        conditions.append(col(Deal.stage).in_(machine.open_stages))
    elif query.status == "won":
        conditions.append(col(Deal.stage) == won)
    elif query.status == "lost":
        conditions.append(col(Deal.stage) == lost)
    elif query.status == "closed":
        conditions.append(col(Deal.stage).in_([won, lost]))
    conditions += whose_records(session, query, Deal.owner_id, owner, manager, filters)
    stage: str | None = None
    if query.stage:
        stage = machine.canonical(query.stage)
        if stage is None:
            raise InvalidInput({"stage": f"{query.stage!r} is not a stage; the stages are {', '.join(machine.stages)}"})
        filters["stage"] = stage
    for name, column in (("industry", Account.industry), ("product", Deal.product), ("account", Account.name)):
        wanted = getattr(query, name)
        if wanted:
            conditions.append(func.lower(column) == wanted.strip().lower())
            filters[name] = wanted
    if query.region:
        conditions.append(func.lower(func.coalesce(Account.region, owner.region)) == query.region.strip().lower())
        filters["region"] = query.region
    if query.source:
        conditions.append(lead_source_is(query.source))
        filters["source"] = query.source
    conditions += _exclusions(query, machine, owner)
    if query.exclude:
        filters["exclude"] = [list(pair) for pair in query.exclude]
    if query.date_from is not None:
        conditions.append(date_col >= _bound(query, query.date_from))
        filters["date_from"] = query.date_from.isoformat()
    if query.date_to is not None:
        conditions.append(date_col < _bound(query, query.date_to))
        filters["date_to"] = query.date_to.isoformat()
    if query.date_from is not None or query.date_to is not None:
        filters["date_field"] = query.date_field

    def base_from(stmt: Any) -> Any:
        return (
            stmt.select_from(Deal)
            .join(owner, col(owner.id) == col(Deal.owner_id))
            .join(manager, col(manager.id) == col(owner.manager_id), isouter=True)
            .join(Account, col(Account.id) == col(Deal.account_id), isouter=True)
            .join(Lead, col(Lead.id) == col(Deal.lead_id), isouter=True)
        )

    not_compared: dict[str, int] = {}
    if query.amount_min is not None or query.amount_max is not None:
        # the stage filter narrows the deals compared, except for conversion where it names the starting stage
        in_scope = (
            [*conditions, col(Deal.stage) == stage] if stage and query.metric != "stage_conversion" else conditions
        )
        code, not_compared = _threshold_currency(session, query, in_scope, base_from)
        conditions.append(col(Deal.currency) == code)
        filters["amount_currency"] = code
    if query.amount_min is not None:
        conditions.append(col(Deal.amount) >= query.amount_min)
        filters["amount_min"] = query.amount_min
    if query.amount_max is not None:
        conditions.append(col(Deal.amount) <= query.amount_max)
        filters["amount_max"] = query.amount_max

    if query.metric == "stage_conversion":
        # Here a stage filter means "conversion from this stage", not "deals currently in it".
        answer = _stage_conversion(session, query, group_exprs, conditions, base_from, filters, machine, stage)
        return replace(answer, not_compared=not_compared)
    if stage is not None:
        conditions.append(col(Deal.stage) == stage)

    deal_count: ColumnElement[Any]
    value: ColumnElement[Any]
    if query.metric == "count":
        value = func.count(col(Deal.id))
        deal_count = func.count(col(Deal.id))
    elif query.metric == "total_amount":
        value = func.sum(col(Deal.amount))
        deal_count = func.count(col(Deal.amount))
    elif query.metric == "avg_amount":
        value = func.avg(col(Deal.amount))
        deal_count = func.count(col(Deal.amount))
    elif query.metric == "median_amount":
        amounts = [*conditions, col(Deal.amount).is_not(None)]  # a deal without an amount has no size
        answer = _medians(session, query, group_exprs, amounts, base_from, filters, col(Deal.amount), per_currency=True)
        return replace(answer, not_compared=not_compared)
    elif query.metric == "win_rate":
        is_won = case((col(Deal.stage) == won, 1.0), else_=0.0)
        is_closed = case((col(Deal.stage).in_([won, lost]), 1), else_=0)
        value = func.sum(is_won) / func.nullif(func.sum(is_closed), 0)
        deal_count = func.sum(is_closed)
    else:
        cycle_stages = [lost] if query.status == "lost" else [won, lost] if query.status == "closed" else [won]
        in_cycle = and_(col(Deal.stage).in_(cycle_stages), col(Deal.closed_at).is_not(None))
        days = case((in_cycle, _days_between(session, Deal.created_at, Deal.closed_at)), else_=None)
        value = func.avg(days)
        deal_count = func.count(days)
        filters["cycle_over"] = cycle_stages
        if query.metric == "median_cycle_days":
            return _medians(
                session, query, group_exprs, [*conditions, in_cycle], base_from, filters, days, per_currency=False
            )

    labels = list(group_exprs)
    if UNITS[query.metric] == "currency":
        answer = _per_currency(session, query, group_exprs, conditions, base_from, filters, value, deal_count)
        return replace(answer, not_compared=not_compared)
    stmt = base_from(
        select(*[e.label(f"g_{k}") for k, e in group_exprs.items()], value.label("value"), deal_count.label("n"))
    )
    if conditions:
        stmt = stmt.where(*conditions)
    if group_exprs:
        stmt = stmt.group_by(*group_exprs.values())
        if _chronological(query):
            stmt = stmt.order_by(*group_exprs.values())
        else:
            stmt = stmt.order_by(_ranked(value, query.order), *group_exprs.values())
    rows = session.execute(stmt.limit(query.limit + 1)).all()
    total_stmt = base_from(select(value.label("value"), deal_count.label("n")))
    if conditions:
        total_stmt = total_stmt.where(*conditions)
    total = session.execute(total_stmt).one()
    answer_rows = (
        [
            PipelineAnswerRow({k: _text(r[i]) for i, k in enumerate(labels)}, _number(r[-2]), int(r[-1] or 0))
            for r in rows[: query.limit]
        ]
        if labels
        else []
    )
    return PipelineAnswer(
        metric=query.metric,
        unit=UNITS[query.metric],
        group_by=labels,
        rows=answer_rows,
        total=PipelineAnswerRow({}, _number(total[0]), int(total[1] or 0)),
        truncated=len(rows) > query.limit,
        filters=filters,
        not_compared=not_compared,
    )


def _check_open_on(query: PipelineQuery) -> None:
    """The past pipeline is open deals by their creation and close dates; a stage then is not recorded per day."""
    problems = {}
    if query.status != "open":
        problems["status"] = "the pipeline on a past day is its open deals: use status open"
    if query.stage or "stage" in query.group_by:
        problems["stage"] = "a past day's pipeline cannot be split by stage (deals have moved since)"
    if query.metric not in PAST_PIPELINE_METRICS:
        problems["metric"] = "a past day's pipeline has counts and amounts only"
    if problems:
        raise InvalidInput(problems)


def _medians(
    session: Session,
    query: PipelineQuery,
    group_exprs: dict[str, Any],
    conditions: list[ColumnElement[bool]],
    base_from: Any,
    filters: dict[str, Any],
    value: Any,
    *,
    per_currency: bool,
) -> PipelineAnswer:
    """The median of ``value`` per group (and per currency, for amounts): SQL has no portable median, so the values
    are read and the median taken here. Cycle days: one duration per deal, the ones ``avg_cycle_days`` averages;
    amounts: one per deal with an amount, never across currencies."""
    from statistics import median

    labels = list(group_exprs)
    currency: list[Any] = [col(Deal.currency).label("currency")] if per_currency else []
    stmt = base_from(select(*[e.label(f"g_{k}") for k, e in group_exprs.items()], *currency, value.label("value")))
    per_group: dict[tuple[tuple[str | None, ...], str | None], list[float]] = {}
    overall: dict[str | None, list[float]] = {}
    for row in session.execute(stmt.where(*conditions)).all():
        code = str(row[len(labels)]) if per_currency else None
        key = tuple(_text(v) for v in row[: len(labels)])
        per_group.setdefault((key, code), []).append(float(row[-1]))
        overall.setdefault(code, []).append(float(row[-1]))
    rows = [
        PipelineAnswerRow(dict(zip(labels, key, strict=True)), _number(median(v)), len(v), code)
        for (key, code), v in per_group.items()
    ]
    if _chronological(query):
        rows.sort(key=lambda r: (tuple(str(r.group[k] or "") for k in labels), r.currency or ""))
    else:
        sign = 1.0 if query.order == "asc" else -1.0
        rows.sort(
            key=lambda r: (
                r.currency or "",
                r.value is None,
                sign * (r.value or 0.0),
                tuple(str(v) for v in r.group.values()),
            )
        )
    totals = [
        PipelineAnswerRow({}, _number(median(v)), len(v), code)
        for code, v in sorted(overall.items(), key=lambda item: item[0] or "")
    ] or [PipelineAnswerRow({}, None, 0, None)]
    total = totals[0] if len(totals) == 1 else PipelineAnswerRow({}, None, sum(t.deals for t in totals), None)
    return PipelineAnswer(
        metric=query.metric,
        unit="currency" if per_currency else "days",
        group_by=labels,
        rows=rows[: query.limit] if labels else [],
        total=total,
        truncated=len(rows) > query.limit,
        filters=filters,
        currency=total.currency if per_currency else None,
        totals_by_currency=totals if per_currency and overall else [],
    )


def _funnel_answer(session: Session, actor: Actor, query: PipelineQuery, machine: StageMachine) -> PipelineAnswer:
    """A ``sales.funnel`` metric as a pipeline answer: its rows, its total, what it counts and its notes."""
    from sales.funnel import COUNTED, closer_metric, lead_metric

    compute = closer_metric if query.metric == "revenue_per_closer_hour" else lead_metric
    found = compute(session, actor, query, machine)
    rows = [PipelineAnswerRow(group, value, n, currency) for group, value, n, currency in found.rows]
    by_currency = [PipelineAnswerRow({}, value, n, currency) for value, n, currency in found.totals_by_currency]
    value, n, currency = found.total
    return PipelineAnswer(
        metric=query.metric,
        unit=UNITS[query.metric],
        group_by=(["step"] if query.metric == "funnel_conversion" else []) + list(query.group_by),
        rows=rows,
        total=PipelineAnswerRow({}, value, n, currency),
        truncated=found.truncated,
        filters=found.filters,
        currency=currency,
        totals_by_currency=by_currency,
        counted=COUNTED[query.metric],
        notes=found.notes,
    )


def _chronological(query: PipelineQuery) -> bool:
    """Rows in time order (a series by month or quarter nobody asked to rank), else ranked by the value."""
    return query.order is None and any(g in TIME_GROUPS for g in query.group_by)


def _ranked(value: ColumnElement[Any], order: str | None) -> Any:
    """Rank groups by the metric; a group without a value (no amounts) is last either way."""
    return value.asc().nulls_last() if order == "asc" else value.desc().nulls_last()


def _threshold_currency(
    session: Session, query: PipelineQuery, conditions: list[ColumnElement[bool]], base_from: Any
) -> tuple[str, dict[str, int]]:
    """The currency an amount filter is in, and how many deals with an amount in each other currency it skips."""
    stmt = base_from(select(col(Deal.currency), func.count(col(Deal.amount))))
    if conditions:
        stmt = stmt.where(*conditions)
    priced = {str(c): int(n) for c, n in session.execute(stmt.group_by(col(Deal.currency))).all() if n}
    if query.amount_currency is not None:
        code = currency_code(query.amount_currency, "amount_currency")
    elif len(priced) == 1:
        code = next(iter(priced))
    else:
        code = DEFAULT_CURRENCY
    return code, {c: n for c, n in sorted(priced.items()) if c != code}


def _per_currency(
    session: Session,
    query: PipelineQuery,
    group_exprs: dict[str, Any],
    conditions: list[ColumnElement[bool]],
    base_from: Any,
    filters: dict[str, Any],
    value: ColumnElement[Any],
    deal_count: ColumnElement[Any],
) -> PipelineAnswer:
    """An amount metric, grouped by currency as well as the asked groups: no sum or average spans currencies."""
    labels = list(group_exprs)
    currency = col(Deal.currency)
    stmt = base_from(
        select(
            *[e.label(f"g_{k}") for k, e in group_exprs.items()],
            currency.label("currency"),
            value.label("value"),
            deal_count.label("n"),
        )
    )
    if conditions:
        stmt = stmt.where(*conditions)
    stmt = stmt.group_by(*group_exprs.values(), currency)
    if _chronological(query):
        stmt = stmt.order_by(*group_exprs.values(), currency)
    else:
        # values in different currencies are not comparable: rank within each currency
        stmt = stmt.order_by(currency, _ranked(value, query.order), *group_exprs.values())
    rows = session.execute(stmt.limit(query.limit + 1)).all() if labels else []
    total_stmt = base_from(select(currency.label("currency"), value.label("value"), deal_count.label("n")))
    if conditions:
        total_stmt = total_stmt.where(*conditions)
    totals = [
        PipelineAnswerRow({}, _number(t.value), int(t.n or 0), t.currency)
        for t in session.execute(total_stmt.group_by(currency).order_by(currency)).all()
    ]
    # a currency whose deals carry no amount adds nothing: it does not make an answer "mixed"
    priced = [t for t in totals if t.deals > 0]
    totals = priced or totals[:1]
    answer_rows = _drop_unpriced_duplicates(
        [
            PipelineAnswerRow(
                {k: _text(getattr(r, f"g_{k}")) for k in labels}, _number(r.value), int(r.n or 0), r.currency
            )
            for r in rows[: query.limit]
        ]
    )
    if len(totals) == 1:
        total = PipelineAnswerRow({}, totals[0].value, totals[0].deals, totals[0].currency)
    else:
        total = PipelineAnswerRow({}, None, sum(t.deals for t in totals), None)
    return PipelineAnswer(
        metric=query.metric,
        unit=UNITS[query.metric],
        group_by=labels,
        rows=answer_rows,
        total=total,
        truncated=len(rows) > query.limit,
        filters=filters,
        currency=total.currency,
        totals_by_currency=totals,
    )


def _drop_unpriced_duplicates(rows: list[PipelineAnswerRow]) -> list[PipelineAnswerRow]:
    """Drop a group's no-amount row in one currency when the group has amounts in another."""
    priced = {tuple(r.group.items()) for r in rows if r.deals > 0}
    return [r for r in rows if r.deals > 0 or tuple(r.group.items()) not in priced]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _stage_conversion(
    session: Session,
    query: PipelineQuery,
    group_exprs: dict[str, ColumnElement[Any]],
    conditions: list[ColumnElement[bool]],
    base_from: Any,
    filters: dict[str, Any],
    machine: StageMachine,
    stage: str | None,
) -> PipelineAnswer:
    # Order the forward path; Lost is not progress. A deal "converted" from a stage when it later entered any
    # stage further along the path (deals may skip a stage when created part-way, e.g. on qualification).
    path = [*machine.open_stages, machine.won_stage]
    order = case({s: i for i, s in enumerate(path)}, value=StageChange.to_stage, else_=-1)
    reached = (
        select(col(StageChange.deal_id).label("deal_id"), func.max(order).label("max_order"))
        .where(col(StageChange.to_stage).in_(path))
        .group_by(col(StageChange.deal_id))
        .subquery("reached")
    )
    entered = (
        select(col(StageChange.deal_id).label("deal_id"), col(StageChange.to_stage).label("stage"))
        .where(col(StageChange.to_stage).in_(machine.open_stages))
        .distinct()
        .subquery("entered")
    )
    stage_order = case({s: i for i, s in enumerate(path)}, value=entered.c.stage, else_=-1)
    converted = case((reached.c.max_order > stage_order, 1.0), else_=0.0)
    if query.to_stage is not None:
        target = machine.canonical(query.to_stage)
        if target is None or target not in path:
            raise InvalidInput(
                {"to_stage": f"{query.to_stage!r} is not a stage deals move to; use one of {', '.join(path)}"}
            )
        if stage is not None and path.index(target) <= path.index(stage):
            raise InvalidInput({"to_stage": f"{target} does not come after {stage}"})
        goal = path.index(target)
        converted = case((reached.c.max_order >= goal, 1.0), else_=0.0)
        # only the stages before the target can convert to it
        conditions = [*conditions, stage_order < goal]
        filters["to_stage"] = target
    groups = {"stage": entered.c.stage, **{k: v for k, v in group_exprs.items() if k != "stage"}}
    stmt = base_from(
        select(
            *[e.label(f"g_{k}") for k, e in groups.items()],
            func.avg(converted).label("value"),
            func.count().label("n"),
            func.min(stage_order).label("o"),
        )
    )
    stmt = stmt.join(entered, entered.c.deal_id == col(Deal.id)).join(reached, reached.c.deal_id == col(Deal.id))
    if stage is not None:
        conditions = [*conditions, entered.c.stage == stage]
    if conditions:
        stmt = stmt.where(*conditions)
    stmt = stmt.group_by(*groups.values()).order_by(
        func.min(stage_order), *[v for k, v in groups.items() if k != "stage"]
    )
    rows = session.execute(stmt.limit(query.limit + 1)).all()
    labels = list(groups)
    answer_rows = [
        PipelineAnswerRow({k: _text(r[i]) for i, k in enumerate(labels)}, _number(r[-3]), int(r[-2] or 0))
        for r in rows[: query.limit]
    ]
    total_stmt = base_from(select(func.avg(converted), func.count()))
    total_stmt = total_stmt.join(entered, entered.c.deal_id == col(Deal.id)).join(
        reached, reached.c.deal_id == col(Deal.id)
    )
    if conditions:
        total_stmt = total_stmt.where(*conditions)
    total = session.execute(total_stmt).one()
    return PipelineAnswer(
        metric=query.metric,
        unit="ratio",
        group_by=labels,
        rows=answer_rows,
        total=PipelineAnswerRow({}, _number(total[0]), int(total[1] or 0)),
        truncated=len(rows) > query.limit,
        filters=filters,
    )


_METRIC_WORDS = {
    "count": "Number",
    "total_amount": "Total amount",
    "avg_amount": "Average amount",
    "median_amount": "Median amount",
    "win_rate": "Win rate (won / (won + lost))",
    "avg_cycle_days": "Average days from created to closed",
    "median_cycle_days": "Median days from created to closed",
    "stage_conversion": "Stage conversion (share of deals that went further)",
}
_STATUS_WORDS = {"open": "open", "won": "won", "lost": "lost", "closed": "closed (won or lost)", "all": "all"}
_DATE_WORDS = {"created": "created", "closed": "closed", "expected_close": "expected to close"}


def describe_query(
    query: PipelineQuery,
    *,
    owner: str | None = None,
    team: str | None = None,
    period: str | None = None,
    stage_term: str | None = None,
    won_stage: str = "Won",
    excluded_owner: str | None = None,
) -> str:
    """What ``query`` computes, in words, so a reader can see a misreading: "Total amount of won deals closed in
    2017 (2017-01-01 to 2017-12-31), region West, by owner, highest first, top 5"."""
    from sales.funnel import FUNNEL_METRICS, describe

    if query.metric in FUNNEL_METRICS:
        return describe(query, owner=owner, team=team, period=period)
    deals = "deals" if query.metric != "stage_conversion" else "deals that entered a stage"
    status = "" if query.metric == "win_rate" else f"{_STATUS_WORDS[query.status]} "
    if query.metric in ("avg_cycle_days", "median_cycle_days") and query.status == "all":
        status = "won "  # a cycle runs to a close: all deals means the won ones (see run_pipeline_query)
    label = _METRIC_WORDS[query.metric]
    if query.metric == "stage_conversion" and query.to_stage:
        beyond = "" if query.to_stage == won_stage else " or a stage after it"
        label = f"Stage conversion (share of the deals that later reached {query.to_stage}{beyond})"
    text = f"{label} of {status}{deals}"
    if query.open_on is not None:
        text += f" as they stood at the end of {query.open_on.isoformat()} (open then, at today's amounts)"
    if query.date_from is not None or query.date_to is not None:
        verb = _DATE_WORDS[query.date_field]
        last = query.date_to - timedelta(days=1) if query.date_to is not None else None
        if query.date_from is not None and last is not None:
            span = f"{query.date_from.isoformat()} to {last.isoformat()}"
        elif query.date_from is not None:
            span = f"since {query.date_from.isoformat()}"
        else:
            span = f"before {query.date_to.isoformat() if query.date_to else ''}"
        text += f" {verb} {span}" + (f" ({period})" if period else "")
    filters = []
    if owner:
        filters.append(f"owner {owner}")
    if team or query.team_label:
        filters.append(f"team {team or query.team_label}")
    if query.stage:
        if query.metric == "stage_conversion":
            filters.append(f"from stage {query.stage}")
        else:
            filters.append(
                f"in stage {stage_term} (stored as {query.stage})" if stage_term else f"in stage {query.stage}"
            )
    for label, value in (
        ("product", query.product),
        ("region", query.region),
        ("industry", query.industry),
        ("account", query.account),
        ("lead source", query.source),
    ):
        if value:
            filters.append(f"{label} {value}")
    if query.amount_min is not None:
        filters.append(
            f"amount at least {query.amount_min:,.0f}{' ' + query.amount_currency if query.amount_currency else ''}"
        )
    if query.amount_max is not None:
        filters.append(
            f"amount at most {query.amount_max:,.0f}{' ' + query.amount_currency if query.amount_currency else ''}"
        )
    for kind, value in query.exclude:
        shown = excluded_owner if kind == "owner" and excluded_owner else value
        filters.append(f"excluding {kind} {shown}")
    if filters:
        text += ", " + ", ".join(filters)
    if query.group_by:
        text += ", by " + " and ".join(g.replace("_", " ") for g in query.group_by)
        for word, bound in (("at least", query.value_min), ("at most", query.value_max)):
            if bound is None:
                continue
            if query.metric == "count":
                text += f", only those with {word} {_figure(query.metric, bound)} deals"
            else:
                words = _METRIC_WORDS.get(query.metric, query.metric.replace("_", " ")).split(" (")[0].lower()
                text += f", only those whose {words} is {word} {_figure(query.metric, bound)}"
        if not _chronological(query):
            if query.limit == 1:
                text += ", the lowest" if query.order == "asc" else ", the highest"
            else:
                text += ", lowest first" if query.order == "asc" else ", highest first"
                if query.limit < 50:
                    text += f", {'bottom' if query.order == 'asc' else 'top'} {query.limit}"
    return text


def _figure(metric: str, value: float) -> str:
    unit = UNITS.get(metric, "deals")
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:,.1f} days"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


__all__ = ["PipelineAnswer", "PipelineAnswerRow", "PipelineQuery", "describe_query", "run_pipeline_query"]
