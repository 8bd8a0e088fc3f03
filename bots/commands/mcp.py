"""``salesgraph mcp serve``: salesgraph's tools for MCP clients (Claude Desktop, other agents), as one user."""

from __future__ import annotations

import os
from typing import Annotated

import typer

TOKEN_ENV = "SALESGRAPH_MCP_TOKEN"  # noqa: S105 (the variable's name, not a secret)

app = typer.Typer(
    help=(
        "Model Context Protocol server: every salesgraph tool for MCP clients (desktop assistants, other agents). "
        "Each call acts as the user whose API token the client holds (`salesgraph tokens create`), with that "
        "user's permissions. send_follow_up and qualify_lead return a pending approval; someone allowed to approve "
        "it (never the requester) decides it in Slack, with `salesgraph approvals approve`, or through "
        'review_approval from their own client. See the README\'s "MCP server and Agent Inbox".'
    ),
    no_args_is_help=True,
)


@app.command("serve")
def serve_cmd(
    stdio: Annotated[bool, typer.Option("--stdio", help="Speak MCP on stdin/stdout (the client starts us).")] = False,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at http://HOST:PORT/mcp.")] = False,
    port: Annotated[int, typer.Option(help="HTTP port (0: any free port, printed on start).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to bind; put a TLS proxy in front beyond this machine.")] = (
        "127.0.0.1"
    ),
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help=f"stdio: the API token to act with. Default: ${TOKEN_ENV} (prefer the variable: flags show in ps).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Chat model for resumed conversations (default: $SALESGRAPH_MODEL, else offline)."
        ),
    ] = None,
) -> None:
    """Serve MCP until stopped. stdio: one user, the token's. HTTP: each request's `Authorization: Bearer TOKEN`."""
    import logging
    import sys

    from bots.common import err_console, fail, friendly_errors, services

    if stdio == http:
        fail("choose one transport: --stdio (a client starts salesgraph) or --http (a server clients connect to)")
    # stdout belongs to the protocol under stdio: logs go to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from bots.mcp.gateway import McpGateway

    gateway = McpGateway(services(), model)
    try:
        if stdio:
            secret = token or os.environ.get(TOKEN_ENV)
            if not secret:
                fail(f"no API token: set {TOKEN_ENV} (make one with `salesgraph tokens create --as EMAIL`)")
            with friendly_errors():
                actor = gateway.actor(secret)  # refuse a bad token before speaking the protocol at all
            err_console().print(f"salesgraph MCP over stdio, acting as {actor.email}", highlight=False)
            from bots.mcp.server import stdio_server

            stdio_server(gateway, secret).run("stdio")
        else:
            _serve_http(gateway, host, port)
    finally:
        gateway.close()


def _serve_http(gateway: object, host: str, port: int) -> None:
    import anyio
    import uvicorn

    from bots.common import err_console
    from bots.mcp.gateway import McpGateway
    from bots.mcp.server import http_server

    assert isinstance(gateway, McpGateway)

    async def main() -> None:
        import socket

        # Bind first so port 0 can be reported, and the URL in the auth metadata is the real one.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound = sock.getsockname()[1]
        sock.listen(128)  # before the URL is printed: a client that connects at once is queued, not refused
        server = http_server(gateway, host, bound)
        config = uvicorn.Config(server.streamable_http_app(), log_level="warning", lifespan="on")
        err_console().print(f"salesgraph MCP at http://{host}:{bound}/mcp (Bearer tokens)", highlight=False)
        await uvicorn.Server(config).serve(sockets=[sock])

    anyio.run(main)
