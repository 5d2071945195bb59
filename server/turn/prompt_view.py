"""What a model is shown: the prompt views built from persisted messages.

- An agent sees the user's messages and every agent's text, but tool calls and tool
  results only from its own segment (since the last switch): it never sees calls to
  tools it does not have.
- Every tool call it sees is followed by exactly one result; a call whose result is
  missing (it cannot happen after a clean commit, but a view must never break the
  invariant) gets a synthesized one.
- A plan's subtask sees only its own thread, which starts with its brief (the goal,
  the subtask, the results of its dependencies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from protocol.enums import MessageRole
from server.agents import texts
from server.agents.specs import AgentSpec
from server.context.fit import (
    SUMMARY_GROUP,
    SUMMARY_HEADING,
    SYSTEM_GROUP,
    Entry,
    Marks,
    compose,
    cut,
    is_compaction,
    pinned,
    target_of,
)
from server.context.window import Meter
from storage.records import MessageRow, PlanRow, SubtaskRow

MISSING_RESULT = "No result was recorded for this tool call (it was interrupted)."


def system_prompt(spec: AgentSpec, workspace_root: Path) -> str:
    return f"{spec.prompt}\n\nThe workspace root is {workspace_root}. Tool paths are relative to it."


def agent_entries(spec: AgentSpec, thread: Sequence[MessageRow], segment: int, workspace_root: Path) -> list[Entry]:
    """Everything the agent may see of its thread, uncompacted (`server.context.fit`
    decides what of it is shown)."""
    results = {m.tool_call_id: m for m in thread if m.role is MessageRole.TOOL and m.segment == segment}
    entries = [_system_entry(spec, workspace_root)]
    for group, message in enumerate(thread):
        entries += _entries_of(message, group, segment, results) or ()
    return entries


def _system_entry(spec: AgentSpec, workspace_root: Path) -> Entry:
    return Entry({"role": "system", "content": system_prompt(spec, workspace_root)}, 0, SYSTEM_GROUP, True)


def _entries_of(
    message: MessageRow, group: int, segment: int, results: Mapping[str | None, MessageRow], *, whole: bool = False
) -> list[Entry] | None:
    """The entries of one message (an assistant's calls come with their results). With
    `whole`, None for calls whose results are not all recorded yet."""
    if is_compaction(message):
        return []
    if message.role is MessageRole.USER:
        return [Entry({"role": "user", "content": message.content}, message.seq, group, pinned(message))]
    if message.role is MessageRole.SYSTEM:
        return [Entry({"role": "user", "content": texts.system_note(message.content)}, message.seq, group)]
    if message.role is not MessageRole.ASSISTANT:
        return []
    if not (message.tool_calls and message.segment == segment):
        return [Entry({"role": "assistant", "content": message.content}, message.seq, group)] if message.content else []
    if whole and any(call.id not in results for call in message.tool_calls):
        return None
    shown: dict[str, Any] = {
        "role": "assistant",
        "content": message.content or None,
        "tool_calls": [c.to_openai() for c in message.tool_calls],
    }
    if message.meta and message.meta.get("thinkingBlocks"):
        shown["thinking_blocks"] = message.meta["thinkingBlocks"]
    entries = [Entry(shown, message.seq, group)]
    for call in message.tool_calls:
        result = results.get(call.id)
        content = result.content if result else MISSING_RESULT
        entries.append(
            Entry(
                {"role": "tool", "tool_call_id": call.id, "content": content},
                result.seq if result else message.seq,
                group,
                tool=call.name,
                target=target_of(call.arguments),
            )
        )
    return entries


class AgentView:
    """`agent_entries` and `Marks.of` of one thread for one agent and segment, kept and
    extended as the thread grows: a step builds entries for its new messages only.

    A message's entries are kept once they are final (an assistant's calls once all their
    results are recorded); the same objects are shown at every later step, so the
    prompt's prefix stays byte-for-byte the same between compactions. Token counts of
    kept messages are remembered too."""

    def __init__(self, spec: AgentSpec, segment: int, workspace_root: Path) -> None:
        self.key = (spec.name, segment, workspace_root)
        self._segment = segment
        self._kept = [_system_entry(spec, workspace_root)]
        self._done = 0
        """Rows of the thread whose entries are kept."""
        self._results: dict[str | None, MessageRow] = {}
        self._indexed = 0
        self.marks = Marks()
        self._counts: dict[int, int] = {}
        """Tokens of kept messages, by the message's id (a kept message lives as long as this view)."""
        self._counted_for = ""
        self._counts[id(self._kept[0].message)] = -1
        self._composed_for: tuple[Marks, int] | None = None
        self._composed: list[Entry] = []
        """`compose` of `_kept[:_composed_upto]`, none of them of the newest group."""
        self._composed_upto = 0
        self._summary_after = 0
        """Where the summary note goes in `_composed` (0: nothing there is summarised)."""
        self._composed_counts: list[int] = []
        """Token counts of `_composed`, as far as counted."""
        self._composed_messages: list[dict[str, Any]] = []
        """The messages of `_composed`."""
        self._shown: list[Entry] | None = None
        """What `compose` last returned, its messages, and where its summary note is (-1: none)."""
        self._shown_messages: list[dict[str, Any]] = []
        self._note_at = -1

    def entries(self, thread: Sequence[MessageRow]) -> list[Entry]:
        """The thread's entries, as `agent_entries` gives them."""
        fresh = thread[self._indexed :]
        self._indexed = len(thread)
        for m in fresh:
            if m.role is MessageRole.TOOL and m.segment == self._segment:
                self._results[m.tool_call_id] = m
        self.marks = _marked(self.marks, fresh)
        while self._done < len(thread):
            built = _entries_of(thread[self._done], self._done, self._segment, self._results, whole=True)
            if built is None:
                break
            for entry in built:
                self._kept.append(entry)
                self._counts.setdefault(id(entry.message), -1)
            self._done += 1
        tail = [
            e
            for group in range(self._done, len(thread))
            for e in _entries_of(thread[group], group, self._segment, self._results) or ()
        ]
        return [*self._kept, *tail]

    def compose(self, entries: Sequence[Entry], marks: Marks, view_limit: int) -> list[Entry]:
        """`compose(entries, marks, view_limit)` of the entries this view last gave,
        composing only what is new: a kept entry of any group but the newest is shown
        the same way at every later step under the same marks, so it is composed once."""
        kept = len(self._kept)
        ours = len(entries) >= kept and entries[0] is self._kept[0] and entries[kept - 1] is self._kept[-1]
        if not ours:  # not what `entries` gave: compose it whole
            return compose(entries, marks, view_limit)
        if (marks, view_limit) != self._composed_for:
            self._composed_for = (marks, view_limit)
            self._composed, self._composed_upto, self._summary_after = [], 0, 0
            self._composed_counts, self._composed_messages = [], []
        plain = replace(marks, summary=None)  # the note is placed below, over the whole view
        last = entries[-1].group
        final = self._composed_upto
        while final < len(self._kept) and self._kept[final].group != last:
            final += 1
        if final > self._composed_upto:
            # the newest group's entries are shown differently while they are the newest:
            # compose the rest as the whole view would, with a stand-in for that group
            stand_in = Entry({"role": "user", "content": ""}, 0, last)
            done = compose([*self._kept[self._composed_upto : final], stand_in], plain, view_limit)[:-1]
            self._summary_after = _summary_after(done, marks, len(self._composed)) or self._summary_after
            self._composed += done
            self._composed_messages += [e.message for e in done]
            self._composed_upto = final
        rest = compose(entries[final:], plain, view_limit)
        shown = [*self._composed, *rest]
        messages = [*self._composed_messages, *(e.message for e in rest)]
        self._note_at = -1
        if marks.summary is not None:
            self._note_at = max(_summary_after(rest, marks, len(self._composed)) or self._summary_after, 1)
            note = {"role": "user", "content": f"{SUMMARY_HEADING}\n\n{marks.summary}"}
            shown.insert(self._note_at, Entry(note, marks.through, SUMMARY_GROUP, True))
            messages.insert(self._note_at, note)
        self._shown, self._shown_messages = shown, messages
        return shown

    def messages(self, shown: Sequence[Entry]) -> list[dict[str, Any]]:
        """The messages of `shown` (in the chat format the model is sent): kept in step with
        what `compose` last returned, so a step does not walk the whole view again."""
        if shown is self._shown:
            return self._shown_messages
        return [e.message for e in shown]

    async def count(self, meter: Meter, model: str, shown: Sequence[Entry]) -> list[int]:
        """`meter.count(model, …)` of the shown entries, counting only what is new."""
        if model != self._counted_for:
            self._counts = dict.fromkeys(self._counts, -1)
            self._composed_counts = []
            self._counted_for = model
        if shown is not self._shown:
            return await self._count(meter, model, shown)
        # what `compose` gave last: the composed part's counts are kept in step with it
        composed = len(self._composed)
        if len(self._composed_counts) < composed:
            self._composed_counts += await self._count(meter, model, self._composed[len(self._composed_counts) :])
        rest = list(shown)
        if self._note_at >= 0:
            del rest[self._note_at]
        counts = [*self._composed_counts[:composed], *await self._count(meter, model, rest[composed:])]
        if self._note_at >= 0:
            counts.insert(self._note_at, (await meter.count(model, [shown[self._note_at].message]))[0])
        return counts

    async def _count(self, meter: Meter, model: str, shown: Sequence[Entry]) -> list[int]:
        known = [self._counts.get(id(e.message), -1) for e in shown]
        todo = [i for i, tokens in enumerate(known) if tokens < 0]
        if todo:
            counted = await meter.count(model, [shown[i].message for i in todo])
            for i, tokens in zip(todo, counted, strict=True):
                known[i] = tokens
                key = id(shown[i].message)
                if key in self._counts:
                    self._counts[key] = tokens
        return known


def _summary_after(shown: Sequence[Entry], marks: Marks, offset: int) -> int:
    """The position after the last of `shown` (placed at `offset`) that a summary
    through `marks.through` covers, as `compose` places the summary note; 0 for none."""
    for index in range(len(shown) - 1, -1, -1):
        seq = shown[index].seq
        if seq and seq <= marks.through:
            return offset + index + 1
    return 0


def _marked(marks: Marks, rows: Sequence[MessageRow]) -> Marks:
    """`marks` moved on by the compaction rows among `rows` (as `Marks.of` reads them)."""
    newer = Marks.of(rows)
    if newer == Marks():
        return marks
    elide = max(marks.elide_before, newer.elide_before)
    if newer.summary is None:
        return replace(marks, elide_before=elide)
    return replace(newer, elide_before=elide)


def classifier_view(prompt: str, task: str, limit: int) -> list[dict[str, Any]]:
    """The classifier sees the task, cut to head and tail if it is longer than `limit` characters."""
    return [{"role": "system", "content": prompt}, {"role": "user", "content": cut(task, limit)}]


def subtask_brief(plan: PlanRow, subtask: SubtaskRow) -> str:
    """The first message of a subtask's thread: all its agent knows of the plan."""
    by_id = {s.id: s for s in plan.subtasks}
    lines = [
        "You are working on one subtask of a plan that the user approved.",
        "",
        texts.SUBTASK_HEADING.format(id=subtask.id, title=subtask.title),
        subtask.description or "(no further description)",
        "",
        f"The plan's goal: {plan.goal}",
    ]
    if subtask.dependencies:
        lines += ["", "Results of the subtasks this one depends on:"]
        for dep_id in subtask.dependencies:
            dep = by_id[dep_id]
            result = dep.result if dep.status == "done" else "(skipped by the user: no result; check for yourself)"
            lines.append(f"- {dep.id} ({dep.title}): {result}")
    others = [s for s in plan.subtasks if s.id != subtask.id and s.id not in subtask.dependencies]
    if others:
        lines += [
            "",
            "Other subtasks, done by other agents (do not do them): " + "; ".join(f"{s.id} {s.title}" for s in others),
        ]
    lines += ["", "When your subtask is done, call attempt_completion with its result."]
    return "\n".join(lines)
