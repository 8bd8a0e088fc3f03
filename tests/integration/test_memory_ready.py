"""Memory works out of the box: the demo's indexing step fills the vector index, so `memory search` answers by
meaning with no `memory sync`; a note logged afterwards is searchable once its transaction commits; and chat says
when the index is empty instead of a bare "I found nothing".

Small scale: the real demo company, trimmed to its first 150 interactions, embedded with the real MiniLM model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import delete, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from sales.demo import DEMO_ADMIN_EMAIL, DEMO_MANAGER_EMAIL, seed_demo
from store.db import session_scope
from store.models import Deal, Interaction

KEEP = 150


@pytest.fixture
def demo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import bots.common
    from app.settings import get_settings

    monkeypatch.setenv("SALESGRAPH_HOME", str(tmp_path / "demo"))
    for name in ("SALESGRAPH_DATABASE_URL", "SALESGRAPH_USER", "SALESGRAPH_CHROMA_URL", "SALESGRAPH_EMBEDDINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    svc = bots.common.services()
    with session_scope(svc.engine) as s:
        seed_demo(s, seed=7)
        s.execute(delete(Interaction).where(col(Interaction.id) > KEEP))
    yield svc
    svc.engine.dispose()
    get_settings.cache_clear()


def _cli(*args: str) -> Any:
    from bots.cli import app

    return CliRunner().invoke(app, list(args))


def _pending(svc: Any) -> int:
    with Session(svc.engine) as s:
        return int(
            s.exec(select(func.count()).select_from(Interaction).where(col(Interaction.indexed_at).is_(None))).one()
        )


def test_demo_indexing_makes_search_answer_by_meaning_without_a_sync(demo_home: Any) -> None:
    from bots.commands.memory import index_demo_workspace

    out = Console(record=True, width=200)
    report = index_demo_workspace(out, demo_home)
    assert report is not None and report.indexed == KEEP
    assert f"Indexed {KEEP} interactions" in out.export_text()
    assert _pending(demo_home) == 0

    found = _cli("memory", "search", "what did they say about pricing?", "--json", "--as", DEMO_MANAGER_EMAIL)
    assert found.exit_code == 0, found.output
    assert "not in the vector index yet" not in found.output
    hits = json.loads(found.stdout)
    assert hits and any("vector" in hit["matched_by"] for hit in hits)

    # A note logged afterwards through the normal write path is searchable as soon as it is committed.
    from sales.interactions import InteractionInput, log_interaction
    from sales.permissions import load_actor

    with session_scope(demo_home.engine) as s:
        admin = load_actor(s, DEMO_ADMIN_EMAIL)
        deal = s.exec(select(Deal).order_by(col(Deal.id))).first()
        assert deal is not None and deal.id is not None
        note, _ = log_interaction(
            s,
            admin,
            InteractionInput(deal_id=deal.id, body="Their fleet of refrigerated trucks keeps breaking down in winter."),
        )
    assert _pending(demo_home) == 0
    fresh = _cli(
        "memory", "search", "cold-chain vehicles failing", "--mode", "vector", "--json", "--as", DEMO_ADMIN_EMAIL
    )
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.stdout)[0]["interaction_id"] == note.id

    # An edit replaces the indexed text: the old meaning no longer finds it first, the new one does.
    from sales.interactions import update_interaction

    with session_scope(demo_home.engine) as s:
        update_interaction(
            s, admin, note.id or 0, body="The CFO wants a three-year payment plan with quarterly invoices."
        )
    assert _pending(demo_home) == 0
    edited = _cli(
        "memory", "search", "multi-year billing schedule", "--mode", "vector", "--json", "--as", DEMO_ADMIN_EMAIL
    )
    assert json.loads(edited.stdout)[0]["interaction_id"] == note.id
    stale = _cli(
        "memory", "search", "cold-chain vehicles failing", "--mode", "vector", "--json", "--as", DEMO_ADMIN_EMAIL
    )
    assert json.loads(stale.stdout)[0]["interaction_id"] != note.id


def test_chat_search_on_an_empty_index_says_so_and_names_the_command(demo_home: Any) -> None:
    from agent.context import Context
    from sales.permissions import load_actor
    from tools.analysis import search_interactions
    from tools.schemas import SearchInteractionsArgs

    with session_scope(demo_home.engine) as s:
        manager = load_actor(s, DEMO_MANAGER_EMAIL)
    ctx: Any = Context(actor=manager, services=demo_home, company="the demo company")
    result = search_interactions(ctx, SearchInteractionsArgs(query="zebra migration to the moon"))
    assert result.index_note is not None
    assert f"none of the {KEEP} notes" in result.index_note and "salesgraph memory sync" in result.index_note

    from agent.offline.compose import compose

    data = result.model_dump()
    answer = compose("search_interactions", {"query": result.query}, data, json.dumps(data))
    assert "I found nothing" in answer and "salesgraph memory sync" in answer
