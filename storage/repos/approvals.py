"""Approval decisions (the audit) and the rules "always" remembered for a session."""

from __future__ import annotations

from storage.records import ApprovalRow, now
from storage.repos.base import Repo


class ApprovalRepo(Repo):
    async def add(self, row: ApprovalRow) -> None:
        await self._run(
            "INSERT INTO approvals (session_id, call_id, tool, decided_by, decision, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.session_id, row.call_id, row.tool, row.decided_by, row.decision, row.reason, row.at),
        )

    async def for_session(self, session_id: str) -> list[ApprovalRow]:
        rows = await self._bulk("SELECT * FROM approvals WHERE session_id = ? ORDER BY id", (session_id,))
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
