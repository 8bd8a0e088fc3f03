"""The Slack app manifest salesgraph needs: its scopes, the events it listens to, the ``/salesgraph`` command,
the "Log this to a deal" message shortcut, the Home tab, and where Slack sends them."""

from __future__ import annotations

from typing import Any

# im:write: conversations.open, to send an approval card to an approver's own DM
# channels:history, groups:history: replies in a thread the assistant is in, answered without a fresh mention
# commands: /salesgraph and the message shortcut; reactions:write: the "working on it" reaction
BOT_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
    "files:write",
    "channels:history",
    "groups:history",
    "commands",
    "reactions:write",
]
BOT_EVENTS = ["app_mention", "message.im", "message.channels", "message.groups", "app_home_opened"]
SLASH_COMMANDS = [
    {
        "command": "/salesgraph",
        "description": "Ask the sales assistant (pipeline, deals, leads, tasks, approvals)",
        "usage_hint": "what's my pipeline by stage?",
        "should_escape": False,
    }
]
SHORTCUTS = [
    {
        "name": "Log this to a deal",
        "type": "message",
        "callback_id": "log_to_deal",
        "description": "Log this message as a Slack interaction on one of your deals",
    }
]


def app_manifest(request_url: str | None, *, socket_mode: bool = False, name: str = "salesgraph") -> dict[str, Any]:
    """A manifest for "Create New App → From a manifest". HTTP mode needs the public ``request_url`` of
    ``salesgraph slack serve`` (``https://HOST/slack/events``); Socket Mode needs none."""
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    interactivity: dict[str, Any] = {"is_enabled": True}
    commands = [dict(c) for c in SLASH_COMMANDS]
    if not socket_mode:
        if not request_url:
            raise ValueError("HTTP mode needs the public request URL, e.g. https://sales.example.com/slack/events")
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
        for command in commands:
            command["url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Your self-hosted sales assistant: leads, deals, pipeline questions, approvals.",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
            "shortcuts": [dict(s) for s in SHORTCUTS],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
