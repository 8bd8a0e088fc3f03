"""The command line in scripts: --json on every list and show command, tables that survive a pipe, relative dates
on every date option, forecasts in whole currency units. Real processes on a seeded demo workspace, and Typer's
runner with a pinned "today" where the date matters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
REP = "sam.rivera@demo.example"
MANAGER = "maria.chen@demo.example"

LEAD_KEYS = {"id", "name", "company", "email", "phone", "title", "source", "industry", "region", "status", "score"}
LEAD_KEYS |= {"score_band", "owner_id", "owner", "created_at"}
DEAL_KEYS = {"id", "name", "account_id", "product", "stage", "amount", "currency", "owner_id", "owner"}
DEAL_KEYS |= {"expected_close_date", "stage_entered_at", "loss_reason", "created_at", "updated_at", "closed_at"}
TASK_KEYS = {"id", "title", "kind", "due_date", "overdue", "status", "owner_id", "owner", "deal_id", "lead_id"}
TASK_KEYS |= {"created_at", "completed_at"}
USER_KEYS = {"id", "name", "email", "role", "manager_id", "manager", "team", "region", "started_at", "active"}
APPROVAL_KEYS = {"id", "action", "what", "status", "record_type", "record_id", "arguments", "requested_by"}
APPROVAL_KEYS |= {"approvers", "decision", "expires_at", "thread_id", "created_at"}
LINE_KEYS = {"key", "currency", "expected", "p10", "p90", "won_to_date", "commit", "best_case", "stage_weighted"}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("scripting") / "home"
    # a narrow terminal width: piped output must not wrap to it
    env = {**os.environ, "SALESGRAPH_HOME": str(home), "COLUMNS": "40"}
    env.pop("SALESGRAPH_DATABASE_URL", None)
    env.pop("SALESGRAPH_USER", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
        )
        if ok:
            assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result

    run("seed", "--demo", "--seed", "7", "--anchor", "2026-11-01")
    _request_an_approval(home)
    return run


def _request_an_approval(home: Path) -> None:
    from sqlmodel import col, select

    from sales.approvals import request_approval
    from sales.permissions import load_actor
    from store.db import make_engine, session_scope
    from store.models import Lead

    engine = make_engine(f"sqlite:///{home / 'salesgraph.db'}")
    try:
        with session_scope(engine) as s:
            rep = load_actor(s, REP)
            lead = s.exec(select(Lead).where(Lead.owner_id == rep.user_id).order_by(col(Lead.id))).first()
            assert lead is not None and lead.id is not None
            request_approval(
                s, rep, action="qualify_lead", arguments={"lead_name": lead.name, "amount": 12000},
                record_type="lead", record_id=lead.id, owner_id=rep.user_id,
            )  # fmt: skip
    finally:
        engine.dispose()


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert "\x1b[" not in result.stdout  # no colour codes or cursor moves around the JSON
    return json.loads(result.stdout)


def _rows_have(rows: list[dict[str, Any]], keys: set[str]) -> None:
    assert rows, "expected at least one row"
    for row in rows:
        assert keys <= set(row), keys - set(row)
        assert set(row) == set(rows[0])  # stable keys: the same on every row


# ------------------------------------------------------------------------------------------------------ --json

LISTS: list[tuple[list[str], set[str]]] = [
    (["leads", "list", "--as", REP], LEAD_KEYS),
    (["deals", "list", "--status", "all"], DEAL_KEYS),
    (["deals", "stalled", "--as", MANAGER], {"deal_id", "name", "owner", "stage", "days_idle", "limit_days"}),
    (["tasks", "list", "--owner", "team", "--as", MANAGER], TASK_KEYS),
    (["users", "list"], USER_KEYS),
    (["approvals", "list", "--as", REP], APPROVAL_KEYS),
    (["audit", "log", "-n", "5"], {"id", "at", "actor", "action", "record_type", "record_id", "before", "after"}),
    (["memory", "search", "pricing", "--mode", "keyword", "--as", MANAGER], {"interaction_id", "date", "record"}),
    (["forecast", "deals", "--today", "2026-11-01", "--as", MANAGER], set()),
    (["briefings", "schedule"], set()),
]


@pytest.mark.parametrize(("argv", "keys"), LISTS, ids=[" ".join(a[:2]) for a, _ in LISTS])
def test_every_list_command_prints_json(cli, argv: list[str], keys: set[str]) -> None:  # type: ignore[no-untyped-def]
    data = _json(cli(*argv, "--json"))
    if argv[:2] == ["forecast", "deals"]:
        assert {"as_of", "method", "deals", "notes"} <= set(data)
        _rows_have(data["deals"], {"deal_id", "owner", "stage", "amount", "currency", "p_win", "p_close_by_period"})
        assert all(isinstance(d["amount"], int) for d in data["deals"])  # whole currency units
    elif argv[0] == "briefings":
        _rows_have(data["jobs"], {"id", "name", "when", "next_run", "stored"})
    else:
        assert isinstance(data, list)
        _rows_have(data, keys)


def test_json_values_are_iso_dates_numbers_and_currencies(cli) -> None:  # type: ignore[no-untyped-def]
    deals = _json(cli("deals", "list", "--status", "all", "--json"))
    priced = [d for d in deals if d["amount"] is not None]
    assert priced and all(
        isinstance(d["amount"], int | float) and re.fullmatch("[A-Z]{3}", d["currency"]) for d in priced
    )
    closing = [d["expected_close_date"] for d in deals if d["expected_close_date"]]
    assert closing and all(date.fromisoformat(day) for day in closing)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", d["created_at"]) for d in deals)

    pipeline = _json(cli("pipeline", "--json", "--as", MANAGER))
    assert set(pipeline) == {"visible_to", "rows", "stage_totals", "totals"}
    _rows_have(pipeline["rows"], {"stage", "owner", "deals", "amount", "currency"})
    assert all(isinstance(t["amount"], int | float) and t["currency"] == "USD" for t in pipeline["totals"])
    assert sum(r["deals"] for r in pipeline["rows"]) == sum(t["deals"] for t in pipeline["totals"])


def test_show_commands_print_json(cli) -> None:  # type: ignore[no-untyped-def]
    deal_id = _json(cli("deals", "list", "--json", "-n", "1"))[0]["id"]
    deal = _json(cli("deals", "show", str(deal_id), "--json"))
    assert set(deal) == {"deal", "can_move_to", "history", "tasks", "interactions"}
    assert DEAL_KEYS | {"account"} <= set(deal["deal"]) and deal["history"][0]["to_stage"]

    lead_id = _json(cli("leads", "list", "--json", "-n", "1"))[0]["id"]
    lead = _json(cli("leads", "show", str(lead_id), "--json"))
    assert set(lead) == {"lead", "tasks", "interactions"} and set(lead["lead"]) >= LEAD_KEYS

    approval_id = _json(cli("approvals", "list", "--json", "--as", REP))[0]["id"]
    approval = _json(cli("approvals", "show", str(approval_id), "--json", "--as", MANAGER))
    assert set(approval) >= APPROVAL_KEYS and approval["arguments"]["amount"] == 12000
    assert approval["status"] == "pending" and MANAGER in approval["approvers"]

    assert _json(cli("audit", "verify", "--json"))["ok"] is True


def test_errors_with_json_exit_non_zero_with_the_message_on_stderr(cli) -> None:  # type: ignore[no-untyped-def]
    missing = cli("deals", "show", "999999", "--json", ok=False)
    assert missing.returncode == 1 and missing.stdout == "" and "999999" in missing.stderr
    bad_period = cli("forecast", "someday", "--json", ok=False)
    assert bad_period.returncode == 1 and bad_period.stdout == "" and "not a period" in bad_period.stderr


# ------------------------------------------------------------------------------------------------------ pipes


def test_piped_tables_keep_one_row_per_line_with_full_values(cli) -> None:  # type: ignore[no-untyped-def]
    deals = _json(cli("deals", "list", "--json"))
    lines = cli("deals", "list").stdout.splitlines()
    assert lines[0].split("\t") == ["id", "name", "stage", "amount", "owner", "expected close", "in stage since"]
    assert len(lines) == 1 + len(deals)  # no title, caption or wrapped continuation lines
    for line, deal in zip(lines[1:], deals, strict=True):
        cells = line.split("\t")
        assert len(cells) == 7 and cells[0] == str(deal["id"])
        assert cells[1] == deal["name"] and cells[4] == deal["owner"]  # "Maplewood Energy - Lumen Growth", whole
    longest = max(deals, key=lambda d: len(d["name"]))
    assert len(longest["name"]) > 40  # wider than COLUMNS: a terminal table would have wrapped it
    assert [line for line in lines if longest["name"] in line] == [lines[1 + deals.index(longest)]]

    users = cli("users", "list").stdout.splitlines()
    assert len(users) == 1 + len(_json(cli("users", "list", "--json")))
    assert any(line.split("\t")[1] == "Alex Morgan" for line in users)  # not "Alex\nMorgan"

    tasks = cli("tasks", "list", "--owner", "team", "--as", MANAGER).stdout
    assert "[red]" not in tasks and "\x1b[" not in tasks and "(overdue)" in tasks
    assert all(line.count("\t") == 5 for line in tasks.splitlines())


# ------------------------------------------------------------------------------------------------------ forecast


def test_forecast_is_in_whole_units_and_names_the_quarter(cli) -> None:  # type: ignore[no-untyped-def]
    table = cli("forecast", "2026-Q4", "--by", "owner", "--today", "2026-11-01", "--simulations", "300")
    assert table.stdout.splitlines()[0] == "Forecast Q4 2026 (2026-10-01 to 2026-12-31), as of 2026-11-01"
    amounts = re.findall(r"\$[\d,]+(?:\.\d+)?", table.stdout)
    assert amounts and not [a for a in amounts if "." in a]  # no cents

    found = _json(cli("forecast", "Q4 2026", "--today", "2026-11-01", "--simulations", "300", "--json"))
    assert len(found) == 1 and found[0]["period"] == "Q4 2026" and found[0]["currency"] == "USD"
    assert (found[0]["start"], found[0]["last_day"]) == ("2026-10-01", "2026-12-31")
    total = found[0]["total"]
    assert set(total) >= LINE_KEYS and all(isinstance(total[k], int) for k in LINE_KEYS - {"key", "currency"})
    assert total["p10"] <= total["expected"] <= total["p90"]


# ------------------------------------------------------------------------------------------------------ dates

TODAY = date(2026, 11, 18)  # a Wednesday


@pytest.fixture
def runner_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import bots.common
    import sales.dates
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SALESGRAPH_HOME", str(home))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_USER", raising=False)
    monkeypatch.setattr(sales.dates, "local_today", lambda: TODAY)
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    yield home
    if bots.common._services is not None:
        bots.common._services.engine.dispose()
    get_settings.cache_clear()


def _run(*args: str, ok: bool = True) -> Any:
    from bots.cli import app

    result = CliRunner().invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_date_options_take_relative_dates(runner_home: Path) -> None:
    _run("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    _run("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--started", "3 months ago")
    users = json.loads(_run("users", "list", "--json").stdout)
    assert [u["started_at"] for u in users if u["email"] == "rob@x.example"] == ["2026-08-18"]

    _run("tasks", "create", "Call Jane", "--due", "tomorrow", "--as", "rob@x.example")
    _run("tasks", "create", "Send the deck", "--due", "next friday", "--as", "rob@x.example")
    _run("tasks", "create", "Quarter review", "--due", "end of quarter", "--as", "rob@x.example")
    _run("tasks", "create", "Renewal", "--due", "2027-01-15", "--as", "rob@x.example")
    due = {
        t["title"]: t["due_date"] for t in json.loads(_run("tasks", "list", "--json", "--as", "rob@x.example").stdout)
    }
    assert due == {
        "Call Jane": "2026-11-19",
        "Send the deck": "2026-11-20",
        "Quarter review": "2026-12-31",
        "Renewal": "2027-01-15",
    }

    soon = json.loads(_run("tasks", "list", "--due-before", "next monday", "--json", "--as", "rob@x.example").stdout)
    assert [t["title"] for t in soon] == ["Call Jane", "Send the deck"]

    task_id = next(t["id"] for t in json.loads(_run("tasks", "list", "--json", "--as", "rob@x.example").stdout))
    _run("tasks", "move", str(task_id), "in 2 weeks", "--as", "rob@x.example")
    moved = json.loads(_run("tasks", "list", "--json", "--as", "rob@x.example").stdout)
    assert {t["id"]: t["due_date"] for t in moved}[task_id] == (TODAY + timedelta(days=14)).isoformat()

    _run("deals", "create", "--name", "Acme platform", "--close-date", "next quarter", "--as", "rob@x.example")
    deals = json.loads(_run("deals", "list", "--json", "--as", "rob@x.example").stdout)
    assert deals[0]["expected_close_date"] == "2027-03-31"  # a period as a close date: its last day


def test_an_unreadable_date_names_what_was_given_and_examples(runner_home: Path) -> None:
    _run("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    for argv in (
        ["tasks", "create", "Call", "--due", "someday soon"],
        ["tasks", "list", "--due-before", "someday soon"],
        ["deals", "create", "--name", "X", "--close-date", "someday soon"],
        ["forecast", "--today", "someday soon"],
    ):
        result = _run(*argv, ok=False)
        assert result.exit_code == 1, argv
        assert "'someday soon'" in result.stderr and "next friday" in result.stderr, result.stderr
        assert result.stdout == ""
    bad_day = _run("tasks", "create", "Call", "--due", "2026-02-30", ok=False)
    assert bad_day.exit_code == 1 and "2026-02-30" in bad_day.stderr and "YYYY-MM-DD" in bad_day.stderr
