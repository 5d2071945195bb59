"""Argument schemas of every tool, and `TOOL_ARGS`: the one list of tool names.

These models are the single source of the JSON Schemas the model sees, the
`initialize` result lists and the arguments are validated against. Tool arguments
keep the model's snake_case names on the wire.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolArgs(BaseModel):
    """Arguments of one tool. Extra keys a model invents are dropped, not fatal."""

    model_config = ConfigDict(extra="ignore")


# --- client tools: executed by the editor ------------------------------------------


class ReadFileArgs(ToolArgs):
    path: str = Field(min_length=1, description="File path, relative to the workspace root or absolute.")
    start_line: int | None = Field(default=None, ge=1, description="First line to read (1-based).")
    end_line: int | None = Field(default=None, ge=1, description="Last line to read (inclusive).")


class ListFilesArgs(ToolArgs):
    path: str = Field(default=".", min_length=1, description="Directory to list.")
    recursive: bool = Field(default=False, description="List subdirectories too.")


class SearchInCodeArgs(ToolArgs):
    query: str = Field(min_length=1, description="Text (or regular expression) to search for.")
    path: str | None = Field(default=None, description="Directory or file to search in; the workspace by default.")
    is_regex: bool = Field(default=False, description="Treat the query as a regular expression.")


class WriteFileArgs(ToolArgs):
    path: str = Field(min_length=1, description="File to create or overwrite.")
    content: str = Field(description="The complete new content of the file.")


class EditFileArgs(ToolArgs):
    path: str = Field(min_length=1, description="File to edit.")
    old_text: str = Field(min_length=1, description="Exact text to replace; it must occur exactly once in the file.")
    new_text: str = Field(description="Replacement text.")


class CreateDirectoryArgs(ToolArgs):
    path: str = Field(min_length=1, description="Directory to create (with its parents).")


class ExecuteCommandArgs(ToolArgs):
    command: str = Field(min_length=1, description="Shell command line to run.")
    cwd: str | None = Field(default=None, description="Working directory; the workspace root by default.")
    timeout_seconds: int | None = Field(default=None, ge=1, le=3600, description="Kill the command after this long.")


# --- server tools: executed inside the sidecar -------------------------------------

SubtaskAgent = Literal["code", "debug", "explain"]


class PlanSubtaskArgs(ToolArgs):
    id: str = Field(min_length=1, max_length=64, description="Short unique id, e.g. 's1'.")
    title: str = Field(min_length=1, description="One line saying what the subtask does.")
    description: str = Field(default="", description="What to do, precisely enough for another agent to do it alone.")
    agent: SubtaskAgent = Field(description="The agent that executes the subtask.")
    dependencies: list[str] = Field(default_factory=list[str], description="Ids of subtasks that must be done first.")


class CreatePlanArgs(ToolArgs):
    goal: str = Field(min_length=1, description="What the whole plan achieves.")
    subtasks: list[PlanSubtaskArgs] = Field(min_length=1, description="The subtasks, in the order to run them.")


class AttemptCompletionArgs(ToolArgs):
    result: str = Field(
        min_length=1, description="What was done, for the user (or for the subtasks that depend on this one)."
    )
    failed: bool = Field(default=False, description="Set it when you cannot complete the task; say why in result.")


class AskFollowupQuestionArgs(ToolArgs):
    question: str = Field(min_length=1, description="The question for the user.")
    suggestions: list[str] | None = Field(default=None, description="Possible answers the user can pick.")


class SwitchModeArgs(ToolArgs):
    mode: Literal["code", "architect", "debug", "explain"] = Field(description="The agent to hand the conversation to.")
    reason: str = Field(min_length=1, description="Why the other agent fits better.")


# --- every tool, by name -------------------------------------------------------------

TOOL_ARGS: dict[str, type[ToolArgs]] = {
    "read_file": ReadFileArgs,
    "list_files": ListFilesArgs,
    "search_in_code": SearchInCodeArgs,
    "write_file": WriteFileArgs,
    "edit_file": EditFileArgs,
    "create_directory": CreateDirectoryArgs,
    "execute_command": ExecuteCommandArgs,
    "create_plan": CreatePlanArgs,
    "attempt_completion": AttemptCompletionArgs,
    "ask_followup_question": AskFollowupQuestionArgs,
    "switch_mode": SwitchModeArgs,
}
"""Every tool's argument model by tool name. The server's registry
(`server/agents/tools.py`) adds category, executor and description; it may not name a
tool missing here."""
