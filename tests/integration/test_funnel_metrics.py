"""Funnel metrics on the demo store: each equals a direct SQL computation, on SQLite and PostgreSQL, per role.

The expected figures are written here in plain SQL over the tables, independently of ``sales.funnel`` (which
reads rows and aggregates them in Python), for the manager's team, one rep and the admin, over all time and over
a period. The edge cases: a store with no interactions or no logged hours says "not available because ..."
instead of dividing by zero.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from sales.demo import DEMO_ADMIN_EMAIL, DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, seed_demo
from sales.errors import InvalidInput
from sales.funnel import TOUCH_HOURS
from sales.permissions import Actor, load_actor
from sales.pipeline_query import PipelineAnswer, PipelineQuery, run_pipeline_query
from store.db import make_engine, session_scope, upgrade
from store.models import Deal, Interaction, Lead, StageChange
from tests.factories import make_user

ANCHOR = date(2026, 11, 16)
PERIOD = (date(2026, 4, 1), date(2026, 10, 1))
STEPS = ["Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation", "Won"]
TOUCH = "(i.channel IN ('call', 'meeting') OR (i.channel = 'email' AND i.direction = 'outbound'))"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo company (seed 7) in a store of its own, seeded once per back end for the tests that only read it."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('funnel') / 'demo.db'}")
        schema = None
    else:
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("PostgreSQL store tests need TEST_DATABASE_URL (make test sets it when a server answers)")
        schema = f"sg_funnel_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(url, schema=schema)
    upgrade(engine)
    with session_scope(engine) as s:
        seed_demo(s, seed=7, anchor=ANCHOR)
    yield engine
    engine.dispose()
    if schema is not None:
        admin = make_engine(os.environ["TEST_DATABASE_URL"])
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _days(engine: Engine, start: str, end: str) -> str:
    if engine.dialect.name == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({end}) - ({start})) / 86400.0)"
    return f"(julianday({end}) - julianday({start}))"


def _one(s: Session, sql: str, **params: Any) -> Any:
    return s.execute(text(sql), params).one()


def _scope(s: Session, email: str) -> tuple[Actor, str]:
    """The actor and, as SQL over the users table, the owners they may see (written here, not taken from them)."""
    me = s.execute(text("SELECT id, role FROM users WHERE email = :e"), {"e": email}).one()
    if me.role == "admin":
        return load_actor(s, email), "(SELECT id FROM users)"
    if me.role == "manager":
        return load_actor(s, email), f"(SELECT id FROM users WHERE id = {me.id} OR manager_id = {me.id})"
    return load_actor(s, email), f"({me.id})"


def _period_sql(column: str, period: tuple[date, date] | None) -> str:
    if period is None:
        return ""
    return f" AND {column} >= '{period[0].isoformat()}' AND {column} < '{period[1].isoformat()}'"


def _run(s: Session, actor: Actor, metric: str, period: tuple[date, date] | None, **kw: Any) -> PipelineAnswer:
    start, end = period if period else (None, None)
    return run_pipeline_query(s, actor, PipelineQuery(metric=metric, date_from=start, date_to=end, **kw))  # type: ignore[arg-type]


def _close(value: float | None, expected: Any) -> None:
    assert value is not None and expected is not None
    assert value == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.parametrize("email", [DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, DEMO_ADMIN_EMAIL])
def test_each_funnel_metric_equals_a_direct_sql_computation_on_the_demo_store(demo: Engine, email: str) -> None:
    engine = demo
    with session_scope(engine, read_only=True) as s:
        actor, team = _scope(s, email)
        for period in (None, PERIOD):
            leads = f"FROM leads l WHERE l.owner_id IN {team}{_period_sql('l.created_at', period)}"
            deal_of = f"d.lead_id = l.id AND d.owner_id IN {team}"

            # lead → deal: leads with a deal opened from them, over the leads
            n, with_deal = _one(
                s,
                f"SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM deals d WHERE {deal_of}) THEN 1 ELSE 0 END) {leads}",
            )
            answer = _run(s, actor, "lead_to_deal", period)
            assert answer.total.deals == n and answer.counted == "leads" and n > 0
            _close(answer.total.value, with_deal / n)

            # the funnel, step by step
            funnel = {r.group["step"]: r for r in _run(s, actor, "funnel_conversion", period).rows}
            qualified_sql = (
                f"(l.qualified_at IS NOT NULL OR l.status IN ('qualified', 'converted') "
                f"OR EXISTS (SELECT 1 FROM deals d WHERE {deal_of}))"
            )
            n_q = _one(s, f"SELECT sum(CASE WHEN {qualified_sql} THEN 1 ELSE 0 END) {leads}")[0]
            assert funnel["lead → qualified lead"].deals == n
            _close(funnel["lead → qualified lead"].value, n_q / n)
            assert funnel["qualified lead → deal"].deals == n_q
            _close(funnel["qualified lead → deal"].value, with_deal / n_q)
            reached = {}
            for i, stage in enumerate(STEPS):
                further = ", ".join(f"'{x}'" for x in STEPS[i:])
                reached[stage] = _one(
                    s,
                    f"SELECT count(*) {leads} AND EXISTS (SELECT 1 FROM deals d WHERE {deal_of} AND (d.stage IN ({further}) "
                    f"OR EXISTS (SELECT 1 FROM stage_changes c WHERE c.deal_id = d.id AND c.to_stage IN ({further}))))",
                )[0]
            for here, there in itertools.pairwise(STEPS):
                row = funnel[f"{here} → {there}"]
                assert row.deals == reached[here]
                _close(row.value, reached[there] / reached[here])
            _close(funnel["lead → Won (overall)"].value, reached["Won"] / n)
            _close(funnel["lead → deal (overall)"].value, with_deal / n)

            # time to first touch: days from created to the first call, meeting or outbound email, over touched leads
            first = (
                "(SELECT min(i.occurred_at) FROM interactions i WHERE i.lead_id = l.id AND i.occurred_at >= l.created_at "
                f"AND {TOUCH})"
            )
            touched, avg_days = _one(s, f"SELECT count({first}), avg({_days(engine, 'l.created_at', first)}) {leads}")
            answer = _run(s, actor, "time_to_first_touch", period)
            assert answer.total.deals == touched and answer.counted == "leads touched"
            _close(answer.total.value, avg_days)
            assert f"{n - touched:,} of {n:,} leads have no touch logged yet" in " ".join(answer.notes)
            by_owner = {
                r.group["owner"]: r for r in _run(s, actor, "time_to_first_touch", period, group_by=("owner",)).rows
            }
            owners = s.execute(
                text(
                    f"SELECT u.name, count({first}), avg({_days(engine, 'l.created_at', first)}) FROM leads l "
                    f"JOIN users u ON u.id = l.owner_id WHERE l.owner_id IN {team}{_period_sql('l.created_at', period)} "
                    "GROUP BY u.name"
                )
            ).all()
            for name, count, average in owners:
                if count:
                    assert by_owner[name].deals == count
                    _close(by_owner[name].value, average)

            # reply rate to the first email: an inbound email after the first outbound one and before the second
            first_out = "(SELECT min(o.occurred_at) FROM interactions o WHERE o.lead_id = l.id AND o.channel = 'email' AND o.direction = 'outbound')"
            second_out = (
                "(SELECT min(o2.occurred_at) FROM interactions o2 WHERE o2.lead_id = l.id AND o2.channel = 'email' "
                f"AND o2.direction = 'outbound' AND o2.occurred_at > {first_out})"
            )
            replied = (
                "EXISTS (SELECT 1 FROM interactions r WHERE r.lead_id = l.id AND r.channel = 'email' AND r.direction = "
                f"'inbound' AND r.occurred_at > {first_out} AND ({second_out} IS NULL OR r.occurred_at < {second_out}))"
            )
            emailed, answered = _one(
                s, f"SELECT count({first_out}), sum(CASE WHEN {replied} THEN 1 ELSE 0 END) {leads}"
            )
            answer = _run(s, actor, "first_reply_rate", period)
            assert answer.total.deals == emailed > 0
            _close(answer.total.value, answered / emailed)

            # interest after a reply: qualified or a deal at or after the lead's first inbound email, or it read positive
            first_in = "(SELECT min(r.occurred_at) FROM interactions r WHERE r.lead_id = l.id AND r.channel = 'email' AND r.direction = 'inbound')"
            interested = (
                f"(l.qualified_at >= {first_in} OR EXISTS (SELECT 1 FROM deals d WHERE {deal_of} AND d.created_at >= {first_in}) "
                f"OR EXISTS (SELECT 1 FROM interactions p WHERE p.lead_id = l.id AND p.channel = 'email' AND p.direction = "
                f"'inbound' AND p.occurred_at = {first_in} AND p.sentiment > 0.05))"
            )
            wrote, keen = _one(s, f"SELECT count({first_in}), sum(CASE WHEN {interested} THEN 1 ELSE 0 END) {leads}")
            answer = _run(s, actor, "reply_interest_rate", period)
            assert answer.total.deals == wrote > 0
            _close(answer.total.value, keen / wrote)

            # revenue per closer hour: won amounts / (calls 0.5 h, meetings 1 h, outbound emails 0.25 h on deals)
            hours_sql = (
                "SELECT coalesce(sum(CASE i.channel WHEN 'call' THEN 0.5 WHEN 'meeting' THEN 1.0 ELSE 0.25 END), 0) "
                f"FROM interactions i WHERE i.deal_id IS NOT NULL AND {TOUCH} AND i.user_id IN {{who}}"
                f"{_period_sql('i.occurred_at', period)}"
            )
            won_sql = (
                "SELECT coalesce(sum(d.amount), 0), count(*) FROM deals d WHERE d.stage = 'Won' AND d.closed_at IS NOT NULL "
                f"AND d.owner_id IN {{who}}{_period_sql('d.closed_at', period)}"
            )
            hours = _one(s, hours_sql.format(who=team))[0]
            revenue, wins = _one(s, won_sql.format(who=team))
            answer = _run(s, actor, "revenue_per_closer_hour", period)
            assert answer.total.deals == wins > 0 and answer.currency == "USD"
            _close(answer.total.value, Decimal(revenue) / Decimal(hours))
            assert answer.filters["selling_hours"] == pytest.approx(float(hours))
            rows = _run(s, actor, "revenue_per_closer_hour", period, group_by=("owner",)).rows
            for row in rows:
                uid = _one(s, "SELECT id FROM users WHERE name = :n", n=row.group["owner"])[0]
                rep_hours = _one(s, hours_sql.format(who=f"({uid})"))[0]
                rep_revenue, rep_wins = _one(s, won_sql.format(who=f"({uid})"))
                assert row.deals == rep_wins
                _close(row.value, Decimal(rep_revenue) / Decimal(rep_hours))

            # sales cycle: created → won, median and mean
            cycle = _days(engine, "d.created_at", "d.closed_at")
            won_deals = f"FROM deals d WHERE d.stage = 'Won' AND d.closed_at IS NOT NULL AND d.owner_id IN {team}{_period_sql('d.closed_at', period)}"
            count, mean = _one(s, f"SELECT count(*), avg({cycle}) {won_deals}")
            median = _one(
                s,
                f"SELECT avg(x.days) FROM (SELECT {cycle} AS days, row_number() OVER (ORDER BY {cycle}) AS rn, "
                f"count(*) OVER () AS n {won_deals}) x WHERE x.rn IN ((x.n + 1) / 2, (x.n + 2) / 2)",
            )[0]
            kw: dict[str, Any] = {"date_field": "closed"} if period else {}
            answer = _run(s, actor, "median_cycle_days", period, **kw)
            assert answer.total.deals == count
            _close(answer.total.value, median)
            _close(_run(s, actor, "avg_cycle_days", period, **kw).total.value, mean)


def test_a_rep_sees_only_their_own_leads_and_a_team_filter_they_may_not_see_is_refused(demo: Engine) -> None:
    with session_scope(demo, read_only=True) as s:
        rep = load_actor(s, DEMO_REP_EMAIL)
        answer = run_pipeline_query(s, rep, PipelineQuery(metric="lead_to_deal", group_by=("owner",)))
        assert [r.group["owner"] for r in answer.rows] == [rep.name]
        with pytest.raises(InvalidInput, match="stage"):
            run_pipeline_query(s, rep, PipelineQuery(metric="lead_to_deal", stage="Proposal"))
        with pytest.raises(InvalidInput, match="grouped by"):
            run_pipeline_query(s, rep, PipelineQuery(metric="first_reply_rate", group_by=("product",)))
        with pytest.raises(InvalidInput, match="status"):
            run_pipeline_query(s, rep, PipelineQuery(metric="lead_to_deal", status="won"))


def test_the_tool_answer_says_what_was_computed_the_period_the_population_and_n(demo: Engine, tmp_path: Path) -> None:
    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.analysis import pipeline_question
    from tools.schemas import PipelineQuestionArgs

    with session_scope(demo, read_only=True) as s:
        manager = load_actor(s, DEMO_MANAGER_EMAIL)
    context = Context(actor=manager, services=services_for(demo, tmp_path), today_override=ANCHOR)
    result = pipeline_question(context, PipelineQuestionArgs(metric="first_reply_rate", period="last quarter"))
    assert result.computed.startswith("Reply rate to the first email")
    assert "leads created 2026-07-01 to 2026-09-30 (last quarter)" in result.computed
    assert "only your team's leads" in result.computed
    assert result.counted == "leads emailed" and result.total.deals > 0
    assert any("never emailed" in note for note in result.notes)
    hourly = pipeline_question(context, PipelineQuestionArgs(metric="revenue_per_closer_hour", group_by=["owner"]))
    assert hourly.unit == "currency" and hourly.currency == "USD" and hourly.counted == "won deals"
    assert any("selling hours" in note for note in hourly.notes)


def test_no_interactions_and_no_hours_say_not_available_instead_of_dividing_by_zero(engine: Engine) -> None:
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with session_scope(engine) as s:
        rep = make_user(s, "Nia Newhire")
        assert rep.id is not None
        lead = Lead(name="Quiet Lead", owner_id=rep.id, created_at=t0, updated_at=t0)
        s.add(lead)
        s.flush()
        deal = Deal(
            name="Closed without a call",
            owner_id=rep.id,
            lead_id=lead.id,
            amount=Decimal("12000"),
            stage="Won",
            created_at=t0,
            updated_at=t0,
            stage_entered_at=t0 + timedelta(days=20),
            closed_at=t0 + timedelta(days=20),
        )
        s.add(deal)
        s.flush()
        assert deal.id is not None
        s.add(StageChange(deal_id=deal.id, to_stage="Prospecting", changed_at=t0))
        s.add(
            StageChange(deal_id=deal.id, from_stage="Prospecting", to_stage="Won", changed_at=t0 + timedelta(days=20))
        )
        # a note is not a touch and adds no selling hours
        s.add(Interaction(lead_id=lead.id, deal_id=deal.id, user_id=rep.id, channel="note", occurred_at=t0))
    with session_scope(engine, read_only=True) as s:
        actor = load_actor(s, rep.email)
        touch = run_pipeline_query(s, actor, PipelineQuery(metric="time_to_first_touch"))
        assert touch.total.value is None and touch.total.deals == 0
        assert any(n.startswith("not available because none of these leads has a logged call") for n in touch.notes)
        reply = run_pipeline_query(s, actor, PipelineQuery(metric="first_reply_rate"))
        assert reply.total.value is None
        assert any("not available because no outbound email" in n for n in reply.notes)
        hourly = run_pipeline_query(s, actor, PipelineQuery(metric="revenue_per_closer_hour", group_by=("owner",)))
        assert hourly.total.value is None and hourly.total.deals == 1
        assert [(r.group["owner"], r.value, r.deals) for r in hourly.rows] == [("Nia Newhire", None, 1)]
        assert any(n.startswith("not available because no calls, meetings or outbound emails") for n in hourly.notes)
        # the funnel still counts the lead: it has a deal, and it was won
        funnel = {
            r.group["step"]: r.value
            for r in run_pipeline_query(s, actor, PipelineQuery(metric="funnel_conversion")).rows
        }
        assert funnel["lead → deal (overall)"] == 1.0 and funnel["lead → Won (overall)"] == 1.0
        empty = run_pipeline_query(s, actor, PipelineQuery(metric="lead_to_deal", date_from=date(2027, 1, 1)))
        assert empty.total.value is None and any(
            n.startswith("not available because no leads match") for n in empty.notes
        )
    # a logged call gives the hour figure: 12,000 / 0.5 h
    with session_scope(engine) as s:
        s.add(Interaction(deal_id=deal.id, user_id=rep.id, channel="call", direction="outbound", occurred_at=t0))
        # interest after a reply: qualified before it wrote is no progress after it; a positive reply is
        before = Lead(name="Early Qualified", owner_id=rep.id, created_at=t0, updated_at=t0, qualified_at=t0)
        warm = Lead(name="Warm Reply", owner_id=rep.id, created_at=t0, updated_at=t0)
        s.add_all([before, warm])
        s.flush()
        later = t0 + timedelta(days=2)
        s.add(Interaction(lead_id=before.id, channel="email", direction="inbound", occurred_at=later, sentiment=0.0))
        s.add(Interaction(lead_id=warm.id, channel="email", direction="inbound", occurred_at=later, sentiment=0.6))
    with session_scope(engine, read_only=True) as s:
        hourly = run_pipeline_query(s, actor, PipelineQuery(metric="revenue_per_closer_hour"))
        assert hourly.total.value == pytest.approx(12000 / TOUCH_HOURS["call"])
        interest = run_pipeline_query(s, actor, PipelineQuery(metric="reply_interest_rate"))
        assert (interest.total.value, interest.total.deals) == (0.5, 2)


def test_the_briefing_has_a_funnel_line_against_the_previous_window(demo: Engine) -> None:
    from bots.briefings.compose import compose_briefing
    from store.models import User

    engine = demo
    with session_scope(engine, read_only=True) as s:
        manager = s.execute(text("SELECT id FROM users WHERE email = :e"), {"e": DEMO_MANAGER_EMAIL}).one()
        user = s.get(User, manager.id)
        assert user is not None
        briefing = compose_briefing(s, user, ANCHOR, forecast=False, sentiment=False)
        team = f"(SELECT id FROM users WHERE id = {manager.id} OR manager_id = {manager.id})"
        funnel = briefing.funnel
        assert funnel is not None and funnel.days == 90
        cycle = _days(engine, "d.created_at", "d.closed_at")
        for start, end, rate, leads, median, won in (
            (
                ANCHOR - timedelta(days=90),
                ANCHOR,
                funnel.lead_to_deal,
                funnel.leads,
                funnel.median_cycle_days,
                funnel.won,
            ),
            (
                ANCHOR - timedelta(days=180),
                ANCHOR - timedelta(days=90),
                funnel.previous_lead_to_deal,
                funnel.previous_leads,
                funnel.previous_median_cycle_days,
                funnel.previous_won,
            ),
        ):
            window = (start, end)
            n, with_deal = _one(
                s,
                "SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM deals d WHERE d.lead_id = l.id AND d.owner_id IN "
                f"{team}) THEN 1 ELSE 0 END) FROM leads l WHERE l.owner_id IN {team}{_period_sql('l.created_at', window)}",
            )
            assert leads == n > 0
            _close(rate, with_deal / n)
            won_deals = (
                f"FROM deals d WHERE d.stage = 'Won' AND d.closed_at IS NOT NULL AND d.owner_id IN {team}"
                f"{_period_sql('d.closed_at', window)}"
            )
            count, middle = _one(
                s,
                f"SELECT max(x.n), avg(x.days) FROM (SELECT {cycle} AS days, row_number() OVER (ORDER BY {cycle}) AS rn, "
                f"count(*) OVER () AS n {won_deals}) x WHERE x.rn IN ((x.n + 1) / 2, (x.n + 2) / 2)",
            )
            assert won == count > 0
            _close(median, middle)
        assert funnel.lead_to_deal is not None and funnel.median_cycle_days is not None
        line = next(f for f in briefing.facts() if f.startswith("Funnel, last 90 days vs the 90 before"))
        assert f"lead → deal {funnel.lead_to_deal * 100:.1f}% of {funnel.leads:,} leads" in line
        assert f"median sales cycle {funnel.median_cycle_days:.1f} days over {funnel.won:,} won" in line
