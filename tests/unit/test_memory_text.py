"""Chunking, sentiment, keyword terms and the over-fetching query the index checks against the caller's filters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from memory.chunking import CHUNK_WORDS, chunk_interaction
from memory.index import ChunkRecord, InteractionIndex, open_chroma_client
from memory.keyword import query_terms
from memory.sentiment import deal_sentiment_trend, label, score_sentiment
from sales.errors import NotFound, PermissionDenied
from sales.permissions import actor_for_user
from store.db import session_scope
from store.models import Deal, Interaction, Role, User
from tests.unit.test_memory_world import embedder


def test_short_text_is_one_chunk_with_the_subject() -> None:
    [chunk] = chunk_interaction("Pricing", "Can we get 10% off?")
    assert chunk.text == "Pricing\nCan we get 10% off?"


def test_long_text_chunks_cover_every_word_and_fit_the_model() -> None:
    words = [f"w{i}" for i in range(1000)]
    body = " ".join(words)
    chunks = chunk_interaction("Notes", body)
    assert len(chunks) > 1
    covered = set()
    for chunk in chunks:
        covered.update(body[chunk.start : chunk.end].split())
        assert chunk.text.startswith("Notes\n")
        assert embedder().count_tokens(chunk.text) <= 256
        assert len(body[chunk.start : chunk.end].split()) <= CHUNK_WORDS
    assert covered == set(words)
    assert chunk_interaction("Notes", body) == chunks  # deterministic


def test_sentiment_is_signed_and_bounded() -> None:
    good = score_sentiment("Great demo, they loved it and are excited to sign!")
    bad = score_sentiment("Terrible call. They are angry about the outage and will cancel.")
    assert good > 0.5 and label(good) == "positive"
    assert bad < -0.5 and label(bad) == "negative"
    assert score_sentiment("") == 0.0
    assert label(score_sentiment("The meeting is on Tuesday.")) == "neutral"


def test_deal_trend_follows_the_tone_over_time(sqlite_engine: Engine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    texts = [
        "Wonderful first call, they love the product and are thrilled.",
        "Good demo, positive feedback.",
        "They are worried about the price and unhappy with the terms.",
        "Angry email: they feel misled and are furious, deal is at serious risk.",
    ]
    with session_scope(sqlite_engine) as s:
        rep = User(name="R", email="r@x.example", role=Role.REP)
        other = User(name="O", email="o@x.example", role=Role.REP)
        s.add_all([rep, other])
        s.flush()
        assert rep.id is not None
        deal = Deal(name="D", owner_id=rep.id, stage="Discovery")
        s.add(deal)
        s.flush()
        assert deal.id is not None
        deal_id = deal.id
        for i, text in enumerate(texts):
            s.add(
                Interaction(
                    deal_id=deal_id,
                    user_id=rep.id,
                    channel="email",
                    body=text,
                    occurred_at=start + timedelta(days=10 * i),
                    sentiment=score_sentiment(text) if i < 2 else None,
                )
            )
    with session_scope(sqlite_engine) as s:
        trend = deal_sentiment_trend(s, deal_id)
        assert trend.direction == "declining"
        assert trend.slope_per_30_days is not None and trend.slope_per_30_days < 0
        assert trend.unscored == 2  # scored on the fly, never silently missing
        assert trend.recent_mean is not None and trend.mean is not None and trend.recent_mean < trend.mean
        outsider = s.get(User, other.id)
        assert outsider is not None
        with pytest.raises(PermissionDenied):
            deal_sentiment_trend(s, deal_id, actor=actor_for_user(s, outsider))
        with pytest.raises(NotFound):
            deal_sentiment_trend(s, 999)


def test_query_terms_drop_question_words_and_cannot_inject_syntax() -> None:
    assert query_terms("What did Acme say about pricing?") == ["acme", "pricing"]
    assert query_terms('NEAR("a" b) OR col:secret*') == ["near", "b", "col", "secret"]
    assert query_terms("what did they say?") == []


class _FixedVectors:
    """Stored vectors are given directly; only the index's query path is under test here."""

    model_id = "fixed-test-vectors"
    dimension = 16

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("this test never embeds text")


def test_checked_query_over_fetches_until_exact(tmp_path: Path) -> None:
    """A search checked by ``keep`` (3 % pass) returns exactly the nearest passing interactions, as brute force."""
    from memory.config import MemorySettings

    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = InteractionIndex(open_chroma_client(MemorySettings(home_dir=tmp_path)), _FixedVectors())  # type: ignore[arg-type]
    records = [
        ChunkRecord(f"{i}:0", i, i % 20, "", {"interaction_id": i, "chunk": 0, "owner_id": i % 20, "version": "v"})
        for i in range(3000)
    ]
    index.upsert(records, vectors)
    passing = {i for i in range(3000) if i % 33 == 0}  # 91 of 3,000
    asked: list[int] = []

    def keep(ids: Sequence[int]) -> set[int]:
        asked.append(len(ids))
        return {i for i in ids if i in passing}

    query = rng.normal(size=(1, 16)).astype(np.float32)
    query /= np.linalg.norm(query)
    hits = index.query(query, owners=frozenset(range(20)), n=20, keep=keep)
    truth = sorted(passing, key=lambda i: -float(vectors[i] @ query[0]))[:20]
    assert [h.interaction_id for h in hits] == truth
    assert len(asked) >= 2 and sum(asked) < 3000  # grew past the first fetch, never asked about the same id twice
    # Without a check, a restricted search stays on the owners' own collections.
    own = index.query(query, owners=frozenset({7}), n=5)
    assert own and all(h.interaction_id % 20 == 7 for h in own)
    assert index.query(query, owners=frozenset(), n=5) == []


def test_convex_fusion_lets_one_confident_exact_match_win() -> None:
    from memory.search import convex_fuse, min_max, rrf_fuse

    vector = {1: 0.52, 3: 0.51, 2: 0.49}  # flat: meaning alone barely tells them apart
    keyword = {3: 9.0, 2: 1.0}  # one rare exact name, far ahead
    fused = convex_fuse(vector, keyword, 0.5)
    assert max(fused, key=lambda i: fused[i]) == 3
    assert fused[3] - max(fused[1], fused[2]) > 0.3
    assert min_max({7: 2.0}) == {7: 1.0}
    rrf = rrf_fuse([[1, 3, 2], [3, 2]])
    assert abs(rrf[3] - rrf[2]) < 0.001  # rank fusion ignores how far ahead the exact match was


def test_a_keyword_leg_that_only_shares_common_words_does_not_outrank_meaning() -> None:
    from sqlmodel import Session, create_engine

    from memory.search import BM25_CONFIDENT, convex_fuse, keyword_confidence

    vector = {1: 0.71, 2: 0.70, 3: 0.40}  # 1 and 2 mean what was asked; 3 only names "price"
    weak = {3: 6.0, 1: 5.5}  # BM25 of a common word: the best keyword hit is barely ahead
    with Session(create_engine("sqlite://")) as s:
        confidence = keyword_confidence(s, weak)
        assert confidence == 6.0 / BM25_CONFIDENT
        assert keyword_confidence(s, {9: 19.0}) == 1.0  # a rare name keeps the keyword leg's full weight
        assert keyword_confidence(s, {}) == 0.0
    unscaled = convex_fuse(vector, weak, 0.5)
    scaled = convex_fuse(vector, weak, 0.5, keyword_scale=confidence)
    assert unscaled[3] > unscaled[2]  # min-max makes the weak match look certain: it outranks a note on topic
    assert scaled[1] > scaled[2] > scaled[3]
