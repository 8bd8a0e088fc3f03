"""The demo seed on real back ends (SQLite and PostgreSQL) and through the real ``salesgraph seed`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from sales.deals import list_stalled_deals
from sales.demo import DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, PLANTED, SEED_ACTION, WorkspaceNotEmpty, seed_demo
from sales.permissions import SYSTEM, load_actor
from sales.stages import DEFAULT_MACHINE
from store.audit import verify_chain
from store.db import session_scope
from store.models import AuditEvent, Deal, Interaction, StageChange, User

REPO = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 11, 23)
END = datetime(2026, 11, 23, tzinfo=UTC)


def _count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_seed_refuse_reset_on_both_back_ends(engine: Engine) -> None:
    with session_scope(engine) as s:
        summary = seed_demo(s, seed=7, anchor=ANCHOR)
    assert summary.counts["deals"] == _count(engine, Deal) == 600
    assert summary.counts["stage_changes"] == _count(engine, StageChange)
    assert summary.counts["interactions"] == _count(engine, Interaction)

    with session_scope(engine) as s:
        # histories end where the deals are (checked in SQL, on this back end's round-tripped values)
        last = (
            select(StageChange.deal_id, func.max(StageChange.changed_at).label("at"))
            .group_by(StageChange.deal_id)
            .subquery()
        )
        mismatched = s.execute(
            select(func.count())
            .select_from(Deal)
            .join(last, last.c.deal_id == Deal.id)
            .where(last.c.at != Deal.stage_entered_at)
        ).scalar_one()
        assert mismatched == 0
        flagged = list_stalled_deals(s, SYSTEM, now=END)
        assert sorted(d.deal_id for d in flagged) == sorted(summary.stalled_deal_ids)
        assert len(flagged) == PLANTED.stalled_deal_count
        # permissions work on the seeded team: the manager sees the rep's deals, the rep sees only their own
        manager = load_actor(s, DEMO_MANAGER_EMAIL)
        rep = load_actor(s, DEMO_REP_EMAIL)
        assert rep.user_id is not None and manager.can_see_owner(rep.user_id)
        assert rep.visible_owner_ids == frozenset({rep.user_id})
        assert {d.deal_id for d in list_stalled_deals(s, rep, now=END)} <= set(summary.stalled_deal_ids)
        assert list_stalled_deals(s, rep, now=END), "the tour's rep owns a stalled deal"
        open_deals = s.execute(
            select(func.count()).select_from(Deal).where(Deal.stage.in_(DEFAULT_MACHINE.open_stages))  # type: ignore[attr-defined]
        ).scalar_one()
        assert open_deals >= 60

    # seeding again is refused and changes nothing
    with pytest.raises(WorkspaceNotEmpty), session_scope(engine) as s:
        seed_demo(s, seed=8, anchor=ANCHOR)
    assert _count(engine, Deal) == 600
    assert _count(engine, AuditEvent) == 1

    # --reset wipes everything (audit log included) in the same transaction and seeds afresh
    with session_scope(engine) as s:
        again = seed_demo(s, seed=8, anchor=ANCHOR, reset=True)
    assert again.counts["users"] == _count(engine, User) == 11
    assert _count(engine, Deal) == 600
    with session_scope(engine) as s:
        events = s.execute(select(AuditEvent)).scalars().all()
        assert [e.action for e in events] == [SEED_ACTION]
        assert events[0].after is not None and events[0].after["seed"] == 8
        assert verify_chain(s).ok


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SALESGRAPH_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("SALESGRAPH_DATABASE_URL", None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
            input=stdin,
        )

    return run


def test_seed_command(cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("seed", "--demo", "--anchor", "2026-11-23")
    assert first.returncode == 0, first.stderr
    for text in ("Seeded the demo company", DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, PLANTED.low_converting_rep_email):
        assert text in first.stdout
    assert "600" in first.stdout and "2,000" in first.stdout

    twice = cli("seed", "--demo")
    assert twice.returncode == 1
    assert "already has 11 user(s)" in twice.stderr and "--reset" in twice.stderr
    assert "Traceback" not in twice.stderr

    declined = cli("seed", "--demo", "--reset", stdin="n\n")
    assert declined.returncode == 1 and "nothing changed" in declined.stderr

    bad = cli("seed", "--demo", "--anchor", "03/11/2026")  # 3 November or 11 March?
    assert (
        bad.returncode == 1
        and "ambiguous" in bad.stderr
        and "YYYY-MM-DD" in bad.stderr
        and "Traceback" not in bad.stderr
    )

    nothing = cli("seed")
    assert nothing.returncode == 1 and "--demo" in nothing.stderr

    reset = cli("seed", "--demo", "--reset", "--yes", "--seed", "3", "--anchor", "2026-11-23")
    assert reset.returncode == 0, reset.stderr
    assert "seed 3" in reset.stdout
