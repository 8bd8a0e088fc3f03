"""``salesgraph briefings``: preview, send and schedule each team's daily briefing; ``serve`` runs the scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bots.common import AsOption, JsonOption

if TYPE_CHECKING:
    from datetime import date

    from sqlmodel import Session

    from bots.briefings.config import BriefingsConfig
    from sales.permissions import Actor
    from store.models import User

app = typer.Typer(
    help=(
        "Daily team briefings: for each manager's team, the open pipeline by stage, yesterday's stage changes "
        "(won with amounts, lost with reasons), stalled deals, tasks due and overdue per rep, approvals waiting, "
        "the month's forecast with its 80% interval, and deals whose tone is souring; with a chart.\n\n"
        "With SALESGRAPH_SLACK_BOT_TOKEN set and a channel mapped in $SALESGRAPH_HOME/briefings.yaml, a briefing "
        "is posted to the team's channel (the chart in the thread); otherwise it is written to "
        "$SALESGRAPH_HOME/briefings/DATE/TEAM.md and .png. Each team gets one briefing a day: sending again the "
        "same day does nothing unless --force.\n\n"
        'briefings.yaml (all optional): `defaults: {time: "08:00", timezone: UTC, period: month}`, '
        '`misfire_grace_minutes: 60`, `teams: {maria@example.com: {channel: C0123, time: "07:30", '
        "timezone: America/Chicago}}`."
    ),
    no_args_is_help=True,
)

ManagerOption = Annotated[
    str | None,
    typer.Option(
        "--manager",
        help="The team's manager (email). Default: your own team as a manager; every team as an admin.",
        show_default=False,
    ),
]
DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="The briefing's day: 2026-11-23, yesterday, 'last friday'. Default: today in the team's timezone.",
        show_default=False,
    ),
]


def _config() -> BriefingsConfig:
    from bots.briefings.config import config_path, load_config
    from bots.common import friendly_errors, services

    settings = services().settings
    with friendly_errors():
        return load_config(config_path(settings.home_dir, settings.briefings_config))


def _teams(s: Session, requester: Actor, manager: str | None) -> list[User]:
    from bots.briefings.compose import manager_for, managers_visible_to
    from bots.common import fail
    from store.models import Role, User

    if manager:
        return [manager_for(s, requester, manager)]
    if requester.is_admin:
        managers = managers_visible_to(s, requester)
        if not managers:
            fail("there are no active managers, so no teams to brief; add one with `salesgraph users add`")
        return managers
    if requester.role == Role.MANAGER and requester.user_id is not None:
        user = s.get(User, requester.user_id)
        assert user is not None
        return [user]
    fail(f"{requester.email} is a rep; briefings are for managers and admins (give --as a manager's email)")


def _day(value: str | None, config: BriefingsConfig, email: str) -> date:
    from datetime import datetime

    from bots.common import parse_date

    today = datetime.now(config.schedule_for(email).zone).date()
    return parse_date(value, "--date", prefer="past", today=today) or today


@app.command("preview")
def preview_cmd(
    manager: ManagerOption = None,
    date_: DateOption = None,
    chart: Annotated[
        bool, typer.Option("--chart/--no-chart", help="Also write the chart PNG to the current folder.")
    ] = False,
    json_out: JsonOption = False,
    as_: AsOption = None,
) -> None:
    """Show a team's briefing in the terminal; nothing is sent or recorded. --json gives one object per team."""
    from pathlib import Path

    from rich.markdown import Markdown

    from bots.briefings.compose import attach_chart, compose_briefing
    from bots.briefings.render import to_markdown
    from bots.common import console, err_console, resolve_actor, session
    from bots.render import emit_json, in_whole_units

    config = _config()
    out = console()
    notes = err_console() if json_out else out
    found = []
    with session(read_only=True) as s:
        requester = resolve_actor(s, as_)
        for team in _teams(s, requester, manager):
            schedule = config.schedule_for(team.email)
            with notes.status(f"composing {team.email}'s briefing (forecast simulation)..."):
                briefing = compose_briefing(
                    s, team, _day(date_, config, team.email), timezone=schedule.timezone, period=schedule.period
                )
            if json_out:
                found.append({**in_whole_units(briefing.model_dump(exclude={"chart_png"})), "title": briefing.title})
            else:
                out.print(Markdown(to_markdown(briefing)))
            if chart:
                path = Path(f"{briefing.team_slug}-{briefing.day.isoformat()}.png")
                path.write_bytes(attach_chart(briefing).chart_png or b"")
                notes.print(f"Chart written to {path}")
    if json_out:
        emit_json(found)


@app.command("send")
def send_cmd(
    manager: ManagerOption = None,
    date_: DateOption = None,
    force: Annotated[bool, typer.Option("--force", help="Send again even if it went out that day.")] = False,
    as_: AsOption = None,
) -> None:
    """Deliver briefings now: Slack when configured for the team, else files. Once per team and day."""
    from bots.briefings.deliver import deliver_briefing
    from bots.common import console, friendly_errors, resolve_actor, services, session

    config = _config()
    svc = services()
    out = console()
    with session(read_only=True) as s:
        requester = resolve_actor(s, as_)
        teams = _teams(s, requester, manager)
    failures = 0
    for team in teams:
        with friendly_errors(), out.status(f"composing and delivering {team.email}'s briefing..."):
            try:
                result = deliver_briefing(
                    svc.engine, svc.settings, config, requester, team, _day(date_, config, team.email), force=force
                )
            except Exception as exc:
                from sales.errors import SalesError

                if not isinstance(exc, SalesError) or len(teams) == 1:
                    raise
                failures += 1
                out.print(f"[red]{team.email}: failed: {exc}[/]", highlight=False)
                continue
        out.print(result.describe(), highlight=False)
    if failures:
        raise typer.Exit(1)


@app.command("schedule")
def schedule_cmd(json_out: JsonOption = False) -> None:
    """List the scheduler's jobs and their next run times (as stored by `briefings serve`, or as they would be)."""
    from datetime import UTC, datetime

    from rich.table import Table

    from bots.briefings.scheduler import job_specs, stored_next_runs, team_emails
    from bots.common import console, friendly_errors, services
    from bots.render import emit_json, print_table

    config = _config()
    svc = services()
    with friendly_errors():
        specs = job_specs(team_emails(svc.engine, config), config, svc.settings)
    stored = stored_next_runs(svc.engine)
    now = datetime.now(UTC)
    table = Table(title=f"Scheduled jobs (config: {config.source or 'defaults, no briefings.yaml'})")
    for column in ("job", "what", "when", "next run (UTC)", ""):
        table.add_column(column, overflow="fold")
    jobs = []
    for spec in specs:
        if spec.id in stored:
            next_run, note = stored[spec.id], "stored"
        else:
            next_run, note = spec.trigger.get_next_fire_time(None, now), "not served yet"
        jobs.append(
            {"id": spec.id, "name": spec.name, "when": spec.describe, "stored": spec.id in stored,
             "next_run": next_run.astimezone(UTC) if next_run else None}
        )  # fmt: skip
        table.add_row(
            spec.id,
            spec.name,
            spec.describe,
            next_run.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if next_run else "paused",
            note,
        )
    if json_out:
        emit_json({"config": str(config.source) if config.source else None, "jobs": jobs})
        return
    print_table(table)
    console().print(
        f"A run missed while `briefings serve` was down still happens once if it restarts within "
        f"{config.misfire_grace_minutes} minutes."
    )


@app.command("serve")
def serve_cmd(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    """Run the scheduler in the foreground (Ctrl-C or SIGTERM stops it after running jobs finish).

    Jobs: each team's briefing daily at its time and timezone; expiring overdue approvals every 15 minutes;
    syncing the memory index every 10 minutes (skipped until the index is set up). Jobs and their next run times
    are kept in the store's database, so a restart within the misfire grace still sends a due briefing, once.
    """
    import logging

    from bots.briefings.scheduler import serve
    from bots.common import friendly_errors, services

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks at start-up are not news
    config = _config()
    with friendly_errors():
        serve(services(), config)
