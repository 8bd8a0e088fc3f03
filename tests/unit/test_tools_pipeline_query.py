"""The pipeline semantic layer: each metric, grouping and filter computed in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from sales.errors import InvalidInput
from sales.pipeline_query import PipelineQuery, describe_query, run_pipeline_query
from store.db import session_scope
from store.models import Account, Deal, StageChange
from tests.unit.test_agent_support import Team, seed_team


def _at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


def seed_deals(engine: Engine) -> Team:
    """Rita: won 10k (Software, 30 days), won 30k (Retail, 60 days), lost 5k, open Proposal 20k.
    Olga (other team): won 100k, open Qualified 7k. Stage paths are recorded in stage_changes."""
    team = seed_team(engine)
    rita, olga = team.rep.user_id, team.other_rep.user_id
    assert rita is not None and olga is not None
    with session_scope(engine) as s:
        soft = Account(name="Softco", industry="Software", region="East")
        shop = Account(name="Shopco", industry="Retail", region="East")
        s.add_all([soft, shop])
        s.flush()
        specs = [
            (
                "A",
                rita,
                soft.id,
                10000,
                "Won",
                _at(2026, 1, 5),
                _at(2026, 2, 4),
                "Widgets",
                ["Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation", "Won"],
            ),
            (
                "B",
                rita,
                shop.id,
                30000,
                "Won",
                _at(2026, 4, 1),
                _at(2026, 5, 31),
                "Gadgets",
                ["Qualified", "Discovery", "Proposal", "Negotiation", "Won"],
            ),
            (
                "C",
                rita,
                soft.id,
                5000,
                "Lost",
                _at(2026, 4, 10),
                _at(2026, 4, 20),
                "Widgets",
                ["Prospecting", "Qualified", "Lost"],
            ),
            (
                "D",
                rita,
                shop.id,
                20000,
                "Proposal",
                _at(2026, 5, 1),
                None,
                "Widgets",
                ["Prospecting", "Qualified", "Discovery", "Proposal"],
            ),
            (
                "E",
                olga,
                None,
                100000,
                "Won",
                _at(2026, 2, 1),
                _at(2026, 3, 3),
                "Widgets",
                ["Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation", "Won"],
            ),
            ("F", olga, None, 7000, "Qualified", _at(2026, 6, 1), None, "Gadgets", ["Prospecting", "Qualified"]),
        ]
        for name, owner, account, amount, stage, created, closed, product, path in specs:
            deal = Deal(
                name=name,
                owner_id=owner,
                account_id=account,
                amount=Decimal(amount),
                stage=stage,
                created_at=created,
                updated_at=created,
                stage_entered_at=created,
                closed_at=closed,
                product=product,
            )
            s.add(deal)
            s.flush()
            assert deal.id is not None
            prev = None
            for to_stage in path:
                s.add(StageChange(deal_id=deal.id, from_stage=prev, to_stage=to_stage, changed_at=created))
                prev = to_stage
    return team


def _run(engine: Engine, actor, **kwargs):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return run_pipeline_query(s, actor, PipelineQuery(**kwargs))


def test_count_and_amounts_by_owner_respect_visibility(engine: Engine) -> None:
    team = seed_deals(engine)
    everyone = _run(engine, team.admin, metric="count", group_by=("owner",))
    assert {r.group["owner"]: r.value for r in everyone.rows} == {"Rita Rep": 4, "Olga Rep": 2}
    assert everyone.total.value == 6
    mine = _run(engine, team.rep, metric="total_amount", status="open")
    assert mine.total.value == 20000 and mine.unit == "currency"
    manager = _run(engine, team.manager, metric="total_amount", status="won")
    assert manager.total.value == 40000  # Mia sees Rita's deals, not Olga's 100k
    by_industry = _run(engine, team.rep, metric="avg_amount", group_by=("industry",))
    assert {r.group["industry"]: r.value for r in by_industry.rows} == {"Software": 7500, "Retail": 25000}


def test_median_amount_is_the_middle_deal_not_the_mean(engine: Engine) -> None:
    team = seed_deals(engine)
    everyone = _run(engine, team.admin, metric="median_amount")
    assert everyone.total.value == 15000 and everyone.total.deals == 6  # 5k 7k 10k | 20k 30k 100k
    assert _run(engine, team.admin, metric="avg_amount").total.value == pytest.approx(172000 / 6)
    by_owner = _run(engine, team.admin, metric="median_amount", group_by=("owner",))
    assert {r.group["owner"]: r.value for r in by_owner.rows} == {"Olga Rep": 53500, "Rita Rep": 15000}
    assert [r.currency for r in by_owner.rows] == ["USD", "USD"] and by_owner.unit == "currency"


def test_a_bound_on_each_groups_figure_keeps_only_the_groups_within_it(engine: Engine) -> None:
    """ "which reps have more than 100k in deals": only the reps at or past the bound; the total is everyone's."""
    team = seed_deals(engine)
    every = {
        r.group["owner"]: r.value for r in _run(engine, team.admin, metric="total_amount", group_by=("owner",)).rows
    }
    high = max(every.values())
    kept = _run(engine, team.admin, metric="total_amount", group_by=("owner",), value_min=high)
    assert [r.group["owner"] for r in kept.rows] == [o for o, v in every.items() if v == high]
    assert kept.total.value == sum(every.values())  # the overall figure still covers every deal
    fewest = _run(engine, team.admin, metric="count", group_by=("owner",), value_max=3)
    counts = {r.group["owner"]: r.value for r in _run(engine, team.admin, metric="count", group_by=("owner",)).rows}
    assert {r.group["owner"] for r in fewest.rows} == {o for o, n in counts.items() if n <= 3}
    assert not _run(engine, team.admin, metric="count", group_by=("owner",), value_min=1000).rows
    one = _run(engine, team.admin, metric="count", value_min=2)  # one figure: the answer says whether it is within
    assert one.total.value == 6 and one.notes[-1] == "against the bound of at least 2: yes (6)"
    assert _run(engine, team.admin, metric="count", value_max=5).notes[-1] == "against the bound of at most 5: no (6)"
    with pytest.raises(InvalidInput, match="above the upper"):
        _run(engine, team.admin, metric="count", group_by=("owner",), value_min=5, value_max=2)
    text = describe_query(PipelineQuery(metric="count", group_by=("owner",), value_min=501))
    assert "only those with at least 501 deals" in text
    rate = describe_query(PipelineQuery(metric="win_rate", group_by=("product",), value_max=0.4))
    assert "only those whose win rate is at most 40.0%" in rate


def test_values_left_out_of_the_figure(engine: Engine) -> None:
    """ "win rate excluding Olga", "pipeline by stage except Proposal": the figure over the other deals."""
    team = seed_deals(engine)
    every = _run(engine, team.admin, metric="count", group_by=("owner",))
    counts = {r.group["owner"]: r.value for r in every.rows}
    with session_scope(engine) as s:
        from store.models import User

        olga_id = s.exec(select(User.id).where(User.name == "Olga Rep")).one()
    others = _run(engine, team.admin, metric="count", exclude=(("owner", str(olga_id)),))
    assert counts["Olga Rep"] and others.total.value == sum(v for o, v in counts.items() if o != "Olga Rep")
    by_stage = _run(engine, team.admin, metric="count", group_by=("stage",))
    without = _run(engine, team.admin, metric="count", group_by=("stage",), exclude=(("stage", "Proposal"),))
    assert "Proposal" not in {r.group["stage"] for r in without.rows}
    assert without.total.value == by_stage.total.value - sum(
        r.value for r in by_stage.rows if r.group["stage"] == "Proposal"
    )
    with pytest.raises(InvalidInput, match="not a stage"):
        _run(engine, team.admin, metric="count", exclude=(("stage", "Nowhere"),))
    with pytest.raises(InvalidInput, match="cannot leave out"):
        _run(engine, team.admin, metric="count", exclude=(("source", "webinar"),))
    text = describe_query(PipelineQuery(metric="win_rate", exclude=(("owner", "7"),)), excluded_owner="Olga Rep")
    assert "excluding owner Olga Rep" in text


def test_conversion_to_a_named_stage(engine: Engine) -> None:
    team = seed_deals(engine)
    to_won = _run(engine, team.admin, metric="stage_conversion", stage="Proposal", to_stage="Won")
    assert to_won.total.value == pytest.approx(3 / 4)  # A, B, E won; D still in Proposal
    to_proposal = _run(engine, team.admin, metric="stage_conversion", stage="Qualified", to_stage="Proposal")
    assert to_proposal.total.value == pytest.approx(4 / 6)  # C lost, F still Qualified
    each = _run(engine, team.admin, metric="stage_conversion", group_by=("stage",), to_stage="Negotiation")
    assert "Negotiation" not in {r.group["stage"] for r in each.rows}  # a stage cannot convert to itself
    with pytest.raises(InvalidInput):
        _run(engine, team.admin, metric="stage_conversion", stage="Negotiation", to_stage="Discovery")
    with pytest.raises(InvalidInput):
        _run(engine, team.admin, metric="stage_conversion", stage="Proposal", to_stage="Lost")


def test_the_pipeline_as_it_stood_on_a_past_day(engine: Engine) -> None:
    team = seed_deals(engine)
    april = _run(engine, team.admin, metric="total_amount", status="open", open_on=date(2026, 4, 15))
    assert (april.total.value, april.total.deals) == (35000, 2)  # B (closed later) and C (lost on 04-20)
    may = _run(engine, team.admin, metric="count", status="open", open_on=date(2026, 5, 15), group_by=("owner",))
    assert {r.group["owner"]: r.value for r in may.rows} == {"Rita Rep": 2}  # B and D; Olga's F came in June
    assert may.filters["open_on"] == "2026-05-15"
    for bad in ({"status": "won"}, {"stage": "Proposal"}, {"group_by": ("stage",)}, {"metric": "win_rate"}):
        kwargs = {"metric": "count", "status": "open", "open_on": date(2026, 5, 15), **bad}
        with pytest.raises(InvalidInput):
            _run(engine, team.admin, **kwargs)


def test_win_rate_cycle_time_and_period_filters(engine: Engine) -> None:
    team = seed_deals(engine)
    rate = _run(engine, team.rep, metric="win_rate")
    assert rate.total.value == pytest.approx(2 / 3) and rate.total.deals == 3
    cycle = _run(engine, team.admin, metric="avg_cycle_days", group_by=("owner",))
    assert {r.group["owner"]: round(r.value or 0, 3) for r in cycle.rows} == {"Rita Rep": 45.0, "Olga Rep": 30.0}
    q2 = _run(engine, team.admin, metric="count", date_from=date(2026, 4, 1), date_to=date(2026, 7, 1))
    assert q2.total.value == 4
    closed_q1 = _run(
        engine,
        team.admin,
        metric="total_amount",
        status="won",
        date_field="closed",
        date_from=date(2026, 1, 1),
        date_to=date(2026, 4, 1),
    )
    assert closed_q1.total.value == 110000
    by_quarter = _run(engine, team.admin, metric="count", group_by=("quarter",))
    assert [(r.group["quarter"], r.value) for r in by_quarter.rows] == [("2026-Q1", 2), ("2026-Q2", 4)]
    by_month = _run(engine, team.rep, metric="count", group_by=("month", "product"), amount_min=6000)
    assert [(r.group["month"], r.group["product"], r.value) for r in by_month.rows] == [
        ("2026-01", "Widgets", 1),
        ("2026-04", "Gadgets", 1),
        ("2026-05", "Widgets", 1),
    ]
    by_team = _run(engine, team.admin, metric="count", group_by=("team",))
    assert {r.group["team"]: r.value for r in by_team.rows} == {"East": 4, "West": 2}


def test_stage_conversion(engine: Engine) -> None:
    team = seed_deals(engine)
    conv = _run(engine, team.rep, metric="stage_conversion")
    values = {r.group["stage"]: (r.value, r.deals) for r in conv.rows}
    # Rita: Prospecting entered by A, C, D (all went further); Qualified by A, B, C, D (C lost) → 3/4;
    # Discovery A, B, D → all further; Proposal A, B, D → 2/3; Negotiation A, B → both won.
    assert values["Prospecting"] == (1.0, 3)
    assert values["Qualified"] == (0.75, 4)
    assert values["Proposal"][0] == pytest.approx(2 / 3)
    assert values["Negotiation"] == (1.0, 2)
    assert [r.group["stage"] for r in conv.rows][:2] == ["Prospecting", "Qualified"]
    only = _run(engine, team.rep, metric="stage_conversion", stage="qualified")
    assert [(r.group["stage"], r.value) for r in only.rows] == [("Qualified", 0.75)]


def test_bad_filters_are_refused(engine: Engine) -> None:
    team = seed_deals(engine)
    with pytest.raises(InvalidInput, match="not a stage"):
        _run(engine, team.rep, metric="count", stage="Closing")


def test_account_filter_and_grouping_ranked_either_way(engine: Engine) -> None:
    team = seed_deals(engine)
    by_account = _run(engine, team.admin, metric="total_amount", status="won", group_by=("account",))
    rows = [(r.group["account"], r.value) for r in by_account.rows]
    assert rows == [(None, 100000), ("Shopco", 30000), ("Softco", 10000)]  # a deal without an account is a group
    lowest = _run(engine, team.admin, metric="count", group_by=("owner",), order="asc", limit=1)
    assert [(r.group["owner"], r.value) for r in lowest.rows] == [("Olga Rep", 2)] and lowest.truncated
    softco = _run(engine, team.admin, metric="count", account="softco")
    assert softco.total.value == 2 and softco.filters["account"] == "softco"


def test_quarters_in_time_order_unless_ranking_is_asked_for(engine: Engine) -> None:
    team = seed_deals(engine)
    series = _run(engine, team.admin, metric="count", group_by=("quarter",), limit=1)
    assert [(r.group["quarter"], r.value) for r in series.rows] == [("2026-Q1", 2)]  # the first quarter
    best = _run(engine, team.admin, metric="count", group_by=("quarter",), order="desc", limit=1)
    assert [(r.group["quarter"], r.value) for r in best.rows] == [("2026-Q2", 4)]  # the busiest one
    ranked = PipelineQuery(metric="count", group_by=("quarter",), order="desc", limit=1)
    assert "by quarter, the highest" in describe_query(ranked)
    assert "highest" not in describe_query(PipelineQuery(metric="count", group_by=("quarter",)))


def test_team_by_label_for_workspaces_whose_managers_are_not_users(engine: Engine) -> None:
    team = seed_deals(engine)
    west = _run(engine, team.admin, metric="total_amount", status="won", team_label="west")
    assert west.total.value == 100000  # Olga's team label is West


def test_describe_query_says_what_was_computed() -> None:
    from sales.pipeline_query import describe_query

    query = PipelineQuery(
        metric="total_amount",
        status="won",
        region="West",
        date_field="closed",
        date_from=date(2017, 1, 1),
        date_to=date(2018, 1, 1),
        group_by=("owner",),
        limit=3,
    )
    assert describe_query(query, period="2017") == (
        "Total amount of won deals closed 2017-01-01 to 2017-12-31 (2017), region West, by owner, highest first, top 3"
    )
    stage = describe_query(PipelineQuery(metric="count", status="open", stage="Qualified"), stage_term="Engaging")
    assert stage == "Number of open deals, in stage Engaging (stored as Qualified)"
    rate = describe_query(PipelineQuery(metric="win_rate", status="closed", group_by=("region",), limit=1, order="asc"))
    assert rate == "Win rate (won / (won + lost)) of deals, by region, the lowest"


def test_lost_deals_by_their_reason(engine: Engine) -> None:
    from sqlmodel import select

    team = seed_deals(engine)
    with session_scope(engine) as s:
        lost = s.exec(select(Deal).where(Deal.name == "C")).one()
        lost.loss_reason = "Price: a competitor came in cheaper"
        s.add(lost)
    by_reason = _run(engine, team.admin, metric="count", status="lost", group_by=("loss_reason",))
    assert [(r.group["loss_reason"], r.value) for r in by_reason.rows] == [("Price: a competitor came in cheaper", 1)]
    assert "by loss reason" in describe_query(PipelineQuery(metric="count", group_by=("loss_reason",)))


def test_a_rep_asking_for_a_comparison_is_told_there_is_no_one_to_compare_with(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.analysis import pipeline_question
    from tools.schemas import PipelineQuestionArgs

    team = seed_deals(engine)
    args = PipelineQuestionArgs(metric="total_amount", status="won", group_by=["owner"])
    as_rep = pipeline_question(Context(actor=team.rep, services=services_for(engine, tmp_path)), args)
    assert [r.group["owner"] for r in as_rep.rows] == ["Rita Rep"]
    assert "there is no one to compare with" in as_rep.computed
    as_manager = pipeline_question(Context(actor=team.manager, services=services_for(engine, tmp_path)), args)
    assert "compare" not in as_manager.computed


def test_deals_by_and_filtered_on_their_leads_source(engine: Engine) -> None:
    from store.models import Lead

    team = seed_deals(engine)
    with session_scope(engine) as s:
        webinar = Lead(name="Wen", source="webinar", owner_id=team.rep.user_id)
        paid = Lead(name="Pat", source="paid_ads", owner_id=team.rep.user_id)
        s.add_all([webinar, paid])
        s.flush()
        rita = list(s.exec(select(Deal).where(Deal.owner_id == team.rep.user_id).order_by(col(Deal.id))).all())
        rita[0].lead_id, rita[1].lead_id = webinar.id, paid.id  # the 10k and the 30k wins
    by_source = _run(engine, team.rep, metric="total_amount", status="won", group_by=("source",))
    assert {r.group["source"]: r.value for r in by_source.rows} == {"webinar": 10000, "paid_ads": 30000}
    # "paid ads" as said matches "paid_ads" as stored; a deal with no lead never matches a source
    assert _run(engine, team.rep, metric="count", source="Paid Ads").total.value == 1
    assert "lead source webinar" in describe_query(PipelineQuery(metric="count", source="webinar"), owner=None)
