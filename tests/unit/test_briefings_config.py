"""The briefings config file: defaults, per-team overrides, and specific errors for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.briefings.config import EXAMPLE, BriefingConfigError, load_config


def test_missing_file_gives_defaults_and_the_example_parses(tmp_path: Path) -> None:
    default = load_config(tmp_path / "briefings.yaml").schedule_for("Ann@Example.com")
    assert (default.manager_email, default.channel, default.time, default.timezone) == (
        "ann@example.com", None, "08:00", "UTC",
    )  # fmt: skip
    path = tmp_path / "b.yaml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    maria = config.schedule_for("maria.chen@demo.example")
    assert (maria.channel, maria.time, maria.timezone, maria.period) == (
        "C0123456789",
        "07:30",
        "America/Chicago",
        "month",
    )
    henrik = config.schedule_for("henrik.larsen@demo.example")
    assert (henrik.time, henrik.timezone) == ("08:00", "Europe/Copenhagen")  # time from the defaults
    assert config.misfire_grace_minutes == 60


def test_unquoted_yaml_times_are_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("defaults:\n  time: 7:30\nteams:\n  A@B.example:\n    time: 18:05\n")
    config = load_config(path)
    assert config.defaults.time == "07:30" and config.schedule_for("a@b.example").time == "18:05"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("teams:\n  a@b.example:\n    time: 8am\n", "teams.a@b.example.time: '8am' is not a 24-hour time"),
        ("defaults:\n  timezone: Mars/Base\n", "'Mars/Base' is not an IANA timezone"),
        ("teams:\n  a@b.example:\n    chanel: C1\n", "teams.a@b.example.chanel: Extra inputs are not permitted"),
        ("teams: [\n", "is not valid YAML at line 2"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_a_bad_file_is_refused_with_the_field_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "briefings.yaml"
    path.write_text(text)
    with pytest.raises(BriefingConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
