"""Messages: the transcript, main thread and plan subtasks alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from protocol.enums import AgentName, MessageRole
from storage.records import MessageKind, MessageRow, ModelToolCall, ThreadScope, dumps, now
from storage.repos.base import Repo, Row


def _message(row: Row) -> MessageRow:
    calls: list[dict[str, str]] = json.loads(row["tool_calls"]) if row["tool_calls"] else []
    return MessageRow(
        seq=row["seq"],
        session_id=row["session_id"],
        turn_id=row["turn_id"],
        role=MessageRole(row["role"]),
        agent=AgentName(row["agent"]) if row["agent"] else None,
        content=row["content"],
        tool_calls=tuple(ModelToolCall(c["id"], c["name"], c["arguments"]) for c in calls),
        tool_call_id=row["tool_call_id"],
        kind=MessageKind(row["kind"]),
        segment=row["segment"],
        plan_id=row["plan_id"],
        subtask_id=row["subtask_id"],
        attempt=row["attempt"],
        created_at=row["created_at"],
        meta=json.loads(row["meta"]) if row["meta"] else None,
    )


class MessageRepo(Repo):
    async def add(
        self,
        session_id: str,
        *,
        role: MessageRole,
        content: str,
        segment: int,
        turn_id: str | None,
        agent: AgentName | None = None,
        tool_calls: Sequence[ModelToolCall] = (),
        tool_call_id: str | None = None,
        kind: MessageKind = MessageKind.MESSAGE,
        scope: ThreadScope | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        plan_id, subtask_id, attempt = (scope.plan_id, scope.subtask_id, scope.attempt) if scope else (None,) * 3
        calls = (
            dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in tool_calls]) if tool_calls else None
        )
        self._link.wrote_messages(session_id)
        return await self._insert(
            "INSERT INTO messages (session_id, turn_id, role, agent, content, tool_calls, tool_call_id, kind,"
            " segment, plan_id, subtask_id, attempt, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                turn_id,
                role,
                agent,
                content,
                calls,
                tool_call_id,
                kind,
                segment,
                plan_id,
                subtask_id,
                attempt,
                now(),
                dumps(meta) if meta is not None else None,
            ),
        )

    async def for_session(self, session_id: str) -> list[MessageRow]:
        rows = await self._bulk("SELECT * FROM messages WHERE session_id = ? ORDER BY seq", (session_id,))
        return [_message(r) for r in rows]

    async def main_thread(self, session_id: str, after: int = 0) -> list[MessageRow]:
        """The conversation outside any plan subtask (messages after seq `after`)."""
        rows = await self._all(
            "SELECT * FROM messages WHERE session_id = ? AND subtask_id IS NULL AND seq > ? ORDER BY seq",
            (session_id, after),
        )
        return [_message(r) for r in rows]

    async def subtask_thread(self, session_id: str, scope: ThreadScope, after: int = 0) -> list[MessageRow]:
        rows = await self._all(
            "SELECT * FROM messages WHERE session_id = ? AND plan_id = ? AND subtask_id = ? AND attempt = ? AND seq > ?"
            " ORDER BY seq",
            (session_id, scope.plan_id, scope.subtask_id, scope.attempt, after),
        )
        return [_message(r) for r in rows]
