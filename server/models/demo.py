"""The built-in `demo` model: deterministic, offline, and driving the real paths.

It is not clever. It reads the request the way a real model would (the agent, the
task, the tool results so far) and answers with the tool calls that exercise the
product: classification, a plan for a complex task, file writes through the editor,
a follow-up question, a switch of agent. Everything it does depends only on the
request, so a resumed session gets the same answer after a restart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from protocol.enums import AgentName
from server.agents import texts
from server.models.base import DeltaSink, ModelReply, ModelRequest, ReplyToolCall, estimate_tokens

_FILE = re.compile(r"`?(?<![\w./-])([\w./-]+\.(?:py|js|ts|md|txt|json|toml|yaml|yml|html|css|sh|rs|go|dart))`?")
"""A file name; it starts only where a word starts, so a long word costs linear time."""
_PRINTS = re.compile(r"prints?\s+[\"']?([^\"'\n]+?)[\"']?\s*$", re.IGNORECASE)
_COMPLEX = ("app", "application", "project", "implement", "build ", "system", "service", "website", "several", "plan")
_EXPLAIN = ("explain", "what is", "what does", "what are", "why ", "how does", "how do", "describe")
_DEBUG = ("fix", "bug", "error", "debug", "fails", "failing", "crash", "broken", "exception", "traceback")
_ACTION = ("create", "write", "add", "change", "implement", "make", "refactor", "fix")
_EVERY_FILE = re.compile(r"\b(read|review) (every|each|all)( the)? files?\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Thread:
    """What the demo reads from a request: the task and the tool results since."""

    task: str
    results: list[tuple[str, str]]  # (tool name, result text) after the last user message
    revision: str | None


def _read(request: ModelRequest) -> _Thread:
    names: dict[str, str] = {}
    task = ""
    revision: str | None = None
    results: list[tuple[str, str]] = []
    for message in request.messages[1:]:
        role = message.get("role")
        content = str(message.get("content") or "")
        if role == "user" and not texts.is_switch_note(content):
            if texts.is_revision(content):
                revision = content
            elif not content.startswith(texts.REMINDER):
                task = content
            results = []
        elif role == "assistant":
            calls: list[dict[str, Any]] = message.get("tool_calls") or []
            for call in calls:
                names[call["id"]] = call["function"]["name"]
        elif role == "tool":
            results.append((names.get(str(message.get("tool_call_id")), "?"), content))
    return _Thread(task=task, results=results, revision=revision)


def _call(name: str, **arguments: Any) -> ReplyToolCall:
    return ReplyToolCall(id=None, name=name, arguments=json.dumps(arguments))


def classify(text: str) -> dict[str, Any]:
    lowered = text.lower()
    if any(word in lowered for word in _EXPLAIN) and not _FILE.search(lowered.split("explain")[0]):
        return {"is_atomic": True, "agent": "explain", "confidence": "high", "reason": "the user asks a question"}
    if any(word in lowered for word in _DEBUG):
        return {"is_atomic": True, "agent": "debug", "confidence": "medium", "reason": "something is broken"}
    if any(word in lowered for word in _COMPLEX) and not _FILE.search(lowered):
        return {"is_atomic": False, "agent": "plan", "confidence": "medium", "reason": "several parts to build"}
    return {"is_atomic": True, "agent": "code", "confidence": "high", "reason": "a focused change"}


def _file_content(path: str, task: str) -> str:
    printed = _PRINTS.search(task.strip().splitlines()[0] if task.strip() else "")
    if path.endswith(".py"):
        if printed:
            return f'print("{printed.group(1).strip()}")\n'
        stem = path.rsplit("/", 1)[-1].removesuffix(".py")
        if stem.startswith("test_"):
            module = stem.removeprefix("test_")
            return f"from {module} import main\n\n\ndef test_main() -> None:\n    main()\n"
        return f'"""{stem}: written by the codelab-agent demo model."""\n\n\ndef main() -> None:\n    print("{stem} works")\n\n\nif __name__ == "__main__":\n    main()\n'
    if path.endswith(".md"):
        title = texts.subtask_title(task) or (task.splitlines()[0][:80] if task else path)
        return f"# {title}\n\nWritten by the codelab-agent demo model.\n"
    return f"{task.splitlines()[0] if task else path}\n"


def _features(task: str) -> list[str]:
    """ "… with a cli, a cache and a config" → ["cli", "cache", "config"]."""
    found = re.search(r"\bwith (.+)$", task.strip().splitlines()[0] if task.strip() else "", re.IGNORECASE)
    if not found:
        return []
    parts = re.split(r",|\band\b", found.group(1))
    return [_slug(part) for part in parts if _slug(part) != "project"]


def _slug(text: str) -> str:
    text = re.split(r"\bwith\b", text, maxsplit=1, flags=re.IGNORECASE)[0]
    words = [
        w
        for w in re.findall(r"[a-z]+", text.lower())
        if w
        not in {
            "a",
            "an",
            "the",
            "implement",
            "build",
            "app",
            "application",
            "for",
            "of",
            "with",
            "and",
            "create",
            "make",
            "please",
        }
    ]
    return "_".join(words[:2]) or "project"


def _summary(request: ModelRequest) -> str:
    """A compaction summary, the demo's way: the sections asked for, from what it was shown
    (the runtime appends its own record of the files and commands)."""
    shown = str(request.messages[-1].get("content") or "")
    calls = shown.count("TOOL CALL ")
    return (
        "## Task\nAs the user asked (their words stay in the context).\n"
        f"## Decisions\nNone beyond the tool calls below.\n## Files\nSee the record.\n"
        f"## Done\n{calls} tool calls in the summarised turns.\n## Next\nContinue the task."
    )


class DemoModel:
    name = "demo"

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        if request.purpose == "classify":
            thread = _read(request)
            text, calls = json.dumps(classify(thread.task)), ()
        elif request.purpose == "compact":
            text, calls = _summary(request), ()
        else:
            text, calls = self._act(request)
        for piece in re.findall(r"\S+\s*", text) if request.purpose == "agent" else ():
            await on_delta(piece)
        return ModelReply(
            text=text,
            tool_calls=calls,
            prompt_tokens=estimate_tokens(request.messages),
            completion_tokens=len(text) // 4 + 8 * len(calls) + 1,
            cost_usd=None,  # no price map knows it: its cost reads as unknown, never as a made-up 0
        )

    def _act(self, request: ModelRequest) -> tuple[str, tuple[ReplyToolCall, ...]]:
        thread = _read(request)
        if request.agent is AgentName.ARCHITECT:
            return self._architect(thread)
        if request.agent is AgentName.EXPLAIN:
            return self._explain(thread)
        return self._code(thread, request.agent)

    def _architect(self, thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
        if not thread.results:
            return "Let me look at the workspace first.", (_call("list_files", path=".", recursive=False),)
        last_tool, last_result = thread.results[-1]
        if last_tool == "create_plan" and not last_result.startswith(texts.ERROR):
            return "The plan awaits your approval.", ()
        slug = _slug(thread.task)
        subtasks: list[dict[str, Any]] = [
            {
                "id": "s1",
                "title": f"Write the {slug} module",
                "agent": "code",
                "dependencies": [],
                "description": f"Create the file `{slug}.py` with a main() entry point for: {thread.task}",
            },
            {
                "id": "s2",
                "title": "Write its tests",
                "agent": "code",
                "dependencies": ["s1"],
                "description": f"Create the file `test_{slug}.py` that tests `{slug}.py`.",
            },
        ]
        for feature in _features(thread.task):
            subtasks.append(
                {
                    "id": f"s{len(subtasks) + 1}",
                    "title": f"Add the {feature}",
                    "agent": "code",
                    "dependencies": ["s1"],
                    "description": f"Create the file `{slug}_{feature}.py` adding the {feature} to `{slug}.py`.",
                }
            )
        subtasks.append(
            {
                "id": f"s{len(subtasks) + 1}",
                "title": "Document how to run it",
                "agent": "code",
                "dependencies": [s["id"] for s in subtasks],
                "description": "Create the file `README.md` saying how to run the module and its tests.",
            }
        )
        if thread.revision:
            feedback = thread.revision.split(":", 1)[-1].strip()
            subtasks.append(
                {
                    "id": f"s{len(subtasks) + 1}",
                    "title": f"Address the review: {feedback[:60]}",
                    "agent": "code",
                    "dependencies": [subtasks[-1]["id"]],
                    "description": f"Create the file `NOTES.md` recording: {feedback}",
                }
            )
        plan = _call("create_plan", goal=thread.task, subtasks=subtasks)
        return f"I propose a plan of {len(subtasks)} subtasks.", (plan,)

    def _read_every_file(self, thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
        """List the workspace, then read its files one per step: a long, honest loop."""
        if not thread.results:
            return "Listing the workspace.", (_call("list_files", path=".", recursive=True),)
        listing = [line for line in thread.results[0][1].splitlines() if line and not line.endswith("/")]
        done = sum(1 for tool, _ in thread.results[1:] if tool == "read_file")
        if done < len(listing):
            return "", (_call("read_file", path=listing[done]),)
        return "", (_call("attempt_completion", result=f"Read {done} files."),)

    def _explain(self, thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
        lowered = thread.task.lower()
        if any(lowered.startswith(word) for word in _ACTION):
            return "", (_call("switch_mode", mode="code", reason="the task asks for a change, not an explanation"),)
        target = _FILE.search(thread.task)
        if target and not thread.results:
            return "Let me read it.", (_call("read_file", path=target.group(1)),)
        if thread.results:
            content = thread.results[-1][1]
            lines = content.splitlines()
            return (
                f"{target.group(1) if target else 'The file'} has {len(lines)} lines. It begins with: {lines[0] if lines else '(empty)'}",
                (),
            )
        return f"In short: {thread.task.strip()} — the demo model gives no real explanations; configure a model.", ()

    def _code(self, thread: _Thread, agent: AgentName) -> tuple[str, tuple[ReplyToolCall, ...]]:
        if _EVERY_FILE.search(thread.task):
            return self._read_every_file(thread)
        target = _FILE.search(thread.task)
        if thread.results:
            tool, result = thread.results[-1]
            if tool == "ask_followup_question":
                return "", ()
            if result == texts.CANCELLED_RESULT:  # the call never ran: make it again
                return self._code(_Thread(thread.task, thread.results[:-1], thread.revision), agent)
            if result.startswith(texts.REJECTED):
                return "", (_call("attempt_completion", result=f"Did not write the file: {result}"),)
            if tool in ("write_file", "edit_file") and target:
                return "", (_call("attempt_completion", result=f"Wrote {target.group(1)}."),)
            if tool == "read_file":
                return "", (
                    _call(
                        "attempt_completion",
                        result=f"Read {target.group(1) if target else 'the file'}: {len(result.splitlines())} lines, no problem found by the demo model.",
                    ),
                )
            if tool == "list_files":
                entries = [line for line in result.splitlines() if line.strip()]
                return "", (
                    _call(
                        "attempt_completion",
                        result=f"The workspace has {len(entries)} entries; the demo model makes no other change.",
                    ),
                )
            return "", (_call("attempt_completion", result=f"Done ({tool} answered)."),)
        if target:
            if agent is AgentName.DEBUG:
                return f"Let me read {target.group(1)}.", (_call("read_file", path=target.group(1)),)
            path = target.group(1)
            return f"I'll write {path}.", (_call("write_file", path=path, content=_file_content(path, thread.task)),)
        if re.search(r"\b(a|the) file\b", thread.task.lower()):
            return "", (
                _call(
                    "ask_followup_question",
                    question="What should the file be called?",
                    suggestions=["hello.py", "main.py"],
                ),
            )
        return "Let me look around.", (_call("list_files", path=".", recursive=False),)
