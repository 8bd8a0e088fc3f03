"""The PostgreSQL checkpointer is one pooled saver per process, not a connection per message."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import text

from agent.checkpoint import close_checkpoint_pools, postgres_checkpointer
from store.db import make_engine


def test_one_pooled_saver_serves_every_message_of_a_process() -> None:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("the pooled checkpointer test needs PostgreSQL: set TEST_DATABASE_URL")
    schema = f"sg_ckpt_pool_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    try:
        with postgres_checkpointer(base, schema=schema) as first, postgres_checkpointer(base, schema=schema) as again:
            assert first is again  # the same saver (and pool): nothing opened for the second message
        with admin.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
            opened = int(before.scalar_one())
        for _ in range(20):
            with postgres_checkpointer(base, schema=schema) as saver:
                saver.get_tuple({"configurable": {"thread_id": "nobody", "checkpoint_ns": ""}})
        with admin.connect() as conn:
            after = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
            assert int(after.scalar_one()) <= opened + 1  # twenty messages, no new connections kept
    finally:
        close_checkpoint_pools()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
