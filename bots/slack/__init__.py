"""The Slack front door: a Bolt app that turns mentions and DMs into agent turns and approval cards into decisions.

Only light names live here (the CLI imports this package); ``build_slack_app`` loads slack_bolt and the agent
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sales.errors import SalesError

if TYPE_CHECKING:
    from bots.slack.app import build_slack_app as build_slack_app


class SlackSigningSecretMissing(SalesError):
    """HTTP mode needs the signing secret to verify that requests come from Slack."""


class SlackAppTokenMissing(SalesError):
    """Socket Mode needs an app-level token (xapp-...)."""


def __getattr__(name: str) -> Any:
    if name == "build_slack_app":
        from bots.slack.app import build_slack_app

        return build_slack_app
    raise AttributeError(name)
