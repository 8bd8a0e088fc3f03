"""salesgraph ask / chat / approvals as a user drives them (offline model, a fresh SQLite workspace)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from store.db import make_engine, session_scope, upgrade
from store.models import Approval, Deal
from tests.unit.test_agent_support import seed_team

pytest.importorskip("agent.offline", reason="the CLI tests talk to the offline model")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, object]]:
    import bots.common
    from app.settings import get_settings

    for name in ("SALESGRAPH_DATABASE_URL", "SALESGRAPH_MODEL", "SALESGRAPH_SEND_CHANNEL", "SALESGRAPH_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SALESGRAPH_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    engine = make_engine(f"sqlite:///{tmp_path / 'salesgraph.db'}")
    upgrade(engine)
    seed_team(engine)
    get_settings.cache_clear()
    monkeypatch.setattr(bots.common, "_services", None)
    from bots.cli import app

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input)

    yield run, engine
    get_settings.cache_clear()
    engine.dispose()


def test_ask_json_then_approvals_list_refuse_and_approve(cli: tuple[object, object]) -> None:
    run, engine = cli
    asked = run("ask", "please qualify Dana Fox, expected around 20k", "--as", "rita@example.com", "--json")  # type: ignore[operator]
    assert asked.exit_code == 0, asked.output
    payload = json.loads(asked.output)
    assert set(payload) >= {"answer", "tool_calls", "interrupts"}
    assert payload["tool_calls"][0]["name"] == "qualify_lead" and payload["answer"] == ""
    [request] = payload["interrupts"]
    approval_id = str(request["approval_id"])
    listed = run("approvals", "list", "--as", "mia@example.com")  # type: ignore[operator]
    assert "qualify_lead" in listed.output and "pending" in listed.output
    refused = run("approvals", "approve", approval_id, "--as", "rita@example.com")  # type: ignore[operator]
    assert refused.exit_code == 1 and "may not decide" in refused.output and "Traceback" not in refused.output
    approved = run("approvals", "approve", approval_id, "--as", "mia@example.com")  # type: ignore[operator]
    assert approved.exit_code == 0, approved.output
    assert "approved" in approved.output and "receipt" in approved.output
    again = run("approvals", "approve", approval_id, "--as", "mia@example.com")  # type: ignore[operator]
    assert again.exit_code == 1 and "already approved" in again.output
    with session_scope(engine) as s:  # type: ignore[arg-type]
        assert s.exec(select(Deal)).one().stage == "Qualified"


def test_chat_shows_the_approval_panel_and_decides_inline(cli: tuple[object, object]) -> None:
    run, engine = cli
    result = run(  # type: ignore[operator]
        "chat", "--as", "mia@example.com", input="qualify Dana Fox for 20k\nreject\nnot enough budget yet\n/quit\n"
    )
    assert result.exit_code == 0, result.output
    assert "approval needed: qualify_lead" in result.output and "not enough budget yet" in result.output
    with session_scope(engine) as s:  # type: ignore[arg-type]
        approval = s.exec(select(Approval)).one()
        assert approval.status == "rejected" and approval.reason == "not enough budget yet"
        assert s.exec(select(Deal)).first() is None


def test_unknown_model_is_a_friendly_error(cli: tuple[object, object]) -> None:
    run, _ = cli
    result = run("ask", "hello", "--model", "gpt-9", "--as", "rita@example.com")  # type: ignore[operator]
    assert result.exit_code == 1 and "unknown model" in result.output and "Traceback" not in result.output


def test_approvals_edit_sends_the_edited_text_to_the_outbox(cli: tuple[object, object]) -> None:
    from store.models import OutboundMessage

    run, engine = cli
    drafted = run("ask", "draft a follow-up to Dana Fox to book a demo", "--as", "rita@example.com", "--json")  # type: ignore[operator]
    thread = json.loads(drafted.output)["thread_id"]
    asked = run("ask", "send it", "--as", "rita@example.com", "--thread", thread, "--json")  # type: ignore[operator]
    [request] = json.loads(asked.output)["interrupts"]
    assert request["action"] == "send_follow_up"
    edited = run(  # type: ignore[operator]
        "approvals",
        "edit",
        str(request["approval_id"]),
        "--body",
        "Dana, shall we meet Thursday?",
        "--as",
        "mia@example.com",
    )
    assert edited.exit_code == 0, edited.output
    assert "approved with your changes" in edited.output and "NOT delivered" in edited.output
    with session_scope(engine) as s:  # type: ignore[arg-type]
        message = s.exec(select(OutboundMessage)).one()
        assert message.status == "queued" and message.body == "Dana, shall we meet Thursday?"
