"""The job scheduler: each team's daily briefing (cron at its local time), approval expiry every 15 minutes and
the memory index sync every 10 minutes, on APScheduler with its jobs in the store's own database.

Jobs live in the ``apscheduler_jobs`` table (SQLAlchemyJobStore), so they and their next run times survive a
restart. On start, a job whose schedule did not change is kept as stored rather than re-added: re-adding
would recompute its next run from "now" and silently drop a briefing that fell due while the scheduler was
down. Such an overdue job runs once (``coalesce``) if the restart comes within the misfire grace, and the
per-day delivery row makes a second post impossible anyway.

Job functions are referenced by name (``bots.briefings.scheduler:run_team_briefing``) with plain arguments
so they can be stored; they reach the engine and settings through ``configure_runtime``.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.services import Services
from bots.briefings.config import BriefingsConfig, config_path, load_config

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.base import BaseTrigger
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

JOBSTORE = "default"
JOB_TABLE = "apscheduler_jobs"
BRIEFING_PREFIX = "briefing:"
EXPIRE_JOB = "expire_approvals"
SYNC_JOB = "memory_sync"
EXPIRE_EVERY_MINUTES = 15
SYNC_EVERY_MINUTES = 10
AUTOMATION_JOB = "automation"
AUTOMATION_EVERY_MINUTES = 5
INBOX_JOB = "inbox_poll"  # when SALESGRAPH_IMAP_HOST is set, every SALESGRAPH_IMAP_POLL_MINUTES
NOTIFY_JOB = "slack_notifications"  # when Slack is configured
NOTIFY_EVERY_MINUTES = 1
OUR_JOBS = (BRIEFING_PREFIX, EXPIRE_JOB, SYNC_JOB, AUTOMATION_JOB, INBOX_JOB, NOTIFY_JOB)


@dataclass
class Runtime:
    services: Services
    config: BriefingsConfig


_runtime: Runtime | None = None


def configure_runtime(services: Services, config: BriefingsConfig) -> None:
    """What the job functions run against (set by ``serve`` and by tests before a scheduler starts)."""
    global _runtime
    _runtime = Runtime(services, config)


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        from app.services import build_services

        services = build_services()
        settings = services.settings
        _runtime = Runtime(services, load_config(config_path(settings.home_dir, settings.briefings_config)))
    return _runtime


# -- the jobs -----------------------------------------------------------------------------------------


def run_team_briefing(manager_email: str) -> str:
    """Deliver today's briefing (in the team's timezone) of ``manager_email``'s team, once."""
    from bots.briefings.deliver import deliver_briefing
    from sales.permissions import SYSTEM, user_by_email
    from store.db import session_scope

    rt = runtime()
    schedule = rt.config.schedule_for(manager_email)
    day = datetime.now(schedule.zone).date()
    with session_scope(rt.services.engine, read_only=True) as s:
        manager = user_by_email(s, manager_email)
    if manager is None or not manager.active:
        log.warning("briefing job for %s: no such active user any more; nothing sent", manager_email)
        return "no such manager"
    result = deliver_briefing(rt.services.engine, rt.services.settings, rt.config, SYSTEM, manager, day)
    return result.describe()


SNAPSHOT_JOB = "pipeline_snapshot"
RECALIBRATE_JOB = "recalibrate_model"
DAILY_ANALYTICS_JOBS = (SNAPSHOT_JOB, RECALIBRATE_JOB)


def take_pipeline_snapshot() -> str:
    """Today's pipeline snapshot and forecasts (``analytics.forecast_history.take_snapshot``), once per day."""
    from analytics.forecast_history import take_snapshot
    from sales.permissions import SYSTEM
    from store.db import session_scope

    rt = runtime()
    with session_scope(rt.services.engine) as s:
        receipt = take_snapshot(s, SYSTEM, cache_dir=rt.services.settings.home_dir / "forecast")
    log.info("pipeline snapshot: %s", receipt.describe())
    return receipt.describe()


def recalibrate_lead_model() -> str:
    """Rolling Platt refit of the latest lead-scoring model and its drift check; skipped with no model."""
    from analytics.scoring import load_model, recalibrate_model
    from sales.errors import InvalidInput
    from sales.permissions import SYSTEM
    from store.db import session_scope

    rt = runtime()
    if load_model(rt.services.settings) is None:
        log.info("recalibration: skipped, no lead-scoring model trained yet")
        return "skipped"
    try:
        with session_scope(rt.services.engine) as s:
            result = recalibrate_model(s, SYSTEM, settings=rt.services.settings)
    except InvalidInput as exc:
        log.info("recalibration: skipped, %s", exc)
        return "skipped"
    flag = "DRIFT: " + "; ".join(result.drift_reasons) if result.drift else "no drift"
    log.info("recalibration of %s: ECE %.3f -> %.3f, %s", result.version, result.ece_before, result.ece_after, flag)
    return f"{result.version}: ECE {result.ece_before:.3f} -> {result.ece_after:.3f}, {flag}"


def expire_overdue_approvals() -> list[int]:
    """Expire approval requests past their time (otherwise only expired when someone looks at them)."""
    from sales.approvals import expire_overdue
    from sales.permissions import SYSTEM
    from store.db import session_scope

    with session_scope(runtime().services.engine) as s:
        expired = expire_overdue(s, SYSTEM)
    log.info("expire approvals: %d expired%s", len(expired), f" ({', '.join(map(str, expired))})" if expired else "")
    return expired


def memory_index_location() -> str | None:
    """Where the memory index is, or None when it has not been set up (no server URL, no index folder)."""
    from memory.config import MemorySettings

    settings = MemorySettings.from_app(runtime().services.settings)
    if settings.chroma_url:
        return settings.chroma_url
    return str(settings.chroma_path) if settings.chroma_path.is_dir() else None


def sync_memory_index() -> str:
    """``memory.indexer.sync``; skipped with a log line while the memory index is not set up."""
    where = memory_index_location()
    if where is None:
        log.info("memory sync: skipped, the memory index is not set up (run `salesgraph memory sync` once)")
        return "skipped"
    from memory.config import MemorySettings
    from memory.index import InteractionIndex
    from memory.indexer import sync
    from sales.permissions import SYSTEM

    rt = runtime()
    index = InteractionIndex.from_settings(MemorySettings.from_app(rt.services.settings))
    report = sync(rt.services.engine, index, actor=SYSTEM)
    return f"{report.indexed} indexed, {report.removed} removed, {report.already_current} current"


def run_automation() -> str:
    """``sales.automation.tick``: time-based events, stalled-deal escalation, the rules on the outbox, sequences.

    Every step is idempotent in the store (dedupe keys, unique rule firings, unique sequence steps, claimed
    approvals), so a crash mid-tick followed by a restart repeats nothing.
    """
    from sales.automation import tick
    from sales.outbound import delivery_from_settings

    rt = runtime()
    return tick(rt.services.engine, delivery_from_settings(rt.services.settings)).describe()


def poll_inbox() -> str:
    """``connectors.imap.poll``: the replies that arrived in the IMAP mailbox, each logged once."""
    from connectors.imap import imap_from_settings, poll

    rt = runtime()
    return poll(rt.services.engine, imap_from_settings(rt.services.settings)).describe()


def deliver_notifications() -> str:
    """``bots.notify.deliver_pending``: automation's notifications to each person's Slack DM, once."""
    from bots.notify import deliver_from_settings

    rt = runtime()
    report = deliver_from_settings(rt.services.engine, rt.services.settings)
    return report.describe() if report is not None else "skipped, Slack is not configured"


# -- the schedule -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # textual reference, so the job can be stored
    trigger: BaseTrigger
    args: tuple[str, ...] = ()
    name: str = ""
    describe: str = ""
    misfire_grace_seconds: int = 3600


def team_emails(engine: Engine, config: BriefingsConfig) -> list[str]:
    """Every active manager, plus anyone the config names (an admin who leads a team), minus disabled teams."""
    from sqlmodel import col, select

    from bots.briefings.config import BriefingConfigError
    from sales.permissions import user_by_email
    from store.db import session_scope
    from store.models import Role, User

    with session_scope(engine, read_only=True) as s:
        emails = set(s.exec(select(User.email).where(User.role == Role.MANAGER, col(User.active))).all())
        for email in config.teams:
            user = user_by_email(s, email)
            if user is None or not user.active:
                raise BriefingConfigError(
                    f"{config.source or 'the briefings config'} names {email}, who is not an active user; "
                    "fix the email or remove the entry"
                )
            emails.add(user.email)
    return sorted(e for e in emails if config.schedule_for(e).enabled)


def job_specs(emails: list[str], config: BriefingsConfig, settings: Any = None) -> list[JobSpec]:
    """The jobs to run; with ``settings``, also the IMAP poll (IMAP configured) and Slack notifications (Slack
    configured)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    grace = config.misfire_grace_minutes * 60
    specs = []
    for email in emails:
        sched = config.schedule_for(email)
        at = sched.local_time
        specs.append(
            JobSpec(
                id=f"{BRIEFING_PREFIX}{email}",
                func=f"{__name__}:run_team_briefing",
                trigger=CronTrigger(hour=at.hour, minute=at.minute, timezone=sched.timezone),
                args=(email,),
                name=f"daily briefing for {email}'s team",
                describe=f"daily at {sched.time} {sched.timezone} -> "
                + (f"Slack {sched.channel}" if sched.channel else "files"),
                misfire_grace_seconds=grace,
            )
        )
    specs.append(
        JobSpec(
            id=EXPIRE_JOB,
            func=f"{__name__}:expire_overdue_approvals",
            trigger=IntervalTrigger(minutes=EXPIRE_EVERY_MINUTES, timezone="UTC"),
            name="expire overdue approval requests",
            describe=f"every {EXPIRE_EVERY_MINUTES} minutes",
            misfire_grace_seconds=grace,
        )
    )
    specs += _forecast_and_scoring_jobs(grace)
    specs.append(
        JobSpec(
            id=AUTOMATION_JOB,
            func=f"{__name__}:run_automation",
            trigger=IntervalTrigger(minutes=AUTOMATION_EVERY_MINUTES, timezone="UTC"),
            name="automation rules, stalled-deal escalation and nurture sequences",
            describe=f"every {AUTOMATION_EVERY_MINUTES} minutes",
            misfire_grace_seconds=grace,
        )
    )
    specs += _mail_and_notification_jobs(settings, grace)
    specs.append(
        JobSpec(
            id=SYNC_JOB,
            func=f"{__name__}:sync_memory_index",
            trigger=IntervalTrigger(minutes=SYNC_EVERY_MINUTES, timezone="UTC"),
            name="memory index sync",
            describe=f"every {SYNC_EVERY_MINUTES} minutes (skipped while the index is not set up)",
            misfire_grace_seconds=grace,
        )
    )
    return specs


def _mail_and_notification_jobs(settings: Any, grace: int) -> list[JobSpec]:
    from apscheduler.triggers.interval import IntervalTrigger

    from bots.slack_web import slack_configured
    from connectors.imap import imap_configured

    specs = []
    if settings is not None and imap_configured(settings):
        minutes = settings.imap_poll_minutes
        specs.append(JobSpec(id=INBOX_JOB, func=f"{__name__}:poll_inbox",
                             trigger=IntervalTrigger(minutes=minutes, timezone="UTC"),
                             name="read replies from the IMAP mailbox", describe=f"every {minutes} minutes",
                             misfire_grace_seconds=grace))  # fmt: skip
    if settings is not None and slack_configured(settings):
        specs.append(JobSpec(id=NOTIFY_JOB, func=f"{__name__}:deliver_notifications",
                             trigger=IntervalTrigger(minutes=NOTIFY_EVERY_MINUTES, timezone="UTC"),
                             name="automation notifications to Slack DMs",
                             describe=f"every {NOTIFY_EVERY_MINUTES} minute", misfire_grace_seconds=grace))  # fmt: skip
    return specs


def _schedule_key(trigger: Any) -> str:
    """What identifies a trigger's schedule (an interval trigger's start date is "now" and does not count)."""
    from apscheduler.triggers.interval import IntervalTrigger

    if isinstance(trigger, IntervalTrigger):
        return f"interval {trigger.interval_length} {trigger.timezone}"
    return repr(trigger)


def _unchanged(job: Job, spec: JobSpec) -> bool:
    return (
        job.func_ref == spec.func
        and tuple(job.args) == spec.args
        and _schedule_key(job.trigger) == _schedule_key(spec.trigger)
        and job.misfire_grace_time == spec.misfire_grace_seconds
    )


def _forecast_and_scoring_jobs(grace: int) -> list[JobSpec]:
    """The daily pipeline snapshot and the daily lead-scoring recalibration with its drift check."""
    from apscheduler.triggers.cron import CronTrigger

    return [
        JobSpec(
            id=SNAPSHOT_JOB,
            func=f"{__name__}:take_pipeline_snapshot",
            trigger=CronTrigger(hour=0, minute=30, timezone="UTC"),
            name="pipeline snapshot and forecasts",
            describe="daily at 00:30 UTC (once per day)",
            misfire_grace_seconds=grace,
        ),
        JobSpec(
            id=RECALIBRATE_JOB,
            func=f"{__name__}:recalibrate_lead_model",
            trigger=CronTrigger(hour=1, minute=0, timezone="UTC"),
            name="lead-scoring recalibration and drift check",
            describe="daily at 01:00 UTC (skipped without a trained model)",
            misfire_grace_seconds=grace,
        ),
    ]


@dataclass
class Reconciled:
    kept: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def make_scheduler(engine: Engine, config: BriefingsConfig, scheduler_class: type[BaseScheduler] | None = None) -> Any:
    """A scheduler (default BlockingScheduler) on the store's database, not started; see ``install_jobs``."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = scheduler_class or BlockingScheduler
    return cls(
        jobstores={JOBSTORE: SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={
            "coalesce": True,  # runs missed while down collapse into one
            "max_instances": 1,
            "misfire_grace_time": config.misfire_grace_minutes * 60,
        },
        timezone="UTC",
    )


def install_jobs(scheduler: Any, specs: list[JobSpec]) -> Reconciled:
    """Bring the stored jobs in line with ``specs`` before the scheduler starts, keeping unchanged ones as
    stored (with their next run time) so a run that fell due while the scheduler was down is not lost."""
    store = scheduler._jobstores[JOBSTORE]
    store.start(scheduler, JOBSTORE)  # creates the table if needed; start() calls it again, which is harmless
    stored = {job.id: job for job in store.get_all_jobs()}
    report = Reconciled()
    wanted = {spec.id for spec in specs}
    for spec in specs:
        current = stored.get(spec.id)
        if current is not None and _unchanged(current, spec):
            report.kept.append(spec.id)
            continue
        scheduler.add_job(
            spec.func,
            spec.trigger,
            args=list(spec.args),
            id=spec.id,
            name=spec.name,
            misfire_grace_time=spec.misfire_grace_seconds,
            replace_existing=True,
        )
        report.added.append(spec.id)
    for job_id in stored:
        if job_id not in wanted and job_id.startswith((*OUR_JOBS, *DAILY_ANALYTICS_JOBS)):
            store.remove_job(job_id)
            report.removed.append(job_id)
    return report


def stored_next_runs(engine: Engine) -> dict[str, datetime | None]:
    """The next run time of each job in the store (empty when no scheduler has run yet)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from sqlalchemy import inspect

    if not inspect(engine).has_table(JOB_TABLE):
        return {}
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    store.start(BackgroundScheduler(timezone="UTC"), JOBSTORE)
    return {job.id: job.next_run_time for job in store.get_all_jobs()}


def serve(services: Services, config: BriefingsConfig) -> Reconciled:
    """Run the scheduler in the foreground until SIGINT or SIGTERM; running jobs finish before it exits."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent

    configure_runtime(services, config)
    scheduler = make_scheduler(services.engine, config)
    report = install_jobs(scheduler, job_specs(team_emails(services.engine, config), config, services.settings))
    log.info(
        "scheduler: %d jobs kept as stored, %d added or changed, %d removed",
        len(report.kept),
        len(report.added),
        len(report.removed),
    )

    def on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s (past the misfire grace); skipped", event.job_id,
                        event.scheduled_run_time)  # fmt: skip
        elif event.exception is not None:
            log.error("job %s failed: %s", event.job_id, event.exception)
        else:
            log.info("job %s done: %s", event.job_id, event.retval)

    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        if stopping.is_set():
            log.info("already shutting down; waiting for running jobs")
            return
        stopping.set()
        log.info("%s received: shutting down after running jobs finish", signal.Signals(signum).name)
        # Not from inside the handler: shutdown waits for jobs, and the main loop must keep turning meanwhile.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, name="scheduler-shutdown").start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        scheduler.start()  # blocks until shutdown
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # shutdown(wait=True) runs in its own thread; join it so running jobs finish before we return.
    for thread in threading.enumerate():
        if thread.name == "scheduler-shutdown":
            thread.join()
    log.info("scheduler stopped")
    return report
