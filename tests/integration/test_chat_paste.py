"""`salesgraph chat` in a real pseudo-terminal: a bracketed paste of a request and a signature is ONE message."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select as sql_select

from store.db import make_engine, session_scope, upgrade
from store.models import Lead
from tests.unit.test_agent_support import seed_team

pty = pytest.importorskip("pty", reason="pseudo-terminals need a POSIX system")

REPO = Path(__file__).resolve().parents[2]
PASTE_START, PASTE_END = b"\x1b[200~", b"\x1b[201~"
# What a terminal sends for a paste: the lines joined by carriage returns, inside the markers.
SIGNATURE = (
    b"Add this lead, from the signature in her email:\r\r"
    b"Nora Quinn\rHead of Operations | Bluefin Logistics\rnora.quinn@bluefin-logistics.example\r+1 (415) 555-0199"
)


class Terminal:
    """The chat process on the slave end of a pty; the test types on the master end and reads the screen."""

    def __init__(self, home: Path) -> None:
        self.master, slave = os.openpty()
        env = {**os.environ, "SALESGRAPH_HOME": str(home), "COLUMNS": "200", "TERM": "xterm"}
        for name in ("SALESGRAPH_DATABASE_URL", "SALESGRAPH_MODEL", "SALESGRAPH_USER", "SALESGRAPH_SEND_CHANNEL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", "chat", "--as", "rita@example.com"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=REPO,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.screen = b""

    def read_until(self, marker: bytes, count: int = 1, timeout: float = 60.0) -> bytes:
        deadline = time.monotonic() + timeout
        while self.screen.count(marker) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} (x{count}) on screen:\n{self.screen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    break
        return self.screen

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


def test_a_bracketed_paste_of_a_signature_creates_exactly_one_lead(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'salesgraph.db'}")
    upgrade(engine)
    seed_team(engine)
    terminal = Terminal(tmp_path)
    try:
        screen = terminal.read_until(b"you>")
        terminal.type(PASTE_START + SIGNATURE + PASTE_END + b"\r")
        screen = terminal.read_until(b"you>", count=2)
        assert b"\x1b[?2004h" in screen  # the chat switched bracketed paste on for the read
        terminal.type(b"/quit\r")
        terminal.read_until(b"\x1b[?2004l", count=2)
    finally:
        code = terminal.close()
    text = terminal.screen.decode(errors="replace")
    assert code == 0, text
    assert "create_lead" in text and "Traceback" not in text
    with session_scope(engine) as s:
        leads = s.exec(sql_select(Lead).where(Lead.name != "Dana Fox")).all()
        assert [(lead.name, lead.email, lead.company) for lead in leads] == [
            ("Nora Quinn", "nora.quinn@bluefin-logistics.example", "Bluefin Logistics")
        ]
        assert leads[0].phone == "+14155550199"
    engine.dispose()


def test_a_line_ending_with_a_colon_opens_a_block_until_a_blank_line(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'salesgraph.db'}")
    upgrade(engine)
    seed_team(engine)
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(b"you>")
        for line in (b"Add this lead:", b"Nora Quinn", b"Head of Operations | Bluefin Logistics"):
            terminal.type(line + b"\r")
        terminal.type(b"nora.quinn@bluefin-logistics.example\r\r")
        terminal.read_until(b"you>", count=2)
        terminal.type(b"/quit\r")
    finally:
        code = terminal.close()
    assert code == 0, terminal.screen.decode(errors="replace")
    with session_scope(engine) as s:
        names = [lead.name for lead in s.exec(sql_select(Lead)).all()]
    assert sorted(names) == ["Dana Fox", "Nora Quinn"]
    engine.dispose()
