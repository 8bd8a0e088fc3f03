"""Shared plumbing for CLI commands: options, the store session, the acting user, friendly errors.

Only Typer is imported at module level; everything heavy is imported inside functions so that
``salesgraph --help`` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

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


def console() -> Console:
    from rich.console import Console

    return Console()


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def services() -> Services:
    global _services
    if _services is None:
        from app.services import build_services

        _services = build_services()
    return _services


def fail(message: str, code: int = 1) -> NoReturn:
    err_console().print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def parse_date(value: str | None, what: str) -> date | None:
    """A YYYY-MM-DD option or argument as a date (None stays None); anything else exits with one clear line."""
    from datetime import date

    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{what} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-31")


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
