"""A stored session as ACP `session/update`s (for `session/load`), and a prompt's content
blocks as the text the runtime takes.

Replayed: the user's messages, the agents' text, every tool call with its final status
and its result, the plan as it stands. Left out: what only the runtime needs (switch
notes, nudges, compaction records, the classifier's routing).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from acp import helpers
from acp.schema import PlanEntry, ToolCallStatus

from protocol.enums import MessageRole
from protocol.methods import GetSessionResult, MessageInfo
from protocol.notifications import ToolCallNotification
from protocol.plans import Plan
from server.acp.tools import KINDS, locations, text_content, title
from server.context.fit import json_object

SHOWN_RESULT = 4_000
"""Characters of a stored tool result replayed as the call's content."""

USER_KINDS = frozenset({"task", "answer", "message", "revision", "plan_rejected"})


def updates(state: GetSessionResult, root: Path) -> Iterator[Any]:
    results = {m.tool_call_id: m for m in state.messages if m.role is MessageRole.TOOL and m.tool_call_id}
    pending = {p.call_id for p in state.pending_tool_calls}
    statuses = {a.call_id: a.decision.value for a in state.approvals}
    for m in state.messages:
        if m.role is MessageRole.USER and m.kind in USER_KINDS and m.subtask_id is None:
            yield helpers.update_user_message_text(m.content)
        elif m.role is MessageRole.ASSISTANT:
            if m.content and m.kind != "nudge":
                yield helpers.update_agent_message_text(m.content)
            for raw in m.tool_calls or []:
                found = results.get(str(raw.get("id")))
                yield _call(raw, found, pending=pending, statuses=statuses, root=root)
    if state.plan is not None:
        yield plan_update(state.plan)


SUBTASK_STATUS = {"pending": "pending", "in_progress": "in_progress", "done": "completed", "skipped": "completed"}


def plan_update(plan: Plan) -> Any:
    """A plan as ACP's `plan` update: one entry per subtask, its status kept current."""
    entries = [
        PlanEntry(
            content=s.title + (f" — {s.description}" if s.description else ""),
            status=SUBTASK_STATUS.get(s.status.value, "pending"),  # pyright: ignore[reportArgumentType]
            priority="medium",
        )
        for s in plan.subtasks
    ]
    return helpers.update_plan(entries)


def _call(
    raw: dict[str, Any],
    result: MessageInfo | None,
    *,
    pending: set[str],
    statuses: dict[str, str],
    root: Path,
) -> Any:
    function = cast(dict[str, object], raw.get("function") or {})
    call_id = str(raw.get("id"))
    arguments = json_object(str(function.get("arguments") or "{}"))
    call = ToolCallNotification(
        session_id="",
        turn_id="",
        call_id=call_id,
        name=str(function.get("name")),
        arguments=dict(arguments),
        requires_approval=False,
    )
    status: ToolCallStatus
    if call_id in pending:
        status = "pending"
    elif (
        result is None
        or result.kind in ("refused", "cancelled")
        or statuses.get(call_id) == "refused"
        or result.content.startswith(("Error", "The user rejected"))
    ):
        status = "failed"
    else:
        status = "completed"
    content = [text_content(result.content[:SHOWN_RESULT])] if result is not None and result.content else None
    return helpers.start_tool_call(
        call_id,
        title(call),
        kind=KINDS.get(call.name, "other"),  # pyright: ignore[reportArgumentType]
        status=status,
        content=content,
        locations=locations(call, root),
        raw_input=call.arguments,
    )


def prompt_text(blocks: Sequence[Any]) -> str:
    """The prompt as the runtime takes it: its text, then each embedded resource as a
    fenced block naming its file, and each link as a mention."""
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(str(block.text))
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            if isinstance(text, str):
                parts.append(f"Context from {_where(resource.uri)}:\n```\n{text}\n```")
            else:
                parts.append(f"(Attached: {_where(resource.uri)}, binary; not shown.)")
        elif kind == "resource_link":
            parts.append(f"(See {_where(block.uri)}.)")
    return "\n\n".join(p for p in parts if p)


def _where(uri: str) -> str:
    return uri.removeprefix("file://")
