"""Socket Mode: the real Bolt app through slack_sdk's real SocketModeHandler, connected to our loopback server.

``salesgraph slack serve --socket`` runs exactly this handler; the WebSocket and ``apps.connections.open`` are
served by tests/slack_socket.py and tests/slack_api.py (Slack is a SaaS; nothing of ours is replaced).
"""

from __future__ import annotations

import time
from pathlib import Path

from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy.engine import Engine
from sqlmodel import select

from bots.slack.app import build_slack_app
from store.db import session_scope
from store.models import Lead
from tests.slack_api import SlackAPIServer
from tests.slack_socket import SocketModeServer
from tests.unit.test_agent_support import seed_team, services_for

BOT, APP = "xoxb-socket-test", "xapp-socket-test"


def test_a_mention_over_socket_mode_is_acknowledged_and_answered(sqlite_engine: Engine, tmp_path: Path) -> None:
    team = seed_team(sqlite_engine)
    with (
        SocketModeServer() as socket_mode,
        SlackAPIServer(
            token=BOT, users={"U_RITA": "rita@example.com"}, app_token=APP, socket_url=socket_mode.url
        ) as slack,
    ):
        # no signing secret: the WebSocket itself is authenticated by the app token
        services = services_for(sqlite_engine, tmp_path, slack_bot_token=BOT, slack_api_url=slack.base_url)
        handler = SocketModeHandler(build_slack_app(services, socket_mode=True), APP)
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            socket_mode.wait_connected()
            [opened] = slack.calls("apps.connections.open")
            assert opened.token == APP
            event = {
                "type": "app_mention",
                "user": "U_RITA",
                "text": "<@UBOT> Add this lead: Jane Doe, VP Sales, Initech, jane@initech.example",
                "ts": "1700000000.000100",
                "channel": "C0SALES",
            }
            payload = {"type": "event_callback", "team_id": "T0TEST", "event_id": "EvSock1", "event": event}
            envelope = socket_mode.send("events_api", payload)
            socket_mode.wait_ack(envelope)
            deadline = time.monotonic() + 30
            while not slack.calls("chat.postMessage") and time.monotonic() < deadline:
                time.sleep(0.05)
            [reply] = slack.calls("chat.postMessage")
            assert reply.params["thread_ts"] == event["ts"] and "receipt #" in reply.params["text"]
            with session_scope(sqlite_engine) as s:
                [lead] = s.exec(select(Lead).where(Lead.name == "Jane Doe")).all()
                assert lead.owner_id == team.rep.user_id
        finally:
            handler.close()  # type: ignore[no-untyped-call]
