"""Who may work on a session now: one turn at a time per session in this process (a
lock and the running turn), and this process's lease on it (`server.leases`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from protocol.enums import AgentName
from protocol.errors import InvalidState, SessionBusy, SessionNotFound
from protocol.methods import TurnResult
from server.leases import Leases
from server.turn.deps import Kit
from server.turn.loop import Engine
from server.turn.unit import Unit
from storage.records import SessionRow

log = logging.getLogger(__name__)


@dataclass
class Turn:
    task: asyncio.Task[TurnResult]
    cancel: asyncio.Event


@dataclass
class Gate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    turn: Turn | None = None


class Claims:
    def __init__(self, kit: Kit, leases: Leases) -> None:
        self.kit = kit
        self.leases = leases
        self.engine = Engine(kit)
        self._gates: dict[str, Gate] = {}

    @property
    def root(self) -> str:
        return str(self.kit.settings().workspace_root)

    def gate(self, session_id: str) -> Gate:
        return self._gates.setdefault(session_id, Gate())

    def running(self, session_id: str) -> Turn | None:
        gate = self._gates.get(session_id)
        return gate.turn if gate is not None else None

    def forget(self, session_id: str) -> None:
        self._gates.pop(session_id, None)
        self.kit.threads.forget(session_id)

    async def driven(self, s: SessionRow) -> bool:
        """Whether a turn of `s` may be running now: here, or in a live process holding it."""
        if self.running(s.id) is not None:
            return True
        lease = await self.kit.db.read.leases.get(s.id)
        return lease is not None and lease.holder != self.leases.holder and not self.leases.stale(lease)

    @asynccontextmanager
    async def claim(
        self, session_id: str, *, wait: bool = False, any_workspace: bool = False
    ) -> AsyncGenerator[tuple[Gate, SessionRow], None]:
        """Exclusive use of a session, and the session as it is once that is granted: no
        turn runs in it here, and this process holds its lease. Work on another
        workspace's session is refused: its tool calls would run against the wrong root."""
        gate = self.gate(session_id)
        if gate.lock.locked() and (gate.turn is not None or not wait):
            raise SessionBusy(
                f"a turn is already running in session {session_id}",
                {"sessionId": session_id, "reason": "turn_running", "holder": {"thisProcess": True}},
            )
        async with gate.lock:
            session = await self.kit.db.read.sessions.get(session_id)
            if session is None:
                self._gates.pop(session_id, None)
                raise SessionNotFound(session_id)
            if not any_workspace and session.workspace_root and session.workspace_root != self.root:
                raise InvalidState(
                    f"session {session_id} works in {session.workspace_root}, not in this sidecar's workspace "
                    f"{self.root}: continue it from an editor opened there",
                    {"sessionId": session_id, "workspaceRoot": session.workspace_root},
                )
            if not await self.leases.holds(session_id):
                async with self.kit.db.transaction() as tx:
                    await self.leases.take(tx, session_id)
                self.kit.threads.forget(session_id)  # another process may have written it
            yield gate, session

    @asynccontextmanager
    async def create(self, session_id: str, title: str) -> AsyncGenerator[Unit, None]:
        """A new session and this process's lease on it, in the transaction the caller
        writes its first message in: a crash leaves all of them or none (never a session
        without its task). Hold the session's gate lock around it."""
        async with self.kit.db.transaction() as tx:
            await tx.sessions.create(session_id, title, AgentName.ORCHESTRATOR, self.root)
            await self.leases.take(tx, session_id)
            session = await tx.sessions.get(session_id)
            assert session is not None
            unit = Unit(tx, session)
            yield unit
        unit.flush(self.kit.notifier)

    async def run(self, gate: Gate, session_id: str) -> TurnResult:
        """Drive the session's turn to its stop point. If the request itself is
        cancelled (`$/cancelRequest`, shutdown) the turn is cancelled cleanly first."""
        cancel = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.engine.drive(session_id, cancel), name=f"turn-{session_id}")
        gate.turn = Turn(task, cancel)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            with contextlib.suppress(BaseException):
                await task
            raise
        finally:
            gate.turn = None

    async def shutdown(self) -> None:
        """Cancel running turns cleanly, then give up every lease."""
        turns = [g.turn for g in self._gates.values() if g.turn is not None]
        for turn in turns:
            turn.cancel.set()
        if turns:
            await asyncio.wait([t.task for t in turns], timeout=5)
        await self.leases.release_all()
