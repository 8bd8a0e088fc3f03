"""Answers as Block Kit: tables become section fields, everything stays escaped, Slack's limits hold."""

from __future__ import annotations

import json

from bots.slack.blocks import answer_blocks, home_view, human_title


def fields(blocks: list[dict[str, object]]) -> list[str]:
    return [f["text"] for b in blocks for f in b.get("fields") or []]  # type: ignore[attr-defined]


def test_label_value_lists_and_two_column_tables_become_fields_five_rows_a_section() -> None:
    rows = "\n".join(f"- Rep {n}: ${n},000 won" for n in range(1, 8))
    blocks = answer_blocks(f"Won revenue by owner:\n{rows}\nOverall: $28,000.")
    assert [b["type"] for b in blocks] == ["section"] * 4
    assert len(blocks[1]["fields"]) == 10 and len(blocks[2]["fields"]) == 4  # 5 rows + 2 rows
    assert fields(blocks)[:2] == ["*Rep 1*", "$1,000 won"]
    assert blocks[-1]["text"]["text"] == "Overall: $28,000."
    table = answer_blocks("| stage | deals |\n|---|---|\n| Proposal | 2 |\n| Discovery | 1 |")
    assert fields(table) == ["*stage*", "deals", "*Proposal*", "2", "*Discovery*", "1"]


def test_plain_bullets_stay_a_list_and_nothing_can_ping() -> None:
    blocks = answer_blocks("Found 2 leads:\n- #1 <!channel> (lead)\n- #2 Sam & Co")
    text = blocks[1]["text"]["text"]
    assert text == "• #1 &lt;!channel&gt; (lead)\n• #2 Sam &amp; Co"
    assert "<!channel>" not in json.dumps(blocks)


def test_a_very_long_answer_keeps_within_fifty_blocks() -> None:
    blocks = answer_blocks("\n\n".join(f"paragraph {n}" for n in range(120)))
    assert len(blocks) == 50 and "paragraph 119" in blocks[-1]["text"]["text"]


def test_human_titles_and_a_home_tab_within_slacks_limit() -> None:
    assert human_title("qualify_lead", {"lead_name": "Dana Fox"}) == "Qualify a lead: Dana Fox"
    assert human_title("send_follow_up", {"to": "a@b.example"}) == "Send a follow-up email to a@b.example"
    assert human_title("merge_accounts") == "Merge accounts"
    approvals = [{"id": n, "action": "qualify_lead", "arguments": {}, "expires_at": "2026-12-09"} for n in range(40)]
    view = home_view("Mia", approvals, [], [])
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "and 25 more" in json.dumps(view)
