"""A book in USD and EUR: money is never added across currencies (pipeline question, pipeline summary, forecast,
backtest, the assistant's answer), totals per currency equal direct SQL, and bad currency codes change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from agent.context import Context
from agent.graph import build_graph
from agent.offline import OfflineChatModel
from analytics.forecast import backtest, forecast_by_currency, forecast_period
from analytics.winprob import load_history
from sales.deals import DealInput, create_deal
from sales.errors import InvalidInput
from sales.money import normalize_currency
from sales.pipeline import pipeline_summary, totals_by_currency
from sales.pipeline_query import PipelineQuery, run_pipeline_query
from store.db import session_scope
from store.models import AuditEvent, Deal, StageChange
from tests.unit.test_agent_support import Team, seed_team, services_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TODAY = date(2026, 3, 2)  # in Q1 2026: the won deals below closed this quarter
REPO = Path(__file__).resolve().parents[2]


def _deal(s: Session, owner: int, name: str, currency: str, amount: int | None, stages: list[tuple[str, int]]) -> None:
    last_stage, last_day = stages[-1]
    deal = Deal(
        name=name,
        owner_id=owner,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        stage=last_stage,
        stage_entered_at=T0 + timedelta(days=last_day),
        created_at=T0 + timedelta(days=stages[0][1]),
        updated_at=T0 + timedelta(days=last_day),
        closed_at=T0 + timedelta(days=last_day) if last_stage in ("Won", "Lost") else None,
        product="Widgets",
    )
    s.add(deal)
    s.flush()
    previous = None
    for stage, day in stages:
        s.add(
            StageChange(deal_id=deal.id or 0, from_stage=previous, to_stage=stage, changed_at=T0 + timedelta(days=day))
        )
        previous = stage


def seed_book(engine: Engine) -> Team:
    """Rita sells in USD and EUR, Olga only in USD. Won this quarter: USD 10k + 30k + 100k, EUR 5k + 7k."""
    team = seed_team(engine)
    rita, olga = team.rep.user_id or 0, team.other_rep.user_id or 0
    won = [("Prospecting", 0), ("Proposal", 10), ("Won", 40)]
    with session_scope(engine) as s:
        _deal(s, rita, "US won 1", "USD", 10000, won)
        _deal(s, rita, "US won 2", "USD", 30000, won)
        _deal(s, olga, "US won 3", "USD", 100000, won)
        _deal(s, rita, "EU won 1", "EUR", 5000, won)
        _deal(s, rita, "EU won 2", "EUR", 7000, won)
        _deal(s, rita, "US lost", "USD", 2000, [("Prospecting", 0), ("Lost", 20)])
        _deal(s, rita, "US open", "USD", 20000, [("Prospecting", 30), ("Negotiation", 45)])
        _deal(s, rita, "EU open", "EUR", 50000, [("Prospecting", 30), ("Negotiation", 45)])
        _deal(s, rita, "EU open, no amount", "EUR", None, [("Prospecting", 50)])
    return team


def _sql_totals(engine: Engine, where: str = "1 = 1") -> dict[str, tuple[float, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT currency, sum(amount), count(amount) FROM deals WHERE {where} GROUP BY currency")
        ).all()
    return {str(c): (float(total), int(n)) for c, total, n in rows if n}


# ------------------------------------------------------------------------------------------ pipeline question


def test_pipeline_amounts_are_per_currency_and_equal_sql(engine: Engine) -> None:
    team = seed_book(engine)
    with session_scope(engine) as s:
        total = run_pipeline_query(s, team.admin, PipelineQuery(metric="total_amount", status="won"))
        average = run_pipeline_query(s, team.admin, PipelineQuery(metric="avg_amount", status="won"))
        by_owner = run_pipeline_query(
            s, team.admin, PipelineQuery(metric="total_amount", status="all", group_by=("owner",))
        )
        count = run_pipeline_query(s, team.admin, PipelineQuery(metric="count", status="won"))
    won_sql = _sql_totals(engine, "stage = 'Won'")
    assert won_sql == {"EUR": (12000.0, 2), "USD": (140000.0, 3)}
    # no single figure: a sum across USD and EUR (152,000) is never produced
    assert total.total.value is None and total.currency is None
    assert {t.currency: (t.value, t.deals) for t in total.totals_by_currency} == won_sql
    assert [t.currency for t in total.totals_by_currency] == ["EUR", "USD"]
    assert average.total.value is None
    assert {t.currency: t.value for t in average.totals_by_currency} == {
        "EUR": 6000.0,
        "USD": pytest.approx(140000 / 3),
    }
    # grouped: one row per owner and currency, each equal to SQL
    with engine.connect() as conn:
        sql_rows = conn.execute(
            text(
                "SELECT u.name, d.currency, sum(d.amount), count(d.amount) FROM deals d JOIN users u ON u.id = d.owner_id "
                "GROUP BY u.name, d.currency HAVING count(d.amount) > 0"
            )
        ).all()
    assert {(r.group["owner"], r.currency): (r.value, r.deals) for r in by_owner.rows} == {
        (name, cur): (float(amount), int(n)) for name, cur, amount, n in sql_rows
    }
    assert all(r.value != 152000 for r in [*by_owner.rows, *by_owner.totals_by_currency])
    # counts are not money: one total over every currency, as before
    assert count.total.value == 5 and count.currency is None


def test_a_single_currency_answer_keeps_its_shape(engine: Engine) -> None:
    team = seed_book(engine)
    with session_scope(engine) as s:
        olga = run_pipeline_query(s, team.other_manager, PipelineQuery(metric="total_amount", status="won"))
        no_deals = run_pipeline_query(s, team.admin, PipelineQuery(metric="total_amount", stage="Discovery"))
    assert olga.total.value == 100000 and olga.total.deals == 1 and olga.currency == "USD"
    assert [(t.currency, t.value) for t in olga.totals_by_currency] == [("USD", 100000)]
    assert no_deals.total.value is None and no_deals.total.deals == 0 and no_deals.totals_by_currency == []


def test_a_currency_without_amounts_does_not_make_the_answer_mixed(engine: Engine) -> None:
    team = seed_book(engine)
    with session_scope(engine) as s:
        prospecting = run_pipeline_query(s, team.admin, PipelineQuery(metric="total_amount", stage="Prospecting"))
    # only an EUR deal without amount is in Prospecting: nothing is summed, nothing is invented
    assert prospecting.total.value is None and prospecting.total.deals == 0


# ------------------------------------------------------------------------------------------ pipeline summary


def test_pipeline_summary_has_a_row_per_currency_equal_to_sql(engine: Engine) -> None:
    team = seed_book(engine)
    with session_scope(engine) as s:
        rows = pipeline_summary(s, team.admin)
    with engine.connect() as conn:
        sql_rows = conn.execute(
            text(
                "SELECT d.stage, u.name, d.currency, count(d.id), coalesce(sum(d.amount), 0) FROM deals d "
                "JOIN users u ON u.id = d.owner_id GROUP BY d.stage, u.name, d.currency"
            )
        ).all()
    assert {(r.stage, r.owner_name, r.currency): (r.deals, r.amount) for r in rows} == {
        (stage, name, cur): (int(n), Decimal(str(amount)).quantize(Decimal("0.01")))
        for stage, name, cur, n, amount in sql_rows
    }
    won = [r for r in rows if r.stage == "Won"]
    assert totals_by_currency(won) == {"EUR": (2, Decimal("12000.00")), "USD": (3, Decimal("140000.00"))}


def test_pipeline_command_shows_totals_per_currency(tmp_path: Path) -> None:
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
        )

    assert cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin").returncode == 0
    as_ada = ("--as", "ada@x.example")
    assert cli("deals", "create", "--name", "A", "--amount", "1000", *as_ada).returncode == 0
    assert cli("deals", "create", "--name", "B", "--amount", "250", "--currency", "eur", *as_ada).returncode == 0
    bad = cli("deals", "create", "--name", "C", "--amount", "5", "--currency", "EURO", *as_ada)
    assert bad.returncode == 1 and "currency" in bad.stderr and "'EURO'" in bad.stderr
    assert "Traceback" not in bad.stderr
    out = cli("pipeline", *as_ada).stdout
    assert "Prospecting total (EUR)" in out and "Prospecting total (USD)" in out
    assert "€250" in out and "$1,000" in out
    assert "1,250" not in out  # never USD + EUR
    assert out.count("All stages") == 2


# ------------------------------------------------------------------------------------------ forecast


def test_forecast_is_per_currency_and_never_adds_them(engine: Engine) -> None:
    team = seed_book(engine)
    with session_scope(engine) as s:
        forecasts = forecast_by_currency(s, team.admin, "this quarter", today=TODAY, simulations=300)
        grouped = forecast_by_currency(s, team.admin, "this quarter", group_by="owner", today=TODAY, simulations=300)
        with pytest.raises(InvalidInput, match="EUR, USD") as refused:
            forecast_period(s, team.admin, "this quarter", today=TODAY, simulations=300)
        euros = forecast_period(s, team.admin, "this quarter", today=TODAY, simulations=300, currency=" eur")
        with pytest.raises(InvalidInput, match="currency"):
            forecast_period(s, team.admin, "this quarter", today=TODAY, currency="E1R")
    assert "currency" in refused.value.problems
    assert [f.currency for f in forecasts] == ["EUR", "USD"]
    eur, usd = forecasts
    won_sql = _sql_totals(engine, "stage = 'Won'")
    assert eur.total.won_to_date == won_sql["EUR"][0] and usd.total.won_to_date == won_sql["USD"][0]
    assert eur.total.open_deals == 2 and usd.total.open_deals == 1
    # EUR: won 12k + at most the 50k open deal and the amount-less one valued from EUR wins (median 6k)
    assert eur.total.p90 <= 12000 + 50000 + 6000 + 1e-6
    assert eur.total.stage_weighted < usd.total.won_to_date  # EUR figures hold no USD money
    assert euros.currency == "EUR" and euros.total == eur.total
    assert all(line.currency == f.currency for f in grouped for line in f.lines)
    assert {(f.currency, line.key) for f in grouped for line in f.lines} == {
        ("EUR", "Rita Rep"),
        ("USD", "Olga Rep"),
        ("USD", "Rita Rep"),
    }


def test_backtest_takes_one_currency_at_a_time(engine: Engine) -> None:
    seed_book(engine)
    with Session(engine) as s:
        history = load_history(s)
    with pytest.raises(InvalidInput, match="EUR, USD"):
        backtest(history, [date(2026, 2, 1)], simulations=200)


# ------------------------------------------------------------------------------------------ the assistant


def _ask(engine: Engine, tmp_path: Path, team: Team, question: str) -> str:
    graph = build_graph(OfflineChatModel(today=TODAY), checkpointer=InMemorySaver())
    context = Context(actor=team.admin, services=services_for(engine, tmp_path), today_override=TODAY)
    state: dict[str, Any] = graph.invoke(
        {"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": question}}, context=context
    )
    reply = state["messages"][-1]
    assert isinstance(reply, AIMessage)
    return str(reply.content)


def test_the_assistant_answers_per_currency(engine: Engine, tmp_path: Path) -> None:
    team = seed_book(engine)
    won = _ask(engine, tmp_path, team, "How much did we win in total?")
    assert "€12,000" in won and "$140,000" in won
    assert "152,000" not in won
    by_rep = _ask(engine, tmp_path, team, "How much did each rep win?")
    assert "Rita Rep: €12,000" in by_rep and "Rita Rep: $40,000" in by_rep and "Olga Rep: $100,000" in by_rep
    forecast = _ask(engine, tmp_path, team, "What's our forecast for this quarter?")
    assert "EUR: €" in forecast and "USD: $" in forecast
    assert "never added" in forecast


# ------------------------------------------------------------------------------------------ validation


@given(st.text(max_size=6))
def test_currency_codes_are_three_ascii_letters_normalised_to_upper_case(value: str) -> None:
    stripped = value.strip()
    if len(stripped) == 3 and stripped.isascii() and stripped.isalpha():
        assert normalize_currency(value) == stripped.upper()
    else:
        with pytest.raises(ValueError, match="three-letter currency code"):
            normalize_currency(value)


@pytest.mark.parametrize("bad", ["EURO", "U$D", "12A", "", "€"])
def test_a_deal_with_a_bad_currency_is_refused_and_changes_nothing(engine: Engine, bad: str) -> None:
    team = seed_team(engine)
    with pytest.raises(InvalidInput) as refused, session_scope(engine) as s:
        create_deal(s, team.rep, DealInput(name="Bad", amount=Decimal(10), currency=bad))
    assert list(refused.value.problems) == ["currency"]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Deal)).one() == 0
        assert s.exec(select(func.count()).select_from(AuditEvent)).one() == 0
    with session_scope(engine) as s:
        created = create_deal(s, team.rep, DealInput(name="Good", amount=Decimal(10), currency=" gbp ")).deal
        assert created.currency == "GBP"
        assert s.exec(select(col(Deal.currency))).all() == ["GBP"]
