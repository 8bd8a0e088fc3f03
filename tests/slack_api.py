"""Our own loopback server speaking the Slack Web API, for tests of the Slack front door and the briefings.

Slack is a public SaaS, so tests do not mock our code or slack_sdk: the real ``slack_sdk.WebClient`` (and the
real Bolt app) talk HTTP to this server (``base_url=server.base_url``). It implements the methods salesgraph
uses, the way Slack answers them (``{"ok": true, ...}`` or ``{"ok": false, "error": ...}`` with HTTP 200),
checks the bot token, and records every call for assertions (``state.fail_next[method]`` makes its next calls
answer ``{"ok": false, "error": ...}``, as Slack does on a passing fault):

- ``auth.test``, ``users.info``, ``users.lookupByEmail``, ``conversations.open``, ``conversations.info``,
  ``conversations.history`` (the messages posted here, newest first, metadata with ``include_all_metadata``)
- ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``views.open``, ``views.update``, ``views.publish``
- ``reactions.add``, ``reactions.remove`` (``already_reacted`` / ``no_reaction`` as Slack answers them)
- the external file upload: ``files.getUploadURLExternal`` → POST the bytes to the returned URL →
  ``files.completeUploadExternal`` (what ``WebClient.files_upload_v2`` does)
- ``response_url`` posts (``/respond/<id>``), which Bolt's ``respond()`` sends to

Add methods here as the product needs them; keep answers shaped like Slack's documented responses.

    with SlackAPIServer(token="xoxb-test", users={"U1": "rita@example.com"}) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class SlackCall:
    """One Web API call as the server received it."""

    method: str  # e.g. "chat.postMessage"
    params: dict[str, Any]  # form or JSON body, JSON-encoded fields (blocks) decoded
    token: str | None
    response: dict[str, Any] | None = None  # what the server answered (e.g. the ts of a posted message)


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    content: bytes = b""
    completed: bool = False
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None


@dataclass
class SlackState:
    token: str
    users: dict[str, str]  # Slack user id -> email
    app_token: str | None = None  # the app-level token (xapp-) apps.connections.open accepts
    scopes: frozenset[str] | None = None  # the bot token's scopes; None: not checked
    socket_url: str | None = None  # what apps.connections.open answers (tests/slack_socket.py)
    bot_user_id: str = "UBOT"
    team_id: str = "T0TEST"
    calls: list[SlackCall] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # bodies posted to response_url
    reactions: set[tuple[str, str, str]] = field(default_factory=set)  # (channel, ts, name) on messages now
    not_in: set[str] = field(default_factory=set)  # channels the bot was not added to (chat.postMessage refuses)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages posted, oldest first
    fail_next: dict[str, list[str]] = field(default_factory=dict)  # method -> errors to answer its next calls with
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"


_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")
# The bot scopes a method needs (any one of them), as Slack's method pages list them.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "users.info": frozenset({"users:read"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "conversations.open": frozenset({"channels:manage", "groups:write", "im:write", "mpim:write"}),
    "conversations.info": frozenset({"channels:read", "groups:read", "im:read", "mpim:read"}),
    "conversations.history": frozenset({"channels:history", "groups:history", "im:history", "mpim:history"}),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.remove": frozenset({"reactions:write"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
}


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in _JSON_FIELDS:
        if isinstance(out.get(key), str):
            with contextlib.suppress(ValueError):  # a plain string stays as sent
                out[key] = json.loads(out[key])
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _reply(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if path.startswith("/upload/"):
            file_id = path.rsplit("/", 1)[-1]
            with state.lock:
                upload = state.uploads.get(file_id)
                if upload is None:
                    self._reply({"ok": False, "error": "file_not_found"}, 404)
                    return
                upload.content = raw
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        if path.startswith("/respond/"):
            with state.lock:
                state.responses.append(json.loads(raw or b"{}"))
            self._reply({"ok": True})
            return
        if not path.startswith("/api/"):
            self._reply({"ok": False, "error": "not_found"}, 404)
            return
        method = path[len("/api/") :]
        content_type = self.headers.get("Content-Type", "")
        if "application/json" in content_type:
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.pop("token", None)
        params = _decode(params)
        call = SlackCall(method, params, token)
        # apps.connections.open takes the app-level token (Socket Mode); every other method the bot token
        needed = METHOD_SCOPES.get(method, frozenset())
        if token != (state.app_token if method == "apps.connections.open" else state.token):
            call.response = {"ok": False, "error": "invalid_auth"}
        elif state.scopes is not None and needed and not needed & state.scopes:
            call.response = {"ok": False, "error": "missing_scope", "needed": ",".join(sorted(needed))}
        elif state.fail_next.get(method):
            with state.lock:
                call.response = {"ok": False, "error": state.fail_next[method].pop(0)}
        else:
            handler = getattr(self, "api_" + method.replace(".", "_"), None)
            call.response = handler(params) if handler is not None else {"ok": False, "error": "unknown_method"}
        with state.lock:
            state.calls.append(call)
        self._reply(call.response)

    # -- methods -------------------------------------------------------------------------------------

    def api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        s = self.server.state
        return {"ok": True, "url": "https://test.slack.example/", "team": "Test", "user": "salesgraph",
                "team_id": s.team_id, "user_id": s.bot_user_id, "bot_id": "B0TEST"}  # fmt: skip

    def _user(self, user_id: str) -> dict[str, Any] | None:
        email = self.server.state.users.get(user_id)
        if email is None:
            return None
        name = email.split("@")[0]
        return {"id": user_id, "team_id": self.server.state.team_id, "name": name, "deleted": False,
                "is_bot": False, "profile": {"email": email, "real_name": name, "display_name": name}}  # fmt: skip

    def api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._user(str(params.get("user", "")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = str(params.get("email", "")).lower()
        for user_id, email in self.server.state.users.items():
            if email.lower() == wanted:
                return {"ok": True, "user": self._user(user_id)}
        return {"ok": False, "error": "users_not_found"}

    def api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.replace(",", "")}}

    def api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_member": True}}

    def _need(self, params: dict[str, Any], *keys: str) -> dict[str, Any] | None:
        for key in keys:
            if not params.get(key):
                return {"ok": False, "error": f"missing_argument:{key}" if key != "channel" else "channel_not_found"}
        return None

    def api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel")) is not None:
            return problem
        if params["channel"] in self.server.state.not_in:
            return {"ok": False, "error": "not_in_channel"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self.server.state.next_ts()
        message = {"type": "message", "user": self.server.state.bot_user_id, "ts": ts, "text": params.get("text", "")}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if params.get("blocks"):
            message["blocks"] = params["blocks"]
        if isinstance(params.get("metadata"), dict):
            message["metadata"] = params["metadata"]
        with self.server.state.lock:
            self.server.state.history.setdefault(str(params["channel"]), []).append(message)
        return {"ok": True, "channel": params["channel"], "ts": ts, "message": message}

    def api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel")) is not None:
            return problem
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self.server.state.lock:
            posted = list(self.server.state.history.get(str(params["channel"]), []))
        messages = [
            {k: v for k, v in m.items() if k != "metadata" or with_metadata}
            for m in reversed(posted)  # newest first, as Slack answers
            if float(m["ts"]) > oldest
        ][: int(params.get("limit") or 100)]
        return {"ok": True, "messages": messages, "has_more": False}

    def api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel", "ts")) is not None:
            return problem
        return {"ok": True, "channel": params["channel"], "ts": params["ts"], "text": params.get("text", "")}

    def api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel", "user")) is not None:
            return problem
        if params["channel"] in self.server.state.not_in:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": self.server.state.next_ts()}

    def api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "trigger_id", "view")) is not None:
            return problem
        view = dict(params["view"])
        view["id"] = self.server.state.next_id("V")
        return {"ok": True, "view": view}

    def api_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "view")) is not None:
            return problem
        return {"ok": True, "view": params["view"]}

    def api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "user_id", "view")) is not None:
            return problem
        if params["view"].get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        view = dict(params["view"])
        view["id"] = self.server.state.next_id("V")
        return {"ok": True, "view": view}

    def api_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel", "timestamp", "name")) is not None:
            return problem
        key = (str(params["channel"]), str(params["timestamp"]), str(params["name"]))
        with self.server.state.lock:
            if key in self.server.state.reactions:
                return {"ok": False, "error": "already_reacted"}
            self.server.state.reactions.add(key)
        return {"ok": True}

    def api_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "channel", "timestamp", "name")) is not None:
            return problem
        key = (str(params["channel"]), str(params["timestamp"]), str(params["name"]))
        with self.server.state.lock:
            if key not in self.server.state.reactions:
                return {"ok": False, "error": "no_reaction"}
            self.server.state.reactions.discard(key)
        return {"ok": True}

    def api_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.server.state.socket_url
        return {"ok": True, "url": url} if url else {"ok": False, "error": "not_allowed_token_type"}

    def api_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if (problem := self._need(params, "filename", "length")) is not None:
            return problem
        state = self.server.state
        file_id = state.next_id("F")
        with state.lock:
            state.uploads[file_id] = Upload(file_id, str(params["filename"]), int(params["length"]))
        return {"ok": True, "upload_url": f"{self.server.root_url}/upload/{file_id}", "file_id": file_id}

    def api_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        state = self.server.state
        files = params.get("files") or []
        done = []
        with state.lock:
            for item in files:
                upload = state.uploads.get(item.get("id"))
                if upload is None or len(upload.content) != upload.length:
                    return {"ok": False, "error": "file_not_found" if upload is None else "file_upload_size_mismatch"}
                upload.completed = True
                upload.title = item.get("title")
                upload.channel = params.get("channel_id") or params.get("channels")
                upload.initial_comment = params.get("initial_comment")
                upload.thread_ts = params.get("thread_ts")
                done.append({"id": upload.file_id, "title": upload.title or upload.filename, "name": upload.filename})
        return {"ok": True, "files": done}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: SlackState
    root_url: str


class SlackAPIServer:
    """A Slack Web API on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        users: dict[str, str] | None = None,
        *,
        app_token: str | None = None,
        socket_url: str | None = None,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.state = SlackState(
            token=token,
            users=dict(users or {}),
            app_token=app_token,
            socket_url=socket_url,
            scopes=frozenset(scopes) if scopes is not None else None,
        )
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        port = self._server.server_address[1]
        self._server.root_url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-api", daemon=True)

    @property
    def root_url(self) -> str:
        return self._server.root_url

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=...)`` takes (it appends the method name)."""
        return self._server.root_url + "/api/"

    def response_url(self, name: str = "1") -> str:
        return f"{self._server.root_url}/respond/{name}"

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def __enter__(self) -> SlackAPIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
