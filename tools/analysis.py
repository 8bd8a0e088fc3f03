"""Read-only analysis tools: pipeline questions, lead scores, forecasts, bottlenecks and interaction search.

Scoring, forecasting, bottleneck analysis and semantic search come from other rooms (analytics/, memory/); while
one of them is not installed the tool says exactly what is missing instead of answering.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col

from sales.errors import InvalidInput
from sales.permissions import Actor, team_member_ids
from store.db import session_scope
from store.models import User
from tools.base import RunContext, ToolUnavailable
from tools.records import deal_id_for, lead_id_for, owner_id_for
from tools.results import (
    BottleneckResult,
    CurrencyForecast,
    ForecastResult,
    InteractionHit,
    PipelineQuestionResult,
    PipelineRow,
    ScoreFactor,
    ScoreLeadResult,
    SearchInteractionsResult,
)
from tools.schemas import BottleneckArgs, ForecastArgs, PipelineQuestionArgs, ScoreLeadArgs, SearchInteractionsArgs


def _capability(module: str, name: str, what: str) -> Any:
    """The function ``module.name``, or a clear "not available yet" refusal naming what is missing."""
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        if exc.name and module.startswith(exc.name):
            raise ToolUnavailable(f"not available yet: {what} ({module} is not installed)") from None
        raise
    function = getattr(found, name, None)
    if function is None:
        raise ToolUnavailable(f"not available yet: {what} ({module}.{name} is missing)")
    return function


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return dict(value)
    return {k: v for k, v in vars(value).items() if not k.startswith("_")}


def _jsonable(value: Any) -> Any:
    from store.audit import jsonable

    if isinstance(value, BaseModel) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return _jsonable(_as_dict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return jsonable(value)


def _period_bounds(ctx: RunContext, text: str | None, field: str) -> tuple[date, date] | None:
    from sales.periods import parse_period

    if not text:
        return None
    try:
        period = parse_period(text, ctx.today())
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from None
    return period.start, period.end


def _iso(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidInput({field: f"{value!r} is not a date (use YYYY-MM-DD)"}) from None


def _visible_owner(s: Session, actor: Actor, owner: str | None) -> User | None:
    """The owner a question is about; someone the asker may not see is a permission refusal, never "no deals"."""
    from sales.errors import PermissionDenied
    from sales.users import find_user

    if owner is None or not owner.strip():
        return None
    user = find_user(s, actor, owner)
    if not actor.can_see_owner(user.id):
        scope = "your own deals" if actor.role == "rep" else "your team's deals"
        raise PermissionDenied(f"you can see only {scope}, so I can't report {user.name}'s")
    return user


def _team(s: Session, actor: Actor, team: str | None) -> tuple[int | None, str | None, str | None]:
    """(manager id, team label, name to show) for a team named by its manager (a user) or by its label."""
    from sqlalchemy import func, select

    from sales.errors import NotFound
    from sales.users import find_user
    from store.models import User

    if team is None or not team.strip():
        return None, None, None
    wanted = team.strip().removesuffix("'s team").removesuffix(" team").strip()
    labels = sorted({t for t in s.execute(select(col(User.team)).where(col(User.team).is_not(None))).scalars() if t})
    label = next((t for t in labels if t.lower() == wanted.lower()), None)
    try:
        manager: User | None = find_user(s, actor, wanted)
    except NotFound:
        manager = None
    if manager is not None and (
        manager.role != "rep" or s.execute(select(func.count()).where(col(User.manager_id) == manager.id)).scalar()
    ):
        assert manager.id is not None
        _can_see_team(actor, team_member_ids(s, manager.id), f"{manager.name}'s team")
        return manager.id, None, manager.name
    if label is not None:
        members = {
            u.id
            for u in s.execute(select(User).where(func.lower(User.team) == label.lower())).scalars()
            if u.id is not None
        }
        _can_see_team(actor, members, f"the {label} team")
        return None, label, label
    known = ", ".join(labels[:12]) if labels else "none are recorded"
    raise NotFound(f"no team or manager called {team!r}; the teams here are: {known}")


def _can_see_team(actor: Actor, members: set[int], name: str) -> None:
    """A team the asker can see only part of is refused as such: never their own slice passed off as the team's."""
    from sales.errors import PermissionDenied

    if actor.visible_owner_ids is not None and not members <= actor.visible_owner_ids:
        scope = "your own deals" if actor.role == "rep" else "your team's deals"
        raise PermissionDenied(f"you can see only {scope}, so I can't report {name}'s figures")


def pipeline_question(ctx: RunContext, args: PipelineQuestionArgs) -> PipelineQuestionResult:
    from sales.pipeline_query import PipelineQuery, describe_query, run_pipeline_query
    from sales.stages import workspace_machine
    from sales.vocabulary import load_vocabulary

    with session_scope(ctx.engine) as s:
        owner = _visible_owner(s, ctx.actor, args.owner)
        owner_id = owner.id if owner is not None else None
        team_id, team_label, team_name = _team(s, ctx.actor, args.team)
        stage, stage_term = args.stage, None
        if stage:
            meaning = load_vocabulary(s).stage_terms.get(stage.strip().lower())
            if meaning:
                stage, stage_term = meaning, stage.strip()
        bounds = _period_bounds(ctx, args.period, "period")
        date_from, date_to = bounds if bounds else (_iso(args.date_from, "date_from"), _iso(args.date_to, "date_to"))
        machine = workspace_machine(s)  # read once for every query of this question and its wording
        excluded_owner = None
        exclude: list[tuple[str, str]] = []
        for kind, value in (args.exclude or {}).items():
            if kind == "owner":  # by id; leaving someone out reveals nothing of theirs
                from sales.users import find_user

                user = find_user(s, ctx.actor, value)
                excluded_owner = user.name
                exclude.append(("owner", str(user.id)))
            else:
                exclude.append((kind, value))
        query = PipelineQuery(
            metric=args.metric,
            group_by=tuple(dict.fromkeys(args.group_by)),
            status=args.status,
            owner_ids=(owner_id,) if owner_id is not None else None,
            team_manager_id=team_id,
            team_label=team_label,
            stage=stage,
            industry=args.industry,
            product=args.product,
            region=args.region,
            account=args.account,
            source=args.source,
            date_field=args.date_field,
            date_from=date_from,
            date_to=date_to,
            amount_min=args.amount_min,
            amount_max=args.amount_max,
            amount_currency=args.amount_currency,
            open_on=_iso(args.open_on, "open_on") if args.open_on else None,
            to_stage=args.to_stage,
            exclude=tuple(exclude),
            value_min=args.value_min,
            value_max=args.value_max,
            limit=args.limit,
            order=args.sort,
        )
        answer = run_pipeline_query(s, ctx.actor, query, machine=machine)
        unpriced = (
            answer.unit == "currency"
            and answer.counted == "deals"  # a funnel figure (revenue per hour) without wins is not a count of deals
            and answer.total.deals == 0
            and not answer.totals_by_currency[1:]
        )
        if (
            unpriced
            and run_pipeline_query(
                s, ctx.actor, dataclasses.replace(query, metric="count"), machine=machine
            ).total.value
        ):
            # the deals match but carry no amounts (Maven's open deals): count them, and say so
            query = dataclasses.replace(query, metric="count")
            answer = run_pipeline_query(s, ctx.actor, query, machine=machine)
        computed = describe_query(
            query,
            owner=owner.name if owner is not None else None,
            team=team_name,
            period=args.period,
            stage_term=stage_term,
            won_stage=machine.won_stage,
            excluded_owner=excluded_owner,
        )
        if unpriced and query.metric == "count":
            computed += " (these deals carry no amounts, so they are counted)"
        if ctx.actor.visible_owner_ids is not None and owner is None:
            records = "leads" if answer.counted.startswith("lead") else "deals"
            computed += f"; only your own {records}" if ctx.actor.role == "rep" else f"; only your team's {records}"
            if ctx.actor.role == "rep" and {"owner", "team"} & set(query.group_by):
                # a comparison between reps is asked, and a rep sees nobody else's deals: say so, not a one-row table
                computed += " (you may not see other reps' deals, so there is no one to compare with)"
        filters = dict(answer.filters)
        if args.owner:
            filters["owner"] = args.owner
        if args.team:
            filters["team"] = args.team
        if args.period:
            filters["period"] = args.period
        return PipelineQuestionResult(
            computed=computed,
            metric=answer.metric,
            unit=answer.unit,
            group_by=answer.group_by,
            filters=_jsonable(filters),
            rows=[PipelineRow(group=r.group, value=r.value, deals=r.deals, currency=r.currency) for r in answer.rows],
            total=PipelineRow(
                group={}, value=answer.total.value, deals=answer.total.deals, currency=answer.total.currency
            ),
            truncated=answer.truncated,
            currency=answer.currency,
            amounts_by_currency=[
                PipelineRow(value=t.value, deals=t.deals, currency=t.currency) for t in answer.totals_by_currency
            ],
            not_compared=answer.not_compared,
            counted=answer.counted,
            notes=answer.notes,
        )


def score_lead(ctx: RunContext, args: ScoreLeadArgs) -> ScoreLeadResult:
    scorer = _capability("analytics.scoring", "score_lead", "lead scoring")
    with session_scope(ctx.engine) as s:
        lead_id = lead_id_for(s, ctx.actor, args.lead_id, args.lead_name)
        scored = _as_dict(scorer(s, ctx.actor, lead_id, settings=ctx.settings))
        from store.models import Lead

        lead = s.get(Lead, lead_id)
        factors = [
            ScoreFactor(
                feature=str(reason.get("label") or reason.get("feature")),
                effect=float(reason.get("effect_points") or 0.0),
                description=reason.get("text"),
            )
            for reason in (_as_dict(r) for r in scored.get("reasons") or [])
        ]
        return ScoreLeadResult(
            lead_id=lead_id,
            name=lead.name if lead else str(lead_id),
            score=round(float(scored["score"]), 1),
            band=scored.get("band"),
            factors=factors,
            model_version=scored.get("model_version"),
            receipt_id=scored.get("audit_event_id"),
            # the result carries the score itself; the summary explains it (why, how sure, what next)
            summary=scored.get("explanation") or scored.get("brief"),
            next_action=scored.get("next_action"),
            rule_based=scored.get("rule_based"),
        )


def forecast(ctx: RunContext, args: ForecastArgs) -> ForecastResult:
    forecaster = _capability("analytics.forecast", "forecast_by_currency", "revenue forecasting")
    with session_scope(ctx.engine) as s:
        found = forecaster(
            s,
            ctx.actor,
            args.period,
            group_by=args.group_by,
            owner=args.owner,
            team=args.team,
            today=ctx.today(),
            cache_dir=ctx.settings.home_dir / "forecast",
        )
        results = [_as_dict(f) for f in found]
        totals = [_as_dict(r["total"]) for r in results]
        by_currency = [
            CurrencyForecast(
                currency=str(r.get("currency") or t.get("currency")),
                expected=float(t["expected"]),
                low=float(t["p10"]) if t.get("p10") is not None else None,
                high=float(t["p90"]) if t.get("p90") is not None else None,
                open_deals=int(t.get("open_deals") or 0),
            )
            for r, t in zip(results, totals, strict=True)
        ]
        rows = [_jsonable(line) for r in results for line in r.get("lines") or []]
        notes = [str(n) for r in results for n in r.get("notes") or []]
        method = str(results[0].get("method") or "") if results else ""
        # one currency: its total; several: no total at all (amounts are never added across currencies)
        one = by_currency[0] if len(by_currency) == 1 else None
        chosen = str(results[0].get("chosen") or "") if results else ""
        why = str(results[0].get("why") or "") if results else ""
        beside: dict[str, dict[str, float | None]] = {}
        if one is not None:
            t = totals[0]
            for name, key in (("simulation", "simulation"), ("run rate", "run_rate"), ("blend", "blend")):
                if t.get(key) is not None:
                    beside[name] = {"expected": t[key], "low": t.get(f"{key}_p10"), "high": t.get(f"{key}_p90")}
        # the answer states the method: which forecaster the figure is, the others beside it, and why
        stated = f"{chosen}: {method}" if chosen and chosen != method else method
        if beside and one is not None:
            stated += "; beside it " + ", ".join(
                f"{name} {v['expected']:,.0f} ({v['low']:,.0f} to {v['high']:,.0f}) {one.currency}"
                for name, v in beside.items()
                if v["low"] is not None and v["high"] is not None and name != chosen
            )
        if why:
            stated += f"; why {chosen}: {why}"
        return ForecastResult(
            period=str(results[0].get("period") if results else args.period),
            currency=one.currency if one else None,
            expected=one.expected if one else None,
            low=one.low if one else None,
            high=one.high if one else None,
            rows=rows,
            method=method_text(stated, notes),
            by_currency=by_currency,
            chosen=chosen or None,
            why=why or None,
            beside=beside,
        )


def method_text(method: str, notes: list[str]) -> str | None:
    """The method and its notes as one readable line, a clause each, each note once: "monte-carlo; open deals
    carry no amount until they close; shared shocks: ..."."""
    parts = [p.strip().rstrip(".").strip() for p in [method, *dict.fromkeys(notes)]]
    return "; ".join(p for p in parts if p) or None


def bottleneck_analysis(ctx: RunContext, args: BottleneckArgs) -> BottleneckResult:
    analyse = _capability("analytics.bottlenecks", "bottleneck_analysis", "bottleneck analysis")
    since: date | None = None
    if args.since:
        try:
            since = date.fromisoformat(args.since.strip()[:10])
        except ValueError:
            bounds = _period_bounds(ctx, args.since, "since")
            since = bounds[0] if bounds else None
    with session_scope(ctx.engine) as s:
        report = _as_dict(analyse(s, ctx.actor, segment=args.segment, since=since))
        findings = [_jsonable(f) for f in (report.get("findings") or [])[:8]]
        return BottleneckResult(segment=args.segment, summary=str(report.get("summary") or ""), findings=findings)


def search_interactions(ctx: RunContext, args: SearchInteractionsArgs) -> SearchInteractionsResult:
    search = _capability("memory.search", "search_interactions", "semantic search over interactions")
    with session_scope(ctx.engine) as s:
        deal_id = deal_id_for(s, ctx.actor, None, args.deal_name) if args.deal_name else None
        owner_id = owner_id_for(s, ctx.actor, args.owner)
        why: str | None = None
        try:
            index = ctx.vector_index()
        except Exception as exc:  # no index (yet): the search falls back to keywords and says so below
            index, why = None, str(exc)
        found = search(
            s,
            ctx.actor,
            index,
            args.query,
            account=args.account,
            deal_id=deal_id,
            owner=owner_id,
            channel=args.channel,
            since=_iso(args.since, "since"),
            until=_iso(args.until, "until"),
            limit=args.limit,
            mode="hybrid" if index is not None else "keyword",
        )
        hits = [
            InteractionHit(
                interaction_id=hit.interaction_id,
                occurred_at=hit.occurred_at.isoformat(),
                channel=hit.channel,
                subject=hit.subject,
                snippet=hit.snippet,
                deal_name=hit.record if hit.record_type == "deal" else None,
                account_name=hit.account,
                score=hit.score,
            )
            for hit in found
        ]
        if why:
            logging.getLogger(__name__).info("interaction search without the vector index: %s", why)
        return SearchInteractionsResult(
            query=args.query,
            hits=hits,
            mode="keyword only: " + why if why else "hybrid (meaning + keywords)",
            index_note=_index_note(s, index),
        )


def _index_note(session: Session, index: Any) -> str | None:
    """What the answer must say when meaning search cannot see every note: the index is missing, empty or behind."""
    from memory.indexer import pending_count

    pending, total = pending_count(session)
    if not total:
        return None
    command = "an admin runs `salesgraph memory sync`"
    if index is None or (pending == total):
        return (
            f"the vector index holds none of the {total:,} notes yet, so only exact words were matched until {command}"
        )
    if pending:
        return f"{pending:,} of {total:,} notes are not in the vector index yet (exact words still match them) until {command}"
    return None
