"""The offline model edits the conversation's last draft when asked: a new subject, a tone, shorter."""

from __future__ import annotations

import pytest

from tests.unit.test_offline_conversation import Conversation, only_call
from tools.results import DraftFollowUpResult


def _drafted() -> Conversation:
    chat = Conversation()
    assert only_call(chat.say("draft a follow-up to Dana Fox to book a demo"))[0] == "draft_follow_up"
    chat.tool_returns(
        DraftFollowUpResult(
            receipt_id=9,
            message_id=31,
            to="dana@acme.example",
            subject="Time to talk about Acme Corp?",
            body="Hi Dana,\n\nI hope this finds you well.\n\nBest regards,\nRita Rep\n",
            status="draft",
            record_type="lead",
            record_id=1,
        )
    )
    return chat


@pytest.mark.parametrize(
    ("request_text", "args"),
    [
        ("change the subject to Intro call", {"subject": "Intro call"}),
        ('Change the subject line to "Intro call - Acme"', {"subject": "Intro call - Acme"}),
        ("subject: Intro call", {"subject": "Intro call"}),
        ("make it shorter", {"length": "shorter"}),
        ("can you make it more formal?", {"tone": "formal"}),
        ("make the email friendlier", {"tone": "friendly"}),
        ("use a more casual tone and shorten it", {"tone": "friendly", "length": "shorter"}),
        ("change the subject to Intro call and make it more formal", {"subject": "Intro call", "tone": "formal"}),
    ],
)
def test_edit_requests_change_the_last_draft(request_text: str, args: dict[str, str]) -> None:
    chat = _drafted()
    assert only_call(chat.say(request_text)) == ("edit_draft", {"message_id": 31, **args})


def test_an_explicit_message_number_wins_and_without_a_draft_it_asks_which() -> None:
    chat = _drafted()
    assert only_call(chat.say("make message #12 shorter")) == ("edit_draft", {"message_id": 12, "length": "shorter"})
    fresh = Conversation()
    question = fresh.say("make it more formal")
    assert not question.tool_calls and "Which draft should I change?" in str(question.content)
    assert only_call(fresh.say("#7")) == ("edit_draft", {"message_id": 7, "tone": "formal"})


def test_the_drafting_request_picks_the_template() -> None:
    chat = Conversation()
    _, args = only_call(chat.say("Draft a thank-you note for Dana Fox after today's call"))
    assert args["template"] == "recap"
    _, args = only_call(Conversation().say('Draft a follow-up email for "Acme - Proposal" about pricing'))
    assert args["template"] == "check_in"  # a word inside the record's name is no purpose
