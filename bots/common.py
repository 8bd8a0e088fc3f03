"""Shared plumbing for CLI commands: options, the store session, the acting user, friendly errors.

Only Typer is imported at module level; everything heavy is imported inside functions so that
``salesgraph --help`` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer

if TYPE_CHECKING:
    from datetime import date

    from rich.console import Console
    from sqlmodel import Session

    from app.services import Services
    from sales.permissions import Actor

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this user (email). Default: $SALESGRAPH_USER, else the workspace's first admin.",
        show_default=False,
    ),
]

_services: Services | None = None


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the result as JSON on stdout (ISO dates, numbers as numbers), nothing else there."
    ),
]


def console() -> Console:
    """Standard output. Piped or redirected, lines are never wrapped (tables: see ``render.print_table``)."""
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out.soft_wrap = True
    return out


def err_console() -> Console:
    """Standard error: messages, spinners and progress bars, so stdout carries only the result."""
    from rich.console import Console

    out = Console(stderr=True)
    if not out.is_terminal:
        out.soft_wrap = True  # one error, one line, for whoever reads the log
    return out


def services() -> Services:
    global _services
    if _services is None:
        from app.services import build_services

        _services = build_services()
        from memory.live import watch_services

        watch_services(_services)  # interactions logged through this process become searchable on commit
    return _services


def fail(message: str, code: int = 1) -> NoReturn:
    err_console().print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def parse_date(
    value: str | None,
    what: str,
    *,
    prefer: Literal["future", "past"] = "future",
    period_end: bool = False,
    today: date | None = None,
) -> date | None:
    """A date option or argument (None stays None): 2026-12-31, 'tomorrow', 'next friday', 'in 2 weeks', '3 days
    ago', 'last quarter' (its first day, or its last with ``period_end``). The chat reads days with the same
    function (``sales.dates``). Anything else exits with one clear line naming what was given."""
    if value is None or value == "":
        return None
    from sales import dates

    try:
        return dates.parse_day(value, today or dates.local_today(), prefer=prefer, period_end=period_end)
    except ValueError as exc:
        fail(f"{what}: {exc}")


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn domain and store errors into one red line and a non-zero exit, never a traceback."""
    from sales.errors import InvalidInput, SalesError
    from store.db import StoreNotReady

    try:
        yield
    except InvalidInput as exc:
        lines = "\n".join(f"  - {field}: {problem}" for field, problem in exc.problems.items())
        fail(f"invalid input:\n{lines}")
    except (SalesError, StoreNotReady) as exc:
        fail(str(exc))


@contextmanager
def session(*, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back (nothing changed) on any error.

    Commands that only read pass ``read_only=True`` so they never wait for a writer (SQLite).
    """
    from store.db import session_scope

    with friendly_errors(), session_scope(services().engine, read_only=read_only) as s:
        yield s


def resolve_actor(s: Session, as_email: str | None) -> Actor:
    from sqlmodel import col, select

    from sales.permissions import SYSTEM, actor_for_user, load_actor
    from store.models import Role, User

    email = as_email or os.environ.get("SALESGRAPH_USER")
    if email:
        return load_actor(s, email)
    admin = s.exec(select(User).where(User.role == Role.ADMIN, col(User.active)).order_by(col(User.id))).first()
    return actor_for_user(s, admin) if admin else SYSTEM
