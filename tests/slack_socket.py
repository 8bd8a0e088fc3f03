"""Our own loopback server speaking Slack's Socket Mode protocol, so the real ``SocketModeHandler`` is tested.

Socket Mode: the app calls ``apps.connections.open`` with its app-level token (``xapp-``) and gets a WebSocket URL;
Slack sends ``{"type": "hello"}``, then envelopes (``{"envelope_id", "type": "events_api" | "interactive" |
"slash_commands", "payload", "accepts_response_payload"}``); the app acknowledges each by sending back
``{"envelope_id": ...}`` (with an optional ``payload``). ``SlackAPIServer(app_token=...)`` answers
``apps.connections.open`` with this server's URL.

    with SocketModeServer() as socket_mode, SlackAPIServer(app_token="xapp-1", socket_url=socket_mode.url):
        socket_mode.wait_connected(); socket_mode.send("events_api", payload); socket_mode.wait_ack(envelope_id)
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class SocketModeServer:
    """Slack's Socket Mode endpoint on 127.0.0.1 (a free port); one app connection at a time."""

    def __init__(self) -> None:
        self._outbox: queue.Queue[str] = queue.Queue()
        self.acks: dict[str, dict[str, Any]] = {}
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "loopback"}}))
        self._connected.set()
        try:
            while True:
                with contextlib.suppress(queue.Empty):  # nothing to deliver: listen for acknowledgements
                    connection.send(self._outbox.get(timeout=0.05))
                try:
                    message = connection.recv(timeout=0.05)
                except TimeoutError:
                    continue
                data = json.loads(message)
                if "envelope_id" in data:
                    with self._lock:
                        self.acks[str(data["envelope_id"])] = data
        except ConnectionClosed:
            self._connected.clear()

    def wait_connected(self, timeout: float = 15.0) -> None:
        if not self._connected.wait(timeout):
            raise AssertionError("the app never opened its Socket Mode connection")

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver one envelope to the connected app; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": False}
        self._outbox.put(json.dumps(envelope))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.02)
        raise AssertionError(f"envelope {envelope_id} was never acknowledged")

    def __enter__(self) -> SocketModeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
