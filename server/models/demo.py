"""The built-in `demo` model: deterministic, offline, and driving the real paths.

It is not clever. It reads the request the way a real model would (the agent, the
task, the tool results so far) and answers with the tool calls that exercise the
product: classification, a plan for a complex task, file writes and edits through the
editor, commands ("run `ls -la`"), a follow-up question, a switch of agent, and a
tour of all of it ("show me around"): a command the allow-list lets run, one the
deny-list refuses, a write, a command that asks, an edit. Everything it does depends
only on the request, so a resumed session gets the same answer after a restart.

It never claims what the tool results do not show: a write that failed or was
rejected is reported as such, a command by its exit code.
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
_COMMAND = re.compile(r"\brun\s+`([^`]+)`", re.IGNORECASE)
_EDIT = re.compile(
    r"\b(?:replace|change)\s+[\"'`]([^\"'`]+)[\"'`]\s+(?:with|to|by)\s+[\"'`]([^\"'`]*)[\"'`]", re.IGNORECASE
)
_TOUR = re.compile(r"\btour\b|\bshow me around\b|\bwhat can you do\b", re.IGNORECASE)
_EXIT_CODE = re.compile(r"exit code (-?\d+)")
TOUR_ALLOWED = "ls"
"""The tour's command that the terminal client's default allow-list lets run unasked."""
TOUR_DENIED = "rm -rf build"
"""The tour's command that the terminal client's default deny-list refuses."""
TOUR_GREETING = "hello from the tour"


@dataclass(frozen=True)
class _Thread:
    """What the demo reads from a request: the task and the tool results since."""

    task: str
    results: list[tuple[str, str]]  # (tool name, result text) after the last user message
    revision: str | None
    previous: str = ""
    """The task before this one, when this one answers a question the agent asked."""


def _read(request: ModelRequest) -> _Thread:
    names: dict[str, str] = {}
    task = ""
    revision: str | None = None
    previous = ""
    results: list[tuple[str, str]] = []
    for message in request.messages[1:]:
        role = message.get("role")
        content = str(message.get("content") or "")
        if role == "user" and not texts.is_switch_note(content):
            if texts.is_revision(content):
                revision = content
            elif not content.startswith(texts.REMINDER):
                asked = bool(results) and results[-1][0] == "ask_followup_question"
                previous, task = (task if asked else ""), content
            results = []
        elif role == "assistant":
            calls: list[dict[str, Any]] = message.get("tool_calls") or []
            for call in calls:
                names[call["id"]] = call["function"]["name"]
        elif role == "tool":
            results.append((names.get(str(message.get("tool_call_id")), "?"), content))
    return _Thread(task=task, results=results, revision=revision, previous=previous)


def failed(result: str) -> bool:
    """Whether a tool result says the call did not do its work (an error, a rejection,
    a cancellation, a refusal by the policy)."""
    return result.startswith(
        (texts.ERROR, texts.REJECTED, texts.CANCELLED_RESULT, texts.REFUSED, texts.SKIPPED_INTERRUPTED)
    )


def first_line(text: str) -> str:
    """The first sentence of the first line that says something."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "(nothing)")
    return line.split(". ", 1)[0]


def _outcome(result: str) -> str:
    return first_line(result) if failed(result) else "done"


def command_outcome(command: str, result: str) -> str:
    """What came of a command, by its exit code; never more than the result shows."""
    code = _EXIT_CODE.match(result)
    if code is None:
        return f"`{command}` did not run: {first_line(result)}"
    output = result.split("\n", 1)[1] if "\n" in result else ""
    if code.group(1) == "0":
        return f"`{command}` ran (exit code 0); it printed: {first_line(output)}"
    return f"`{command}` failed with exit code {code.group(1)}: {first_line(output)}"


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
            if failed(content):
                return f"I could not read {target.group(1) if target else 'the file'}: {first_line(content)}", ()
            lines = content.splitlines()
            return (
                f"{target.group(1) if target else 'The file'} has {len(lines)} lines. It begins with: {lines[0] if lines else '(empty)'}",
                (),
            )
        return f"In short: {thread.task.strip()} — the demo model gives no real explanations; configure a model.", ()

    def _code(self, thread: _Thread, agent: AgentName) -> tuple[str, tuple[ReplyToolCall, ...]]:
        if _EVERY_FILE.search(thread.task):
            return self._read_every_file(thread)
        if _TOUR.search(thread.previous) or (_TOUR.search(thread.task) and not thread.previous):
            return _tour(thread)
        command, edit = _COMMAND.search(thread.task), _EDIT.search(thread.task)
        target = _FILE.search(thread.task)
        if thread.results and thread.results[-1][1] == texts.CANCELLED_RESULT:  # the call never ran: make it again
            return self._code(_Thread(thread.task, thread.results[:-1], thread.revision, thread.previous), agent)
        if command:
            return _run(command.group(1), thread)
        if edit and target:
            return _edit(target.group(1), edit.group(1), edit.group(2), thread)
        if thread.results:
            return _code_done(thread, target)
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


def _code_done(thread: _Thread, target: re.Match[str] | None) -> tuple[str, tuple[ReplyToolCall, ...]]:
    """The code agent's last word on a task, from the result of its one call."""
    tool, result = thread.results[-1]
    if tool == "ask_followup_question":
        return "", ()
    if result.startswith(texts.REJECTED):
        return "", (_call("attempt_completion", result=f"Did not write the file: {result}"),)
    if failed(result):
        return "", (_call("attempt_completion", result=f"{tool} did not succeed: {first_line(result)}"),)
    if tool in ("write_file", "edit_file") and target:
        return "", (_call("attempt_completion", result=f"Wrote {target.group(1)}."),)
    if tool == "read_file":
        shown = target.group(1) if target else "the file"
        lines = len(result.splitlines())
        done = f"Read {shown}: {lines} lines, no problem found by the demo model."
        return "", (_call("attempt_completion", result=done),)
    if tool == "list_files":
        entries = [line for line in result.splitlines() if line.strip()]
        done = f"The workspace has {len(entries)} entries; the demo model makes no other change."
        return "", (_call("attempt_completion", result=done),)
    return "", (_call("attempt_completion", result=f"{tool} answered: {first_line(result)}"),)


def _run(command: str, thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
    """A task like "run `CMD`": run it, then say what came of it."""
    if not thread.results:
        return f"I'll run `{command}`.\n", (_call("execute_command", command=command),)
    return "", (_call("attempt_completion", result=command_outcome(command, thread.results[-1][1])),)


def _edit(path: str, old: str, new: str, thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
    """`replace 'A' with 'B' in FILE`: read it, edit it (when A is there), report."""
    if not thread.results:
        return f"Let me read {path} first.\n", (_call("read_file", path=path),)
    tool, result = thread.results[-1]
    if tool == "read_file":
        if failed(result):
            return "", (_call("attempt_completion", result=f"Could not read {path}: {first_line(result)}"),)
        if old not in result:
            return "", (_call("attempt_completion", result=f"{path} does not contain {old!r}; nothing changed."),)
        return f"I'll change {old!r} to {new!r}.\n", (_call("edit_file", path=path, old_text=old, new_text=new),)
    if failed(result):
        return "", (_call("attempt_completion", result=f"Did not edit {path}: {first_line(result)}"),)
    return "", (_call("attempt_completion", result=f"Edited {path}: {old!r} is now {new!r}."),)


_TOUR_SAYS = (
    f"First a command the allow-list lets run without asking: `{TOUR_ALLOWED}`.\n",
    f"Now one the deny-list refuses without asking you: `{TOUR_DENIED}`.\n",
    "Next a file write: you see its diff and decide.\n",
    "Then a command that is not on the allow-list, so it asks.\n",
    "Last an edit, shown as a diff.\n",
)


def _tour(thread: _Thread) -> tuple[str, tuple[ReplyToolCall, ...]]:
    """Every path in one task: a question, an allowed and a denied command, a write, a
    command that asks, an edit; then what came of each, read from the results."""
    if not thread.previous:
        question = "A short tour. What should I call the file I write?"
        return "", (_call("ask_followup_question", question=question, suggestions=["tour.py", "hello.py"]),)
    named = _FILE.search(thread.task)
    path = named.group(1) if named and named.group(1).endswith(".py") else "tour.py"
    results = [result for _, result in thread.results]
    steps = (
        lambda: _call("execute_command", command=TOUR_ALLOWED),
        lambda: _call("execute_command", command=TOUR_DENIED),
        lambda: _call("write_file", path=path, content=f'print("{TOUR_GREETING}")\n'),
        lambda: _call("execute_command", command=f"python3 {path}"),
        lambda: _call("edit_file", path=path, old_text=TOUR_GREETING, new_text="hello again"),
    )
    done = len(results)
    unwritten = done >= 3 and failed(results[2])  # then there is nothing to edit
    if done < (len(steps) - 1 if unwritten else len(steps)):
        return _TOUR_SAYS[done], (steps[done](),)
    edited = "skipped, nothing was written" if unwritten else _outcome(results[4])
    report = [
        command_outcome(TOUR_ALLOWED, results[0]),
        command_outcome(TOUR_DENIED, results[1]),
        f"writing {path}: {_outcome(results[2])}",
        command_outcome(f"python3 {path}", results[3]),
        f"editing {path}: {edited}",
    ]
    summary = "\n".join(f"- {line}" for line in report)
    return "", (
        _call(
            "attempt_completion",
            result=f"That was the tour:\n{summary}\n\nFor a plan, try: implement a notes app with a cli and a search.",
        ),
    )
