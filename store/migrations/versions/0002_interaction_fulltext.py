"""interaction full-text index (keyword leg of memory's hybrid search)

SQLite: an FTS5 table over interactions.subject/body kept in step by triggers (external content, so the
text is stored once). PostgreSQL: a GIN index on the same tsvector expression memory.keyword queries.
The SQL row stays the source of truth; the keyword index can never fall behind it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE interactions_fts USING fts5("
    "subject, body, content='interactions', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER interactions_fts_ai AFTER INSERT ON interactions BEGIN "
    "INSERT INTO interactions_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END",
    "CREATE TRIGGER interactions_fts_ad AFTER DELETE ON interactions BEGIN "
    "INSERT INTO interactions_fts(interactions_fts, rowid, subject, body) "
    "VALUES ('delete', old.id, old.subject, old.body); END",
    # Only text edits touch the FTS table: memory's bookkeeping updates (indexed_at, sentiment) do not.
    "CREATE TRIGGER interactions_fts_au AFTER UPDATE OF subject, body ON interactions BEGIN "
    "INSERT INTO interactions_fts(interactions_fts, rowid, subject, body) "
    "VALUES ('delete', old.id, old.subject, old.body); "
    "INSERT INTO interactions_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END",
    "INSERT INTO interactions_fts(interactions_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS interactions_fts_au",
    "DROP TRIGGER IF EXISTS interactions_fts_ad",
    "DROP TRIGGER IF EXISTS interactions_fts_ai",
    "DROP TABLE IF EXISTS interactions_fts",
]
# Must match memory.keyword.PG_TSVECTOR exactly, or PostgreSQL will not use the index.
PG_UP = [
    "CREATE INDEX ix_interactions_fulltext ON interactions "
    "USING gin (to_tsvector('english'::regconfig, coalesce(subject, '') || ' ' || body))",
]
PG_DOWN = ["DROP INDEX IF EXISTS ix_interactions_fulltext"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UP)
    elif dialect == "postgresql":
        _run(PG_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_DOWN)
    elif dialect == "postgresql":
        _run(PG_DOWN)
