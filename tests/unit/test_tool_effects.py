"""Every tool states its effect once (tools.effects), so the MCP annotations can never silently omit a new tool."""

from __future__ import annotations

from tools.effects import TOOL_EFFECTS
from tools.registry import GUARDED_TOOLS, SPECS


def test_every_tool_has_an_effect_and_guarded_tools_say_they_need_approval() -> None:
    assert set(TOOL_EFFECTS) == set(SPECS)
    assert {name for name, effect in TOOL_EFFECTS.items() if effect.needs_approval} == set(GUARDED_TOOLS)
    # A read-only tool is never marked destructive, and the only tool that reaches outside the store is the send.
    assert not any(e.read_only and e.destructive for e in TOOL_EFFECTS.values())
    assert {name for name, effect in TOOL_EFFECTS.items() if effect.open_world} == {"send_follow_up"}
