"""Automation's notifications reach people by Slack DM exactly once (issue 14), through the real slack_sdk client
talking HTTP to our loopback Slack Web API server (tests/slack_api.py), on SQLite and PostgreSQL:

- a stalled deal's owner and, later, the manager each get one DM, however often the job runs, with receipts;
- Slack refusing a post is retried with a growing wait and gives up after MAX_ATTEMPTS, with a receipt;
- a process that dies after claiming (before or after posting) never makes a second post;
- the scheduler runs the delivery (and the IMAP poll) as jobs when Slack (and IMAP) are configured.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

import bots.notify as notify
from app.services import Services
from app.settings import Settings
from bots.briefings import scheduler as sched
from bots.briefings.config import BriefingsConfig
from bots.notify import MAX_ATTEMPTS, STALE_CLAIM, deliver_pending, list_notifications
from sales.automation import notify as write_notification
from sales.deals import DealInput, create_deal
from sales.escalation import run_escalations
from store.db import session_scope
from store.models import AuditEvent, Deal, Notification, User
from store.types import utcnow
from tests.slack_api import SlackAPIServer
from tests.unit.test_agent_support import Team, seed_team

TOKEN = "xoxb-notify-test"
RITA, MIA = "URITA", "UMIA"


def _client(slack: SlackAPIServer) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.base_url)


def _stalled_deal(engine: Engine, team: Team, *, days: int = 40) -> int:
    with session_scope(engine) as s:
        deal = create_deal(s, team.rep, DealInput(name="Acme renewal", amount=12000)).deal
        assert deal.id is not None
        deal_id = deal.id
    with session_scope(engine) as s:  # the deal has sat in its first stage for 40 days (the limit is 21)
        stored = s.get(Deal, deal_id)
        assert stored is not None
        stored.stage_entered_at = utcnow() - timedelta(days=days)
        s.add(stored)
    return deal_id


def _note(engine: Engine, team: Team, text_: str = "Deal #1 has stalled") -> int:
    with session_scope(engine) as s:
        rita = s.get(User, team.rep.user_id)
        assert rita is not None
        note = write_notification(s, rita, "deal_stalled", text_, record_type="deal", record_id=1, event_id=None)
        assert note.id is not None
        return note.id


def _posts(slack: SlackAPIServer) -> list[Any]:
    return [c for c in slack.calls("chat.postMessage") if c.response and c.response.get("ok")]


def _link_rita(engine: Engine, team: Team) -> None:
    with session_scope(engine) as s:  # Rita's Slack id is linked; Mia's is found by Slack's email look-up
        rita = s.get(User, team.rep.user_id)
        assert rita is not None
        rita.slack_user_id = RITA
        s.add(rita)


def test_owner_and_manager_each_get_one_dm_however_often_it_runs(engine: Engine) -> None:
    team = seed_team(engine)
    _link_rita(engine, team)
    deal_id = _stalled_deal(engine, team)
    with SlackAPIServer(token=TOKEN, users={RITA: "rita@example.com", MIA: "mia@example.com"}) as slack:
        client = _client(slack)
        run_escalations(engine)
        for _ in range(5):
            deliver_pending(engine, client)
        assert [c.params["channel"] for c in _posts(slack)] == [f"D{RITA}"]
        assert f"Deal #{deal_id} (Acme renewal) has stalled" in _posts(slack)[0].params["text"]

        with session_scope(engine) as s:  # four days later the deal is still stalled: the manager is told
            s.execute(text("UPDATE domain_events SET occurred_at = :at"), {"at": utcnow() - timedelta(days=4)})
        for _ in range(3):
            run_escalations(engine)
            deliver_pending(engine, client)
        assert [c.params["channel"] for c in _posts(slack)] == [f"D{RITA}", f"D{MIA}"]
        assert len(slack.calls("users.lookupByEmail")) == 1  # only Mia needed the look-up

    with session_scope(engine, read_only=True) as s:
        notes = s.exec(select(Notification).order_by(Notification.id)).all()  # type: ignore[arg-type]
        assert [(n.kind, n.status, n.slack_channel) for n in notes] == [
            ("deal_stalled", "delivered", f"D{RITA}"),
            ("deal_escalated", "delivered", f"D{MIA}"),
        ]
        for note in notes:
            created = s.get(AuditEvent, note.receipt_id)
            assert created is not None and created.action == "notify_user"
            delivered = s.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "deliver_notification", AuditEvent.record_id == str(note.id)
                )
            ).all()
            assert len(delivered) == 1 and delivered[0].after is not None and delivered[0].after["ts"] == note.slack_ts
        # `salesgraph rules notifications`: Rita sees hers, Mia her team's, Otto (another team) none of them.
        seen = {who: [n.kind for n, _ in list_notifications(s, actor)] for who, actor in
                (("rep", team.rep), ("manager", team.manager), ("other", team.other_manager))}  # fmt: skip
        assert seen == {"rep": ["deal_stalled"], "manager": ["deal_escalated", "deal_stalled"], "other": []}


def test_a_refused_post_is_retried_with_backoff_and_given_up_with_a_receipt(engine: Engine) -> None:
    team = seed_team(engine)
    _link_rita(engine, team)
    first = _note(engine, team)
    with SlackAPIServer(token=TOKEN, users={RITA: "rita@example.com"}) as slack:
        client = _client(slack)
        slack.state.fail_next["chat.postMessage"] = ["internal_error"]
        now = utcnow()
        report = deliver_pending(engine, client, now=now)
        assert report.retrying == [(first, "Slack refused chat.postMessage: internal_error")]
        assert deliver_pending(engine, client, now=now + timedelta(seconds=30)).delivered == []  # not due yet
        later = deliver_pending(engine, client, now=now + timedelta(minutes=2))
        assert [d[0] for d in later.delivered] == [first] and len(_posts(slack)) == 1

        second = _note(engine, team, "Another")
        slack.state.fail_next["chat.postMessage"] = ["internal_error"] * MAX_ATTEMPTS
        at = now
        for _ in range(MAX_ATTEMPTS):
            at += timedelta(hours=3)
            deliver_pending(engine, client, now=at)
        assert deliver_pending(engine, client, now=at + timedelta(days=1)).delivered == []
        assert len(_posts(slack)) == 1
    with session_scope(engine, read_only=True) as s:
        gave_up = s.get(Notification, second)
        assert gave_up is not None and gave_up.status == "failed" and gave_up.attempts == MAX_ATTEMPTS
        receipt = s.exec(select(AuditEvent).where(AuditEvent.action == "notification_failed")).one()
        assert receipt.record_id == str(second)


@pytest.mark.parametrize("dies", ["after posting", "before posting"])
def test_a_process_that_dies_after_its_claim_never_posts_twice(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    team = seed_team(engine)
    _link_rita(engine, team)
    note_id = _note(engine, team)
    with SlackAPIServer(token=TOKEN, users={RITA: "rita@example.com"}) as slack:
        client = _client(slack)
        real = notify._delivered if dies == "after posting" else notify._dm

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise SystemExit("the scheduler process was killed here")

        monkeypatch.setattr(notify, "_delivered" if dies == "after posting" else "_dm", crash)
        now = utcnow()
        with pytest.raises(SystemExit):
            deliver_pending(engine, client, now=now)
        monkeypatch.setattr(notify, "_delivered" if dies == "after posting" else "_dm", real)
        assert len(_posts(slack)) == (1 if dies == "after posting" else 0)

        # A new process soon after leaves the claim alone; once it is stale, it settles the notification.
        assert deliver_pending(engine, client, now=now + timedelta(minutes=1)).delivered == []
        settled = deliver_pending(engine, client, now=now + STALE_CLAIM + timedelta(minutes=1))
        for _ in range(3):
            deliver_pending(engine, client, now=now + STALE_CLAIM * 3)
        assert len(_posts(slack)) == 1
        if dies == "after posting":
            assert settled.found_posted == [note_id] and settled.delivered == []
        else:
            assert [d[0] for d in settled.delivered] == [note_id]
    with session_scope(engine, read_only=True) as s:
        note = s.get(Notification, note_id)
        assert note is not None and note.status == "delivered" and note.slack_ts == _posts(slack)[0].response["ts"]


def test_without_the_history_scope_an_interrupted_delivery_is_never_resent(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = seed_team(engine)
    _link_rita(engine, team)
    note_id = _note(engine, team)
    scopes = ["chat:write", "im:write", "users:read.email"]  # no im:history
    with SlackAPIServer(token=TOKEN, users={RITA: "rita@example.com"}, scopes=scopes) as slack:
        client = _client(slack)

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise SystemExit("killed")

        monkeypatch.setattr(notify, "_delivered", crash)
        with pytest.raises(SystemExit):
            deliver_pending(engine, client)
        monkeypatch.undo()
        report = deliver_pending(engine, client, now=utcnow() + STALE_CLAIM * 2)
        assert report.unknown == [note_id] and len(_posts(slack)) == 1
        deliver_pending(engine, client, now=utcnow() + STALE_CLAIM * 4)
        assert len(_posts(slack)) == 1
    with session_scope(engine, read_only=True) as s:
        note = s.get(Notification, note_id)
        assert note is not None and note.status == "unknown" and "im:history" in (note.error or "")


def test_the_scheduler_runs_delivery_and_the_inbox_poll_when_configured(engine: Engine, tmp_path: Path) -> None:
    team = seed_team(engine)
    _link_rita(engine, team)
    _stalled_deal(engine, team)
    bare = Settings(home=tmp_path, _env_file=None)
    ids = {spec.id for spec in sched.job_specs([], BriefingsConfig(), bare)}
    assert sched.NOTIFY_JOB not in ids and sched.INBOX_JOB not in ids
    with SlackAPIServer(token=TOKEN, users={RITA: "rita@example.com"}) as slack:
        settings = Settings(
            home=tmp_path,
            _env_file=None,
            database_url=engine.url.render_as_string(hide_password=False),
            slack_bot_token=SecretStr(TOKEN),
            slack_api_url=slack.base_url,
            imap_host="127.0.0.1",
            imap_username="sales@ours.example",
            imap_password=SecretStr("x"),
        )
        ids = {spec.id for spec in sched.job_specs([], BriefingsConfig(), settings)}
        assert {sched.NOTIFY_JOB, sched.INBOX_JOB} <= ids
        sched.configure_runtime(Services(settings=settings, engine=engine), BriefingsConfig())
        sched.run_automation()
        assert sched.deliver_notifications().startswith("1 notifications delivered")
        assert sched.deliver_notifications().startswith("0 notifications delivered")
        assert [c.params["channel"] for c in _posts(slack)] == [f"D{RITA}"]
