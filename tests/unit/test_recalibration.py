"""Rolling recalibration and drift monitoring of the lead-scoring model on a simulated stream.

The stream's leads convert with a logit in page views and seniority. A model is trained on its first 2,000 leads;
then either the same process goes on (no drift), or the world moves: conversion rises for everyone (intercept
+1.5) and leads come with many more page views. Recalibration must lower the calibration error on leads that
arrive *after* it, the drifting stream must raise the card's drift flag (ECE and PSI), and the steady one not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from analytics.features import lead_frame, model_matrix
from analytics.rolling import expected_calibration_error
from analytics.scoring import labelled_frame, load_model, read_card, recalibrate_model, train_lead_model
from app.settings import Settings
from sales.errors import PermissionDenied
from store.db import session_scope
from store.models import AuditEvent, Lead
from tests.factories import actor, small_org

START = datetime(2026, 1, 1, tzinfo=UTC)


def _stream(
    session: Session, owners: list[int], n: int, first: int, *, seed: int, shift: float = 0.0, views: float = 4.0
) -> None:
    rng = np.random.default_rng(seed)
    for i in range(first, first + n):
        page_views = int(rng.poisson(views))
        senior = str(rng.choice(["vp", "manager", "individual"]))
        logit = -2.0 + shift + 0.45 * page_views + {"vp": 1.0, "manager": 0.2, "individual": -0.8}[senior]
        converted = rng.random() < 1 / (1 + np.exp(-logit))
        session.add(
            Lead(
                name=f"Lead {i}",
                company=f"Company {i}",
                source="web",
                owner_id=owners[i % len(owners)],
                outcome="converted" if converted else "lost",
                attributes={"page_views": page_views, "seniority": senior},
                created_at=START + timedelta(hours=6 * i),
            )
        )
    session.flush()


def _eces(engine: Engine, settings: Settings, first_id: int) -> tuple[float, float]:
    """ECE of the model's own probabilities and of the recalibrated ones on the leads from ``first_id`` on."""
    bundle = load_model(settings)
    assert bundle is not None
    with session_scope(engine, read_only=True) as s:
        frame = labelled_frame(lead_frame(s))
    later = frame[frame["id"] >= first_id]
    matrix = model_matrix(later, bundle.features)
    y = later["label"].to_numpy()
    return expected_calibration_error(y, bundle.predict_raw(matrix)), expected_calibration_error(
        y, bundle.predict(matrix)
    )


@pytest.mark.parametrize("drifting", [True, False], ids=["drifting", "steady"])
def test_recalibration_lowers_ece_on_later_leads_and_the_card_flags_drift(
    sqlite_engine: Engine, tmp_path: Path, drifting: bool
) -> None:
    settings = Settings(home=tmp_path / "home", recalibration_window=400)
    shift, views = (1.5, 7.0) if drifting else (0.0, 4.0)
    with session_scope(sqlite_engine) as s:
        org = small_org(s)
        owners = [org["east_rep1"].id or 0, org["west_rep1"].id or 0]
        _stream(s, owners, 2000, 0, seed=1)
    with session_scope(sqlite_engine) as s:
        card = train_lead_model(s, actor(s, org["admin"]), settings=settings, kind="logistic")
    assert len(card.rolling_auc) == 5 and all(c["roc_auc"] > 0.6 for c in card.rolling_auc)
    with session_scope(sqlite_engine) as s:
        _stream(s, owners, 400, 2000, seed=2, shift=shift, views=views)  # labelled since training
    with session_scope(sqlite_engine) as s:
        with pytest.raises(PermissionDenied):
            recalibrate_model(s, actor(s, org["east_rep1"]), settings=settings)
        result = recalibrate_model(s, actor(s, org["admin"]), settings=settings)
    with session_scope(sqlite_engine) as s:
        _stream(s, owners, 400, 2400, seed=3, shift=shift, views=views)  # arrive after the recalibration
        first_new = s.exec(select(Lead.id).where(Lead.name == "Lead 2400")).one() or 0
        receipt = s.get(AuditEvent, result.receipt_id)
    assert receipt is not None and receipt.action == "recalibrate_model"
    assert result.window == 400 and result.newer_than_training == 400

    before, after = _eces(sqlite_engine, settings, first_new)
    shown = read_card(settings).to_markdown()
    assert "Rolling-origin ROC AUC" in shown.split("## Holdout")[0]  # the headline comes first
    if drifting:
        assert before > 0.1 and after < 0.06 and after < before / 2
        assert result.drift and any("ECE" in r for r in result.drift_reasons)
        assert result.psi["page views"] >= 0.2 and any("PSI" in r and "page views" in r for r in result.drift_reasons)
        assert result.adopted and "**DRIFT**" in shown and "recalibration in use" in shown
    else:
        assert after <= before + 0.01  # nothing to correct: a recalibration is adopted only if it helps
        assert not result.drift and "no drift" in shown
