"""``salesgraph slack``: serve the Slack front door (HTTP or Socket Mode) and print the app manifest."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help=(
        "The Slack front door: mention @salesgraph in a channel, message it directly or type /salesgraph; replies "
        "in its threads need no mention; approval requests arrive as cards with Approve / Edit / Reject; the Home "
        "tab shows your approvals, tasks today and stalled deals; a message's ⋯ menu has 'Log this to a deal'. "
        "Create the app from `salesgraph slack manifest`. Several `serve` processes may share one PostgreSQL "
        "database (README: Production layout)."
    ),
    no_args_is_help=True,
)


@app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option(help="HTTP port for Slack's requests (/slack/events).")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind; put a TLS proxy in front for Slack.")] = "127.0.0.1",
    socket: Annotated[
        bool, typer.Option("--socket", help="Socket Mode: connect out to Slack (SALESGRAPH_SLACK_APP_TOKEN).")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="Chat model (default: $SALESGRAPH_MODEL, else offline).")
    ] = None,
) -> None:
    """Answer Slack until stopped (Ctrl-C). Needs SALESGRAPH_SLACK_BOT_TOKEN, and SALESGRAPH_SLACK_SIGNING_SECRET
    (HTTP mode) or SALESGRAPH_SLACK_APP_TOKEN (--socket)."""
    import logging

    from bots.commands.chat import model_or_fail
    from bots.common import console, fail, friendly_errors, services
    from bots.slack import SlackAppTokenMissing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks at start-up are not news
    svc = services()
    chat_model = model_or_fail(svc, model)
    app_token = svc.settings.slack_app_token.get_secret_value().strip() if svc.settings.slack_app_token else ""
    out = console()
    with friendly_errors():
        if socket and not app_token:
            raise SlackAppTokenMissing(
                "Socket Mode needs SALESGRAPH_SLACK_APP_TOKEN: an app-level token (xapp-...) with the "
                "connections:write scope (Basic Information → App-Level Tokens)"
            )
        from slack_bolt.error import BoltError

        from bots.slack.app import EVENTS_PATH, build_slack_app, http_server

        try:
            bolt = build_slack_app(svc, chat_model, socket_mode=socket)
        except BoltError as exc:  # auth.test refused the bot token
            fail(f"Slack refused the bot token (SALESGRAPH_SLACK_BOT_TOKEN): {exc}")
    # Bolt logs a refused request's whole body at INFO: people's messages do not belong in the log. Its
    # loggers copy the app logger's level when the app is built, so this comes after.
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
    if socket:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        out.print("salesgraph is connected to Slack (Socket Mode); Ctrl-C to stop.")
        SocketModeHandler(bolt, app_token).start()  # type: ignore[no-untyped-call]
        return
    try:
        server = http_server(bolt, host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port or --host")
    out.print(f"salesgraph answers Slack at http://{host}:{server.server_port}{EVENTS_PATH}; Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command("manifest")
def manifest_cmd(
    url: Annotated[
        str | None,
        typer.Option(help="Public URL Slack calls, e.g. https://sales.example.com/slack/events (HTTP mode)."),
    ] = None,
    socket: Annotated[bool, typer.Option("--socket", help="A Socket Mode app (no public URL).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
) -> None:
    """Print the app manifest (scopes, events, interactivity) to paste into "Create New App → From a manifest"."""
    import json

    from bots.common import fail
    from bots.slack.manifest import app_manifest

    if not socket and not url:
        fail("give --url https://YOUR-HOST/slack/events (where `salesgraph slack serve` is reachable), or --socket")
    manifest = app_manifest(url, socket_mode=socket)
    if json_out:
        typer.echo(json.dumps(manifest, indent=2))
        return
    import yaml

    typer.echo(yaml.safe_dump(manifest, sort_keys=False), nl=False)
