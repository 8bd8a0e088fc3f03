"""The loopback Slack Web API answers the real slack_sdk client the way Slack does (the other Slack tests rely on it)."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.slack_api import SlackAPIServer


def test_real_client_posts_messages_and_uploads_files() -> None:
    with SlackAPIServer(token="xoxb-t", users={"U1": "rita@example.com"}) as slack:
        client = WebClient(token="xoxb-t", base_url=slack.base_url)
        assert client.auth_test()["user_id"] == "UBOT"
        assert client.users_info(user="U1")["user"]["profile"]["email"] == "rita@example.com"
        posted = client.chat_postMessage(
            channel="C1", text="hello", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
        )
        assert posted["ts"] and slack.calls("chat.postMessage")[0].params["blocks"][0]["type"] == "section"
        done = client.files_upload_v2(
            channel="C1", content=b"\x89PNG fake chart", filename="chart.png", title="Chart", initial_comment="see"
        )
        [upload] = slack.state.uploads.values()
        assert upload.completed and upload.content == b"\x89PNG fake chart" and upload.channel == "C1"
        assert done["file"]["id"] == upload.file_id
        with pytest.raises(SlackApiError) as err:
            WebClient(token="xoxb-wrong", base_url=slack.base_url).chat_postMessage(channel="C1", text="x")
        assert err.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError):
            client.users_info(user="U404")
