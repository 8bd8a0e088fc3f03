"""``salesgraph tokens``: personal API tokens for MCP clients and scripts (made, listed, revoked with receipts)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bots.common import AsOption, JsonOption

app = typer.Typer(
    help=(
        "Personal API tokens. A token acts as its user, with exactly that user's permissions: an MCP client "
        "(`salesgraph mcp serve`) or a script holding it can do what that user can, and guarded actions still "
        "wait for an approver.\n\n"
        "The token is printed once, when it is made; only its SHA-256 is stored. Lost it? Revoke it and make "
        "another. Making and revoking tokens writes receipts to the audit log (`salesgraph audit`)."
    ),
    no_args_is_help=True,
)

ForOption = Annotated[
    str | None,
    typer.Option(
        "--for", help="Admins: the user (email) the token is for. Default: the --as user.", show_default=False
    ),
]


@app.command("create")
def create_cmd(
    as_: AsOption = None,
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'claude desktop'.")] = "mcp",
    for_: ForOption = None,
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", help="Refuse the token after this many days. Default: never.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Make a token and print it once. Store it in your MCP client's configuration, never in a repository."""
    from bots.common import console, err_console, friendly_errors, resolve_actor, session
    from bots.render import emit_json
    from sales.api_tokens import create_token
    from store.models import User

    with friendly_errors(), session() as s:
        actor = resolve_actor(s, as_)
        made = create_token(s, actor, name=name, for_email=for_, expires_in_days=expires_days)
        owner = s.get(User, made.row.user_id)
        email = owner.email if owner else "?"
        token_id, expires = made.row.id, made.row.expires_at
    if json_out:
        emit_json(
            {"id": token_id, "token": made.token, "user": email, "name": name, "expires_at": expires,
             "receipt_id": made.receipt_id}
        )  # fmt: skip
        return
    err_console().print(
        f"API token #{token_id} '{name}' for {email} (receipt #{made.receipt_id}). This is the only time it is shown:",
        highlight=False,
    )
    console().print(made.token, highlight=False, markup=False)


@app.command("list")
def list_cmd(as_: AsOption = None, for_: ForOption = None, json_out: JsonOption = False) -> None:
    """Your tokens (an admin: anyone's, with --for): name, prefix, when made, last used, expiry, revoked."""
    from rich.table import Table

    from bots.common import console, friendly_errors, resolve_actor, session
    from bots.render import emit_json, print_table, when
    from sales.api_tokens import list_tokens

    with friendly_errors(), session(read_only=True) as s:
        actor = resolve_actor(s, as_)
        rows = list_tokens(s, actor, for_email=for_)
        data: list[dict[str, Any]] = [
            {"id": r.id, "name": r.name, "prefix": r.prefix, "created_at": r.created_at, "last_used_at": r.last_used_at,
             "expires_at": r.expires_at, "revoked_at": r.revoked_at}
            for r in rows
        ]  # fmt: skip
    if json_out:
        emit_json(data)
        return
    out = console()
    if not data:
        out.print(f"No API tokens for {for_ or actor.email}. Make one with `salesgraph tokens create`.")
        return
    table = Table(title=f"API tokens of {for_ or actor.email}")
    for column in ("id", "name", "starts with", "created", "last used", "expires", "status"):
        table.add_column(column)
    for row in data:
        status = "revoked" if row["revoked_at"] else "active"
        table.add_row(
            str(row["id"]), str(row["name"]), f"{row['prefix']}…", when(row["created_at"]),
            when(row["last_used_at"]), when(row["expires_at"]), status,
        )  # fmt: skip
    print_table(table, out)


@app.command("revoke")
def revoke_cmd(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `salesgraph tokens list`).")],
    as_: AsOption = None,
) -> None:
    """Revoke a token: every request with it is refused from now on."""
    from bots.common import console, friendly_errors, resolve_actor, session
    from sales.api_tokens import revoke_token

    with friendly_errors(), session() as s:
        actor = resolve_actor(s, as_)
        receipt = revoke_token(s, actor, token_id)
    console().print(f"API token #{token_id} revoked (receipt #{receipt}).", highlight=False)
