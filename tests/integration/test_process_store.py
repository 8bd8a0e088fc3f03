"""Process mining on the store: the event log each user may see, and the demo company's planted effects found."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.bottlenecks import bottleneck_analysis
from analytics.eventlog import ACTIVITY, CASE, RESOURCE, event_log_from_store
from sales.errors import InvalidInput, NotFound
from sales.permissions import actor_for_user
from store.db import session_scope
from store.models import Account, Deal, Interaction, StageChange, Task, User
from tests.factories import make_user, small_org

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _deal(
    s: Session, owner: User, name: str, stages: list[tuple[str, int]], amount: str, account: Account | None
) -> Deal:
    deal = Deal(
        name=name,
        owner_id=owner.id or 0,
        account_id=account.id if account else None,
        amount=Decimal(amount),
        stage=stages[-1][0],
        stage_entered_at=T0 + timedelta(days=stages[-1][1]),
        created_at=T0,
        updated_at=T0,
    )
    s.add(deal)
    s.flush()
    previous = None
    for stage, day in stages:
        s.add(
            StageChange(
                deal_id=deal.id or 0,
                from_stage=previous,
                to_stage=stage,
                changed_at=T0 + timedelta(days=day),
                changed_by_id=owner.id,
            )
        )
        previous = stage
    return deal


def test_store_event_log_is_permission_filtered_with_case_attributes(engine: Engine) -> None:
    with session_scope(engine) as s:
        org = small_org(s)
        veteran = make_user(s, "Vera Veteran", manager=org["east_mgr"], started_at=date(2020, 1, 1))
        acme = Account(name="Acme", industry="Manufacturing", region="EMEA")
        s.add(acme)
        s.flush()
        big = _deal(s, veteran, "Acme rollout", [("Prospecting", 0), ("Qualified", 3), ("Won", 9)], "80000", acme)
        small = _deal(s, org["east_rep1"], "Tiny", [("Prospecting", 0), ("Lost", 2)], "900", None)
        _deal(s, org["west_rep1"], "West deal", [("Prospecting", 0)], "20000", None)
        s.add_all(
            [
                Interaction(deal_id=big.id, user_id=veteran.id, channel="call", occurred_at=T0 + timedelta(days=1)),
                Interaction(
                    deal_id=big.id,
                    user_id=veteran.id,
                    channel="email",
                    direction="outbound",
                    occurred_at=T0 + timedelta(days=2),
                ),
                # an inbound email is not something the rep did: not an activity of the process
                Interaction(
                    deal_id=big.id, channel="email", direction="inbound", occurred_at=T0 + timedelta(days=2, hours=1)
                ),
                Interaction(deal_id=big.id, channel="note", occurred_at=T0 + timedelta(days=2, hours=2)),
                Interaction(deal_id=big.id, user_id=veteran.id, channel="meeting", occurred_at=T0 + timedelta(days=4)),
                Task(
                    title="Send contract",
                    owner_id=veteran.id or 0,
                    deal_id=big.id,
                    status="done",
                    completed_at=T0 + timedelta(days=5),
                ),
                Task(title="Open task", owner_id=veteran.id or 0, deal_id=big.id, status="open"),
            ]
        )
        s.flush()
        admin, manager, rep = (actor_for_user(s, org[k]) for k in ("admin", "east_mgr", "east_rep1"))

        everything = event_log_from_store(s, admin)
        assert everything.n_cases == 3
        east = event_log_from_store(s, manager)
        assert set(east.events[CASE]) == {str(big.id), str(small.id)}
        own = event_log_from_store(s, rep)
        assert set(own.events[CASE]) == {str(small.id)}

        trace = everything.events[everything.events[CASE] == str(big.id)]
        assert list(trace[ACTIVITY].astype(str)) == [
            "Prospecting",
            "Call",
            "Email sent",
            "Qualified",
            "Meeting",
            "Task done",
            "Won",
        ]
        assert set(trace[RESOURCE].astype(str)) == {veteran.email}
        attrs = everything.cases.loc[str(big.id)]
        assert attrs["size_band"] == "enterprise"
        assert attrs["industry"] == "Manufacturing"
        assert attrs["region"] == "EMEA"
        assert attrs["tenure_band"] == "veteran (24+ months)"
        assert attrs["outcome"] == "won"
        assert everything.cases.loc[str(small.id), "size_band"] == "small"
        assert everything.cases.loc[str(small.id), "outcome"] == "lost"
        assert event_log_from_store(s, admin, since=date(2026, 3, 1)).n_cases == 3


def test_since_with_no_deals_and_bad_segment_are_clear_errors(engine: Engine) -> None:
    with session_scope(engine) as s:
        org = small_org(s)
        _deal(s, org["east_rep1"], "Only", [("Prospecting", 0)], "100", None)
        admin = actor_for_user(s, org["admin"])
        with pytest.raises(NotFound, match="created since 2027-01-01"):
            event_log_from_store(s, admin, since=date(2027, 1, 1))
        with pytest.raises(InvalidInput, match="segment"):
            bottleneck_analysis(s, admin, segment="colour")


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The demo company (seed 7) analysed by its admin at the seed's anchor date."""
    from sales.demo import DEMO_ADMIN_EMAIL, seed_demo
    from sales.permissions import load_actor
    from store.db import make_engine, upgrade

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    anchor = date(2026, 11, 2)
    with session_scope(engine) as s:
        summary = seed_demo(s, seed=7, anchor=anchor)
    with session_scope(engine) as s:
        admin = load_actor(s, DEMO_ADMIN_EMAIL)
        report = bottleneck_analysis(s, admin, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    yield summary, report, engine
    engine.dispose()


def test_demo_planted_slow_transition_for_planted_segment_is_the_top_finding(demo_report) -> None:  # type: ignore[no-untyped-def]
    from sales.demo import PLANTED

    _, report, _ = demo_report
    top = report.findings[0]
    assert (top.source, top.target) == PLANTED.slow_transition
    assert (top.dimension, top.segment) == PLANTED.slow_segment
    assert top.evidence.segment_value > 2 * top.evidence.rest_value


def test_demo_low_converting_rep_is_found(demo_report) -> None:  # type: ignore[no-untyped-def]
    from sales.demo import PLANTED

    _, report, _ = demo_report
    low = [f for f in report.findings if f.kind == "low conversion" and f.dimension == "owner"]
    assert PLANTED.low_converting_rep_email in {f.segment for f in low}
    win = [f for f in low if f.source == "Won" and f.segment == PLANTED.low_converting_rep_email]
    assert win
    assert win[0].evidence.segment_value < win[0].evidence.rest_value


def test_demo_stalled_deals_are_listed_with_why(demo_report) -> None:  # type: ignore[no-untyped-def]
    summary, report, _ = demo_report
    stalled = {d.case_id: d for d in report.at_risk if d.status == "stalled"}
    assert set(stalled) == {str(i) for i in summary.stalled_deal_ids}
    assert all("no stage change or interaction" in d.reason for d in stalled.values())


def test_demo_rep_sees_only_own_deals(demo_report) -> None:  # type: ignore[no-untyped-def]
    from sales.demo import DEMO_REP_EMAIL
    from sales.permissions import load_actor

    _, report, engine = demo_report
    with session_scope(engine) as s:
        rep = load_actor(s, DEMO_REP_EMAIL)
        own = bottleneck_analysis(s, rep, segment="size")
    assert 0 < own.cases < report.cases
    assert own.requested_by == DEMO_REP_EMAIL
    assert all(f.dimension in (None, "size_band") for f in own.findings)


def test_demo_leads_as_cases(demo_report) -> None:  # type: ignore[no-untyped-def]
    from sales.demo import DEMO_ADMIN_EMAIL
    from sales.permissions import load_actor

    _, _, engine = demo_report
    with session_scope(engine) as s:
        admin = load_actor(s, DEMO_ADMIN_EMAIL)
        leads = bottleneck_analysis(s, admin, cases="leads", now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert leads.cases == 2000
    assert leads.stage_order[:3] == ["New", "Qualified", "Converted"]
    assert leads.funnel[0].cases == 2000
    assert "source" in leads.dimensions and "size_band" not in leads.dimensions
    # the demo's lead outcomes depend on the source: some source converts measurably worse than the rest
    gaps = [f for f in leads.findings if f.dimension == "source"]
    assert gaps
    assert "Leads with lead source" in gaps[0].statement
    assert "fewer leads" in gaps[0].statement
