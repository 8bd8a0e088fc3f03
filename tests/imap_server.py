"""A small IMAP4rev1 server on loopback for the inbound-mail tests: the real ``imaplib`` client talks TCP to it.

No package on the machine ships a test IMAP server (pymap is a full server with its own configuration and
dependencies), so this implements the part of RFC 3501 the poller uses, the way a server answers it: greeting,
``CAPABILITY``, ``LOGIN`` (``NO [AUTHENTICATIONFAILED]`` on a wrong password), ``SELECT``/``EXAMINE`` (EXISTS,
FLAGS, ``[UIDVALIDITY]``, ``[UIDNEXT]``, ``[READ-ONLY]``), ``UID SEARCH UID n:*`` (with the rule that ``n:*``
always includes the highest UID) and ``UID SEARCH SINCE date`` (by internal date), ``UID FETCH`` with ``UID``,
``FLAGS``, ``BODY[]`` and ``BODY.PEEK[]`` (a literal per message; ``BODY[]`` sets ``\\Seen`` unless read-only),
``NOOP`` and ``LOGOUT``; with a TLS context, IMAPS (TLS from the start) or ``STARTTLS`` (and ``LOGIN`` refused
before it, ``[PRIVACYREQUIRED]``). Every command line is recorded.

    with ImapServer(user="inbox@example.com", password="s3cret") as imap:
        imap.deliver(raw_bytes)
        ...  # imaplib.IMAP4("127.0.0.1", imap.port)
"""

from __future__ import annotations

import re
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)
    internal_date: date = field(default_factory=lambda: datetime.now(UTC).date())


@dataclass
class MailboxState:
    user: str
    password: str
    folder: str = "INBOX"
    uidvalidity: int = 1
    messages: list[StoredMessage] = field(default_factory=list)
    next_uid: int = 1
    commands: list[str] = field(default_factory=list)
    """Every command line received, tag stripped (the LOGIN line's password replaced by ***)."""
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_TOKEN = re.compile(rb'"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<paren>\([^()]*\))|(?P<atom>[^\s()"]+)')


def _tokens(line: bytes) -> list[str]:
    """Atoms, quoted strings (unescaped) and parenthesised lists (kept whole) of a command line."""
    out = []
    for found in _TOKEN.finditer(line):
        if found.lastgroup == "quoted":
            out.append(re.sub(r"\\(.)", r"\1", found.group("quoted").decode()))
        else:
            out.append(found.group(0).decode())
    return out


def _in_set(uid: int, spec: str, highest: int) -> bool:
    for part in spec.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
            low = highest if a == "*" else int(a)
            high = highest if b == "*" else int(b)
            low, high = min(low, high), max(low, high)  # RFC 3501: n:m is the same as m:n
            if low <= uid <= high:
                return True
        elif (highest if part == "*" else int(part)) == uid:
            return True
    return False


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def handle(self) -> None:
        state = self.server.state
        authenticated = False
        selected = False
        read_only = False
        tls = self.server.tls
        if tls is not None and self.server.implicit_tls:
            self._start_tls(tls)
        self.send(b"* OK IMAP4rev1 test server ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n")
            tag, _, rest = line.partition(b" ")
            parts = _tokens(rest)
            if not parts:
                self.send(tag + b" BAD empty command\r\n")
                continue
            command = parts[0].upper()
            recorded = f"LOGIN {parts[1] if len(parts) > 1 else ''} ***" if command == "LOGIN" else rest.decode()
            with state.lock:
                state.commands.append(recorded)
            if command == "CAPABILITY":
                starttls = b" STARTTLS" if tls is not None and not self.server.implicit_tls else b""
                self.send(b"* CAPABILITY IMAP4rev1 LITERAL+" + starttls + b"\r\n" + tag + b" OK CAPABILITY done\r\n")
            elif command == "STARTTLS" and tls is not None and not isinstance(self.request, ssl.SSLSocket):
                self.send(tag + b" OK begin TLS negotiation now\r\n")
                self._start_tls(tls)
            elif command == "LOGIN" and tls is not None and not isinstance(self.request, ssl.SSLSocket):
                self.send(tag + b" NO [PRIVACYREQUIRED] log in after STARTTLS\r\n")
            elif command == "NOOP":
                self.send(tag + b" OK NOOP completed\r\n")
            elif command == "LOGOUT":
                self.send(b"* BYE logging out\r\n" + tag + b" OK LOGOUT completed\r\n")
                return
            elif command == "LOGIN":
                if len(parts) == 3 and parts[1] == state.user and parts[2] == state.password:
                    authenticated = True
                    with state.lock:
                        state.logins += 1
                    self.send(tag + b" OK [CAPABILITY IMAP4rev1] LOGIN completed\r\n")
                else:
                    self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
            elif not authenticated:
                self.send(tag + b" BAD log in first\r\n")
            elif command in ("SELECT", "EXAMINE"):
                if len(parts) != 2 or parts[1].upper() != state.folder.upper():
                    self.send(tag + b" NO [NONEXISTENT] no such mailbox\r\n")
                    continue
                selected, read_only = True, command == "EXAMINE"
                with state.lock:
                    exists, validity, uidnext = len(state.messages), state.uidvalidity, state.next_uid
                self.send(
                    f"* {exists} EXISTS\r\n* 0 RECENT\r\n"
                    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                    f"* OK [UIDVALIDITY {validity}] UIDs valid\r\n* OK [UIDNEXT {uidnext}] predicted next UID\r\n"
                    f"{tag.decode()} OK [{'READ-ONLY' if read_only else 'READ-WRITE'}] {command} completed\r\n".encode()
                )
            elif not selected:
                self.send(tag + b" BAD select a mailbox first\r\n")
            elif command == "UID" and len(parts) >= 3 and parts[1].upper() == "SEARCH":
                self.uid_search(tag, parts[2:])
            elif command == "UID" and len(parts) >= 4 and parts[1].upper() == "FETCH":
                self.uid_fetch(tag, parts[2], " ".join(parts[3:]), read_only)
            else:
                self.send(tag + b" BAD command not supported by the test server\r\n")

    def _start_tls(self, context: ssl.SSLContext) -> None:
        self.request = context.wrap_socket(self.request, server_side=True)
        self.rfile = self.request.makefile("rb")
        self.wfile = self.request.makefile("wb")

    def uid_search(self, tag: bytes, criteria: list[str]) -> None:
        state = self.server.state
        with state.lock:
            uids = [m.uid for m in state.messages]
        highest = max(uids, default=0)
        if len(criteria) == 2 and criteria[0].upper() == "UID":
            found = [u for u in uids if _in_set(u, criteria[1], highest)]
        elif criteria and criteria[0].upper() == "ALL":
            found = uids
        elif len(criteria) == 2 and criteria[0].upper() == "SINCE":  # internal date on or after that day
            since = datetime.strptime(criteria[1], "%d-%b-%Y").date()
            with state.lock:
                found = [m.uid for m in state.messages if m.internal_date >= since]
        else:
            self.send(tag + b" BAD the test server searches UID <set>, SINCE <date> or ALL\r\n")
            return
        self.send(("* SEARCH" + "".join(f" {u}" for u in found) + "\r\n").encode() + tag + b" OK SEARCH completed\r\n")

    def uid_fetch(self, tag: bytes, spec: str, items: str, read_only: bool) -> None:
        state = self.server.state
        wanted = items.upper().strip("()").split()
        with state.lock:
            messages = list(enumerate(state.messages, start=1))
            highest = max((m.uid for _, m in messages), default=0)
            for seq, message in messages:
                if not _in_set(message.uid, spec, highest):
                    continue
                if "BODY[]" in wanted and not read_only:
                    message.flags.add("\\Seen")
                head = f"* {seq} FETCH (UID {message.uid}"
                if "FLAGS" in wanted:
                    head += " FLAGS (" + " ".join(sorted(message.flags)) + ")"
                if "BODY[]" in wanted or "BODY.PEEK[]" in wanted:
                    self.send(f"{head} BODY[] {{{len(message.raw)}}}\r\n".encode() + message.raw + b")\r\n")
                else:
                    self.send(head.encode() + b")\r\n")
        self.send(tag + b" OK FETCH completed\r\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: MailboxState
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False


class ImapServer:
    """An IMAP4rev1 server on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(
        self,
        user: str = "inbox@example.com",
        password: str = "imap-secret",
        folder: str = "INBOX",
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        """``tls``: a server context; with ``implicit_tls`` the connection is TLS from the start (IMAPS, what
        ``imaplib.IMAP4_SSL`` speaks), else the server offers STARTTLS and refuses LOGIN before it."""
        self.state = MailboxState(user=user, password=password, folder=folder)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._server.tls = tls
        self._server.implicit_tls = implicit_tls
        self._thread = threading.Thread(target=self._server.serve_forever, name="imap-test", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def deliver(self, raw: bytes, *, arrived: date | None = None) -> int:
        """Put a message in the folder (the next UID; its internal date ``arrived``, default today); its UID."""
        with self.state.lock:
            uid = self.state.next_uid
            self.state.next_uid += 1
            message = StoredMessage(uid, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            if arrived is not None:
                message.internal_date = arrived
            self.state.messages.append(message)
            return uid

    def rebuild(self, uidvalidity: int) -> None:
        """The folder was rebuilt: a new UIDVALIDITY and new UIDs for the same messages."""
        with self.state.lock:
            self.state.uidvalidity = uidvalidity
            for message in self.state.messages:
                message.uid = self.state.next_uid
                self.state.next_uid += 1

    def commands(self, prefix: str = "") -> list[str]:
        with self.state.lock:
            return [c for c in self.state.commands if c.upper().startswith(prefix.upper())]

    def __enter__(self) -> ImapServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
