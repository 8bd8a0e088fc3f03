"""Slack as Slack users expect: ``/salesgraph``, replies in a thread without a fresh mention, answers as Block Kit,
the "working on it" reaction, the Home tab, the "Log this to a deal" shortcut and human approval titles.

Signed requests go to the real Bolt app over HTTP (``bots.slack.app.http_server``); what the app does is read
from our loopback Slack Web API (tests/slack_api.py) and from the store.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlmodel import select

from bots.slack.manifest import BOT_EVENTS, BOT_SCOPES, app_manifest
from sales.deals import DealInput, create_deal
from sales.tasks import TaskInput, create_task
from store.db import session_scope
from store.models import AuditEvent, Deal, Interaction, Lead
from store.types import utcnow
from tests.integration.test_slack_app import CHANNEL, TEAM, Rig, event_body, rig, sign, wait_for

__all__ = ["rig"]


def slash(rig: Rig, user: str, text: str, channel: str = CHANNEL) -> httpx.Response:
    form = {
        "token": "legacy", "team_id": TEAM, "team_domain": "test", "channel_id": channel, "channel_name": "sales",
        "user_id": user, "user_name": user.lower(), "command": "/salesgraph", "text": text, "api_app_id": "A0TEST",
        "response_url": rig.slack.response_url("cmd"), "trigger_id": f"trigger-{time.monotonic_ns()}",
    }  # fmt: skip
    raw = urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw)}
    return httpx.post(rig.url, content=raw, headers=headers, timeout=10)


def field_texts(message_blocks: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for b in message_blocks if b["type"] == "section" for f in b.get("fields") or []]


def seed_deals(rig: Rig) -> tuple[int, int]:
    """Two open deals for Rita; the Proposal one has sat untouched for 90 days (stalled)."""
    with session_scope(rig.engine) as s:
        fresh = create_deal(s, rig.team.rep, DealInput(name="Globex renewal", amount=Decimal(12000), stage="Discovery"))
        old = create_deal(s, rig.team.rep, DealInput(name="Initech pilot", amount=Decimal(5000), stage="Proposal"))
        stale = s.get(Deal, old.deal.id)
        assert stale is not None and fresh.deal.id is not None and stale.id is not None
        stale.stage_entered_at = utcnow() - timedelta(days=90)
        s.add(stale)
        return fresh.deal.id, stale.id


def test_the_manifest_asks_for_what_the_features_use() -> None:
    manifest = app_manifest("https://sales.example.com/slack/events")
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/salesgraph" and command["url"] == "https://sales.example.com/slack/events"
    [shortcut] = manifest["features"]["shortcuts"]
    assert shortcut["type"] == "message" and shortcut["callback_id"] == "log_to_deal"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert {"app_home_opened", "message.channels", "message.groups"} <= set(BOT_EVENTS)
    assert {"commands", "reactions:write", "channels:history", "groups:history"} <= set(BOT_SCOPES)
    assert "url" not in app_manifest(None, socket_mode=True)["features"]["slash_commands"][0]


def test_slash_command_acknowledges_at_once_then_answers_in_a_thread_that_continues_without_mentions(
    rig: Rig,
) -> None:
    response = slash(rig, "U_RITA", "Add this lead: Jane Doe, VP Sales, Initech, jane@initech.example")
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith("Working on it")
    [root] = wait_for("the question posted", lambda: rig.slack.calls("chat.postMessage"))
    assert root.params["channel"] == CHANNEL and "<@U_RITA> asked:" in root.params["text"]
    assert root.response is not None
    root_ts = root.response["ts"]
    [answer] = rig.wait_reply(root_ts)
    assert "receipt #" in answer.params["text"] and answer.params["blocks"][0]["type"] == "section"
    with session_scope(rig.engine) as s:
        [lead] = s.exec(select(Lead).where(Lead.name == "Jane Doe")).all()
        assert lead.owner_id == rig.team.rep.user_id

    # a reply in that thread, no mention: answered in the thread (the thread is a conversation now)
    reply_ts = rig.event("U_RITA", "score her", kind="message", channel_type="channel", thread_ts=root_ts,
                         client_msg_id="msg-score")  # fmt: skip
    rig.wait_reply(root_ts, n=2)
    # the :eyes: reaction went on at once and came off with the answer
    added = [c.params for c in rig.slack.calls("reactions.add")]
    assert {"channel": CHANNEL, "timestamp": reply_ts, "name": "eyes"} in added
    wait_for("the reaction removed", lambda: not rig.slack.state.reactions)
    # a reply in somebody else's thread, no mention: none of our business
    other_root = rig.next_ts()
    rig.event("U_RITA", "lunch?", kind="message", channel_type="channel", thread_ts=other_root)
    time.sleep(0.5)
    assert rig.replies(other_root) == [] and len(rig.replies(root_ts)) == 2


def test_slash_command_help_and_a_channel_the_app_is_not_in(rig: Rig) -> None:
    helped = slash(rig, "U_RITA", "")
    assert "/salesgraph" in helped.json()["text"] and "Home tab" in helped.json()["text"]
    rig.slack.state.not_in.add("C0PRIVATE")
    assert slash(rig, "U_RITA", "how many leads do I have?", channel="C0PRIVATE").status_code == 200
    [private] = wait_for("the private answer", lambda: rig.slack.state.responses)
    assert private["response_type"] == "ephemeral" and private["text"]
    assert not [c for c in rig.slack.calls("chat.postMessage") if c.response and c.response.get("ok")]


def test_a_mention_in_a_thread_arriving_as_two_events_is_answered_once(rig: Rig) -> None:
    root = rig.event("U_RITA", "<@UBOT> Add this lead: Sam Stone, CTO, Globex, sam@globex.example")
    rig.wait_reply(root)
    # Slack sends a thread reply that mentions the bot twice: as app_mention and as message.channels
    ts = rig.next_ts()
    text = "<@UBOT> score him"
    common = {"user": "U_RITA", "text": text, "ts": ts, "channel": CHANNEL, "thread_ts": root, "client_msg_id": "m-9"}
    for event_id, kind in (("EvM1", "app_mention"), ("EvM2", "message")):
        event = {"type": kind, **common, **({"channel_type": "channel"} if kind == "message" else {})}
        assert rig.post_json(event_body(event, event_id)).status_code == 200
    rig.wait_reply(root, n=2)
    time.sleep(0.5)
    assert len(rig.replies(root)) == 2
    assert len([c for c in rig.slack.calls("reactions.add") if c.params["timestamp"] == ts]) == 1


def test_answers_are_block_kit_with_tables_as_fields(rig: Rig) -> None:
    seed_deals(rig)
    root = rig.event("U_RITA", "<@UBOT> what's my pipeline by stage?")
    [answer] = rig.wait_reply(root)
    fields = field_texts(answer.params["blocks"])
    assert "*Discovery*" in fields and "*Proposal*" in fields
    assert fields[fields.index("*Discovery*") + 1].startswith("$12,000")
    assert "Discovery: $12,000" in answer.params["text"]  # the plain text stays, for notifications


def test_the_home_tab_shows_my_approvals_tasks_and_stalled_deals(rig: Rig) -> None:
    _, stalled_id = seed_deals(rig)
    card, approval_id = rig.ask_for_approval()
    header = card.params["blocks"][0]
    assert header["type"] == "header" and header["text"]["text"] == "Approval needed: Qualify a lead: Dana Fox"
    with session_scope(rig.engine) as s:
        create_task(s, rig.team.rep, TaskInput(title="Call Dana back", due_date=utcnow().date()))
        create_task(s, rig.team.rep, TaskInput(title="Next month's thing", due_date=utcnow().date() + timedelta(30)))

    def home(user: str) -> dict[str, Any]:
        body = event_body({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                           "event_ts": rig.next_ts()}, f"EvHome{user}{time.monotonic_ns()}")  # fmt: skip
        before = len(rig.slack.calls("views.publish"))
        assert rig.post_json(body).status_code == 200
        published = wait_for("the home tab", lambda: rig.slack.calls("views.publish")[before:])
        assert published[0].params["user_id"] == user and (published[0].response or {}).get("ok") is True
        return dict(published[0].params["view"])

    mia = json.dumps(home("U_MIA"))
    assert f"#{approval_id} Qualify a lead: Dana Fox" in mia and "Approvals waiting for me (1)" in mia
    rita = json.dumps(home("U_RITA"))
    assert "Approvals waiting for me (0)" in rita  # she asked for it; she may not decide it
    assert "Call Dana back" in rita and "Next month" not in rita and "My tasks today (1)" in rita
    assert f"#{stalled_id} Initech pilot" in rita and "Globex renewal" not in rita
    nobody = json.dumps(home("U_NOBODY"))
    assert "not linked" in nobody


def test_log_this_to_a_deal_opens_a_modal_and_logs_with_a_receipt(rig: Rig) -> None:
    log_a_message(rig, CHANNEL)


def test_a_message_logged_from_a_conversation_the_app_is_not_in_gets_its_receipt_in_the_apps_dm(rig: Rig) -> None:
    rig.slack.state.not_in.add("D0FRIENDS")  # Rita's DM with Olga: the app cannot post there
    log_a_message(rig, "D0FRIENDS")


def log_a_message(rig: Rig, channel: str) -> None:
    deal_id, _ = seed_deals(rig)
    message = {"type": "message", "user": "U_OLGA", "ts": "1700000500.000001",
               "text": "Globex said the budget is approved &amp; they want <https://globex.example|the quote>"}  # fmt: skip
    payload = {
        "type": "message_action", "callback_id": "log_to_deal", "trigger_id": f"trigger-{time.monotonic_ns()}",
        "team": {"id": TEAM, "domain": "test"}, "user": {"id": "U_RITA", "team_id": TEAM},
        "channel": {"id": channel, "name": "sales"}, "message_ts": message["ts"], "message": message,
        "response_url": rig.slack.response_url("shortcut"), "token": "legacy", "action_ts": str(time.time()),
    }  # fmt: skip
    assert rig.post_payload(payload).status_code == 200
    [opened] = wait_for("the log modal", lambda: rig.slack.calls("views.open"))
    view = opened.params["view"]
    [deal_block] = [b for b in view["blocks"] if b["block_id"] == "deal"]
    options = {o["value"]: o["text"]["text"] for o in deal_block["element"]["options"]}
    assert options[str(deal_id)] == f"#{deal_id} Globex renewal"
    [text_block] = [b for b in view["blocks"] if b["block_id"] == "text"]
    typed = text_block["element"]["initial_value"]
    assert typed == "Globex said the budget is approved & they want the quote"

    def submit(values: dict[str, Any]) -> httpx.Response:
        payload = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U_RITA", "team_id": TEAM},
                   "api_app_id": "A0TEST", "token": "legacy", "trigger_id": "t",
                   "view": {**view, "id": "V1", "state": {"values": values}}}  # fmt: skip
        return rig.post_payload(payload)

    refused = submit({"deal": {"value": {"type": "static_select", "selected_option": None}},
                      "text": {"value": {"type": "plain_text_input", "value": typed}}})  # fmt: skip
    assert refused.json()["response_action"] == "errors" and "deal" in refused.json()["errors"]
    done = submit({"deal": {"value": {"type": "static_select", "selected_option": {"value": str(deal_id)}}},
                   "text": {"value": {"type": "plain_text_input", "value": typed}}})  # fmt: skip
    assert done.status_code == 200 and done.text in ("", "{}")
    with session_scope(rig.engine) as s:
        [note] = s.exec(select(Interaction)).all()
        assert note.deal_id == deal_id and note.channel == "slack" and note.body == typed
        [audit] = s.exec(select(AuditEvent).where(AuditEvent.action == "log_interaction")).all()
        assert audit.actor == "rita@example.com" and audit.record_id == str(note.id)
    if channel == CHANNEL:
        [told] = wait_for("the receipt", lambda: rig.ephemerals("U_RITA"))
        assert told.params["channel"] == CHANNEL
    else:
        [told] = wait_for("the receipt in the app's DM", lambda: [c for c in rig.slack.calls("chat.postMessage")
                                                                  if c.params["channel"] == "U_RITA"])  # fmt: skip
    assert (
        f"receipt #{audit.id}" in told.params["text"]
        and f"Logged to deal #{deal_id} Globex renewal" in told.params["text"]
    )


def test_an_approval_decided_on_the_home_tab_carries_on_in_the_askers_thread(rig: Rig) -> None:
    card, approval_id = rig.ask_for_approval()
    thread = str(card.params["thread_ts"])
    body = event_body({"type": "app_home_opened", "user": "U_MIA", "channel": "D0HOME", "tab": "home",
                       "event_ts": rig.next_ts()}, "EvHomeMia")  # fmt: skip
    assert rig.post_json(body).status_code == 200
    [published] = wait_for("the home tab", lambda: rig.slack.calls("views.publish"))
    view = published.params["view"]
    [buttons] = [b for b in view["blocks"] if b.get("block_id") == f"home:approval:{approval_id}"]
    assert [e["action_id"] for e in buttons["elements"]] == [
        f"approval:{choice}:{approval_id}" for choice in ("approve", "edit", "reject")
    ]

    def click_on_home(user: str) -> None:
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0TEST", "token": "legacy", "trigger_id": f"trigger-{time.monotonic_ns()}",
            "container": {"type": "view", "view_id": "V0HOME"}, "view": {**view, "id": "V0HOME"},
            "actions": [{"type": "button", "action_id": f"approval:approve:{approval_id}",
                         "block_id": buttons["block_id"], "value": str(approval_id), "action_ts": str(time.time())}],
        }  # fmt: skip
        assert rig.post_payload(payload).status_code == 200

    click_on_home("U_OLGA")  # another team's rep: refused in the app's DM, nothing changes
    [refusal] = wait_for("Olga's refusal", lambda: [c for c in rig.slack.calls("chat.postMessage")
                                                    if c.params["channel"] == "U_OLGA"])  # fmt: skip
    assert "may not decide" in refusal.params["text"] and rig.approval(approval_id).status == "pending"

    click_on_home("U_MIA")
    replies = rig.wait_reply(thread, n=3)  # the card, "decided on the Home tab ...", the assistant's answer
    assert "decided on the Home tab" in replies[1].params["text"] and "receipt #" in replies[2].params["text"]
    assert rig.approval(approval_id).status == "approved"
    with session_scope(rig.engine) as s:
        [deal] = s.exec(select(Deal)).all()
        assert deal.stage == "Qualified"
    # the tab is published again without it
    again = wait_for("the refreshed home tab", lambda: rig.slack.calls("views.publish")[1:])
    assert again[0].params["user_id"] == "U_MIA"
    assert "Approvals waiting for me (0)" in json.dumps(again[0].params["view"])
    assert rig.slack.calls("chat.update") == []  # the card in the thread is not where it was decided
