"""Multi-turn behaviour of the offline model: clarifying questions answered on the next turn, "it"/"that deal"
resolved from the conversation, and "send it" bound to the draft made earlier."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.offline import OfflineChatModel
from tools.results import CreateLeadResult, DraftFollowUpResult, FindRecordsResult, RecordSummary
from tools.schemas import TOOL_ARGS

TODAY = date(2026, 11, 23)


class Conversation:
    """Drives the model turn by turn, playing the tools' part with canned results."""

    def __init__(self) -> None:
        self.model = OfflineChatModel(today=TODAY)
        self.messages: list[BaseMessage] = []

    def say(self, text: str) -> AIMessage:
        self.messages.append(HumanMessage(text))
        reply = self.model.respond(self.messages)
        self.messages.append(reply)
        for call in reply.tool_calls:
            TOOL_ARGS[call["name"]].model_validate(call["args"])
        return reply

    def tool_returns(self, result: Any) -> AIMessage:
        call = self.messages[-1].tool_calls[0]  # type: ignore[attr-defined]
        content = result.model_dump_json() if hasattr(result, "model_dump_json") else json.dumps(result)
        self.messages.append(ToolMessage(content, tool_call_id=call["id"], name=call["name"]))
        answer = self.model.respond(self.messages)
        self.messages.append(answer)
        return answer


def only_call(reply: AIMessage) -> tuple[str, dict[str, Any]]:
    assert len(reply.tool_calls) == 1, reply.content
    return reply.tool_calls[0]["name"], reply.tool_calls[0]["args"]


def test_missing_deal_is_asked_for_then_the_answer_completes_the_move() -> None:
    chat = Conversation()
    question = chat.say("move it to negotiation")
    assert not question.tool_calls
    assert question.content == "Which deal should I move to Negotiation?"
    assert only_call(chat.say("the Acme one")) == ("move_deal", {"deal_name": "Acme", "to_stage": "Negotiation"})


def test_missing_stage_is_asked_for_and_a_synonym_answers_it() -> None:
    chat = Conversation()
    question = chat.say("move the Globex deal")
    assert "Which stage should I move Globex to?" in str(question.content)
    assert only_call(chat.say("closed won")) == ("move_deal", {"deal_name": "Globex", "to_stage": "Won"})


def test_a_loss_without_a_reason_asks_why_and_records_the_answer() -> None:
    chat = Conversation()
    question = chat.say("mark Initech as lost")
    assert "Why did we lose Initech?" in str(question.content)
    name, args = only_call(chat.say("they picked a cheaper competitor"))
    assert (name, args["to_stage"], args["loss_reason"]) == ("move_deal", "Lost", "they picked a cheaper competitor")


def test_a_call_without_notes_asks_what_happened() -> None:
    chat = Conversation()
    question = chat.say("log a call with Acme")
    assert not question.tool_calls and "What happened on the call with Acme?" in str(question.content)
    name, args = only_call(chat.say("They want a 10% discount and a pilot in January"))
    assert name == "log_interaction"
    assert args == {
        "deal_name": "Acme",
        "channel": "call",
        "body": "They want a 10% discount and a pilot in January",
    }


def test_a_new_request_instead_of_an_answer_is_handled_as_a_new_request() -> None:
    chat = Conversation()
    chat.say("move it to negotiation")
    assert only_call(chat.say("what's the forecast for next quarter?")) == ("forecast", {"period": "next quarter"})


def test_cancelling_a_clarification_does_nothing() -> None:
    chat = Conversation()
    chat.say("score a lead")
    reply = chat.say("never mind")
    assert not reply.tool_calls


def test_it_refers_to_the_lead_just_created() -> None:
    chat = Conversation()
    name, _ = only_call(chat.say("Add this lead:\nJane Doe\nVP Sales, Acme Corp\njane@acme.example"))
    assert name == "create_lead"
    answer = chat.tool_returns(
        CreateLeadResult(receipt_id=345, lead_id=12, name="Jane Doe", company="Acme Corp", status="new", created=True)
    )
    assert "Created lead #12 Jane Doe (Acme Corp)" in str(answer.content) and "receipt #345" in str(answer.content)
    assert only_call(chat.say("what's her score?")) == ("score_lead", {"lead_id": 12})
    assert only_call(chat.say("ok qualify her for $40k")) == ("qualify_lead", {"lead_id": 12, "amount": 40000.0})


def test_send_it_sends_the_draft_made_in_this_conversation() -> None:
    chat = Conversation()
    assert only_call(chat.say("draft a follow-up to Acme about the proposal"))[0] == "draft_follow_up"
    chat.tool_returns(
        DraftFollowUpResult(
            receipt_id=50,
            message_id=31,
            to="buyer@acme.example",
            subject="Proposal",
            body="Hi, here is the proposal.",
            status="draft",
            record_type="deal",
            record_id=4,
        )
    )
    assert only_call(chat.say("looks good, send it")) == ("send_follow_up", {"message_id": 31})


def test_send_it_without_a_draft_asks_instead_of_sending() -> None:
    chat = Conversation()
    reply = chat.say("send it")
    assert not reply.tool_calls
    assert "no draft" in str(reply.content)
    # the answer to that question drafts; it never sends
    assert only_call(chat.say("Globex"))[0] == "draft_follow_up"


def test_an_ambiguous_it_after_a_list_asks_which_one_and_an_ordinal_answers() -> None:
    chat = Conversation()
    assert only_call(chat.say("show me my deals in proposal"))[0] == "find_records"
    chat.tool_returns(
        FindRecordsResult(
            entity="deal",
            total=2,
            records=[
                RecordSummary(id=4, type="deal", name="Acme renewal", stage="Proposal"),
                RecordSummary(id=9, type="deal", name="Globex expansion", stage="Proposal"),
            ],
        )
    )
    question = chat.say("move it to negotiation")
    assert not question.tool_calls
    assert "Acme renewal" in str(question.content) and "Globex expansion" in str(question.content)
    assert only_call(chat.say("the second one")) == ("move_deal", {"deal_id": 9, "to_stage": "Negotiation"})


def test_a_name_from_earlier_in_the_conversation_is_matched_case_insensitively() -> None:
    chat = Conversation()
    chat.say("find the Globex expansion deal")
    chat.tool_returns(
        FindRecordsResult(
            entity="deal",
            total=1,
            records=[RecordSummary(id=9, type="deal", name="Globex expansion", stage="Proposal")],
        )
    )
    assert only_call(chat.say("push globex expansion to negotiation")) == (
        "move_deal",
        {"deal_id": 9, "to_stage": "Negotiation"},
    )


def test_dates_follow_the_system_prompt_when_today_is_not_given() -> None:
    from langchain_core.messages import SystemMessage

    model = OfflineChatModel()
    reply = model.respond(
        [SystemMessage("You are salesgraph. Today is 2027-03-01."), HumanMessage("remind me tomorrow to call Bob")]
    )
    assert reply.tool_calls[0]["args"]["due_date"] == "2027-03-02"


def test_a_name_matching_several_deals_becomes_a_question_and_the_pick_is_used() -> None:
    chat = Conversation()
    assert only_call(chat.say("Move Marlow Resorts to Negotiation"))[0] == "move_deal"
    call = chat.messages[-1].tool_calls[0]  # type: ignore[attr-defined]
    chat.messages.append(
        ToolMessage(
            "invalid input: deal: 'Marlow Resorts' matches several: #507 Marlow Resorts - Lumen Enterprise "
            "(expansion); #380 Marlow Resorts - Data pack. Say which (by id).",
            tool_call_id=call["id"],
            name="move_deal",
            status="error",
        )
    )
    question = chat.model.respond(chat.messages)
    chat.messages.append(question)
    assert question.tool_calls == []
    assert str(question.content) == (
        "Which one do you mean: #507 Marlow Resorts - Lumen Enterprise (expansion); #380 Marlow Resorts - Data pack?"
    )
    assert only_call(chat.say("#380")) == ("move_deal", {"deal_id": 380, "to_stage": "Negotiation"})


def test_a_long_quoted_deal_name_given_as_an_answer_is_used_whole() -> None:
    chat = Conversation()
    chat.say("Move the deal to Negotiation")
    reply = chat.say('"Saltmarsh Broadcasting - Lumen Enterprise + Premium Support"')
    assert only_call(reply) == (
        "move_deal",
        {"deal_name": "Saltmarsh Broadcasting - Lumen Enterprise + Premium Support", "to_stage": "Negotiation"},
    )


def test_a_bare_pasted_signature_is_offered_as_a_lead_and_yes_creates_it() -> None:
    chat = Conversation()
    offer = chat.say("Jane Doe\nVP Sales, Acme Corp\njane@acme.example")
    assert offer.tool_calls == []
    assert str(offer.content) == "That looks like contact details for Jane Doe. Shall I add them as a new lead?"
    name, args = only_call(chat.say("yes please"))
    assert name == "create_lead"
    assert (args["name"], args["email"], args["company"]) == ("Jane Doe", "jane@acme.example", "Acme Corp")


def test_a_bare_pasted_signature_declined_creates_nothing() -> None:
    chat = Conversation()
    chat.say("Jane Doe\nVP Sales, Acme Corp\njane@acme.example")
    assert chat.say("no").tool_calls == []
