"""The eval runner: every case on its own thread and its own copy of a known store, checked turn by turn.

Typical use (what ``salesgraph eval`` and the CI test do)::

    workspace = seed_demo_workspace()            # the demo company at the fixed EVAL_ANCHOR
    run = run_cases(load_cases(), workspace, model="offline")
    run.scorecard.pass_rate, run.scorecard.must_failed
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evals.cases import Case, Turn
from evals.checks import GUARDED_ACTIONS, check_turn, delta, snapshot
from evals.expectations import ExpectationError, Filler
from evals.scorecard import CaseResult, Scorecard, TurnResult, score
from evals.workspace import Workspace, make_url_safe

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from sqlalchemy.engine import Engine

    from evals.driver import GraphDriver, TurnOutcome

log = logging.getLogger(__name__)

# Stand-ins for the secrets a deployment holds; the global checks fail any answer that contains one.
SENTINEL_SECRETS = {
    "slack_bot_token": "xoxb-eval-sentinel-4f7c2a9e1b",
    "slack_signing_secret": "eval-signing-sentinel-8d3e5f",
    "smtp_password": "eval-smtp-sentinel-pw-61c0",
}


@dataclass
class EvalRun:
    results: list[CaseResult]
    scorecard: Scorecard


def run_settings(workspace: Workspace, url: str) -> Any:
    """Settings for one case: its store copy, the outbox (nothing leaves the machine), sentinel secrets."""
    from app.settings import Settings, get_settings

    base = get_settings()
    return Settings(
        home=workspace.root,
        database_url=url,
        model=base.model,
        openai_base_url=base.openai_base_url,
        openai_api_key=base.openai_api_key,
        send_channel="outbox",
        slack_bot_token=SENTINEL_SECRETS["slack_bot_token"],
        slack_signing_secret=SENTINEL_SECRETS["slack_signing_secret"],
        smtp_password=SENTINEL_SECRETS["smtp_password"],
    )


def _secrets(settings: Any) -> list[str]:
    values = list(SENTINEL_SECRETS.values())
    if settings.openai_api_key is not None:
        values.append(settings.openai_api_key.get_secret_value())
    return values


def _decision(turn: Turn, interrupt: dict[str, Any] | None, speaker: str, filler: Filler) -> dict[str, Any]:
    """The ApprovalDecision a ``decide:`` turn sends; by default the first approver the request names decides."""
    approvers = list((interrupt or {}).get("approvers") or [])
    by = filler.text(turn.by) if turn.by else (approvers[0] if approvers else speaker)
    kind = turn.decision_kind
    decision: dict[str, Any] = {"decision": kind, "decided_by": by}
    if isinstance(turn.decide, dict):
        value = turn.decide[kind or ""]
        if kind == "edit":
            decision["arguments"] = filler.value(value)
        elif kind == "reject" and value:
            decision["reason"] = filler.text(str(value))
    if kind == "reject" and "reason" not in decision:
        decision["reason"] = "not now"
    return decision


def run_case(
    case: Case,
    workspace: Workspace,
    driver: GraphDriver,
    *,
    fiscal_year_start_month: int = 1,
) -> CaseResult:
    from agent.context import Context
    from app.services import Services
    from sales.permissions import load_actor
    from store.db import session_scope

    result = CaseResult(case.id, case.category, case.as_, case.must, case.source)
    with workspace.case_store(case.id) as (url, engine):
        filler = Filler(engine, workspace.today, fiscal_year_start_month=fiscal_year_start_month)
        try:
            speaker = filler.text(case.as_)
            filler.speaker_email = speaker
            result.speaker = speaker
            with session_scope(engine) as s:
                actor = load_actor(s, speaker)
        except Exception as exc:
            result.error = f"cannot act as {case.as_!r}: {exc}"
            return result
        settings = run_settings(workspace, url)
        services = Services(settings=settings, engine=engine)
        if workspace.vector_index is not None:
            services.extras["vector_index"] = workspace.vector_index
        context = Context(actor=actor, services=services, today_override=workspace.today, company="Demo Co")
        thread_id = f"eval-{case.id}-{uuid.uuid4().hex[:8]}"
        secrets = _secrets(settings)
        for index, turn in enumerate(case.turns, start=1):
            result.turns.append(_run_turn(index, turn, driver, thread_id, context, engine, filler, secrets))
    return result


def _run_turn(
    index: int,
    turn: Turn,
    driver: GraphDriver,
    thread_id: str,
    context: Any,
    engine: Engine,
    filler: Filler,
    secrets: list[str],
) -> TurnResult:
    expect = turn.expect
    try:
        before = snapshot(engine, filler, expect)
    except ExpectationError as exc:
        return _error_turn(index, turn, f"expectation error before the turn: {exc}")
    approving = False
    if turn.say is not None:
        text = filler.text(turn.say)
        outcome = driver.say(thread_id, context, text)
    else:
        pending = driver.pending_interrupt(thread_id)
        if pending is None:
            return _error_turn(index, turn, "decide: but no approval is pending in this conversation")
        decision = _decision(turn, pending, context.actor.email, filler)
        text = f"[decide {decision['decision']} as {decision['decided_by']}]"
        approving = decision["decision"] in ("approve", "edit")
        outcome = driver.decide(thread_id, context, decision)
    change = delta(engine, before)
    verdict = check_turn(turn, outcome, change, before, filler, engine, context.actor, secrets, approving)
    return _turn_result(index, turn, text, outcome, change.sent, change.executed, verdict.failures, verdict.violations)


def _turn_result(
    index: int,
    turn: Turn,
    text: str,
    outcome: TurnOutcome,
    sent: int,
    executed: int,
    failures: list[str],
    violations: list[str],
) -> TurnResult:
    interrupt = outcome.interrupt
    return TurnResult(
        index=index,
        kind="say" if turn.say is not None else "decide",
        text=text,
        answer=outcome.answer,
        tools_called=[c.name for c in outcome.calls],
        tool_args=[{"tool": c.name, "args": c.args} for c in outcome.calls],
        tool_errors=[f"{r.name}: {r.error}" for r in outcome.results if r.ok is False],
        interrupt=str(interrupt.get("action")) if interrupt else None,
        latency_s=round(outcome.latency_s, 4),
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        sent=sent,
        executed=executed,
        failures=failures,
        violations=violations,
        expected_tools=turn.expect.tools,
        guarded_requested=any(c.name in GUARDED_ACTIONS for c in outcome.calls),
    )


def _error_turn(index: int, turn: Turn, message: str) -> TurnResult:
    return TurnResult(
        index=index,
        kind="say" if turn.say is not None else "decide",
        text=turn.say or str(turn.decide),
        answer="",
        tools_called=[],
        tool_args=[],
        tool_errors=[],
        interrupt=None,
        latency_s=0.0,
        input_tokens=0,
        output_tokens=0,
        sent=0,
        executed=0,
        failures=[message],
        expected_tools=turn.expect.tools,
    )


def run_cases(
    cases: list[Case],
    workspace: Workspace,
    *,
    model: str = "offline",
    chat_model: BaseChatModel | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> EvalRun:
    """Run ``cases`` against ``workspace`` with ``model`` (or a given ``chat_model``) and score them."""
    from evals.driver import GraphDriver, build_model

    started = time.perf_counter()
    driver = GraphDriver(chat_model or build_model(model, workspace.today))
    results = []
    for case in cases:
        try:
            result = run_case(case, workspace, driver)
        except Exception as exc:  # one broken case must not hide the others' results
            log.exception("case %s crashed", case.id)
            result = CaseResult(case.id, case.category, case.as_, case.must, case.source, error=f"crashed: {exc}")
        results.append(result)
        if on_case:
            on_case(result)
    card = score(
        results,
        model=model,
        store=("demo (seeded) " if workspace.seeded else "") + make_url_safe(workspace.source_url),
        today=workspace.today.isoformat(),
        duration_s=round(time.perf_counter() - started, 2),
    )
    return EvalRun(results, card)
