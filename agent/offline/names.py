"""Finding the names of people, companies and deals in what the user typed, and resolving "it" / "that deal"."""

from __future__ import annotations

import re

from agent.offline.context import ConversationContext, Mention
from agent.offline.slots import STAGE_SYNONYMS

_STOP_WORDS = {
    "i", "i'm", "i've", "i'd", "im", "please", "pls", "can", "could", "would", "will", "move", "mark", "log", "add",
    "create", "what", "what's", "how", "how's", "which", "who", "whose", "where", "when", "why", "show", "find",
    "the", "a", "an", "hi", "hey", "hello", "ok", "okay", "draft", "send", "remind", "score", "qualify", "vp",
    "ceo", "cto", "cfo", "coo", "cmo", "crm", "let", "is", "are", "do", "did", "does", "we", "our", "my", "they",
    "also", "just", "deal", "deals", "lead", "leads", "account", "accounts", "today", "tomorrow", "yesterday",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march",
    "april", "may", "june", "july", "august", "september", "october", "november", "december", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "q1", "q2", "q3", "q4", "fy", "ytd",
    "email", "call", "meeting", "note", "new", "this", "that", "these", "those", "it", "and", "or", "then",
    "thanks", "thank", "you", "great", "yes", "no", "sure", "hmm", "so", "now", "tell", "give", "get", "list",
    "put", "set", "update", "change", "push", "bump", "advance", "need", "want", "any", "all", "team", "me",
    "us", "sales", "pipeline", "forecast", "won", "lost", "in", "on", "for", "at", "to", "by", "with", "of",
    "from", "about", "re", "per", "each", "every", "search", "look", "pull", "had", "write", "compose",
    "prepare", "check", "reach", "follow-up", "task", "to-do", "reminder", "usd", "eur", "gbp", "emea", "apac",
    "latam", "na", "uk", "id", "ai", "api", "se", "sdr", "bdr", "ae", "mql", "sql", "poc", "rfp", "nda",
    "sow", "msa", "roi", "asap", "eod", "eow", "eom", "here's", "here", "there", "has", "have", "was", "were",
    "be", "been", "should", "must", "might", "he", "she", "him", "her", "them", "their", "his", "hers", "your",
    "yours", "mine", "its", "one", "ones", "via", "as", "if", "but", "not", "don't", "dont", "pm", "am",
    "met", "emailed", "called", "spoke", "talked", "closed", "signed", "got", "quick",
    "notes", "logged", "record", "jot", "save", "enter", "grep", "dig",
    "rank", "rate", "convert", "promote", "turn", "make", "close", "shift", "lookup", "display", "anything", "anyone", "everyone", "whats", "who's",
}  # fmt: skip
STOP_WORDS = frozenset(_STOP_WORDS | set(STAGE_SYNONYMS))

PRONOUN = re.compile(
    r"^(it|that|this|them|him|her|they|that one|this one|the same one|same one|the one|"
    r"(?:the|this|that|our|my|same) (?:deal|lead|account|opportunity|opp|prospect|customer|client|one|guy|company)s?)$",
    re.IGNORECASE,
)
_TRAILING = re.compile(
    r"(?:'s)?\s+(?:deal|deals|account|lead|opportunity|opp|one|people|guys|team|folks|"
    r"please|pls|thanks|now|today|asap|for me|again|too|as well|already|stage|record)$",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:the|our|my|this|that|a|an|with|to|for|on|at|from|re|about|deal|lead|account)\s+", re.I)

_CAP_SEQ = re.compile(
    r"(?<![\w@.])([A-Z][\w&'.-]*[\w&]|[A-Z])((?:\s+(?:[A-Z0-9][\w&'.-]*|&|of|and|de|van|von|del|la))*)(?![\w@])"
)


def clean_name(raw: str | None, whole: bool = False) -> str | None:
    """Strip determiners, record words and punctuation from a captured name; None when nothing name-like is left."""
    if not raw:
        return None
    name = raw.strip(" \t,.;:!?\"'()[]-–—")
    if not whole:  # inside a sentence, a dash starts the next clause ("Acme - decision pushed to March")
        name = re.split(r"\s[-–—:]\s?", name)[0].strip()
        name = _capitalised_run(name)
    for _ in range(3):
        previous = name
        name = _LEADING.sub("", name).strip()
        name = _TRAILING.sub("", name).strip(" ,.;:!?\"'")
        if name == previous:
            break
    name = re.sub(r"'s$", "", name).strip()
    if not name or PRONOUN.match(name) or name.lower() in STOP_WORDS:
        return None
    if len(name) > 80 or len(name.split()) > 6:
        return None
    return name


def _capitalised_run(name: str) -> str:
    """In mixed-case text drop the ordinary words around a name: "anything Wayne" → "Wayne", "Cyberdyne a recap
    of" → "Cyberdyne", "does Carlos Ruiz have" → "Carlos Ruiz"; "Acme renewal" stays (a deal's own words)."""
    words = name.split()
    if not any(w[:1].isupper() for w in words) or all(w[:1].isupper() or not w[:1].isalpha() for w in words):
        return name
    connectors = {"&", "of", "and", "de", "van", "von", "del", "la", "y"}
    starts = [i for i, w in enumerate(words) if w[:1].isupper() and w.lower().strip(".,") not in STOP_WORDS]
    if not starts:
        return name
    start = starts[0]
    end = start + 1
    while end < len(words):
        word = words[end]
        if (
            word[:1].isupper()
            or word[:1].isdigit()
            or (word in connectors and end + 1 < len(words) and words[end + 1][:1].isupper())
        ):
            end += 1
        elif word.lower() not in STOP_WORDS and word.lower() not in _NAME_BREAKS and word.isalpha():
            end += 1  # "Acme renewal", "Globex expansion"
        else:
            break
    return " ".join(words[start:end])


_NAME_BREAKS = frozenset(
    {"forward", "back", "fwd", "recap", "quick", "about", "asking", "regarding", "said", "says", "mentioned",
     "wrote", "later", "ever", "again", "already", "soon", "today", "yesterday", "tomorrow", "too", "also",
     "after", "before", "since", "until", "during", "following", "once", "when", "while", "because", "if"}
)  # fmt: skip


def is_pronoun(raw: str | None) -> bool:
    return bool(raw) and bool(PRONOUN.match(raw.strip(" ,.;:!?\"'")))  # type: ignore[union-attr]


def quoted_names(text: str) -> list[str]:
    """Names in double or single quotes (short ones; long quotes are pasted data, not names)."""
    found = re.findall(r'"([^"\n]{1,120})"', text)
    found += re.findall(r"(?:^|(?<=\s))'([^'\n]{2,120})'(?=[\s,.?!:]|$)", text)
    return [name.strip(" .") for name in found if name.strip(" .") and len(name.split()) <= 12]


def mask_quoted_names(text: str) -> str:
    """``text`` with each short quoted name replaced by "it": the words of a record's name ("Hollis Bank -
    Forecasting add-on") are not the request's words, so they must not decide what the user asks for."""

    def masked(match: re.Match[str]) -> str:
        name = match.group(1).strip(" .")
        return "it" if name and len(name.split()) <= 12 else match.group(0)

    text = re.sub(r'"([^"\n]{1,120})"', masked, text)
    return re.sub(r"(?:^|(?<=\s))'([^'\n]{2,120})'(?=[\s,.?!:]|$)", masked, text)


def capitalised_names(text: str) -> list[str]:
    """Runs of capitalised words that are not ordinary sentence words ("Acme Corp", "Bob Smith", "GTX Pro")."""
    names: list[str] = []
    for match in _CAP_SEQ.finditer(text):
        words = (match.group(1) + match.group(2)).split()
        while words and words[0].lower().strip(".,'") in STOP_WORDS:
            words.pop(0)
        while words and (words[-1].lower().strip(".,'") in STOP_WORDS or words[-1] in ("&", "of", "and")):
            words.pop()
        if not words:
            continue
        name = re.sub(r"'s$", "", " ".join(words)).strip(".,")
        if name and name.lower() not in STOP_WORDS and not re.fullmatch(r"[A-Z]{1,2}\d*|\d+", name):
            names.append(name)
    return names


def known_name_in(text: str, ctx: ConversationContext) -> Mention | None:
    """A record name from earlier in the conversation that the text mentions (case-insensitive, longest first)."""
    lowered = text.lower()
    for name, mention in sorted(ctx.known_names().items(), key=lambda item: -len(item[0])):
        if len(name) >= 2 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", lowered):
            return mention
    return None


def first_pattern_name(text: str, patterns: list[re.Pattern[str]]) -> tuple[str | None, bool]:
    """The first pattern's cleaned "name" group; the flag says a pronoun ("it", "that deal") was used instead."""
    for pattern in patterns:
        for match in pattern.finditer(text):
            raw = match.group("name")
            if is_pronoun(raw):
                return None, True
            name = clean_name(raw)
            if name:
                return name, False
    return None, False


# Common given names (English and international): a "First Last" name starting with one of these is a person,
# so a follow-up or note for them is about a lead, not a deal (deals are named after accounts and products).
FIRST_NAMES = frozenset(
    [
        "aaron",
        "abdul",
        "abigail",
        "adam",
        "adrian",
        "ahmed",
        "aisha",
        "alan",
        "albert",
        "alejandro",
        "alex",
        "alexander",
        "alexandra",
        "alice",
        "alicia",
        "ali",
        "alison",
        "amanda",
        "amber",
        "amelia",
        "amir",
        "amy",
        "ana",
        "andre",
        "andrea",
        "andreas",
        "andrew",
        "angela",
        "anita",
        "ann",
        "anna",
        "anne",
        "anthony",
        "antonio",
        "arjun",
        "arthur",
        "ashley",
        "aurora",
        "barbara",
        "ben",
        "benjamin",
        "beth",
        "bill",
        "bob",
        "brad",
        "brandon",
        "brenda",
        "brian",
        "bruce",
        "bryan",
        "camille",
        "carl",
        "carla",
        "carlos",
        "carmen",
        "caroline",
        "carol",
        "catherine",
        "charles",
        "charlie",
        "charlotte",
        "chen",
        "chloe",
        "chris",
        "christian",
        "christina",
        "christine",
        "christopher",
        "claire",
        "clara",
        "claudia",
        "colin",
        "connor",
        "craig",
        "dan",
        "dana",
        "daniel",
        "daniela",
        "david",
        "deborah",
        "dennis",
        "derek",
        "diana",
        "diego",
        "dmitri",
        "dominic",
        "donald",
        "donna",
        "dorothy",
        "doug",
        "douglas",
        "dylan",
        "ed",
        "edward",
        "elena",
        "eli",
        "elizabeth",
        "ella",
        "ellen",
        "emily",
        "emma",
        "eric",
        "erik",
        "erin",
        "ethan",
        "eva",
        "evelyn",
        "fatima",
        "felix",
        "fernando",
        "fiona",
        "francesca",
        "francis",
        "frank",
        "fred",
        "gabriel",
        "gary",
        "george",
        "georgia",
        "gina",
        "grace",
        "greg",
        "gregory",
        "hana",
        "hannah",
        "hans",
        "harry",
        "hassan",
        "heather",
        "helen",
        "helena",
        "henrik",
        "henry",
        "hiroshi",
        "holly",
        "hugo",
        "ian",
        "igor",
        "ines",
        "isaac",
        "isabel",
        "isabella",
        "ivan",
        "jack",
        "jacob",
        "james",
        "jamie",
        "jan",
        "jane",
        "janet",
        "jason",
        "javier",
        "jay",
        "jean",
        "jeff",
        "jeffrey",
        "jennifer",
        "jeremy",
        "jessica",
        "jim",
        "joan",
        "joanna",
        "joe",
        "john",
        "jonathan",
        "jordan",
        "jorge",
        "jose",
        "joseph",
        "joshua",
        "juan",
        "julia",
        "julian",
        "julie",
        "justin",
        "kai",
        "karen",
        "karim",
        "kate",
        "katherine",
        "kathy",
        "katie",
        "keith",
        "kelly",
        "ken",
        "kenji",
        "kevin",
        "kim",
        "kyle",
        "laura",
        "lauren",
        "lea",
        "leah",
        "lee",
        "leo",
        "leon",
        "liam",
        "lily",
        "linda",
        "lisa",
        "liu",
        "lucas",
        "lucia",
        "lucy",
        "luis",
        "luke",
        "lynn",
        "maggie",
        "malik",
        "manuel",
        "marco",
        "marcus",
        "margaret",
        "maria",
        "marie",
        "marina",
        "mark",
        "martin",
        "mary",
        "mateo",
        "matt",
        "matthew",
        "maya",
        "megan",
        "mei",
        "melissa",
        "mia",
        "michael",
        "michelle",
        "miguel",
        "mike",
        "mohammed",
        "monica",
        "nadia",
        "nancy",
        "naomi",
        "natalie",
        "nathan",
        "neil",
        "nicholas",
        "nick",
        "nicole",
        "nina",
        "noah",
        "nora",
        "olga",
        "oliver",
        "olivia",
        "omar",
        "oscar",
        "owen",
        "pablo",
        "pamela",
        "patricia",
        "patrick",
        "paul",
        "paula",
        "pedro",
        "peter",
        "philip",
        "pierre",
        "priya",
        "rachel",
        "rafael",
        "raj",
        "rajesh",
        "ravi",
        "rebecca",
        "richard",
        "rick",
        "rita",
        "rob",
        "robert",
        "roberto",
        "robin",
        "rosa",
        "ryan",
        "sam",
        "samantha",
        "samuel",
        "sandra",
        "sara",
        "sarah",
        "scott",
        "sean",
        "sergei",
        "sharon",
        "simon",
        "sofia",
        "sophia",
        "sophie",
        "stefan",
        "stephanie",
        "stephen",
        "steve",
        "steven",
        "sue",
        "susan",
        "tanya",
        "tara",
        "teresa",
        "thomas",
        "tim",
        "timothy",
        "tina",
        "tom",
        "tony",
        "tyler",
        "valentina",
        "vanessa",
        "victor",
        "victoria",
        "vikram",
        "vincent",
        "wei",
        "william",
        "xavier",
        "yan",
        "yuki",
        "yusuf",
        "zach",
        "zoe",
    ]
)


def looks_like_person(name: str | None) -> bool:
    """ "Oliver Mensah" yes; "Blue Yonder", "Saltmarsh Broadcasting - Lumen Growth" no."""
    if not name or " - " in name:
        return False
    words = name.split()
    return 2 <= len(words) <= 3 and words[0].lower() in FIRST_NAMES and all(w[:1].isupper() for w in words)
