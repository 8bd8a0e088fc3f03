"""``salesgraph chat`` and ``salesgraph ask``: talk to the assistant from the terminal, decide approvals inline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.common import AsOption

if TYPE_CHECKING:
    from rich.console import Console

    from agent.approval import ApprovalDecision
    from agent.context import Context
    from agent.turns import TurnOutcome
    from app.services import Services
    from sales.permissions import Actor

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Chat model: 'offline' (built in, no network) or 'openai:MODEL', e.g. openai:gpt-4o-mini (any OpenAI-compatible server via "
        "SALESGRAPH_OPENAI_BASE_URL / SALESGRAPH_OPENAI_API_KEY). Default: $SALESGRAPH_MODEL, else offline.",
        show_default=False,
    ),
]
ThreadOption = Annotated[
    str | None,
    typer.Option(
        "--thread", help="Continue this conversation (thread id). Default: a new conversation.", show_default=False
    ),
]


# --- rendering (shared with `salesgraph approvals` and the demo tour) -------------------------------------------


def _short(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_tool_calls(out: Console, outcome: TurnOutcome) -> None:
    """One dim line per tool call: what ran, and its receipt or its error."""
    for call in outcome.tool_calls:
        args = ", ".join(f"{k}={_short(v, 30)!s}" for k, v in call.args.items())
        if call.error is not None:
            out.print(f"  [dim]↳ {call.name}({args})[/] [red]✗ {_short(call.error, 100)}[/]", highlight=False)
        else:
            receipt = (call.result or {}).get("receipt_id")
            tail = f" [green]✓ receipt #{receipt}[/]" if receipt else " [green]✓[/]"
            out.print(f"  [dim]↳ {call.name}({args})[/]{tail}", highlight=False)


def render_request(out: Console, request: dict[str, Any]) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    body.append(f"{request['summary']}\n", style="bold")
    body.append(f"requested by {request['requested_by']} · approval #{request['approval_id']}\n")
    approvers = ", ".join(request.get("approvers") or []) or "an admin"
    body.append(f"who may decide: {approvers} · expires {str(request['expires_at'])[:16].replace('T', ' ')} UTC\n")
    if request.get("preview"):
        body.append("\n")
        body.append(str(request["preview"]))
        body.append("\n")
    if request.get("refusal"):
        body.append(f"\nnot accepted: {request['refusal']}\n", style="red")
    out.print(Panel(body, title=f"approval needed: {request['action']}", border_style="yellow"))


def render_outcome(out: Console, outcome: TurnOutcome, *, show_requests: bool = True) -> None:
    render_tool_calls(out, outcome)
    if outcome.answer:
        out.print(f"[bold cyan]salesgraph>[/] {outcome.answer}", highlight=False)
    if show_requests:
        for request in outcome.interrupts:
            render_request(out, request)


class LivePrinter:
    """Prints a turn as it happens: each tool call and its outcome, then the answer token by token."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.streamed = False

    def __call__(self, mode: str, chunk: Any) -> None:
        import json

        from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

        if mode == "messages":
            message, meta = chunk
            if meta.get("langgraph_node") == "agent" and isinstance(message, AIMessageChunk | AIMessage):
                text = message.content if isinstance(message.content, str) else ""
                if text and not getattr(message, "tool_calls", None):
                    if not self.streamed:
                        self.out.print("[bold cyan]salesgraph>[/] ", end="")
                        self.streamed = True
                    self.out.print(text, end="", highlight=False, markup=False)
            return
        for node, update in (chunk or {}).items():
            for message in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                if isinstance(message, AIMessage):
                    for call in message.tool_calls:
                        args = ", ".join(f"{k}={_short(v, 30)!s}" for k, v in call["args"].items())
                        self.out.print(f"  [dim]→ {call['name']}({args})[/]", highlight=False)
                elif isinstance(message, ToolMessage) and node in ("tools", "approval"):
                    if message.status == "error":
                        self.out.print(f"  [red]✗ {_short(message.content, 100)}[/]", highlight=False)
                    else:
                        try:
                            receipt = json.loads(str(message.content)).get("receipt_id")
                        except (json.JSONDecodeError, AttributeError):
                            receipt = None
                        self.out.print(
                            f"  [green]✓ {message.name}" + (f" receipt #{receipt}" if receipt else "") + "[/]"
                        )

    def finish(self, outcome: TurnOutcome) -> None:
        if self.streamed:
            self.out.print()
        elif outcome.answer:
            self.out.print(f"[bold cyan]salesgraph>[/] {outcome.answer}", highlight=False)
        self.streamed = False


def context_for(actor: Actor, svc: Services) -> Context:
    from agent.context import Context

    return Context(actor=actor, services=svc)


def model_or_fail(svc: Services, spec: str | None) -> Any:
    from agent.models import ModelUnavailable, resolve_model
    from bots.common import fail

    try:
        return resolve_model(spec, svc.settings)
    except ModelUnavailable as exc:
        fail(str(exc))


def ask_decision(out: Console, request: dict[str, Any], decider_email: str) -> ApprovalDecision | None:
    """Approve / edit / reject at the terminal; None means "decide later"."""
    from rich.prompt import Prompt

    from agent.approval import ApprovalDecision

    choice = Prompt.ask(
        "[bold]approve[/], [bold]edit[/], [bold]reject[/] or decide [bold]later[/]?",
        choices=["approve", "edit", "reject", "later"],
        default="later",
        console=out,
    )
    if choice == "later":
        return None
    if choice == "reject":
        reason = Prompt.ask("reason (the assistant tells the requester)", console=out)
        return ApprovalDecision(decision="reject", decided_by=decider_email, reason=reason)
    if choice == "approve":
        return ApprovalDecision(decision="approve", decided_by=decider_email)
    return ApprovalDecision(decision="edit", decided_by=decider_email, arguments=edit_arguments(out, request))


def edit_arguments(out: Console, request: dict[str, Any]) -> dict[str, Any]:
    """The changed arguments: the email body in $EDITOR (or typed inline), or a new amount/note."""
    import os
    import sys

    from rich.prompt import Prompt

    if request["action"] == "send_follow_up":
        original = str(request["arguments"].get("body") or request.get("preview") or "")
        edited: str | None = None
        if os.environ.get("EDITOR") and sys.stdin.isatty():
            import click

            edited = click.edit(original)
        if edited is None:
            out.print("[dim]Type the new body; finish with a line containing only a dot (.)[/]")
            lines: list[str] = []
            while (line := input()) != ".":
                lines.append(line)
            edited = "\n".join(lines)
        changes: dict[str, Any] = {"body": edited.rstrip() + "\n"}
        subject = Prompt.ask("subject", default=str(request["arguments"].get("subject") or ""), console=out)
        if subject and subject != request["arguments"].get("subject"):
            changes["subject"] = subject
        return changes
    amount = Prompt.ask("expected amount", default=str(request["arguments"].get("amount") or ""), console=out)
    changes = {"amount": float(amount.replace(",", ""))} if amount.strip() else {}
    note = Prompt.ask("note (optional)", default=str(request["arguments"].get("note") or ""), console=out)
    if note.strip():
        changes["note"] = note
    return changes


def read_turn(out: Console) -> str:
    """The next message. At a terminal a paste (bracketed) or a block ("Add this lead:" up to a blank line, or a
    \"\"\" block) is one message; piped input stays one line per message."""
    import sys

    from bots.chat_input import bracketed_paste, read_message

    prompt = "[bold green]you>[/] "
    if not sys.stdin.isatty():
        return out.input(prompt)
    with bracketed_paste(sys.stdin, out.file):
        return read_message(out.input, prompt, more="[dim]...[/] ")


def may_decide(actor: Actor, request: dict[str, Any]) -> bool:
    return actor.is_admin or actor.email in (request.get("approvers") or [])


# --- commands -------------------------------------------------------------------------------------------------


def ask_cmd(
    question: Annotated[str, typer.Argument(help='What to ask, in plain English, e.g. "what\'s my pipeline?"')],
    as_: AsOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print {answer, tool_calls: [{name, args, result}], interrupts} as JSON.")
    ] = False,
    thread: ThreadOption = None,
    model: ModelOption = None,
) -> None:
    """Ask one question (one turn) and print the answer. Approvals it raises wait for `salesgraph approvals`.

    Example: salesgraph ask "what's our win rate by quarter?" --as maria.chen@demo.example --json
    """
    import json

    from agent.turns import new_thread_id, open_agent, run_turn
    from bots.common import console, friendly_errors, resolve_actor, services, session

    svc = services()
    with session() as s:
        actor = resolve_actor(s, as_)
    chat_model = model_or_fail(svc, model)
    with friendly_errors(), open_agent(svc, chat_model) as graph:
        outcome = run_turn(graph, context_for(actor, svc), thread or new_thread_id("ask"), text=question)
    if json_out:
        typer.echo(json.dumps(outcome.to_json(), default=str, ensure_ascii=False))
        return
    out = console()
    render_outcome(out, outcome)
    for request in outcome.interrupts:
        out.print(
            f"[dim]Decide with: salesgraph approvals approve|edit|reject {request['approval_id']} "
            f"--as {(request.get('approvers') or ['<approver>'])[0]}[/]",
            highlight=False,
        )
    out.print(f"[dim]thread: {outcome.thread_id} (continue with --thread {outcome.thread_id})[/]", highlight=False)


def chat_cmd(
    as_: AsOption = None,
    model: ModelOption = None,
    thread: ThreadOption = None,
) -> None:
    """Talk with the assistant. It shows each tool it uses; sends and qualifications wait for a decision.

    Type /quit (or Ctrl-D) to leave, /new for a fresh conversation. Try: "add this lead" with a pasted email
    signature, "qualify NAME", "draft a follow-up to NAME", "make it shorter", "what's my pipeline by stage?".
    At a terminal a paste of several lines is one message (so is a block opened by a line ending with ":" and
    closed by a blank line); piped input is one message per line.
    """
    from agent.turns import decide, new_thread_id, open_agent, pending_requests, run_turn
    from bots.common import console, friendly_errors, resolve_actor, services, session

    svc = services()
    with session() as s:
        actor = resolve_actor(s, as_)
    chat_model = model_or_fail(svc, model)
    out = console()
    thread_id = thread or new_thread_id("chat")
    out.print(
        f"[bold]salesgraph[/] chat as [bold]{actor.name}[/] ({actor.role}) · thread {thread_id} · /quit to leave",
        highlight=False,
    )
    with open_agent(svc, chat_model) as graph:
        waiting = pending_requests(graph, thread_id)
        while True:
            for request in waiting:
                render_request(out, request)
                if not may_decide(actor, request):
                    out.print(
                        f"[yellow]Waiting for {', '.join(request.get('approvers') or ['an admin'])}.[/] "
                        f"They decide with: salesgraph approvals approve {request['approval_id']}",
                        highlight=False,
                    )
                    decision = None
                else:
                    decision = ask_decision(out, request, actor.email)
                if decision is None:
                    thread_id = new_thread_id("chat")
                    out.print(f"[dim]That conversation waits for the decision; continuing in thread {thread_id}.[/]")
                    waiting = []
                    break
                live = LivePrinter(out)
                with friendly_errors():
                    result = decide(
                        graph,
                        svc,
                        int(request["approval_id"]),
                        decision,
                        context_factory=lambda a: context_for(a, svc),
                        on_update=live,
                    )
                if result.turn is not None:
                    live.finish(result.turn)
                    waiting = result.turn.interrupts
                else:
                    out.print(f"approval #{result.approval_id} is {result.status}")
                    waiting = []
                break
            if waiting:
                continue
            try:
                text = read_turn(out).strip()
            except (EOFError, KeyboardInterrupt):
                out.print()
                return
            if not text:
                continue
            if text in ("/quit", "/exit", "quit", "exit"):
                return
            if text == "/new":
                thread_id = new_thread_id("chat")
                out.print(f"[dim]new conversation: {thread_id}[/]")
                continue
            live = LivePrinter(out)
            with friendly_errors():
                outcome = run_turn(graph, context_for(actor, svc), thread_id, text=text, on_update=live)
            live.finish(outcome)
            waiting = outcome.interrupts
