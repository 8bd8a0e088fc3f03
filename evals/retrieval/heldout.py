"""A held-out retrieval set, written before the fusion and reranking were tuned: concerns asked in a manager's words.

    python -m evals.retrieval.heldout --home DIR    (a seeded and synced demo workspace, seed 7)

The labelled set in ``labels.py`` asks per account about one topic. This one asks what managers ask across the
whole book ("customer worried about price and budget") and, for the same concerns, per account. Relevance is by
template *and tone*: every demo interaction is written from one ``sales.demo_text.TOPICS`` template of a tone
(pos/neu/neg), recovered from its text by a regular expression, so "worried about price" means the negative
pricing and budget notes, not every note that names a price. A whole-book query has hundreds of relevant notes,
so its recall@5 is counted against min(5, relevant): the share of the first five results that are relevant.

The first run's scores are kept in ``heldout_results.json`` under ``first_run`` and never overwritten; later runs
go under ``latest``. Do not edit the queries to make a method look better: add new ones under a new id.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sales.demo_text import TOPICS

HERE = Path(__file__).resolve().parent
K = 5
MRR_DEPTH = 10

# (id, query, relevant (topic, tone) pairs; tone "*" = any). Written in one sitting before any tuning.
CONCERNS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("h01", "customer worried about price and budget", (("pricing_question", "neg"), ("budget", "neg"))),
    ("h02", "the buyer thinks we are too expensive", (("pricing_question", "neg"),)),
    ("h03", "spending is frozen and anything big needs the CFO", (("budget", "neg"),)),
    ("h04", "their budget got the green light", (("budget", "pos"),)),
    ("h05", "a rival vendor is undercutting us and they like the other product", (("competitor", "neg"),)),
    ("h06", "we are ahead of the other vendors in the evaluation", (("competitor", "pos"),)),
    ("h07", "security team found gaps in our answers", (("security_review", "neg"),)),
    ("h08", "their lawyers want changes to the contract terms", (("legal_redlines", "*"),)),
    ("h09", "rep asks the manager to approve a price cut to close", (("discount_request", "*"),)),
    ("h10", "our contact is leaving and hands the project to a colleague", (("champion_change", "*"),)),
    ("h11", "customer went silent and does not answer our emails", (("stall_note", "*"),)),
    ("h12", "they said yes on the phone, contract to follow", (("verbal_commit", "*"),)),
    ("h13", "why did we lose this one", (("lost", "*"), ("lost_email", "*"))),
    ("h14", "prospect asked us to stop emailing them", (("lead_reply_neg", "*"),)),
    ("h15", "identity provider login and where the data will be hosted", (("technical_question", "*"),)),
    (
        "h16",
        "questions about how the invoice is split or paid",
        (("pricing_question", "pos"), ("pricing_question", "neu")),
    ),
    ("h17", "a reorganisation pushed the decision out indefinitely", (("check_in", "neg"),)),
    ("h18", "the pilot is going well and their boss supports it", (("check_in", "pos"),)),
    ("h19", "paperwork signed, time to plan the kickoff", (("won", "*"), ("won_slack", "*"))),
    ("h20", "someone we met at a conference stand", (("lead_event", "*"),)),
)
# Concerns also asked per account ("what is <account> worried about?" with the account as a filter).
PER_ACCOUNT = ("h01", "h02", "h03", "h05", "h07", "h09", "h11", "h13")
ACCOUNTS_PER_CONCERN = 4


@dataclass(frozen=True)
class HeldOutQuery:
    qid: str
    scope: str  # book / account
    query: str
    account_id: int | None
    relevant: frozenset[int]


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    patterns = []
    for topic, spec in TOPICS.items():
        for tone, bodies in spec.items():
            if tone == "subject":
                continue
            for body in bodies:
                parts = re.split(r"\{[a-z_0-9]+\}", body)
                patterns.append((topic, tone, re.compile("(.*?)".join(re.escape(p) for p in parts), re.DOTALL)))
    patterns.sort(key=lambda item: -len(item[2].pattern))  # the most specific template first
    return patterns


def template_of(body: str) -> tuple[str, str] | None:
    """(topic, tone) of the template a demo interaction was written from, or None."""
    for topic, tone, pattern in _patterns():
        if pattern.search(body):
            return topic, tone
    return None


def _matches(label: tuple[str, str] | None, wanted: tuple[tuple[str, str], ...]) -> bool:
    return label is not None and any(label[0] == t and tone in ("*", label[1]) for t, tone in wanted)


def build_heldout(rows: list[tuple[int, int | None, str]], *, seed: int = 17) -> list[HeldOutQuery]:
    labels = {iid: template_of(body) for iid, _, body in rows}
    queries: list[HeldOutQuery] = []
    rng = random.Random(seed)
    for qid, text, wanted in CONCERNS:
        relevant = frozenset(iid for iid, _, _ in rows if _matches(labels[iid], wanted))
        if not relevant:
            continue
        queries.append(HeldOutQuery(qid, "book", text, None, relevant))
        if qid not in PER_ACCOUNT:
            continue
        by_account: dict[int, set[int]] = defaultdict(set)
        for iid, account_id, _ in rows:
            if account_id is not None and iid in relevant:
                by_account[account_id].add(iid)
        small = sorted(a for a, ids in by_account.items() if 1 <= len(ids) <= 5)
        for n, account_id in enumerate(rng.sample(small, min(ACCOUNTS_PER_CONCERN, len(small))), start=1):
            queries.append(HeldOutQuery(f"{qid}a{n}", "account", text, account_id, frozenset(by_account[account_id])))
    return queries


def score(ranked: list[int], relevant: frozenset[int]) -> tuple[float, float]:
    """(recall@K against min(K, relevant), reciprocal rank within MRR_DEPTH)."""
    recall = len(set(ranked[:K]) & relevant) / min(K, len(relevant))
    rr = next((1.0 / pos for pos, iid in enumerate(ranked[:MRR_DEPTH], start=1) if iid in relevant), 0.0)
    return recall, rr


def main() -> None:
    parser = argparse.ArgumentParser(description="held-out retrieval set on the demo data")
    parser.add_argument("--home", type=Path, required=True, help="a seeded (seed 7) and synced demo workspace")
    args = parser.parse_args()

    from sqlmodel import Session, select

    from evals.retrieval.run import evaluate
    from memory.config import MemorySettings
    from memory.index import InteractionIndex
    from store.db import make_engine
    from store.models import Interaction

    engine = make_engine(f"sqlite:///{args.home / 'salesgraph.db'}")
    index = InteractionIndex.from_settings(MemorySettings(home_dir=args.home))
    with Session(engine) as s:
        rows = [(r.id, r.account_id, r.body) for r in s.exec(select(Interaction)).all() if r.id is not None]
    queries = build_heldout(rows)
    result = evaluate(engine, index, queries, bucket=lambda q: str(q.scope), scorer=score)
    scores, per_query = result["scores"], result["per_query"]
    path = HERE / "heldout_results.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    run = {
        "scores": scores,
        "queries": {"total": len(queries), "book": sum(q.scope == "book" for q in queries)},
        "relevant_per_book_query": {q.qid: len(q.relevant) for q in queries if q.scope == "book"},
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "per_query": per_query,
    }
    out = {"first_run": previous.get("first_run", run), "latest": run}
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in run.items() if k != "per_query"}, indent=2))


if __name__ == "__main__":
    main()
