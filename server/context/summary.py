"""The summary that replaces older turns: what the summarising model is asked, what it
is shown, and the record the runtime adds itself so that no summary can forget which
files were read and changed or which commands ran."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from server.context.fit import Entry, cut, json_object

PROMPT = """You compact the history of a coding agent's work so that it can go on with a shorter context.
The agent will see the user's own messages verbatim, then your summary, then its newest steps.
Write the summary for the agent, in exactly these sections:

## Task
What the user asked, in a line or two (their words stay in the context verbatim).
## Decisions
What was decided and why: approaches taken, approaches rejected, constraints learned.
## Files
Files read (what matters in them) and files changed (what changed).
## Done
What is finished and verified.
## Next
What remains, in order, the very next step first.

Be specific: paths, names, commands, errors and how they were fixed. Never invent.
Write only the summary."""

RESULT_CHARS = 1_500
"""How much of each tool result the summarising model sees."""

READS = frozenset({"read_file", "list_files", "search_in_code"})
WRITES = frozenset({"write_file", "edit_file", "create_directory"})
COMMANDS = frozenset({"execute_command"})


def transcript(asked: Sequence[Entry], previous: str | None, entries: Sequence[Entry], budget_chars: int) -> str:
    """The user's words, the earlier summary and the turns to summarise, as text within
    `budget_chars` (the user's words first and whole up to half of it; then the middle
    of the turns goes first)."""
    words = "\n\n".join(f"USER (kept verbatim in the context):\n{e.content}" for e in asked)
    words = cut(words, budget_chars // 2)
    parts: list[str] = []
    if previous:
        parts.append(f"EARLIER SUMMARY:\n{previous}")
    for entry in entries:
        message = entry.message
        role = str(message.get("role"))
        content = entry.content
        if role == "tool":
            parts.append(f"RESULT of {entry.tool or 'a tool'}:\n{cut(content, RESULT_CHARS)}")
            continue
        if content:
            parts.append(f"{role.upper()}:\n{content}")
        for call in _calls(message):
            parts.append(f"TOOL CALL {call[0]} {call[1]}")
    turns = cut("\n\n".join(parts), max(1_000, budget_chars - len(words)))
    return f"{words}\n\nTHE TURNS TO SUMMARISE:\n\n{turns}" if words else turns


def request(
    asked: Sequence[Entry], previous: str | None, entries: Sequence[Entry], budget_chars: int
) -> list[dict[str, Any]]:
    """The summarising model's prompt: the user's words, the earlier summary, the turns."""
    return [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": transcript(asked, previous, entries, budget_chars)},
    ]


def record(entries: Sequence[Entry]) -> str:
    """What the runtime itself knows the summarised turns did (give it every entry ever
    summarised, not only the newest ones), as a section of the summary."""
    read: list[str] = []
    changed: list[str] = []
    ran: list[str] = []
    for entry in entries:
        for name, arguments in _calls(entry.message):
            args = json_object(arguments)
            where = args.get("path") or args.get("command") or args.get("pattern")
            if not isinstance(where, str):
                continue
            bucket = read if name in READS else changed if name in WRITES else ran if name in COMMANDS else None
            if bucket is not None and where not in bucket:
                bucket.append(where)
    lines = ["## Record kept by the runtime (calls made in the summarised turns)"]
    for label, items in (("Read", read), ("Changed", changed), ("Ran", ran)):
        if items:
            lines.append(f"{label}: " + ", ".join(items[-40:]))
    if len(lines) == 1:
        return ""
    return "\n".join(lines)


def compose_summary(written: str, summarised: Sequence[Entry]) -> str:
    """The stored summary: the model's, then the runtime's record of every summarised call."""
    kept = record(summarised)
    return written.strip() + (f"\n\n{kept}" if kept else "")


def _calls(message: dict[str, Any]) -> list[tuple[str, str]]:
    calls: object = message.get("tool_calls") or []
    found: list[tuple[str, str]] = []
    for call in cast(list[object], calls) if isinstance(calls, list) else []:
        function = cast(dict[str, object], call).get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            fields = cast(dict[str, object], function)
            arguments = fields.get("arguments")
            found.append((str(fields.get("name")), arguments if isinstance(arguments, str) else ""))
    return found
