"""The Bolt app: a mention, a DM, ``/salesgraph`` or a reply in one of its threads becomes one agent turn in the
Slack thread; approval cards become decisions; the Home tab shows what waits for you; a message shortcut logs a
message to a deal.

Slack wants an answer within three seconds, so every listener acknowledges first and the turn runs afterwards
(a lazy listener, or the listener's own code after ``ack()``; ``process_before_response`` stays off); the
person sees an :eyes: reaction (or, for the slash command, a private "working on it") at once. The people
behind a request are found by email (users.info → the salesgraph user); Slack's text is handed to the agent as
the user's message, i.e. as data, and whatever we post back is escaped.

Several app processes may serve one workspace over one PostgreSQL database: an event is claimed in the store
before its turn runs (``store.slack_events``), so Slack's retry or the same event reaching a second process
runs once; a conversation runs one turn at a time across processes (``store.locks``); and an approval is
decided once (``sales.approvals`` locks the row).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.approval import ApprovalDecision
from agent.context import Context, approval_policy_from_env
from agent.turns import ConversationWaiting, TurnOutcome, decide, open_agent, run_turn
from bots.slack import SlackSigningSecretMissing, blocks
from bots.slack_web import web_client
from sales.approvals import (
    EDITABLE_ARGUMENTS,
    ApprovalClosed,
    DecisionResult,
    approver_emails,
    decide_approval,
    get_approval,
    may_decide,
)
from sales.errors import InvalidInput, SalesError
from sales.permissions import Actor, actor_for_user, load_actor, user_by_email, user_by_slack_id
from store.db import session_scope
from store.locks import advisory_lock
from store.models import Approval, ApprovalStatus, Channel, Direction, User
from store.slack_events import claim_slack_event

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from langchain_core.language_models import BaseChatModel

    from app.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SLASH_COMMAND = "/salesgraph"
WORKING_REACTION = "eyes"
SLASH_HELP = (
    "Ask salesgraph anything: `/salesgraph what's my pipeline by stage?`, `/salesgraph qualify Dana Fox for 20k`. "
    "The answer starts a thread here; reply in it without mentioning me. Your approvals, tasks and stalled deals "
    "are on my Home tab; to log a message to a deal, use its ⋯ menu → *Log this to a deal*."
)


def _ack(ack: Ack) -> None:
    ack()


@dataclass(frozen=True)
class SlackPerson:
    """A Slack user and the salesgraph user behind them; ``problem`` says why there is none."""

    slack_user_id: str
    email: str | None
    actor: Actor | None
    problem: str = ""


@dataclass(frozen=True)
class CardPlace:
    """Where an approval card sits: its channel, its own ts, and the thread it belongs to."""

    channel: str
    message_ts: str
    thread_ts: str

    @classmethod
    def from_click(cls, body: dict[str, Any]) -> CardPlace:
        """Where the click came from; a button on the Home tab has no channel (``on_home``)."""
        message = body.get("message") or {}
        container = body.get("container") or {}
        if container.get("type") == "view" or (body.get("view") or {}).get("type") == "home":
            return cls(channel="", message_ts="", thread_ts="")
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        ts = message.get("ts") or container.get("message_ts")
        return cls(channel=str(channel), message_ts=str(ts), thread_ts=str(message.get("thread_ts") or ts))

    @property
    def on_home(self) -> bool:
        return not self.channel

    def to_metadata(self) -> dict[str, Any]:
        return {"channel": self.channel, "message_ts": self.message_ts, "thread_ts": self.thread_ts}

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> CardPlace:
        return cls(channel=str(data["channel"]), message_ts=str(data["message_ts"]), thread_ts=str(data["thread_ts"]))


def conversation_id(team: str, channel: str, root_ts: str) -> str:
    """One Slack thread is one agent conversation (the checkpointer keeps it across restarts)."""
    return f"slack:{team}:{channel}:{root_ts}"


def thread_of(conversation: str | None) -> tuple[str, str] | None:
    """The (channel, thread ts) of a Slack conversation id, or None for a conversation from another front door."""
    parts = (conversation or "").split(":")
    if len(parts) != 4 or parts[0] != "slack" or not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3]


def _approval_summary(row: Approval) -> str:
    """A line of what an approval would do, from its arguments (long text such as an email body left out)."""
    args = dict(row.decided_arguments or row.arguments)
    parts = [
        f"{k.replace('_', ' ')}: {v}" for k, v in args.items() if k not in ("body", "note") and v not in (None, "")
    ]
    return " · ".join(parts[:5])


def _friendly(exc: SalesError) -> str:
    if isinstance(exc, InvalidInput):
        return "That did not work: " + "; ".join(f"{field}: {problem}" for field, problem in exc.problems.items())
    return str(exc)


class SlackFrontDoor:
    """The listeners, sharing the services, the chat model and one lock per conversation."""

    def __init__(self, services: Services, model: BaseChatModel, client: WebClient) -> None:
        self.services = services
        self.model = model
        self.client = client
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------------------

    @contextmanager
    def conversation(self, thread_id: str) -> Iterator[None]:
        """One turn at a time per conversation (two quick messages in a thread queue up, in order), in this
        process and, on PostgreSQL, across every app process sharing the database."""
        with self._locks_guard:
            lock = self._locks.setdefault(thread_id, threading.Lock())
        with lock, advisory_lock(self.services.engine, f"conversation:{thread_id}"):
            yield

    def context_for(self, actor: Actor) -> Context:
        return Context(actor=actor, services=self.services)

    def person(self, slack_user_id: str) -> SlackPerson:
        """The salesgraph user linked to this Slack user id by an admin (``users add --slack-id``), else the one
        with the Slack user's email (users.info → profile.email)."""
        with session_scope(self.services.engine, read_only=True) as s:
            linked = user_by_slack_id(s, slack_user_id)
            if linked is not None:
                if not linked.active:
                    return SlackPerson(
                        slack_user_id,
                        linked.email,
                        None,
                        f"Your salesgraph account ({linked.email}) is deactivated; nothing was done.",
                    )
                return SlackPerson(slack_user_id, linked.email, actor_for_user(s, linked))
        try:
            profile = (self.client.users_info(user=slack_user_id).get("user") or {}).get("profile") or {}
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "unknown"
            log.warning("users.info failed for %s: %s", slack_user_id, error)
            return SlackPerson(
                slack_user_id, None, None, f"I could not look up your Slack profile ({error}); nothing was done."
            )
        email = str(profile.get("email") or "").strip()
        if not email:
            return SlackPerson(
                slack_user_id,
                None,
                None,
                "Slack did not share your email address with salesgraph (the app needs the users:read.email scope), "
                "so I cannot tell which salesgraph user you are; nothing was done.",
            )
        with session_scope(self.services.engine, read_only=True) as s:
            user = user_by_email(s, email)
            if user is None:
                return SlackPerson(
                    slack_user_id,
                    email,
                    None,
                    f"Your Slack account ({email}) is not linked to a salesgraph user, so I did nothing. "
                    f'Ask a salesgraph admin to add you: salesgraph users add --name "Your Name" --email {email}',
                )
            if not user.active:
                return SlackPerson(
                    slack_user_id, email, None, f"Your salesgraph account ({email}) is deactivated; nothing was done."
                )
            return SlackPerson(slack_user_id, email, actor_for_user(s, user))

    def say(self, channel: str, thread_ts: str, text: str) -> None:
        """An answer in the thread, as Block Kit (tables as fields), with the plain text for notifications."""
        self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=blocks.escape(text)[:3000], blocks=blocks.answer_blocks(text)
        )

    def react(self, channel: str, ts: str, *, on: bool) -> None:
        """The "working on it" reaction on the person's message (added at once, taken off with the answer)."""
        try:
            if on:
                self.client.reactions_add(channel=channel, timestamp=ts, name=WORKING_REACTION)
            else:
                self.client.reactions_remove(channel=channel, timestamp=ts, name=WORKING_REACTION)
        except SlackApiError as exc:  # a missing reaction is no reason to drop the answer
            error = exc.response.get("error") if exc.response is not None else "unknown"
            log.warning("could not %s the working reaction in %s: %s", "add" if on else "remove", channel, error)

    def whisper(self, channel: str, user: str, thread_ts: str | None, text: str) -> None:
        """A message only ``user`` sees (refusals, problems with a click)."""
        self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=blocks.escape(text))

    def tell(self, place: CardPlace, user: str, text: str) -> None:
        """A private note about a click: beside the card, or, for a click on the Home tab, in the app's DM."""
        if place.on_home:
            self.client.chat_postMessage(channel=user, text=blocks.escape(text), blocks=blocks.answer_blocks(text))
        else:
            self.whisper(place.channel, user, place.thread_ts, text)

    def refresh_home(self, place: CardPlace, slack_user: str) -> None:
        """After a decision taken on the Home tab, show the tab without it."""
        if place.on_home:
            self.home_opened({"user": slack_user, "tab": "home"})

    def mention_for(self, email: str) -> str:
        slack_id = self.slack_id_for(email)
        return f"<@{slack_id}>" if slack_id else blocks.escape(email)

    def post_card(self, channel: str, thread_ts: str, request: dict[str, Any]) -> None:
        """The approval card in the asker's thread; when that thread is a direct message, which nobody else can
        see, a copy goes to each approver's own direct message (its buttons work the same)."""
        approvers = [str(e) for e in request.get("approvers") or []]
        slack_ids = {email: self.slack_id_for(email) for email in approvers}
        mentions = [f"<@{slack_ids[e]}>" if slack_ids[e] else blocks.escape(e) for e in approvers]
        card = blocks.approval_card(request, mentions, admins_decide=approval_policy_from_env().admins_decide)
        fallback = blocks.card_fallback(request)
        self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=fallback, blocks=card)
        if not channel.startswith("D"):
            return  # in a channel the card mentions the approvers, which notifies them
        asker = str(request.get("requested_by") or "").lower()
        for email in approvers:
            if email.lower() == asker:
                continue
            slack_id = slack_ids[email]
            if slack_id is None:
                log.info("approval #%s: no Slack account found for approver %s", request.get("approval_id"), email)
                continue
            try:
                dm = self.client.conversations_open(users=slack_id)["channel"]["id"]
                self.client.chat_postMessage(channel=dm, text=fallback, blocks=card)
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else "unknown"
                log.warning("approval #%s: could not message approver %s: %s", request.get("approval_id"), email, error)

    def slack_id_for(self, email: str) -> str | None:
        """The Slack user id of a salesgraph user: the admin-set link, else Slack's lookup by email."""
        with session_scope(self.services.engine, read_only=True) as s:
            user = user_by_email(s, email)
            if user is not None and user.slack_user_id:
                return user.slack_user_id
        try:
            return str(self.client.users_lookupByEmail(email=email)["user"]["id"])
        except SlackApiError:
            return None

    def post_outcome(self, channel: str, thread_ts: str, outcome: TurnOutcome) -> None:
        if outcome.answer:
            self.say(channel, thread_ts, outcome.answer)
        for request in outcome.interrupts:
            self.post_card(channel, thread_ts, request)
        if not outcome.answer and not outcome.interrupts:
            self.say(channel, thread_ts, "I have nothing to add to that.")

    def approval(self, approval_id: int) -> Approval:
        with session_scope(self.services.engine, read_only=True) as s:
            return get_approval(s, approval_id)

    # -- messages ------------------------------------------------------------------------------------------

    def claim(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        """Take the event for this process, once across processes and restarts (a row in the store keyed by
        ``event_id`` and the message's ``client_msg_id``). False: Slack's redelivery, the same message already
        taken as another event (a mention in a thread arrives as ``app_mention`` and as ``message``), or another
        process took it; nothing runs."""
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return True  # nothing to key on (not an Events API delivery)
        if claim_slack_event(
            self.services.engine,
            event_id,
            client_msg_id=str(event.get("client_msg_id") or "") or None,
            kind=str(event.get("type") or ""),
        ):
            return True
        log.info("dropped event %s: already taken (Slack's redelivery, or another app process took it)", event_id)
        return False

    @staticmethod
    def _from_a_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
        """A person's new message: not a bot's (ours included), not an edit, a deletion or another subtype."""
        if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
            return False
        user = event.get("user")
        return bool(user) and user != bot_user_id

    def _our_thread(self, team: str, event: dict[str, Any], bot_user_id: str | None) -> bool:
        """A channel message we answer without a mention: a reply in a thread that is already a conversation
        with the assistant (one mention started it). A reply that mentions us comes as ``app_mention`` too."""
        root = event.get("thread_ts")
        if not root or root == event.get("ts"):
            return False
        if bot_user_id and f"<@{bot_user_id}>" in str(event.get("text") or ""):
            return False
        from agent.checkpoint import conversation_exists

        return conversation_exists(self.services.settings, conversation_id(team, str(event["channel"]), str(root)))

    def answer_message(self, body: dict[str, Any], context: BoltContext) -> None:
        """Lazy listener for ``app_mention``, direct messages and replies in our threads: one turn, answered in
        the thread."""
        event = body.get("event") or {}
        if not self._from_a_person(event, context.bot_user_id):
            return
        channel, root = str(event["channel"]), str(event.get("thread_ts") or event["ts"])
        team = str(body.get("team_id") or event.get("team") or context.team_id or "")
        if (
            event.get("type") == "message"
            and event.get("channel_type") != "im"
            and not self._our_thread(team, event, context.bot_user_id)
        ):
            return  # in channels we answer mentions, and replies in threads we are part of
        if not self.claim(body, event):
            return
        text = blocks.plain_text_from_slack(str(event.get("text") or ""), context.bot_user_id)
        self.react(channel, str(event["ts"]), on=True)
        try:
            self.turn(str(event["user"]), channel, root, conversation_id(team, channel, root), text)
        finally:
            self.react(channel, str(event["ts"]), on=False)

    def turn(self, slack_user: str, channel: str, root: str, thread_id: str, text: str) -> None:
        """Run one turn for the Slack user in the conversation and post what came of it in the thread."""
        person = self.person(slack_user)
        if person.actor is None:
            self.say(channel, root, person.problem)
            return
        if not text:
            self.say(channel, root, 'Ask me something, e.g. "what\'s my pipeline by stage?"')
            return
        log.info("slack turn in %s for %s", thread_id, person.actor.email)
        with self.conversation(thread_id):
            try:
                with open_agent(self.services, self.model) as graph:
                    outcome = run_turn(graph, self.context_for(person.actor), thread_id, text=text)
            except ConversationWaiting:
                self.say(
                    channel,
                    root,
                    "This thread is waiting for a decision on the approval card above; it carries on once someone "
                    "decides. Start a new thread (or message me directly) for something else.",
                )
                return
            except SalesError as exc:
                self.say(channel, root, _friendly(exc))
                return
            except Exception:
                log.exception("slack turn in %s failed", thread_id)
                self.say(channel, root, "Something went wrong on salesgraph's side; the details are in its log.")
                return
        self.post_outcome(channel, root, outcome)

    # -- the slash command ---------------------------------------------------------------------------------

    def slash_ack(self, ack: Ack, command: dict[str, Any]) -> None:
        """Acknowledge ``/salesgraph`` at once with a private line: help for an empty command, else "working"."""
        text = str(command.get("text") or "").strip()
        if not text or text.lower() in ("help", "?"):
            ack(text=SLASH_HELP, response_type="ephemeral")
        else:
            ack(text=f"Working on it: {blocks.escape(text)[:200]}", response_type="ephemeral")

    def slash_command(self, command: dict[str, Any], context: BoltContext) -> None:
        """Lazy listener for ``/salesgraph <question>``: the question opens a thread in the channel (so the
        conversation carries on there, without mentions) and the answer follows in it. Where the app may not
        post (a channel it was not added to) the answer comes back privately through the command's
        response_url."""
        text = blocks.plain_text_from_slack(str(command.get("text") or ""), context.bot_user_id)
        if not text or text.lower() in ("help", "?"):
            return
        user, channel = str(command["user_id"]), str(command["channel_id"])
        team = str(command.get("team_id") or context.team_id or "")
        try:
            posted = self.client.chat_postMessage(
                channel=channel,
                text=f"<@{user}> asked: {blocks.escape(text)[:2900]}",
                blocks=[{"type": "section", "text": blocks.mrkdwn(f"<@{user}> asked: {blocks.escape(text)}")}],
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "unknown"
            log.info("/salesgraph: cannot post in %s (%s); answering privately", channel, error)
            self.private_answer(command, user, text)
            return
        root = str(posted["ts"])
        self.turn(user, str(posted.get("channel") or channel), root, conversation_id(team, channel, root), text)

    def private_answer(self, command: dict[str, Any], user: str, text: str) -> None:
        from slack_sdk.webhook import WebhookClient

        person = self.person(user)
        if person.actor is None:
            answer = person.problem
        else:
            thread_id = f"slack:{command.get('team_id') or ''}:{command['channel_id']}:cmd-{command.get('trigger_id')}"
            try:
                with self.conversation(thread_id), open_agent(self.services, self.model) as graph:
                    outcome = run_turn(graph, self.context_for(person.actor), thread_id, text=text)
                answer = outcome.answer or (
                    "That needs an approval; add me to this channel (or ask in a direct message) to get the card."
                    if outcome.interrupts
                    else "I have nothing to add to that."
                )
            except SalesError as exc:
                answer = _friendly(exc)
        WebhookClient(str(command["response_url"])).send(
            text=blocks.escape(answer)[:3000], blocks=blocks.answer_blocks(answer), response_type="ephemeral"
        )

    # -- the Home tab --------------------------------------------------------------------------------------

    def home_opened(self, event: dict[str, Any]) -> None:
        """Lazy listener for ``app_home_opened``: publish this person's Home tab from the store."""
        if event.get("tab") not in (None, "home"):
            return
        slack_user = str(event["user"])
        person = self.person(slack_user)
        if person.actor is None:
            self.client.views_publish(user_id=slack_user, view=blocks.home_problem_view(person.problem))
            return
        self.client.views_publish(user_id=slack_user, view=self.home_for(person.actor))

    def home_for(self, actor: Actor) -> dict[str, Any]:
        from sales.approvals import list_approvals
        from sales.deals import list_stalled_deals
        from sales.tasks import list_tasks
        from store.models import Deal, Lead
        from store.types import utcnow

        policy = approval_policy_from_env()
        today = utcnow().date()
        with session_scope(self.services.engine, read_only=True) as s:
            me = s.get(User, actor.user_id) if actor.user_id is not None else None
            waiting = [
                {
                    "id": a.id,
                    "action": a.action,
                    "arguments": a.arguments,
                    "summary": _approval_summary(a),
                    "requested_by": (u.email if (u := s.get(User, a.requested_by_id)) else None)
                    if a.requested_by_id
                    else None,
                    "expires_at": a.expires_at,
                    "editable": bool(EDITABLE_ARGUMENTS.get(a.action)),
                }
                for a in list_approvals(s, actor)
                if may_decide(actor, a, policy) and a.expires_at > utcnow()
            ]
            tasks = []
            owner = [actor.user_id] if actor.user_id is not None else None
            for t in list_tasks(s, actor, owner_ids=owner, due_before=today + timedelta(days=1), limit=50):
                about = None
                if t.deal_id and (deal := s.get(Deal, t.deal_id)) is not None:
                    about = f"deal #{deal.id} {deal.name}"
                elif t.lead_id and (lead := s.get(Lead, t.lead_id)) is not None:
                    about = f"lead #{lead.id} {lead.name}"
                overdue = t.due_date is not None and t.due_date < today
                tasks.append({"id": t.id, "title": t.title, "due_date": t.due_date, "overdue": overdue, "about": about})
            mine_only = actor.role == "rep"
            stalled = []
            for d in list_stalled_deals(s, actor):
                if mine_only and d.owner_id != actor.user_id:
                    continue
                owner_user = s.get(User, d.owner_id) if not mine_only and d.owner_id is not None else None
                stalled.append(
                    {"id": d.deal_id, "name": d.name, "stage": d.stage, "reason": d.reason,
                     "owner": owner_user.name if owner_user is not None else None}
                )  # fmt: skip
        return blocks.home_view(
            me.name if me is not None else actor.email,
            waiting,
            tasks,
            stalled,
            stalled_title="My stalled deals" if mine_only else "Stalled deals I can see",
        )

    # -- "log this to a deal" ------------------------------------------------------------------------------

    def log_shortcut(self, ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        """The message shortcut: open a modal to pick the deal (the trigger id lasts three seconds, so this
        runs before anything slow)."""
        ack()
        from sales.deals import list_deals

        slack_user = str(shortcut["user"]["id"])
        message = shortcut.get("message") or {}
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        person = self.person(slack_user)
        if person.actor is None:
            self.whisper(channel, slack_user, message.get("thread_ts"), person.problem)
            return
        with session_scope(self.services.engine, read_only=True) as s:
            deals = [(d.id, d.name) for d in list_deals(s, person.actor, status="open", limit=100) if d.id is not None]
        if not deals:
            self.whisper(channel, slack_user, message.get("thread_ts"), "You have no open deals to log this to.")
            return
        author = str(message.get("user") or "")
        meta = {"channel": channel, "message_ts": str(message.get("ts") or ""), "author": author,
                "thread_ts": str(message.get("thread_ts") or "")}  # fmt: skip
        text = blocks.plain_text_from_slack(str(message.get("text") or ""), None)
        client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=blocks.log_modal(deals, text, f"<@{author}>" if author else "the message", meta),
        )

    def log_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The modal was submitted: log the text as a Slack interaction on the deal (a receipt), close the
        modal, and tell the person privately in the conversation, with the receipt."""
        from sales.interactions import InteractionInput, log_interaction
        from store.models import Deal

        meta = json.loads(view.get("private_metadata") or "{}")
        person = self.person(str(body["user"]["id"]))
        if person.actor is None:
            ack(response_action="errors", errors={blocks.LOG_DEAL_BLOCK: person.problem[:300]})
            return
        chosen = blocks.selected_value(view, blocks.LOG_DEAL_BLOCK)
        text = blocks.selected_value(view, blocks.LOG_TEXT_BLOCK).strip()
        if not chosen.isdigit():
            ack(response_action="errors", errors={blocks.LOG_DEAL_BLOCK: "pick the deal to log this to"})
            return
        if not text:
            ack(response_action="errors", errors={blocks.LOG_TEXT_BLOCK: "there is nothing to log"})
            return
        author = meta.get("author") or ""
        subject = f"Slack message in {meta.get('channel') or 'Slack'}" + (f" from {author}" if author else "")
        try:
            with session_scope(self.services.engine) as s:
                interaction, receipt = log_interaction(
                    s,
                    person.actor,
                    InteractionInput(
                        deal_id=int(chosen), channel=Channel.SLACK, direction=Direction.INTERNAL,
                        subject=subject, body=text,
                    ),
                )  # fmt: skip
                deal = s.get(Deal, int(chosen))
                deal_name = f"deal #{chosen} {deal.name}" if deal is not None else f"deal #{chosen}"
        except SalesError as exc:
            ack(response_action="errors", errors={blocks.LOG_DEAL_BLOCK: _friendly(exc)[:300]})
            return
        ack()
        user = str(body["user"]["id"])
        told = f"Logged to {deal_name} as interaction #{interaction.id} (receipt #{receipt})."
        channel = str(meta.get("channel") or "")
        try:
            if not channel:
                raise SlackApiError("no channel to answer in", None)  # type: ignore[no-untyped-call]
            self.whisper(channel, user, meta.get("thread_ts") or None, told)
        except SlackApiError:  # a conversation the app is not in (someone else's DM): the app's own DM instead
            self.client.chat_postMessage(channel=user, text=blocks.escape(told))

    # -- approvals ------------------------------------------------------------------------------------------

    @contextmanager
    def decided_once(self, approval_id: int) -> Iterator[None]:
        """Hold the conversation waiting on the approval while a decision is recorded and the thread resumed, so
        a second click (in this process or another) waits, then finds the approval decided and nothing waiting."""
        try:
            thread = self.approval(approval_id).thread_id
        except SalesError:
            thread = None  # recording refuses it with the reason
        with self.conversation(thread or f"approval:{approval_id}"):
            yield

    def record(self, approval_id: int, decision: ApprovalDecision) -> DecisionResult:
        """Record the decision in the approvals table (the domain refuses anyone who may not decide)."""
        with session_scope(self.services.engine) as s:
            decider = load_actor(s, decision.decided_by)
            return decide_approval(
                s,
                decider,
                approval_id,
                decision.decision,
                arguments=decision.arguments,
                reason=decision.reason,
                policy=approval_policy_from_env(),
            )

    def resume(
        self, place: CardPlace, approval_id: int, decision: ApprovalDecision, recorded: DecisionResult | None
    ) -> bool:
        """Resume the conversation waiting on the approval, update the card and post the follow-up.

        ``recorded`` is None for a repeat click: then the conversation resumes only if it still waits (a crash
        between recording and resuming); False means nothing was waiting and nothing changed.

        The caller holds the conversation (``decided_once``), so of two processes clicking at once only the one
        that recorded the decision resumes; the other finds nothing waiting.
        """
        failure = ""
        try:
            with open_agent(self.services, self.model) as graph:
                outcome = decide(graph, self.services, approval_id, decision, context_factory=self.context_for)
            turn = outcome.turn
        except ApprovalClosed:
            if recorded is None:
                return False
            turn = None  # recorded just now, and no conversation waits on it
        except Exception as exc:
            # The decision is stored; say on the card that the conversation did not carry on.
            log.exception("resuming the conversation waiting on approval #%s failed", approval_id)
            turn = None
            failure = _friendly(exc) if isinstance(exc, SalesError) else "see salesgraph's log"
        row = self.approval(approval_id)
        outcome_text = self._outcome(row, recorded, turn)
        if failure:
            outcome_text += f" · the conversation could not carry on: {blocks.escape(failure)}"
        if not place.on_home:
            self.client.chat_update(
                channel=place.channel,
                ts=place.message_ts,
                text=blocks.escape(f"approval #{approval_id} {row.status}"),
                blocks=blocks.decided_card(row.action, approval_id, self._arguments(row), outcome_text),
            )
        # The follow-up belongs in the conversation's own thread, wherever the card was clicked (an approver's DM,
        # the Home tab); a decision on the Home tab also says, in the thread, who decided it and the receipts.
        where = thread_of(row.thread_id)
        channel, thread_ts = where or (place.channel, place.thread_ts)
        if place.on_home and where is not None:
            self.say(channel, thread_ts, f"Approval #{approval_id}, decided on the Home tab: {outcome_text}")
        if not channel:
            return True  # decided on the Home tab, for a conversation outside Slack
        if turn is not None:
            self.post_outcome(channel, thread_ts, turn)
        elif (channel, thread_ts) != (place.channel, place.thread_ts) and not place.on_home:
            self.say(channel, thread_ts, f"Approval #{approval_id}: {row.status}.")
        return True

    @staticmethod
    def _arguments(row: Approval) -> dict[str, Any]:
        return dict(row.decided_arguments or row.arguments)

    def _outcome(self, row: Approval, recorded: DecisionResult | None, turn: TurnOutcome | None) -> str:
        with session_scope(self.services.engine, read_only=True) as s:
            decider = s.get(User, row.decided_by_id) if row.decided_by_id else None
        who = blocks.escape(decider.email) if decider else "the system"
        if row.status == ApprovalStatus.EXPIRED:
            text = f":hourglass: *Expired* before anyone decided; nothing was done. ({blocks.escape(row.reason or '')})"
        elif row.status == ApprovalStatus.REJECTED:
            text = f":no_entry: *Rejected* by {who}: {blocks.escape(row.reason or '')}"
        else:
            verb = "Approved with edits" if row.decision == "edit" else "Approved"
            text = f":white_check_mark: *{verb}* by {who}"
        if recorded is not None:
            text += f" · decision receipt #{recorded.receipt_id}"
        for call in turn.tool_calls if turn is not None else []:
            if call.name == row.action:
                receipt = (call.result or {}).get("receipt_id")
                if receipt:
                    text += f" · {row.action} receipt #{receipt}"
                elif call.error:
                    text += f" · {row.action} failed: {blocks.escape(call.error[:300])}"
        return text

    def click(self, body: dict[str, Any]) -> tuple[str, int, CardPlace, str, Actor] | None:
        """A card button's (choice, approval id, card, Slack user, salesgraph actor); None after telling a clicker
        without a salesgraph account why nothing happened."""
        choice, approval_id = blocks.parse_action_id(str(body["actions"][0]["action_id"]))
        place = CardPlace.from_click(body)
        clicker = str(body["user"]["id"])
        person = self.person(clicker)
        if person.actor is None:
            self.tell(place, clicker, person.problem)
            return None
        return choice, approval_id, place, clicker, person.actor

    def approve_clicked(self, body: dict[str, Any]) -> None:
        """Lazy listener for the Approve button."""
        click = self.click(body)
        if click is None:
            return
        _, approval_id, place, clicker, actor = click
        decision = ApprovalDecision(decision="approve", decided_by=actor.email)
        closed = f"approval #{approval_id} is already decided; nothing changed"
        with self.decided_once(approval_id):
            try:
                recorded: DecisionResult | None = self.record(approval_id, decision)
            except ApprovalClosed as exc:
                recorded = None
                closed = str(exc)
            except SalesError as exc:
                self.tell(place, clicker, _friendly(exc))
                return
            resumed = self.resume(place, approval_id, decision, recorded)
        if not resumed:
            self.tell(place, clicker, closed)
        self.refresh_home(place, clicker)

    def refusal(self, actor: Actor, row: Approval) -> str | None:
        """Why ``actor`` may not decide ``row`` now (None: they may), checked before a modal opens."""
        if row.status != ApprovalStatus.PENDING:
            return f"approval #{row.id} is already {row.status}; nothing changed"
        if not may_decide(actor, row, approval_policy_from_env()):
            with session_scope(self.services.engine, read_only=True) as s:
                allowed = ", ".join(approver_emails(s, row)) or "an admin"
            return f"{actor.email} may not decide approval #{row.id} ({row.action}); it stays pending for {allowed}"
        return None

    def edit_or_reject_clicked(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Edit and Reject open a modal; the trigger id lasts three seconds, so this is not a lazy listener."""
        ack()
        click = self.click(body)
        if click is None:
            return
        choice, approval_id, place, clicker, actor = click
        try:
            row = self.approval(approval_id)
        except SalesError as exc:
            self.tell(place, clicker, _friendly(exc))
            return
        problem = self.refusal(actor, row)
        if problem is not None:
            self.tell(place, clicker, problem)
            return
        if choice == blocks.REJECT:
            view = blocks.reject_modal(approval_id, row.action, place.to_metadata())
        else:
            editable = sorted(EDITABLE_ARGUMENTS.get(row.action, ()))
            view = blocks.edit_modal(approval_id, row.action, row.arguments, editable, place.to_metadata())
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def decision_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The edit or reject modal was submitted: record the decision (or answer with field errors, keeping
        the modal open), close the modal, then resume the conversation."""
        meta = json.loads(view.get("private_metadata") or "{}")
        approval_id = int(meta["approval_id"])
        place = CardPlace.from_metadata(meta)
        rejecting = view.get("callback_id") == blocks.REJECT_CALLBACK
        editable = [str(n) for n in meta.get("editable") or []]
        field_blocks = {n: blocks.ARGUMENT_BLOCK_PREFIX + n for n in editable}
        first_block = blocks.REASON_BLOCK if rejecting else next(iter(field_blocks.values()), blocks.REASON_BLOCK)

        def refuse(errors: dict[str, str]) -> None:
            ack(response_action="errors", errors={k: v[:300] for k, v in errors.items()})

        person = self.person(str(body["user"]["id"]))
        if person.actor is None:
            refuse({first_block: person.problem})
            return
        values = blocks.submitted_values(view)
        if rejecting:
            reason = values.get(blocks.REASON_BLOCK, "").strip()
            if not reason:
                refuse({blocks.REASON_BLOCK: "say why; the assistant tells the requester"})
                return
            decision = ApprovalDecision(decision="reject", decided_by=person.actor.email, reason=reason)
        else:
            try:
                current = self.approval(approval_id).arguments
            except SalesError as exc:
                refuse({first_block: _friendly(exc)})
                return
            changes, errors = blocks.edited_arguments(values, current, editable)
            if errors:
                refuse(errors)
                return
            if not changes:
                refuse({first_block: "nothing was changed; use Approve on the card to approve it as it stands"})
                return
            decision = ApprovalDecision(decision="edit", decided_by=person.actor.email, arguments=changes)
        with self.decided_once(approval_id):
            try:
                recorded = self.record(approval_id, decision)
            except InvalidInput as exc:
                refuse({field_blocks.get(f, first_block): problem for f, problem in exc.problems.items()})
                return
            except SalesError as exc:
                refuse({first_block: _friendly(exc)})
                return
            ack()
            self.resume(place, approval_id, decision, recorded)
        self.refresh_home(place, str(body["user"]["id"]))


def build_slack_app(
    services: Services,
    model: BaseChatModel | str | None = None,
    client: WebClient | None = None,
    *,
    socket_mode: bool = False,
) -> App:
    """The Bolt app over ``services``: its Web API client from settings (``bots.slack_web``) unless given, the
    chat model resolved once (``model`` or ``SALESGRAPH_MODEL``). HTTP mode verifies Slack's request signature
    with ``SALESGRAPH_SLACK_SIGNING_SECRET``; Socket Mode (an authenticated WebSocket) needs no secret."""
    from agent.models import resolve_model

    settings = services.settings
    secret = settings.slack_signing_secret.get_secret_value().strip() if settings.slack_signing_secret else ""
    if not socket_mode and not secret:
        raise SlackSigningSecretMissing(
            "Slack is not fully configured: set SALESGRAPH_SLACK_SIGNING_SECRET to the app's signing secret "
            "(Basic Information → App Credentials), or run with --socket and SALESGRAPH_SLACK_APP_TOKEN"
        )
    chat_model = model if model is not None and not isinstance(model, str) else resolve_model(model, settings)
    client = client or web_client(settings)
    door = SlackFrontDoor(services, chat_model, client)
    app = App(
        name="salesgraph",
        client=client,
        signing_secret=secret or None,
        request_verification_enabled=not socket_mode,
        process_before_response=False,
        logger=logging.getLogger("salesgraph.slack.bolt"),
    )
    app.event("app_mention")(ack=_ack, lazy=[door.answer_message])
    app.event("message")(ack=_ack, lazy=[door.answer_message])
    app.event("app_home_opened")(ack=_ack, lazy=[door.home_opened])
    app.command(SLASH_COMMAND)(ack=door.slash_ack, lazy=[door.slash_command])
    app.shortcut(blocks.SHORTCUT_CALLBACK)(door.log_shortcut)
    app.view(blocks.LOG_CALLBACK)(door.log_submitted)
    app.action(re.compile(r"^approval:approve:\d+$"))(ack=_ack, lazy=[door.approve_clicked])
    app.action(re.compile(r"^approval:(edit|reject):\d+$"))(door.edit_or_reject_clicked)
    app.view(blocks.EDIT_CALLBACK)(door.decision_submitted)
    app.view(blocks.REJECT_CALLBACK)(door.decision_submitted)
    return app


def http_server(app: App, host: str = "127.0.0.1", port: int = 3000) -> WSGIServer:
    """A threaded WSGI server answering Slack at ``/slack/events`` (Bolt's WSGI adapter); ``port=0`` picks one.

    Bolt's own development server always binds every interface; this one binds ``host`` only.
    """
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    class ThreadingServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # socketserver's default backlog is 5: a burst of Slack events (a busy channel, a retry storm) had
        # connections reset before they were accepted, which Slack counts as unacknowledged and retries.
        request_queue_size = 512

    class LoggingHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s " + format, self.address_string(), *args)

    return make_server(
        host,
        port,
        SlackRequestHandler(app, path=EVENTS_PATH),
        server_class=ThreadingServer,
        handler_class=LoggingHandler,
    )
