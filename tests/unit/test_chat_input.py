"""Reading one chat message: a bracketed paste, a ':' block or a triple-quoted block is one message."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from bots.chat_input import PASTE_END, PASTE_OFF, PASTE_ON, PASTE_START, bracketed_paste, read_message


def lines(*typed: str) -> tuple[Callable[[str], str], list[str]]:
    """A line source like input(): returns the lines in turn, records the prompts, raises EOFError at the end."""
    queue = list(typed)
    prompts: list[str] = []

    def read_line(prompt: str) -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    return read_line, prompts


def test_a_single_line_is_one_message() -> None:
    read, prompts = lines("what's my pipeline?", "next")
    assert read_message(read, "you> ") == "what's my pipeline?"
    assert prompts == ["you> "]


def test_a_bracketed_paste_keeps_its_blank_lines_and_ends_at_its_marker() -> None:
    read, prompts = lines(PASTE_START + "Add this lead:", "", "Nora Quinn", "nora@bluefin.example" + PASTE_END, "next")
    assert read_message(read, "you> ") == "Add this lead:\n\nNora Quinn\nnora@bluefin.example"
    assert prompts == ["you> ", "", "", ""]  # no continuation prompt between pasted lines


def test_a_paste_ending_with_a_newline_is_sent_by_the_next_enter_with_what_was_typed() -> None:
    read, _ = lines(PASTE_START + "Nora Quinn", "nora@bluefin.example", PASTE_END + "  ", "next")
    assert read_message(read, "you> ") == "Nora Quinn\nnora@bluefin.example"
    read, _ = lines("add " + PASTE_START + "Nora Quinn" + PASTE_END + " as a lead")
    assert read_message(read, "you> ") == "add Nora Quinn as a lead"


def test_a_line_ending_with_a_colon_opens_a_block_a_blank_line_closes() -> None:
    read, prompts = lines("Add this lead:", "Nora Quinn", "nora@bluefin.example", "", "next")
    assert read_message(read, "you> ", more="... ") == "Add this lead:\nNora Quinn\nnora@bluefin.example"
    assert prompts == ["you> ", "... ", "... ", "... "]
    # a paste inside the block ends it once the paste is over and Enter is pressed
    read, _ = lines("Add this lead:", PASTE_START + "Nora Quinn", "", "nora@bluefin.example", PASTE_END, "next")
    assert read_message(read, "you> ") == "Add this lead:\nNora Quinn\n\nnora@bluefin.example"


def test_triple_quotes_open_a_block_until_they_close() -> None:
    read, _ = lines('log a call with Acme: """', "they want a discount", "", 'and a pilot"""', "next")
    assert read_message(read, "you> ") == 'log a call with Acme: """\nthey want a discount\n\nand a pilot"""'


def test_a_colon_inside_a_line_is_not_a_block() -> None:
    read, _ = lines("log a call with Acme: they want a discount", "next")
    assert read_message(read, "you> ") == "log a call with Acme: they want a discount"


def test_end_of_input_inside_a_block_stops_reading() -> None:
    read, _ = lines("Add this lead:", "Nora Quinn")
    with pytest.raises(EOFError):
        read_message(read, "you> ")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bracketed_paste_is_switched_on_only_at_a_terminal_and_always_off_again() -> None:
    piped_in, piped_out = io.StringIO(), io.StringIO()
    with bracketed_paste(piped_in, piped_out) as on:
        assert on is False
    assert piped_out.getvalue() == ""
    out = _Tty()
    seen: list[tuple[bool, str]] = []

    def interrupted_read() -> None:
        with bracketed_paste(_Tty(), out) as on:
            seen.append((on, out.getvalue()))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_read()
    assert seen == [(True, PASTE_ON)] and out.getvalue() == PASTE_ON + PASTE_OFF
