"""Tool calls: each one the model made, pending until answered."""

from __future__ import annotations

import json

from protocol.enums import ExecutedBy, ToolCallStatus, ToolResultStatus
from storage.records import ToolCallRow, dumps, now
from storage.repos.base import Repo, Row


def _call(row: Row) -> ToolCallRow:
    return ToolCallRow(
        call_id=row["call_id"],
        session_id=row["session_id"],
        turn_id=row["turn_id"],
        message_seq=row["message_seq"],
        name=row["name"],
        arguments=json.loads(row["arguments"]),
        status=ToolCallStatus(row["status"]),
        requires_approval=bool(row["requires_approval"]),
        reason=row["reason"],
        result_status=ToolResultStatus(row["result_status"]) if row["result_status"] else None,
        plan_id=row["plan_id"],
        subtask_id=row["subtask_id"],
        created_at=row["created_at"],
        answered_at=row["answered_at"],
        executed_by=ExecutedBy(row["executed_by"]),
        server=row["server"],
        read_only=bool(row["read_only"]),
        approved_at=row["approved_at"],
        started_at=row["started_at"],
        starts=row["starts"],
    )


class ToolCallRepo(Repo):
    async def add(self, call: ToolCallRow) -> None:
        await self._run(
            "INSERT INTO tool_calls (call_id, session_id, turn_id, message_seq, name, arguments, status,"
            " requires_approval, reason, result_status, plan_id, subtask_id, created_at, answered_at,"
            " executed_by, server, read_only, approved_at, started_at, starts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call.call_id,
                call.session_id,
                call.turn_id,
                call.message_seq,
                call.name,
                dumps(call.arguments),
                call.status,
                int(call.requires_approval),
                call.reason,
                call.result_status,
                call.plan_id,
                call.subtask_id,
                call.created_at,
                call.answered_at,
                call.executed_by,
                call.server,
                int(call.read_only),
                call.approved_at,
                call.started_at,
                call.starts,
            ),
        )

    async def get(self, session_id: str, call_id: str) -> ToolCallRow | None:
        row = await self._one("SELECT * FROM tool_calls WHERE session_id = ? AND call_id = ?", (session_id, call_id))
        return _call(row) if row else None

    async def pending(self, session_id: str) -> list[ToolCallRow]:
        rows = await self._all(
            "SELECT * FROM tool_calls WHERE session_id = ? AND status = 'pending' ORDER BY message_seq, rowid",
            (session_id,),
        )
        return [_call(r) for r in rows]

    async def cleared(self, session_id: str) -> list[ToolCallRow]:
        """The session's server-executed calls cleared to run and not answered yet."""
        rows = await self._all(
            "SELECT * FROM tool_calls WHERE session_id = ? AND status = 'pending' AND executed_by = 'server'"
            " AND approved_at IS NOT NULL ORDER BY message_seq, rowid",
            (session_id,),
        )
        return [_call(r) for r in rows]

    async def answer(self, call_id: str, status: ToolCallStatus, result_status: ToolResultStatus | None) -> bool:
        """Close a pending call. False when it was not pending (nothing changes)."""
        changed = await self._run(
            "UPDATE tool_calls SET status = ?, result_status = ?, answered_at = ? WHERE call_id = ? AND status = 'pending'",
            (status, result_status, now(), call_id),
        )
        return changed == 1

    async def approve(self, call_id: str) -> bool:
        """Clear a pending server-executed call to run. False when it was not waiting for
        approval (answered, or approved already): nothing changes."""
        changed = await self._run(
            "UPDATE tool_calls SET approved_at = ? WHERE call_id = ? AND status = 'pending' AND executed_by = 'server'"
            " AND approved_at IS NULL",
            (now(), call_id),
        )
        return changed == 1

    async def start(self, call_id: str) -> None:
        """A server-executed call begins to run (committed before it does)."""
        await self._run(
            "UPDATE tool_calls SET started_at = ?, starts = starts + 1 WHERE call_id = ? AND status = 'pending'",
            (now(), call_id),
        )

    async def ask_again(self, call_id: str, reason: str) -> None:
        """A server-executed call that was cut off goes back to the user, who decides
        whether it runs again."""
        await self._run(
            "UPDATE tool_calls SET approved_at = NULL, started_at = NULL, requires_approval = 1, reason = ?"
            " WHERE call_id = ? AND status = 'pending'",
            (reason, call_id),
        )

    async def for_session(self, session_id: str) -> list[ToolCallRow]:
        rows = await self._bulk(
            "SELECT * FROM tool_calls WHERE session_id = ? ORDER BY message_seq, rowid", (session_id,)
        )
        return [_call(r) for r in rows]
