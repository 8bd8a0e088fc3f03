"""Follow-up emails from the templates in ``prompts/follow_up/``, and edits of a draft's tone and length.

A draft is one of four kinds (recap, check-in, proposal nudge, meeting request), chosen from the request's words
(default: check-in), and filled from the record: the contact's first name, the last conversation with them (its
channel and date; for an email, its subject line, cleaned and quoted) and the purpose the user gave, turned into a
sentence that reads right whether it starts with a verb ("book a demo") or not ("the revised proposal"). Customer
text only ever fills a short, quoted slot: it is never followed, and an interaction's body is never copied in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlmodel import Session, col, select

from store.models import Interaction
from tools.schemas import FollowUpKind

Tone = Literal["formal", "friendly"]
KINDS: tuple[FollowUpKind, ...] = ("check_in", "recap", "proposal_nudge", "meeting_request")

# Which words pick which kind; the first kind with a match wins, so a "thank-you note after the call" is a recap.
_KIND_CUES: tuple[tuple[FollowUpKind, re.Pattern[str]], ...] = (
    (
        "recap",
        re.compile(
            r"\b(recap|summary|summari[sz]e|wrap-up|thank(?:s|-you| you)?|notes from|after (?:the|our|today's|"
            r"yesterday's|this morning's) (?:call|meeting|demo|chat|conversation))\b",
            re.I,
        ),
    ),
    (
        "proposal_nudge",
        re.compile(
            r"\b(proposals?|quotes?|quotation|contracts?|redlines?|order form|paperwork|terms|sign(?:ed|ing)?)\b", re.I
        ),
    ),
    (
        "meeting_request",
        re.compile(
            r"\b(book|schedule|set up|arrange|find a time|meeting|meet|demo|call|intro|introduction|workshop|"
            r"walkthrough|invite)\b",
            re.I,
        ),
    ),
)

# Purposes that start with one of these read "I'm writing to <purpose>"; anything else "I'm writing about <purpose>".
_ACTION_VERBS = frozenset(
    [
        "agree",
        "answer",
        "apologise",
        "apologize",
        "arrange",
        "ask",
        "book",
        "catch",
        "chase",
        "check",
        "circle",
        "clarify",
        "close",
        "confirm",
        "congratulate",
        "continue",
        "discuss",
        "explain",
        "finalise",
        "finalize",
        "find",
        "finish",
        "follow",
        "get",
        "give",
        "go",
        "introduce",
        "invite",
        "kick",
        "let",
        "loop",
        "make",
        "move",
        "nudge",
        "offer",
        "plan",
        "prepare",
        "present",
        "propose",
        "reconnect",
        "remind",
        "renew",
        "request",
        "reschedule",
        "resume",
        "review",
        "schedule",
        "see",
        "send",
        "set",
        "settle",
        "share",
        "show",
        "sign",
        "start",
        "suggest",
        "talk",
        "thank",
        "touch",
        "update",
        "walk",
        "welcome",
    ]
)
_PRONOUNS = (
    (re.compile(r"\b(they|them|him|themselves)\b", re.I), "you"),
    (re.compile(r"\b(their|his)\b", re.I), "your"),
    (
        re.compile(
            r"\bher\b(?=\s+(?:the|a|an|this|that|our|some|about|on|for|to|with|when|if|and|know)\b|\s*[.,!?]|\s*$)",
            re.I,
        ),
        "you",
    ),
    (re.compile(r"\bher\b", re.I), "your"),
)
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv)\s*:\s*)+", re.I)
_INTERNAL_SUBJECT = re.compile(r"^\s*(call|meeting|internal)?\s*notes?\b", re.I)
TOPIC_CHARS = 60


@dataclass(frozen=True)
class LastTouch:
    channel: str  # call, meeting or email
    direction: str  # inbound, outbound
    when: date
    topic: str | None  # an email's subject line, cleaned and cut short


def choose_kind(*texts: str | None) -> FollowUpKind:
    """The kind of follow-up the words ask for; a check-in when none fits."""
    words = " ".join(t for t in texts if t)
    for kind, pattern in _KIND_CUES:
        if pattern.search(words):
            return kind
    return "check_in"


def short_topic(text: str | None, limit: int = TOPIC_CHARS) -> str | None:
    """Customer text as a short, inert phrase: one line, no markup or template braces, cut at a word."""
    if not text:
        return None
    cleaned = _REPLY_PREFIX.sub("", text)
    cleaned = re.sub(r"[{}<>\[\]`|\\*_#“”\"]", " ", cleaned)
    cleaned = re.sub(r"https?://\S+", " ", cleaned)
    cleaned = " ".join(cleaned.split()).strip(" .,:;-")
    if not cleaned:
        return None
    if len(cleaned) > limit:
        cleaned = cleaned[:limit].rsplit(" ", 1)[0].rstrip(" .,:;-") + "…"
    return cleaned


def last_touch(session: Session, *, deal_id: int | None, lead_id: int | None) -> LastTouch | None:
    """The latest conversation with the customer on this record: a call, a meeting or an email (never an internal
    note or Slack message, which are not theirs to read)."""
    if deal_id is None and lead_id is None:
        return None
    stmt = select(Interaction).where(
        col(Interaction.channel).in_(("call", "meeting", "email")), Interaction.direction != "internal"
    )
    stmt = (
        stmt.where(Interaction.deal_id == deal_id)
        if deal_id is not None
        else stmt.where(Interaction.lead_id == lead_id)
    )
    row = session.exec(stmt.order_by(col(Interaction.occurred_at).desc(), col(Interaction.id).desc())).first()
    if row is None:
        return None
    occurred = row.occurred_at.date() if isinstance(row.occurred_at, datetime) else row.occurred_at
    topic = None
    if row.channel == "email" and row.subject and not _INTERNAL_SUBJECT.match(row.subject):
        topic = short_topic(row.subject)
    return LastTouch(row.channel, row.direction, occurred, topic)


def spoken_date(day: date, today: date) -> str:
    text = f"{day:%A} {day.day} {day:%B}"
    return text if day.year == today.year else f"{text} {day.year}"


def _addressed_to_them(purpose: str) -> str:
    text = purpose
    for pattern, replacement in _PRONOUNS:
        text = pattern.sub(replacement, text)
    return text


def purpose_parts(purpose: str | None) -> tuple[str | None, str | None]:
    """(an action to do, a thing to write about) from the user's purpose; at most one is set."""
    if not purpose:
        return None, None
    text = " ".join(re.sub(r"[{}<>]", " ", purpose).split()).strip(" .!?;,")
    text = re.sub(r"^(?:to|about|regarding|re:?|on)\s+", "", text, flags=re.I)
    text = re.sub(r"^(?:asking\s+(?:them|him|her)\s+to)\s+", "ask them to ", text, flags=re.I)
    if not text:
        return None, None
    text = _addressed_to_them(text)[:200]
    first = text.split()[0].lower()
    if first in _ACTION_VERBS:
        return text[0].lower() + text[1:], None
    if first in ("the", "a", "an", "our", "your", "this", "that", "next", "some"):
        text = text[0].lower() + text[1:]
    return None, text


def _opening(touch: LastTouch | None, today: date) -> str:
    from prompts.loader import render

    if touch is None:
        return render("follow_up/opening_first")
    when = spoken_date(touch.when, today)
    if touch.channel in ("call", "meeting"):
        return render("follow_up/opening_conversation", channel=touch.channel, date=when)
    about = f" about “{touch.topic}”" if touch.topic else ""
    name = "follow_up/opening_their_email" if touch.direction == "inbound" else "follow_up/opening_my_email"
    return render(name, date=when, about=about)


def tidy(text: str) -> str:
    """Collapse what an empty slot leaves behind: spaces at line ends, runs of blank lines."""
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def compose_follow_up(
    *,
    kind: FollowUpKind,
    first_name: str | None,
    record_name: str,
    purpose: str | None,
    touch: LastTouch | None,
    proposed: date,
    sender_name: str,
    today: date,
) -> tuple[str, str]:
    """(subject, body) of a follow-up of ``kind`` from its template."""
    from prompts.loader import render

    action, about = purpose_parts(purpose)
    if action:
        purpose_sentence = render("follow_up/purpose_action", purpose=action)
    elif about:
        purpose_sentence = render("follow_up/purpose_topic", purpose=about)
    else:
        purpose_sentence = ""
    topic = short_topic(about) or short_topic(record_name) or "next steps"
    text = render(
        f"follow_up/{kind}",
        topic=topic,
        first_name=(first_name or "there").split()[0],
        opening=_opening(touch, today),
        purpose_sentence=purpose_sentence,
        proposed_time=f"{proposed:%A} {proposed.day} {proposed:%B} at 10:00",
        sender_name=sender_name,
    )
    head, _, body = text.partition("\n")
    subject = head.removeprefix("Subject:").strip()
    return subject[:200], tidy(body)


# --- editing a draft by instruction: tone and length ---------------------------------------------------------------

_GREETING = re.compile(r"^(hi|hello|hey|dear|good (?:morning|afternoon))\s+(?P<name>[^,\n]+),\s*$", re.I)
_SIGN_OFF = re.compile(
    r"^(best regards|kind regards|warm regards|regards|best wishes|best|cheers|thanks|many thanks|thank you|"
    r"all the best|sincerely|yours sincerely|yours)\s*,?\s*$",
    re.I,
)
_CONTRACTIONS = (
    ("I'm", "I am"),
    ("I'd", "I would"),
    ("I'll", "I will"),
    ("I've", "I have"),
    ("you're", "you are"),
    ("you've", "you have"),
    ("we're", "we are"),
    ("we'll", "we will"),
    ("it's", "it is"),
    ("that's", "that is"),
    ("doesn't", "does not"),
    ("don't", "do not"),
    ("didn't", "did not"),
    ("can't", "cannot"),
    ("won't", "will not"),
    ("let's", "let us"),
)
_TONE_WORDS: dict[Tone, tuple[str, str]] = {"formal": ("Dear", "Kind regards,"), "friendly": ("Hi", "Best,")}


def _swap(text: str, pairs: tuple[tuple[str, str], ...], reverse: bool) -> str:
    """Contractions expanded (formal) or made (friendly), keeping a capital letter where the old words had one."""
    for short, long in pairs:
        old, new = (long, short) if reverse else (short, long)

        def keep_case(match: re.Match[str], new: str = new) -> str:
            return new[0].upper() + new[1:] if match.group(0)[0].isupper() else new

        text = re.sub(rf"\b{re.escape(old)}\b", keep_case, text, flags=re.I)
    return text


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]


def _split_frame(paragraphs: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(greeting line, middle paragraphs, sign-off lines) of a body; either end may be missing."""
    greeting = None
    middle = list(paragraphs)
    if middle and _GREETING.match(middle[0].splitlines()[0]):
        first, *rest = middle[0].splitlines()
        greeting = first
        middle = (["\n".join(rest)] if rest else []) + middle[1:]
    closing: list[str] = []
    if middle:
        last = middle[-1].splitlines()
        for index, line in enumerate(last):
            if _SIGN_OFF.match(line):
                closing = last[index:]
                kept = "\n".join(last[:index]).strip()
                middle = middle[:-1] + ([kept] if kept else [])
                break
    return greeting, middle, closing


def with_tone(body: str, tone: Tone) -> str:
    """The body in a formal ("Dear Dana", no contractions, "Kind regards") or friendly ("Hi Dana", "Best") tone."""
    salutation, sign_off = _TONE_WORDS[tone]
    greeting, middle, closing = _split_frame(_paragraphs(body))
    parts: list[str] = []
    if greeting is not None and (match := _GREETING.match(greeting)):
        parts.append(f"{salutation} {match.group('name').strip()},")
    for paragraph in middle:
        text = _swap(paragraph, _CONTRACTIONS, reverse=tone == "friendly")
        if tone == "formal":
            text = text.replace("!", ".")
        parts.append(text)
    if closing:
        parts.append("\n".join([sign_off, *closing[1:]]))
    return "\n\n".join(parts).strip() + "\n"


def _sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", paragraph.strip()) if s.strip()]


def shortened(body: str) -> str:
    """The body cut to its greeting, the first two sentences (the opening and what it is about), the first question
    after them (the ask) and the sign-off."""
    greeting, middle, closing = _split_frame(_paragraphs(body))
    if not middle:
        return body
    first = _sentences(middle[0])
    later = [s for paragraph in middle[1:] for s in _sentences(paragraph)] + first[2:]
    ask = next((s for s in later if s.endswith("?")), None)
    if len(first) <= 2 and len(middle) == 1:
        return body
    kept = [" ".join(first[:2])] + ([ask] if ask else [])
    parts = ([greeting] if greeting else []) + kept + (["\n".join(closing)] if closing else [])
    return "\n\n".join(parts).strip() + "\n"
