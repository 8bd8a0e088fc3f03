"""The Slack app manifest salesgraph needs: its scopes, the events it listens to, and where Slack sends them."""

from __future__ import annotations

from typing import Any

# im:write: conversations.open, to send an approval card to an approver's own DM
BOT_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
    "files:write",
]
BOT_EVENTS = ["app_mention", "message.im"]


def app_manifest(request_url: str | None, *, socket_mode: bool = False, name: str = "salesgraph") -> dict[str, Any]:
    """A manifest for "Create New App → From a manifest". HTTP mode needs the public ``request_url`` of
    ``salesgraph slack serve`` (``https://HOST/slack/events``); Socket Mode needs none."""
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        if not request_url:
            raise ValueError("HTTP mode needs the public request URL, e.g. https://sales.example.com/slack/events")
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Your self-hosted sales assistant: leads, deals, pipeline questions, approvals.",
        },
        "features": {
            "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
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
