"""The context budget of an agent's model call: the prompt it is shown, compacted
when it would pass the threshold of the model's window (`server.context` has the
rules; this module counts, decides and commits).

A compaction is committed as a row of the thread (`ELISION` or `SUMMARY`, with what it
covers in `meta`) before the model call it makes room for; later steps compose the same
view from it, so nothing is recomputed every step, the prompt stays an append-only
prefix until the next compaction, and a crash at any point repeats nothing: killed
during the summary call, the step starts over and writes the summary then.

A provider that still refuses the prompt as too long teaches the meter a smaller
window; the prompt is compacted for it and sent again, at most `OVERFLOW_RETRIES` times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from protocol.enums import MessageRole, StatusEvent
from protocol.errors import ModelError
from server.agents.specs import AgentSpec
from server.agents.toolbox import AnyTool
from server.context import summary
from server.context.fit import Entry, Marks, compose, elide_all, elision_point, summary_split
from server.context.window import estimate_offered
from server.models.base import ContextOverflow, ModelReply, ModelRequest
from server.turn.deps import Kit, Scope
from storage.records import MessageKind, SessionRow

log = logging.getLogger(__name__)

ROOM = 0.6
"""A compaction brings the prompt to this share of the threshold, leaving room to grow
(and the prompt cache to hit) for a while before the next one."""
KEEP = 0.5
"""A summary keeps the newest turns that fit in this share of the target verbatim."""


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, Any]]
    tokens: int
    """What the prompt takes, counted (tools included)."""
    window: int


def view_limit(max_chars: int, window: int) -> int:
    """The longest tool result shown whole: the setting, or a quarter of a small window."""
    return max(1_000, min(max_chars, window))


async def agent_prompt(
    kit: Kit, s: SessionRow, spec: AgentSpec, *, scope: Scope, tools: Sequence[AnyTool], cancel: asyncio.Event
) -> Prompt:
    """The messages for the agent's next model call, within its budget (`tools`: those
    offered with it, which take their share of the window)."""
    settings = kit.settings()
    llm = settings.llm
    window = await kit.meter.window(llm.model, llm.context_window)
    threshold = int(window * llm.compaction_threshold)
    limit = view_limit(settings.limits.max_view_result_chars, window)
    entries, view = await kit.threads.view(s.id, scope, spec, s.switch_count, settings.workspace_root)
    marks = view.marks
    fixed = estimate_offered([t.schema_chars for t in tools])

    async def measure(shown: Sequence[Entry]) -> tuple[list[int], int]:
        counts = await view.count(kit.meter, llm.model, shown)
        return counts, sum(counts) + fixed

    shown = view.compose(entries, marks, limit)
    counts, total = await measure(shown)
    if total <= threshold:
        return Prompt(view.messages(shown), total, window)

    target = int(threshold * ROOM)
    point = elision_point(shown, counts, total, target)
    if point is not None:
        marks = replace(marks, elide_before=point[0])
        shown = compose(entries, marks, limit)
        _, after = await measure(shown)
        note = _elision_note(entries, shown)
        await _record(
            kit, s, scope, kind=MessageKind.ELISION, content=note, marks=marks, before=total, after=after, window=window
        )
        return Prompt(view.messages(shown), after, window)

    elided = replace(marks, elide_before=max(marks.elide_before, elide_all(shown)))
    bare = compose(entries, elided, limit)
    bare_counts, _ = await measure(bare)
    through = summary_split(bare, bare_counts, int(target * KEEP), marks.through)
    if through is None:
        # nothing older is left to summarise: show all that can be elided and go
        shown = bare
        _, after = await measure(shown)
        if elided.elide_before != marks.elide_before:
            note = _elision_note(entries, shown)
            await _record(
                kit,
                s,
                scope,
                kind=MessageKind.ELISION,
                content=note,
                marks=elided,
                before=total,
                after=after,
                window=window,
            )
        return Prompt(view.messages(shown), after, window)

    text, usage = await _summarise(kit, s, spec, shown=shown, marks=marks, through=through, cancel=cancel)
    summarised = _groups_through(entries, through)
    marks = replace(elided, summary=summary.compose_summary(text, summarised), through=through)
    shown = compose(entries, marks, limit)
    _, after = await measure(shown)
    await _record(
        kit,
        s,
        scope,
        kind=MessageKind.SUMMARY,
        content=marks.summary or "",
        marks=marks,
        before=total,
        after=after,
        window=window,
        usage=usage,
    )
    return Prompt(view.messages(shown), after, window)


def _groups_through(entries: Sequence[Entry], through: int) -> list[Entry]:
    """Every entry a summary through `through` replaces (the user's own words stay)."""
    groups = {e.group for e in entries if e.seq and e.seq <= through and not e.pinned}
    return [e for e in entries if e.group in groups and not e.pinned]


async def _summarise(
    kit: Kit,
    s: SessionRow,
    spec: AgentSpec,
    *,
    shown: Sequence[Entry],
    marks: Marks,
    through: int,
    cancel: asyncio.Event,
) -> tuple[str, Usage]:
    """A model writes the summary of what is shown of the turns up to `through`."""
    llm = kit.settings().llm
    model = llm.compaction_model or llm.model
    own_window = await kit.meter.window(model, llm.context_window if model == llm.model else None)
    older = [e for e in _groups_through(shown, through) if e.group >= 0]
    asked = [e for e in shown if e.pinned and e.group >= 0]
    budget_chars = int(own_window * 0.5) * 3
    messages = summary.request(asked, marks.summary, older, budget_chars)
    request = ModelRequest(agent=spec.name, purpose="compact", messages=messages)
    reply, duration_ms = await kit.caller.call(s, model, request, cancel)
    written = reply.text.strip()
    if not written:
        log.warning("session %s: the summarising model wrote nothing; keeping the runtime's record only", s.id)
        written = "(The summarising model wrote nothing; what the runtime recorded follows.)"
    return written, Usage(reply, duration_ms)


@dataclass(frozen=True)
class Usage:
    """The summary call's usage, committed with the summary."""

    reply: ModelReply
    duration_ms: int


def _elision_note(entries: Sequence[Entry], shown: Sequence[Entry]) -> str:
    sizes = {e.seq: len(e.content.encode()) for e in entries if e.is_result}
    elided = [e.seq for e in shown if e.elided]
    total = sum(sizes.get(seq, 0) for seq in elided)
    return f"{len(elided)} older tool results ({total:,} bytes) are shown to the model as one-line stubs."


async def _record(
    kit: Kit,
    s: SessionRow,
    scope: Scope,
    *,
    kind: MessageKind,
    content: str,
    marks: Marks,
    before: int,
    after: int,
    window: int,
    usage: Usage | None = None,
) -> None:
    meta: dict[str, Any] = {
        "elideBefore": marks.elide_before,
        "tokensBefore": before,
        "tokensAfter": after,
        "window": window,
    }
    if kind is MessageKind.SUMMARY:
        meta["through"] = marks.through
    async with kit.commit(s.id) as unit:
        if usage is not None:
            await unit.count_call(s.current_agent, usage.reply, usage.duration_ms)
        await unit.say(MessageRole.SYSTEM, content, kind=kind, scope=scope, meta=meta)
        what = "older turns summarised" if kind is MessageKind.SUMMARY else "old tool results elided"
        unit.status(
            StatusEvent.CONTEXT_COMPACTED,
            f"context compacted ({what}): {before:,} → {after:,} tokens of a {window:,}-token window",
            {"agent": s.current_agent, "kind": kind.value, **meta},
        )
    log.info("session %s: context compacted (%s): %d → %d tokens", s.id, kind, before, after)


OVERFLOW_RETRIES = 2
"""How many times a prompt refused as too long is compacted harder and sent again."""


async def call_within_budget(
    kit: Kit,
    s: SessionRow,
    spec: AgentSpec,
    *,
    scope: Scope,
    cancel: asyncio.Event,
    offered: Sequence[AnyTool] | None = None,
) -> tuple[ModelReply, int]:
    """The model's reply to the agent's prompt, within the context budget. A prompt the
    provider refuses as too long teaches the meter a smaller window and is compacted
    harder and sent again, at most `OVERFLOW_RETRIES` times; never in a loop. `offered`:
    the tools of this step (default: the agent's built-in ones)."""
    model = kit.settings().llm.model
    offered = spec.tools if offered is None else offered
    tools = [t.openai_schema() for t in offered]
    attempt = 0
    while True:
        prompt = await agent_prompt(kit, s, spec, scope=scope, tools=offered, cancel=cancel)
        request = ModelRequest(agent=spec.name, purpose="agent", messages=prompt.messages, tools=tools)
        try:
            return await kit.caller.call(s, model, request, cancel)
        except ContextOverflow as exc:
            if attempt == OVERFLOW_RETRIES:
                raise ModelError(
                    f"the model {model} refused the prompt as longer than its context window, even after "
                    f"compacting it {OVERFLOW_RETRIES} times (the last prompt took about {prompt.tokens:,} tokens). "
                    "Set llm.contextWindow (or --context-window) to the model's real window, or choose a model "
                    f"with a larger one. The provider said: {exc}"
                ) from exc
            attempt += 1
            window = kit.meter.refused(model, prompt.tokens)
            log.warning(
                "session %s: %s refused %d tokens as too long; compacting for a %d-token window (retry %d of %d)",
                s.id,
                model,
                prompt.tokens,
                window,
                attempt,
                OVERFLOW_RETRIES,
            )
