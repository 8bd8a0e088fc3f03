"""The MCP front door driven by the SDK's own client (``mcp.ClientSession``) over stdio and streamable HTTP on
loopback: the real ``salesgraph mcp serve`` process, real tokens from ``salesgraph tokens``, and the store checked
afterwards. A guarded call returns a pending approval; the requester cannot approve it through MCP; an approver
decides it in the CLI (or in their own MCP client's form) and the action is carried out."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

REPO = Path(__file__).resolve().parents[2]
ADMIN, MANAGER, REP, OTHER = "ada@x.example", "mia@x.example", "rob@x.example", "ola@x.example"


class Workspace:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "SALESGRAPH_HOME": str(home), "COLUMNS": "200", "SALESGRAPH_MODEL": "offline"}
        self.env.pop("SALESGRAPH_DATABASE_URL", None)

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bots.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=180,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def token(self, email: str) -> str:
        made = json.loads(self.cli("tokens", "create", "--as", email, "--name", "test client", "--json").stdout)
        return str(made["token"])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "salesgraph.db") as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("mcp") / "home")
    ws.cli("users", "add", "--name", "Ada Admin", "--email", ADMIN, "--role", "admin")
    ws.cli("users", "add", "--name", "Mia Manager", "--email", MANAGER, "--role", "manager", "--as", ADMIN)
    ws.cli("users", "add", "--name", "Rob Rep", "--email", REP, "--manager", MANAGER, "--as", ADMIN)
    ws.cli("users", "add", "--name", "Ola Other", "--email", OTHER, "--as", ADMIN)
    ws.cli("leads", "create", "--name", "Jane Roe", "--email", "jane@acme.example", "--company", "Acme", "--as", REP)
    ws.cli("leads", "create", "--name", "Tom Poe", "--email", "tom@beta.example", "--company", "Beta", "--as", REP)
    return ws


def _json(result: types.CallToolResult) -> Any:
    assert not result.isError, result.content
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return json.loads(block.text)


def _error(result: types.CallToolResult) -> str:
    assert result.isError, result.content
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _stdio(ws: Workspace, token: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "bots.cli", "mcp", "serve", "--stdio"],
        env={**ws.env, "SALESGRAPH_MCP_TOKEN": token},
        cwd=str(REPO),
    )


def test_tokens_are_hashed_listed_revoked_with_receipts(workspace: Workspace) -> None:
    token = workspace.token(OTHER)
    assert token.startswith("sgt_") and len(token) > 40
    stored = workspace.query("SELECT id, token_hash, prefix FROM api_tokens ORDER BY id DESC LIMIT 1")[0]
    assert token not in stored and token[:10] == stored[2]
    audit = " ".join(str(r) for r in workspace.query("SELECT after FROM audit_events"))
    assert token not in audit
    listing = json.loads(workspace.cli("tokens", "list", "--as", OTHER, "--json").stdout)
    assert [t["id"] for t in listing] == [stored[0]]
    refused = workspace.cli("tokens", "revoke", str(stored[0]), "--as", REP, ok=False)
    assert refused.returncode == 1 and "belongs to someone else" in refused.stderr
    workspace.cli("tokens", "revoke", str(stored[0]), "--as", OTHER)
    actions = [r[0] for r in workspace.query("SELECT action FROM audit_events WHERE record_type = 'api_token'")]
    assert actions[-2:] == ["create_api_token", "revoke_api_token"]

    async def connect() -> None:
        async with stdio_client(_stdio(workspace, token)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

    # A revoked token: the server refuses to start, the client never gets a session.
    with pytest.raises(Exception):  # noqa: B017 (the SDK surfaces a closed pipe in several forms)
        anyio.run(connect)


def test_stdio_tools_read_and_an_approval_decided_in_the_cli(workspace: Workspace) -> None:
    from tools.registry import SPECS

    rob = workspace.token(REP)
    lead_id = workspace.query("SELECT id FROM leads WHERE name = 'Jane Roe'")[0][0]

    async def first_session() -> tuple[int, dict[str, Any]]:
        async with stdio_client(_stdio(workspace, rob)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(listed) == set(SPECS) | {"approval_status", "review_approval"}
            find = listed["find_records"].annotations
            assert find is not None and find.readOnlyHint is True
            send = listed["send_follow_up"].annotations
            assert send is not None and send.readOnlyHint is False and send.destructiveHint is True
            assert listed["create_lead"].annotations.destructiveHint is False  # type: ignore[union-attr]
            assert "lead_id" in listed["qualify_lead"].inputSchema["properties"]

            found = _json(await session.call_tool("find_records", {"entity": "lead", "query": "Jane"}))
            assert [r["id"] for r in found["records"]] == [lead_id]
            bad = _error(await session.call_tool("find_records", {"entity": "planet"}))
            assert "entity" in bad

            pending = _json(await session.call_tool("qualify_lead", {"lead_id": lead_id, "amount": 12000}))
            assert pending["status"] == "pending_approval"
            assert pending["who_may_approve"] == [MANAGER] and pending["requested_by"] == REP
            approval_id = int(pending["approval_id"])
            # The requester cannot approve it through MCP, whatever the client answers.
            own = _error(await session.call_tool("review_approval", {"approval_id": approval_id}))
            assert "your own request" in own
            status = _json(await session.call_tool("approval_status", {"approval_id": approval_id}))
            return approval_id, status

    approval_id, status = anyio.run(first_session)
    assert status["status"] == "pending" and status["executed_at"] is None
    assert workspace.query("SELECT status FROM leads WHERE id = ?", lead_id)[0][0] != "converted"
    assert workspace.query("SELECT count(*) FROM deals WHERE lead_id = ?", lead_id)[0][0] == 0

    # A rep is not an approver in the CLI either; the manager is, and the action is carried out.
    refused = workspace.cli("approvals", "approve", str(approval_id), "--as", REP, ok=False)
    assert refused.returncode == 1
    workspace.cli("approvals", "approve", str(approval_id), "--as", MANAGER)
    deals = workspace.query("SELECT id, amount FROM deals WHERE lead_id = ?", lead_id)
    assert len(deals) == 1 and float(deals[0][1]) == 12000
    assert workspace.query("SELECT executed_at FROM approvals WHERE id = ?", approval_id)[0][0] is not None

    async def second_session() -> dict[str, Any]:
        async with stdio_client(_stdio(workspace, rob)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return dict(_json(await session.call_tool("approval_status", {"approval_id": approval_id})))

    after = anyio.run(second_session)
    assert after["status"] == "approved" and after["decided_by"] == MANAGER
    assert after["outcome"]["result"]["deal_id"] == deals[0][0]


@pytest.fixture(scope="module")
def http_url(workspace: Workspace) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "mcp", "serve", "--http", "--port", "0"],
        env=workspace.env,
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/mcp", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_http_bad_token_is_refused(http_url: str) -> None:
    async def connect(headers: dict[str, str]) -> None:
        async with (
            streamable_http_client(http_url, http_client=create_mcp_http_client(headers=headers)) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()

    for headers in ({"Authorization": "Bearer sgt_not-a-token"}, {}):
        with pytest.raises(Exception) as refused:
            anyio.run(connect, headers)
        assert "401" in repr(refused.value) or "Unauthorized" in repr(refused.value)


def test_http_send_needs_someone_else_and_elicitation_decides(workspace: Workspace, http_url: str) -> None:
    rob, mia = workspace.token(REP), workspace.token(MANAGER)
    lead_id = workspace.query("SELECT id FROM leads WHERE name = 'Tom Poe'")[0][0]
    forms: list[str] = []

    async def approve_form(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        forms.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True, "reason": "looks right"})

    async def session_for(token: str, work: Any) -> Any:
        async with (
            streamable_http_client(
                http_url, http_client=create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
            ) as (read, write, _),
            ClientSession(read, write, elicitation_callback=approve_form) as session,
        ):
            await session.initialize()
            return await work(session)

    async def rob_asks(session: ClientSession) -> int:
        draft = _json(await session.call_tool("draft_follow_up", {"lead_id": lead_id, "purpose": "book a demo"}))
        pending = _json(await session.call_tool("send_follow_up", {"message_id": draft["message_id"]}))
        assert pending["status"] == "pending_approval"
        assert set(pending["who_may_approve"]) == {REP, MANAGER}  # the owner may approve sends... but not via MCP
        approval_id = int(pending["approval_id"])
        own = _error(await session.call_tool("review_approval", {"approval_id": approval_id}))
        assert "your own request" in own
        return approval_id

    approval_id = anyio.run(session_for, rob, rob_asks)
    assert forms == []  # the requester was never even asked
    message = workspace.query("SELECT status FROM outbound_messages ORDER BY id DESC LIMIT 1")[0][0]
    assert message not in ("sent", "queued")

    async def ola_tries(session: ClientSession) -> str:
        return _error(await session.call_tool("review_approval", {"approval_id": approval_id}))

    assert "not one you asked for" in anyio.run(session_for, workspace.token(OTHER), ola_tries)

    async def mia_reviews(session: ClientSession) -> Any:
        return _json(await session.call_tool("review_approval", {"approval_id": approval_id}))

    decided = anyio.run(session_for, mia, mia_reviews)
    assert len(forms) == 1 and f"Approval #{approval_id}" in forms[0]
    assert decided["status"] == "approved" and decided["decided_by"] == MANAGER
    assert decided["outcome"]["result"]["status"] in ("sent", "queued")
    status = workspace.query("SELECT status FROM outbound_messages ORDER BY id DESC LIMIT 1")[0][0]
    assert status in ("sent", "queued")
