"""Experiments on a store (SQLite and PostgreSQL): a manager defines one with its plan printed before it starts, a
planted lift in conversion is detected and concludes the experiment with receipts, the briefing reports it, a
cycle-time change is found by the survival comparison with open deals censored, a rule under a random split acts
on its treatment arm only, the CLI runs define → analyze, and the agent answers "is the new proposal rule
working?" through the real graph with the offline model."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from sales.errors import InvalidInput, PermissionDenied
from sales.experiments import (
    ExperimentSpec,
    analyze_experiment,
    assigned_arm,
    define_experiment,
    get_experiment,
    stop_experiment,
)
from sales.permissions import actor_for_user, load_actor
from store.db import session_scope
from store.models import AuditEvent, Deal, Experiment, ExperimentLook, Role, StageChange, Task, User
from tests.integration.test_cli_records import cli  # noqa: F401  (the real-process fixture)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SIZES = (Decimal(5000), Decimal(30000), Decimal(150000))


def _team(engine: Engine) -> None:
    with session_scope(engine) as s:
        admin = User(name="Ada Admin", email="ada@x.example", role=Role.ADMIN)
        manager = User(name="Mia Manager", email="mia@x.example", role=Role.MANAGER, team="East")
        s.add_all([admin, manager])
        s.flush()
        s.add(User(name="Rob Rep", email="rob@x.example", role=Role.REP, manager_id=manager.id, team="East"))


def plant(
    s: Session,
    owner_id: int,
    start: datetime,
    days: int,
    p_won: Callable[[Deal], float],
    rng: random.Random,
    *,
    per_day: int = 2,
    won_days: Callable[[Deal], float] | None = None,
) -> None:
    """Deals created ``per_day`` a day from ``start``: won with ``p_won(deal)`` within 5-40 days (or after
    ``won_days(deal)``), else lost (70 %) or still open."""
    for d in range(days):
        for _ in range(per_day):
            created = start + timedelta(days=d, hours=rng.uniform(0, 20))
            deal = Deal(
                name=f"deal {d}",
                owner_id=owner_id,
                stage="Prospecting",
                amount=rng.choice(SIZES),
                created_at=created,
                stage_entered_at=created,
                updated_at=created,
            )
            s.add(deal)
            s.flush()
            s.add(StageChange(deal_id=deal.id or 0, to_stage="Prospecting", changed_at=created))
            if rng.random() < p_won(deal):
                at = created + timedelta(days=won_days(deal) if won_days else rng.uniform(5, 40))
                stage = "Won"
            elif rng.random() < 0.7:
                at, stage = created + timedelta(days=rng.uniform(5, 60)), "Lost"
            else:
                continue
            deal.stage, deal.closed_at, deal.stage_entered_at = stage, at, at
            s.add(deal)
            s.add(StageChange(deal_id=deal.id or 0, from_stage="Prospecting", to_stage=stage, changed_at=at))


def _rep_id(engine: Engine) -> int:
    with session_scope(engine, read_only=True) as s:
        rep = s.exec(select(User).where(User.email == "rob@x.example")).one()
        assert rep.id is not None
        return rep.id


def _count(engine: Engine, model: type, *where: object) -> int:
    with session_scope(engine, read_only=True) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def test_planted_conversion_lift_is_detected_and_concludes_with_receipts(engine: Engine) -> None:
    from bots.briefings.compose import compose_briefing

    _team(engine)
    rep = _rep_id(engine)
    rng = random.Random(11)
    with session_scope(engine) as s:
        plant(s, rep, T0 - timedelta(days=300), 300, lambda d: 0.2, rng)
    spec = ExperimentSpec(
        name="first-week call",
        change="every new deal gets a call in its first week",
        minimum_detectable_effect=0.12,
        looks=2,
        seed="s1",
    )
    with session_scope(engine) as s:
        with pytest.raises(PermissionDenied):
            define_experiment(s, load_actor(s, "rob@x.example"), spec, now=T0)
        with pytest.raises(InvalidInput) as bad:
            define_experiment(
                s,
                load_actor(s, "mia@x.example"),
                ExperimentSpec(name="x", rule="no-such-rule", target="Nowhere", minimum_detectable_effect=0.1),
                now=T0,
            )
        assert {"rule", "target"} <= set(bad.value.problems)
    assert _count(engine, Experiment) == 0  # refused: nothing stored
    with session_scope(engine) as s:
        defined = define_experiment(s, load_actor(s, "mia@x.example"), spec, now=T0)
        plan = defined.plan
    # power before start: the baseline read from the last year, the sample size and the duration
    assert plan["baseline_rate"] == pytest.approx(0.2, abs=0.04)
    assert 180 < plan["per_arm"] < 300 and plan["window_days"] in (35, 42)  # the 90th percentile of days to won
    assert plan["rate_per_day"] == pytest.approx(2.0)
    assert plan["expected_days"] == plan["per_arm"] + plan["window_days"]  # two arms at two new deals a day
    with session_scope(engine) as s, pytest.raises(InvalidInput):
        define_experiment(s, load_actor(s, "mia@x.example"), spec, now=T0)  # the name is taken

    with session_scope(engine) as s:
        plant(
            s,
            rep,
            T0,
            200,
            lambda d: 0.36 if assigned_arm("s1", "deal", d.id or 0, 0.5) == "treatment" else 0.2,
            rng,
        )
    with session_scope(engine) as s:
        manager = load_actor(s, "mia@x.example")
        early = analyze_experiment(s, manager, get_experiment(s, "first-week call"), now=T0 + timedelta(days=30))
        assert not early.enough_data and early.verdict.startswith("not enough data yet")
        interim = analyze_experiment(
            s, manager, get_experiment(s, "first-week call"), now=T0 + timedelta(days=120), record="planned"
        )
        assert interim.enough_data and not interim.look_recorded and "not concluded" in interim.verdict
        assert interim.bayes is not None and interim.bayes["probability_treatment_better"] > 0.5
    assert _count(engine, ExperimentLook) == 0  # asking before the planned look spends nothing
    with session_scope(engine) as s:
        result = analyze_experiment(
            s, load_actor(s, "mia@x.example"), get_experiment(s, "first-week call"), now=T0 + timedelta(days=260)
        )
    assert result.concluded and result.crossed and result.look_recorded
    assert result.z is not None and result.boundary is not None and result.z >= result.boundary
    assert result.estimate is not None and result.low is not None and result.estimate > 0.08 and result.low > 0
    assert "converts better" in result.verdict
    actions = {"define_experiment", "experiment_look", "conclude_experiment"}
    assert _count(engine, AuditEvent, col(AuditEvent.action).in_(actions)) == 3
    with session_scope(engine, read_only=True) as s:
        e = get_experiment(s, "first-week call")
        assert e.status == "concluded" and e.concluded_at is not None
        manager_row = s.exec(select(User).where(User.email == "mia@x.example")).one()
        briefing = compose_briefing(
            s,
            manager_row,
            e.concluded_at.date() + timedelta(days=1),
            now=e.concluded_at + timedelta(days=1),
            forecast=False,
            sentiment=False,
        )
    assert [x.name for x in briefing.experiments] == ["first-week call"]
    assert any(
        sec.title == "Experiments concluded" and "converts better" in sec.lines[0] for sec in briefing.sections()
    )
    with session_scope(engine) as s, pytest.raises(InvalidInput):
        stop_experiment(s, load_actor(s, "mia@x.example"), get_experiment(s, "first-week call"), "done")


def test_cycle_time_change_found_by_survival_with_open_deals_censored(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    _team(engine)
    rep = _rep_id(engine)
    rng = random.Random(5)
    with session_scope(engine) as s:
        # before the change deals take ~40 days to win, after it ~25; many stay open at the analysis
        plant(s, rep, T0 - timedelta(days=300), 300, lambda d: 0.6, rng, won_days=lambda d: rng.expovariate(1 / 40))
        plant(s, rep, T0, 150, lambda d: 0.6, rng, won_days=lambda d: rng.expovariate(1 / 25))
    with session_scope(engine) as s:
        defined = define_experiment(
            s,
            load_actor(s, "mia@x.example"),
            ExperimentSpec(
                name="faster proposals",
                change="proposals go out within two days",
                metric="cycle_time",
                minimum_detectable_effect=-0.3,
                design="before_after",
                starts_at=T0,
                control_from=T0 - timedelta(days=150),
            ),
            now=T0,
        )
        assert defined.plan["events"] > 0 and any("control:" in n for n in defined.plan["notes"])
    with session_scope(engine) as s:
        result = analyze_experiment(
            s, load_actor(s, "mia@x.example"), get_experiment(s, "faster proposals"), now=T0 + timedelta(days=160)
        )
    assert result.survival is not None and result.survival["hazard_ratio"] > 1.2
    assert result.treatment.median_days is not None and result.control.median_days is not None
    assert result.treatment.median_days < result.control.median_days
    assert result.matched is not None and "size mix" in result.matched
    assert result.concluded and "faster" in result.verdict
    # the deals still open were kept as censored, not dropped
    assert result.treatment.cases > (result.treatment.events or 0)


def test_a_rule_under_a_random_split_acts_on_its_treatment_arm_only(sqlite_engine: Engine) -> None:
    from sales.automation import parse_rules, process_outbox, set_rule_set
    from sales.deals import DealInput, create_deal, move_deal_to_stage

    engine = sqlite_engine
    _team(engine)
    rules = {
        "rules": [
            {
                "name": "proposal-task",
                "when": "deal_entered_stage",
                "if": {"stage": "Proposal"},
                "then": [{"create_task": {"title": "Send the proposal pack to {{record_name}}"}}],
            }
        ]
    }
    with session_scope(engine) as s:
        manager = load_actor(s, "mia@x.example")
        set_rule_set(s, manager, parse_rules(rules, "test"))
        define_experiment(
            s,
            manager,
            ExperimentSpec(
                name="proposal pack",
                rule="proposal-task",
                entry_stage="Proposal",
                minimum_detectable_effect=0.1,
                baseline=0.3,
                window_days=30,
                seed="pack",
            ),
        )
    ids = []
    with session_scope(engine) as s:
        rep = load_actor(s, "rob@x.example")
        for i in range(24):
            deal = create_deal(s, rep, DealInput(name=f"Deal {i}", amount=Decimal(1000))).deal
            for stage in ("Qualified", "Discovery", "Proposal"):
                move_deal_to_stage(s, rep, deal.id or 0, stage)
            ids.append(deal.id or 0)
    process_outbox(engine)
    treated = {i for i in ids if assigned_arm("pack", "deal", i, 0.5) == "treatment"}
    assert 0 < len(treated) < len(ids)
    with session_scope(engine, read_only=True) as s:
        tasked = {t.deal_id for t in s.exec(select(Task).where(col(Task.title).startswith("Send the proposal pack")))}
    assert tasked == treated
    with session_scope(engine) as s:
        stop_experiment(s, load_actor(s, "mia@x.example"), get_experiment(s, "proposal pack"), "pack rewritten")
        deal = create_deal(s, load_actor(s, "rob@x.example"), DealInput(name="After", amount=Decimal(1000))).deal
        for stage in ("Qualified", "Discovery", "Proposal"):
            move_deal_to_stage(s, load_actor(s, "rob@x.example"), deal.id or 0, stage)
        after_id = deal.id
    process_outbox(engine)
    assert _count(engine, Task, Task.deal_id == after_id, col(Task.title).startswith("Send the proposal pack")) == 1
    assert _count(engine, AuditEvent, AuditEvent.action == "stop_experiment") == 1


def test_cli_define_then_analyze(cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from store.db import make_engine

    cli("users", "add", "--name", "Ada Admin", "--email", "ada@x.example", "--role", "admin")
    cli("users", "add", "--name", "Mia Manager", "--email", "mia@x.example", "--role", "manager", "--as", "ada@x.example")  # fmt: skip
    cli("users", "add", "--name", "Rob Rep", "--email", "rob@x.example", "--manager", "mia@x.example", "--as", "ada@x.example")  # fmt: skip
    engine = make_engine(f"sqlite:///{cli.home / 'salesgraph.db'}")
    rep = _rep_id(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        plant(s, rep, now - timedelta(days=400), 300, lambda d: 0.2, random.Random(2))
    engine.dispose()
    # the change began well inside the planted 300 days, so both arms have cases whatever the hour of the run
    # (a start at the planted data's last day left the treatment arm empty before 04:00 UTC)
    start = (now - timedelta(days=200)).date().isoformat()
    defined = cli(
        "experiments", "define", "pricing page", "--change", "new pricing page link in the first email",
        "--design", "before-after", "--start", start, "--mde", "0.1", "--looks", "2", "--as", "mia@x.example",
    )  # fmt: skip
    out = defined.stdout
    assert "defined; receipt" in out and "per arm to detect +10.0 points" in out and "Duration: about" in out
    refused = cli("experiments", "define", "again", "--change", "x", "--mde", "0.1", "--as", "rob@x.example", ok=False)
    assert refused.returncode == 1 and "only a manager or an admin" in refused.stderr
    bad = cli("experiments", "define", "b", "--change", "x", "--mde", "0.9", "--as", "mia@x.example", ok=False)
    assert bad.returncode == 1 and "rates" in bad.stderr and "Traceback" not in bad.stderr
    analyzed = cli("experiments", "analyze", "pricing page", "--as", "mia@x.example")
    assert "pricing page:" in analyzed.stdout and "Matched control" in analyzed.stdout
    assert "Beta-binomial" in analyzed.stdout
    assert "pricing page" in cli("experiments", "list").stdout
    shown = cli("experiments", "show", "pricing page").stdout
    assert "Plan:" in shown and "Split: before/after" in shown
    assert "stopped; receipt" in cli("experiments", "stop", "pricing page", "--reason", "page removed", "--as", "mia@x.example").stdout  # fmt: skip


def test_agent_answers_is_the_new_proposal_rule_working(sqlite_engine: Engine, tmp_path: Path) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.context import Context
    from agent.graph import build_graph
    from agent.offline import OfflineChatModel  # type: ignore[attr-defined]
    from sales.automation import parse_rules, set_rule_set
    from tests.unit.test_agent_support import services_for

    engine = sqlite_engine
    _team(engine)
    rep = _rep_id(engine)
    now = datetime.now(UTC)
    start = now - timedelta(days=260)
    rules = {
        "rules": [
            {
                "name": "new-proposal-rule",
                "when": "deal_entered_stage",
                "if": {"stage": "Proposal"},
                "then": [{"create_task": {"title": "Send the proposal to {{record_name}}"}}],
            }
        ]
    }
    rng = random.Random(4)
    with session_scope(engine) as s:
        manager = load_actor(s, "mia@x.example")
        set_rule_set(s, manager, parse_rules(rules, "test"))
        plant(s, rep, start - timedelta(days=300), 300, lambda d: 0.2, rng)
        define_experiment(
            s,
            manager,
            ExperimentSpec(
                name="proposal follow-up", rule="new-proposal-rule", minimum_detectable_effect=0.12, looks=2, seed="p"
            ),
            now=start,
        )
        plant(s, rep, start, 200, lambda d: 0.36 if assigned_arm("p", "deal", d.id or 0, 0.5) == "treatment" else 0.2, rng)  # fmt: skip

    def ask(question: str, email: str = "mia@x.example") -> tuple[str, list[dict[str, object]]]:
        with session_scope(engine) as s:
            user = s.exec(select(User).where(User.email == email)).one()
            actor = actor_for_user(s, user)
        graph = build_graph(OfflineChatModel(today=date.today()), checkpointer=InMemorySaver())
        context = Context(actor=actor, services=services_for(engine, tmp_path))
        state = graph.invoke(
            {"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": email}}, context=context
        )
        calls = [c for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
        return str(state["messages"][-1].content), calls

    answer, calls = ask("Is the new proposal rule working?")
    assert [c["name"] for c in calls] == ["experiment_status"]
    assert "proposal follow-up" in answer and "converts better" in answer and "receipt #" in answer
    assert "Sample so far" in answer
    with session_scope(engine, read_only=True) as s:
        e = get_experiment(s, "proposal follow-up")
        assert e.status == "concluded"
        assert len(s.exec(select(ExperimentLook)).all()) == 1  # the planned look, taken once
    again, _ = ask("is the new proposal rule working?")
    assert "converts better" in again and _count(engine, ExperimentLook) == 1

    with session_scope(engine) as s:
        define_experiment(
            s,
            load_actor(s, "mia@x.example"),
            ExperimentSpec(
                name="discovery script", change="a new discovery call script", minimum_detectable_effect=0.1
            ),
        )
    fresh, calls = ask("is the new discovery script helping?")
    assert [c["name"] for c in calls] == ["experiment_status"]
    assert "discovery script" in fresh and "not enough data yet" in fresh
    refused, _ = ask("is the new proposal rule working?", "rob@x.example")
    assert "only a manager or an admin" in refused
