"""Event logs: validation errors that name the problem, XES/CSV reading with column mapping, saving by name."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.eventlog import (
    ACTIVITY,
    CASE,
    RESOURCE,
    TIMESTAMP,
    EventLogError,
    event_log_from_frame,
    list_saved_event_logs,
    load_saved_event_log,
    read_event_log_file,
    save_event_log,
    synthetic_event_log,
    validate_events,
)
from sales.errors import InvalidInput, NotFound


def _frame(**overrides: list[object]) -> pd.DataFrame:
    data: dict[str, list[object]] = {
        CASE: ["a", "a", "b"],
        ACTIVITY: ["Prospecting", "Qualified", "Prospecting"],
        TIMESTAMP: ["2026-01-02T10:00:00Z", "2026-01-05T10:00:00Z", "2026-01-03T09:00:00+02:00"],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_missing_columns_are_each_named_with_what_is_there() -> None:
    frame = _frame().drop(columns=[TIMESTAMP, ACTIVITY])
    with pytest.raises(EventLogError) as caught:
        validate_events(frame)
    assert set(caught.value.problems) == {ACTIVITY, TIMESTAMP}
    assert "columns present: case_id" in caught.value.problems[TIMESTAMP]
    assert isinstance(caught.value, InvalidInput)  # front doors render it like any invalid input


def test_missing_timestamps_are_counted_and_located() -> None:
    frame = _frame(**{TIMESTAMP: ["2026-01-02", None, ""]})
    with pytest.raises(EventLogError) as caught:
        validate_events(frame)
    assert caught.value.problems == {TIMESTAMP: "2 events have no timestamp (rows 1, 2)"}


def test_unreadable_timestamps_are_an_error_not_a_silent_nat() -> None:
    with pytest.raises(EventLogError) as caught:
        validate_events(_frame(**{TIMESTAMP: ["2026-01-02", "next tuesday-ish", "2026-01-03"]}))
    assert TIMESTAMP in caught.value.problems


def test_missing_case_and_activity_values_are_named() -> None:
    with pytest.raises(EventLogError) as caught:
        validate_events(_frame(**{CASE: ["a", None, "b"], ACTIVITY: ["x", "y", " "]}))
    assert set(caught.value.problems) == {CASE, ACTIVITY}


def test_valid_events_are_sorted_in_utc_with_resource_column() -> None:
    out = validate_events(_frame())
    assert list(out[CASE]) == ["a", "a", "b"]
    assert str(out[TIMESTAMP].dt.tz) == "UTC"
    # 09:00 at +02:00 is 07:00 UTC
    assert out.loc[2, TIMESTAMP] == pd.Timestamp("2026-01-03T07:00:00Z")
    assert RESOURCE in out.columns


def test_unknown_mapped_columns_name_the_available_ones() -> None:
    frame = _frame().rename(columns={CASE: "deal", ACTIVITY: "stage", TIMESTAMP: "at"})
    with pytest.raises(EventLogError) as caught:
        event_log_from_frame(frame, case="deal", activity="stage_name", timestamp="when")
    assert set(caught.value.problems) == {"stage_name", "when"}
    assert "available: deal, stage, at" in caught.value.problems["when"]


def test_csv_with_column_mapping_and_case_attributes(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "deal,stage,changed,rep,industry\n"
        "7,Prospecting,2026-02-01 09:00,ann@x.io,retail\n"
        "7,Qualified,2026-02-04 09:00,ann@x.io,retail\n"
        "8,Prospecting,2026-02-02 12:00,bob@x.io,software\n"
    )
    log = read_event_log_file(path, case="deal", activity="stage", timestamp="changed", resource="rep")
    assert log.n_cases == 2
    assert log.n_events == 3
    assert log.cases.loc["7", "owner"] == "ann@x.io"
    assert log.cases.loc["8", "industry"] == "software"


def test_csv_missing_timestamp_reports_the_spreadsheet_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("case_id,activity,timestamp\n1,Prospecting,2026-01-01\n1,Qualified,\n")
    with pytest.raises(EventLogError) as caught:
        read_event_log_file(path)
    assert caught.value.problems == {TIMESTAMP: "1 events have no timestamp (rows 3)"}


def test_xes_event_without_timestamp_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.xes.gz"
    xes = (
        '<?xml version="1.0"?><log xmlns="http://www.xes-standard.org/"><trace>'
        '<string key="concept:name" value="c1"/>'
        '<event><string key="concept:name" value="A"/><date key="time:timestamp" value="2026-01-01T00:00:00Z"/></event>'
        '<event><string key="concept:name" value="B"/></event>'
        "</trace></log>"
    )
    with gzip.open(path, "wt") as handle:
        handle.write(xes)
    with pytest.raises(EventLogError) as caught:
        read_event_log_file(path)
    assert "1 events have no timestamp" in caught.value.problems[TIMESTAMP]


def test_unsupported_file_type_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_event_log_file(tmp_path / "nope.xes")
    other = tmp_path / "log.json"
    other.write_text("{}")
    with pytest.raises(EventLogError, match=r"expected a \.xes"):
        read_event_log_file(other)


def test_running_example_xes(shared_data: Path) -> None:
    log = read_event_log_file(shared_data / "eventlogs" / "running-example.xes")
    assert (log.n_cases, log.n_events) == (6, 42)
    assert log.events[ACTIVITY].astype(str).iloc[0] == "register request"
    assert set(log.cases["owner"]) <= {"Pete", "Mike", "Ellen", "Sara", "Sean", "Sue"}


def test_gzipped_xes_with_slash_dates(shared_data: Path) -> None:
    log = read_event_log_file(shared_data / "eventlogs" / "10_orders.xes.gz")
    assert log.n_events == 154
    assert log.events[TIMESTAMP].min() == pd.Timestamp("2019-11-03T01:11:19Z")


def test_save_and_load_by_name(tmp_path: Path) -> None:
    log = synthetic_event_log(50, seed=3)
    save_event_log(log, "pipeline-2026", tmp_path)
    again = load_saved_event_log("pipeline-2026", tmp_path)
    pd.testing.assert_frame_equal(again.events, log.events)
    assert [entry["name"] for entry in list_saved_event_logs(tmp_path)] == ["pipeline-2026"]
    with pytest.raises(NotFound, match="imported: pipeline-2026"):
        load_saved_event_log("other", tmp_path)
    with pytest.raises(EventLogError):
        save_event_log(log, "../escape", tmp_path)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2", "c3"]),
            st.sampled_from(["A", "B", "C"]),
            st.integers(min_value=0, max_value=10**9),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_validation_keeps_every_event_in_case_and_time_order(rows: list[tuple[str, str, int]]) -> None:
    frame = pd.DataFrame(
        {
            CASE: [r[0] for r in rows],
            ACTIVITY: [r[1] for r in rows],
            TIMESTAMP: pd.to_datetime([r[2] for r in rows], unit="s", utc=True),
        }
    )
    out = validate_events(frame)
    assert len(out) == len(rows)
    keys = list(zip(out[CASE], out[TIMESTAMP], strict=True))
    assert keys == sorted(keys)
