"""Repositories: every SQL statement of the product lives in this package.

A `Repos` is bound to one connection: `Database.read` to the reader (committed data
only), the value of `Database.transaction()` to the writer inside a transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from protocol.enums import (
    AgentName,
    MessageRole,
    PlanStatus,
    SessionState,
    SubtaskStatus,
    ToolCallStatus,
    ToolResultStatus,
)
from storage.records import (
    ApprovalRow,
    LeaseRow,
    MessageRow,
    ModelToolCall,
    PlanRow,
    SessionRow,
    SubtaskRow,
    ToolCallRow,
    TransitionRow,
    UsageRow,
    dumps,
    now,
)

Params = Sequence[Any]


class _Repo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # Each helper is one hop to aiosqlite's worker thread (the hops, not SQLite, are
    # what a step costs): no cursor objects, counts through RETURNING.

    async def _one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = list(await self._conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Params = ()) -> Iterable[aiosqlite.Row]:
        return await self._conn.execute_fetchall(sql, params)

    async def _run(self, sql: str, params: Params = ()) -> int:
        """Execute a data-changing statement; returns the number of rows it changed."""
        return len(list(await self._conn.execute_fetchall(sql + " RETURNING 1", params)))

    async def _insert(self, sql: str, params: Params = ()) -> int:
        row = await self._conn.execute_insert(sql, params)
        return int(row[0]) if row else 0


# --- sessions ----------------------------------------------------------------------

_SESSION_FIELDS = {
    "title",
    "state",
    "current_agent",
    "switch_count",
    "turn_id",
    "turn_steps",
    "nudges",
    "active_plan_id",
    "last_result",
}


def _session(row: aiosqlite.Row) -> SessionRow:
    return SessionRow(
        id=row["id"],
        title=row["title"],
        state=SessionState(row["state"]),
        current_agent=AgentName(row["current_agent"]),
        switch_count=row["switch_count"],
        turn_id=row["turn_id"],
        turn_steps=row["turn_steps"],
        nudges=row["nudges"],
        active_plan_id=row["active_plan_id"],
        last_result=row["last_result"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        workspace_root=row["workspace_root"],
    )


class SessionRepo(_Repo):
    async def create(
        self, session_id: str, title: str, agent: AgentName, workspace_root: str | None = None
    ) -> SessionRow:
        stamp = now()
        await self._run(
            "INSERT INTO sessions (id, title, state, current_agent, created_at, updated_at, workspace_root)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, title, SessionState.IDLE, agent, stamp, stamp, workspace_root),
        )
        row = await self.get(session_id)
        assert row is not None
        return row

    async def get(self, session_id: str) -> SessionRow | None:
        row = await self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    async def update(self, session_id: str, **fields: Any) -> str:
        """Change the given fields; returns the new `updated_at`."""
        unknown = set(fields) - _SESSION_FIELDS
        if unknown:
            raise ValueError(f"unknown session fields: {sorted(unknown)}")
        fields["updated_at"] = stamp = now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self._run(f"UPDATE sessions SET {assignments} WHERE id = ?", (*fields.values(), session_id))
        return stamp

    async def page(
        self, limit: int, after: tuple[str, str] | None, workspace_root: str | None = None
    ) -> list[SessionRow]:
        """Most recently updated first; `after` is the (updated_at, id) of the last row
        seen; with `workspace_root`, only that workspace's sessions."""
        where, params = ["1 = 1"], list[Any]()
        if workspace_root is not None:
            where.append("workspace_root = ?")
            params.append(workspace_root)
        if after is not None:
            where.append("(updated_at, id) < (?, ?)")
            params += list(after)
        rows = await self._all(
            f"SELECT * FROM sessions WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_session(r) for r in rows]

    async def in_states(self, states: Iterable[SessionState]) -> list[SessionRow]:
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        rows = await self._all(f"SELECT * FROM sessions WHERE state IN ({marks})", wanted)
        return [_session(r) for r in rows]

    async def delete(self, session_id: str) -> bool:
        return await self._run("DELETE FROM sessions WHERE id = ?", (session_id,)) > 0


# --- messages ----------------------------------------------------------------------


def _message(row: aiosqlite.Row) -> MessageRow:
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
        kind=row["kind"],
        segment=row["segment"],
        plan_id=row["plan_id"],
        subtask_id=row["subtask_id"],
        attempt=row["attempt"],
        created_at=row["created_at"],
    )


class MessageRepo(_Repo):
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
        kind: str = "message",
        scope: tuple[str, str, int] | None = None,
    ) -> int:
        plan_id, subtask_id, attempt = scope if scope else (None, None, None)
        calls = (
            dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in tool_calls]) if tool_calls else None
        )
        return await self._insert(
            "INSERT INTO messages (session_id, turn_id, role, agent, content, tool_calls, tool_call_id, kind,"
            " segment, plan_id, subtask_id, attempt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    async def for_session(self, session_id: str) -> list[MessageRow]:
        rows = await self._all("SELECT * FROM messages WHERE session_id = ? ORDER BY seq", (session_id,))
        return [_message(r) for r in rows]

    async def main_thread(self, session_id: str, after: int = 0) -> list[MessageRow]:
        """The conversation outside any plan subtask (messages after seq `after`)."""
        rows = await self._all(
            "SELECT * FROM messages WHERE session_id = ? AND subtask_id IS NULL AND seq > ? ORDER BY seq",
            (session_id, after),
        )
        return [_message(r) for r in rows]

    async def subtask_thread(self, session_id: str, scope: tuple[str, str, int], after: int = 0) -> list[MessageRow]:
        rows = await self._all(
            "SELECT * FROM messages WHERE session_id = ? AND plan_id = ? AND subtask_id = ? AND attempt = ? AND seq > ?"
            " ORDER BY seq",
            (session_id, *scope, after),
        )
        return [_message(r) for r in rows]


# --- tool calls --------------------------------------------------------------------


def _call(row: aiosqlite.Row) -> ToolCallRow:
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
    )


class ToolCallRepo(_Repo):
    async def add(self, call: ToolCallRow) -> None:
        await self._run(
            "INSERT INTO tool_calls (call_id, session_id, turn_id, message_seq, name, arguments, status,"
            " requires_approval, reason, result_status, plan_id, subtask_id, created_at, answered_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    async def answer(self, call_id: str, status: ToolCallStatus, result_status: ToolResultStatus | None) -> bool:
        """Close a pending call. False when it was not pending (nothing changes)."""
        changed = await self._run(
            "UPDATE tool_calls SET status = ?, result_status = ?, answered_at = ? WHERE call_id = ? AND status = 'pending'",
            (status, result_status, now(), call_id),
        )
        return changed == 1

    async def for_session(self, session_id: str) -> list[ToolCallRow]:
        rows = await self._all(
            "SELECT * FROM tool_calls WHERE session_id = ? ORDER BY message_seq, rowid", (session_id,)
        )
        return [_call(r) for r in rows]


# --- plans -------------------------------------------------------------------------


def _subtask(row: aiosqlite.Row) -> SubtaskRow:
    return SubtaskRow(
        plan_id=row["plan_id"],
        id=row["id"],
        ord=row["ord"],
        title=row["title"],
        description=row["description"],
        agent=AgentName(row["agent"]),
        dependencies=tuple(json.loads(row["dependencies"])),
        status=SubtaskStatus(row["status"]),
        result=row["result"],
        attempt=row["attempt"],
    )


class PlanRepo(_Repo):
    async def add(self, plan: PlanRow) -> None:
        await self._run(
            "INSERT INTO plans (id, session_id, version, goal, status, feedback, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                plan.id,
                plan.session_id,
                plan.version,
                plan.goal,
                plan.status,
                plan.feedback,
                plan.created_at,
                plan.updated_at,
            ),
        )
        for s in plan.subtasks:
            await self._run(
                "INSERT INTO subtasks (plan_id, id, ord, title, description, agent, dependencies, status, result, attempt)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.id,
                    s.id,
                    s.ord,
                    s.title,
                    s.description,
                    s.agent,
                    dumps(list(s.dependencies)),
                    s.status,
                    s.result,
                    s.attempt,
                ),
            )

    async def get(self, plan_id: str) -> PlanRow | None:
        row = await self._one("SELECT * FROM plans WHERE id = ?", (plan_id,))
        if row is None:
            return None
        subtasks = await self._all("SELECT * FROM subtasks WHERE plan_id = ? ORDER BY ord", (plan_id,))
        return PlanRow(
            id=row["id"],
            session_id=row["session_id"],
            version=row["version"],
            goal=row["goal"],
            status=PlanStatus(row["status"]),
            feedback=row["feedback"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            subtasks=tuple(_subtask(s) for s in subtasks),
        )

    async def for_session(self, session_id: str) -> list[PlanRow]:
        rows = await self._all("SELECT id FROM plans WHERE session_id = ? ORDER BY version, created_at", (session_id,))
        plans = [await self.get(r["id"]) for r in rows]
        return [p for p in plans if p is not None]

    async def latest_version(self, session_id: str) -> int:
        row = await self._one("SELECT MAX(version) FROM plans WHERE session_id = ?", (session_id,))
        return int(row[0]) if row and row[0] is not None else 0

    async def set_status(self, plan_id: str, status: PlanStatus) -> None:
        await self._run("UPDATE plans SET status = ?, updated_at = ? WHERE id = ?", (status, now(), plan_id))

    async def set_subtask(
        self,
        plan_id: str,
        subtask_id: str,
        status: SubtaskStatus,
        *,
        result: str | None = None,
        attempt: int | None = None,
    ) -> None:
        await self._run(
            "UPDATE subtasks SET status = ?, result = COALESCE(?, result), attempt = COALESCE(?, attempt)"
            " WHERE plan_id = ? AND id = ?",
            (status, result, attempt, plan_id, subtask_id),
        )
        await self._run("UPDATE plans SET updated_at = ? WHERE id = ?", (now(), plan_id))

    async def reset_subtask(self, plan_id: str, subtask_id: str, attempt: int) -> None:
        """Back to pending for another attempt, its old result cleared."""
        await self._run(
            "UPDATE subtasks SET status = 'pending', result = NULL, attempt = ? WHERE plan_id = ? AND id = ?",
            (attempt, plan_id, subtask_id),
        )
        await self._run("UPDATE plans SET updated_at = ? WHERE id = ?", (now(), plan_id))


# --- audit: approvals, remembered rules, transitions, usage, classifications ---------


class ApprovalRepo(_Repo):
    async def add(self, row: ApprovalRow) -> None:
        await self._run(
            "INSERT INTO approvals (session_id, call_id, tool, decided_by, decision, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.session_id, row.call_id, row.tool, row.decided_by, row.decision, row.reason, row.at),
        )

    async def for_session(self, session_id: str) -> list[ApprovalRow]:
        rows = await self._all("SELECT * FROM approvals WHERE session_id = ? ORDER BY id", (session_id,))
        return [
            ApprovalRow(r["session_id"], r["call_id"], r["tool"], r["decided_by"], r["decision"], r["reason"], r["at"])
            for r in rows
        ]

    async def remember(self, session_id: str, tool: str, prefix: str) -> None:
        await self._run(
            "INSERT OR IGNORE INTO approval_rules (session_id, tool, prefix, created_at) VALUES (?, ?, ?, ?)",
            (session_id, tool, prefix, now()),
        )

    async def rules(self, session_id: str) -> list[tuple[str, str]]:
        rows = await self._all(
            "SELECT tool, prefix FROM approval_rules WHERE session_id = ? ORDER BY created_at", (session_id,)
        )
        return [(r["tool"], r["prefix"]) for r in rows]


class TransitionRepo(_Repo):
    async def add(self, row: TransitionRow) -> None:
        await self._run(
            "INSERT INTO transitions (session_id, turn_id, from_state, to_state, event, at) VALUES (?, ?, ?, ?, ?, ?)",
            (row.session_id, row.turn_id, row.from_state, row.to_state, row.event, row.at),
        )


class UsageRepo(_Repo):
    async def add(
        self,
        session_id: str,
        agent: AgentName,
        *,
        requests: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        duration_ms: int = 0,
        nudges: int = 0,
    ) -> None:
        await self._run(
            "INSERT INTO usage (session_id, agent, requests, prompt_tokens, completion_tokens, duration_ms, nudges)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, agent) DO UPDATE SET"
            " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " duration_ms = duration_ms + excluded.duration_ms, nudges = nudges + excluded.nudges",
            (session_id, agent, requests, prompt_tokens, completion_tokens, duration_ms, nudges),
        )

    async def for_session(self, session_id: str) -> list[UsageRow]:
        rows = await self._all("SELECT * FROM usage WHERE session_id = ? ORDER BY agent", (session_id,))
        return [
            UsageRow(
                AgentName(r["agent"]),
                r["requests"],
                r["prompt_tokens"],
                r["completion_tokens"],
                r["duration_ms"],
                r["nudges"],
            )
            for r in rows
        ]


class ClassificationRepo(_Repo):
    async def get(self, session_id: str, text_hash: str) -> str | None:
        row = await self._one(
            "SELECT answer FROM classifications WHERE session_id = ? AND text_hash = ?", (session_id, text_hash)
        )
        return str(row["answer"]) if row else None

    async def put(self, session_id: str, text_hash: str, answer: str) -> None:
        await self._run(
            "INSERT OR REPLACE INTO classifications (session_id, text_hash, answer) VALUES (?, ?, ?)",
            (session_id, text_hash, answer),
        )


# --- leases: which process drives a session ------------------------------------------


class LeaseRepo(_Repo):
    async def get(self, session_id: str) -> LeaseRow | None:
        row = await self._one("SELECT * FROM leases WHERE session_id = ?", (session_id,))
        return LeaseRow(row["session_id"], row["holder"], row["host"], row["pid"], row["expires_at"]) if row else None

    async def put(self, lease: LeaseRow) -> None:
        await self._run(
            "INSERT OR REPLACE INTO leases (session_id, holder, host, pid, expires_at) VALUES (?, ?, ?, ?, ?)",
            (lease.session_id, lease.holder, lease.host, lease.pid, lease.expires_at),
        )

    async def all(self) -> list[LeaseRow]:
        rows = await self._all("SELECT * FROM leases")
        return [LeaseRow(r["session_id"], r["holder"], r["host"], r["pid"], r["expires_at"]) for r in rows]

    async def drop(self, session_id: str) -> None:
        await self._run("DELETE FROM leases WHERE session_id = ?", (session_id,))

    async def renew(self, holder: str, expires_at: float) -> None:
        await self._run("UPDATE leases SET expires_at = ? WHERE holder = ?", (expires_at, holder))

    async def release_all(self, holder: str) -> None:
        await self._run("DELETE FROM leases WHERE holder = ?", (holder,))


class Repos:
    """All repositories over one connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.sessions = SessionRepo(conn)
        self.messages = MessageRepo(conn)
        self.tool_calls = ToolCallRepo(conn)
        self.plans = PlanRepo(conn)
        self.approvals = ApprovalRepo(conn)
        self.transitions = TransitionRepo(conn)
        self.usage = UsageRepo(conn)
        self.classifications = ClassificationRepo(conn)
        self.leases = LeaseRepo(conn)
