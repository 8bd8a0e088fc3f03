"""Every tool the agent can call, by name: one spec per operation, and their LangChain wrappers."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from tools import analysis, experiments, guarded, records, workflow
from tools.base import ToolSpec, as_langchain_tool
from tools.schemas import TOOL_ARGS

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("create_lead", TOOL_ARGS["create_lead"], records.create_lead),
        ToolSpec("find_records", TOOL_ARGS["find_records"], records.find_records),
        ToolSpec("score_lead", TOOL_ARGS["score_lead"], analysis.score_lead),
        ToolSpec("qualify_lead", TOOL_ARGS["qualify_lead"], guarded.request_qualify, guarded=True),
        ToolSpec("move_deal", TOOL_ARGS["move_deal"], records.move_deal),
        ToolSpec("log_interaction", TOOL_ARGS["log_interaction"], records.log_interaction),
        ToolSpec("create_task", TOOL_ARGS["create_task"], records.create_task),
        ToolSpec("list_tasks", TOOL_ARGS["list_tasks"], records.list_tasks),
        ToolSpec("draft_follow_up", TOOL_ARGS["draft_follow_up"], guarded.draft_follow_up),
        ToolSpec("send_follow_up", TOOL_ARGS["send_follow_up"], guarded.request_send_follow_up, guarded=True),
        ToolSpec("edit_draft", TOOL_ARGS["edit_draft"], guarded.edit_draft),
        ToolSpec("pipeline_question", TOOL_ARGS["pipeline_question"], analysis.pipeline_question),
        ToolSpec("bottleneck_analysis", TOOL_ARGS["bottleneck_analysis"], analysis.bottleneck_analysis),
        ToolSpec("forecast", TOOL_ARGS["forecast"], analysis.forecast),
        ToolSpec("search_interactions", TOOL_ARGS["search_interactions"], analysis.search_interactions),
        ToolSpec("edit_record", TOOL_ARGS["edit_record"], workflow.edit_record),
        ToolSpec("reopen_deal", TOOL_ARGS["reopen_deal"], workflow.reopen_deal),
        ToolSpec("undo_last_change", TOOL_ARGS["undo_last_change"], workflow.undo_last_change),
        ToolSpec("stalled_deals", TOOL_ARGS["stalled_deals"], workflow.stalled_deals),
        ToolSpec("who_to_call", TOOL_ARGS["who_to_call"], workflow.who_to_call),
        ToolSpec("hot_leads", TOOL_ARGS["hot_leads"], workflow.hot_leads),
        ToolSpec("account_contacts", TOOL_ARGS["account_contacts"], workflow.account_contacts),
        ToolSpec("experiment_status", TOOL_ARGS["experiment_status"], experiments.experiment_status),
    )
}
GUARDED_TOOLS = frozenset(name for name, spec in SPECS.items() if spec.guarded)


@lru_cache(maxsize=1)
def langchain_tools() -> tuple[BaseTool, ...]:
    return tuple(as_langchain_tool(spec) for spec in SPECS.values())


def tools_by_name() -> dict[str, BaseTool]:
    return {tool.name: tool for tool in langchain_tools()}
