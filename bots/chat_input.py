"""Reading one chat message at the terminal: a paste of several lines, or a typed block, arrives as ONE message.

Terminals wrap pasted text in ESC[200~ ... ESC[201~ once bracketed paste is switched on (ESC[?2004h); everything
between the markers belongs to the message, blank lines included. Without a paste, a typed line ending with ":"
("Add this lead:") opens a block that a blank line closes, and a line with an unmatched \"\"\" opens one that the
closing \"\"\" ends. Piped input (stdin not a terminal) is read as before: one line, one message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

PASTE_ON = "\x1b[?2004h"
PASTE_OFF = "\x1b[?2004l"
PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
QUOTES = '"""'


def _scan(line: str, pasting: bool) -> tuple[str, bool, bool, str]:
    """(the line without paste markers, still inside a paste, saw a marker, the text typed after the last paste)."""
    text: list[str] = []
    marker = False
    tail = ""
    rest = line
    while rest:
        token = PASTE_END if pasting else PASTE_START
        index = rest.find(token)
        if index < 0:
            text.append(rest)
            if not pasting:
                tail += rest
            break
        marker = True
        text.append(rest[:index])
        if not pasting:
            tail += rest[:index]
        rest = rest[index + len(token) :]
        pasting = not pasting
        if not pasting:
            tail = ""  # only what follows the paste's end counts as typed after it
    return "".join(text), pasting, marker, tail


def read_message(read_line: Callable[[str], str], prompt: str, more: str = "... ") -> str:
    """One message from ``read_line`` (which raises EOFError at the end of input): a bracketed paste, a block
    opened by a line ending with ":" and closed by a blank line, or a \"\"\" block; else the single line typed."""
    lines: list[str] = []
    pasting = False
    blank_block = False
    line = read_line(prompt)
    while True:
        text, pasting, marker, tail = _scan(line, pasting)
        lines.append(text)
        quotes_open = "\n".join(lines).count(QUOTES) % 2 == 1
        if pasting or quotes_open:
            line = read_line("" if pasting else more)
            continue
        if blank_block:
            if not tail.strip():
                break
            line = read_line(more)
            continue
        if len(lines) == 1 and not marker and text.rstrip().endswith(":"):
            blank_block = True
            line = read_line(more)
            continue
        break
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


@contextmanager
def bracketed_paste(stdin: IO[str], stdout: IO[str]) -> Iterator[bool]:
    """Switch bracketed paste on for one read (True when both ends are a terminal), and control-character echo off
    so the markers do not show as ^[[200~; both are restored afterwards, also on Ctrl-C."""
    if not (stdin.isatty() and stdout.isatty()):
        yield False
        return
    saved = None
    try:
        import termios

        fd = stdin.fileno()
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~getattr(termios, "ECHOCTL", 0)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (ImportError, OSError, ValueError):  # no termios (Windows) or not a real terminal: markers still work
        saved = None
    stdout.write(PASTE_ON)
    stdout.flush()
    try:
        yield True
    finally:
        stdout.write(PASTE_OFF)
        stdout.flush()
        if saved is not None:
            import termios

            termios.tcsetattr(stdin.fileno(), termios.TCSANOW, saved)
