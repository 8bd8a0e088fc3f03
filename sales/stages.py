"""The deal stage machine: which stages exist, which moves are allowed, and how long a deal may sit in each.

The default is Prospecting → Qualified → Discovery → Proposal → Negotiation → Won/Lost. From any open stage a
deal may be lost, and may step back one stage (rework); it may only move forward one stage at a time. A
different playbook is declared by building another ``StageMachine``; nothing else hard-codes stage names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def stages(self) -> tuple[str, ...]:
        return (*self.open_stages, self.won_stage, self.lost_stage)

    @property
    def closed_stages(self) -> tuple[str, str]:
        return (self.won_stage, self.lost_stage)

    def is_open(self, stage: str) -> bool:
        return stage in self.open_stages

    def canonical(self, stage: str) -> str | None:
        """The stage's proper name for a case-insensitive match, or None if it is not a stage."""
        wanted = stage.strip().lower()
        return next((s for s in self.stages if s.lower() == wanted), None)

    def allowed_moves(self, current: str) -> list[str]:
        if current not in self.open_stages:
            return []  # Won and Lost are final
        i = self.open_stages.index(current)
        moves: list[str] = []
        if self.allow_step_back and i > 0:
            moves.append(self.open_stages[i - 1])
        if i + 1 < len(self.open_stages):
            moves.append(self.open_stages[i + 1])
        else:
            moves.append(self.won_stage)
        moves.append(self.lost_stage)
        return moves

    def order(self, stage: str) -> int:
        return self.stages.index(stage)

    def stall_limit(self, stage: str) -> int | None:
        return self.stall_limit_days.get(stage)


DEFAULT_MACHINE = StageMachine(
    open_stages=("Prospecting", "Qualified", "Discovery", "Proposal", "Negotiation"),
    stall_limit_days={"Prospecting": 21, "Qualified": 21, "Discovery": 30, "Proposal": 30, "Negotiation": 45},
)
