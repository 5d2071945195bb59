"""The tool registry: the one place that says which tools exist, who executes them,
and which group (read, write, command, plan, meta) each belongs to.

Agents are given tools by group (`server/agents.py`); no other list of tool names
exists. The JSON Schemas the model and the `initialize` result see are generated from
the same pydantic models that validate the arguments (`protocol/tools.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from pydantic import ValidationError

from protocol.capabilities import ToolInfo
from protocol.enums import ExecutedBy, ToolCategory
from protocol.tools import TOOL_ARGS, ToolArgs


@dataclass(frozen=True)
class ToolSpec:
    name: str
    category: ToolCategory
    executed_by: ExecutedBy
    description: str

    @property
    def args_model(self) -> type[ToolArgs]:
        return TOOL_ARGS[self.name]

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The arguments' JSON Schema, self-contained (no `$ref`: some providers refuse them)."""
        schema = self.args_model.model_json_schema()
        defs: dict[str, Any] = schema.pop("$defs", {})
        inlined = _inline(schema, defs)
        return cast(dict[str, Any], inlined)

    def openai_schema(self) -> dict[str, Any]:
        return function_schema(self.name, self.description, self.parameters)

    @cached_property
    def schema_chars(self) -> int:
        """The length of `openai_schema()` as JSON (what the prompt's tools take is
        estimated from it every step)."""
        return len(json.dumps(self.openai_schema()))

    def info(self) -> ToolInfo:
        return ToolInfo(
            name=self.name,
            executed_by=self.executed_by,
            category=self.category,
            description=self.description,
            parameters=self.parameters,
        )


def function_schema(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool as the model is offered it (the OpenAI function format litellm translates)."""
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _inline(node: Any, defs: dict[str, Any], *, names: bool = False) -> Any:
    """Replace `$ref`s by their definitions and drop `title` annotations
    (`names`: the keys of `node` are property names, not schema keywords)."""
    if isinstance(node, dict):
        mapping = cast(dict[str, Any], node)
        if "$ref" in mapping:
            return _inline(defs[str(mapping["$ref"]).rsplit("/", 1)[-1]], defs)
        return {
            k: _inline(v, defs, names=(k == "properties" and not names))
            for k, v in mapping.items()
            if names or k != "title"
        }
    if isinstance(node, list):
        return [_inline(v, defs) for v in cast(list[Any], node)]
    return node


class ToolArgumentsError(ValueError):
    """Arguments the model got wrong; the text goes back to it as the tool's result."""


def _client(name: str, category: ToolCategory, description: str) -> ToolSpec:
    return ToolSpec(name, category, ExecutedBy.CLIENT, description)


def _server(name: str, category: ToolCategory, description: str) -> ToolSpec:
    return ToolSpec(name, category, ExecutedBy.SERVER, description)


_R, _W, _C, _P, _M = ToolCategory.READ, ToolCategory.WRITE, ToolCategory.COMMAND, ToolCategory.PLAN, ToolCategory.META

REGISTRY: tuple[ToolSpec, ...] = (
    _client(
        "read_file",
        _R,
        "Read a text file of the workspace, optionally only lines start_line..end_line. "
        "Returns the text. Read a file before you change it.",
    ),
    _client(
        "list_files",
        _R,
        "List the files and directories in a directory of the workspace "
        "(recursively if asked). Use it to find your way around before reading files.",
    ),
    _client(
        "search_in_code",
        _R,
        "Search the workspace's files for a text or regular expression; returns "
        "matching lines as path:line: text. Use it to find where something is defined or used.",
    ),
    _client(
        "write_file",
        _W,
        "Create a file, or replace a file's whole content. Give the complete content: "
        "nothing of the old file is kept. Parent directories are created.",
    ),
    _client(
        "edit_file",
        _W,
        "Replace one exact, unique piece of text in a file with new text. old_text must "
        "match the file exactly once (include enough surrounding lines). Prefer it to write_file for "
        "small changes to existing files.",
    ),
    _client("create_directory", _W, "Create a directory (and its parents) in the workspace."),
    _client(
        "execute_command",
        _C,
        "Run a shell command in the workspace (or cwd) and return its exit code "
        "and output. Use it to run tests, builds and linters. Do not start servers or interactive programs.",
    ),
    _server(
        "create_plan",
        _P,
        "Submit the plan for a complex task: a goal and subtasks with ids, titles, "
        "precise descriptions, the agent for each (code, debug or explain) and dependencies by id. The "
        "user approves it before any subtask runs. Call it alone, when you know enough.",
    ),
    _server(
        "attempt_completion",
        _M,
        "Declare your task done and give the result: what you did and what the "
        "user (or the subtasks that depend on yours) must know. Call it alone, after your tool results arrived.",
    ),
    _server(
        "ask_followup_question",
        _M,
        "Ask the user a question when you cannot go on without their answer "
        "(a decision, a missing detail). Their answer comes as the next message. Call it alone.",
    ),
    _server(
        "switch_mode",
        _M,
        "Hand the conversation to another agent better suited to the task "
        "(code, architect, debug or explain), with the reason. Call it alone.",
    ),
)

BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in REGISTRY}


def tools_in(groups: Iterable[ToolCategory], without: Iterable[str] = ()) -> tuple[ToolSpec, ...]:
    """The registry's tools of `groups`, in registry order, minus the named ones."""
    wanted = set(groups)
    excluded = set(without)
    unknown = excluded - BY_NAME.keys()
    if unknown:
        raise LookupError(f"tools not in the registry: {', '.join(sorted(unknown))}")
    return tuple(s for s in REGISTRY if s.category in wanted and s.name not in excluded)


def json_arguments(name: str, raw: str) -> dict[str, Any]:
    """The model's arguments for the tool `name` as a JSON object (empty text: none), or
    `ToolArgumentsError` saying what is wrong."""
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolArgumentsError(
            f"the arguments of {name} are not valid JSON ({exc.msg} at position {exc.pos})"
        ) from exc
    if not isinstance(data, dict):
        raise ToolArgumentsError(f"the arguments of {name} must be a JSON object")
    return cast(dict[str, Any], data)


def parse_arguments(spec: ToolSpec, raw: str) -> ToolArgs:
    """Validate the model's JSON arguments for `spec`, or raise `ToolArgumentsError`."""
    data = json_arguments(spec.name, raw)
    try:
        return spec.args_model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}" for err in exc.errors()
        )
        raise ToolArgumentsError(f"invalid arguments for {spec.name}: {problems}") from exc


def check_registry() -> None:
    missing = set(TOOL_ARGS) ^ set(BY_NAME)
    if missing:
        raise LookupError(f"registry and argument schemas disagree on: {', '.join(sorted(missing))}")
