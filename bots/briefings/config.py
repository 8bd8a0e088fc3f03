"""Which team gets its briefing where and when: ``$SALESGRAPH_HOME/briefings.yaml`` (or
``SALESGRAPH_BRIEFINGS_CONFIG``), mapping a manager's email to a Slack channel, a post time and a timezone.

A missing file means the defaults for every manager (08:00 UTC, files instead of Slack). A file that does not
parse or names a bad time, timezone or field is refused with the file, the field and what to write instead.
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sales.errors import SalesError

EXAMPLE = """\
defaults:
  time: "08:00"            # 24-hour local time
  timezone: America/New_York
  period: month            # the forecast shown: month or quarter
misfire_grace_minutes: 60  # a briefing missed while the scheduler was down still goes out this long after
teams:
  maria.chen@demo.example:
    channel: C0123456789   # Slack channel id (invite the app to it)
    time: "07:30"
    timezone: America/Chicago
  henrik.larsen@demo.example:
    channel: C0987654321
    timezone: Europe/Copenhagen
"""

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class BriefingConfigError(SalesError):
    """The briefings config file is unreadable or wrong; the message names the file and the field."""


def _unsexagesimal(value: object) -> object:
    # YAML 1.1 reads an unquoted 7:30 as the base-60 integer 450; take it back to the time it was written as.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


def _check_time(value: str) -> str:
    if not _TIME.match(value.strip()):
        raise ValueError(f'{value!r} is not a 24-hour time; write it as HH:MM, e.g. "08:00"')
    return value.strip()


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone; e.g. America/New_York, Europe/Berlin, UTC") from None
    return value


class TeamDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time: str = "08:00"
    timezone: str = "UTC"
    period: Literal["month", "quarter"] = "month"

    _before = field_validator("time", mode="before")(_unsexagesimal)
    _time = field_validator("time")(_check_time)
    _zone = field_validator("timezone")(_check_zone)


class TeamEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, description="Slack channel id; none: files")
    time: str | None = None
    timezone: str | None = None
    period: Literal["month", "quarter"] | None = None
    enabled: bool = True

    _before = field_validator("time", mode="before")(_unsexagesimal)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        return None if value is None else _check_time(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class BriefingsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: TeamDefaults = Field(default_factory=TeamDefaults)
    misfire_grace_minutes: int = Field(default=60, ge=1, le=24 * 60)
    teams: dict[str, TeamEntry] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True, description="the file it came from, for messages")

    def schedule_for(self, email: str) -> TeamSchedule:
        """The effective schedule of the team led by ``email`` (the defaults fill what its entry leaves out)."""
        entry = self.teams.get(email.strip().lower()) or TeamEntry()
        return TeamSchedule(
            manager_email=email.strip().lower(),
            channel=entry.channel,
            time=entry.time or self.defaults.time,
            timezone=entry.timezone or self.defaults.timezone,
            period=entry.period or self.defaults.period,
            enabled=entry.enabled,
        )


class TeamSchedule(BaseModel):
    manager_email: str
    channel: str | None
    time: str
    timezone: str
    period: Literal["month", "quarter"]
    enabled: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_time(self) -> clock_time:
        hour, minute = self.time.split(":")
        return clock_time(int(hour), int(minute))


def config_path(home: Path, override: Path | None = None) -> Path:
    return (override or home / "briefings.yaml").expanduser()


def load_config(path: Path) -> BriefingsConfig:
    """Read and check the config; a missing file gives the defaults."""
    import yaml

    if not path.exists():
        return BriefingsConfig(source=None)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BriefingConfigError(f"cannot read the briefings config {path}: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise BriefingConfigError(f"{path} is not valid YAML{at}; see `salesgraph briefings --help`") from None
    if raw is None:
        return BriefingsConfig(source=str(path))
    if not isinstance(raw, dict):
        raise BriefingConfigError(f"{path} must be a mapping with `defaults` and `teams`; see the example in README")
    teams = raw.get("teams")
    if isinstance(teams, dict):
        raw = {**raw, "teams": {str(k).strip().lower(): (v or {}) for k, v in teams.items()}}
    try:
        config = BriefingsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise BriefingConfigError(f"{path}: {problems}") from None
    config.source = str(path)
    return config
