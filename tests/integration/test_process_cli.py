"""`salesgraph import eventlog` and `salesgraph analyze ...` end to end in a temporary workspace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from analytics.eventlog import synthetic_event_log
from store.models import AuditEvent


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import bots.common
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SALESGRAPH_HOME", str(home))
    monkeypatch.delenv("SALESGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SALESGRAPH_USER", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    yield home
    if bots.common._services is not None:
        bots.common._services.engine.dispose()
    get_settings.cache_clear()


def _run(*args: str):  # type: ignore[no-untyped-def]
    from bots.cli import app

    return CliRunner().invoke(app, list(args))


def _audit_actions() -> list[str]:
    import bots.common

    with Session(bots.common.services().engine) as s:
        return list(s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all())


@pytest.fixture
def crm_csv(tmp_path: Path) -> Path:
    """A CRM export with its own column names, planted slow Proposal → Negotiation for enterprise deals."""
    log = synthetic_event_log(300, seed=4)
    frame = log.events.join(log.cases[["amount", "industry"]], on="case_id")
    frame = frame.rename(columns={"case_id": "deal", "activity": "step", "timestamp": "when", "resource": "rep"})
    path = tmp_path / "crm_export.csv"
    frame.to_csv(path, index=False)
    return path


def test_import_then_analyse_an_external_log_with_a_playbook(cli_home: Path, crm_csv: Path, tmp_path: Path) -> None:
    result = _run(
        "import", "eventlog", str(crm_csv), "--case", "deal", "--activity", "step", "--timestamp", "when",
        "--resource", "rep", "--amount", "amount",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Imported crm_export: 300 cases" in result.output
    assert (cli_home / "eventlogs" / "crm_export.pkl").is_file()
    assert _audit_actions() == ["import_eventlog"]

    listed = _run("analyze", "logs")
    assert "crm_export" in listed.output

    html, md = tmp_path / "out" / "report.html", tmp_path / "out" / "report.md"
    result = _run(
        "analyze", "bottlenecks", "--log", "crm_export",
        "--stages", "Prospecting,Qualified,Discovery,Proposal,Negotiation", "--won", "Won", "--lost", "Lost",
        "--html", str(html), "--markdown", str(md), "--case-noun", "deals",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Proposal → Negotiation is slow for enterprise" in result.output
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 3  # process map, funnel, cycle time: all embedded
    assert "src='http" not in page and 'src="http' not in page
    text = md.read_text()
    assert "## Where deals get stuck" in text
    assert (md.parent / "report-process-map.png").stat().st_size > 10_000


def test_bad_event_log_names_the_problem_and_stores_nothing(cli_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("deal,step,when\n1,Prospecting,2026-01-05\n1,Qualified,\n2,Prospecting,not a date\n")
    result = _run("import", "eventlog", str(path), "--case", "deal", "--activity", "step", "--timestamp", "when")
    assert result.exit_code == 1
    assert "timestamp: 1 events have no timestamp (rows 3)" in result.output
    assert "Traceback" not in result.output
    assert not (cli_home / "eventlogs").exists()
    assert _audit_actions() == []

    result = _run("import", "eventlog", str(path), "--case", "deal_id", "--activity", "step", "--timestamp", "at")
    assert result.exit_code == 1
    assert "deal_id: no such column in broken.csv (available: deal, step, when)" in result.output
    assert "at: no such column" in result.output


def test_unknown_playbook_stage_and_log_name_are_clear_errors(cli_home: Path, crm_csv: Path) -> None:
    _run(
        "import",
        "eventlog",
        str(crm_csv),
        "--name",
        "crm",
        "--case",
        "deal",
        "--activity",
        "step",
        "--timestamp",
        "when",
    )
    result = _run("analyze", "bottlenecks", "--log", "crm", "--stages", "Prospecting,Signed")
    assert result.exit_code == 1
    assert "not activities of this log: Signed" in result.output
    result = _run("analyze", "bottlenecks", "--log", "nope")
    assert result.exit_code == 1
    assert "no imported event log named 'nope' (imported: crm)" in result.output
    result = _run("analyze", "bottlenecks", "--since", "the day after never")
    assert result.exit_code == 1
    assert "cannot read 'the day after never' as a date" in result.output


def test_analyse_the_store_as_admin_and_as_rep(cli_home: Path) -> None:
    import bots.common
    from sales.demo import DEMO_REP_EMAIL, PLANTED, seed_demo
    from store.db import session_scope

    with session_scope(bots.common.services().engine) as s:
        seed_demo(s, seed=3, anchor=datetime.now(UTC).date())

    result = _run("analyze", "bottlenecks")
    assert result.exit_code == 0, result.output
    reports = sorted((cli_home / "reports").glob("process-*"))
    assert {p.suffix for p in reports} == {".md", ".html", ".png"}
    assert "Proposal → Negotiation is slow for enterprise" in result.output

    result = _run("analyze", "bottlenecks", "--as", DEMO_REP_EMAIL, "--segment", "size", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["requested_by"] == DEMO_REP_EMAIL
    assert payload["dimensions"] == ["size_band"]
    assert all(f["segment"] != PLANTED.low_converting_rep_email for f in payload["findings"])

    result = _run("analyze", "process", "--since", "2000-01-01", "--threshold", "0.95")
    assert result.exit_code == 0, result.output
    assert "Conformance to the playbook" in result.output
    # open deals are unfinished traces, not deviations: they are counted and left out
    assert re.search(
        r"of [\d,]+ completed deals under 0\.95; precision [01]\.\d{3} \([\d,]+ deals\)\. [\d,]+ open deals left out",
        result.output,
    )


def test_help_does_not_load_the_analysis_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from bots.cli import app; "
        "r = CliRunner().invoke(app, ['analyze', 'bottlenecks', '--help']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('pandas', 'pm4py', 'matplotlib', 'scipy', 'analytics.bottlenecks') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lifecycle_log_with_case_noun_and_end_activities(cli_home: Path, tmp_path: Path) -> None:
    """A ticket log with start/complete events: imported with its noun and end activity, analysed end to end."""
    rows = ["case_id,activity,lifecycle,timestamp,resource"]
    for i in range(12):
        day = f"2026-02-{1 + i:02d}"
        rows += [
            f"T{i},Open,complete,{day}T08:00:00Z,desk",
            f"T{i},Fix,start,{day}T11:00:00Z,eng{i % 2}",  # 3 h queue after Open
            f"T{i},Fix,complete,{day}T11:30:00Z,eng{i % 2}",  # 30 min of work
        ]
        if i < 9:  # the last three tickets are still open
            rows.append(f"T{i},Closed,complete,{day}T12:00:00Z,desk")
    path = tmp_path / "tickets.csv"
    path.write_text("\n".join(rows) + "\n")

    result = _run("import", "eventlog", str(path), "--case-noun", "tickets", "--end", "Closed")
    assert result.exit_code == 0, result.output
    assert "Imported tickets: 12 tickets, 33 events, 45 lifecycle events" in result.output
    bad = _run("import", "eventlog", str(path), "--name", "t2", "--end", "Resolved")
    assert bad.exit_code == 1 and "not activities of tickets.csv: Resolved" in bad.output

    result = _run("analyze", "process", "--log", "tickets")
    assert result.exit_code == 0, result.output
    # no playbook: mined on the earliest 6 of the 9 closed tickets, judged on the later 3
    assert "of 3 completed tickets under 0.85" in result.output
    assert "the one variant of the earliest 6 completed tickets" in result.output
    assert "3 open tickets left out" in result.output
    assert re.search(r"Fix\s+12\s+3\.0 h\s+30 min\s+86%\s+queue", result.output)
    assert "The longest queue is before Fix: tickets wait a median 3.0 h" in result.output
    assert "eng0" in result.output and "desk → eng" in result.output

    # --since keeps the lifecycle events of the tickets it keeps, and no others
    result = _run("analyze", "process", "--log", "tickets", "--since", "2026-02-10")
    assert result.exit_code == 0, result.output
    assert re.search(r"Fix\s+3\s+3\.0 h", result.output)
    assert "only tickets that started on or after 2026-02-10" in result.output
    # those three are all still open: the rest of the report stands, conformance says why it was not checked
    assert "conformance not checked: none of the tickets is complete yet (tickets that reached Closed)" in result.output

    md = tmp_path / "tickets.md"
    result = _run("analyze", "bottlenecks", "--log", "tickets", "--case-noun", "support tickets", "--markdown", str(md))
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert text.startswith("# Where support tickets get stuck")
    assert (md.parent / "tickets-queue-working.png").stat().st_size > 5_000
    result = _run("analyze", "bottlenecks", "--case-noun", "tickets")
    assert result.exit_code == 1 and "apply to an imported log" in result.output
