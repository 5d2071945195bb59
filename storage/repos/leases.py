"""Leases: which process drives a session."""

from __future__ import annotations

from storage.records import LeaseRow
from storage.repos.base import Repo


class LeaseRepo(Repo):
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
