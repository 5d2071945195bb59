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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.enums import MessageRole
from server.agents import texts
from server.agents.specs import AgentSpec
from server.context.fit import SYSTEM_GROUP, Entry, Marks, compose, cut, is_compaction, pinned, target_of
from storage.records import MessageRow, PlanRow, SubtaskRow

MISSING_RESULT = "No result was recorded for this tool call (it was interrupted)."


def system_prompt(spec: AgentSpec, workspace_root: Path) -> str:
    return f"{spec.prompt}\n\nThe workspace root is {workspace_root}. Tool paths are relative to it."


def agent_entries(spec: AgentSpec, thread: Sequence[MessageRow], segment: int, workspace_root: Path) -> list[Entry]:
    """Everything the agent may see of its thread, uncompacted (`server.context.fit`
    decides what of it is shown)."""
    results = {m.tool_call_id: m for m in thread if m.role is MessageRole.TOOL and m.segment == segment}
    entries = [Entry({"role": "system", "content": system_prompt(spec, workspace_root)}, 0, SYSTEM_GROUP, True)]
    for group, message in enumerate(thread):
        if is_compaction(message):
            continue
        if message.role is MessageRole.USER:
            entries.append(Entry({"role": "user", "content": message.content}, message.seq, group, pinned(message)))
        elif message.role is MessageRole.SYSTEM:
            entries.append(Entry({"role": "user", "content": texts.system_note(message.content)}, message.seq, group))
        elif message.role is MessageRole.ASSISTANT:
            if message.tool_calls and message.segment == segment:
                shown: dict[str, Any] = {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [c.to_openai() for c in message.tool_calls],
                }
                if message.meta and message.meta.get("thinkingBlocks"):
                    shown["thinking_blocks"] = message.meta["thinkingBlocks"]
                entries.append(Entry(shown, message.seq, group))
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
            elif message.content:
                entries.append(Entry({"role": "assistant", "content": message.content}, message.seq, group))
    return entries


def agent_view(
    spec: AgentSpec, thread: Sequence[MessageRow], segment: int, workspace_root: Path, view_limit: int
) -> list[dict[str, Any]]:
    """What the agent is shown under the thread's recorded compactions."""
    entries = agent_entries(spec, thread, segment, workspace_root)
    return [e.message for e in compose(entries, Marks.of(thread), view_limit)]


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
