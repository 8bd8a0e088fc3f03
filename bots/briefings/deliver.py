"""Deliver a team's briefing once per day: to its Slack channel (message, then the chart in its thread) or,
without Slack, to ``$SALESGRAPH_HOME/briefings/<date>/<team>.md`` and ``.png``.

Idempotent per (team, day) through ``briefing_deliveries``: a process claims the row before it sends, so a
second run the same day, a scheduler that restarts, or two processes at once send nothing more; ``force``
sends again. A claim left by a process that died mid-send is retaken after ``STALE_CLAIM``. Every delivery
(and every failure) writes an audit receipt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bots.briefings.compose import Briefing, attach_chart, compose_briefing
from bots.briefings.config import BriefingsConfig, TeamSchedule
from bots.briefings.render import fallback_text, to_blocks, to_markdown
from bots.slack_web import slack_configured
from sales.errors import SalesError
from sales.permissions import Actor
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import BriefingDelivery, User
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.settings import Settings

log = logging.getLogger(__name__)

SENDING, DELIVERED, FAILED = "sending", "delivered", "failed"
STALE_CLAIM = timedelta(minutes=15)


class BriefingDeliveryFailed(SalesError):
    """Slack refused the briefing (or the file could not be written); the message says what to fix."""


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["posted", "written", "skipped"]
    manager_email: str
    day: date
    team_slug: str
    channel: str | None = None
    ts: str | None = None
    path: Path | None = None
    chart_path: Path | None = None
    chart_uploaded: bool = False
    receipt_id: int | None = None
    detail: str = ""

    def describe(self) -> str:
        who = f"{self.team_slug} ({self.manager_email}), {self.day.isoformat()}"
        if self.status == "posted":
            chart = "chart in the thread" if self.chart_uploaded else f"chart NOT uploaded: {self.detail}"
            return f"{who}: posted to Slack channel {self.channel} (ts {self.ts}), {chart}; receipt #{self.receipt_id}"
        if self.status == "written":
            extra = f" ({self.detail})" if self.detail else ""
            return f"{who}: written to {self.path} and {self.chart_path}{extra}; receipt #{self.receipt_id}"
        return f"{who}: skipped, {self.detail}"


def _claim(engine: Engine, manager_id: int, day: date, force: bool) -> tuple[int | None, str]:
    """Take the (team, day) delivery row; returns its id, or None and why not."""
    now = utcnow()
    try:
        with session_scope(engine) as s:
            row = s.exec(
                select(BriefingDelivery)
                .where(BriefingDelivery.manager_id == manager_id, BriefingDelivery.briefing_date == day)
                .with_for_update()
            ).first()
            if row is None:
                row = BriefingDelivery(manager_id=manager_id, briefing_date=day, status=SENDING, claimed_at=now)
            elif row.status == DELIVERED and not force:
                where = f"Slack {row.channel} ts {row.message_ts}" if row.target == "slack" else row.path
                return None, (
                    f"already delivered at {row.delivered_at:%Y-%m-%d %H:%M} UTC to {where} "
                    f"(receipt #{row.receipt_id}); use --force to send it again"
                )
            elif row.status == SENDING and row.claimed_at > now - STALE_CLAIM and not force:
                return None, f"another process started delivering it at {row.claimed_at:%H:%M:%S} UTC"
            else:
                row.status, row.claimed_at, row.error = SENDING, now, None
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id, ""
    except IntegrityError:
        return None, "another process claimed it at the same moment"


def _finish(
    engine: Engine, delivery_id: int, actor: Actor, result: DeliveryResult, briefing: Briefing
) -> DeliveryResult:
    with session_scope(engine) as s:
        row = s.get(BriefingDelivery, delivery_id)
        assert row is not None
        row.status = DELIVERED
        row.target = "slack" if result.status == "posted" else "file"
        row.channel, row.message_ts = result.channel, result.ts
        row.path = str(result.path) if result.path else None
        row.deliveries += 1
        row.delivered_at = utcnow()
        row.error = result.detail[:1000] or None
        receipt = write_receipt(
            s,
            actor,
            "briefing_posted" if result.status == "posted" else "briefing_written",
            "briefing_delivery",
            delivery_id,
            after={
                "manager": briefing.manager_email,
                "team": briefing.team_slug,
                "date": briefing.day,
                "channel": result.channel,
                "ts": result.ts,
                "path": str(result.path) if result.path else None,
                "chart_uploaded": result.chart_uploaded,
                "delivery": row.deliveries,
                "facts": briefing.facts(),
            },
        )
        row.receipt_id = receipt
        s.add(row)
    return DeliveryResult(**{**result.__dict__, "receipt_id": receipt})


def _failed(engine: Engine, delivery_id: int, actor: Actor, error: str, manager_email: str, day: date) -> None:
    with session_scope(engine) as s:
        row = s.get(BriefingDelivery, delivery_id)
        assert row is not None
        row.status, row.error = FAILED, error[:1000]
        row.receipt_id = write_receipt(
            s,
            actor,
            "briefing_failed",
            "briefing_delivery",
            delivery_id,
            after={"manager": manager_email, "date": day, "error": error[:1000]},
        )
        s.add(row)


def write_files(briefing: Briefing, home: Path) -> tuple[Path, Path]:
    folder = home / "briefings" / briefing.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    md, png = folder / f"{briefing.team_slug}.md", folder / f"{briefing.team_slug}.png"
    png.write_bytes(briefing.chart_png or b"")
    md.write_text(to_markdown(briefing, chart_name=png.name), encoding="utf-8")
    return md, png


def post_to_slack(settings: Settings, briefing: Briefing, channel: str) -> tuple[str, bool, str]:
    """Post the message, then the chart in its thread; returns (ts, chart uploaded, why not)."""
    from slack_sdk.errors import SlackApiError

    from bots.slack_web import web_client

    client = web_client(settings)
    try:
        posted = client.chat_postMessage(channel=channel, text=fallback_text(briefing), blocks=to_blocks(briefing))
    except SlackApiError as exc:
        error = exc.response.get("error", str(exc))
        hint = {
            "channel_not_found": "check the channel id in the briefings config",
            "not_in_channel": "invite the salesgraph app to the channel",
            "invalid_auth": "check SALESGRAPH_SLACK_BOT_TOKEN",
        }.get(error, "see https://api.slack.com/methods/chat.postMessage#errors")
        raise BriefingDeliveryFailed(f"Slack refused the briefing for {channel}: {error}; {hint}") from None
    ts = str(posted["ts"])
    try:
        client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=briefing.chart_png or b"",
            filename=f"{briefing.team_slug}-{briefing.day.isoformat()}.png",
            title=f"{briefing.team_name}: pipeline and forecast, {briefing.day.isoformat()}",
        )
    except SlackApiError as exc:
        # The message is out: record it as delivered (never post it twice) and say the chart is missing.
        error = str(exc.response.get("error", exc))
        log.warning("briefing %s %s: posted but the chart upload failed: %s", briefing.team_slug, briefing.day, error)
        return ts, False, f"chart upload failed: {error}"
    return ts, True, ""


def deliver_briefing(
    engine: Engine,
    settings: Settings,
    config: BriefingsConfig,
    actor: Actor,
    manager: User,
    day: date,
    *,
    force: bool = False,
    now: datetime | None = None,
) -> DeliveryResult:
    """Compose and deliver ``manager``'s team briefing for ``day`` once (``force``: again)."""
    assert manager.id is not None
    schedule: TeamSchedule = config.schedule_for(manager.email)
    with session_scope(engine, read_only=True) as s:
        from bots.briefings.compose import team_slug

        slug = team_slug(s, manager)
    delivery_id, why = _claim(engine, manager.id, day, force)
    if delivery_id is None:
        log.info("briefing %s %s: skipped, %s", slug, day, why)
        return DeliveryResult("skipped", manager.email, day, slug, detail=why)
    try:
        with session_scope(engine, read_only=True) as s:
            briefing = compose_briefing(s, manager, day, timezone=schedule.timezone, period=schedule.period, now=now)
        briefing = attach_chart(briefing)
        if slack_configured(settings) and schedule.channel:
            ts, uploaded, detail = post_to_slack(settings, briefing, schedule.channel)
            result = DeliveryResult(
                "posted", manager.email, day, slug, channel=schedule.channel, ts=ts, chart_uploaded=uploaded,
                detail=detail,
            )  # fmt: skip
        else:
            md, png = write_files(briefing, settings.home_dir)
            detail = ""
            if slack_configured(settings):
                detail = f"no Slack channel for {manager.email} in the briefings config"
            result = DeliveryResult("written", manager.email, day, slug, path=md, chart_path=png, detail=detail)
    except Exception as exc:
        _failed(engine, delivery_id, actor, str(exc), manager.email, day)
        log.error("briefing %s %s: failed: %s", slug, day, exc)
        raise
    done = _finish(engine, delivery_id, actor, result, briefing)
    log.info("briefing %s", done.describe())
    return done


def delivery_rows(engine: Engine, day: date | None = None) -> list[BriefingDelivery]:
    with session_scope(engine, read_only=True) as s:
        stmt = select(BriefingDelivery)
        if day is not None:
            stmt = stmt.where(BriefingDelivery.briefing_date == day)
        return list(s.exec(stmt.order_by(col(BriefingDelivery.id))).all())
