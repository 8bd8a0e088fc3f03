"""Deliver automation's notifications (a stalled deal to its owner, an escalation to the manager, a rule's
notify) to each person's Slack DM, exactly once, from the scheduler process.

A notification is **claimed** before anything is posted: one conditional ``UPDATE`` moves it from ``pending`` to
``sending`` (and counts the attempt), so two scheduler processes never both post it. Then the person's Slack id
(``users.slack_user_id``, else Slack's ``users.lookupByEmail``), ``conversations.open`` and ``chat.postMessage``
with message metadata naming the notification; the outcome (``delivered`` with the channel and ts, and a
``deliver_notification`` receipt) is recorded in one transaction after it.

- Slack refused (an ``ok: false`` answer, or the connection was refused): nothing was posted, so it goes back to
  ``pending`` with the next attempt after a growing wait (``BACKOFF``); after ``MAX_ATTEMPTS`` it is ``failed``
  with a receipt naming the error.
- A crash (or a timeout) after the claim leaves ``sending``: once the claim is older than ``STALE_CLAIM`` the DM's
  recent history is read for a message carrying this notification's metadata. Found: it is marked delivered, not
  sent again. Not found: it was never posted, and it is sent. When the history cannot be read (the app lacks the
  ``im:history`` scope), it is marked ``unknown`` and not sent again: never twice, said plainly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import update
from sqlmodel import col, select

from sales.permissions import SYSTEM
from sales.receipts import write_receipt
from store.db import session_scope
from store.models import Notification, User
from store.types import utcnow

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, FAILED, UNKNOWN = "pending", "sending", "delivered", "failed", "unknown"
MAX_ATTEMPTS: Final = 5
BACKOFF: Final = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
STALE_CLAIM: Final = timedelta(minutes=10)
METADATA_TYPE: Final = "salesgraph_notification"
HISTORY_LIMIT: Final = 200


class NotSent(Exception):
    """Slack said no before anything was posted: safe to try again later."""


@dataclass
class NotifyReport:
    delivered: list[tuple[int, str, str, int]] = field(default_factory=list)
    """(notification id, channel, ts, receipt id)."""
    retrying: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    found_posted: list[int] = field(default_factory=list)
    """Claimed by a process that died after posting: found in the DM and marked delivered, not sent again."""

    def describe(self) -> str:
        text = f"{len(self.delivered)} notifications delivered to Slack"
        if self.found_posted:
            text += f" ({len(self.found_posted)} found already posted after an interrupted run, not sent again)"
        if self.retrying:
            text += f", {len(self.retrying)} to retry later ({self.retrying[0][1]})"
        if self.failed:
            text += f", {len(self.failed)} failed for good ({self.failed[0][1]})"
        if self.unknown:
            text += f", {len(self.unknown)} of unknown outcome (not sent again)"
        return text


def message_text(note: Notification) -> str:
    record = f" ({note.record_type} #{note.record_id})" if note.record_type and note.record_id else ""
    return f"{note.text}{record}\n_salesgraph notification #{note.id}_"


def _claim(engine: Engine, note_id: int, now: datetime, *, retake: bool = False) -> bool:
    """Move one notification to ``sending``; False when another process has it (or it is done)."""
    with session_scope(engine) as s:
        stmt = update(Notification).where(col(Notification.id) == note_id)
        if retake:
            stmt = stmt.where(col(Notification.status) == SENDING, col(Notification.claimed_at) < now - STALE_CLAIM)
        else:
            stmt = stmt.where(col(Notification.status) == PENDING)
        result = s.execute(
            stmt.values(status=SENDING, claimed_at=now, attempts=col(Notification.attempts) + 1).execution_options(
                synchronize_session=False
            )
        )
        return getattr(result, "rowcount", 0) == 1


def _refused(exc: BaseException) -> bool:
    """The connection was refused (urllib wraps it in URLError): the request never reached Slack."""
    return isinstance(exc, ConnectionRefusedError) or isinstance(getattr(exc, "reason", None), ConnectionRefusedError)


def _slack_id(client: WebClient, user: User) -> str:
    from slack_sdk.errors import SlackApiError

    if user.slack_user_id:
        return user.slack_user_id
    try:
        return str(client.users_lookupByEmail(email=user.email)["user"]["id"])
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown"
        raise NotSent(
            f"no Slack account found for {user.email} ({error}); set their Slack user id "
            f"(salesgraph users add ... --slack-id U...) or give the app the users:read.email scope"
        ) from None


def _dm(client: WebClient, slack_id: str) -> str:
    return str(client.conversations_open(users=slack_id)["channel"]["id"])


def _find_posted(client: WebClient, channel: str, note: Notification) -> str | None:
    """The ts of this notification's message in the DM, if a process posted it before dying; raises SlackApiError
    when the history cannot be read."""
    # The newest messages of the bot's DM with this person: a post from the interrupted run is among them.
    answer = client.conversations_history(channel=channel, include_all_metadata=True, limit=HISTORY_LIMIT)
    for message in answer.get("messages") or []:
        meta = message.get("metadata") or {}
        if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("id") == note.id:
            return str(message.get("ts"))
    return None


def _delivered(engine: Engine, note_id: int, channel: str, ts: str, *, found: bool) -> int:
    with session_scope(engine) as s:
        note = s.get(Notification, note_id)
        assert note is not None
        note.status, note.delivered_at, note.slack_channel, note.slack_ts, note.error = (
            DELIVERED, utcnow(), channel, ts, None)  # fmt: skip
        s.add(note)
        s.flush()
        return write_receipt(s, SYSTEM, "deliver_notification", "notification", note_id,
                             after={"user_id": note.user_id, "kind": note.kind, "channel": channel, "ts": ts,
                                    "attempts": note.attempts, "found_already_posted": found})  # fmt: skip


def _not_sent(engine: Engine, note_id: int, error: str, now: datetime, report: NotifyReport) -> None:
    with session_scope(engine) as s:
        note = s.get(Notification, note_id)
        assert note is not None
        note.error = error[:500]
        if note.attempts >= MAX_ATTEMPTS:
            note.status = FAILED
            write_receipt(s, SYSTEM, "notification_failed", "notification", note_id,
                          after={"user_id": note.user_id, "attempts": note.attempts, "error": note.error})  # fmt: skip
            report.failed.append((note_id, note.error))
        else:
            note.status = PENDING
            note.next_attempt_at = now + BACKOFF[min(note.attempts, len(BACKOFF)) - 1]
            report.retrying.append((note_id, note.error))
        s.add(note)


def _unknown(engine: Engine, note_id: int, error: str, report: NotifyReport) -> None:
    with session_scope(engine) as s:
        note = s.get(Notification, note_id)
        assert note is not None
        note.status, note.error = UNKNOWN, error[:500]
        s.add(note)
        s.flush()
        write_receipt(s, SYSTEM, "notification_unknown", "notification", note_id,
                      after={"user_id": note.user_id, "attempts": note.attempts, "error": note.error})  # fmt: skip
    report.unknown.append(note_id)


def _send(
    engine: Engine, client: WebClient, note_id: int, now: datetime, report: NotifyReport, *, retaken: bool
) -> None:
    from slack_sdk.errors import SlackApiError

    with session_scope(engine, read_only=True) as s:
        note = s.get(Notification, note_id)
        user = s.get(User, note.user_id) if note is not None else None
    assert note is not None
    try:
        if user is None or not user.active:
            raise NotSent(f"user #{note.user_id} is deactivated or gone")
        channel = _dm(client, _slack_id(client, user))
    except NotSent as exc:
        _not_sent(engine, note_id, str(exc), now, report)
        return
    except SlackApiError as exc:
        _not_sent(engine, note_id, f"Slack refused conversations.open: {exc.response.get('error')}", now, report)
        return
    except OSError as exc:
        _not_sent(engine, note_id, f"Slack could not be reached: {exc}", now, report)
        return
    if retaken:
        try:
            ts = _find_posted(client, channel, note)
        except (SlackApiError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
            _unknown(engine, note_id, f"an earlier delivery was interrupted and the DM history could not be read "
                     f"({error}; the app needs the im:history scope to check); not sent again", report)  # fmt: skip
            return
        if ts is not None:
            _delivered(engine, note_id, channel, ts, found=True)
            report.found_posted.append(note_id)
            return
    try:
        answer = client.chat_postMessage(
            channel=channel,
            text=message_text(note),
            metadata={"event_type": METADATA_TYPE, "event_payload": {"id": note_id, "kind": note.kind}},
        )
    except SlackApiError as exc:  # Slack answered ok: false: nothing was posted
        _not_sent(engine, note_id, f"Slack refused chat.postMessage: {exc.response.get('error')}", now, report)
        return
    except OSError as exc:
        if _refused(exc):  # the connection was never made: nothing was posted
            _not_sent(engine, note_id, f"Slack could not be reached: {exc}", now, report)
            return
        # Sent, but no answer: the next run looks for it in the DM before sending again
        log.warning("notification #%d: no answer from Slack (%s); will check the DM before any resend", note_id, exc)
        return
    receipt = _delivered(engine, note_id, str(answer["channel"]), str(answer["ts"]), found=False)
    report.delivered.append((note_id, str(answer["channel"]), str(answer["ts"]), receipt))


def deliver_pending(
    engine: Engine, client: WebClient, *, now: datetime | None = None, limit: int = 200
) -> NotifyReport:
    """Deliver every notification due now (pending and past its next attempt), and settle interrupted ones."""
    now = now or utcnow()
    report = NotifyReport()
    with session_scope(engine, read_only=True) as s:
        due = s.exec(
            select(Notification.id)
            .where(
                Notification.status == PENDING,
                (col(Notification.next_attempt_at).is_(None)) | (col(Notification.next_attempt_at) <= now),
            )
            .order_by(col(Notification.id))
            .limit(limit)
        ).all()
        stale = s.exec(
            select(Notification.id).where(
                Notification.status == SENDING, col(Notification.claimed_at) < now - STALE_CLAIM
            )
        ).all()
    for note_id in stale:
        assert note_id is not None
        if _claim(engine, note_id, now, retake=True):
            _send(engine, client, note_id, now, report, retaken=True)
    for note_id in due:
        assert note_id is not None
        if _claim(engine, note_id, now):
            _send(engine, client, note_id, now, report, retaken=False)
    return report


def list_notifications(
    session: Any, actor: Any, *, status: str | None = None, limit: int = 50
) -> list[tuple[Notification, User]]:
    """Notifications newest first, with whom they are for: a rep's own, a manager's team's, an admin's all."""
    stmt = (
        select(Notification, User)
        .join(User, col(User.id) == col(Notification.user_id))
        .order_by(col(Notification.id).desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    visible = actor.owner_filter(Notification.user_id)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.exec(stmt).all())


def deliver_from_settings(engine: Engine, settings: Any, *, now: datetime | None = None) -> NotifyReport | None:
    """``deliver_pending`` with the configured Slack app; None when Slack is not configured."""
    from bots.slack_web import slack_configured, web_client

    if not slack_configured(settings):
        return None
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    client = web_client(settings)
    # A post whose connection broke may have reached Slack: no blind retry of it (this module checks the DM
    # first); a 429 was not processed, so that retry is safe.
    client.retry_handlers = [h for h in client.retry_handlers if isinstance(h, RateLimitErrorRetryHandler)]
    return deliver_pending(engine, client, now=now)


__all__ = ["NotifyReport", "deliver_from_settings", "deliver_pending", "list_notifications", "message_text"]
