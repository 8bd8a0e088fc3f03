"""The workspace's own vocabulary, read from the store: who sells, in which teams and offices, what, to whom.

The assistant understands a request in the words of the team asking it ("the West office", "MG Advanced",
"Engaging") because those words come from this workspace's data, not from a list written for the demo. The same
vocabulary goes into the model's system prompt (as data) and into the offline model's parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from sales.stages import DEFAULT_MACHINE, StageMachine, workspace_machine
from store.models import Account, Deal, Lead, User, WorkspaceTerm

VOCABULARY_KEY = "salesgraph_vocabulary"
"""Where the agent node puts the vocabulary on the system message for a model that reads it (the offline one)."""

TERM_KINDS = ("stage", "product", "industry", "region")
"""The fields whose imported spellings are kept as workspace terms."""


def _distinct(values: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        if value is None:
            continue
        text = str(value).strip()
        if text and text.lower() not in seen:
            seen[text.lower()] = text
    return tuple(sorted(seen.values(), key=str.lower))


@dataclass(frozen=True)
class Vocabulary:
    owners: tuple[str, ...] = ()
    """Active users' names (the people who own deals)."""
    teams: tuple[str, ...] = ()
    """Team labels and the names of managers who have reports."""
    regions: tuple[str, ...] = ()
    """Regions and offices, of users and of accounts."""
    products: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    lead_sources: tuple[str, ...] = ()
    """Where leads came from, as the workspace records it ("webinar", "paid_ads")."""
    stages: tuple[str, ...] = DEFAULT_MACHINE.stages
    stage_terms: dict[str, str] = field(default_factory=dict)
    """The workspace's own stage names that stand for one of ours, lowercased: {"engaging": "Qualified"}."""

    @property
    def empty(self) -> bool:
        return not (self.owners or self.products or self.accounts or self.regions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "owners": list(self.owners),
            "teams": list(self.teams),
            "regions": list(self.regions),
            "products": list(self.products),
            "accounts": list(self.accounts),
            "industries": list(self.industries),
            "lead_sources": list(self.lead_sources),
            "stages": list(self.stages),
            "stage_terms": dict(self.stage_terms),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Vocabulary:
        if not isinstance(data, dict):
            return cls()

        def names(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        terms = data.get("stage_terms")
        return cls(
            owners=names("owners"),
            teams=names("teams"),
            regions=names("regions"),
            products=names("products"),
            accounts=names("accounts"),
            industries=names("industries"),
            lead_sources=names("lead_sources"),
            stages=names("stages") or DEFAULT_MACHINE.stages,
            stage_terms={str(k).lower(): str(v) for k, v in terms.items()} if isinstance(terms, dict) else {},
        )

    def prompt_lines(self, limit: int = 40) -> str:
        """The vocabulary as a few lines for a system prompt; long lists are cut with a count of the rest."""

        def listed(values: tuple[str, ...]) -> str:
            shown = ", ".join(values[:limit])
            return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "")

        lines = []
        for label, values in (
            ("Owners (sales reps)", self.owners),
            ("Teams", self.teams),
            ("Regions and offices", self.regions),
            ("Products", self.products),
            ("Industries", self.industries),
            ("Accounts", self.accounts),
            ("Lead sources", self.lead_sources),
        ):
            if values:
                lines.append(f"- {label}: {listed(values)}")
        if self.stage_terms:
            terms = ", ".join(f"{term!r} means {stage}" for term, stage in sorted(self.stage_terms.items()))
            lines.append(f"- This team's stage names: {terms}")
        return "\n".join(lines)


def load_vocabulary(session: Session, machine: StageMachine | None = None) -> Vocabulary:
    """The vocabulary of the workspace in ``session``: a handful of DISTINCT queries, no row is read twice. The
    stages are the workspace's own (``workspace_machine``) unless ``machine`` is given."""
    machine = machine or workspace_machine(session)
    users = session.execute(
        select(col(User.name), col(User.team), col(User.region)).where(col(User.active).is_(True))
    ).all()
    managers = session.execute(
        select(col(User.name)).where(
            col(User.id).in_(select(col(User.manager_id)).where(col(User.manager_id).is_not(None)))
        )
    ).scalars()
    account_rows = session.execute(select(col(Account.name), col(Account.industry), col(Account.region))).all()
    products = session.execute(select(func.distinct(Deal.product)).where(col(Deal.product).is_not(None))).scalars()
    sources = session.execute(select(func.distinct(Lead.source)).where(col(Lead.source).is_not(None))).scalars()
    terms = session.execute(select(col(WorkspaceTerm.kind), col(WorkspaceTerm.term), col(WorkspaceTerm.meaning))).all()
    stage_terms = {
        term.lower(): meaning
        for kind, term, meaning in terms
        if kind == "stage" and machine.canonical(meaning) and not machine.canonical(term)
    }
    return Vocabulary(
        owners=_distinct(u.name for u in users),
        teams=_distinct([*(u.team for u in users), *managers]),
        regions=_distinct([*(u.region for u in users), *(a.region for a in account_rows)]),
        products=_distinct(products),
        accounts=_distinct(a.name for a in account_rows),
        industries=_distinct(a.industry for a in account_rows),
        lead_sources=_distinct(sources),
        stages=machine.stages,
        stage_terms=stage_terms,
    )


def record_terms(session: Session, kind: str, terms: dict[str, Any], source: str | None) -> int:
    """Keep ``terms`` (workspace word → our value) of ``kind``; a word already known is updated. Returns how many."""
    if kind not in TERM_KINDS:
        raise ValueError(f"unknown term kind {kind!r}; use one of {', '.join(TERM_KINDS)}")
    existing = {
        t.term.lower(): t
        for t in session.execute(select(WorkspaceTerm).where(col(WorkspaceTerm.kind) == kind)).scalars()
    }
    count = 0
    for term, meaning in terms.items():
        word, value = str(term).strip(), str(meaning).strip()
        if not word or not value or word.lower() == value.lower():
            continue
        row = existing.get(word.lower())
        if row is None:
            session.add(WorkspaceTerm(kind=kind, term=word, meaning=value, source=source))
        else:
            row.meaning, row.source = value, source
        count += 1
    session.flush()
    return count


__all__ = ["TERM_KINDS", "VOCABULARY_KEY", "Vocabulary", "load_vocabulary", "record_terms"]
