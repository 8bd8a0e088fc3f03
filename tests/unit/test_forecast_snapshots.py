"""Pipeline snapshots, forecast movement week by week, accuracy by week of quarter, and the live method choice.

A small hand-built store: one rep, six deals created each month of 2026 from January, each won or lost about a
month later (amounts and outcomes fixed by a seed), and a few deals still open. The expected numbers are computed
here from that list of deals, not from the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from analytics.forecast import LIVE_METHODS, forecast_period
from analytics.forecast_history import accuracy_by_week, forecast_history, take_snapshot
from sales.errors import PermissionDenied
from sales.permissions import SYSTEM
from store.db import make_engine, session_scope, upgrade
from store.models import AuditEvent, Deal, ForecastSnapshot, Interaction, PipelineSnapshot, StageChange, User
from tests.factories import actor, small_org

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
TODAY = date(2026, 10, 5)
SIMS = 300


def _build(engine: Engine) -> tuple[dict[str, User], list[tuple[datetime, float]]]:
    """The store, and every (won at, amount) of a won deal, as built."""
    rng = np.random.default_rng(3)
    won: list[tuple[datetime, float]] = []
    with session_scope(engine) as s:
        org = small_org(s)
        owner = org["east_rep1"].id or 0
        for month in range(9):
            for i in range(6):
                created = T0 + timedelta(days=30 * month + 4 * i)
                proposal = created + timedelta(days=8)
                closed = created + timedelta(days=int(rng.integers(20, 45)))
                outcome = "Won" if rng.random() < 0.5 else "Lost"
                amount = float(rng.integers(10, 60)) * 100
                _deal(
                    s,
                    owner,
                    f"d{month}-{i}",
                    [("Prospecting", created), ("Proposal", proposal), (outcome, closed)],
                    amount,
                )
                if outcome == "Won":
                    won.append((closed, amount))
        for i in range(4):  # still open at TODAY
            created = datetime(2026, 9, 10 + i, 9, tzinfo=UTC)
            _deal(s, owner, f"open {i}", [("Prospecting", created), ("Proposal", created + timedelta(days=5))], 2500)
    return org, won


def _deal(session: Session, owner: int, name: str, stages: list[tuple[str, datetime]], amount: float) -> None:
    stage, at = stages[-1]
    deal = Deal(
        name=name,
        owner_id=owner,
        amount=Decimal(str(amount)),
        stage=stage,
        stage_entered_at=at,
        created_at=stages[0][1],
        closed_at=at if stage in ("Won", "Lost") else None,
    )
    session.add(deal)
    session.flush()
    previous = None
    for to, when in stages:
        session.add(StageChange(deal_id=deal.id or 0, from_stage=previous, to_stage=to, changed_at=when))
        previous = to
    session.add(Interaction(deal_id=deal.id, channel="call", body="call", occurred_at=stages[0][1]))


def _won_between(won: list[tuple[datetime, float]], start: date, end: date) -> float:
    lo, hi = datetime.combine(start, datetime.min.time(), UTC), datetime.combine(end, datetime.min.time(), UTC)
    return sum(amount for at, amount in won if lo <= at < hi)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine, read_only=True) as s:
        deals = s.exec(select(func.count()).select_from(PipelineSnapshot)).one()
        forecasts = s.exec(select(func.count()).select_from(ForecastSnapshot)).one()
        receipts = s.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "take_pipeline_snapshot")
        ).one()
    return int(deals), int(forecasts), int(receipts)


def test_a_snapshot_is_taken_once_per_day_and_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    org, _ = _build(engine)
    day = date(2026, 9, 20)
    with session_scope(engine) as s:
        first = take_snapshot(s, SYSTEM, today=day, simulations=SIMS)
    assert first.created and first.deals == 4 and first.forecasts == 2  # September and Q3 2026, in USD
    with session_scope(engine) as s:
        again = take_snapshot(s, SYSTEM, today=day, simulations=SIMS)
    assert not again.created and _counts(engine) == (4, 2, 1)
    engine.dispose()

    restarted = make_engine(url)  # a new process on the same store
    with session_scope(restarted) as s:
        assert not take_snapshot(s, SYSTEM, today=day, simulations=SIMS).created
    assert _counts(restarted) == (4, 2, 1)
    with session_scope(restarted, read_only=True) as s:
        rows = s.exec(select(PipelineSnapshot)).all()
        recorded = s.exec(select(ForecastSnapshot).where(ForecastSnapshot.period == "Q3 2026")).one()
        direct = forecast_period(s, SYSTEM, "Q3 2026", today=day, simulations=SIMS)
    assert {r.stage for r in rows} == {"Proposal"} and all(r.amount == Decimal("2500.00") for r in rows)
    assert all(r.period == "Q3 2026" and r.p_win is not None for r in rows)
    # the recorded forecast is the live forecast of that day, with the method it used
    assert (recorded.expected, recorded.p10, recorded.p90, recorded.method) == (
        direct.total.expected,
        direct.total.p10,
        direct.total.p90,
        direct.chosen,
    )
    with session_scope(restarted) as s:
        assert take_snapshot(s, SYSTEM, today=day + timedelta(days=1), simulations=SIMS).created
        with pytest.raises(PermissionDenied):
            take_snapshot(s, actor(s, org["east_rep1"]), today=day + timedelta(days=2))
    assert _counts(restarted)[2] == 2
    restarted.dispose()


def test_history_and_accuracy_by_week_match_a_computation_by_hand(sqlite_engine: Engine) -> None:
    _, won = _build(sqlite_engine)
    snapshot_day = date(2026, 7, 17)  # inside week 3 of Q3 (15-21 July): that week is recorded
    with session_scope(sqlite_engine) as s:
        take_snapshot(s, SYSTEM, today=snapshot_day, simulations=SIMS)
    with session_scope(sqlite_engine, read_only=True) as s:
        history = forecast_history(s, SYSTEM, "Q3 2026", today=TODAY, simulations=SIMS)
        accuracy = accuracy_by_week(s, SYSTEM, today=TODAY, quarters=2, simulations=SIMS)
        by_hand: dict[str, list[tuple[date, float, float]]] = {}
        for label, start in (("Q2 2026", date(2026, 4, 1)), ("Q3 2026", date(2026, 7, 1))):
            end = start.replace(month=start.month + 3)
            days = [start + timedelta(days=7 * k) for k in range(15) if start + timedelta(days=7 * k) < end]
            weekly = []
            for day in days:
                when = snapshot_day if day <= snapshot_day < day + timedelta(days=7) else day
                f = forecast_period(s, SYSTEM, label, today=when, simulations=SIMS)
                weekly.append((when, f.total.expected, f.total.simulation))
            by_hand[label] = weekly

    q3 = by_hand["Q3 2026"]
    assert [w.as_of for w in history.weeks] == [d.isoformat() for d, _, _ in q3]
    assert [w.expected for w in history.weeks] == [e for _, e, _ in q3]
    assert [w.source for w in history.weeks] == ["reconstructed"] * 2 + ["recorded"] + ["reconstructed"] * 11
    assert (history.recorded, history.reconstructed) == (1, 13)
    assert history.complete and history.actual == pytest.approx(_won_between(won, date(2026, 7, 1), date(2026, 10, 1)))

    actual = {
        "Q2 2026": _won_between(won, date(2026, 4, 1), date(2026, 7, 1)),
        "Q3 2026": _won_between(won, date(2026, 7, 1), date(2026, 10, 1)),
    }
    assert accuracy.quarters == ["Q2 2026", "Q3 2026"]
    assert accuracy.actuals == pytest.approx(actual)
    for week in accuracy.weeks:
        cells = [(by_hand[q][week.week - 1], actual[q]) for q in accuracy.quarters if week.week <= len(by_hand[q])]
        closed = sum(a for _, a in cells)
        expected_wape = sum(abs(cell[1] - a) for cell, a in cells) / closed
        simulation_wape = sum(abs(cell[2] - a) for cell, a in cells) / closed
        assert week.quarters == len(cells)
        assert week.wape == pytest.approx(expected_wape, abs=1e-4)
        assert week.wape_simulation == pytest.approx(simulation_wape, abs=1e-4)
    assert accuracy.weeks[2].recorded == 1 and accuracy.weeks[2].reconstructed == 1


def test_the_live_forecast_takes_the_method_with_the_lowest_backtest_wape_and_says_so(sqlite_engine: Engine) -> None:
    _build(sqlite_engine)
    with session_scope(sqlite_engine, read_only=True) as s:
        f = forecast_period(s, SYSTEM, "this quarter", today=TODAY, simulations=SIMS)
        early = forecast_period(s, SYSTEM, "this quarter", today=date(2026, 2, 10), simulations=SIMS)
    record = f.track_record
    # May to September: April's cut-off would need bookings from 1 January 00:00, before the first deal
    assert record is not None and record.available and record.origins == 5
    assert f.chosen == min(LIVE_METHODS, key=lambda m: record.wape[m])
    assert all(f"{m} {record.wape[m]:.1%}" in f.why for m in LIVE_METHODS)
    figures = {"blend": f.total.blend, "simulation": f.total.simulation, "run rate": f.total.run_rate}
    assert f.total.expected == figures[f.chosen]
    for name in ("blend", "run rate"):
        assert figures[name] is not None
    # six weeks of history: no run rate, no backtest; the forecast is the simulation and says why
    assert early.chosen == "simulation" and "does not reach 3 whole months back" in early.why
    assert early.total.run_rate is None and early.total.expected == early.total.simulation


def test_the_scheduler_jobs_snapshot_once_a_day_and_skip_recalibration_without_a_model(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    from app.services import Services
    from app.settings import Settings
    from bots.briefings import scheduler as sched
    from bots.briefings.config import BriefingsConfig

    _build(sqlite_engine)
    settings = Settings(home=tmp_path / "home", database_url=str(sqlite_engine.url))
    sched.configure_runtime(Services(settings=settings, engine=sqlite_engine), BriefingsConfig())
    specs = {spec.id: spec for spec in sched.job_specs([], BriefingsConfig())}
    assert {sched.SNAPSHOT_JOB, sched.RECALIBRATE_JOB} <= set(specs)
    first, second = sched.take_pipeline_snapshot(), sched.take_pipeline_snapshot()
    assert "4 open deals and 2 forecasts recorded" in first and "already taken: nothing written" in second
    assert _counts(sqlite_engine) == (4, 2, 1)
    assert (tmp_path / "home" / "forecast" / "track-record-USD.json").is_file()  # the backtest is kept for the day
    assert sched.recalibrate_lead_model() == "skipped"


def test_a_second_snapshot_the_same_day_writes_nothing_on_either_backend(engine: Engine) -> None:
    _build(engine)
    with session_scope(engine) as s:
        assert take_snapshot(s, SYSTEM, today=date(2026, 9, 20), simulations=SIMS).created
    with session_scope(engine) as s:
        assert not take_snapshot(s, SYSTEM, today=date(2026, 9, 20), simulations=SIMS).created
    assert _counts(engine) == (4, 2, 1)


def test_the_agents_forecast_tool_states_the_method_beside_the_others(sqlite_engine: Engine, tmp_path: Path) -> None:
    from agent.context import Context
    from tests.unit.test_agent_support import services_for
    from tools.registry import SPECS
    from tools.schemas import TOOL_ARGS

    _build(sqlite_engine)
    ctx = Context(actor=SYSTEM, services=services_for(sqlite_engine, tmp_path / "home"), today_override=TODAY)
    result = SPECS["forecast"].run(ctx, TOOL_ARGS["forecast"].model_validate({"period": "this quarter"}))
    with session_scope(sqlite_engine, read_only=True) as s:
        direct = forecast_period(s, SYSTEM, "this quarter", today=TODAY)
    data = result.model_dump()
    assert data["chosen"] == direct.chosen and data["expected"] == direct.total.expected
    assert set(data["beside"]) == {"simulation", "run rate", "blend"}
    assert data["beside"]["simulation"]["expected"] == direct.total.simulation
    # the answer's method line says which forecaster the figure is, gives the others and the backtest's WAPEs
    assert data["method"].startswith(f"{direct.chosen}: ") and f"why {direct.chosen}: lowest WAPE" in data["method"]
    assert all(name in data["method"] for name in ("simulation", "run rate", "blend"))
    assert (tmp_path / "home" / "forecast" / "track-record-USD.json").is_file()
