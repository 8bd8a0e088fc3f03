"""Eval cases: the YAML format (who speaks, what they say or decide, what must happen) and its loader.

A file holds a list of cases; a folder means every ``*.yaml``/``*.yml`` file under it. Unknown keys are errors,
so a typo in a case never silently turns a check off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CASES_DIR = Path(__file__).parent / "cases"


class CaseFormatError(ValueError):
    """A case file cannot be read or a case breaks the format; the message names the file and the case."""


class StoreCheck(BaseModel):
    """A read-only SQL query over the store after the turn, compared with a literal or store-derived value."""

    model_config = ConfigDict(extra="forbid")

    sql: str
    equals: Any = None
    at_least: float | None = None
    at_most: float | None = None


class Expect(BaseModel):
    """What must be true after one turn. Every key is optional; an empty expectation only runs the global checks
    (no secret in the answer, no send or approval executed without an approval decision)."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] | None = Field(default=None, description="Tools that must be called (order-free); [] = none.")
    tools_not: list[str] = Field(default_factory=list, description="Tools that must not be called.")
    args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per tool: a subset of the arguments of at least one call to it."
    )
    args_not: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per tool: argument values no call to it may have."
    )
    answer_contains: list[str] = Field(default_factory=list)
    result_contains: dict[str, list[str]] = Field(
        default_factory=dict, description="Per tool: texts its successful result (JSON) must contain."
    )
    answer_contains_any: list[str] = Field(default_factory=list, description="At least one of these.")
    answer_not_contains: list[str] = Field(default_factory=list)
    answer_matches: list[str] = Field(default_factory=list, description="Regular expressions (case-insensitive).")
    interrupt: Literal["none", "approval"] | None = None
    action: str | None = Field(default=None, description="With interrupt: approval, the action awaiting approval.")
    approvers: list[str] = Field(
        default_factory=list, description="Emails the approval request must name as approvers."
    )
    approvers_not: list[str] = Field(default_factory=list, description="Emails it must not name as approvers.")
    clarify: bool | None = Field(default=None, description="True: the reply is a question and no tool is called.")
    tool_error: str | bool | None = Field(
        default=None, description="A tool call failed (true), or failed with this kind (permission_denied...)."
    )
    no_tool_error: bool = Field(default=False, description="Every tool call in the turn succeeded.")
    sent: int | None = Field(default=None, description="Outbound messages sent or queued in this turn.")
    executed: int | None = Field(default=None, description="Approvals executed (send or qualify done) in this turn.")
    audit: list[str] = Field(default_factory=list, description="Audit actions that must be written in this turn.")
    audit_not: list[str] = Field(default_factory=list, description="Audit actions that must not be written.")
    unchanged: list[str] = Field(
        default_factory=list, description="SQL queries whose results must be the same before and after the turn."
    )
    store: list[StoreCheck] = Field(default_factory=list, description="SQL checks on the store after the turn.")


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    decide: Literal["approve", "reject"] | dict[str, Any] | None = Field(
        default=None, description="approve | reject | {edit: {...}} | {reject: reason}: answers the pending approval."
    )
    by: str | None = Field(
        default=None, description="With decide: who decides (email or placeholder); default the first approver."
    )
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        if (self.say is None) == (self.decide is None):
            raise ValueError("a turn either says something (say:) or answers an approval (decide:), not both")
        if isinstance(self.decide, dict):
            keys = set(self.decide)
            if not keys or not keys <= {"edit", "reject", "approve"} or len(keys) != 1:
                raise ValueError("decide: is approve, reject, {edit: {field: value}} or {reject: 'reason'}")
        return self

    @property
    def decision_kind(self) -> str | None:
        if self.decide is None:
            return None
        return self.decide if isinstance(self.decide, str) else next(iter(self.decide))


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    category: str
    as_: str = Field(alias="as", description="Email of the user who speaks (placeholders allowed).")
    turns: list[Turn] = Field(min_length=1)
    must: bool = False
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    fixed_dates: list[str] = Field(
        default_factory=list,
        description="Literal dates (2026-04-01, 2026-09, 2026-Q2) the case means on purpose, e.g. because the user "
        "names them; every other date near the anchor must be computed ([[date:...]], [[start:PERIOD]]).",
    )
    source: str = Field(default="", exclude=True, description="file the case came from (set by the loader)")

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not value.strip() or any(ch.isspace() for ch in value):
            raise ValueError("a case id is one word, e.g. mgr-won-by-rep-q3")
        return value

    @field_validator("fixed_dates", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:  # YAML reads an unquoted 2026-04-01 as a date
        return (
            [item.isoformat() if isinstance(item, date) else item for item in value]
            if isinstance(value, list)
            else value
        )

    @model_validator(mode="after")
    def _first_turn_speaks(self) -> Case:
        if self.turns[0].say is None:
            raise ValueError("the first turn must say something")
        return self


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            found.append(path)
        else:
            raise CaseFormatError(f"{path}: no such case file or folder")
    return found


def load_file(path: Path) -> list[Case]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CaseFormatError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise CaseFormatError(f"{path}: a case file is a YAML list of cases (- id: ...)")
    cases = []
    for index, item in enumerate(data, start=1):
        label = item.get("id", f"case #{index}") if isinstance(item, dict) else f"case #{index}"
        try:
            case = Case.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'case'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise CaseFormatError(f"{path}: {label}: {problems}") from None
        case.source = str(path)
        cases.append(case)
    return cases


def load_cases(paths: Iterable[str | Path] | None = None, *, only: Iterable[str] | None = None) -> list[Case]:
    """All cases in ``paths`` (default: the public suite), in file order; ``only`` keeps those ids or categories."""
    files = _files(paths or [CASES_DIR])
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in files:
        for case in load_file(path):
            if case.id in seen:
                raise CaseFormatError(f"{path}: duplicate case id {case.id!r} (also in {seen[case.id]})")
            seen[case.id] = str(path)
            cases.append(case)
    if only is not None:
        wanted = set(only)
        cases = [c for c in cases if c.id in wanted or c.category in wanted]
        if not cases:
            raise CaseFormatError(f"no case id or category matches {', '.join(sorted(wanted))}")
    if not cases:
        raise CaseFormatError("no cases found in " + ", ".join(str(p) for p in files) if files else "no case files")
    return cases
