"""Fitting a thread into a window: pure functions over what a model is shown.

A view is a list of `Entry`s (a message in the provider's chat format and where it came
from). Three stages, cheapest first:

1. a tool result longer than the view limit is cut to its head and tail (always: it is
   a property of the result, so every step shows the same bytes);
2. old tool results are elided, oldest first, each replaced by a one-line stub that
   says what was there and how to get it again; the newest reply's results stay whole;
3. older turns are replaced by a summary (written by a model, stored as a row).

The stages' state is stored (`Marks`, read from the thread's compaction rows), so
between two compactions every step shows the same prefix plus what is new: the
prompt stays append-only and a provider's prompt cache keeps hitting.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from protocol.enums import MessageRole
from storage.records import MessageKind, MessageRow

SUMMARY_HEADING = "[Summary of the earlier work in this task, written when the context was compacted]"
STUB_TOKENS = 40
"""What a stub costs, roughly: a line of text."""
SYSTEM_GROUP = -2
"""The group of the system prompt."""
SUMMARY_GROUP = -1
"""The group of a summary shown in place of older turns."""


@dataclass(frozen=True, slots=True)
class Entry:
    message: dict[str, Any]
    """In the OpenAI chat format."""
    seq: int
    """The stored row's seq (0 for the system prompt)."""
    group: int
    """An assistant reply and its tool results share a group; every other message is one."""
    pinned: bool = False
    """Never compacted: the system prompt, the user's own words, a subtask's brief."""
    tool: str | None = None
    """For a tool result: the tool that produced it."""
    target: str | None = None
    """For a tool result: what it was about (a path, a command, a pattern)."""
    elided: bool = False
    """Shown as a stub."""

    @property
    def is_result(self) -> bool:
        return self.message.get("role") == "tool"

    @property
    def content(self) -> str:
        content = self.message.get("content")
        return content if isinstance(content, str) else ""

    def shown_as(self, content: str, *, elided: bool = False) -> Entry:
        return replace(self, message={**self.message, "content": content}, elided=elided)


@dataclass(frozen=True)
class Marks:
    """The compactions recorded in a thread: its newest summary and elision point."""

    summary: str | None = None
    through: int = 0
    """Rows up to this seq are replaced by the summary (the user's own words excepted)."""
    elide_before: int = 0
    """Tool results stored before this seq are shown as stubs."""

    @classmethod
    def of(cls, thread: Sequence[MessageRow]) -> Marks:
        marks = cls()
        for row in thread:
            if row.kind not in (MessageKind.SUMMARY, MessageKind.ELISION) or not row.meta:
                continue
            elide = int(row.meta.get("elideBefore", 0))
            marks = replace(marks, elide_before=max(marks.elide_before, elide))
            if row.kind is MessageKind.SUMMARY:
                marks = replace(marks, summary=row.content, through=int(row.meta.get("through", 0)))
        return marks


def is_compaction(row: MessageRow) -> bool:
    """A row that records a compaction (never shown to a model as a message itself)."""
    return row.kind in (MessageKind.SUMMARY, MessageKind.ELISION)


def pinned(row: MessageRow) -> bool:
    """The user's own words and a subtask's brief stay verbatim through every compaction."""
    return row.role is MessageRole.USER and row.kind is not MessageKind.NUDGE


def target_of(arguments: str) -> str | None:
    """What a tool call was about, for its stub: its path, command or pattern."""
    args = json_object(arguments)
    for key in ("path", "command", "pattern", "query", "url"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return value if len(value) <= 120 else value[:117] + "..."
    return None


def json_object(text: str) -> dict[str, object]:
    """`text` parsed as a JSON object; empty if it is not one."""
    try:
        parsed: object = json.loads(text)
    except ValueError:
        return {}
    return cast(dict[str, object], parsed) if isinstance(parsed, dict) else {}


def stub(entry: Entry) -> str:
    about = f"{entry.tool} {entry.target}" if entry.target else entry.tool or "tool result"
    size = len(entry.content.encode())
    return f"[{about}: {size:,} bytes elided to save context; run the tool again if you need it]"


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and tail with a marker."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    dropped = len(text) - head - tail
    marker = (
        f"\n[... {dropped:,} characters cut from the middle to save context; "
        "read a line range or filter the output to see them ...]\n"
    )
    return text[:head] + marker + text[-tail:]


def compose(entries: Sequence[Entry], marks: Marks, view_limit: int) -> list[Entry]:
    """The entries a model is shown under `marks`, results cut to `view_limit` characters."""
    last_group = entries[-1].group if entries else SYSTEM_GROUP
    summarised = {e.group for e in entries if e.seq and e.seq <= marks.through and not e.pinned}
    shown: list[Entry] = []
    summary_at = -1
    for entry in entries:
        if entry.group in summarised and not entry.pinned:
            continue
        if marks.summary is not None and entry.seq and entry.seq <= marks.through:
            summary_at = len(shown) + 1
        if not entry.is_result:
            shown.append(entry)
        elif entry.seq < marks.elide_before and entry.group != last_group:
            shown.append(entry.shown_as(stub(entry), elided=True))
        else:
            shown.append(entry.shown_as(cut(entry.content, view_limit)) if len(entry.content) > view_limit else entry)
    if marks.summary is not None:
        at = max(summary_at, 1)
        note = Entry(
            {"role": "user", "content": f"{SUMMARY_HEADING}\n\n{marks.summary}"}, marks.through, SUMMARY_GROUP, True
        )
        shown.insert(at, note)
    return shown


def elision_point(shown: Sequence[Entry], tokens: Sequence[int], total: int, target: int) -> tuple[int, int] | None:
    """The smallest new elision point that brings `total` to `target` or below, and the
    total it gives: (elide_before, tokens). None if eliding every old result is not enough."""
    last_group = shown[-1].group if shown else SYSTEM_GROUP
    for index, entry in enumerate(shown):
        if not entry.is_result or entry.group == last_group or entry.elided:
            continue
        total -= max(0, tokens[index] - STUB_TOKENS)
        if total <= target:
            return entry.seq + 1, total
    return None


def elide_all(shown: Sequence[Entry]) -> int:
    """The elision point that elides every result but the newest reply's."""
    last_group = shown[-1].group if shown else SYSTEM_GROUP
    seqs = [e.seq for e in shown if e.is_result and e.group != last_group]
    return max(seqs) + 1 if seqs else 0


def summary_split(shown: Sequence[Entry], tokens: Sequence[int], keep: int, through: int) -> int | None:
    """The seq through which to summarise: everything but the newest groups that fit in
    `keep` tokens (at least the newest group). None when nothing new would be summarised."""
    if not shown:
        return None
    groups: dict[int, int] = {}
    for entry, count in zip(shown, tokens, strict=True):
        groups[entry.group] = groups.get(entry.group, 0) + count
    kept: set[int] = set()
    used = 0
    for group in sorted((g for g in groups if g >= 0), reverse=True):
        if kept and used + groups[group] > keep:
            break
        kept.add(group)
        used += groups[group]
    older = [e.seq for e in shown if e.group not in kept and e.group >= 0 and not e.pinned and e.seq > through]
    return max(older) if older else None
