"""Mapping files, --map options, templates and cell parsers of the CSV importer (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sales.importing import (
    ENTITY_FIELDS,
    MAPPINGS_DIR,
    STAGES_FILE,
    MappingError,
    detect_delimiter,
    load_mapping,
    parse_map_options,
)
from sales.importing.fields import ParseContext, attribute_value, parse_datetime, parse_value
from sales.importing.mapping import Template, mapping_from_dict

CTX = ParseContext()


def _spec(entity: str, name: str):  # type: ignore[no-untyped-def]
    return next(f for f in ENTITY_FIELDS[entity] if f.name == name)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MAPPINGS_DIR.glob("*/*.yaml") if p.name != STAGES_FILE),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_shipped_mapping_files_load_and_name_only_real_fields(path: Path) -> None:
    mapping = load_mapping(path)
    # our own mappings are named after the entity; a CRM's after that CRM's object (companies.yaml → accounts)
    assert mapping.entity == path.stem or (mapping.system == path.parent.name and mapping.object == path.stem)
    assert mapping.entity is not None
    fields = {f.name for f in ENTITY_FIELDS[mapping.entity]}
    named = set(mapping.columns) | set(mapping.values) | set(mapping.defaults) | set(mapping.templates)
    assert named <= fields, named - fields


def test_crm_exports_are_detected_by_their_columns_and_the_most_specific_mapping_wins() -> None:
    from sales.importing import detect_mapping

    opportunities = ["Opportunity ID", "Opportunity Name", "Account ID", "Account Name", "Stage", "Close Date"]
    found = detect_mapping(opportunities, MAPPINGS_DIR)
    assert found is not None and (found.system, found.entity) == ("salesforce", "deals")
    deals = ["Deal - ID", "Deal - Title", "Deal - Stage", "Person - ID", "Person - Name"]
    found = detect_mapping(deals, MAPPINGS_DIR)
    assert found is not None and (found.system, found.object) == ("pipedrive", "deals")
    assert detect_mapping(["id", "name", "stage"], MAPPINGS_DIR) is None


def test_a_crm_mapping_must_say_which_column_holds_the_record_id() -> None:
    with pytest.raises(MappingError, match="must map `external_id`"):
        mapping_from_dict({"entity": "deals", "system": "hubspot", "columns": {"name": "Deal Name"}})


def test_several_date_formats_are_tried_in_turn_and_keep_the_time() -> None:
    ctx = ParseContext(date_format="%m/%d/%Y", date_formats=("%m/%d/%Y %I:%M %p",))
    assert parse_value(_spec("deals", "created_at"), "3/4/2025 2:30 PM", ctx) == datetime(
        2025, 3, 4, 14, 30, tzinfo=UTC
    )
    assert parse_value(_spec("deals", "expected_close_date"), "12/31/2025", ctx).isoformat() == "2025-12-31"
    with pytest.raises(ValueError, match="does not match the date format '%m/%d/%Y' or"):
        parse_value(_spec("deals", "expected_close_date"), "31.12.2025", ctx)


def test_the_four_ready_mappings_exist() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in MAPPINGS_DIR.glob("*/*.yaml")}
    assert {"maven/accounts.yaml", "maven/users.yaml", "maven/deals.yaml", "bank-marketing/leads.yaml"} <= names


def test_templates_fill_names_through_filters() -> None:
    template = Template.parse("{name|dotted}@maven-crm.example", for_field="email")
    assert template.render({"name": "Mei-Mei Johns"}) == "mei.mei.johns@maven-crm.example"
    assert Template.parse("{name|slug}", for_field="x").render({"name": "José  Núñez"}) == "jose-nunez"
    assert Template.parse("Bank contact {__row__}", for_field="name").render({"__row__": "7"}) == "Bank contact 7"
    assert Template.parse("{a|first} {a|last|upper}", for_field="x").render({"a": "Ada B Lovelace"}) == "Ada LOVELACE"


def test_template_mistakes_are_reported_before_any_row() -> None:
    with pytest.raises(MappingError, match="unknown filter 'slugify'"):
        Template.parse("{name|slugify}", for_field="email")
    with pytest.raises(MappingError, match="unbalanced brace"):
        Template.parse("{name", for_field="email")


def test_mapping_dict_errors_are_specific() -> None:
    with pytest.raises(MappingError, match="unknown key\\(s\\) colums"):
        mapping_from_dict({"colums": {"name": "x"}})
    with pytest.raises(MappingError, match="quote yes/no"):
        mapping_from_dict({"values": {"outcome": {True: "converted"}}})
    with pytest.raises(MappingError, match="one character"):
        mapping_from_dict({"delimiter": ";;"})


def test_bad_yaml_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("columns: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(path)
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "missing.yaml")


def test_map_options_parse_and_reject_garbage() -> None:
    assert parse_map_options(["amount=close_value", " owner = sales agent "]) == {
        "amount": "close_value",
        "owner": "sales agent",
    }
    with pytest.raises(MappingError, match="field=column"):
        parse_map_options(["amount"])
    overridden = mapping_from_dict({"columns": {"amount": "a", "name": "n"}}).with_overrides({"amount": "b"})
    assert overridden.columns == {"amount": "b", "name": "n"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a,b,c", ","),
        ('"age";"job";"y"', ";"),
        ("a\tb\tc", "\t"),
        ('"x;y",b,c', ","),  # the semicolon is inside quotes
        ("single", ","),
    ],
)
def test_delimiter_detection(line: str, expected: str) -> None:
    assert detect_delimiter(line) == expected


def test_money_cells() -> None:
    amount = _spec("deals", "amount")
    assert parse_value(amount, "$1,234.5", CTX) == Decimal("1234.50")
    for bad, why in [("12x", "not a number"), ("-3", "negative"), ("1.234", "2 decimal"), ("1e15", "too large")]:
        with pytest.raises(ValueError, match=why):
            parse_value(amount, bad, CTX)


def test_dates_and_times() -> None:
    assert parse_value(_spec("deals", "expected_close_date"), "2024-02-29", CTX) == date(2024, 2, 29)
    with pytest.raises(ValueError, match="date_format"):
        parse_value(_spec("deals", "expected_close_date"), "02/29/2024", CTX)
    us = ParseContext(date_format="%m/%d/%Y")
    assert parse_value(_spec("deals", "expected_close_date"), "02/29/2024", us) == date(2024, 2, 29)
    assert parse_datetime("2024-01-02", None) == datetime(2024, 1, 2, tzinfo=UTC)
    assert parse_datetime("2024-01-02T10:00:00+02:00", None) == datetime(2024, 1, 2, 8, tzinfo=UTC)
    assert parse_datetime("2024-01-02T10:00:00Z", None) == datetime(2024, 1, 2, 10, tzinfo=UTC)


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))])))
def test_any_iso_timestamp_parses_to_the_same_instant(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat(), None) == moment


def test_choice_stage_phone_email_bool_cells() -> None:
    assert parse_value(_spec("deals", "stage"), "negotiation", CTX) == "Negotiation"
    with pytest.raises(ValueError, match="stages are Prospecting"):
        parse_value(_spec("deals", "stage"), "Engaging", CTX)
    assert parse_value(_spec("interactions", "channel"), "Email", CTX) == "email"
    assert parse_value(_spec("leads", "email"), "Ann@Example.COM", CTX) == "ann@example.com"
    assert parse_value(_spec("leads", "phone"), "030 901820", ParseContext(phone_region="DE")) == "+4930901820"
    with pytest.raises(ValueError, match="not a valid phone number"):
        parse_value(_spec("leads", "phone"), "12", CTX)
    assert parse_value(_spec("users", "active"), "No", CTX) is False
    with pytest.raises(ValueError, match="three-letter currency code"):
        parse_value(_spec("deals", "currency"), "US", CTX)
    with pytest.raises(ValueError, match="at most 100 fit"):
        parse_value(_spec("deals", "external_id"), "x" * 101, CTX)


@given(st.integers(min_value=-(10**12), max_value=10**12) | st.floats(allow_nan=False, allow_infinity=False))
def test_attribute_numbers_survive_as_numbers_when_they_print_back_identically(number: float) -> None:
    text = str(number)
    value = attribute_value(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert str(value) == text
    else:
        assert value == text


def test_attribute_text_that_only_looks_numeric_stays_text() -> None:
    assert attribute_value("01234") == "01234"  # a zip code keeps its zero
    assert attribute_value("1.10") == "1.10"
    assert attribute_value("999") == 999
    assert attribute_value("-36.4") == -36.4
