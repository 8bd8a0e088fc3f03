"""The fields each importable entity accepts, and the parsers that turn a CSV cell into a checked value.

Every parser raises ``ValueError`` with a message that completes the sentence "column X ...", so a row report
reads naturally: "row 12, close_value: 'abc' is not a number".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sales.money import normalize_currency
from sales.stages import DEFAULT_MACHINE, StageMachine
from sales.validation import normalize_email, normalize_phone
from store.models import Channel, Direction, LeadStatus, Role

# Reference kinds: the value names another record, resolved after every row has been parsed.
REF_ACCOUNT = "ref_account"  # by name; unknown accounts are created
REF_USER = "ref_user"  # by email or by name; unknown users are an error
REF_DEAL = "ref_deal"  # by the deal's external_id; unknown is an error
REF_LEAD = "ref_lead"  # by the lead's external_id; unknown is an error
REF_CONTACT = "ref_contact"  # by the contact's email; unknown is an error
REF_KINDS = {REF_ACCOUNT, REF_USER, REF_DEAL, REF_LEAD, REF_CONTACT}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class ParseContext:
    date_format: str | None = None
    phone_region: str = "US"
    date_formats: tuple[str, ...] = ()  # tried after date_format, in turn

    @property
    def formats(self) -> tuple[str, ...]:
        return ((self.date_format,) if self.date_format else ()) + self.date_formats

    machine: StageMachine = DEFAULT_MACHINE


def _s(name: str, max_length: int, required: bool = False, help: str = "") -> FieldSpec:
    return FieldSpec(name, "str", required=required, max_length=max_length, help=help)


OUTCOMES = ("converted", "lost")

ENTITY_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "users": (
        _s("name", 200, required=True),
        FieldSpec("email", "email", required=True),
        FieldSpec("role", "choice", choices=tuple(r.value for r in Role)),
        FieldSpec("manager", REF_USER, help="manager's email or name (existing user or a row of the same file)"),
        _s("team", 200),
        _s("region", 100),
        _s("slack_user_id", 64),
        FieldSpec("started_at", "date"),
        FieldSpec("active", "bool"),
    ),
    "accounts": (
        _s("external_id", 100, help="the CRM's record id (CRM mappings only: stored as an external ref)"),
        _s("name", 300, required=True),
        _s("domain", 255),
        _s("industry", 100),
        FieldSpec("employees", "int"),
        _s("size_band", 32),
        FieldSpec("annual_revenue", "decimal18"),
        _s("region", 100),
        FieldSpec("owner", REF_USER),
        FieldSpec("attributes", "json"),
    ),
    "contacts": (
        _s("external_id", 100, help="the CRM's record id (CRM mappings only: stored as an external ref)"),
        _s("name", 200, required=True),
        FieldSpec("account", REF_ACCOUNT),
        FieldSpec("email", "email"),
        FieldSpec("phone", "phone"),
        _s("title", 200),
        FieldSpec("owner", REF_USER),
    ),
    "leads": (
        _s("external_id", 100),
        _s("name", 200, required=True),
        FieldSpec("email", "email"),
        FieldSpec("phone", "phone"),
        _s("company", 300),
        _s("title", 200),
        _s("source", 100),
        _s("industry", 100),
        _s("region", 100),
        FieldSpec("status", "choice", choices=tuple(s.value for s in LeadStatus)),
        FieldSpec("outcome", "choice", choices=OUTCOMES),
        FieldSpec("owner", REF_USER),
        FieldSpec("account", REF_ACCOUNT),
        FieldSpec("created_at", "datetime"),
        FieldSpec("attributes", "json"),
    ),
    "deals": (
        _s("external_id", 100),
        _s("name", 300, required=True),
        FieldSpec("account", REF_ACCOUNT),
        FieldSpec("owner", REF_USER, help="required unless the importing user is not an admin (then it is them)"),
        _s("product", 200),
        FieldSpec("amount", "decimal14"),
        FieldSpec("currency", "currency"),
        FieldSpec("stage", "stage", required=True),
        FieldSpec("expected_close_date", "date"),
        FieldSpec("probability", "probability"),
        _s("loss_reason", 500),
        FieldSpec("created_at", "datetime"),
    ),
    "stage_changes": (
        FieldSpec("deal", REF_DEAL, required=True),
        FieldSpec("from_stage", "stage"),
        FieldSpec("to_stage", "stage", required=True),
        FieldSpec("changed_at", "datetime", required=True),
        FieldSpec("changed_by", REF_USER),
    ),
    "interactions": (
        _s("external_id", 100, help="the CRM's record id (CRM mappings only: stored as an external ref)"),
        FieldSpec("deal", REF_DEAL),
        FieldSpec("lead", REF_LEAD),
        FieldSpec("contact", REF_CONTACT),
        FieldSpec("account", REF_ACCOUNT),
        FieldSpec("user", REF_USER),
        FieldSpec("channel", "choice", required=True, choices=tuple(c.value for c in Channel)),
        FieldSpec("direction", "choice", choices=tuple(d.value for d in Direction)),
        _s("subject", 500),
        FieldSpec("body", "text"),
        FieldSpec("occurred_at", "datetime", required=True),
        FieldSpec("sentiment", "sentiment"),
    ),
}

ENTITIES: tuple[str, ...] = tuple(ENTITY_FIELDS)


def field_names(entity: str) -> list[str]:
    return [f.name for f in ENTITY_FIELDS[entity]]


_NUMBER_JUNK = re.compile(r"[\s$€£¥,_]")


def _decimal(value: str) -> Decimal:
    cleaned = _NUMBER_JUNK.sub("", value)
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _money(value: str, digits: int) -> Decimal:
    number = _decimal(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r} has more than 2 decimal places")
    if number >= Decimal(10) ** (digits - 2):
        raise ValueError(f"{value!r} is too large (at most {digits - 2} digits before the decimal point)")
    return number.quantize(Decimal("0.01"))


def _int(value: str) -> int:
    number = _decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    result = int(number)
    if not -(2**31) <= result < 2**31:
        raise ValueError(f"{value!r} is out of range")
    return result


def _float_in(low: float, high: float, what: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(_decimal(value))
        if not low <= number <= high:
            raise ValueError(f"{value!r} is not a {what} between {low:g} and {high:g}")
        return number

    return parse


def _formats(date_format: str | Sequence[str] | None) -> tuple[str, ...]:
    if not date_format:
        return ()
    return (date_format,) if isinstance(date_format, str) else tuple(date_format)


def parse_date(value: str, date_format: str | Sequence[str] | None) -> date:
    formats = _formats(date_format)
    if formats:
        for fmt in formats:
            try:
                return datetime.strptime(value, fmt).date()
            except ValueError:
                continue
        shown = " or ".join(repr(f) for f in formats)
        raise ValueError(f"{value!r} does not match the date format {shown}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date in ISO form (YYYY-MM-DD); set `date_format` in the mapping for other forms"
        ) from None


def parse_datetime(value: str, date_format: str | Sequence[str] | None) -> datetime:
    """ISO date-times (naive ones are taken as UTC); a bare date means midnight UTC of that day.

    With formats (a mapping's ``date_format``), each is tried in turn and keeps the time it reads.
    """
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
    for fmt in _formats(date_format) if parsed is None else ():
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        day = parse_date(value, date_format)
        parsed = datetime(day.year, day.month, day.day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def _bool(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no (true/false, 1/0)")


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise ValueError("must be a JSON object ({...})")
    return parsed


def parse_value(spec: FieldSpec, value: str, ctx: ParseContext) -> Any:
    """Check and convert one non-empty cell for ``spec``; references are returned as the stripped text."""
    kind = spec.kind
    if kind in ("str", "text") or kind in REF_KINDS:
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueError(f"is {len(value)} characters long, at most {spec.max_length} fit")
        return value
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value, ctx.phone_region)
    if kind == "choice":
        low = value.lower()
        if low not in spec.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(spec.choices)}")
        return low
    if kind == "stage":
        stage = ctx.machine.canonical(value)
        if stage is None:
            raise ValueError(
                f"{value!r} is not a stage; stages are {', '.join(ctx.machine.stages)} "
                f"(map other names with `values:` in the mapping)"
            )
        return stage
    if kind == "int":
        return _int(value)
    if kind == "decimal14":
        return _money(value, 14)
    if kind == "decimal18":
        return _money(value, 18)
    if kind == "probability":
        return _float_in(0.0, 1.0, "probability")(value)
    if kind == "sentiment":
        return _float_in(-1.0, 1.0, "sentiment score")(value)
    if kind == "date":
        return parse_date(value, ctx.formats)
    if kind == "datetime":
        return parse_datetime(value, ctx.formats)
    if kind == "bool":
        return _bool(value)
    if kind == "currency":
        return normalize_currency(value)
    if kind == "json":
        return _json_object(value)
    raise AssertionError(f"unknown field kind {kind}")


_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT_TEXT = re.compile(r"-?[0-9]+\.[0-9]+")


@lru_cache(maxsize=65536)  # attribute cells repeat a lot (categories, codes); parsing each once is 5x faster
def attribute_value(text: str) -> Any:
    """A CSV cell as stored in ``attributes``: numbers that print back identically become numbers."""
    if _INT_TEXT.fullmatch(text):
        return int(text)
    if _FLOAT_TEXT.fullmatch(text):
        number = float(text)
        if repr(number) == text or f"{number}" == text:
            return number
    return text
