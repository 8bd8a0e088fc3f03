"""Lead scoring: cold-start rules, training with a model card, reasons, uncertainty, leakage guard, permissions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from analytics.features import AnalyticsConfig, outcome_label
from analytics.scoring import (
    ASK_MANAGER,
    CALL_NOW,
    DISQUALIFY,
    RULES_VERSION,
    compute_metrics,
    evaluate_frame,
    list_versions,
    read_card,
    score_lead,
    score_leads,
    train_lead_model,
)
from app.settings import Settings
from sales.errors import InvalidInput, PermissionDenied
from store.db import session_scope
from store.models import AuditEvent, Lead
from tests.factories import actor, small_org

START = datetime(2026, 1, 1, tzinfo=UTC)


def _leads(
    session: Session, owners: list[int], n: int, *, seed: int = 0, leaky: bool = False, labelled: bool = True
) -> list[Lead]:
    """Leads whose conversion depends on page views and seniority (plus noise): a learnable signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        views = int(rng.poisson(4))
        senior = str(rng.choice(["vp", "manager", "individual"]))
        logit = -2.0 + 0.45 * views + {"vp": 1.0, "manager": 0.2, "individual": -0.8}[senior]
        converted = rng.random() < 1 / (1 + np.exp(-logit))
        attributes: dict[str, object] = {
            "page_views": views,
            "seniority": senior,
            "employees": int(rng.integers(5, 500)),
        }
        if leaky:
            attributes["signed_contract"] = "yes" if converted else "no"
        attributes["duration"] = 400 if converted else 100  # call length: known only after the call
        lead = Lead(
            name=f"Lead {i}",
            company=f"Company {i}",
            source=str(rng.choice(["web", "event", "outbound"])),
            owner_id=owners[i % len(owners)],
            outcome=("converted" if converted else "lost") if labelled else None,
            attributes=attributes,
            created_at=START + timedelta(hours=6 * i),
        )
        session.add(lead)
        rows.append(lead)
    session.flush()
    return rows


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_outcome_labels() -> None:
    assert outcome_label("Converted") == 1
    assert outcome_label("lost") == 0
    assert outcome_label(None) is None
    assert outcome_label(float("nan")) is None


def test_metrics_on_known_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = compute_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect.roc_auc == 1.0
    assert perfect.brier == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    # always predicting 0.5 when half convert is calibrated but useless
    flat = compute_metrics(y, np.full(4, 0.5))
    assert flat.roc_auc == 0.5
    assert flat.calibration_error == pytest.approx(0.0)


def test_cold_start_is_rule_based_and_recorded(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as s:
        org = small_org(s)
        leads = _leads(s, [org["east_rep1"].id], 30, labelled=True)  # far below the 200 a model needs
        lead_id = leads[0].id
    with session_scope(engine) as s:
        result = score_lead(s, actor(s, org["east_rep1"]), lead_id, settings=settings, now=START + timedelta(days=1))
    assert result.rule_based and result.model_version == RULES_VERSION
    assert "rule-based" in result.brief.lower()
    assert {r.feature for r in result.reasons} == {"fit", "engagement", "recency"}
    assert result.uncertain and "too few known outcomes" in result.uncertainty[0]
    with session_scope(engine) as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        assert lead.score == result.score and lead.score_band == result.band
        assert lead.score_model_version == RULES_VERSION and lead.scored_at is not None
        event = s.get(AuditEvent, result.audit_event_id)
        assert event is not None and event.action == "score_lead" and event.record_id == str(lead_id)


def test_train_saves_versioned_model_and_card_then_scores_with_reasons(
    sqlite_engine: Engine, settings: Settings
) -> None:
    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        owners = [org["east_rep1"].id, org["west_rep1"].id]
        _leads(s, owners, 900, seed=1)
        fresh = _leads(s, owners, 3, seed=2, labelled=False)
        fresh_ids = [lead.id for lead in fresh]
    with session_scope(sqlite_engine) as s:
        untrained = score_lead(s, actor(s, org["east_rep1"]), fresh_ids[0], settings=settings)
    # enough outcomes but no model yet: the score says what to run, not that data is missing
    assert untrained.rule_based and "no model has been trained yet (900 known outcomes" in untrained.uncertainty[0]
    with session_scope(sqlite_engine) as s:
        card = train_lead_model(s, actor(s, org["admin"]), settings=settings)
    assert card.version == "lead-score-v1" and list_versions(settings) == ["lead-score-v1"]
    folder = settings.home_dir / "models"
    assert (folder / "lead-score-v1.joblib").is_file()
    saved = json.loads((folder / "lead-score-v1.card.json").read_text())
    assert saved["labelled"] == 900 and saved["holdout_rows"] == 180
    assert "Holdout" in (folder / "lead-score-v1.card.md").read_text()
    assert card.holdout["roc_auc"] > 0.7  # the planted signal is learnable
    assert "duration" not in " ".join(card.features)  # known only after the call: never a feature
    assert {f["label"] for f in card.top_features[:2]} & {"page views", "seniority"}
    assert read_card(settings).version == "lead-score-v1"
    # fewer than ample_labelled outcomes: the card says so
    assert any("only 900 labelled leads" in w for w in card.warnings)

    with session_scope(sqlite_engine) as s:
        lead = s.get(Lead, fresh_ids[0])
        assert lead is not None
        lead.attributes = {"page_views": 9, "seniority": "vp", "employees": 100}
        s.add(lead)
    with session_scope(sqlite_engine) as s:
        hot = score_lead(s, actor(s, org["east_mgr"]), fresh_ids[0], settings=settings)
    assert not hot.rule_based and hot.model_version == "lead-score-v1"
    assert (
        hot.band == "hot" and hot.probability is not None and hot.score == pytest.approx(hot.probability * 100, abs=0.1)
    )
    assert hot.reasons[0].label == "page views" and hot.reasons[0].effect_points > 0
    assert "page views 9" in hot.brief
    assert "too little training data" in hot.uncertainty[0]
    assert hot.next_action == CALL_NOW

    with session_scope(sqlite_engine) as s:
        lead = s.get(Lead, fresh_ids[1])
        assert lead is not None
        lead.attributes = {"page_views": 0, "seniority": "astronaut", "employees": 90000}
        s.add(lead)
    with session_scope(sqlite_engine) as s:
        odd = score_lead(s, actor(s, org["admin"]), fresh_ids[1], settings=settings)
    text = " ".join(odd.uncertainty)
    assert "seniority 'astronaut' never appeared in training" in text
    assert "employees 90,000 is outside the range seen in training" in text
    assert odd.next_action == ASK_MANAGER


def test_batch_scoring_one_audit_event_and_permissions(sqlite_engine: Engine, settings: Settings) -> None:
    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        _leads(s, [org["east_rep1"].id, org["west_rep1"].id], 300, seed=3)
        _leads(s, [org["east_rep1"].id, org["west_rep1"].id], 10, seed=4, labelled=False)
    with session_scope(sqlite_engine) as s:
        with pytest.raises(PermissionDenied):
            train_lead_model(s, actor(s, org["east_rep1"]), settings=settings)
        train_lead_model(s, actor(s, org["admin"]), settings=settings)
    with session_scope(sqlite_engine) as s:
        other = s.exec(select(Lead).where(Lead.owner_id == org["west_rep1"].id)).first()
        assert other is not None
        with pytest.raises(PermissionDenied):
            score_lead(s, actor(s, org["east_rep1"]), other.id or 0, settings=settings)
    with session_scope(sqlite_engine) as s:
        batch = score_leads(s, actor(s, org["east_rep1"]), settings=settings)
    assert batch.scored == 5 and sum(batch.by_band.values()) == 5  # the rep's own 5 open leads only
    with session_scope(sqlite_engine) as s:
        scored = s.exec(select(Lead).where(col(Lead.score_model_version).is_not(None))).all()
        assert {lead.owner_id for lead in scored} == {org["east_rep1"].id}
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "score_leads")).all()
        assert len(events) == 1 and events[0].after is not None and events[0].after["count"] == 5


def test_leakage_guard_names_the_feature(sqlite_engine: Engine) -> None:
    from analytics.features import lead_frame

    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        _leads(s, [org["east_rep1"].id], 400, seed=5, leaky=True)
        frame = lead_frame(s)
    with pytest.raises(InvalidInput, match="signed contract") as info:
        evaluate_frame(frame, AnalyticsConfig())
    assert "only known after the outcome" in str(info.value)


def test_disqualify_for_very_unlikely(sqlite_engine: Engine, settings: Settings) -> None:
    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        _leads(s, [org["east_rep1"].id], 600, seed=6)
        (cold,) = _leads(s, [org["east_rep1"].id], 1, seed=7, labelled=False)
        cold.attributes = {"page_views": 0, "seniority": "individual", "employees": 50}
        s.add(cold)
        cold_id = cold.id
    with session_scope(sqlite_engine) as s:
        train_lead_model(s, actor(s, org["admin"]), settings=settings)
    with session_scope(sqlite_engine) as s:
        result = score_lead(s, actor(s, org["admin"]), cold_id or 0, settings=settings)
    assert result.band == "cold" and result.score < 5
    assert result.next_action == DISQUALIFY
