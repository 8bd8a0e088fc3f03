"""Keyword search over interaction text in the database itself: SQLite FTS5 (BM25) or PostgreSQL full text.

The full-text index is kept in step with the rows by the database (migration 0002), so this leg of hybrid
search is always current, even for interactions logged since the last vector sync.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, bindparam, column, func, literal_column, select, table
from sqlmodel import Session, col

from store.models import Interaction

# Must match the expression of ix_interactions_fulltext (migration 0002) for PostgreSQL to use the index.
PG_TSVECTOR = "to_tsvector('english'::regconfig, coalesce(interactions.subject, '') || ' ' || interactions.body)"
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Question words and glue that carry no topic; FTS5 has no stop list of its own.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "said",
        "say",
        "says",
        "tell",
        "told",
        "mention",
        "mentioned",
        "mentions",
        "anything",
        "something",
        "any",
    ]
)


def query_terms(query: str) -> list[str]:
    """The searchable words of ``query``, lowercased, stopwords removed, order kept, no duplicates."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        if token not in STOPWORDS and token not in seen:
            seen[token] = None
    return list(seen)


def keyword_search(session: Session, query: str, filters: list[Any], *, limit: int) -> list[tuple[int, float]]:
    """Interaction ids matching any term of ``query``, best first, as (id, score); ``filters`` are WHERE clauses."""
    terms = query_terms(query)
    if not terms:
        return []
    dialect = session.get_bind().dialect.name
    stmt: Select[Any]
    if dialect == "sqlite":
        fts_table = table("interactions_fts", column("rowid"))
        fts: Any = literal_column("interactions_fts")
        # Each term quoted: user text can never become FTS5 query syntax (NEAR, column filters, ...).
        match = " OR ".join(f'"{term}"' for term in terms)
        rank = func.bm25(fts)
        stmt = (
            select(col(Interaction.id), rank.label("rank"))
            .select_from(Interaction)
            .join(fts_table, fts_table.c.rowid == col(Interaction.id))
            .where(fts.op("MATCH")(bindparam("match", match)))
            .order_by(rank)
        )
    elif dialect == "postgresql":
        vector: Any = literal_column(PG_TSVECTOR)
        # Terms are [^\W_]+ only, so joining them with | is always a valid tsquery.
        tsquery = func.to_tsquery(literal_column("'english'::regconfig"), bindparam("match", " | ".join(terms)))
        rank = func.ts_rank_cd(vector, tsquery)
        stmt = select(col(Interaction.id), rank.label("rank")).where(vector.op("@@")(tsquery)).order_by(rank.desc())
    else:
        raise NotImplementedError(f"keyword search is not implemented for {dialect}")
    for clause in filters:
        stmt = stmt.where(clause)
    rows = session.execute(stmt.limit(limit)).all()
    # bm25() is lower-is-better (negative); ts_rank_cd higher-is-better. Report higher-is-better for both.
    return [(int(row[0]), float(-row[1] if dialect == "sqlite" else row[1])) for row in rows]
