"""Finding the workspace's own names in a request: owners, teams, offices, products, accounts, industries, stages.

The names come from the store (``sales.vocabulary``), so "the West office", "MG Advanced" or Maven's stage
"Engaging" are understood in the workspace that has them and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sales.vocabulary import Vocabulary

KINDS = ("owner", "team", "region", "product", "account", "industry", "stage")

DIMENSION_NOUNS: dict[str, str] = {
    "office": "region",
    "offices": "region",
    "regional office": "region",
    "region": "region",
    "regions": "region",
    "territory": "region",
    "product": "product",
    "products": "product",
    "line": "product",
    "series": "product",
    "sku": "product",
    "account": "account",
    "accounts": "account",
    "customer": "account",
    "client": "account",
    "company": "account",
    "sector": "industry",
    "industry": "industry",
    "vertical": "industry",
    "team": "team",
    "rep": "owner",
    "agent": "owner",
    "sales agent": "owner",
    "salesperson": "owner",
    "seller": "owner",
    "stage": "stage",
}
"""Nouns that name a kind of filter: the word next to one is a value of that kind ("the Northeast office")."""

KIND_NOUNS = {
    "owner": "sales reps",
    "team": "teams",
    "region": "regions and offices",
    "product": "products",
    "account": "accounts",
    "industry": "industries",
    "stage": "stages",
}


@dataclass(frozen=True)
class Term:
    kind: str
    value: str
    """The workspace's spelling (for a stage term: our stage it stands for)."""
    start: int
    end: int
    said: str
    """The words as typed."""


def _candidates(vocabulary: Vocabulary) -> list[tuple[str, str, str, bool]]:
    """(phrase, kind, value, needs capital) for every name; longer phrases first."""
    found: list[tuple[str, str, str, bool]] = []
    owners = vocabulary.owners
    firsts: dict[str, list[str]] = {}
    for name in owners:
        found.append((name, "owner", name, False))
        parts = name.split()
        if len(parts) > 1:
            firsts.setdefault(parts[0].lower(), []).append(name)
    for first, names in firsts.items():
        if len(names) == 1:  # a first name only when it is unique; shared ones are asked about
            found.append((first, "owner", names[0], True))
    for team in vocabulary.teams:
        found.append((team, "team", team, False))
    for region in vocabulary.regions:
        found.append((region, "region", region, False))
    for product in vocabulary.products:
        found.append((product, "product", product, " " not in product))
    for account in vocabulary.accounts:
        found.append((account, "account", account, " " not in account))
    for industry in vocabulary.industries:
        found.append((industry, "industry", industry, False))
    for term, stage in vocabulary.stage_terms.items():
        found.append((term, "stage", stage, False))
    found.sort(key=lambda c: -len(c[0]))
    return found


_WORD = re.compile(r"[A-Za-z0-9][\w&.'+-]*")


def _key(word: str) -> str:
    """A word as names are looked up: lowercase, without a possessive or trailing punctuation."""
    word = word.lower()
    word = re.sub(r"'s$|s'$", "", word)
    return word.rstrip(".,;:!?'-")


_INDEXES: dict[tuple[object, ...], tuple[dict[str, list[tuple[str, str, bool]]], int]] = {}


def _index(vocabulary: Vocabulary) -> tuple[dict[str, list[tuple[str, str, bool]]], int]:
    """Phrase → names, and the longest phrase in words; kept for the last few vocabularies (one per workspace)."""
    key = (
        vocabulary.owners,
        vocabulary.teams,
        vocabulary.regions,
        vocabulary.products,
        vocabulary.accounts,
        vocabulary.industries,
        tuple(sorted(vocabulary.stage_terms.items())),
    )
    cached = _INDEXES.get(key)
    if cached is not None:
        return cached
    index: dict[str, list[tuple[str, str, bool]]] = {}
    longest = 1
    for phrase, kind, value, needs_capital in _candidates(vocabulary):
        words = [_key(w) for w in phrase.split()]
        if not all(words):
            continue
        longest = max(longest, len(words))
        index.setdefault(" ".join(words), []).append((kind, value, needs_capital))
    if len(_INDEXES) >= 8:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[key] = (index, longest)
    return index, longest


def find_terms(text: str, vocabulary: Vocabulary) -> list[Term]:
    """Every workspace name in ``text``, longest first and never overlapping; a one-word account or product (or a
    first name) counts only when typed with a capital, so "apex" in a sentence is not the account Apex.

    Names are looked up by word n-grams in one dictionary, so the cost grows with the words of the request, not
    with the size of the workspace (5,000 accounts cost the same as 50)."""
    index, longest = _index(vocabulary)
    tokens = list(_WORD.finditer(text))
    keys = [_key(t.group(0)) for t in tokens]
    # typed all in lower case ("how many deals has leo closed"), a capital says nothing: a rep's first name counts
    # unless it is a word the parse reads ("will", "may" stay words)
    caseless = not any(ch.isupper() for ch in text)
    common = _common_words() if caseless else frozenset()
    terms: list[Term] = []
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            entries = index.get(" ".join(keys[i : i + n]))
            first = tokens[i].group(0)
            chosen = next(
                (
                    e
                    for e in entries or []
                    if not e[2] or first[:1].isupper() or (caseless and e[0] == "owner" and keys[i] not in common)
                ),
                None,
            )
            if chosen is not None:
                start, end = tokens[i].start(), tokens[i + n - 1].end()
                said = re.sub(r"(?:'s|s'|[.,;:!?'-])+$", "", text[start:end])
                terms.append(Term(chosen[0], chosen[1], start, start + len(said), said))
                i += n
                break
        else:
            i += 1
    return terms


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    from agent.offline.coverage import GRAMMAR
    from agent.offline.names import STOP_WORDS

    return GRAMMAR | STOP_WORDS


def shared_first_names(vocabulary: Vocabulary) -> dict[str, list[str]]:
    """First names that more than one owner has, lowercased: {"james": ["James Ascencio", "James Hildebrand"]}."""
    firsts: dict[str, list[str]] = {}
    for name in vocabulary.owners:
        parts = name.split()
        if len(parts) > 1:
            firsts.setdefault(parts[0].lower(), []).append(name)
    return {first: names for first, names in firsts.items() if len(names) > 1}


def choices(vocabulary: Vocabulary, kind: str, limit: int = 12) -> str:
    """The workspace's values of ``kind`` for a clarifying question ("Central, East, West")."""
    values = {
        "owner": vocabulary.owners,
        "team": vocabulary.teams,
        "region": vocabulary.regions,
        "product": vocabulary.products,
        "account": vocabulary.accounts,
        "industry": vocabulary.industries,
        "stage": (*vocabulary.stages, *(t.title() for t in vocabulary.stage_terms)),
    }.get(kind, ())
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


__all__ = ["DIMENSION_NOUNS", "KINDS", "KIND_NOUNS", "Term", "choices", "find_terms", "shared_first_names"]
