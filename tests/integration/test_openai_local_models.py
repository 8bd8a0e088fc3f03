"""What small local models really send back, served by our own loopback chat-completions server: tool calls written
as text, cut-off or unreadable arguments, near-miss and unknown tool names; and compact tool schemas plus a reply
cap for small context windows. langchain-openai's real client talks HTTP to it; the graph and tools are ours.

The replies are the shapes small models write when a server does not parse their tool calls (llama.cpp without
--jinja, llama-cpp-python's template formats, Ollama models without a tools template), plus the request details
llama-cpp-python needs (an explicit tool_choice, the max_tokens name). `bench/real_model.py` runs a real one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.context import Context
from agent.graph import build_graph
from agent.models import resolve_model
from app.settings import Settings
from store.db import session_scope
from store.models import Lead
from tests.unit.test_agent_support import seed_team, services_for

Reply = dict[str, Any]
"""One scripted model reply: {"content": text} and/or {"tool_calls": [(name, raw argument text), ...]}."""

LEAD = {"name": "Nora Quinn", "email": "nora@bluefin.example", "company": "Bluefin Logistics"}


class LocalModel(BaseHTTPRequestHandler):
    """Streams the next scripted reply for each chat-completions request, in small deltas like llama.cpp does."""

    script: ClassVar[list[Reply]] = []
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        n = len(self.requests) - 1
        reply = self.script[n] if n < len(self.script) else {"content": "(script finished)"}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        text = reply.get("content") or ""
        deltas += [{"content": text[i : i + 7]} for i in range(0, len(text), 7)]
        for index, (name, raw) in enumerate(reply.get("tool_calls") or []):
            head = {"index": index, "id": f"call_{n}_{index}", "type": "function"}
            deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": raw[i : i + 9]}}]}
                for i in range(0, len(raw), 9)
            ]
        finish = "tool_calls" if reply.get("tool_calls") else "stop"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        events = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
        events.append({"index": 0, "delta": {}, "finish_reason": finish})
        for choice in events:
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            self.wfile.write(f"data: {json.dumps({**chunk, 'choices': [choice]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def local_model() -> Iterator[str]:
    LocalModel.script, LocalModel.requests = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), LocalModel)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(engine: Engine, home: Path, base_url: str, script: list[Reply], **settings: Any) -> list[Any]:
    """One user turn through the real graph against the scripted server; the thread's messages afterwards."""
    LocalModel.script = script
    team = seed_team(engine)
    model = resolve_model(
        "openai:small-local",
        Settings(home=home, openai_base_url=base_url, _env_file=None, **settings),  # type: ignore[call-arg]
    )
    graph = build_graph(model, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "local"}, "recursion_limit": 12}
    graph.invoke(
        {"messages": [HumanMessage("add Nora Quinn from Bluefin Logistics, nora@bluefin.example")]},
        config,
        context=Context(actor=team.rep, services=services_for(engine, home)),
    )
    return list(graph.get_state(config).values["messages"])


def lead_created(engine: Engine) -> bool:
    with session_scope(engine) as s:
        return s.exec(select(Lead).where(Lead.email == LEAD["email"])).first() is not None


def tool_replies(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize(
    "written",
    [
        json.dumps({"name": "create_lead", "arguments": LEAD}),  # Llama 3 / plain JSON in the content
        f"<tool_call>\n{json.dumps({'name': 'create_lead', 'arguments': LEAD})}\n</tool_call>",  # Hermes / Qwen
        f"```json\n{json.dumps({'name': 'create_lead', 'parameters': LEAD})}\n```",  # fenced, 'parameters'
        f"functions.create_lead:\n{json.dumps(LEAD)}",  # llama.cpp's chatml-function-calling, leaked as text
        '```tool_code\ncreate_lead(name="Nora Quinn", email="nora@bluefin.example", company="Bluefin Logistics")\n```',
        json.dumps([{"type": "function", "function": {"name": "create_lead", "arguments": json.dumps(LEAD)}}]),
    ],
    ids=["json", "tool_call-tags", "fenced", "chatml-prefix", "python-call", "openai-shape-as-text"],
)
def test_a_tool_call_written_as_text_runs_the_tool(
    sqlite_engine: Engine, tmp_path: Path, local_model: str, written: str
) -> None:
    messages = run(sqlite_engine, tmp_path, local_model, [{"content": written}, {"content": "Created the lead."}])
    assert lead_created(sqlite_engine)
    first_ai = messages[1]
    assert first_ai.tool_calls[0]["name"] == "create_lead" and first_ai.content == ""  # the JSON is not the answer
    # the next request carries it back as a proper tool call, answered by the tool's result
    second = LocalModel.requests[1]["messages"]
    call = second[-2]["tool_calls"][0]
    assert call["function"]["name"] == "create_lead" and second[-1]["tool_call_id"] == call["id"]
    assert messages[-1].content == "Created the lead."


def test_prose_that_shows_json_stays_an_answer(sqlite_engine: Engine, tmp_path: Path, local_model: str) -> None:
    answer = 'I would call it like this: {"name": "create_lead", "arguments": {"name": "Nora Quinn"}}'
    messages = run(sqlite_engine, tmp_path, local_model, [{"content": answer}])
    assert not lead_created(sqlite_engine) and messages[-1].content == answer and len(LocalModel.requests) == 1


def test_cut_off_arguments_are_completed(sqlite_engine: Engine, tmp_path: Path, local_model: str) -> None:
    """A reply that ran out of tokens mid-object (finish_reason length in real life)."""
    cut = json.dumps(LEAD)[:-2]  # '... "company": "Bluefin Logistic'
    run(sqlite_engine, tmp_path, local_model, [{"tool_calls": [("create_lead", cut)]}, {"content": "Done."}])
    with session_scope(sqlite_engine) as s:
        lead = s.exec(select(Lead).where(Lead.email == LEAD["email"])).one()
        assert lead.name == "Nora Quinn"


def test_arguments_wrapped_twice_are_unwrapped(sqlite_engine: Engine, tmp_path: Path, local_model: str) -> None:
    twice = json.dumps({"arguments": json.dumps(LEAD)})
    run(sqlite_engine, tmp_path, local_model, [{"tool_calls": [("create_lead", twice)]}, {"content": "Done."}])
    assert lead_created(sqlite_engine)


def test_unreadable_arguments_get_an_error_the_model_can_act_on(
    sqlite_engine: Engine, tmp_path: Path, local_model: str
) -> None:
    script: list[Reply] = [
        {"tool_calls": [("create_lead", "name = Nora Quinn, from Bluefin")]},
        {"tool_calls": [("create_lead", json.dumps(LEAD))]},
        {"content": "Created the lead."},
    ]
    messages = run(sqlite_engine, tmp_path, local_model, script)
    second = LocalModel.requests[1]["messages"]
    # the protocol holds: the unreadable call went back as a tool call and got a tool reply with the same id
    assert second[-2]["tool_calls"][0]["id"] == second[-1]["tool_call_id"] == "call_0_0"
    assert "were not a JSON object" in second[-1]["content"]
    assert lead_created(sqlite_engine) and messages[-1].content == "Created the lead."


@pytest.mark.parametrize("written", ["functions.create_lead", "CreateLead", "create-lead", "Create_Lead"])
def test_near_miss_tool_names_are_read_as_ours(
    sqlite_engine: Engine, tmp_path: Path, local_model: str, written: str
) -> None:
    run(sqlite_engine, tmp_path, local_model, [{"tool_calls": [(written, json.dumps(LEAD))]}, {"content": "Done."}])
    assert lead_created(sqlite_engine)


def test_an_unknown_tool_gets_the_list_of_tools(sqlite_engine: Engine, tmp_path: Path, local_model: str) -> None:
    script: list[Reply] = [{"tool_calls": [("add_contact", json.dumps(LEAD))]}, {"content": "Sorry."}]
    run(sqlite_engine, tmp_path, local_model, script)
    (reply,) = tool_replies(LocalModel.requests[1])
    assert "no tool called 'add_contact'" in reply["content"] and "create_lead" in reply["content"]
    assert not lead_created(sqlite_engine)


def test_compact_tool_schemas_and_a_reply_cap_when_configured(
    sqlite_engine: Engine, tmp_path: Path, local_model: str
) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from tools.registry import langchain_tools

    full = [convert_to_openai_tool(t) for t in langchain_tools()]
    script: list[Reply] = [{"tool_calls": [("create_lead", json.dumps(LEAD))]}, {"content": "Done."}]
    run(sqlite_engine, tmp_path, local_model, script, openai_compact_tools=True, openai_max_tokens=256)
    compact = LocalModel.requests[0]
    assert compact["max_tokens"] == compact["max_completion_tokens"] == 256  # local servers read the old name
    assert len(json.dumps(compact["tools"])) < 0.6 * len(json.dumps(full))
    by_name = {t["function"]["name"]: t["function"] for t in compact["tools"]}
    assert list(by_name) == [t["function"]["name"] for t in full]
    lead = by_name["create_lead"]
    assert lead["description"] == "Create a new lead (a person who might buy) from details the user gives or pastes, such as an email signature."  # fmt: skip
    assert lead["parameters"]["required"] == ["name"]
    assert lead["parameters"]["properties"]["email"] == {"type": "string"}  # anyOf [string, null] and null default go
    question = by_name["pipeline_question"]["parameters"]["properties"]
    assert "count" in question["metric"]["enum"] and question["limit"]["maximum"] == 500  # enums and bounds stay
    assert lead_created(sqlite_engine)  # the tool still validates and runs


def test_full_tool_schemas_and_no_cap_by_default(sqlite_engine: Engine, tmp_path: Path, local_model: str) -> None:
    run(sqlite_engine, tmp_path, local_model, [{"content": "Hello."}])
    (request,) = LocalModel.requests
    assert "max_tokens" not in request and "max_completion_tokens" not in request
    assert request["tool_choice"] == "auto"  # said, not assumed: llama-cpp-python hides the tools otherwise
    lead = next(t["function"] for t in request["tools"] if t["function"]["name"] == "create_lead")
    assert lead["parameters"]["properties"]["name"]["description"] == "The person's full name."
