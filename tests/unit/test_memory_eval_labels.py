"""The retrieval eval's ground truth: every demo text's topic is recovered from its text alone."""

from __future__ import annotations

import random

from evals.retrieval.labels import ASK, GROUPS, build_queries, topic_of
from sales.demo_text import TOPICS, Slots, TextComposer


def test_topic_of_recovers_the_template_topic_of_composed_texts() -> None:
    composer = TextComposer(random.Random(3))
    slots = Slots(company="Harborview Labs", industry="Software", contact="Ava Smith", contact_title="CFO",
                  rep="Sam Rivera", manager="Maria Chen")  # fmt: skip
    checked = 0
    for topic, spec in TOPICS.items():
        for tone in (t for t in spec if t != "subject"):
            for _ in range(5):
                for email in (True, False):
                    _, body = composer.topic(topic, tone, slots, email=email)
                    assert topic_of(body) == GROUPS.get(topic, topic), (topic, body)
                    checked += 1
    assert checked > 300


def test_queries_have_small_relevant_sets_and_paraphrased_asks() -> None:
    rows = [(i, 1 + i % 3, body) for i, body in enumerate(_bodies(90))]
    queries = build_queries(rows, seed=1)
    assert queries
    for q in queries:
        assert 1 <= len(q.relevant) <= 5
        if q.kind == "account":
            assert q.query in ASK[q.topic]
            assert all(rows[i][1] == q.account_id and topic_of(rows[i][2]) == q.topic for i in q.relevant)


def _bodies(n: int) -> list[str]:
    composer = TextComposer(random.Random(5))
    slots = Slots(company="Northgate Data", industry="Software", contact="Leo Park", contact_title="VP Sales",
                  rep="Sam Rivera", manager="Maria Chen")  # fmt: skip
    topics = sorted(ASK)
    return [composer.topic(topics[i % len(topics)], "neu", slots, email=i % 2 == 0)[1] for i in range(n)]
