"""How a CSV file's columns become an entity's fields: the mapping file format, ``--map`` options and templates.

A mapping is data, checked against the entity's fields and the file's header before any row is read, so a typo in
a mapping is one clear error rather than thousands of row errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROW_COLUMN = "__row__"
"""Pseudo column: the data row's position in the file (1 for the first row under the header)."""


class MappingError(ValueError):
    """The mapping does not fit the entity or the file; nothing was read or written."""


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return "-".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _dotted(text: str) -> str:
    return _slug(text).replace("-", ".")


def _word(index: int) -> Callable[[str], str]:
    def pick(text: str) -> str:
        words = text.split()
        return words[index] if words else ""

    return pick


TEMPLATE_FILTERS: dict[str, Callable[[str], str]] = {
    "slug": _slug,
    "dotted": _dotted,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "strip": str.strip,
    "first": _word(0),
    "last": _word(-1),
}

_PLACEHOLDER = re.compile(r"\{([^{}|]+)((?:\|[A-Za-z_]+)*)\}")


@dataclass(frozen=True)
class Template:
    """A string such as ``"{name|slug}@example.com"``: placeholders name columns or fields, filters follow ``|``."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, *, for_field: str) -> Template:
        names: list[str] = []
        for match in _PLACEHOLDER.finditer(text):
            names.append(match.group(1).strip())
            for flt in filter(None, match.group(2).split("|")):
                if flt not in TEMPLATE_FILTERS:
                    raise MappingError(
                        f"template for {for_field!r} uses the unknown filter {flt!r}; "
                        f"available: {', '.join(sorted(TEMPLATE_FILTERS))}"
                    )
        stripped = _PLACEHOLDER.sub("", text)
        if "{" in stripped or "}" in stripped:
            raise MappingError(f"template for {for_field!r} has an unbalanced brace: {text!r}")
        return cls(text=text, names=tuple(names))

    def render(self, values: Mapping[str, str]) -> str:
        def substitute(match: re.Match[str]) -> str:
            value = values.get(match.group(1).strip(), "")
            for flt in filter(None, match.group(2).split("|")):
                value = TEMPLATE_FILTERS[flt](value)
            return value

        return _PLACEHOLDER.sub(substitute, self.text).strip()


@dataclass
class ImportMapping:
    """Everything that says how to read one file. Built from YAML, ``--map`` options, or both."""

    entity: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Further columns per field, read in turn while the value is still empty (``stage: [Deal - Status, ...]``)."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    scale: dict[str, str] = field(default_factory=dict)
    attributes_include: tuple[str, ...] | None = None  # None: no attributes; ("*",): every unmapped column
    attributes_exclude: tuple[str, ...] = ()
    stage_dates: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    encoding: str = "utf-8-sig"
    date_format: str | None = None
    date_formats: tuple[str, ...] = ()  # more strptime formats tried in turn (exports mix dates and date-times)
    phone_region: str | None = None
    source: str | None = None  # where it came from, for the report
    system: str | None = None  # the CRM the file was exported from: rows are upserted by its record ids
    object: str | None = None  # that CRM's name for the rows (deals, opportunities, persons ...)
    detect: tuple[str, ...] = ()  # columns whose presence says a file is this export (automatic mapping)

    def with_overrides(self, overrides: Mapping[str, str]) -> ImportMapping:
        """A copy whose ``columns`` are updated by ``--map field=column`` options (they win over the file)."""
        merged = dict(self.columns)
        merged.update(overrides)
        return ImportMapping(**{**self.__dict__, "columns": merged})


def parse_map_options(options: Iterable[str]) -> dict[str, str]:
    """Turn ``["amount=close_value", "owner=sales_agent"]`` into a dict, with a clear error for a bad one."""
    result: dict[str, str] = {}
    for option in options:
        name, sep, column = option.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise MappingError(f"--map {option!r} should look like field=column, e.g. --map amount=close_value")
        result[name.strip()] = column.strip()
    return result


_KNOWN_KEYS = {
    "entity",
    "columns",
    "values",
    "defaults",
    "templates",
    "scale",
    "attributes",
    "stage_dates",
    "delimiter",
    "encoding",
    "date_format",
    "phone_region",
    "description",
    "system",
    "object",
    "detect",
}


def _str_dict(raw: Any, key: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: `{key}` must be a mapping of name: value, got {type(raw).__name__}")
    booleans = [k for k in raw if isinstance(k, bool)]
    if booleans:
        # YAML reads unquoted yes/no/true/false keys as booleans, which would never match a cell
        raise MappingError(f'{where}: quote yes/no/true/false keys in `{key}` (write "yes": ... not yes: ...)')
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def mapping_from_dict(raw: Mapping[str, Any], *, source: str = "mapping") -> ImportMapping:
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise MappingError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    values_raw = raw.get("values") or {}
    if not isinstance(values_raw, dict):
        raise MappingError(f"{source}: `values` must map a field to {{file value: stored value}}")
    values = {str(f): _str_dict(m, f"values.{f}", source) for f, m in values_raw.items()}
    templates = {
        name: Template.parse(text, for_field=name)
        for name, text in _str_dict(raw.get("templates"), "templates", source).items()
    }
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    attrs = raw.get("attributes")
    if attrs is not None:
        if isinstance(attrs, str | list):
            attrs = {"include": attrs}
        if not isinstance(attrs, dict):
            raise MappingError(f"{source}: `attributes` must be '*', a list of columns, or {{include, exclude}}")
        inc = attrs.get("include", "*")
        include = ("*",) if inc == "*" else tuple(str(c) for c in (inc or []))
        exclude = tuple(str(c) for c in (attrs.get("exclude") or []))
    formats = raw.get("date_format")
    if isinstance(formats, list):
        formats = [str(f) for f in formats]
    elif formats:
        formats = [str(formats)]
    else:
        formats = []
    detect = raw.get("detect") or []
    if not isinstance(detect, list):
        raise MappingError(f"{source}: `detect` must be a list of column names")
    system = str(raw["system"]).lower() if raw.get("system") else None
    if system is not None and not raw.get("columns", {}).get("external_id"):
        raise MappingError(f"{source}: a mapping with `system` must map `external_id` (the record id column)")
    delimiter = raw.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise MappingError(f"{source}: `delimiter` must be one character, e.g. ';' or ','")
    columns_raw = raw.get("columns") or {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    if isinstance(columns_raw, dict):
        columns_raw = dict(columns_raw)
        for name, column in list(columns_raw.items()):
            if isinstance(column, list):
                if not column:
                    raise MappingError(f"{source}: `columns.{name}` is an empty list")
                columns_raw[name] = column[0]
                fallbacks[str(name)] = tuple(str(c) for c in column[1:])
    return ImportMapping(
        entity=str(raw["entity"]) if raw.get("entity") else None,
        columns=_str_dict(columns_raw, "columns", source),
        fallbacks=fallbacks,
        values=values,
        defaults=_str_dict(raw.get("defaults"), "defaults", source),
        templates=templates,
        scale=_str_dict(raw.get("scale"), "scale", source),
        attributes_include=include,
        attributes_exclude=exclude,
        stage_dates=_str_dict(raw.get("stage_dates"), "stage_dates", source),
        delimiter=delimiter,
        encoding=str(raw.get("encoding") or "utf-8-sig"),
        date_format=formats[0] if formats else None,
        date_formats=tuple(formats[1:]),
        phone_region=str(raw["phone_region"]) if raw.get("phone_region") else None,
        source=source,
        system=system,
        object=(str(raw.get("object") or raw.get("entity") or "") or None) if system else None,
        detect=tuple(str(c) for c in detect),
    )


def load_mapping(path: Path) -> ImportMapping:
    """Read a mapping YAML file (format documented in the README, section "Importing CSV files")."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path} must contain a YAML mapping (key: value lines)")
    return mapping_from_dict(raw, source=str(path))


def detect_mapping(header: Iterable[str], mappings_dir: Path) -> ImportMapping | None:
    """The ready mapping (``mappings/<source>/<entity>.yaml`` with a ``detect:`` list) that fits a file's header.

    A mapping fits when every column it names under ``detect`` is in the header; when several fit, the one naming
    the most columns wins (a Salesforce opportunities export also has an "Account Name" column).
    """
    columns = {h.strip() for h in header}
    best: tuple[int, ImportMapping] | None = None
    for path in sorted(mappings_dir.glob("*/*.yaml")):
        if path.name == "stages.yaml":
            continue
        mapping = load_mapping(path)
        if mapping.detect and set(mapping.detect) <= columns and (best is None or len(mapping.detect) > best[0]):
            best = (len(mapping.detect), mapping)
    return best[1] if best else None
