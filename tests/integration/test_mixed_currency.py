"""A book in USD and EUR: money is never added across currencies (pipeline question, pipeline summary, forecast,
backtest, the assistant's answer), totals per currency equal direct SQL, and bad currency codes change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
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
from analytics.winprob import load_history, win_probabilities
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


def _cli_in(tmp_path: Path, columns: int) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real CLI in a fresh embedded workspace under ``tmp_path`` (a terminal ``columns`` wide)."""
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": str(columns)}
    env.pop("SALESGRAPH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
        )

    return cli


def test_pipeline_command_shows_totals_per_currency(tmp_path: Path) -> None:
    cli = _cli_in(tmp_path, columns=200)

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


# ------------------------------------------------------------------------------------------ amount thresholds


def seed_book_with_yen(engine: Engine) -> Team:
    """The book above plus an open JPY deal of 100,000 (about 650 USD) in Proposal: "over 50k" must not match it."""
    team = seed_book(engine)
    with session_scope(engine) as s:
        _deal(s, team.rep.user_id or 0, "JP open", "JPY", 100000, [("Prospecting", 30), ("Proposal", 45)])
    return team


def _sql_count(engine: Engine, where: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT currency, count(*) FROM deals WHERE {where} GROUP BY currency")).all()
    return {str(c): int(n) for c, n in rows}


OPEN = "stage NOT IN ('Won', 'Lost')"


def test_an_amount_threshold_compares_deals_in_its_own_currency_only(engine: Engine) -> None:
    team = seed_book_with_yen(engine)

    def ask(**kwargs: Any) -> Any:
        with session_scope(engine) as s:
            return run_pipeline_query(s, team.admin, PipelineQuery(metric="count", status="open", **kwargs))

    # comparing raw numbers would count the 50,000 EUR and the 100,000 JPY deal as "over 50k"
    assert sum(_sql_count(engine, f"{OPEN} AND amount >= 50000").values()) == 2
    unstated = ask(amount_min=50000)  # a mixed book and no currency given: the default, USD
    assert unstated.filters["amount_currency"] == "USD"
    assert unstated.total.value == sum(_sql_count(engine, f"{OPEN} AND currency = 'USD' AND amount >= 50000").values())
    assert unstated.total.value == 0
    priced_elsewhere = _sql_count(engine, f"{OPEN} AND currency <> 'USD' AND amount IS NOT NULL")
    assert unstated.not_compared == priced_elsewhere == {"EUR": 1, "JPY": 1}
    euros = ask(amount_min=50000, amount_currency=" eur")
    assert euros.filters["amount_currency"] == "EUR" and euros.total.value == 1
    assert euros.not_compared == {"JPY": 1, "USD": 1}
    yen = ask(amount_min=50000, amount_max=200000, amount_currency="JPY")
    assert yen.total.value == 1 and yen.not_compared == {"EUR": 1, "USD": 1}
    small_usd = ask(amount_max=30000, amount_currency="USD")
    assert small_usd.total.value == _sql_count(engine, f"{OPEN} AND currency = 'USD' AND amount <= 30000")["USD"]
    # a scope in one currency: the threshold is in that currency and nothing is left out
    proposal = ask(amount_min=50000, stage="Proposal")
    assert proposal.filters["amount_currency"] == "JPY" and proposal.total.value == 1 and proposal.not_compared == {}
    # without an amount filter nothing changes
    assert ask().total.value == sum(_sql_count(engine, OPEN).values()) and ask().not_compared == {}
    with pytest.raises(InvalidInput) as refused:
        ask(amount_min=1, amount_currency="EURO")
    assert list(refused.value.problems) == ["amount_currency"]


def test_an_amount_threshold_on_an_amount_metric_keeps_one_currency(engine: Engine) -> None:
    team = seed_book_with_yen(engine)
    with session_scope(engine) as s:
        won = run_pipeline_query(
            s, team.admin, PipelineQuery(metric="total_amount", status="won", amount_min=6000, amount_currency="EUR")
        )
        olga = run_pipeline_query(s, team.other_manager, PipelineQuery(metric="total_amount", amount_min=50000))
    assert won.currency == "EUR" and won.total.value == 7000 and won.total.deals == 1
    assert won.not_compared == {"USD": 3}
    # Olga's team sells in USD only: the threshold is in USD and the answer looks as it always did
    assert olga.currency == "USD" and olga.total.value == 100000 and olga.not_compared == {}


def test_the_assistant_says_which_deals_a_threshold_left_out(engine: Engine, tmp_path: Path) -> None:
    team = seed_book_with_yen(engine)
    euros = _ask(engine, tmp_path, team, "How many open deals are over €40k?")
    assert euros.startswith("Number of open deals, amount at least 40,000 EUR: 1.")  # says what it counted
    assert "Only EUR deals were compared with the amount threshold (at least €40,000)" in euros
    assert "1 JPY deal and 1 USD deal were left out" in euros
    unstated = _ask(engine, tmp_path, team, "How many open deals are over 40k?")
    assert "Only USD deals were compared" in unstated and "1 EUR deal and 1 JPY deal" in unstated
    olga = replace(team, admin=team.other_manager)  # _ask asks as the team's admin
    usd_only = _ask(engine, tmp_path, olga, "How many won deals are over $50k?")
    assert usd_only.strip().endswith(": 1.") and "won deals, amount at least 50,000" in usd_only
    assert "compared" not in usd_only


# ------------------------------------------------------------------------------------------ win probabilities


def test_deals_without_an_amount_are_valued_in_their_own_currency(engine: Engine) -> None:
    team = seed_book_with_yen(engine)
    with session_scope(engine) as s:
        _deal(s, team.rep.user_id or 0, "JP open, no amount", "JPY", None, [("Prospecting", 50)])
    with Session(engine) as s:
        result = win_probabilities(s, team.admin, today=TODAY)
        names = dict(s.exec(select(Deal.id, Deal.name)).all())
    by_name = {names[deal.deal_id]: deal for deal in result.deals}
    # EUR won 5,000 and 7,000: the median of EUR wins, not of every win (10,000 across USD and EUR)
    eur = by_name["EU open, no amount"]
    assert (eur.currency, eur.amount, eur.amount_imputed) == ("EUR", 6000, True)
    assert (by_name["US open"].currency, by_name["US open"].amount) == ("USD", 20000)
    assert (by_name["JP open"].currency, by_name["JP open"].amount) == ("JPY", 100000)
    # no JPY deal was ever won: no value is borrowed from another currency
    assert by_name["JP open, no amount"].amount == 0 and by_name["JP open, no amount"].amount_imputed


def test_forecast_deals_shows_each_deals_own_currency(tmp_path: Path) -> None:
    cli = _cli_in(tmp_path, columns=250)

    assert cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin").returncode == 0
    as_ada = ("--as", "ada@x.example")
    assert cli("deals", "create", "--name", "A", "--amount", "1000", *as_ada).returncode == 0
    assert cli("deals", "create", "--name", "B", "--amount", "250", "--currency", "eur", *as_ada).returncode == 0
    assert cli("deals", "create", "--name", "C", "--amount", "90000", "--currency", "JPY", *as_ada).returncode == 0
    shown = cli("forecast", "deals", *as_ada)
    assert shown.returncode == 0, shown.stderr
    assert "$1,000" in shown.stdout and "€250" in shown.stdout and "90,000 JPY" in shown.stdout
    assert "$250" not in shown.stdout and "$90,000" not in shown.stdout
