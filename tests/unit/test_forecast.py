"""Win probability and forecast: no look-ahead, permissions, fallback, planted effects, backtest against baseline."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.forecast import backtest, default_cutoffs, forecast_period
from analytics.winprob import DealHistory, load_history, win_probabilities
from sales.demo import PLANTED, seed_demo
from sales.errors import InvalidInput
from sales.permissions import SYSTEM
from store.db import make_engine, session_scope, upgrade
from store.models import Deal, Interaction, StageChange
from tests.factories import actor, small_org

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ts(days: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(days=days))


def test_as_of_shows_only_what_was_known_then() -> None:
    deals = pd.DataFrame(
        {
            "id": [1, 2],
            "owner_id": [10, 10],
            "amount": [1000.0, 2000.0],
            "stage": ["Won", "Proposal"],
            "stage_entered_at": [_ts(74), _ts(40)],
            "created_at": [_ts(0), _ts(65)],  # deal 2 did not exist on day 60
            "closed_at": [_ts(74), pd.NaT],
            "product": ["A", "A"],
            "expected_close_date": [None, None],
            "industry": ["x", "x"],
            "owner": ["Rep", "Rep"],
            "team": ["T", "T"],
            "owner_started_at": [None, None],
        }
    )
    changes = pd.DataFrame(
        {
            "deal_id": [1, 1, 1, 2],
            "to_stage": ["Prospecting", "Proposal", "Won", "Proposal"],
            "changed_at": [_ts(0), _ts(31), _ts(74), _ts(66)],
        }
    )
    inter = pd.DataFrame({"deal_id": [1, 1], "occurred_at": [_ts(50), _ts(70)], "sentiment": [0.2, 0.9]})
    then = DealHistory(deals, changes, inter).as_of(T0 + timedelta(days=60))
    assert then.deals["id"].tolist() == [1]
    row = then.deals.iloc[0]
    assert row["stage"] == "Proposal" and row["stage_entered_at"] == _ts(31) and pd.isna(row["closed_at"])
    assert then.interactions["occurred_at"].tolist() == [_ts(50)]
    assert len(then.changes) == 2


def _deal(session: Session, owner_id: int, name: str, stages: list[tuple[str, int]], amount: int) -> Deal:
    """A deal with its stage history; ``stages`` are (stage, day offset from T0)."""
    last_stage, last_day = stages[-1]
    deal = Deal(
        name=name,
        owner_id=owner_id,
        amount=Decimal(amount),
        stage=last_stage,
        stage_entered_at=T0 + timedelta(days=last_day),
        created_at=T0 + timedelta(days=stages[0][1]),
        closed_at=T0 + timedelta(days=last_day) if last_stage in ("Won", "Lost") else None,
    )
    session.add(deal)
    session.flush()
    previous = None
    for stage, day in stages:
        session.add(
            StageChange(deal_id=deal.id or 0, from_stage=previous, to_stage=stage, changed_at=T0 + timedelta(days=day))
        )
        previous = stage
    session.add(
        Interaction(deal_id=deal.id, channel="call", body="call", occurred_at=T0 + timedelta(days=last_day - 1))
    )
    return deal


def test_forecast_respects_permissions_with_stage_weighted_fallback(engine: Engine) -> None:
    with session_scope(engine) as s:
        org = small_org(s)
        east, west = org["east_rep1"].id or 0, org["west_rep1"].id or 0
        for i in range(6):  # thin history: 6 closed deals, so win probabilities fall back to stage rates
            _deal(
                s,
                east,
                f"old {i}",
                [("Prospecting", i), ("Proposal", 10 + i), ("Won" if i % 2 else "Lost", 30 + i)],
                5000,
            )
        for i in range(3):
            _deal(s, east, f"east open {i}", [("Prospecting", 40), ("Negotiation", 50)], 10000)
        for i in range(2):
            _deal(s, west, f"west open {i}", [("Prospecting", 40), ("Proposal", 55)], 20000)
    today = (T0 + timedelta(days=60)).date()
    with session_scope(engine) as s:
        rep = forecast_period(s, actor(s, org["east_rep1"]), "this quarter", today=today, simulations=500)
        admin = forecast_period(s, actor(s, org["admin"]), "2026-Q1", group_by="owner", today=today, simulations=500)
        with pytest.raises(InvalidInput, match="not a period"):
            forecast_period(s, SYSTEM, "someday soon", today=today)
    assert rep.period == "Q1 2026" and rep.total.open_deals == 3
    assert admin.total.open_deals == 5 and {line.key for line in admin.lines} == {"Eli One", "Will One"}
    assert any("stage-weighted fallback" in note for note in rep.notes)
    for line in [rep.total, admin.total, *admin.lines]:
        assert line.p10 <= line.expected <= line.p90
        assert line.commit <= line.best_case
    # three old deals were won this quarter; the stage-weighted baseline adds amount x stage probability
    assert rep.total.won_to_date == 15000
    assert rep.total.stage_weighted == pytest.approx(15000 + 3 * 10000 * 0.75)


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path: Path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as s:
        seed_demo(s, seed=7, anchor=date(2026, 11, 1))
    return engine


def test_planted_effects_show_up_in_win_reasons(demo_engine: Engine) -> None:
    with session_scope(demo_engine) as s:
        result = win_probabilities(s, SYSTEM, today=date(2026, 11, 1))
    assert result.method == "model"
    low_rep = [d for d in result.deals if d.owner == "Jordan Blake"]
    assert PLANTED.low_converting_rep_email.startswith("jordan.blake")
    assert low_rep, "the demo has open deals for the low-converting rep"
    # the owner is among the top three reasons, and lowers the chance, for most of the rep's deals
    flagged = [d for d in low_rep if any(r.startswith("owner Jordan Blake lowers") for r in d.reasons)]
    assert len(flagged) >= 0.8 * len(low_rep)

    # and by far more than any other rep's name lowers theirs
    def owner_penalty(deal: object) -> int:
        found = [re.search(r"^owner .+ lowers the win chance by (\d+) points", r) for r in deal.reasons]  # type: ignore[attr-defined]
        return max((int(m.group(1)) for m in found if m), default=0)

    others = [d for d in result.deals if d.owner != "Jordan Blake"]
    assert max(owner_penalty(d) for d in others) < min(owner_penalty(d) for d in flagged) / 2
    # the slow segment: enterprise deals in Proposal take much longer to close than others in Proposal
    _, slow_stage = PLANTED.slow_transition
    enterprise = [d for d in result.deals if d.stage == PLANTED.slow_transition[0] and d.amount >= 50000]
    assert enterprise
    assert all(any("enterprise deals in Proposal are slow" in r for r in d.timing_reasons) for d in enterprise)
    small = [d for d in result.deals if d.stage == "Proposal" and d.amount < 10000]
    assert not any("are slow" in r for d in small for r in d.timing_reasons)
    assert slow_stage == "Negotiation"


def test_demo_backtest_scores_every_forecaster_over_rolling_origins(demo_engine: Engine) -> None:
    with session_scope(demo_engine) as s:
        history = load_history(s)
    cutoffs = default_cutoffs(history, "month", 4)
    assert cutoffs == [date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)]
    report = backtest(history, cutoffs, "month", simulations=500, warmup=3)
    assert len(report.rows) == 4 and all(r.method == "model" for r in report.rows)
    assert report.warmup_origins == 3
    methods = {s.method: s for s in report.scores}
    assert set(methods) == {"blend", "simulation", "run rate", "stage × in-period win rate", "stage-weighted pipeline"}
    # the run rate is what was won in the three whole months before the cut-off, per month
    june = report.rows[0]
    won = history.deals[(history.deals["stage"] == "Won") & history.deals["closed_at"].notna()]
    months = won[
        (won["closed_at"] >= pd.Timestamp("2026-03-01", tz="UTC"))
        & (won["closed_at"] < pd.Timestamp("2026-06-01", tz="UTC"))
    ]
    assert june.run_rate == pytest.approx(float(months["amount"].sum()) / 3, rel=1e-6)
    # every row's blend lies between its two parts, with the weight learnt from earlier origins only
    for row in report.rows:
        assert 0.0 <= row.blend_weight <= 1.0
        lo, hi = sorted((row.simulation, row.run_rate))
        assert lo - 1 <= row.expected <= hi + 1
        assert row.p10 <= row.expected <= row.p90
    # the stage-weighted pipeline counts the whole pipeline against one month: far worse than every other
    assert report.wape_stage_weighted > 1.0
    assert max(report.wape, report.wape_simulation, report.wape_run_rate, report.wape_stage_in_period) < 0.8
    # the point baselines score their absolute error as CRPS; banded forecasters have an interval score
    assert methods["stage-weighted pipeline"].interval_score is None
    assert all(methods[m].interval_score for m in ("blend", "simulation", "run rate"))
    assert report.owner_cells >= 20
    assert 0.5 <= report.owner_coverage <= 0.97
    with pytest.raises(InvalidInput, match="not the start of a month"):
        backtest(history, [date(2026, 6, 15)], "month")


def test_scoring_rules_match_their_definitions() -> None:
    import numpy as np

    from analytics.forecast import blend_samples, blend_weight, crps, interval_score

    # a point forecast's CRPS is its absolute error; a normal's has the closed form sigma * (1/sqrt(pi) ... ) at 0
    assert crps(np.array([120.0]), 100.0) == pytest.approx(20.0)
    draws = np.random.default_rng(0).standard_normal(20000)
    assert crps(draws, 0.0) == pytest.approx(2 * 0.3989423 - 1 / np.sqrt(np.pi), abs=0.01)
    # a sharper forecast centred on the truth scores better than a wide one
    assert crps(draws * 0.5, 0.0) < crps(draws * 2, 0.0)
    assert interval_score(90, 110, 100) == pytest.approx(20)
    assert interval_score(90, 110, 120) == pytest.approx(20 + 10 * 10)  # 2 / 0.2 per unit above the top
    # the weight goes to whichever forecaster was right before, shrunk toward an even split
    assert blend_weight([(100, 50, 100)] * 2) == 0.5  # too few origins
    assert blend_weight([(100, 50, 100)] * 6) == pytest.approx((6 * 1.0 + 2 * 0.5) / 8)
    assert blend_weight([(100, 50, 50)] * 6) == pytest.approx(2 * 0.5 / 8)
    mixed = blend_samples(np.array([3.0, 1.0, 2.0]), np.array([10.0, 30.0, 20.0]), 0.25)
    assert mixed.tolist() == pytest.approx([0.25 * 1 + 0.75 * 10, 0.25 * 2 + 0.75 * 20, 0.25 * 3 + 0.75 * 30])


def test_the_method_and_its_notes_read_as_one_line_of_clauses() -> None:
    from tools.analysis import method_text

    notes = [
        "open deals carry no amount until they close.",
        "shared shocks: win rate sigma 0.71",
        "shared shocks: win rate sigma 0.71",
    ]
    assert method_text("monte-carlo", notes) == (
        "monte-carlo; open deals carry no amount until they close; shared shocks: win rate sigma 0.71"
    )
    assert method_text("", []) is None
