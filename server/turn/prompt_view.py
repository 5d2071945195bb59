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
from storage.records import MessageRow, PlanRow, SubtaskRow

MISSING_RESULT = "No result was recorded for this tool call (it was interrupted)."


def system_prompt(spec: AgentSpec, workspace_root: Path) -> str:
    return f"{spec.prompt}\n\nThe workspace root is {workspace_root}. Tool paths are relative to it."


def agent_view(
    spec: AgentSpec, thread: Sequence[MessageRow], segment: int, workspace_root: Path
) -> list[dict[str, Any]]:
    results = {m.tool_call_id: m for m in thread if m.role is MessageRole.TOOL and m.segment == segment}
    view: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(spec, workspace_root)}]
    for message in thread:
        if message.role is MessageRole.USER:
            view.append({"role": "user", "content": message.content})
        elif message.role is MessageRole.SYSTEM:
            view.append({"role": "user", "content": texts.system_note(message.content)})
        elif message.role is MessageRole.ASSISTANT:
            if message.tool_calls and message.segment == segment:
                view.append(
                    {
                        "role": "assistant",
                        "content": message.content or None,
                        "tool_calls": [c.to_openai() for c in message.tool_calls],
                    }
                )
                for call in message.tool_calls:
                    result = results.get(call.id)
                    content = result.content if result else MISSING_RESULT
                    view.append({"role": "tool", "tool_call_id": call.id, "content": content})
            elif message.content:
                view.append({"role": "assistant", "content": message.content})
    return view


def classifier_view(prompt: str, task: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": prompt}, {"role": "user", "content": task}]


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
