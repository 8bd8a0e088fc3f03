"""Labelled retrieval queries built from the demo data: which interactions answer which question.

Every demo interaction is written from a topic template (``sales.demo_text.TOPICS``); each template compiles to a
regular expression (fixed text kept, ``{slots}`` matching anything), so an interaction's topic is recovered from
its text alone, independently of any search method. Two query sets:

* ``account``: "what did <account> say about <topic>?" as the agent asks it: the account as a filter, the topic
  as a paraphrase that avoids the template's wording. Relevant: that account's interactions on that topic.
* ``needle``: no filter, the whole corpus: a named person or competitor plus a paraphrased situation
  (e.g. who took over from our champion: "<name>"). Relevant: the interactions of that topic naming them.

Only queries with 1–5 relevant interactions are kept, so recall@5 can reach 1.0.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from sales.demo_text import TOPICS

# Topics that are the same situation for a reader (a Slack "we won" and the customer's "signed" email).
GROUPS = {"won_slack": "won", "lost_email": "lost", "lead_reply_pos": "intro_reply", "lead_reply_neg": "intro_reply"}

# Paraphrases: how a rep would ask, deliberately not in the templates' words.
ASK: dict[str, tuple[str, ...]] = {
    "scheduling": ("when are we meeting them next?", "finding a time slot for the next call"),
    "discovery_call": ("what pains, decision makers and timeline came up in the first qualification call?",),
    "demo_meeting": ("how did the product walkthrough go?", "their reaction when we showed the software"),
    "technical_question": ("questions about single sign-on, user provisioning or connector syncing",),
    "security_review": ("infosec questionnaire, compliance reports and penetration testing",),
    "proposal_sent": ("the commercial offer we sent them",),
    "pricing_question": ("questions about what it costs and how it is invoiced",),
    "competitor": ("how we stack up against the other vendors they are evaluating",),
    "budget": ("is the money approved, or is spending frozen?",),
    "legal_redlines": ("contract clauses their lawyers want changed",),
    "discount_request": ("asking for a price reduction to sign",),
    "procurement": ("purchase order and supplier registration paperwork",),
    "champion_change": ("our main contact left and someone new owns the project",),
    "verbal_commit": ("they told us yes before signing",),
    "won": ("they signed the order", "deal closed and signed"),
    "lost": ("why they decided not to buy",),
    "stall_note": ("the deal went quiet and they stopped replying",),
    "check_in": ("status update on where things stand",),
    "rework": ("moved the deal back a stage",),
}
NEEDLE_ASK = {
    "champion_change": "who took over after our champion left? {name}",
}


@dataclass(frozen=True)
class LabelledQuery:
    qid: str
    kind: str  # account / needle
    query: str
    account_id: int | None
    relevant: frozenset[int]
    topic: str


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for topic, spec in TOPICS.items():
        for tone, bodies in spec.items():
            if tone == "subject":
                continue
            for body in bodies:
                parts = re.split(r"\{[a-z_0-9]+\}", body)
                regex = "(.*?)".join(re.escape(part) for part in parts)
                patterns.append((GROUPS.get(topic, topic), re.compile(regex, re.DOTALL)))
    # Longest templates first: a more specific template wins over a shorter one it might contain.
    patterns.sort(key=lambda item: -len(item[1].pattern))
    return patterns


def topic_of(body: str) -> str | None:
    for topic, pattern in _patterns():
        if pattern.search(body):
            return topic
    return None


def build_queries(rows: list[tuple[int, int | None, str]], *, seed: int = 7) -> list[LabelledQuery]:
    """Labelled queries from (interaction id, account id, body) rows of a seeded demo workspace."""
    rng = random.Random(seed)
    topics = {iid: topic_of(body) for iid, _, body in rows}
    by_account_topic: dict[tuple[int, str], set[int]] = defaultdict(set)
    per_account: dict[int, int] = defaultdict(int)
    for iid, account_id, _ in rows:
        topic = topics[iid]
        if account_id is None:
            continue
        per_account[account_id] += 1
        if topic:
            by_account_topic[(account_id, topic)].add(iid)
    queries: list[LabelledQuery] = []
    candidates = sorted(
        (key, ids)
        for key, ids in by_account_topic.items()
        if key[1] in ASK and 1 <= len(ids) <= 5 and per_account[key[0]] >= 10
    )
    rng.shuffle(candidates)
    seen_topics: dict[str, int] = defaultdict(int)
    for (account_id, topic), ids in candidates:
        # Spread the set over topics instead of letting the commonest dominate.
        if seen_topics[topic] >= 10:
            continue
        seen_topics[topic] += 1
        ask = rng.choice(ASK[topic])
        queries.append(LabelledQuery(f"a{len(queries) + 1:03d}", "account", ask, account_id, frozenset(ids), topic))
        if len(queries) >= 120:
            break

    needles: list[LabelledQuery] = []
    name_pattern = re.compile(
        r"The new owner, ([A-Z][a-z]+ [A-Z][a-zA-Z' ]+?),|introduced ([A-Z][a-z]+ [A-Z][a-zA-Z']+) \(|will take\s+over"
    )
    by_name: dict[str, set[int]] = defaultdict(set)
    for iid, _, body in rows:
        if topics[iid] == "champion_change":
            for match in name_pattern.finditer(body):
                name = match.group(1) or match.group(2)
                if name:
                    by_name[name].add(iid)
            leaving = re.search(r"\. ([A-Z][a-z]+ [A-Z][a-zA-Z']+) \([^)]*\) will take", body)
            if leaving:
                by_name[leaving.group(1)].add(iid)
    for name, ids in sorted(by_name.items()):
        if 1 <= len(ids) <= 5:
            needles.append(
                LabelledQuery(
                    f"n{len(needles) + 1:03d}",
                    "needle",
                    NEEDLE_ASK["champion_change"].format(name=name),
                    None,
                    frozenset(ids),
                    "champion_change",
                )
            )
    return queries + needles
