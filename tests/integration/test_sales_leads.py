"""Lead capture on SQLite and PostgreSQL: validation, dedupe, assignment, first-contact task, receipts."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from sales.errors import DuplicateRecord, InvalidInput, PermissionDenied
from sales.leads import LeadInput, create_lead, get_lead, list_leads, set_lead_status
from store.models import AuditEvent, Lead, Task
from tests.factories import actor, small_org


def _count(s: Session, model: type) -> int:
    return int(s.exec(select(func.count()).select_from(model)).one())


def test_rep_captures_a_lead_with_task_and_receipt(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        result = create_lead(
            s,
            rep,
            LeadInput(name="Jane Roe", email=" Jane.Roe@Example.COM ", phone="(415) 555-0123", company="Acme, Inc."),
        )
        s.commit()
        lead = result.lead
        assert lead.email == "jane.roe@example.com"
        assert lead.phone == "+14155550123"
        assert lead.owner_id == org["east_rep1"].id
        task = s.get(Task, result.task_id)
        assert task is not None
        assert task.kind == "first_contact"
        assert task.owner_id == org["east_rep1"].id
        event = s.get(AuditEvent, result.receipt_id)
        assert event is not None
        assert (event.action, event.record_id) == ("create_lead", str(lead.id))


def test_invalid_email_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        with pytest.raises(InvalidInput) as info:
            create_lead(s, actor(s, org["east_rep1"]), LeadInput(name="Bad Email", email="bob@", phone="not a phone"))
        s.rollback()
        assert set(info.value.problems) == {"email", "phone"}
        assert _count(s, Lead) == 0
        assert _count(s, AuditEvent) == 0


def test_duplicate_by_email_is_not_created_twice(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        first = create_lead(s, rep, LeadInput(name="Jane Roe", email="jane@acme.example"))
        s.commit()
        with pytest.raises(DuplicateRecord) as info:
            create_lead(s, rep, LeadInput(name="J. Roe", email="JANE@acme.example"))
        s.rollback()
        assert info.value.existing_id == first.lead.id
        assert _count(s, Lead) == 1


def test_duplicate_by_company_and_name_is_merged_when_asked(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        create_lead(s, rep, LeadInput(name="José Álvarez", company="ACME Inc.", phone="+1 415 555 0199"))
        s.commit()
        with pytest.raises(DuplicateRecord):
            create_lead(s, rep, LeadInput(name="Jose Alvarez", company="Acme", email="jose@acme.example"))
        s.rollback()
        merged = create_lead(
            s, rep, LeadInput(name="Jose Alvarez", company="Acme", email="jose@acme.example"), on_duplicate="merge"
        )
        s.commit()
        assert merged.merged
        assert not merged.created
        assert merged.lead.email == "jose@acme.example"
        assert merged.lead.phone == "+14155550199"
        assert _count(s, Lead) == 1


def test_duplicate_owned_by_another_team_is_refused_without_details(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        create_lead(s, actor(s, org["east_rep1"]), LeadInput(name="Jane Roe", email="jane@acme.example"))
        s.commit()
        with pytest.raises(DuplicateRecord, match="another team"):
            create_lead(
                s,
                actor(s, org["west_rep1"]),
                LeadInput(name="Jane Roe", email="jane@acme.example"),
                on_duplicate="merge",
            )


def test_manager_captured_leads_go_round_robin_within_the_region(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        mgr = actor(s, org["east_mgr"])
        owners = []
        for i in range(4):
            result = create_lead(s, mgr, LeadInput(name=f"Person {i}", email=f"p{i}@x.example", region="East"))
            owners.append(result.lead.owner_id)
            s.commit()
        east = {org["east_rep1"].id, org["east_rep2"].id}
        assert set(owners) == east
        assert owners[0] != owners[1]
        assert owners[:2] == owners[2:]


def test_reps_see_their_own_leads_and_managers_their_team(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        east_lead = create_lead(s, actor(s, org["east_rep1"]), LeadInput(name="A", email="a@x.example")).lead
        create_lead(s, actor(s, org["west_rep1"]), LeadInput(name="B", email="b@x.example"))
        s.commit()
        assert [lead.name for lead in list_leads(s, actor(s, org["east_rep1"]))] == ["A"]
        assert {lead.name for lead in list_leads(s, actor(s, org["east_mgr"]))} == {"A"}
        assert {lead.name for lead in list_leads(s, actor(s, org["admin"]))} == {"A", "B"}
        assert east_lead.id is not None
        with pytest.raises(PermissionDenied):
            get_lead(s, actor(s, org["west_rep1"]), east_lead.id)


def test_qualification_cannot_be_set_directly(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        rep = actor(s, org["east_rep1"])
        lead = create_lead(s, rep, LeadInput(name="A", email="a@x.example")).lead
        s.commit()
        assert lead.id is not None
        with pytest.raises(PermissionDenied, match="approval"):
            set_lead_status(s, rep, lead.id, "qualified")


def test_a_managers_lead_stays_on_their_team_even_without_a_region(engine: Engine) -> None:
    with Session(engine) as s:
        org = small_org(s)
        owners = {
            create_lead(s, actor(s, org["west_mgr"]), LeadInput(name=f"P{i}", email=f"p{i}@x.example")).lead.owner_id
            for i in range(4)
        }
        s.commit()
        assert owners == {org["west_rep1"].id, org["west_rep2"].id}
        admin_lead = create_lead(
            s, actor(s, org["admin"]), LeadInput(name="Q", email="q@x.example", region="East")
        ).lead
        assert admin_lead.owner_id in {org["east_rep1"].id, org["east_rep2"].id}
