"""Daily briefings on a seeded store: numbers equal direct queries, nothing crosses teams, delivery to the
loopback Slack API (message, chart in the thread, receipt, once a day), files without Slack, and the scheduler's
persisted jobs (same next run after a restart; a job that fell due while down runs once)."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.services import Services
from app.settings import Settings
from bots.briefings import scheduler as sched
from bots.briefings.compose import attach_chart, compose_briefing
from bots.briefings.config import BriefingsConfig, TeamEntry
from bots.briefings.deliver import deliver_briefing, delivery_rows
from bots.slack.manifest import BOT_SCOPES
from sales.approvals import SEND_FOLLOW_UP, request_approval
from sales.deals import list_stalled_deals
from sales.demo import DEMO_MANAGER_EMAIL, DEMO_OTHER_MANAGER_EMAIL, seed_demo
from sales.permissions import SYSTEM, load_actor, user_by_email
from sales.stages import DEFAULT_MACHINE
from store.db import session_scope
from store.models import Approval, AuditEvent, Deal, StageChange, Task, TaskStatus, User
from tests.slack_api import SlackAPIServer

ANCHOR = date(2026, 11, 23)
DAY_START = datetime(2026, 11, 22, tzinfo=UTC)
DAY_END = datetime(2026, 11, 23, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
TOKEN = "xoxb-briefings-test"


def _seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        seed_demo(s, seed=7, anchor=ANCHOR)


def _team_ids(engine: Engine, email: str) -> set[int]:
    with session_scope(engine) as s:
        manager = s.execute(select(User.id).where(User.email == email)).scalar_one()
        reports = s.execute(select(User.id).where(User.manager_id == manager)).scalars().all()
    return {manager, *reports}


def _pending_approval_for_a_rep_of(engine: Engine, manager_email: str) -> int:
    with session_scope(engine) as s:
        team = _team_ids(engine, manager_email)
        deal = (
            s.execute(
                select(Deal).where(Deal.owner_id.in_(team), Deal.stage == "Proposal").order_by(Deal.id)  # type: ignore[attr-defined]
            )
            .scalars()
            .first()
        )
        assert deal is not None and deal.id is not None
        owner = s.get(User, deal.owner_id)
        assert owner is not None
        approval, _ = request_approval(
            s,
            load_actor(s, owner.email),
            action=SEND_FOLLOW_UP,
            arguments={"to": "buyer@customer.example", "subject": "Proposal follow-up", "body": "Hi"},
            record_type="deal",
            record_id=deal.id,
            owner_id=deal.owner_id,
        )
        assert approval.id is not None
        return approval.id


def test_briefing_numbers_equal_direct_queries_and_stay_in_the_team(engine: Engine) -> None:
    pm4py_before = "pm4py" in sys.modules
    _seed(engine)
    approval_id = _pending_approval_for_a_rep_of(engine, DEMO_MANAGER_EMAIL)
    with session_scope(engine, read_only=True) as s:
        maria = user_by_email(s, DEMO_MANAGER_EMAIL)
        henrik = user_by_email(s, DEMO_OTHER_MANAGER_EMAIL)
        assert maria is not None and henrik is not None
        # approvals are judged at the time of composition: the test's clock must be after the request
        mine = compose_briefing(s, maria, ANCHOR, now=datetime.now(UTC))
        theirs = compose_briefing(s, henrik, ANCHOR, now=datetime.now(UTC), forecast=False)
    team = _team_ids(engine, DEMO_MANAGER_EMAIL)
    other = _team_ids(engine, DEMO_OTHER_MANAGER_EMAIL)
    assert set(mine.team_member_ids) == team and team.isdisjoint(other)

    with session_scope(engine, read_only=True) as s:
        # open pipeline by stage
        rows = s.execute(
            select(Deal.stage, Deal.currency, func.count(), func.sum(Deal.amount))
            .where(Deal.owner_id.in_(team), Deal.stage.in_(DEFAULT_MACHINE.open_stages))  # type: ignore[attr-defined]
            .group_by(Deal.stage, Deal.currency)
        ).all()
        expected = {(st, cur): (n, Decimal(str(total)).quantize(Decimal("0.01"))) for st, cur, n, total in rows}
        assert {(line.stage, line.currency): (line.deals, line.amount) for line in mine.pipeline} == expected
        assert mine.open_deals == sum(n for n, _ in expected.values())
        assert mine.open_amounts == {"USD": sum((a for _, a in expected.values()), Decimal(0))}  # the demo is USD

        # stage changes of the day before, by kind
        changes = s.execute(
            select(StageChange.deal_id, StageChange.to_stage, Deal.amount, Deal.loss_reason)
            .join(Deal, Deal.id == StageChange.deal_id)
            .where(
                Deal.owner_id.in_(team),  # type: ignore[attr-defined]
                StageChange.changed_at >= DAY_START,
                StageChange.changed_at < DAY_END,
            )
        ).all()
        assert len(mine.changes) == len(changes) > 0
        won = [amount for _, to, amount, _ in changes if to == "Won"]
        assert mine.count("won") == len(won)
        assert sum(mine.won_amounts().values(), Decimal(0)) == sum(won, Decimal(0))
        lost = {deal_id: reason for deal_id, to, _, reason in changes if to == "Lost"}
        assert {c.deal_id: c.loss_reason for c in mine.changes if c.kind == "lost"} == lost

        # stalled: the stall rule at the day's start, for the team's deals only
        stalled = {d.deal_id for d in list_stalled_deals(s, SYSTEM, now=DAY_END) if d.owner_id in team}
        assert {d.deal_id for d in mine.stalled} == stalled and stalled

        # tasks due today and overdue per rep
        task_rows = s.execute(
            select(Task.owner_id, Task.due_date).where(
                Task.owner_id.in_(team),  # type: ignore[attr-defined]
                Task.status == TaskStatus.OPEN,
                Task.due_date <= ANCHOR,  # type: ignore[operator]
            )
        ).all()
        per_rep: dict[int, list[int]] = {}
        for owner, due in task_rows:
            counts = per_rep.setdefault(owner, [0, 0])
            counts[0 if due == ANCHOR else 1] += 1
        assert {t.owner_id: [t.due_today, t.overdue] for t in mine.tasks} == per_rep

        # approvals waiting on the team: ours is there, and only in this team's briefing
        pending = s.execute(select(func.count()).select_from(Approval).where(Approval.status == "pending")).scalar()
        assert pending == 1
        assert [a.approval_id for a in mine.approvals] == [approval_id]
        assert theirs.approvals == []

        # nothing from the other team anywhere in the briefing
        owners: dict[int, int] = dict(s.execute(select(Deal.id, Deal.owner_id)).all())  # type: ignore[arg-type]
        for deal_id in [c.deal_id for c in mine.changes] + [d.deal_id for d in mine.stalled + mine.declining]:
            assert owners[deal_id] in team
        for deal_id in [c.deal_id for c in theirs.changes] + [d.deal_id for d in theirs.stalled + theirs.declining]:
            assert owners[deal_id] in other

        # the forecast is analytics.forecast's, for the manager's own view
        from analytics.forecast import forecast_period

        direct = forecast_period(s, load_actor(s, DEMO_MANAGER_EMAIL), "this month", today=ANCHOR)
    [forecast] = mine.forecasts
    assert forecast.period == direct.period and forecast.currency == direct.currency == "USD"
    assert (forecast.expected, forecast.p10, forecast.p90, forecast.commit) == (
        direct.total.expected,
        direct.total.p10,
        direct.total.p90,
        direct.total.commit,
    )
    assert forecast.p10 <= forecast.expected <= forecast.p90
    if not pm4py_before:
        assert "pm4py" not in sys.modules


def test_a_mixed_currency_team_gets_amounts_and_forecasts_per_currency(sqlite_engine: Engine) -> None:
    """Amounts are never added across currencies: per-currency pipeline lines, totals and one forecast each."""
    _seed(sqlite_engine)
    team = _team_ids(sqlite_engine, DEMO_MANAGER_EMAIL)
    with session_scope(sqlite_engine) as s:
        open_deals = (
            s.execute(
                select(Deal)
                .where(Deal.owner_id.in_(team), Deal.stage.in_(DEFAULT_MACHINE.open_stages))  # type: ignore[attr-defined]
                .order_by(Deal.id)
            )
            .scalars()
            .all()
        )
        for deal in open_deals[::3]:
            deal.currency = "EUR"  # a third of the team's open book in euros
        euros = sum((d.amount or Decimal(0) for d in open_deals[::3]), Decimal(0))
        dollars = sum((d.amount or Decimal(0) for d in open_deals if d.currency == "USD"), Decimal(0))
    with session_scope(sqlite_engine, read_only=True) as s:
        maria = user_by_email(s, DEMO_MANAGER_EMAIL)
        assert maria is not None
        briefing = compose_briefing(s, maria, ANCHOR, simulations=300)
    assert briefing.open_amounts == {"EUR": euros.quantize(Decimal("0.01")), "USD": dollars.quantize(Decimal("0.01"))}
    assert {line.currency for line in briefing.pipeline} == {"EUR", "USD"}
    assert [f.currency for f in briefing.forecasts] == ["EUR", "USD"]
    headline = briefing.facts()[0]
    assert "€" in headline and "$" in headline and " + " in headline
    assert attach_chart(briefing).chart_png  # the chart shows one currency and says so


def _settings(engine: Engine, home: Path, slack: SlackAPIServer | None) -> Settings:
    return Settings(
        home=home,
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=TOKEN if slack else None,  # type: ignore[arg-type]
        slack_api_url=slack.base_url if slack else None,
    )


def _config() -> BriefingsConfig:
    return BriefingsConfig(teams={DEMO_MANAGER_EMAIL: TeamEntry(channel="CAMERICAS")})


def _manager(engine: Engine, email: str = DEMO_MANAGER_EMAIL) -> User:
    with session_scope(engine, read_only=True) as s:
        user = user_by_email(s, email)
    assert user is not None
    return user


def _receipts(engine: Engine, action: str) -> list[AuditEvent]:
    with session_scope(engine, read_only=True) as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_slack_delivery_posts_once_with_the_chart_in_the_thread(sqlite_engine: Engine, tmp_path: Path) -> None:
    _seed(sqlite_engine)
    with SlackAPIServer(token=TOKEN, scopes=BOT_SCOPES) as slack:
        settings = _settings(sqlite_engine, tmp_path, slack)
        maria = _manager(sqlite_engine)
        first = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, maria, ANCHOR, now=NOW)
        assert first.status == "posted" and first.channel == "CAMERICAS" and first.chart_uploaded
        [post] = slack.calls("chat.postMessage")
        assert post.params["channel"] == "CAMERICAS"
        assert post.params["text"].startswith("Daily briefing: Americas (Maria Chen), 2026-11-23")
        assert post.params["blocks"][0]["type"] == "header"
        assert any("Open pipeline by stage" in b.get("text", {}).get("text", "") for b in post.params["blocks"])
        [upload] = slack.state.uploads.values()
        assert upload.completed and upload.thread_ts == first.ts and upload.channel == "CAMERICAS"
        assert upload.content.startswith(b"\x89PNG")
        [receipt] = _receipts(sqlite_engine, "briefing_posted")
        assert receipt.id == first.receipt_id and receipt.after is not None
        assert (receipt.after["channel"], receipt.after["ts"], receipt.after["date"]) == (
            "CAMERICAS",
            first.ts,
            "2026-11-23",
        )

        again = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, maria, ANCHOR, now=NOW)
        assert again.status == "skipped" and "--force" in again.detail
        assert len(slack.calls("chat.postMessage")) == 1 and len(slack.state.uploads) == 1

        forced = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, maria, ANCHOR, force=True, now=NOW)
        assert forced.status == "posted" and forced.ts != first.ts
        assert len(slack.calls("chat.postMessage")) == 2 and len(_receipts(sqlite_engine, "briefing_posted")) == 2
        [row] = delivery_rows(sqlite_engine, ANCHOR)
        assert (row.status, row.deliveries, row.message_ts) == ("delivered", 2, forced.ts)

        # Henrik's team has no channel mapped: with Slack configured it still gets its briefing, as files
        henrik = _manager(sqlite_engine, DEMO_OTHER_MANAGER_EMAIL)
        files = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, henrik, ANCHOR, now=NOW)
        assert files.status == "written" and "no Slack channel" in files.detail
        assert len(slack.calls("chat.postMessage")) == 2


def test_without_slack_the_briefing_is_written_to_files(sqlite_engine: Engine, tmp_path: Path) -> None:
    _seed(sqlite_engine)
    settings = _settings(sqlite_engine, tmp_path, None)
    result = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, _manager(sqlite_engine), ANCHOR, now=NOW)
    md = tmp_path / "briefings" / "2026-11-23" / "americas.md"
    png = md.with_suffix(".png")
    assert (result.status, result.path, result.chart_path) == ("written", md, png)
    text = md.read_text()
    assert text.startswith("# Daily briefing: Americas (Maria Chen), 2026-11-23")
    assert "## Stalled deals" in text and "![pipeline and forecast](americas.png)" in text
    assert png.read_bytes().startswith(b"\x89PNG")
    [receipt] = _receipts(sqlite_engine, "briefing_written")
    assert receipt.after is not None and receipt.after["path"] == str(md)
    again = deliver_briefing(sqlite_engine, settings, _config(), SYSTEM, _manager(sqlite_engine), ANCHOR, now=NOW)
    assert again.status == "skipped"


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_scheduler_jobs_survive_a_restart_and_a_due_briefing_runs_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    _seed(sqlite_engine)
    with SlackAPIServer(token=TOKEN, scopes=BOT_SCOPES) as slack:
        settings = _settings(sqlite_engine, tmp_path, slack)
        config = _config()
        sched.configure_runtime(Services(settings=settings, engine=sqlite_engine), config)
        specs = sched.job_specs(sched.team_emails(sqlite_engine, config), config)
        job_id = f"{sched.BRIEFING_PREFIX}{DEMO_MANAGER_EMAIL}"
        assert {s.id for s in specs} == {
            job_id,
            f"{sched.BRIEFING_PREFIX}{DEMO_OTHER_MANAGER_EMAIL}",
            sched.EXPIRE_JOB,
            sched.SYNC_JOB,
            sched.AUTOMATION_JOB,
            sched.SNAPSHOT_JOB,
            sched.RECALIBRATE_JOB,
        }

        first = sched.make_scheduler(sqlite_engine, config, BackgroundScheduler)
        assert sched.install_jobs(first, specs).added == [s.id for s in specs]
        first.start(paused=True)
        before = sched.stored_next_runs(sqlite_engine)
        first.shutdown()
        assert set(before) == {s.id for s in specs} and all(before.values())

        # a restart keeps every unchanged job as stored, with the same next run time
        second = sched.make_scheduler(sqlite_engine, config, BackgroundScheduler)
        report = sched.install_jobs(second, sched.job_specs(sched.team_emails(sqlite_engine, config), config))
        assert sorted(report.kept) == sorted(before) and report.added == report.removed == []
        second.start(paused=True)
        assert sched.stored_next_runs(sqlite_engine) == before
        second.shutdown()
        # the scheduler was down when Maria's briefing fell due five minutes ago (set in the stored job itself)
        due = datetime.now(UTC) - timedelta(minutes=5)
        store = SQLAlchemyJobStore(engine=sqlite_engine, tablename=sched.JOB_TABLE)
        store.start(BackgroundScheduler(timezone="UTC"), sched.JOBSTORE)
        job = store.lookup_job(job_id)
        job.next_run_time = due
        store.update_job(job)
        assert sched.stored_next_runs(sqlite_engine)[job_id] == due

        # the real BlockingScheduler `briefings serve` runs: the overdue briefing goes out once
        third = sched.make_scheduler(sqlite_engine, config)
        assert job_id in sched.install_jobs(third, specs).kept
        runner = threading.Thread(target=third.start, name="blocking-scheduler")
        runner.start()
        try:
            _wait_for(lambda: any(r.status == "delivered" for r in delivery_rows(sqlite_engine)), "the briefing")
            _wait_for(
                lambda: (sched.stored_next_runs(sqlite_engine).get(job_id) or due) > datetime.now(UTC),
                "the job's next run to move to tomorrow",
            )
        finally:
            third.shutdown(wait=True)
            runner.join(timeout=30)
        assert not runner.is_alive()
        posts = slack.calls("chat.postMessage")
        assert [p.params["channel"] for p in posts] == ["CAMERICAS"]
        assert len(_receipts(sqlite_engine, "briefing_posted")) == 1
        # running the job again the same day sends nothing more
        assert "skipped" in sched.run_team_briefing(DEMO_MANAGER_EMAIL)
        assert len(slack.calls("chat.postMessage")) == 1


def test_housekeeping_jobs_expire_approvals_and_skip_an_unset_memory_index(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    _seed(sqlite_engine)
    approval_id = _pending_approval_for_a_rep_of(sqlite_engine, DEMO_MANAGER_EMAIL)
    with session_scope(sqlite_engine) as s:
        approval = s.get(Approval, approval_id)
        assert approval is not None
        approval.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.add(approval)
    sched.configure_runtime(
        Services(settings=_settings(sqlite_engine, tmp_path, None), engine=sqlite_engine), BriefingsConfig()
    )
    assert sched.expire_overdue_approvals() == [approval_id]
    assert len(_receipts(sqlite_engine, "expire_approval")) == 1
    assert sched.memory_index_location() is None
    assert sched.sync_memory_index() == "skipped"


@pytest.fixture(autouse=True)
def _reset_runtime() -> Any:
    yield
    sched._runtime = None
