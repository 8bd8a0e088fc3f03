"""`salesgraph memory ...` and `salesgraph contacts forget` end to end in a temporary workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from memory.config import MemorySettings
from memory.index import InteractionIndex, open_chroma_client
from store.models import Contact, Interaction
from tests.unit.test_memory_world import NOTES, World, build_world, embedder


@pytest.fixture
def cli_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import bots.common
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SALESGRAPH_HOME", str(home))
    for name in ("SALESGRAPH_DATABASE_URL", "SALESGRAPH_USER", "SALESGRAPH_CHROMA_URL", "SALESGRAPH_EMBEDDINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("SALESGRAPH_INDEX_ON_WRITE", "false")  # these tests drive `memory sync` by hand
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    engine = bots.common.services().engine
    index = InteractionIndex(open_chroma_client(MemorySettings(home_dir=home)), embedder())
    yield build_world(engine, index)
    engine.dispose()
    get_settings.cache_clear()


def _run(*args: str) -> Any:
    from bots.cli import app

    return CliRunner().invoke(app, list(args))


def test_sync_search_status_and_permissions(cli_world: World) -> None:
    status = _run("memory", "status")
    assert status.exit_code == 0, status.output
    assert f"{len(NOTES)} waiting to be indexed" in status.output

    synced = _run("memory", "sync")
    assert synced.exit_code == 0, synced.output
    assert f"{len(NOTES)} interactions embedded" in synced.output
    assert "Receipt: audit #" in synced.output
    assert "0 waiting" in _run("memory", "status").output

    mine = _run("memory", "search", "Zentrix pricing", "--as", "rita@ex.example")
    assert mine.exit_code == 0, mine.output
    assert "Zentrix" in mine.output and "Acme Corp" in mine.output
    assert "Globex" not in mine.output  # another team's note mentions Zentrix too

    calls = _run("memory", "search", "requirements", "--channel", "call", "--since", "2026-09-04", "--mode", "vector")
    assert calls.exit_code == 0, calls.output
    assert "2026-09-06" in calls.output and "2026-09-02" not in calls.output

    bad = _run("memory", "search", "x", "--channel", "fax")
    assert bad.exit_code == 1 and "channel: must be one of" in bad.output
    rep_sync = _run("memory", "sync", "--as", "rita@ex.example")
    assert rep_sync.exit_code == 1 and "not an admin" in rep_sync.output


def test_forget_needs_yes_and_admin_then_erases_store_and_index(cli_world: World) -> None:
    assert _run("memory", "sync").exit_code == 0
    refused = _run("contacts", "forget", "buyer@acme.example")
    assert refused.exit_code == 1 and "--yes" in refused.output
    not_admin = _run("contacts", "forget", "buyer@acme.example", "--yes", "--as", "mona@ex.example")
    assert not_admin.exit_code == 1 and "admin" in not_admin.output
    with Session(cli_world.engine) as s:
        assert len(s.exec(select(Interaction)).all()) == len(NOTES)

    done = _run("contacts", "forget", "buyer@acme.example", "--yes")
    assert done.exit_code == 0, done.output
    assert "3 interactions deleted (and 6 index entries)" in done.output
    with Session(cli_world.engine) as s:
        assert s.get(Contact, cli_world.contacts["acme"]) is None
        assert len(s.exec(select(Interaction)).all()) == len(NOTES) - 3
    for ids in cli_world.index.inventory().entries.values():
        assert not ids.keys() & set(cli_world.interactions[:3])
    again = _run("contacts", "forget", "buyer@acme.example", "--yes")
    assert again.exit_code == 1 and "no contact, lead or message" in again.output
