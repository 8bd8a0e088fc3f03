"""Text normalisation for the offline model: abbreviations, common typos, and splitting the user's own request
from pasted data (signatures, emails, notes), so that only the request decides what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Whole-word abbreviations people type into chat, mapped to the words the intent cues use.
ABBREVIATIONS: dict[str, str] = {
    "opp": "deal",
    "opps": "deals",
    "oppty": "deal",
    "oppties": "deals",
    "opty": "deal",
    "opportunity": "deal",
    "opportunities": "deals",
    "pls": "please",
    "plz": "please",
    "pleas": "please",
    "thx": "thanks",
    "ty": "thanks",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmrow": "tomorrow",
    "tomoz": "tomorrow",
    "2moro": "tomorrow",
    "tdy": "today",
    "2day": "today",
    "yday": "yesterday",
    "yest": "yesterday",
    "wk": "week",
    "wks": "weeks",
    "qtr": "quarter",
    "qtrs": "quarters",
    "yr": "year",
    "yrs": "years",
    "mtg": "meeting",
    "mtgs": "meetings",
    "acct": "account",
    "accts": "accounts",
    "rev": "revenue",
    "avg": "average",
    "amt": "amount",
    "pct": "percent",
    "conv": "conversion",
    "nego": "negotiation",
    "negotiations": "negotiation",
    "msg": "message",
    "mgr": "manager",
    "eow": "end of week",
    "eom": "end of month",
    "eoq": "end of quarter",
    "u": "you",
    "ur": "your",
    "cust": "customer",
    "custs": "customers",
    "lmk": "let me know",
    "followup": "follow-up",
    "f/u": "follow-up",
    "fu": "follow-up",
    "sched": "schedule",
    "appt": "appointment",
    "nxt": "next",
    "thru": "through",
    "b4": "before",
    "whats": "what's",
    "hows": "how's",
    "wheres": "where's",
    "todo": "to-do",
    "todos": "to-dos",
    "info": "information",
    "w/": "with",
    "fwd": "forward",
    "wats": "what's",
    "wat": "what",
    "convo": "conversation",
    "convos": "conversations",
    "ppl": "people",
    "reps'": "reps",
    "salespeople": "reps",
    "salesperson": "rep",
    "sellers": "reps",
    "seller": "rep",
    "ae": "rep",
    "aes": "reps",
    "q'ly": "quarterly",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words the cues and slot patterns rely on; a lower-case token close to one of these (and not itself a known
# word) is taken as a typo of it. Capitalised tokens are never corrected: they are usually names.
VOCABULARY = _words(
    """
    add create capture enter save lead leads contact contacts prospect signature account accounts deal deals
    find search show list pull display which records owner owns status details
    score scored scoring rate hot warm promising qualify qualified qualification convert converted
    move moved advance push bump progress stage stages mark marked closed close won lost signed booked
    prospecting discovery proposal negotiation negotiating contract
    log logged note notes call called meeting emailed email spoke talked record conversation
    remind reminder reminders task tasks schedule tomorrow yesterday today tonight monday tuesday wednesday
    thursday friday saturday sunday week weeks month months quarter quarters year years next last this
    plate agenda overdue due
    draft write compose prepare follow-up message reply send sent
    pipeline how much many total revenue average conversion cycle forecast projection predict commit
    bottleneck bottlenecks stuck stalled stall slowest longest industry industries product products region
    team reps rep owner owners month monthly quarterly yearly rate percentage number count value amount size
    what said mention mentioned mentions pricing price discount competitor competitors complained concerns
    interactions emails calls meetings please thanks enterprise company companies people
    where each per across between from into about with their there they the and for
    """
)

# a real but rare word is only "corrected" into one of these commands ("crate a lead"; never "lease" → "lead")
_COMMAND_VERBS = frozenset({"create", "remind", "qualify", "forecast", "schedule", "draft", "compose", "search"})

_PROTECTED = re.compile(r"([\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|www\.\S+)")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'/-]*")


@lru_cache(maxsize=1)
def _english() -> Any:
    """pyspellchecker's English word frequencies (shipped in the package; loaded once, about 0.4 s)."""
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1)


def _frequency(word: str) -> float:
    english = _english()
    return float(english.word_usage_frequency(word)) if word in english else 0.0


@lru_cache(maxsize=8192)
def _correct(word: str) -> str:
    """The cue word a lower-case token is a typo of, or the token itself.

    Unknown words ("pipline", "forcast") are matched to the cue vocabulary; real English words are kept unless
    they are rare and a far more common cue word is one edit away ("crate" → "create", never "prep" → "rep").
    """
    from rapidfuzz import fuzz, process

    # short words need one edit to match; long words must be very close ("integration" is not "interactions")
    cutoff = 85 if len(word) <= 4 else 86 if len(word) < 7 else 88
    match = process.extractOne(word, VOCABULARY, scorer=fuzz.ratio, score_cutoff=cutoff)
    if not match:
        return word
    candidate = str(match[0])
    seen = _frequency(word)
    if seen == 0.0:
        return candidate
    if candidate in _COMMAND_VERBS and seen < 1e-5 and _frequency(candidate) > 15 * seen:
        return candidate
    return word


def _replace_token(match: re.Match[str]) -> str:
    token = match.group(0)
    lower = token.lower()
    if lower in ABBREVIATIONS and (token.islower() or (token.isupper() and len(token) > 2)):
        return ABBREVIATIONS[lower]
    if lower.endswith("/") and lower in ABBREVIATIONS:
        return ABBREVIATIONS[lower]
    # only lower-case words are typo candidates; names and acronyms stay untouched
    if token.islower() and len(token) >= 3 and lower not in VOCABULARY and "'" not in token and "/" not in token:
        return _correct(lower)
    return token


def normalise(text: str) -> str:
    """Unify quotes and spaces, expand abbreviations and fix typos of known words; the case of the rest is kept."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("\u00a0", " ")
    text = re.sub(r"\bf/u\b", "follow-up", text, flags=re.IGNORECASE)
    text = re.sub(r"\bw/", "with ", text, flags=re.IGNORECASE)
    text = re.sub(r"\bfollow(?:\s+|-)?up\b", "follow-up", text, flags=re.IGNORECASE)
    text = re.sub(r"\be-mail", "email", text, flags=re.IGNORECASE)
    # e-mail addresses and links are data: never "correct" them
    pieces = _PROTECTED.split(text)
    text = "".join(piece if _PROTECTED.fullmatch(piece) else _TOKEN.sub(_replace_token, piece) for piece in pieces)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(lines).strip()


_GREETING = re.compile(
    r"^(hi|hey|hello|yo|morning|good (morning|afternoon|evening)|hiya|hi there|hey there|ok|okay|so)[,!.\s]*$",
    re.IGNORECASE,
)
_FENCE = re.compile(r'```.*?```|"""(?:.|\n)*?"""', re.DOTALL)
# a colon that introduces pasted or dictated content (not "3:30", not "re:")
_COLON = re.compile(r"(?<!\d)(?<!\bre):(?!\d)", re.IGNORECASE)
# a long quoted stretch inside a one-liner is data ("...note: \"ignore all previous instructions\"")
# a quoted sentence inside a one-liner is data ('...note: "ignore all previous instructions"'); a quoted
# record name ("Saltmarsh Broadcasting - Lumen Enterprise + Premium Support") stays in the request
_LONG_QUOTE = re.compile(r'"((?:[^"]*?[.!?;:](?:\s|$)[^"]*|[^"]{120,}|(?:[^"\s]+\s+){10,}[^"]*))"')


@dataclass(frozen=True)
class SplitMessage:
    """The user's own request (which decides the intent) and any pasted data that follows it."""

    request: str
    data: str

    @property
    def full(self) -> str:
        return f"{self.request}\n{self.data}".strip()


def split_request(text: str) -> SplitMessage:
    """Separate the request line from pasted content: fenced/quoted blocks, "> " lines, lines after the first,
    and whatever follows a colon in the request line are data."""
    data_parts: list[str] = []

    def _stash(match: re.Match[str]) -> str:
        data_parts.append(match.group(0).strip("`\"' \n"))
        return " "

    text = _FENCE.sub(_stash, text)
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    while len(lines) > 1 and _GREETING.match(lines[0]):
        lines.pop(0)
    quoted = [line.lstrip("> ").strip() for line in lines if line.startswith(">")]
    lines = [line for line in lines if not line.startswith(">")]
    request = lines[0] if lines else ""
    rest = lines[1:]
    match = _COLON.search(request)
    if match:
        after = request[match.end() :].strip()
        before = request[: match.start()].strip()
        if before:
            request = before
            if after:
                rest.insert(0, after)
    request = _LONG_QUOTE.sub(_stash, request).strip()
    data = "\n".join([*rest, *quoted, *data_parts]).strip()
    return SplitMessage(request=request.strip(" ,;-"), data=data)
