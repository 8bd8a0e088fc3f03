"""The graph with ``openai:<model>`` against our own loopback server speaking the chat-completions protocol.

The server streams (server-sent events) tool calls and text the way OpenAI-compatible servers do; nothing in
our code is replaced by a mock: langchain-openai's real client talks HTTP to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from agent.graph import build_graph
from agent.models import ModelUnavailable, resolve_model
from app.settings import Settings
from store.db import session_scope
from store.models import AuditEvent, Lead
from tests.unit.test_agent_support import seed_team, services_for
from tools.registry import SPECS

LEAD_ARGS = {"name": "Nora Quinn", "email": "nora@bluefin.example", "company": "Bluefin Logistics"}


class ChatCompletions(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: calls create_lead, then answers from the tool's JSON result."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_error(404)
            return
        last = body["messages"][-1]
        if last["role"] == "tool":
            # tool results reach the model inside a data fence (customer text in them is data, not instructions)
            fenced = str(last["content"])
            assert fenced.startswith('<data source="tool create_lead">\n') and fenced.endswith("\n</data>")
            result = json.loads(fenced.split("\n", 1)[1].rsplit("\n", 1)[0])
            text = f"Created lead #{result['lead_id']} for {result['name']}, receipt #{result['receipt_id']}."
            deltas = [{"role": "assistant", "content": ""}] + [{"content": w + " "} for w in text.split(" ")]
            deltas[-1]["content"] = deltas[-1]["content"].rstrip()
            finish = "stop"
        else:
            arguments = json.dumps(LEAD_ARGS)
            deltas = [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_lead_1",
                            "type": "function",
                            "function": {"name": "create_lead", "arguments": ""},
                        }
                    ],
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:20]}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[20:]}}]},
            ]
            finish = "tool_calls"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(d.get("content") or "" for d in deltas)}
            if finish == "tool_calls":
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_lead_1",
                            "type": "function",
                            "function": {"name": "create_lead", "arguments": json.dumps(LEAD_ARGS)},
                        }
                    ],
                }
            self._json(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunks = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
        chunks.append({"index": 0, "delta": {}, "finish_reason": finish})
        for choice in chunks:
            event = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [choice],
            }
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[str]:
    ChatCompletions.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_openai_compatible_model_calls_tools_and_streams_its_answer(
    sqlite_engine: Engine, tmp_path: Path, server: str
) -> None:
    team = seed_team(sqlite_engine)
    settings = Settings(home=tmp_path, openai_base_url=server, openai_api_key="sk-loopback", _env_file=None)  # type: ignore[call-arg]
    model = resolve_model("openai:tiny-test-model", settings)
    graph = build_graph(model, checkpointer=InMemorySaver())
    services = services_for(sqlite_engine, tmp_path, openai_base_url=server)
    streamed: list[str] = []
    config = {"configurable": {"thread_id": "oa"}}
    for chunk, meta in graph.stream(
        {"messages": [HumanMessage("add Nora Quinn from Bluefin Logistics, nora@bluefin.example")]},
        config,
        context=Context(actor=team.rep, services=services),
        stream_mode="messages",
    ):
        if isinstance(chunk, AIMessageChunk) and chunk.content and meta.get("langgraph_node") == "agent":
            streamed.append(str(chunk.content))
    answer = graph.get_state(config).values["messages"][-1].content
    assert len(streamed) > 3 and "".join(streamed) == answer  # tokens arrived one by one
    with session_scope(sqlite_engine) as s:
        lead = s.exec(select(Lead).where(Lead.email == "nora@bluefin.example")).one()
        assert lead.owner_id == team.rep.user_id  # created as the Context's actor
        receipt = int(answer.split("receipt #")[1].rstrip("."))
        event = s.get(AuditEvent, receipt)
        assert event is not None and event.action == "create_lead" and event.record_id == str(lead.id)
    first, second = ChatCompletions.requests
    assert first["auth"] == "Bearer sk-loopback" and first["body"]["stream"] is True
    assert first["body"]["model"] == "tiny-test-model"
    tools = {t["function"]["name"]: t["function"] for t in first["body"]["tools"]}
    assert set(tools) == set(SPECS) and "qualify_lead" in tools  # every registered tool, each once
    assert tools["create_lead"]["parameters"]["required"] == ["name"]
    system = first["body"]["messages"][0]
    assert system["role"] == "system" and "Rita Rep" in system["content"] and "<data>" in system["content"]
    assert second["body"]["messages"][-1]["role"] == "tool"


def test_openai_model_needs_a_key_or_a_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALESGRAPH_OPENAI_API_KEY", "SALESGRAPH_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelUnavailable, match="SALESGRAPH_OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o-mini", Settings(home=tmp_path, _env_file=None))  # type: ignore[call-arg]
    with pytest.raises(ModelUnavailable, match="unknown model"):
        resolve_model("claude", Settings(home=tmp_path, _env_file=None))  # type: ignore[call-arg]
