"""The one place a Slack Web API client is built from settings (the Slack front door and the briefings share it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sales.errors import SalesError

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from app.settings import Settings


class SlackNotConfigured(SalesError):
    """No bot token is configured; the message says which setting to set."""


def slack_configured(settings: Settings) -> bool:
    """Whether a bot token is set (``SALESGRAPH_SLACK_BOT_TOKEN``)."""
    return settings.slack_bot_token is not None and bool(settings.slack_bot_token.get_secret_value().strip())


def web_client(settings: Settings) -> WebClient:
    """A ``slack_sdk.WebClient`` for the configured bot token (``SALESGRAPH_SLACK_BOT_TOKEN``), retrying on rate
    limits and connection errors; ``SALESGRAPH_SLACK_API_URL`` points it elsewhere (our tests' loopback server)."""
    if not slack_configured(settings) or settings.slack_bot_token is None:
        raise SlackNotConfigured(
            "Slack is not configured: set SALESGRAPH_SLACK_BOT_TOKEN to the app's bot token (xoxb-...)"
        )
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url or WebClient.BASE_URL,
        timeout=15,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=2)],
    )
