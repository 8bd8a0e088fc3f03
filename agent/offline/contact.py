"""Reading a person's contact details out of a pasted e-mail signature or a messy one-liner."""

from __future__ import annotations

import re
from typing import Any

from agent.offline.slots import company_from_email, find_emails, find_phone, strip_contact_details

_TITLE = re.compile(
    r"\b(vp|svp|evp|avp|vice president|director|head of|manager|ceo|cto|cfo|coo|cmo|cro|cio|ciso|founder|co-founder|"
    r"cofounder|owner|president|chief [a-z]+ officer|chief|engineer|principal|partner|analyst|consultant|"
    r"specialist|coordinator|officer|buyer|procurement|administrator|architect|associate|executive|gm|"
    r"general manager|lead|developer|designer|recruiter|controller|treasurer|accountant|counsel|attorney|"
    r"purchasing|sales|marketing|operations|it manager|product manager|account executive|sdr|bdr)\b",
    re.IGNORECASE,
)
_TITLE_START = re.compile(
    r"\b(vp|svp|evp|avp|vice president|director|head of|ceo|cto|cfo|coo|cmo|cro|cio|ciso|founder|co-founder|"
    r"cofounder|owner|president|chief|senior|sr\.?|junior|jr\.?|principal|lead|general manager|gm|"
    r"(?:[a-z]+ )?(?:manager|engineer|analyst|consultant|specialist|coordinator|officer|buyer|architect|"
    r"administrator|developer|designer|recruiter|controller|accountant|executive|director))\b",
    re.IGNORECASE,
)
_COMPANY_SUFFIX = re.compile(
    r"\b(inc|inc\.|llc|l\.l\.c\.|ltd|ltd\.|limited|gmbh|corp|corp\.|corporation|co\.|company|group|holdings|labs|"
    r"systems|technologies|tech|solutions|software|partners|ag|sa|bv|plc|industries|enterprises|networks|"
    r"health|bank|capital|media|studios|logistics|consulting|analytics|foods|motors|pharma|energy|ventures)$",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^(name|title|role|position|company|organization|organisation|org|employer|email|e-mail|e|phone|tel|"
    r"telephone|mobile|cell|m|t|p|w|web|website|source|industry|region)\s*[:=]\s*",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'.-]*$")
_CLOSINGS = re.compile(
    r"^(best|best regards|regards|kind regards|warm regards|cheers|thanks|thank you|sincerely|sent from my \w+)"
    r"[,!.]?$",
    re.IGNORECASE,
)
_SOURCES = (
    (re.compile(r"\b(referr(al|ed)|intro(duced|duction)? (by|from))\b", re.I), "referral"),
    (re.compile(r"\b(event|conference|trade ?show|expo|booth|webinar|meetup|summit|fair)\b", re.I), "event"),
    (re.compile(r"\b(website|web ?form|contact form|landing page|inbound|signed up|demo request|site)\b", re.I), "web"),
    (re.compile(r"\bpartner\b", re.I), "partner"),
    (re.compile(r"\b(cold|outbound|prospected|linkedin)\b", re.I), "outbound"),
)
_INDUSTRIES = (
    "software", "technology", "tech", "healthcare", "medical", "finance", "financial services", "banking",
    "insurance", "retail", "manufacturing", "education", "media", "telecom", "telecommunications", "energy",
    "logistics", "government", "entertainment", "marketing", "services", "real estate", "automotive",
    "hospitality", "pharma", "biotech", "construction", "legal", "nonprofit", "employment",
)  # fmt: skip
INDUSTRY_RE = re.compile(r"\b(" + "|".join(sorted(_INDUSTRIES, key=len, reverse=True)) + r")\b", re.IGNORECASE)


_EVENT_PHRASE = re.compile(
    r"\b(?:at|from)\s+(?:the|a|an|our)\s+(?:expo|conference|trade ?show|webinar|event|booth|meetup|summit|fair|"
    r"dinner|party|workshop)\b",
    re.IGNORECASE,
)
_PRONOUN_INTRO = re.compile(
    r"^(?:she's|he's|she is|he is|they're|they are|works)\s+(?:(?:the|a|an)\s+(?P<title>.+?)\s+(?:of|at|for)\s+|"
    r"(?:at|with|from|for)\s+)(?P<company>.+)$",
    re.IGNORECASE,
)
_NAME_INTRO = re.compile(r"^(?:contact is|name is|this is|it's|meet|contact|person is|the contact is)\s+", re.I)


_GREETING = re.compile(r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)\b", re.I)


def _split_segments(text: str) -> list[str]:
    text = _EVENT_PHRASE.sub(" ", text)
    text = re.sub(r"[()\[\]<>]", ",", text)
    text = re.sub(r"(?<=[a-z])\s?\.\s+(?=[A-Z])", "\n", text)  # sentence breaks
    parts = re.split(r"\n|\||;|•|·|\t| - | – | — |,(?!\s*(?:inc|llc|ltd)\b)", text, flags=re.IGNORECASE)
    cleaned = [_NAME_INTRO.sub("", part.strip(" ,.-–—?!:")) for part in parts]
    return [part for part in cleaned if part]


def _looks_like_name(segment: str) -> bool:
    words = segment.split()
    if not 1 < len(words) <= 4 or _TITLE.search(segment) or _COMPANY_SUFFIX.search(segment):
        return False
    return all(_NAME_WORD.match(word) for word in words)


def _title_case(name: str) -> str:
    if name.islower() or name.isupper():
        return " ".join(part[:1].upper() + part[1:].lower() for part in name.split())
    return name


def _name_from_email(email: str) -> str | None:
    local = email.split("@", 1)[0]
    parts = [part for part in re.split(r"[._-]", local) if part.isalpha()]
    if len(parts) >= 2:
        return " ".join(part.capitalize() for part in parts[:3])
    return None


def parse_contact(text: str, hint: str = "") -> dict[str, Any]:
    """name, title, company, email, phone, source, industry from free text; ``hint`` is the user's request line
    (for the source, e.g. "met her at the expo")."""
    result: dict[str, Any] = {}
    # a forwarded email: its sender line names the person; the other header lines are not contact details
    sender = re.search(r"^\s*From:\s*\"?(?P<name>[^<\n\"]+?)\"?\s*<(?P<email>[^>\s]+@[^>\s]+)>", text, re.M | re.I)
    if sender and _looks_like_name(sender.group("name").strip()):
        result["name"] = sender.group("name").strip()
    text = re.sub(r"^\s*-{2,}[^\n]*-{2,}\s*$|^\s*(?:From|To|Cc|Sent|Date|Subject):[^\n]*$", "", text, flags=re.M | re.I)
    emails = find_emails(text) or ([sender.group("email")] if sender else [])
    if emails:
        result["email"] = emails[0]
    phone = find_phone(text)
    if phone:
        result["phone"] = phone
    segments: list[str] = []
    for segment in _split_segments(strip_contact_details(text)):
        label = _LABEL.match(segment)
        if label:
            key, value = label.group(1).lower(), segment[label.end() :].strip()
            field = {"role": "title", "position": "title", "organization": "company", "organisation": "company"}
            field |= {"org": "company", "employer": "company"}
            key = field.get(key, key)
            if key in ("name", "title", "company", "industry", "region") and value:
                result.setdefault(key, value)
            continue
        if _CLOSINGS.match(segment) or _GREETING.match(segment):
            continue
        segments.append(segment)
    for segment in segments:
        _classify(segment, result)
    if "name" not in result and "email" in result:
        guessed = _name_from_email(result["email"])
        if guessed:
            result["name"] = guessed
    if "company" not in result and "email" in result:
        company = company_from_email(result["email"])
        if company:
            result["company"] = company
    if "name" in result:
        result["name"] = _title_case(result["name"])
    for pattern, source in _SOURCES:
        if pattern.search(hint) or pattern.search(text):
            result["source"] = source
            break
    industry = re.search(
        r"\b(?:in|from) the (?P<i>[a-z ]+?) (?:industry|sector|space|vertical)\b", hint + " " + text, re.I
    )
    if industry and "industry" not in result:
        result["industry"] = industry.group("i").lower()
    return result


def _classify(segment: str, result: dict[str, Any]) -> None:
    intro = _PRONOUN_INTRO.match(segment)
    if intro:
        if intro.group("title"):
            result.setdefault("title", _title_text(intro.group("title")))
        result.setdefault("company", _title_case(intro.group("company")))
        return
    lower = segment.islower()
    right_start = "[a-z0-9]" if lower else "[A-Z0-9]"
    at = re.match(rf"^(?P<left>.+?)\s+(?:at|@|from)\s+(?P<right>{right_start}.+)$", segment)
    if at and "company" not in result:
        left, right = at.group("left").strip(), at.group("right").strip()
        if _TITLE.search(left) and not _looks_like_name(left):
            _take_title_and_name(left, result)
            result.setdefault("company", _title_case(right))
            return
        if _looks_like_name(left) or (len(left.split()) <= 3 and left.islower()):
            result.setdefault("name", left)
            result.setdefault("company", _title_case(right))
            return
    lead_in = re.match(r"^(?:at|@|from|with)\s+(?P<company>.+)$", segment, re.IGNORECASE)
    if lead_in and "company" not in result:
        result["company"] = _title_case(lead_in.group("company"))
        return
    if _COMPANY_SUFFIX.search(segment) and "company" not in result and not _TITLE_START.match(segment):
        result["company"] = _title_case(segment)
        return
    if "name" not in result and _looks_like_name(segment):
        result["name"] = segment
        return
    if segment.strip().lower() == str(result.get("name", "")).lower():
        return  # the name again (a forwarded email's signature under its sender line)
    if _TITLE.search(segment):
        _take_title_and_name(segment, result)
        return
    if "name" in result and "company" not in result and 0 < len(segment.split()) <= 5:
        result["company"] = segment


def _take_title_and_name(segment: str, result: dict[str, Any]) -> None:
    """A segment with a job title; a name may come before it ("jane doe vp sales")."""
    start = _TITLE_START.search(segment)
    if start and start.start() > 0 and "name" not in result:
        before = segment[: start.start()].strip(" ,-")
        if 1 <= len(before.split()) <= 4 and all(_NAME_WORD.match(w) for w in before.split()):
            result["name"] = before
            segment = segment[start.start() :]
    result.setdefault("title", _title_text(segment.strip(" ,-")))


_ACRONYMS = frozenset(
    [
        "vp",
        "svp",
        "evp",
        "avp",
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cmo",
        "cro",
        "cio",
        "ciso",
        "gm",
        "it",
        "hr",
        "sdr",
        "bdr",
        "emea",
        "apac",
    ]
)


def _title_text(title: str) -> str:
    if not title.islower():
        return title
    small = {"of", "and", "for", "the", "at"}
    words = [w.upper() if w in _ACRONYMS else w if w in small else w.capitalize() for w in title.split()]
    return " ".join(words)
