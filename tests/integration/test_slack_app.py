"""The real Bolt app behind our HTTP server, receiving signed Slack requests; the Web API is our loopback server.

Every request goes over HTTP to ``bots.slack.app.http_server`` (what ``salesgraph slack serve`` runs), signed with
Slack's v0 scheme. Listeners finish in Bolt's threads after the acknowledgement, so the tests poll the Web API
calls the app makes, then check the store.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine
from sqlmodel import select

from bots.slack.manifest import BOT_SCOPES
from store.db import session_scope
from store.models import Approval, AuditEvent, Deal, Lead, User
from tests.slack_api import SlackAPIServer, SlackCall
from tests.unit.test_agent_support import Team, seed_team, services_for

pytest.importorskip("agent.offline", reason="the Slack app tests talk to the offline model")

TOKEN = "xoxb-test-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM, CHANNEL = "T0TEST", "C0SALES"
USERS = {
    "U_RITA": "rita@example.com",  # rep, owns Dana Fox
    "U_MIA": "mia@example.com",  # Rita's manager: decides qualifications
    "U_OLGA": "olga@example.com",  # a rep in another team
    "U_NOBODY": "nobody@elsewhere.example",  # in Slack, not in salesgraph
}
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll until ``probe`` returns something truthy (the listeners run in Bolt's threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass
class Rig:
    """One workspace: the seeded store, the loopback Web API and the running Slack app(s)."""

    engine: Engine
    team: Team
    services: Any
    slack: SlackAPIServer
    url: str = ""
    servers: list[Any] = field(default_factory=list)
    _ts: int = 100

    def start_app(self) -> None:
        """Build a new app object and serve it (a second call is a restart: same store, same checkpoints)."""
        from bots.slack.app import build_slack_app, http_server

        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers.clear()
        server = http_server(build_slack_app(self.services, "offline"), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        self.url = f"http://127.0.0.1:{server.server_port}/slack/events"

    def next_ts(self) -> str:
        self._ts += 1
        return f"1700001000.{self._ts:06d}"

    def post_json(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        raw = json.dumps(body)
        signed = {"Content-Type": "application/json", **sign(raw), **(headers or {})}
        return httpx.post(self.url, content=raw, headers=signed, timeout=10)

    def post_payload(self, payload: dict[str, Any]) -> httpx.Response:
        raw = urlencode({"payload": json.dumps(payload)})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw)}
        return httpx.post(self.url, content=raw, headers=headers, timeout=10)

    def event(self, user: str, text: str, *, kind: str = "app_mention", channel: str = CHANNEL, **extra: Any) -> str:
        """Send one event; returns its ts (the thread root for the reply)."""
        ts = self.next_ts()
        event = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts, **extra}
        response = self.post_json(event_body(event, f"Ev{ts}"))
        assert response.status_code == 200, response.text
        return ts

    def replies(self, thread_ts: str, channel: str = CHANNEL) -> list[SlackCall]:
        return [
            c
            for c in self.slack.calls("chat.postMessage")
            if c.params.get("thread_ts") == thread_ts and c.params.get("channel") == channel
        ]

    def wait_reply(self, thread_ts: str, n: int = 1, channel: str = CHANNEL) -> list[SlackCall]:
        return wait_for(f"{n} replies in {thread_ts}", lambda: (r := self.replies(thread_ts, channel))[n - 1 :] and r)

    def ask_for_approval(self, text: str = "qualify Dana Fox for 20k") -> tuple[SlackCall, int]:
        root = self.event("U_RITA", f"<@UBOT> {text}")
        [card] = self.wait_reply(root)
        assert card.params.get("blocks"), card.params
        [actions] = [b for b in card.params["blocks"] if b["type"] == "actions"]
        ids = [e["action_id"] for e in actions["elements"]]
        approval_id = int(ids[0].rsplit(":", 1)[1])
        assert ids == [f"approval:{d}:{approval_id}" for d in ("approve", "edit", "reject")]
        return card, approval_id

    def click(self, user: str, card: SlackCall, decision: str, approval_id: int) -> httpx.Response:
        assert card.response is not None
        channel = str(card.params["channel"])
        message = {
            "type": "message",
            "user": "UBOT",
            "ts": card.response["ts"],
            "text": card.params.get("text", ""),
            "blocks": card.params["blocks"],
        }
        if card.params.get("thread_ts"):  # a copy sent to an approver's DM is a message of its own
            message["thread_ts"] = card.params["thread_ts"]
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0TEST",
            "token": "legacy",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "container": {"type": "message", "message_ts": card.response["ts"], "channel_id": channel},
            "channel": {"id": channel, "name": "sales" if channel == CHANNEL else "directmessage"},
            "message": message,
            "response_url": self.slack.response_url(),
            "actions": [
                {
                    "type": "button",
                    "action_id": f"approval:{decision}:{approval_id}",
                    "block_id": f"approval:{approval_id}",
                    "value": str(approval_id),
                    "action_ts": str(time.time()),
                }
            ],
        }
        response = self.post_payload(payload)
        assert response.status_code == 200, response.text
        return response

    def submit(self, user: str, view: dict[str, Any], values: dict[str, str | None]) -> httpx.Response:
        """Submit a modal the app opened, with ``values`` typed into its inputs (by block id)."""
        state = {
            block: {"value": {"type": "plain_text_input", "value": value or None}} for block, value in values.items()
        }
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0TEST",
            "token": "legacy",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "view": {**view, "id": "V0TEST", "team_id": TEAM, "state": {"values": state}},
            "response_urls": [],
        }
        return self.post_payload(payload)

    def ephemerals(self, user: str) -> list[SlackCall]:
        return [c for c in self.slack.calls("chat.postEphemeral") if c.params.get("user") == user]

    def approval(self, approval_id: int) -> Approval:
        with session_scope(self.engine) as s:
            row = s.get(Approval, approval_id)
            assert row is not None
            return row


def event_body(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
    }


@pytest.fixture
def rig(sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    for name in ("SALESGRAPH_APPROVAL_SEND", "SALESGRAPH_APPROVAL_QUALIFY", "SALESGRAPH_APPROVAL_ADMINS_DECIDE"):
        monkeypatch.delenv(name, raising=False)
    team = seed_team(sqlite_engine)
    # the bot token has exactly the scopes our manifest asks for: a method needing another one fails as on Slack
    with SlackAPIServer(token=TOKEN, users=USERS, scopes=BOT_SCOPES) as slack:
        services = services_for(
            sqlite_engine,
            tmp_path,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=slack.base_url,
        )
        rig = Rig(sqlite_engine, team, services, slack)
        rig.start_app()
        try:
            yield rig
        finally:
            for server in rig.servers:
                server.shutdown()
                server.server_close()


def _count(engine: Engine, model: Any, **where: Any) -> int:
    with session_scope(engine) as s:
        stmt = select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return len(s.exec(stmt).all())


def test_a_mention_creates_a_lead_once_and_answers_in_the_thread(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bots.slack.app")
    ts = rig.next_ts()
    text = "<@UBOT> Add this lead: Jane Doe, VP Sales, Initech, <mailto:jane@initech.example|jane@initech.example>"
    body = event_body({"type": "app_mention", "user": "U_RITA", "text": text, "ts": ts, "channel": CHANNEL}, "Ev1")
    assert rig.post_json(body).status_code == 200
    # Slack redelivers the same event (it thought we were slow): acknowledged, dropped, no second turn.
    retry = rig.post_json(body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    wait_for(
        "the redelivery dropped", lambda: any("event Ev1: already taken" in r.getMessage() for r in caplog.records)
    )
    [reply] = rig.wait_reply(ts)
    # ... and again after a restart: the claim is a row in the store, not a memory of this process
    rig.start_app()
    assert rig.post_json(body, {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
    wait_for("the second redelivery dropped",
             lambda: sum("event Ev1: already taken" in r.getMessage() for r in caplog.records) == 2)  # fmt: skip
    assert len(rig.replies(ts)) == 1
    with session_scope(rig.engine) as s:
        [lead] = s.exec(select(Lead).where(Lead.name == "Jane Doe")).all()
        assert lead.email == "jane@initech.example" and lead.company == "Initech"
        assert lead.owner_id == rig.team.rep.user_id
        [audit] = s.exec(select(AuditEvent).where(AuditEvent.action == "create_lead")).all()
        assert audit.actor == "rita@example.com" and audit.record_id == str(lead.id)
    assert f"receipt #{audit.id}" in reply.params["text"]
    assert reply.token == TOKEN and reply.params["thread_ts"] == ts

    # The same Slack thread is the same conversation: a reply in it is answered there, not as a new thread.
    follow_up = rig.event("U_RITA", "<@UBOT> score her", thread_ts=ts)
    assert follow_up != ts
    rig.wait_reply(ts, n=2)
    assert rig.replies(follow_up) == []


def test_direct_messages_are_answered_and_bot_messages_and_edits_ignored(rig: Rig) -> None:
    dm = "D0RITA"
    rig.event("U_RITA", "hello from a bot", kind="message", channel=dm, channel_type="im", bot_id="B0OTHER")
    rig.event("UBOT", "our own message", kind="message", channel=dm, channel_type="im")
    rig.event("U_RITA", "edited", kind="message", channel=dm, channel_type="im", subtype="message_changed")
    ts = rig.event("U_RITA", "Add this lead: Sam Stone, CTO, Globex, sam@globex.example", kind="message",
                   channel=dm, channel_type="im")  # fmt: skip
    [reply] = rig.wait_reply(ts, channel=dm)
    assert "receipt #" in reply.params["text"]
    assert [c.params["thread_ts"] for c in rig.slack.calls("chat.postMessage")] == [ts]
    assert _count(rig.engine, Lead, name="Sam Stone") == 1


def test_unsigned_or_badly_signed_requests_are_rejected(rig: Rig) -> None:
    body = event_body(
        {"type": "app_mention", "user": "U_RITA", "text": "<@UBOT> Add this lead: Eve Evil, eve@evil.example",
         "ts": rig.next_ts(), "channel": CHANNEL},
        "EvForged",
    )  # fmt: skip
    raw = json.dumps(body)
    attempts = [
        {},  # unsigned
        sign(raw, secret="not-the-secret"),
        sign(raw, timestamp=int(time.time()) - 3600),  # replayed: signed an hour ago
        {**sign(raw), "X-Slack-Signature": "v0=" + "0" * 64},
    ]
    for headers in attempts:
        response = httpx.post(rig.url, content=raw, headers={"Content-Type": "application/json", **headers})
        assert response.status_code == 401
    forged_click = urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U_MIA"}})})
    response = httpx.post(rig.url, content=forged_click, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    assert _count(rig.engine, Lead) == 1 and _count(rig.engine, AuditEvent) == 0
    assert {c.method for c in rig.slack.calls()} <= {"auth.test"}


def test_a_slack_user_without_a_salesgraph_account_is_told_so_and_nothing_runs(rig: Rig) -> None:
    ts = rig.event("U_NOBODY", "<@UBOT> Add this lead: Ned Null, ned@null.example")
    [reply] = rig.wait_reply(ts)
    assert "nobody@elsewhere.example" in reply.params["text"] and "not linked" in reply.params["text"]
    assert _count(rig.engine, Lead) == 1 and _count(rig.engine, AuditEvent) == 0


def test_an_admin_linked_slack_id_wins_over_the_slack_email(rig: Rig) -> None:
    """Someone whose Slack email differs from their salesgraph email is linked by id (users add --slack-id)."""
    with session_scope(rig.engine) as s:
        rita = s.get(User, rig.team.rep.user_id)
        assert rita is not None
        rita.slack_user_id = "U_NOBODY"  # Slack says nobody@elsewhere.example; the admin linked the id to Rita
    ts = rig.event("U_NOBODY", "<@UBOT> Add this lead: Ned Null, ned@null.example")
    [reply] = rig.wait_reply(ts)
    assert "receipt #" in reply.params["text"]
    with session_scope(rig.engine) as s:
        [lead] = s.exec(select(Lead).where(Lead.name == "Ned Null")).all()
        assert lead.owner_id == rig.team.rep.user_id
    assert not rig.slack.calls("users.info")  # the link alone identifies the person


def test_approval_card_refuses_others_and_the_approver_decides_once_after_a_restart(rig: Rig) -> None:
    card, approval_id = rig.ask_for_approval()
    text = json.dumps(card.params["blocks"])
    assert "qualify_lead" in text and "20000" in text and "<@U_MIA>" in text and "expires" in text
    assert rig.approval(approval_id).status == "pending"

    # Rita asked for it but may not decide it; Olga is in another team. Both are refused, privately.
    rig.click("U_RITA", card, "approve", approval_id)
    [refusal] = wait_for("Rita's refusal", lambda: rig.ephemerals("U_RITA"))
    assert "may not decide" in refusal.params["text"]
    rig.click("U_OLGA", card, "edit", approval_id)
    wait_for("Olga's refusal", lambda: rig.ephemerals("U_OLGA"))
    assert rig.slack.calls("views.open") == [] and rig.slack.calls("chat.update") == []
    assert rig.approval(approval_id).status == "pending" and _count(rig.engine, Deal) == 0

    rig.start_app()  # a restart: a new app object over the same store and checkpoints
    rig.click("U_MIA", card, "approve", approval_id)
    [update] = wait_for("the card update", lambda: rig.slack.calls("chat.update"))
    assert update.params["ts"] == card.response["ts"] if card.response else False
    [_, answer] = rig.wait_reply(card.params["thread_ts"], n=2)
    approval = rig.approval(approval_id)
    assert approval.status == "approved" and approval.decided_by_id == rig.team.manager.user_id
    assert approval.executed_at is not None
    with session_scope(rig.engine) as s:
        [deal] = s.exec(select(Deal)).all()
        assert deal.stage == "Qualified" and deal.amount == 20000
        [decided] = s.exec(select(AuditEvent).where(AuditEvent.action == "approve_approval")).all()
        [qualified] = s.exec(select(AuditEvent).where(AuditEvent.action == "qualify_lead")).all()
    outcome = json.dumps(update.params["blocks"])
    assert f"receipt #{decided.id}" in outcome and f"receipt #{qualified.id}" in outcome
    assert "actions" not in [b["type"] for b in update.params["blocks"]]
    assert f"receipt #{qualified.id}" in answer.params["text"]

    # A second click changes nothing: refused privately, no new card update, still one deal.
    rig.click("U_MIA", card, "approve", approval_id)
    [again] = wait_for("the repeat-click notice", lambda: rig.ephemerals("U_MIA"))
    assert "already approved" in again.params["text"]
    assert len(rig.slack.calls("chat.update")) == 1 and _count(rig.engine, Deal) == 1
    assert _count(rig.engine, AuditEvent, action="qualify_lead") == 1


def test_a_card_asked_for_in_a_dm_reaches_the_approver_and_the_answer_goes_back_to_the_dm(rig: Rig) -> None:
    """Nobody but the rep sees the rep's DM with the bot: the manager gets a copy of the card in their own DM."""
    dm = "D0RITA"
    root = rig.event("U_RITA", "qualify Dana Fox for 20k", kind="message", channel=dm, channel_type="im")
    [card] = rig.wait_reply(root, channel=dm)
    approval_id = int(card.params["blocks"][-1]["elements"][0]["action_id"].rsplit(":", 1)[1])
    [opened] = wait_for("a DM opened to the manager", lambda: rig.slack.calls("conversations.open"))
    assert opened.params["users"] == "U_MIA"
    copies = [c for c in rig.slack.calls("chat.postMessage") if c.params["channel"] != dm]
    assert len(copies) == 1 and copies[0].params["blocks"] == card.params["blocks"]
    rig.click("U_MIA", copies[0], "approve", approval_id)
    # the assistant carries on in Rita's DM thread, where the conversation lives
    [_, answer] = rig.wait_reply(root, n=2, channel=dm)
    assert "receipt #" in answer.params["text"]
    assert rig.approval(approval_id).status == "approved"
    assert _count(rig.engine, Deal) == 1


def test_reject_asks_for_a_reason_in_a_modal(rig: Rig) -> None:
    card, approval_id = rig.ask_for_approval()
    rig.click("U_MIA", card, "reject", approval_id)
    [opened] = wait_for("the reject modal", lambda: rig.slack.calls("views.open"))
    view = opened.params["view"]
    assert view["callback_id"] == "approval_reject" and opened.params["trigger_id"].startswith("trigger-")
    response = rig.submit("U_MIA", view, {"reason": "budget frozen until Q3"})
    assert response.status_code == 200 and response.text in ("", "{}")
    [update] = wait_for("the card update", lambda: rig.slack.calls("chat.update"))
    assert "budget frozen until Q3" in json.dumps(update.params["blocks"])
    rig.wait_reply(card.params["thread_ts"], n=2)  # the assistant's follow-up
    approval = rig.approval(approval_id)
    assert approval.status == "rejected" and approval.reason == "budget frozen until Q3"
    assert _count(rig.engine, Deal) == 0 and _count(rig.engine, AuditEvent, action="reject_approval") == 1


def test_edit_in_a_modal_shows_field_errors_then_approves_the_edited_amount(rig: Rig) -> None:
    card, approval_id = rig.ask_for_approval()
    rig.click("U_MIA", card, "edit", approval_id)
    [opened] = wait_for("the edit modal", lambda: rig.slack.calls("views.open"))
    view = opened.params["view"]
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"}
    assert inputs == {"arg:amount": "20000", "arg:deal_name": "Acme Corp", "arg:note": None}

    for typed in ("lots", "-5"):  # not a number (the form says so), negative (the domain says so)
        refused = rig.submit("U_MIA", view, {**inputs, "arg:amount": typed})
        assert refused.status_code == 200
        answer = refused.json()
        assert answer["response_action"] == "errors" and set(answer["errors"]) == {"arg:amount"}
        assert rig.approval(approval_id).status == "pending"

    accepted = rig.submit("U_MIA", view, {**inputs, "arg:amount": "25,000"})
    assert accepted.status_code == 200 and accepted.text in ("", "{}")
    wait_for("the card update", lambda: rig.slack.calls("chat.update"))
    rig.wait_reply(card.params["thread_ts"], n=2)
    approval = rig.approval(approval_id)
    assert approval.status == "approved" and approval.decision == "edit"
    assert approval.decided_arguments is not None and approval.decided_arguments["amount"] == 25000
    with session_scope(rig.engine) as s:
        [deal] = s.exec(select(Deal)).all()
        assert deal.amount == 25000 and deal.stage == "Qualified"
