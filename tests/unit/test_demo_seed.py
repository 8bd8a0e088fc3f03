"""The demo company: deterministic, internally consistent, and carrying the planted effects analytics must find.

One seeded SQLite store is shared by the module (seeding takes about a second); every check reads it with pandas.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from sales.deals import list_stalled_deals
from sales.demo import (
    DEMO_ADMIN_EMAIL,
    DEMO_MANAGER_EMAIL,
    DEMO_REP_EMAIL,
    PLANTED,
    SEED_ACTION,
    DemoSummary,
    WorkspaceNotEmpty,
    _DemoBuilder,
    seed_demo,
    seeded_demo,
)
from sales.permissions import SYSTEM
from sales.segments import deal_size_band, tenure_band
from sales.stages import DEFAULT_MACHINE
from sales.validation import normalize_email, normalize_phone
from store.audit import verify_chain
from store.db import make_engine, session_scope
from store.models import (
    Account,
    AuditEvent,
    Contact,
    Deal,
    Interaction,
    Lead,
    StageChange,
    Task,
    User,
)

ANCHOR = date(2026, 11, 23)
END = datetime(2026, 11, 23, tzinfo=UTC)
MODELS = {
    "users": User,
    "accounts": Account,
    "contacts": Contact,
    "leads": Lead,
    "deals": Deal,
    "stage_changes": StageChange,
    "interactions": Interaction,
    "tasks": Task,
}


@dataclass
class Seeded:
    engine: Engine
    summary: DemoSummary
    frames: dict[str, pd.DataFrame]


def _frames(engine: Engine) -> dict[str, pd.DataFrame]:
    tables = {**MODELS, "audit_events": AuditEvent}
    with engine.connect() as conn:
        return {
            name: pd.read_sql(select(model.__table__).order_by(model.__table__.c.id), conn)  # type: ignore[attr-defined]
            for name, model in tables.items()
        }


def _seed_fresh(template: Path, folder: Path, **kwargs: Any) -> tuple[Engine, DemoSummary]:
    path = folder / "demo.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_scope(engine) as s:
        summary = seed_demo(s, **kwargs)
    return engine, summary


@pytest.fixture(scope="module")
def seeded(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    engine, summary = _seed_fresh(_sqlite_template, tmp_path_factory.mktemp("demo"), seed=7, anchor=ANCHOR)
    yield Seeded(engine, summary, _frames(engine))
    engine.dispose()


def _transitions(seeded: Seeded) -> pd.DataFrame:
    """One row per stage visit that was left: from stage, next stage, wait in days, with the deal's size band."""
    sc = seeded.frames["stage_changes"].sort_values(["deal_id", "changed_at", "id"]).copy()
    sc["next_stage"] = sc.groupby("deal_id")["to_stage"].shift(-1)
    sc["next_at"] = sc.groupby("deal_id")["changed_at"].shift(-1)
    sc = sc.dropna(subset=["next_stage"])
    sc["wait_days"] = (sc["next_at"] - sc["changed_at"]).dt.total_seconds() / 86400
    deals = seeded.frames["deals"][["id", "amount", "owner_id"]].rename(columns={"id": "deal_id"})
    deals["band"] = deals["amount"].map(deal_size_band)
    return sc.merge(deals, on="deal_id")


# --- shape -----------------------------------------------------------------------------------------------------


def test_counts_match_the_summary_and_the_brief(seeded: Seeded) -> None:
    counts = {name: len(frame) for name, frame in seeded.frames.items() if name in MODELS}
    assert counts == seeded.summary.counts
    assert counts["users"] == 11
    assert counts["deals"] == 600
    assert counts["leads"] == 2000
    assert 130 <= counts["accounts"] <= 180
    assert 4500 <= counts["interactions"] <= 6500
    assert counts["tasks"] > 2500


def test_team_structure_roles_tenures_and_slack_ids(seeded: Seeded) -> None:
    users = seeded.frames["users"].set_index("email")
    assert users["role"].value_counts().to_dict() == {"rep": 8, "manager": 2, "admin": 1}
    assert users.loc[DEMO_ADMIN_EMAIL, "role"] == "admin"
    assert users.loc[DEMO_MANAGER_EMAIL, "role"] == "manager"
    assert users.loc[DEMO_REP_EMAIL, "role"] == "rep"
    assert users.loc[DEMO_REP_EMAIL, "manager_id"] == users.loc[DEMO_MANAGER_EMAIL, "id"]
    reps = users[users["role"] == "rep"]
    assert reps["manager_id"].nunique() == 2
    assert PLANTED.low_converting_rep_email in reps.index
    bands = {tenure_band(d, ANCHOR) for d in reps["started_at"]}
    assert bands == {"new (<6 months)", "ramped (6-24 months)", "veteran (24+ months)"}
    assert users["slack_user_id"].notna().all() and users["slack_user_id"].is_unique


def test_contacts_and_leads_have_valid_emails_and_phones(seeded: Seeded) -> None:
    for frame in (seeded.frames["contacts"], seeded.frames["leads"]):
        for email in frame["email"]:
            assert normalize_email(email) == email
        for phone in frame["phone"].dropna():
            assert normalize_phone(phone) == phone
    leads = seeded.frames["leads"]
    assert leads["email"].is_unique
    assert not leads.duplicated(["company_key", "name"]).any(), "the dedupe rule would merge these leads"
    assert set(leads["source"]) >= {"web", "referral", "event", "outbound", "partner"}


# --- history consistency -----------------------------------------------------------------------------------------


def test_every_deal_history_is_allowed_ordered_and_agrees_with_the_deal(seeded: Seeded) -> None:
    deals = seeded.frames["deals"].set_index("id")
    history = seeded.frames["stage_changes"].sort_values(["deal_id", "changed_at", "id"])
    assert set(history["deal_id"]) == set(deals.index)
    for deal_id, rows in history.groupby("deal_id"):
        deal = deals.loc[deal_id]
        moves = list(rows.itertuples())
        assert pd.isna(moves[0].from_stage) and moves[0].to_stage == DEFAULT_MACHINE.open_stages[0]
        assert moves[0].changed_at == deal["created_at"]
        for before, after in itertools.pairwise(moves):
            assert after.from_stage == before.to_stage
            assert after.to_stage in DEFAULT_MACHINE.allowed_moves(before.to_stage), (deal_id, before, after)
            assert after.changed_at > before.changed_at
        last = moves[-1]
        assert last.to_stage == deal["stage"]
        assert last.changed_at == deal["stage_entered_at"]
        assert last.changed_at < END
        if deal["stage"] in DEFAULT_MACHINE.closed_stages:
            assert deal["closed_at"] == last.changed_at
        else:
            assert pd.isna(deal["closed_at"])
            assert deal["expected_close_date"] > ANCHOR
        if deal["stage"] == DEFAULT_MACHINE.won_stage:
            assert deal["amount"] is not None and deal["amount"] > 0
            assert last.from_stage == "Negotiation"
        if deal["stage"] == DEFAULT_MACHINE.lost_stage:
            assert deal["loss_reason"]
    stages = deals["stage"].value_counts()
    assert stages.get("Won", 0) > 100 and stages.get("Lost", 0) > 100
    assert sum(stages.get(s, 0) for s in DEFAULT_MACHINE.open_stages) >= 60, "a live pipeline at the anchor"
    # rework loops and losses from every open stage both occur
    history = history.assign(back=history.apply(_is_step_back, axis=1))
    assert history["back"].sum() >= 10
    lost_from = set(history.loc[history["to_stage"] == "Lost", "from_stage"])
    assert lost_from == set(DEFAULT_MACHINE.open_stages)


def _is_step_back(row: pd.Series) -> bool:
    frm, to = row["from_stage"], row["to_stage"]
    return bool(
        frm in DEFAULT_MACHINE.open_stages
        and to in DEFAULT_MACHINE.open_stages
        and DEFAULT_MACHINE.order(to) < DEFAULT_MACHINE.order(frm)
    )


def test_interactions_fit_the_deal_timeline_and_are_unscored(seeded: Seeded) -> None:
    inter = seeded.frames["interactions"]
    deals = seeded.frames["deals"].set_index("id")
    assert inter["sentiment"].isna().all() and inter["indexed_at"].isna().all()
    assert (inter["occurred_at"] < END).all()
    assert (inter["occurred_at"] >= END - timedelta(days=366)).all()
    on_deals = inter.dropna(subset=["deal_id"])
    created = deals.loc[on_deals["deal_id"].astype(int), "created_at"].to_numpy()
    assert (on_deals["occurred_at"].to_numpy() >= created).all()
    assert on_deals["contact_id"].notna().all() and on_deals["account_id"].notna().all()
    assert inter["user_id"].notna().all()
    assert set(inter["channel"]) == {"email", "call", "meeting", "note", "slack"}
    assert set(inter["direction"]) == {"inbound", "outbound", "internal"}
    # varied, real-sounding text: almost every body is unique, and the sales topics are all there
    assert inter["body"].nunique() > 0.9 * len(inter)
    text = " ".join(inter["body"]).lower()
    for needle in ("security", "redlines", "budget", "pricing", "brightmetrics", "calendar invite", "discount"):
        assert needle in text, needle
    assert "leaving" in text or "has left" in text, "no champion change"


def test_tasks_follow_the_playbook(seeded: Seeded) -> None:
    tasks = seeded.frames["tasks"]
    assert {"first_contact", "meeting", "close_plan"} <= set(tasks["kind"])
    assert {"open", "done"} <= set(tasks["status"])
    done = tasks[tasks["status"] == "done"]
    assert done["completed_at"].notna().all()
    assert tasks.loc[tasks["status"] == "open", "completed_at"].isna().all()
    assert (tasks.loc[tasks["kind"] == "first_contact", "lead_id"].notna()).all()
    assert (tasks.loc[tasks["kind"] == "meeting", "deal_id"].notna()).all()
    assert (tasks.groupby("kind").size()[["meeting", "close_plan"]] == 600).all()


def test_one_audit_event_for_the_whole_seed(seeded: Seeded) -> None:
    audit = seeded.frames["audit_events"]
    assert len(audit) == 1
    event = audit.iloc[0]
    assert event["action"] == SEED_ACTION
    assert event["after"]["counts"] == seeded.summary.counts
    assert event["after"]["seed"] == 7 and event["after"]["anchor"] == ANCHOR.isoformat()
    assert int(event["id"]) == seeded.summary.audit_event_id
    with session_scope(seeded.engine) as s:
        assert verify_chain(s).ok
        assert seeded_demo(s) == (7, ANCHOR)


# --- planted effects, measured directly ---------------------------------------------------------------------------


def test_enterprise_proposal_to_negotiation_is_much_slower(seeded: Seeded) -> None:
    t = _transitions(seeded)
    src, dst = PLANTED.slow_transition
    segment_column, segment = PLANTED.slow_segment
    assert segment_column == "size_band"
    slow = t[(t["to_stage"] == src) & (t["next_stage"] == dst)]
    in_segment = slow.loc[slow["band"] == segment, "wait_days"]
    elsewhere = slow.loc[slow["band"] != segment, "wait_days"]
    assert len(in_segment) >= 30 and len(elsewhere) >= 60
    assert in_segment.median() >= 2.5 * elsewhere.median()
    # ...and only that transition: other forward moves of enterprise deals are at most mildly slower
    forward = t[t["to_stage"].isin(DEFAULT_MACHINE.open_stages) & (t["next_stage"] != "Lost")]
    for (frm, to), rows in forward.groupby(["to_stage", "next_stage"]):
        if (frm, to) == PLANTED.slow_transition or _is_step_back(pd.Series({"from_stage": frm, "to_stage": to})):
            continue
        ratio = (
            rows.loc[rows["band"] == segment, "wait_days"].median()
            / rows.loc[rows["band"] != segment, "wait_days"].median()
        )
        assert ratio < 1.8, (frm, to, ratio)


def test_the_low_converting_rep_wins_clearly_less(seeded: Seeded) -> None:
    deals = seeded.frames["deals"]
    users = seeded.frames["users"].set_index("id")
    closed = deals[deals["stage"].isin(DEFAULT_MACHINE.closed_stages)].copy()
    closed["email"] = closed["owner_id"].map(users["email"])
    closed["won"] = closed["stage"] == DEFAULT_MACHINE.won_stage
    per_rep = closed.groupby("email")["won"].agg(["mean", "size"])
    comparable = per_rep[per_rep["size"] >= PLANTED.min_closed_deals_for_rep_comparison]
    low = PLANTED.low_converting_rep_email
    assert low in comparable.index
    others = closed.loc[closed["email"] != low, "won"].mean()
    assert comparable.loc[low, "mean"] <= 0.6 * others
    assert comparable["mean"].idxmin() == low
    # on similar deals too: within each size band the low rep is below the rest
    closed["band"] = closed["amount"].map(deal_size_band)
    by_band = closed.groupby(["band", closed["email"] == low])["won"].mean().unstack()
    assert (by_band[True] < by_band[False]).all()


def test_the_stalled_deals_are_exactly_the_planted_ones(seeded: Seeded) -> None:
    deals = seeded.frames["deals"]
    inter = seeded.frames["interactions"].dropna(subset=["deal_id"])
    last_touch = inter.groupby(inter["deal_id"].astype(int))["occurred_at"].max()
    open_deals = deals[deals["stage"].isin(DEFAULT_MACHINE.open_stages)].set_index("id")
    last = pd.concat([open_deals["stage_entered_at"], last_touch.reindex(open_deals.index)], axis=1).max(axis=1)
    idle = (END - last).dt.days
    limit = open_deals["stage"].map(DEFAULT_MACHINE.stall_limit)
    stalled = sorted(open_deals.index[idle > limit])
    assert len(stalled) == PLANTED.stalled_deal_count
    assert stalled == sorted(seeded.summary.stalled_deal_ids)
    # every other open deal was touched within the last two weeks
    assert (idle[~open_deals.index.isin(stalled)] <= 14).all()
    # and the domain's own stall rule agrees
    with session_scope(seeded.engine) as s:
        flagged = list_stalled_deals(s, SYSTEM, now=END)
    assert sorted(d.deal_id for d in flagged) == stalled
    owners = set(deals.set_index("id").loc[stalled, "owner_id"])
    rep_id = int(seeded.frames["users"].set_index("email").loc[DEMO_REP_EMAIL, "id"])
    assert rep_id in owners, "the tour's rep has a stalled deal to talk about"


def test_lead_outcomes_are_learnable_but_not_trivially(seeded: Seeded) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    leads = seeded.frames["leads"]
    known = leads[leads["outcome"].notna()].reset_index(drop=True)
    assert 1500 <= len(known) <= 2000
    assert set(known["outcome"]) == {"converted", "lost"}
    assert (known.loc[known["outcome"] == "converted", "status"] == "converted").all()
    assert (known.loc[known["outcome"] == "lost", "status"] == "disqualified").all()
    assert leads.loc[leads["status"].isin(["converted", "qualified"]), "qualified_at"].notna().all()
    assert set(leads.loc[leads["outcome"].isna(), "status"]) <= {"new", "working", "qualified"}
    rate = (known["outcome"] == "converted").mean()
    assert 0.15 <= rate <= 0.40
    attrs = pd.DataFrame(list(known["attributes"]))
    features = pd.concat(
        [
            attrs[["employees", "page_views", "email_opens", "webinar_attended"]].astype(float),
            pd.get_dummies(known[["source", "industry", "region"]]).astype(float),
            pd.get_dummies(attrs[["seniority"]]).astype(float),
        ],
        axis=1,
    )
    y = (known["outcome"] == "converted").astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    auc = cross_val_score(model, features, y, cv=5, scoring="roc_auc").mean()
    assert 0.7 <= auc <= 0.9, auc
    # the planted direction of the signal: referrals beat outbound
    by_source = known.assign(conv=y).groupby("source")["conv"].mean()
    assert by_source["referral"] > by_source["outbound"] * 2


# --- determinism and refusals --------------------------------------------------------------------------------------


def _builder_rows(seed: int, anchor: date) -> dict[str, list[dict[str, Any]]]:
    b = _DemoBuilder(seed, anchor)
    b.build()
    return {name: getattr(b, name) for name in MODELS}


def test_a_different_seed_gives_a_different_company_with_the_same_cast() -> None:
    # (same seed and anchor giving identical stores is checked on the database below)
    first = _builder_rows(7, ANCHOR)
    other = _builder_rows(8, ANCHOR)
    assert other["users"] == first["users"]  # the cast is fixed...
    for name in ("accounts", "leads", "deals", "interactions"):  # ...the company is not
        assert other[name] != first[name], name


def test_identical_stores_from_the_same_seed(seeded: Seeded, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    engine, summary = _seed_fresh(request.getfixturevalue("_sqlite_template"), tmp_path, seed=7, anchor=ANCHOR)
    try:
        again = _frames(engine)
    finally:
        engine.dispose()
    assert summary.stalled_deal_ids == seeded.summary.stalled_deal_ids
    for name in MODELS:
        pd.testing.assert_frame_equal(again[name], seeded.frames[name], check_like=False, obj=name)


def test_refuses_to_seed_a_store_with_users_and_changes_nothing(seeded: Seeded) -> None:
    with pytest.raises(WorkspaceNotEmpty, match="--reset"), session_scope(seeded.engine) as s:
        seed_demo(s, seed=8, anchor=ANCHOR)
    with session_scope(seeded.engine) as s:
        assert seeded_demo(s) == (7, ANCHOR)
    assert {name: len(frame) for name, frame in _frames(seeded.engine).items()} == {
        name: len(frame) for name, frame in seeded.frames.items()
    }
