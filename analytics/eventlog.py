"""Event logs for process mining: built from the store, read from XES/CSV files, validated, saved by name.

Everything downstream works on one shape, ``EventLog``: an events frame (case_id, activity, timestamp, resource)
and a cases frame of case attributes (size band, industry, region, tenure band, owner, outcome), so the store,
external logs and synthetic logs all go through the same analysis code.
"""

from __future__ import annotations

import gzip
import json
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sales.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd
    from sqlmodel import Session

    from sales.permissions import Actor
    from sales.stages import StageMachine

CASE = "case_id"
ACTIVITY = "activity"
TIMESTAMP = "timestamp"
RESOURCE = "resource"
LIFECYCLE = "lifecycle"  # XES lifecycle:transition, lower case: schedule, start, complete (others kept as read)
EVENT_COLUMNS = (CASE, ACTIVITY, TIMESTAMP, RESOURCE)
LIFECYCLE_COLUMNS = (*EVENT_COLUMNS, LIFECYCLE)
# Case attributes the bottleneck analysis segments by; absent ones are simply not offered.
SEGMENT_COLUMNS = ("size_band", "industry", "region", "tenure_band", "owner")

# Activities the store builder emits besides stage entries.
CALL = "Call"
MEETING = "Meeting"
EMAIL_SENT = "Email sent"
TASK_DONE = "Task done"

_LOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class EventLogError(InvalidInput):
    """An event log that cannot be analysed: missing or unknown columns, missing timestamps, no events."""


@dataclass
class EventLog:
    """Events (one row each) plus one row of attributes per case, and where they came from."""

    events: pd.DataFrame
    cases: pd.DataFrame  # index: case_id
    source: str
    stages: tuple[str, ...] = ()  # playbook order of the stage activities, open stages first
    won_stage: str | None = None
    lost_stage: str | None = None
    stall_limit_days: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    case_noun: str = "deals"  # what a case is, plural, in every sentence and label: deals, leads, cases
    # Every lifecycle event (schedule/start/complete) when the source had more than 'complete'; ``events`` keeps
    # one event per activity instance (its completion) so the process map and replay count each step once.
    lifecycle: pd.DataFrame | None = None
    # Activities that end a case (besides won/lost): a case with none of them is still open.
    end_activities: tuple[str, ...] = ()

    @property
    def n_cases(self) -> int:
        return int(self.events[CASE].nunique())

    @property
    def n_events(self) -> int:
        return len(self.events)

    @property
    def outcome_stages(self) -> tuple[str, ...]:
        return tuple(s for s in (self.won_stage, self.lost_stage) if s)


# ---------------------------------------------------------------------------------------------------------------
# Validation


def _parse_timestamps(values: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            try:
                parsed = pd.to_datetime(values, utc=True, format="mixed")
            except (ValueError, TypeError) as exc:
                raise EventLogError({column: f"cannot read timestamps ({exc})"}) from exc
    parsed = parsed.dt.tz_localize("UTC") if getattr(parsed.dt, "tz", None) is None else parsed.dt.tz_convert("UTC")
    result: pd.Series = parsed
    return result


def validate_events(frame: pd.DataFrame, *, source: str = "event log") -> pd.DataFrame:
    """Check and normalise an events frame: required columns, no missing case/activity/timestamp, UTC times.

    Raises ``EventLogError`` naming every missing column and how many rows lack a value (with examples), and
    returns a new frame sorted by case and time with ``resource`` filled in (``None`` when unknown).
    """

    missing_columns = [c for c in (CASE, ACTIVITY, TIMESTAMP) if c not in frame.columns]
    if missing_columns:
        raise EventLogError(
            {
                c: f"column is missing from {source} (columns present: {', '.join(map(str, frame.columns)) or 'none'})"
                for c in missing_columns
            }
        )
    if frame.empty:
        raise EventLogError({"events": f"{source} has no events"})
    problems: dict[str, str] = {}
    out = frame.copy()
    if RESOURCE not in out.columns:
        out[RESOURCE] = None
    for column in (CASE, ACTIVITY):
        empty = out[column].isna() | (out[column].astype(str).str.strip() == "")
        if empty.any():
            rows = ", ".join(str(i) for i in out.index[empty][:5])
            problems[column] = f"{int(empty.sum())} events have no {column} (rows {rows})"
    raw_ts = out[TIMESTAMP]
    blank = raw_ts.isna() | (raw_ts.astype(str).str.strip().isin(["", "NaT", "nan", "None"]))
    if blank.any():
        rows = ", ".join(str(i) for i in out.index[blank][:5])
        problems[TIMESTAMP] = f"{int(blank.sum())} events have no timestamp (rows {rows})"
    if problems:
        raise EventLogError(problems)
    out[TIMESTAMP] = _parse_timestamps(raw_ts, TIMESTAMP)
    unparsed = out[TIMESTAMP].isna()
    if unparsed.any():
        rows = ", ".join(str(i) for i in out.index[unparsed][:5])
        raise EventLogError({TIMESTAMP: f"{int(unparsed.sum())} timestamps could not be read (rows {rows})"})
    out[CASE] = out[CASE].astype(str)
    out[ACTIVITY] = out[ACTIVITY].astype(str).astype("category")
    out[RESOURCE] = out[RESOURCE].astype("string").astype("category")
    out = out.sort_values([CASE, TIMESTAMP], kind="stable").reset_index(drop=True)
    return out


def _cases_from_events(events: pd.DataFrame, extra_columns: Iterable[str] = ()) -> pd.DataFrame:
    """One row per case: attributes found as constant columns on its events, plus owner = its busiest resource."""
    import pandas as pd

    firsts = events.groupby(CASE, sort=False, observed=True).first()
    cases = pd.DataFrame(index=firsts.index)
    for column in extra_columns:
        if column in firsts.columns:
            cases[column] = firsts[column]
    with_resource = events.dropna(subset=[RESOURCE])
    if not with_resource.empty:
        counts = with_resource.groupby([CASE, RESOURCE], observed=True).size().reset_index(name="n")
        counts = counts.sort_values([CASE, "n"], ascending=[True, False]).drop_duplicates(CASE)
        cases["owner"] = counts.set_index(CASE)[RESOURCE].astype(str).reindex(cases.index)
    cases.index.name = CASE
    return cases


def _add_size_band(cases: pd.DataFrame, amount_column: str) -> None:
    import pandas as pd

    from sales.segments import deal_size_band

    amounts = pd.to_numeric(cases[amount_column], errors="coerce")
    cases["amount"] = amounts
    cases["size_band"] = [deal_size_band(None if pd.isna(a) else float(a)) for a in amounts]


def event_log_from_frame(
    frame: pd.DataFrame,
    *,
    case: str = CASE,
    activity: str = ACTIVITY,
    timestamp: str = TIMESTAMP,
    resource: str | None = None,
    case_attributes: Iterable[str] = (),
    amount: str | None = None,
    source: str = "event log",
    lifecycle: str | None = "complete",
) -> EventLog:
    """Map a frame's columns onto the event log and validate it.

    Every named column must exist: an unknown column raises ``EventLogError`` listing the ones available. Case
    attributes are taken from each case's first event. When the frame has a ``lifecycle`` column with several
    transitions, ``events`` keeps the ``lifecycle`` (complete) events, one per activity instance, for the process
    map and replay, and ``EventLog.lifecycle`` keeps every transition (schedule/start/complete) for queue and
    working time.
    """
    mapping = {case: CASE, activity: ACTIVITY, timestamp: TIMESTAMP}
    if resource:
        mapping[resource] = RESOURCE
    wanted = [*mapping, *case_attributes, *([amount] if amount else [])]
    unknown = [c for c in wanted if c not in frame.columns]
    if unknown:
        available = ", ".join(map(str, frame.columns))
        raise EventLogError(dict.fromkeys(unknown, f"no such column in {source} (available: {available})"))
    notes: list[str] = []
    work = frame
    lifecycle_frame: pd.DataFrame | None = None
    keep = list(dict.fromkeys([*mapping, *case_attributes, *([amount] if amount else [])]))
    if lifecycle and "lifecycle" in frame.columns:
        transitions = frame["lifecycle"].astype(str).str.strip().str.lower()
        if transitions.nunique() > 1 and (transitions == lifecycle).any():
            others = transitions[transitions != lifecycle].value_counts()
            work = frame[transitions == lifecycle]
            every = frame[[*mapping]].rename(columns=mapping).assign(**{LIFECYCLE: transitions.to_numpy()})
            lifecycle_frame = validate_events(every, source=source)
            lifecycle_frame[LIFECYCLE] = lifecycle_frame[LIFECYCLE].astype("category")
            counted = ", ".join(f"{n:,} {name}" for name, n in others.items())
            notes.append(
                f"the process map counts '{lifecycle}' events; the other lifecycle events ({counted}) are kept "
                "for queue and working time"
            )
    renamed = work[keep].rename(columns=mapping)
    events = validate_events(renamed, source=source)
    attrs = [mapping.get(c, c) for c in case_attributes]
    cases = _cases_from_events(events, [*attrs, *([amount] if amount else [])])
    if amount:
        _add_size_band(cases, amount)
    events = events[list(EVENT_COLUMNS)]
    if lifecycle_frame is not None:
        lifecycle_frame = lifecycle_frame[list(LIFECYCLE_COLUMNS)]
    return EventLog(events=events, cases=cases, source=source, notes=notes, lifecycle=lifecycle_frame)


# ---------------------------------------------------------------------------------------------------------------
# Files: XES (plain or gzipped) and CSV


def _local(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def read_xes_frame(path: Path, *, max_traces: int | None = None) -> pd.DataFrame:
    """Read an XES file into a flat frame with one row per event and trace attributes as ``case:<key>`` columns.

    A streaming lxml reader that keeps only flat attributes: faster than building pm4py's object model, and memory
    stays proportional to the frame. ``max_traces`` stops after that many traces (a preview of a large file).
    """
    import pandas as pd
    from lxml import etree

    opener: Any = gzip.open if path.suffix == ".gz" else open
    columns: dict[str, list[Any]] = {}
    trace_of_event: list[int] = []
    trace_attrs: list[dict[str, Any]] = []
    n_events = 0
    with opener(path, "rb") as handle:
        # Only trace and event elements reach Python (with or without the XES namespace): attribute elements are
        # read from their parent, which keeps the per-element callback count low.
        tags = ("event", "trace", f"{{{XES_NAMESPACE}}}event", f"{{{XES_NAMESPACE}}}trace")
        context = etree.iterparse(handle, events=("end",), tag=tags, huge_tree=True, remove_blank_text=True)
        for _, elem in context:
            tag = _local(elem.tag)
            if tag == "event":
                for child in elem:
                    key = child.get("key")
                    if key is None:
                        continue
                    values = columns.get(key)
                    if values is None:
                        values = columns[key] = [None] * n_events
                    if len(values) == n_events:  # a repeated key keeps its first value
                        values.append(child.get("value"))
                n_events += 1
                trace_of_event.append(len(trace_attrs))
                for values in columns.values():
                    if len(values) < n_events:
                        values.append(None)
                elem.clear(keep_tail=False)
            elif tag == "trace":
                attrs: dict[str, Any] = {}
                for child in elem:
                    key = child.get("key")
                    if _local(child.tag) != "event" and key is not None:
                        attrs[f"case:{key}"] = child.get("value")
                trace_attrs.append(attrs)
                elem.clear(keep_tail=False)
                if max_traces is not None and len(trace_attrs) >= max_traces:
                    break
                # drop finished traces so memory does not grow with the file
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
        del context
    if n_events == 0:
        raise EventLogError({"events": f"{path.name} contains no events"})
    frame = pd.DataFrame(columns)
    traces = pd.DataFrame(trace_attrs)
    if not traces.empty:
        positions = pd.Series(trace_of_event)
        for column in traces.columns:
            frame[column] = traces[column].to_numpy()[positions.to_numpy()]
    if "case:concept:name" not in frame.columns:
        frame["case:concept:name"] = [str(t) for t in trace_of_event]
    return frame


XES_NAMESPACE = "http://www.xes-standard.org/"


def read_xes_log_attributes(path: Path, *, limit: int = 4_000_000) -> dict[str, str]:
    """The log-level attributes of an XES file (its name, description, origin...): the children of ``<log>``
    before the first trace, read from at most ``limit`` bytes of the (decompressed) file."""
    from lxml import etree

    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(limit)
    cut = head.find(b"<trace")
    if cut < 0:
        cut = len(head)
    parser = etree.XMLParser(recover=True, huge_tree=True)
    root = etree.fromstring(head[:cut] + b"</log>", parser)
    if root is None:
        return {}
    found: dict[str, str] = {}
    for child in root:
        key, value = child.get("key"), child.get("value")
        if key is not None and value is not None and _local(child.tag) in ("string", "id"):
            found.setdefault(key, value)
    return found


_PROCESS_PHRASE = re.compile(r"\b(?:of|for)\s+(?:an?\s+|the\s+)?([a-z][a-z -]{1,40}?)\s+process\b", re.IGNORECASE)
_NOUN_KEYS = ("case_noun", "meta_3TU:description", "description", "concept:name")


def _plural(phrase: str) -> str:
    words = phrase.split()
    last = words[-1]
    if re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    elif re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*words[:-1], last])


def infer_case_noun(attributes: Mapping[str, str]) -> str | None:
    """What a case of the log is, plural, from its own metadata: an explicit ``case_noun`` attribute, else the
    phrase before "process" in its description or name ("Event log of a loan application process" → "loan
    applications"); None when the log says nothing about it."""
    explicit = attributes.get("case_noun", "").strip()
    if explicit:
        return explicit
    for key in _NOUN_KEYS[1:]:
        match = _PROCESS_PHRASE.search(attributes.get(key, ""))
        if match:
            return _plural(match.group(1).strip().lower())
    return None


def singular_noun(plural: str) -> str:
    """One of ``plural``: loan applications → loan application, deals → deal, tickets → ticket."""
    words = plural.split()
    if not words:
        return plural
    last = words[-1]
    if last.endswith("ies") and len(last) > 3:
        last = last[:-3] + "y"
    elif re.search(r"(ches|shes|xes|sses|zes)$", last):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def check_case_noun(noun: str) -> str:
    cleaned = " ".join(noun.split())
    if not re.fullmatch(r"[A-Za-z][A-Za-z -]{0,39}", cleaned):
        raise EventLogError({"case_noun": f"{noun!r} is not a plural noun such as 'tickets' or 'loan applications'"})
    return cleaned


XES_DEFAULTS = {
    "case": "case:concept:name",
    "activity": "concept:name",
    "timestamp": "time:timestamp",
    "resource": "org:resource",
}


def read_event_log_file(
    path: Path,
    *,
    case: str | None = None,
    activity: str | None = None,
    timestamp: str | None = None,
    resource: str | None = None,
    case_attributes: Iterable[str] | None = None,
    amount: str | None = None,
    max_traces: int | None = None,
    case_noun: str | None = None,
    end_activities: Iterable[str] = (),
) -> EventLog:
    """Load an XES (``.xes``, ``.xes.gz``) or CSV file into a validated ``EventLog``.

    XES files default to the standard keys (``case:concept:name``, ``concept:name``, ``time:timestamp``,
    ``org:resource``); CSV files default to ``case_id, activity, timestamp, resource``. Trace attributes of an XES
    file become case attributes; a numeric ``AMOUNT``/``AMOUNT_REQ``/``amount`` attribute gives the size band.
    A ``lifecycle:transition`` key (XES) or ``lifecycle`` column (CSV) keeps start/schedule events beside the
    completions. The case noun is ``case_noun`` when given, else read from the XES log's own description
    (``infer_case_noun``), else "cases". ``end_activities`` name the activities that close a case.
    """
    import pandas as pd

    if not path.is_file():
        raise NotFound(f"no event log file at {path}")
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        frame = read_xes_frame(path, max_traces=max_traces)
        defaults = dict(XES_DEFAULTS)
        noun_from_file = infer_case_noun(read_xes_log_attributes(path))
    elif name.endswith((".csv", ".csv.gz")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=True)
        # Problems are reported by row number as a spreadsheet shows it: the header is row 1.
        frame.index = pd.RangeIndex(2, len(frame) + 2)
        defaults = {"case": CASE, "activity": ACTIVITY, "timestamp": TIMESTAMP, "resource": RESOURCE}
        noun_from_file = None
    else:
        raise EventLogError({"file": f"{path.name}: expected a .xes, .xes.gz or .csv file"})
    if "lifecycle:transition" in frame.columns and LIFECYCLE not in frame.columns:
        frame = frame.rename(columns={"lifecycle:transition": LIFECYCLE})
    chosen_resource = resource or (defaults["resource"] if defaults["resource"] in frame.columns else None)
    if case_attributes is None:
        case_attributes = [c for c in frame.columns if c.startswith("case:") and c != (case or defaults["case"])]
        case_attributes += [c for c in SEGMENT_COLUMNS if c in frame.columns and c != chosen_resource]
    if amount is None:
        amount = next(
            (c for c in ("case:AMOUNT_REQ", "case:AMOUNT", "case:amount", "amount") if c in frame.columns), None
        )
    log = event_log_from_frame(
        frame,
        case=case or defaults["case"],
        activity=activity or defaults["activity"],
        timestamp=timestamp or defaults["timestamp"],
        resource=chosen_resource,
        case_attributes=list(case_attributes),
        amount=amount,
        source=path.name,
    )
    log.case_noun = check_case_noun(case_noun) if case_noun else (noun_from_file or "cases")
    if case_noun is None and noun_from_file:
        log.notes.append(f"cases are called {noun_from_file} after the log's own description (--case-noun to change)")
    log.end_activities = check_end_activities(log, end_activities)
    # "case:industry" etc. become plain segment columns
    log.cases = log.cases.rename(columns={f"case:{c}": c for c in SEGMENT_COLUMNS if f"case:{c}" in log.cases})
    return log


def check_end_activities(log: EventLog, names: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not chosen:
        return ()
    present = set(log.events[ACTIVITY].astype(str).unique())
    unknown = [n for n in chosen if n not in present]
    if unknown:
        sample = ", ".join(sorted(present)[:12])
        raise EventLogError({"end": f"not activities of {log.source}: {', '.join(unknown)} (it has e.g. {sample})"})
    return chosen


# ---------------------------------------------------------------------------------------------------------------
# Imported logs saved by name under $SALESGRAPH_HOME/eventlogs/


def eventlog_dir(home: Path) -> Path:
    return home / "eventlogs"


def check_log_name(name: str) -> str:
    if not _LOG_NAME.match(name):
        raise EventLogError(
            {"name": f"{name!r} is not a valid log name (letters, digits, '.', '_', '-'; at most 80 characters)"}
        )
    return name


def save_event_log(log: EventLog, name: str, home: Path) -> Path:
    """Store a validated log as a pickle of its frames plus a JSON summary; returns the pickle's path."""
    check_log_name(name)
    folder = eventlog_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.pkl"
    payload = {
        "events": log.events,
        "cases": log.cases,
        "source": log.source,
        "notes": log.notes,
        "lifecycle": log.lifecycle,
        "case_noun": log.case_noun,
        "end_activities": list(log.end_activities),
    }
    tmp = target.with_suffix(".pkl.tmp")
    with tmp.open("wb") as handle:
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(target)
    summary = {
        "name": name,
        "source": log.source,
        "cases": log.n_cases,
        "events": log.n_events,
        "activities": int(log.events[ACTIVITY].nunique()),
        "first_event": log.events[TIMESTAMP].min().isoformat(),
        "last_event": log.events[TIMESTAMP].max().isoformat(),
        "case_attributes": list(map(str, log.cases.columns)),
        "case_noun": log.case_noun,
        "lifecycle_events": 0 if log.lifecycle is None else len(log.lifecycle),
        "end_activities": list(log.end_activities),
        "notes": log.notes,
    }
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=2))
    return target


def load_saved_event_log(name: str, home: Path) -> EventLog:
    check_log_name(name)
    path = eventlog_dir(home) / f"{name}.pkl"
    if not path.is_file():
        available = sorted(p.stem for p in eventlog_dir(home).glob("*.pkl")) if eventlog_dir(home).is_dir() else []
        raise NotFound(
            f"no imported event log named {name!r}"
            + (
                f" (imported: {', '.join(available)})"
                if available
                else "; import one with `salesgraph import eventlog FILE`"
            )
        )
    # Only files salesgraph itself wrote to the workspace are unpickled here.
    with path.open("rb") as handle:
        payload = pickle.load(handle)  # noqa: S301
    return EventLog(
        events=payload["events"],
        cases=payload["cases"],
        source=payload["source"],
        notes=payload["notes"],
        # logs saved before lifecycle events and case nouns were kept read as complete-only "cases"
        lifecycle=payload.get("lifecycle"),
        case_noun=payload.get("case_noun", "cases"),
        end_activities=tuple(payload.get("end_activities", ())),
    )


def list_saved_event_logs(home: Path) -> list[dict[str, Any]]:
    folder = eventlog_dir(home)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


# ---------------------------------------------------------------------------------------------------------------
# The store: deals as cases


def _at_or_after(value: datetime | date) -> datetime:
    from datetime import UTC, time

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def event_log_from_store(
    session: Session,
    actor: Actor,
    *,
    since: datetime | date | None = None,
    machine: StageMachine | None = None,
) -> EventLog:
    """The deals ``actor`` may see as an event log: stages entered, calls, meetings, emails sent and tasks done.

    Cases are deals created on or after ``since`` (all deals when ``None``), with attributes size band, industry,
    region, owner, the owner's tenure band when the deal was created, outcome (won/lost/open), amount and currency.
    """
    import pandas as pd
    from sqlmodel import col, select

    from sales.segments import deal_size_band, tenure_band
    from sales.stages import workspace_machine
    from store.models import Account, Deal, StageChange, User

    machine = machine or workspace_machine(session)
    query = select(Deal)
    owner_clause = actor.owner_filter(Deal.owner_id)
    if owner_clause is not None:
        query = query.where(owner_clause)
    if since is not None:
        query = query.where(col(Deal.created_at) >= _at_or_after(since))
    deals = list(session.exec(query.order_by(col(Deal.id))).all())
    scope = f"deals visible to {actor.email}" + (f" created since {since.isoformat()}" if since else "")
    if not deals:
        raise NotFound(f"no deals to analyse ({scope}); add deals or run `salesgraph demo`")
    deal_ids = [d.id for d in deals if d.id is not None]
    users = {u.id: u for u in session.exec(select(User)).all()}
    account_ids = {d.account_id for d in deals if d.account_id is not None}
    accounts = (
        {a.id: a for a in session.exec(select(Account).where(col(Account.id).in_(account_ids))).all()}
        if account_ids
        else {}
    )

    def email_of(user_id: int | None) -> str | None:
        user = users.get(user_id) if user_id is not None else None
        return user.email if user else None

    owner_of = {d.id: email_of(d.owner_id) for d in deals}
    rows: list[tuple[str, str, datetime, str | None]] = []
    entered: set[int] = set()
    # Chunks keep the IN lists within every back end's parameter limit.
    for start in range(0, len(deal_ids), 5000):
        chunk = deal_ids[start : start + 5000]
        for change in session.exec(select(StageChange).where(col(StageChange.deal_id).in_(chunk))).all():
            rows.append((str(change.deal_id), change.to_stage, change.changed_at, owner_of[change.deal_id]))
            entered.add(change.deal_id)
        rows += _activity_rows(session, "deal_id", chunk, email_of, fallback=owner_of)
    notes: list[str] = []
    missing_history = [d for d in deals if d.id not in entered]
    for deal in missing_history:
        # A deal without stage history still entered its current stage; use the time the store recorded.
        rows.append((str(deal.id), deal.stage, deal.stage_entered_at, owner_of[deal.id]))
    if missing_history:
        notes.append(f"{len(missing_history)} deals had no stage history; their current stage is used as entered")

    events = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    case_rows = []
    for deal in deals:
        owner = users.get(deal.owner_id)
        account = accounts.get(deal.account_id) if deal.account_id is not None else None
        if deal.stage == machine.won_stage:
            outcome = "won"
        elif deal.stage == machine.lost_stage:
            outcome = "lost"
        else:
            outcome = "open"
        case_rows.append(
            {
                CASE: str(deal.id),
                "name": deal.name,
                "owner": owner.email if owner else "unknown",
                "size_band": deal_size_band(deal.amount),
                "industry": (account.industry if account and account.industry else "unknown"),
                "region": (account.region if account and account.region else (owner.region if owner else None))
                or "unknown",
                "tenure_band": tenure_band(owner.started_at if owner else None, deal.created_at.date()),
                "outcome": outcome,
                "amount": float(deal.amount) if deal.amount is not None else None,
                "currency": deal.currency,
                "current_stage": deal.stage,
                "stage_entered_at": deal.stage_entered_at,
                "last_activity_at": None,
            }
        )
    cases = pd.DataFrame(case_rows).set_index(CASE)
    validated = validate_events(events, source="the store")
    last = validated.groupby(CASE, observed=True)[TIMESTAMP].max()
    cases["last_activity_at"] = last.reindex(cases.index)
    cases["stage_entered_at"] = pd.to_datetime(cases["stage_entered_at"], utc=True)
    return EventLog(
        events=validated[list(EVENT_COLUMNS)],
        cases=cases,
        source=scope,
        stages=machine.open_stages,
        won_stage=machine.won_stage,
        lost_stage=machine.lost_stage,
        stall_limit_days=dict(machine.stall_limit_days),
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------------------------
# Synthetic logs with known effects, for tests and benchmarks at any scale


def synthetic_event_log(
    n_cases: int,
    *,
    seed: int = 0,
    slow_transition: tuple[str, str] = ("Proposal", "Negotiation"),
    slow_segment: tuple[str, str] = ("size_band", "enterprise"),
    slow_factor: float = 3.0,
    low_rep: str = "rep3@example.com",
    low_rep_win_factor: float = 0.45,
    activities_per_stage: float = 1.5,
    machine: StageMachine | None = None,
) -> EventLog:
    """A sales event log with planted effects: ``slow_transition`` is ``slow_factor`` times slower (median) for
    ``slow_segment``, and ``low_rep`` wins ``low_rep_win_factor`` times as often as the others.

    Vectorised with numpy, so a million events take seconds. Each case moves forward through the open stages,
    may be lost after any of them, and has calls, emails and meetings (Poisson, ``activities_per_stage``) while
    it sits in a stage.
    """
    import numpy as np
    import pandas as pd

    from sales.stages import DEFAULT_MACHINE

    machine = machine or DEFAULT_MACHINE
    rng = np.random.default_rng(seed)
    stages = list(machine.open_stages)
    owners = np.array([f"rep{i}@example.com" for i in range(8)])
    industries = np.array(["software", "manufacturing", "retail", "finance", "health"])
    regions = np.array(["Americas", "EMEA"])
    tenure = dict(
        zip(owners, ["veteran (24+ months)"] * 3 + ["ramped (6-24 months)"] * 3 + ["new (<6 months)"] * 2, strict=True)
    )
    size = rng.choice(["small", "mid-market", "enterprise"], size=n_cases, p=[0.5, 0.35, 0.15])
    amount = np.where(
        size == "small",
        rng.uniform(2_000, 10_000, n_cases),
        np.where(size == "mid-market", rng.uniform(10_000, 50_000, n_cases), rng.uniform(50_000, 400_000, n_cases)),
    ).round(0)
    owner = rng.choice(owners, size=n_cases)
    cases = pd.DataFrame(
        {
            CASE: [f"D{i:07d}" for i in range(n_cases)],
            "owner": owner,
            "size_band": size,
            "industry": rng.choice(industries, size=n_cases),
            "region": rng.choice(regions, size=n_cases),
            "tenure_band": [tenure[o] for o in owner],
            "amount": amount,
        }
    ).set_index(CASE)
    segment_mask = cases[slow_segment[0]].to_numpy() == slow_segment[1]
    start = np.datetime64("2025-01-01T00:00:00", "s") + rng.integers(0, 365 * 86400, n_cases).astype("timedelta64[s]")
    alive = np.ones(n_cases, dtype=bool)
    clock = start.copy()
    ev_case: list[Any] = []
    ev_act: list[Any] = []
    ev_time: list[Any] = []
    ev_res: list[Any] = []
    case_index = np.arange(n_cases)
    outcome = np.array(["lost"] * n_cases, dtype=object)
    for i, stage in enumerate(stages):
        idx = case_index[alive]
        ev_case.append(idx)
        ev_act.append(np.full(len(idx), stage, dtype=object))
        ev_time.append(clock[idx])
        ev_res.append(owner[idx])
        # median 6 days per stage; the planted transition is slower for the planted segment
        wait_days = rng.lognormal(mean=np.log(6.0), sigma=0.6, size=len(idx))
        if i + 1 < len(stages) and (stage, stages[i + 1]) == slow_transition:
            wait_days = np.where(segment_mask[idx], wait_days * slow_factor, wait_days)
        wait = (wait_days * 86400).astype("int64").astype("timedelta64[s]")
        n_acts = rng.poisson(activities_per_stage, size=len(idx))
        rep = np.repeat(idx, n_acts)
        frac = rng.uniform(0.05, 0.95, size=len(rep))
        ev_case.append(rep)
        ev_act.append(
            rng.choice(np.array([CALL, EMAIL_SENT, MEETING], dtype=object), size=len(rep), p=[0.4, 0.45, 0.15])
        )
        ev_time.append(
            clock[rep] + (np.repeat(wait.astype("int64"), n_acts) * frac).astype("int64").astype("timedelta64[s]")
        )
        ev_res.append(owner[rep])
        clock[idx] = clock[idx] + wait
        # chance to move on; the last step is the win
        p_next = np.full(len(idx), 0.8)
        if i == len(stages) - 1:
            p_next = np.where(owner[idx] == low_rep, 0.6 * low_rep_win_factor, 0.6)
        moves = rng.uniform(size=len(idx)) < p_next
        lost_idx = idx[~moves]
        ev_case.append(lost_idx)
        ev_act.append(np.full(len(lost_idx), machine.lost_stage, dtype=object))
        ev_time.append(clock[lost_idx])
        ev_res.append(owner[lost_idx])
        alive[lost_idx] = False
    won_idx = case_index[alive]
    outcome[won_idx] = "won"
    ev_case.append(won_idx)
    ev_act.append(np.full(len(won_idx), machine.won_stage, dtype=object))
    ev_time.append(clock[won_idx])
    ev_res.append(owner[won_idx])
    case_ids = cases.index.to_numpy()
    events = pd.DataFrame(
        {
            CASE: case_ids[np.concatenate(ev_case)],
            ACTIVITY: pd.Categorical(np.concatenate(ev_act)),
            TIMESTAMP: pd.to_datetime(np.concatenate(ev_time)).tz_localize("UTC"),
            RESOURCE: pd.Categorical(np.concatenate(ev_res)),
        }
    )
    events = events.sort_values([CASE, TIMESTAMP], kind="stable").reset_index(drop=True)
    cases["outcome"] = outcome
    return EventLog(
        events=events,
        cases=cases,
        source=f"synthetic log ({n_cases:,} cases, seed {seed})",
        stages=machine.open_stages,
        won_stage=machine.won_stage,
        lost_stage=machine.lost_stage,
        stall_limit_days=dict(machine.stall_limit_days),
    )


# ---------------------------------------------------------------------------------------------------------------
# Importing a file into the workspace (a state change: audited)


@dataclass(frozen=True)
class ImportedEventLog:
    name: str
    path: Path
    cases: int
    events: int
    activities: int
    notes: list[str]
    receipt: int
    case_noun: str = "cases"
    lifecycle_events: int = 0


def import_event_log_file(
    session: Session,
    actor: Actor,
    path: Path,
    *,
    name: str | None = None,
    home: Path,
    case: str | None = None,
    activity: str | None = None,
    timestamp: str | None = None,
    resource: str | None = None,
    amount: str | None = None,
    case_noun: str | None = None,
    end_activities: Iterable[str] = (),
) -> ImportedEventLog:
    """Validate an XES/CSV file and keep it under ``home/eventlogs/<name>`` for later analysis.

    Nothing is written when the file is invalid. The import is recorded in the audit log (same transaction) and
    the receipt returned.
    """
    from sales.receipts import write_receipt

    chosen = check_log_name(name or _default_name(path))
    log = read_event_log_file(
        path,
        case=case,
        activity=activity,
        timestamp=timestamp,
        resource=resource,
        amount=amount,
        case_noun=case_noun,
        end_activities=end_activities,
    )
    n_activities = int(log.events[ACTIVITY].nunique())
    n_lifecycle = 0 if log.lifecycle is None else len(log.lifecycle)
    summary = {
        "file": path.name,
        "cases": log.n_cases,
        "events": log.n_events,
        "activities": n_activities,
        "case_noun": log.case_noun,
        "lifecycle_events": n_lifecycle,
    }
    receipt_id = write_receipt(
        session,
        actor,
        action="import_eventlog",
        record_type="eventlog",
        record_id=chosen,
        after=summary,
    )
    session.flush()
    stored = save_event_log(log, chosen, home)
    return ImportedEventLog(
        name=chosen,
        path=stored,
        cases=log.n_cases,
        events=log.n_events,
        activities=n_activities,
        notes=log.notes,
        receipt=receipt_id,
        case_noun=log.case_noun,
        lifecycle_events=n_lifecycle,
    )


def _default_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".xes", ".csv"):
        stem = stem.removesuffix(suffix)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "eventlog"
    return cleaned[:80]


LEAD_STAGES = ("New", "Qualified")
LEAD_WON = "Converted"
LEAD_LOST = "Disqualified"


def _activity_rows(
    session: Session,
    key: Literal["deal_id", "lead_id"],
    ids: list[int],
    email_of: Callable[[int | None], str | None],
    fallback: Mapping[int | None, str | None] | None = None,
) -> list[tuple[str, str, datetime, str | None]]:
    """Event rows for the calls, meetings, emails sent and tasks done on the records ``ids`` (deals or leads, by
    ``key``): (case, activity, time, who). Who is the interaction's user, else ``fallback`` for the record."""
    from sqlmodel import col, select

    from store.models import Channel, Direction, Interaction, Task, TaskStatus

    activities = {Channel.CALL: CALL, Channel.MEETING: MEETING, Channel.EMAIL: EMAIL_SENT}
    rows: list[tuple[str, str, datetime, str | None]] = []
    interactions = session.exec(
        select(Interaction).where(col(getattr(Interaction, key)).in_(ids), col(Interaction.channel).in_(activities))
    ).all()
    for item in interactions:
        if item.channel == Channel.EMAIL and item.direction != Direction.OUTBOUND:
            continue
        record = getattr(item, key)
        who = email_of(item.user_id) or (fallback or {}).get(record)
        rows.append((str(record), activities[Channel(item.channel)], item.occurred_at, who))
    tasks = session.exec(
        select(Task).where(
            col(getattr(Task, key)).in_(ids), Task.status == TaskStatus.DONE, col(Task.completed_at).is_not(None)
        )
    ).all()
    for task in tasks:
        assert task.completed_at is not None
        rows.append((str(getattr(task, key)), TASK_DONE, task.completed_at, email_of(task.owner_id)))
    return rows


def lead_event_log_from_store(session: Session, actor: Actor, *, since: datetime | date | None = None) -> EventLog:
    """The leads ``actor`` may see as an event log: New → Qualified → Converted (or Disqualified), with the calls,
    meetings, emails sent and tasks done on each lead in between.

    The store keeps a lead's creation, qualification and last update times but no full status history, so the
    stages are those three moments (conversion is the creation of the lead's deal when there is one). Case
    attributes: source, industry, region, owner, the owner's tenure band at the lead's creation, outcome.
    """
    import pandas as pd
    from sqlmodel import col, select

    from sales.segments import tenure_band
    from store.models import Deal, Lead, LeadStatus, User

    query = select(Lead)
    owner_clause = actor.owner_filter(Lead.owner_id)
    if owner_clause is not None:
        query = query.where(owner_clause)
    if since is not None:
        query = query.where(col(Lead.created_at) >= _at_or_after(since))
    leads = list(session.exec(query.order_by(col(Lead.id))).all())
    scope = f"leads visible to {actor.email}" + (f" created since {since.isoformat()}" if since else "")
    if not leads:
        raise NotFound(f"no leads to analyse ({scope})")
    users = {u.id: u for u in session.exec(select(User)).all()}

    def email_of(user_id: int | None) -> str | None:
        user = users.get(user_id) if user_id is not None else None
        return user.email if user else None

    lead_ids = [lead.id for lead in leads if lead.id is not None]
    rows: list[tuple[str, str, datetime, str | None]] = []
    converted_at: dict[int, datetime] = {}
    for start in range(0, len(lead_ids), 5000):
        chunk = lead_ids[start : start + 5000]
        for deal in session.exec(select(Deal).where(col(Deal.lead_id).in_(chunk))).all():
            assert deal.lead_id is not None
            if deal.lead_id not in converted_at or deal.created_at < converted_at[deal.lead_id]:
                converted_at[deal.lead_id] = deal.created_at
        rows += _activity_rows(session, "lead_id", chunk, email_of)
    case_rows = []
    for lead in leads:
        assert lead.id is not None
        owner = email_of(lead.owner_id)
        rows.append((str(lead.id), "New", lead.created_at, owner))
        current, entered = "New", lead.created_at
        if lead.qualified_at is not None:
            rows.append((str(lead.id), "Qualified", lead.qualified_at, owner))
            current, entered = "Qualified", lead.qualified_at
        outcome = "open"
        if lead.id in converted_at or lead.status == LeadStatus.CONVERTED:
            at = converted_at.get(lead.id, lead.updated_at)
            rows.append((str(lead.id), LEAD_WON, max(at, entered), owner))
            current, outcome = LEAD_WON, "won"
        elif lead.status == LeadStatus.DISQUALIFIED:
            rows.append((str(lead.id), LEAD_LOST, max(lead.updated_at, entered), owner))
            current, outcome = LEAD_LOST, "lost"
        user = users.get(lead.owner_id) if lead.owner_id is not None else None
        case_rows.append(
            {
                CASE: str(lead.id),
                "name": lead.name,
                "owner": owner or "unassigned",
                "source": lead.source or "unknown",
                "industry": lead.industry or "unknown",
                "region": lead.region or "unknown",
                "tenure_band": tenure_band(user.started_at if user else None, lead.created_at.date()),
                "outcome": outcome,
                "amount": None,
                "current_stage": current,
                "stage_entered_at": entered,
            }
        )
    events = validate_events(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)), source="the store")
    cases = pd.DataFrame(case_rows).set_index(CASE)
    cases["last_activity_at"] = events.groupby(CASE, observed=True)[TIMESTAMP].max().reindex(cases.index)
    cases["stage_entered_at"] = pd.to_datetime(cases["stage_entered_at"], utc=True)
    return EventLog(
        events=events[list(EVENT_COLUMNS)],
        cases=cases,
        source=scope,
        stages=LEAD_STAGES,
        won_stage=LEAD_WON,
        lost_stage=LEAD_LOST,
        notes=["lead stages are the lead's creation, qualification and conversion (or disqualification) times"],
        case_noun="leads",
    )
