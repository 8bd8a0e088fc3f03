"""The Slack front door's pure parts (text in and out, the edit form, the manifest) and its CLI's clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bots.slack.blocks import approval_card, edited_arguments, escape, plain_text_from_slack


def test_slack_markup_becomes_the_plain_text_the_person_typed() -> None:
    text = "<@UBOT> add <mailto:jo@x.example|jo@x.example>, <tel:+15551234|+1 555 1234> &amp; ask <@U2|ann> in <#C1|sales> &lt;3"
    assert plain_text_from_slack(text, "UBOT") == "add jo@x.example, +1 555 1234 & ask @ann in #sales <3"
    assert plain_text_from_slack("<https://acme.example> <!here>", None) == "https://acme.example @here"


def test_what_we_post_cannot_ping_or_link() -> None:
    assert (
        escape("<!channel> & <https://evil.example|click>")
        == "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )
    request = {
        "approval_id": 7,
        "action": "send_follow_up",
        "summary": "<!channel> send",
        "arguments": {"subject": "<@U1>"},
        "requested_by": "<!here>@x.example",
        "approvers": ["mia@example.com"],
        "expires_at": "2030-01-01T10:00:00Z",
        "editable": ["body"],
    }
    card = approval_card(request, ["<@U_MIA>"])
    assert card[1]["text"]["type"] == "plain_text"  # the summary is data, not markup
    context = card[-2]["elements"][0]["text"]
    assert "&lt;!here&gt;" in context and "<@U_MIA>" in context and "2030-01-01 10:00 UTC" in context
    assert [b["action_id"] for b in card[-1]["elements"]] == [
        "approval:approve:7",
        "approval:edit:7",
        "approval:reject:7",
    ]


def test_the_edit_form_keeps_only_changes_and_flags_amounts_that_are_not_numbers() -> None:
    current = {"amount": 20000.0, "note": None, "deal_name": "Acme"}
    editable = ["amount", "deal_name", "note"]
    values = {"arg:amount": "20000", "arg:deal_name": "Acme", "arg:note": ""}
    assert edited_arguments(values, current, editable) == ({}, {})
    assert edited_arguments({**values, "arg:amount": "$25,000"}, current, editable) == ({"amount": 25000.0}, {})
    changes, errors = edited_arguments({**values, "arg:amount": "lots", "arg:note": "call first"}, current, editable)
    assert changes == {"note": "call first"} and set(errors) == {"arg:amount"}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    import bots.common
    from app.settings import get_settings

    for name in ("DATABASE_URL", "MODEL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(f"SALESGRAPH_{name}", raising=False)
    monkeypatch.setenv("SALESGRAPH_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no stray .env
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    yield CliRunner()
    get_settings.cache_clear()


def test_manifest_names_the_scopes_events_and_urls(cli: CliRunner) -> None:
    from bots.cli import app

    url = "https://sales.example.com/slack/events"
    printed = cli.invoke(app, ["slack", "manifest", "--url", url])
    assert printed.exit_code == 0, printed.output
    manifest = yaml.safe_load(printed.output)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "app_mentions:read",
        "chat:write",
        "im:history",
        "im:write",
        "users:read",
        "users:read.email",
        "files:write",
    }
    settings = manifest["settings"]
    assert settings["event_subscriptions"] == {
        "bot_events": ["app_mention", "message.im", "message.channels", "message.groups", "app_home_opened"],
        "request_url": url,
    }
    assert manifest["features"]["slash_commands"][0]["url"] == url
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    socket = json.loads(cli.invoke(app, ["slack", "manifest", "--socket", "--json"]).output)
    assert (
        socket["settings"]["socket_mode_enabled"] is True and "request_url" not in socket["settings"]["interactivity"]
    )
    missing = cli.invoke(app, ["slack", "manifest"])
    assert missing.exit_code == 1 and "--url" in missing.output


def test_serve_says_which_setting_is_missing(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings
    from bots.cli import app

    no_token = cli.invoke(app, ["slack", "serve", "--port", "0"])
    assert no_token.exit_code == 1 and "SALESGRAPH_SLACK_SIGNING_SECRET" in no_token.output
    monkeypatch.setenv("SALESGRAPH_SLACK_SIGNING_SECRET", "s3cret-value")
    get_settings.cache_clear()
    import bots.common

    monkeypatch.setattr(bots.common, "_services", None)
    no_bot = cli.invoke(app, ["slack", "serve", "--port", "0"])
    assert no_bot.exit_code == 1 and "SALESGRAPH_SLACK_BOT_TOKEN" in no_bot.output
    assert "s3cret-value" not in no_bot.output and "Traceback" not in no_bot.output
    no_app_token = cli.invoke(app, ["slack", "serve", "--socket"])
    assert no_app_token.exit_code == 1 and "SALESGRAPH_SLACK_APP_TOKEN" in no_app_token.output
