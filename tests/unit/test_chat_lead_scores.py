"""Scores for leads captured in chat (issue 13): the fields such a lead lacks are derived when it is created
(seniority from the title, industry/region/firmographics from its account, the workspace's spelling), its score
is not flagged as unlike the training data unless it really is, and the explanation reads the right way round.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from analytics.features import lead_frame
from analytics.scoring import score_lead, train_lead_model
from sales.demo_text import SENIORITY_TITLES
from sales.leads import LeadInput, create_lead
from sales.seniority import seniority_of
from store.db import make_engine, session_scope, upgrade
from store.models import Account, AuditEvent, Lead

UNLIKE = "unlike the training data"


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("VP Sales", "vp"),
        ("V.P. Marketing", "vp"),
        ("SVP Revenue", "vp"),
        ("Executive Vice President, Operations", "vp"),
        ("Head of Operations", "director"),
        ("Sr. Director, RevOps", "director"),
        ("Dir. of IT", "director"),
        ("Chief Revenue Officer", "c_level"),
        ("Chief Information Security Officer", "c_level"),
        ("Co-Founder & CEO", "c_level"),
        ("CFO", "c_level"),
        ("Regional Sales Mgr", "manager"),
        ("Team Lead, SDRs", "manager"),
        ("Account Executive", "individual"),
        ("Senior Data Analyst", "individual"),
        ("Chief Llama Whisperer", None),
        ("", None),
        (None, None),
    ],
)
def test_seniority_from_titles(title: str | None, level: str | None) -> None:
    assert seniority_of(title) == level


def test_every_demo_title_reads_as_its_planted_seniority() -> None:
    """So a derived level means what the imported one means: training and serving features agree."""
    assert {(t, seniority_of(t)) for level, titles in SENIORITY_TITLES.items() for t in titles} == {
        (t, level) for level, titles in SENIORITY_TITLES.items() for t in titles
    }


# --------------------------------------------------------------------------------------- the demo company


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Engine]]:
    """The demo company with a trained lead-scoring model, and services for the graph."""
    from sales.demo import DEMO_MANAGER_EMAIL, seed_demo
    from sales.permissions import load_actor
    from tests.unit.test_agent_support import services_for

    home = tmp_path_factory.mktemp("chat-leads")
    engine = make_engine(f"sqlite:///{home / 'demo.db'}")
    upgrade(engine)
    services = services_for(engine, home / "home")
    with session_scope(engine) as s:
        seed_demo(s, seed=7, anchor=date(2026, 11, 1))
        train_lead_model(s, load_actor(s, DEMO_MANAGER_EMAIL), settings=services.settings)
    yield services, engine
    engine.dispose()


def _account(engine: Engine, offset: int = 0) -> Account:
    with session_scope(engine) as s:
        account = s.exec(
            select(Account).where(col(Account.domain).is_not(None)).order_by(col(Account.id)).offset(offset)
        ).first()
        assert account is not None and account.industry and account.region
        s.expunge(account)
        return account


def _chat(services: Any, actor_email: str, *texts: str) -> list[str]:
    pytest.importorskip("agent.offline", reason="chat capture runs on the offline model")
    from agent.context import Context
    from agent.turns import new_thread_id, open_agent, run_turn
    from sales.permissions import load_actor

    with session_scope(services.engine) as s:
        actor = load_actor(s, actor_email)
    answers = []
    with open_agent(services, "offline") as graph:
        thread = new_thread_id("chat-lead")
        for text in texts:
            context = Context(actor=actor, services=services, company="the demo company")
            outcome = run_turn(graph, context, thread, text=text)
            answers.append(str(outcome.answer))
    return answers


def _sentences_once(answer: str) -> None:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", answer) if s.strip()]
    assert len(sentences) == len(set(sentences)), answer
    assert len(re.findall(r"out of 100|/100", answer)) == 1, answer  # the score is stated once
    assert "nan" not in answer.lower().split() and "unknown days ago" not in answer


def _signs_match_words(text: str, effect: float) -> None:
    if effect > 0:
        assert " raises " in f" {text} " and " lowers " not in f" {text} ", (text, effect)
    else:
        assert " lowers " in f" {text} " and " raises " not in f" {text} ", (text, effect)


def test_a_lead_captured_in_chat_is_scored_like_the_leads_the_model_learned_from(demo: tuple[Any, Engine]) -> None:
    from sales.demo import DEMO_REP_EMAIL

    services, engine = demo
    account = _account(engine)
    created, scored = _chat(
        services,
        DEMO_REP_EMAIL,
        f"add Jane Okafor, VP Sales at {account.name}, jane.okafor@{account.domain} - met her at the expo",
        "What's the score for Jane Okafor?",
    )
    assert "Created lead" in created
    with session_scope(engine) as s:
        lead = s.exec(select(Lead).where(Lead.email == f"jane.okafor@{account.domain}")).one()
        assert lead.attributes["seniority"] == "vp" and lead.source == "event"
        assert (lead.industry, lead.region, lead.account_id) == (account.industry, account.region, account.id)
        assert lead.attributes["employees"] == account.employees
        assert lead.attributes["country"] == account.attributes["country"]
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == "create_lead", AuditEvent.record_id == str(lead.id))
        ).one()  # derived in the same create, and said so in its receipt
        assert event.after is not None
        assert event.after["derived"]["attributes.seniority"] == "from the title 'VP Sales'"
        assert event.after["derived"]["industry"] == f"from account #{account.id} {account.name}"
        result = score_lead(s, _rep(s), lead.id or 0, settings=services.settings)
    assert not result.rule_based and UNLIKE not in " ".join(result.uncertainty)
    assert result.next_action != "ask manager"
    assert "Jane Okafor" in scored and UNLIKE not in scored and "ask manager" not in scored
    _sentences_once(scored)
    for reason in result.reasons:
        _signs_match_words(reason.text, reason.effect_points)


def _rep(s: Any) -> Any:
    from sales.demo import DEMO_REP_EMAIL
    from sales.permissions import load_actor

    return load_actor(s, DEMO_REP_EMAIL)


def test_a_lead_with_an_unknown_title_and_industry_is_still_flagged(demo: tuple[Any, Engine]) -> None:
    from sales.demo import DEMO_REP_EMAIL

    services, _ = demo
    _, scored = _chat(
        services,
        DEMO_REP_EMAIL,
        "add Zed Quill, Chief Llama Whisperer at Nowhere Widgets, zed@nowhere-widgets.example, "
        "in the llama farming industry",
        "What's the score for Zed Quill?",
    )
    assert f"input {UNLIKE}: industry 'llama farming' never appeared in training" in scored
    # no account, no readable title: most of what the model uses is empty, and the flag names it
    assert re.search(r"\d+ of the \d+ fields the model uses are empty \([^)]*seniority", scored)
    assert "ask manager" in scored
    _sentences_once(scored)


def test_typed_values_take_the_workspace_spelling_and_accounts_match_by_domain(demo: tuple[Any, Engine]) -> None:
    _, engine = demo
    account = _account(engine, offset=3)
    with session_scope(engine) as s:
        result = create_lead(
            s,
            _rep(s),
            LeadInput(name="Omar Berg", email=f"omar.berg@{account.domain}", title="Head of Operations", source="Web"),
        )
        lead = result.lead
        assert (lead.source, lead.industry, lead.region) == ("web", account.industry, account.region)
        assert lead.attributes["seniority"] == "director" and lead.account_id == account.id
        typed = create_lead(
            s,
            _rep(s),
            LeadInput(
                name="Ida Lund",
                email="ida@lund-farms.example",
                title="Owner",
                industry=account.industry.lower(),  # type: ignore[union-attr]
            ),
        ).lead
        assert typed.industry == account.industry and typed.attributes == {"seniority": "c_level"}


def test_reasons_read_the_way_their_sign_points_on_demo_leads(demo: tuple[Any, Engine]) -> None:
    services, engine = demo
    with session_scope(engine) as s:
        ids = s.exec(select(Lead.id).where(col(Lead.outcome).is_(None)).order_by(col(Lead.id)).limit(25)).all()
        results = [score_lead(s, _rep_or_admin(s), lead_id or 0, settings=services.settings) for lead_id in ids]
    reasons = [r for result in results for r in result.reasons]
    assert any(r.effect_points > 0 for r in reasons) and any(r.effect_points < 0 for r in reasons)
    for reason in reasons:
        _signs_match_words(reason.text, reason.effect_points)
        assert "nan" not in reason.text and "missing" not in reason.text
    for result in results:
        assert result.brief.count("/100") == 1 and "/100" not in result.explanation


def _rep_or_admin(s: Any) -> Any:
    from sales.demo import DEMO_ADMIN_EMAIL
    from sales.permissions import load_actor

    return load_actor(s, DEMO_ADMIN_EMAIL)


# --------------------------------------------------------------------------------------- small stores


def test_the_feature_builder_reads_seniority_from_the_title_when_none_is_stored(sqlite_engine: Engine) -> None:
    """Imported (or older) leads without a stored level get the one their title names, as new leads do."""
    from tests.factories import small_org

    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        owner = org["east_rep1"].id
        s.add(Lead(name="A B", title="VP of Sales", owner_id=owner, attributes={}))
        s.add(Lead(name="C D", title="VP of Sales", owner_id=owner, attributes={"seniority": "manager"}))
        s.add(Lead(name="E F", title="Chief Llama Whisperer", owner_id=owner, attributes={}))
        s.flush()
        frame = lead_frame(s)
    assert frame["attr:seniority"].tolist()[:2] == ["vp", "manager"]  # a stored level wins
    assert frame["attr:seniority"].isna().tolist()[2]


def test_rule_based_recency_says_when_there_was_no_touch(sqlite_engine: Engine, tmp_path: Path) -> None:
    from app.settings import Settings
    from tests.factories import actor, small_org

    created = datetime(2026, 3, 1, tzinfo=UTC)
    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        lead = Lead(name="G H", email="g@h.example", owner_id=org["east_rep1"].id, created_at=created)
        s.add(lead)
        s.flush()
        result = score_lead(
            s,
            actor(s, org["east_rep1"]),
            lead.id or 0,
            settings=Settings(home=tmp_path, _env_file=None),
            now=created + timedelta(days=3),
        )
    recency = next(r for r in result.reasons if r.feature == "recency")
    assert recency.text == "recency (no touch yet, created 3 days ago) adds 20 of 20 points"
    assert "unknown" not in result.brief and "nan" not in result.brief


def test_an_older_brief_that_repeats_the_score_is_said_once() -> None:
    pytest.importorskip("agent.offline", reason="the offline model composes the answer")
    from tests.unit.test_offline_compose import answer
    from tools.results import ScoreLeadResult

    result = ScoreLeadResult(
        lead_id=3,
        name="Nora Quinn",
        score=13.5,
        band="cold",
        model_version="lead-score-v1",
        rule_based=False,
        summary="Score 13.5/100 (cold): an estimated 13.5% chance to convert according to model lead-score-v1. "
        "Why: industry Media lowers the score by 2 points compared with a typical industry.",
    )
    text = answer("score_lead", {}, result.model_dump_json())
    assert text.startswith(
        "Lead Nora Quinn scores 13.5 out of 100 (cold): an estimated 13.5% chance to convert according to model "
        "lead-score-v1. Why: industry Media lowers"
    )
    _sentences_once(text)
