"""Which process drives a session.

Two editor windows may start two sidecars on one database. A process that mutates a
session takes its lease and keeps it, renewed by a heartbeat, until it exits; another
process gets SessionBusy (naming the holder) until then, or until the lease expires
because the holder stopped renewing. A holder on this host whose process is gone
(killed) is stale at once, so a restarted sidecar resumes without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from protocol.errors import SessionBusy
from storage.db import Database
from storage.records import LeaseRow
from storage.repos import Repos

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Leases:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self.ttl = ttl_seconds
        self.holder = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._heartbeat: asyncio.Task[None] | None = None

    def describe(self, lease: LeaseRow) -> dict[str, object]:
        return {
            "pid": lease.pid,
            "host": lease.host,
            "expiresAt": lease.expires_at,
            "thisProcess": lease.holder == self.holder,
        }

    def stale(self, lease: LeaseRow) -> bool:
        if lease.expires_at < time.time():
            return True
        return lease.host == self.host and lease.pid != self.pid and not pid_alive(lease.pid)

    async def holds(self, session_id: str) -> bool:
        lease = await self._db.read.leases.get(session_id)
        return lease is not None and lease.holder == self.holder and lease.expires_at >= time.time()

    async def take(self, tx: Repos, session_id: str) -> None:
        """Take (or renew) the session's lease inside `tx`, or raise SessionBusy."""
        lease = await tx.leases.get(session_id)
        if lease is not None and lease.holder != self.holder and not self.stale(lease):
            raise SessionBusy(
                f"session {session_id} is driven by another codelab-agent process (pid {lease.pid} on {lease.host}); "
                "close that editor window, or wait for its lease to expire",
                {"sessionId": session_id, "reason": "held_by_other_process", "holder": self.describe(lease)},
            )
        await tx.leases.put(LeaseRow(session_id, self.holder, self.host, self.pid, time.time() + self.ttl))
        self._ensure_heartbeat()

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="lease-heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(max(self.ttl / 3, 0.05))
            try:
                async with self._db.transaction() as tx:
                    await tx.leases.renew(self.holder, time.time() + self.ttl)
            except Exception:
                log.exception("renewing leases failed")

    async def release_all(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        async with self._db.transaction() as tx:
            await tx.leases.release_all(self.holder)

    async def clear_stale(self) -> int:
        """Drop the leases of dead processes on this host (start-up repair)."""
        dropped = 0
        async with self._db.transaction() as tx:
            for lease in await tx.leases.all():
                if lease.holder != self.holder and self.stale(lease):
                    await tx.leases.drop(lease.session_id)
                    dropped += 1
        return dropped
