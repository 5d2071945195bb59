"""Sessions: one row per conversation, its state and its current turn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from protocol.enums import AgentName, SessionState
from storage.records import LeaseRow, SessionRow, now
from storage.repos.base import Repo, Row

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
    "resume_state",
}


def _session(row: Row) -> SessionRow:
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
        resume_state=SessionState(row["resume_state"]) if row["resume_state"] else None,
    )


class SessionRepo(Repo):
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

    async def get_with_lease(self, session_id: str) -> tuple[SessionRow | None, LeaseRow | None]:
        """The session and its lease, in one statement (a commit's fencing read)."""
        row = await self._one(
            "SELECT s.*, l.holder AS lease_holder, l.host AS lease_host, l.pid AS lease_pid,"
            " l.expires_at AS lease_expires_at FROM sessions s LEFT JOIN leases l ON l.session_id = s.id"
            " WHERE s.id = ?",
            (session_id,),
        )
        if row is None:
            return None, None
        lease = (
            LeaseRow(session_id, row["lease_holder"], row["lease_host"], row["lease_pid"], row["lease_expires_at"])
            if row["lease_holder"] is not None
            else None
        )
        return _session(row), lease

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
