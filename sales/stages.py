"""The deal stage machine: which stages exist, which moves are allowed, and how long a deal may sit in each.

The default is Prospecting → Qualified → Discovery → Proposal → Negotiation → Won/Lost. From any open stage a
deal may be lost, and may step back one stage (rework); it moves forward one stage at a time unless the
configuration allows skipping. A workspace declares its own pipeline in a stage file (``salesgraph stages set``,
format below), stored in ``stage_configurations``; ``workspace_machine(session)`` is the one way to get the
machine in force, and nothing else hard-codes stage names.

A stage file (YAML; ``mappings/default/stages.yaml`` is the built-in pipeline, ``mappings/maven/stages.yaml``
Maven's)::

    description: Maven CRM deal stages
    stages:                      # in order; a deal moves through the open ones towards won
      - {name: Prospecting, probability: 0.15, stall_limit_days: 30}
      - {name: Engaging, probability: 0.5, stall_limit_days: 60}
      - {name: Won, kind: won}   # exactly one won and one lost stage
      - {name: Lost, kind: lost}
    allow_step_back: true        # an open deal may go back one stage (default true)
    allow_skip: false            # may a deal jump forward over stages, e.g. Qualified → Proposal (default false)
    max_skip: 1                  # with allow_skip: at most this many stages jumped over in one move (default: any)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, func, select

from sales.errors import InvalidInput, PermissionDenied
from sales.permissions import Actor
from sales.receipts import write_receipt
from store.models import Deal, StageConfiguration, User

if TYPE_CHECKING:
    from sqlalchemy.pool import Pool

WON = "Won"
LOST = "Lost"


@dataclass(frozen=True)
class StageMachine:
    open_stages: tuple[str, ...]
    won_stage: str = WON
    lost_stage: str = LOST
    # days a deal may sit in a stage without a stage change or interaction before it counts as stalled
    stall_limit_days: dict[str, int] = field(default_factory=dict)
    allow_step_back: bool = True
    # an open stage's conventional P(win): the forecast's prior where history has too few deals from the stage
    probabilities: dict[str, float] = field(default_factory=dict)
    # forward moves may jump over stages (Qualified → Proposal); max_skip caps how many one move jumps (None: any)
    allow_skip: bool = False
    max_skip: int | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        return (*self.open_stages, self.won_stage, self.lost_stage)

    @property
    def closed_stages(self) -> tuple[str, str]:
        return (self.won_stage, self.lost_stage)

    def is_open(self, stage: str) -> bool:
        return stage in self.open_stages

    def canonical(self, stage: str) -> str | None:
        """The stage's proper name for a case-insensitive match, or None if it is not a stage. "won" and "lost"
        name the won and lost stages whatever the workspace calls them ("Closed Won")."""
        wanted = " ".join(stage.split()).lower()
        found = next((s for s in self.stages if s.lower() == wanted), None)
        return found or {"won": self.won_stage, "lost": self.lost_stage}.get(wanted)

    def allowed_moves(self, current: str) -> list[str]:
        """Where a deal in ``current`` may go: one stage back, forward (one stage, or more when skipping is
        allowed, won included), or lost; nothing from a closed stage."""
        if current not in self.open_stages:
            return []  # Won and Lost are final
        i = self.open_stages.index(current)
        moves: list[str] = []
        if self.allow_step_back and i > 0:
            moves.append(self.open_stages[i - 1])
        ahead = [*self.open_stages[i + 1 :], self.won_stage]
        reach = 1 if not self.allow_skip else len(ahead) if self.max_skip is None else 1 + self.max_skip
        moves.extend(ahead[:reach])
        moves.append(self.lost_stage)
        return moves

    def refusal(self, current: str, target: str) -> str:
        """Why ``current`` → ``target`` is not a move, for a message that also lists the allowed moves."""
        if current not in self.open_stages:
            return f"{current} is final"
        if target == current:
            return f"it is already in {current}"
        if self.is_open(target) or target == self.won_stage:
            if self.order(target) > self.order(current) + 1:
                if not self.allow_skip:
                    return "this pipeline moves forward one stage at a time"
                return f"a move may skip at most {self.max_skip} stage{'s' if self.max_skip != 1 else ''}"
            if not self.allow_step_back and self.order(target) < self.order(current):
                return "this pipeline does not move deals back"
            if self.order(target) < self.order(current) - 1:
                return "a deal steps back one stage at a time"
        return f"{target} does not follow {current}"

    def order(self, stage: str) -> int:
        return self.stages.index(stage)

    def stall_limit(self, stage: str) -> int | None:
        return self.stall_limit_days.get(stage)

    def probability(self, stage: str) -> float | None:
        """The stage's default P(win): 1 for won, 0 for lost, the configured value for an open stage (or None)."""
        if stage == self.won_stage:
            return 1.0
        if stage == self.lost_stage:
            return 0.0
        return self.probabilities.get(stage)


DEFAULT_MACHINE = StageMachine(
    open_stages=("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation"),
    stall_limit_days={"Prospecting": 21, "Qualified": 21, "Discovery": 30, "Proposal": 30, "Negotiation": 45},
    probabilities={"Prospecting": 0.10, "Qualified": 0.20, "Discovery": 0.35, "Proposal": 0.55, "Negotiation": 0.75},
)


# --- the stage file -----------------------------------------------------------------------------------------

STAGE_NAME_MAX = 32
"""As long as ``deals.stage`` and ``stage_changes.to_stage`` hold."""
_FILE_KEYS = ("description", "stages", "allow_step_back", "allow_skip", "max_skip")
_STAGE_KEYS = ("name", "kind", "probability", "stall_limit_days")
_KINDS = ("open", "won", "lost")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def machine_from_config(raw: Any) -> StageMachine:
    """The machine a stage file (parsed YAML or JSON) declares; ``InvalidInput`` names every problem at once, keyed
    by where it is (``stages[3] Engaging.probability``)."""
    if not isinstance(raw, dict):
        raise InvalidInput({"file": "a stage file is a mapping with a `stages:` list (see `salesgraph stages --help`)"})
    problems: dict[str, str] = {}
    unknown = [str(k) for k in raw if k not in _FILE_KEYS]
    if unknown:
        problems["file"] = f"unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_FILE_KEYS)}"
    entries = raw.get("stages")
    if not isinstance(entries, list) or not entries:
        problems["stages"] = "list the stages in order, each with a name (and kind: won / kind: lost for two of them)"
        raise InvalidInput(problems)
    open_stages: list[str] = []
    won: list[str] = []
    lost: list[str] = []
    probabilities: dict[str, float] = {}
    stall_limits: dict[str, int] = {}
    seen: dict[str, str] = {}
    for position, entry in enumerate(entries, start=1):
        where = f"stages[{position}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            problems[where] = "a stage is a name or a mapping with name, kind, probability, stall_limit_days"
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems[where] = "a stage needs a name"
            continue
        name = " ".join(name.split())
        where = f"{where} {name}"
        unknown = [str(k) for k in entry if k not in _STAGE_KEYS]
        if unknown:
            problems[where] = f"unknown key(s) {', '.join(unknown)}; a stage has {', '.join(_STAGE_KEYS)}"
        if len(name) > STAGE_NAME_MAX:
            problems[f"{where}.name"] = f"a stage name has at most {STAGE_NAME_MAX} characters"
        if name.lower() in seen:
            problems[f"{where}.name"] = f"{name!r} is listed twice (stage names are compared ignoring case)"
            continue
        seen[name.lower()] = name
        kind = entry.get("kind", "open")
        if kind not in _KINDS:
            problems[f"{where}.kind"] = f"{kind!r} is not a kind; use open (the default), won or lost"
            continue
        {"open": open_stages, "won": won, "lost": lost}[kind].append(name)
        probability = entry.get("probability")
        if probability is not None:
            if not _number(probability) or not 0 <= probability <= 1:
                problems[f"{where}.probability"] = f"{probability!r} is not a probability between 0 and 1"
            elif kind != "open" and probability != (1 if kind == "won" else 0):
                problems[f"{where}.probability"] = f"a {kind} stage's probability is {1 if kind == 'won' else 0}"
            elif kind == "open":
                probabilities[name] = float(probability)
        limit = entry.get("stall_limit_days")
        if limit is not None:
            if kind != "open":
                problems[f"{where}.stall_limit_days"] = f"a {kind} deal cannot stall; only open stages have a limit"
            elif not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                problems[f"{where}.stall_limit_days"] = f"{limit!r} is not a whole number of days (1 or more)"
            else:
                stall_limits[name] = limit
    if not open_stages:
        problems.setdefault("stages", "there must be at least one open stage (kind: open, the default)")
    for kind, names in (("won", won), ("lost", lost)):
        if len(names) != 1:
            found = f"found {', '.join(names)}" if names else "found none"
            problems.setdefault(f"stages ({kind})", f"exactly one stage must have kind: {kind} ({found})")
    flags: dict[str, bool] = {}
    for key, default in (("allow_step_back", True), ("allow_skip", False)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            problems[key] = f"{value!r} is not true or false"
        flags[key] = bool(value)
    max_skip = raw.get("max_skip")
    if max_skip is not None:
        if not isinstance(max_skip, int) or isinstance(max_skip, bool) or max_skip < 1:
            problems["max_skip"] = f"{max_skip!r} is not a whole number of stages (1 or more)"
        elif not flags["allow_skip"]:
            problems["max_skip"] = "max_skip needs allow_skip: true"
    if problems:
        raise InvalidInput(problems)
    return StageMachine(
        open_stages=tuple(open_stages),
        won_stage=won[0],
        lost_stage=lost[0],
        stall_limit_days=stall_limits,
        allow_step_back=flags["allow_step_back"],
        probabilities=probabilities,
        allow_skip=flags["allow_skip"],
        max_skip=max_skip,
    )


def machine_to_config(machine: StageMachine, description: str | None = None) -> dict[str, Any]:
    """The stage file that declares ``machine`` (``machine_from_config`` of it gives the same machine back)."""
    stages: list[dict[str, Any]] = []
    for name in machine.open_stages:
        entry: dict[str, Any] = {"name": name}
        if name in machine.probabilities:
            entry["probability"] = machine.probabilities[name]
        if name in machine.stall_limit_days:
            entry["stall_limit_days"] = machine.stall_limit_days[name]
        stages.append(entry)
    stages += [{"name": machine.won_stage, "kind": "won"}, {"name": machine.lost_stage, "kind": "lost"}]
    config: dict[str, Any] = {"description": description} if description else {}
    config |= {"stages": stages, "allow_step_back": machine.allow_step_back, "allow_skip": machine.allow_skip}
    if machine.max_skip is not None:
        config["max_skip"] = machine.max_skip
    return config


def load_stage_file(path: Path) -> tuple[StageMachine, str | None]:
    """The machine a YAML (or JSON) stage file declares, and its description; ``InvalidInput`` when it is wrong."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput({"file": f"{path} does not exist"}) from None
    except yaml.YAMLError as exc:
        raise InvalidInput({"file": f"{path} is not valid YAML: {exc}"}) from None
    machine = machine_from_config(raw)
    description = raw.get("description")
    return machine, str(description) if description else None


# --- the workspace's machine ----------------------------------------------------------------------------------

# Per engine (its connection pool, which read-only sessions share): the configuration row last read and its
# machine. Every call reads the newest row's id and time (one indexed row), so a change another process made is
# seen on the next call; the parse and checks run again only when that row changed.
_CACHE: weakref.WeakKeyDictionary[Pool, tuple[tuple[int, datetime], StageMachine]] = weakref.WeakKeyDictionary()


def _pool(session: Session) -> Pool:
    return session.get_bind().engine.pool


def _latest(session: Session) -> StageConfiguration | None:
    return session.exec(select(StageConfiguration).order_by(col(StageConfiguration.id).desc()).limit(1)).first()


def workspace_machine(session: Session) -> StageMachine:
    """The stage machine of the workspace in ``session``: its configured stages, or ``DEFAULT_MACHINE`` when none
    was ever set."""
    newest = session.execute(
        select(col(StageConfiguration.id), col(StageConfiguration.created_at))
        .order_by(col(StageConfiguration.id).desc())
        .limit(1)
    ).first()
    if newest is None:
        return DEFAULT_MACHINE
    revision = (newest[0], newest[1])
    pool = _pool(session)
    cached = _CACHE.get(pool)
    if cached is not None and cached[0] == revision:
        return cached[1]
    row = session.get(StageConfiguration, newest[0])
    assert row is not None
    machine = machine_from_config(row.config)
    _CACHE[pool] = (revision, machine)
    return machine


@dataclass(frozen=True)
class StageConfigurationInfo:
    """The configuration in force and where it came from (``configured`` False: the built-in default)."""

    machine: StageMachine
    configured: bool
    description: str | None = None
    source: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None
    receipt_id: int | None = None


def stage_configuration(session: Session) -> StageConfigurationInfo:
    row = _latest(session)
    if row is None:
        return StageConfigurationInfo(DEFAULT_MACHINE, configured=False, description="the built-in pipeline")
    user = session.get(User, row.set_by_id) if row.set_by_id is not None else None
    description = row.config.get("description")
    return StageConfigurationInfo(
        machine=workspace_machine(session),
        configured=True,
        description=str(description) if description else None,
        source=row.source,
        set_by=user.email if user is not None else None,
        set_at=row.created_at,
        receipt_id=row.receipt_id,
    )


@dataclass(frozen=True)
class StageConfigurationResult:
    machine: StageMachine
    changed: bool
    receipt_id: int | None
    """The audit event of the change (None when the configuration was already in force, or in a dry run)."""


ORPHANS_NAMED = 10
"""How many of the deals a removed stage would orphan a refusal names."""


def _orphans(session: Session, machine: StageMachine) -> str | None:
    """A refusal naming the deals that sit in a stage ``machine`` does not have, or None."""
    stmt = select(col(Deal.stage), func.count()).where(col(Deal.stage).not_in(machine.stages)).group_by(col(Deal.stage))
    counts: dict[str, int] = {stage: int(n) for stage, n in session.execute(stmt).all()}
    if not counts:
        return None
    named = session.execute(
        select(col(Deal.id), col(Deal.name), col(Deal.stage))
        .where(col(Deal.stage).not_in(machine.stages))
        .order_by(col(Deal.stage), col(Deal.id))
        .limit(ORPHANS_NAMED)
    ).all()
    total = sum(counts.values())
    several = len(counts) > 1
    listed = ", ".join(f"#{deal_id} {name}" + (f" ({stage})" if several else "") for deal_id, name, stage in named)
    more = f" and {total - len(named):,} more" if total > len(named) else ""
    if several:
        left_out = ", ".join(f"{stage} ({n:,} deal{'s' if n != 1 else ''})" for stage, n in sorted(counts.items()))
        where = f"the new stages leave out {left_out}, where deals still sit"
    else:
        stage, n = next(iter(counts.items()))
        where = f"the new stages leave out {stage}, where {n:,} deal{'s still sit' if n != 1 else ' still sits'}"
    return f"{where}: {listed}{more}. Keep the stage, or first move those deals to a stage the new ones have"


def set_stage_configuration(
    session: Session,
    actor: Actor,
    machine: StageMachine,
    *,
    description: str | None = None,
    source: str | None = None,
    dry_run: bool = False,
) -> StageConfigurationResult:
    """Make ``machine`` the workspace's stages (admins only), with a receipt; refused when a deal sits in a stage it
    leaves out. Setting the configuration already in force changes nothing; ``dry_run`` checks and writes nothing."""
    if not actor.is_admin:
        raise PermissionDenied(f"only admins change the deal stages; {actor.email} is a {actor.role}")
    current = _latest(session)
    before = current.config if current is not None else machine_to_config(DEFAULT_MACHINE, "the built-in pipeline")
    after = machine_to_config(machine, description)
    if machine_from_config(before) == machine:
        return StageConfigurationResult(machine, changed=False, receipt_id=None)
    orphans = _orphans(session, machine)
    if orphans:
        raise InvalidInput({"stages": orphans})
    if dry_run:
        return StageConfigurationResult(machine, changed=True, receipt_id=None)
    row = StageConfiguration(config=after, source=source, set_by_id=actor.user_id)
    session.add(row)
    session.flush()
    assert row.id is not None
    row.receipt_id = write_receipt(
        session,
        actor,
        "set_stages",
        "stage_configuration",
        row.id,
        before=before,
        after={**after, "source": source},
    )
    session.add(row)
    session.flush()
    _CACHE.pop(_pool(session), None)
    return StageConfigurationResult(machine, changed=True, receipt_id=row.receipt_id)
