"""What every part of a turn needs: the dependencies, injected, apart from state."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.agents.specs import AgentSpec
from server.agents.toolbox import Toolbox
from server.context.fit import Entry
from server.context.window import Meter
from server.models.caller import ModelCaller
from server.settings import Settings
from server.turn.guards import Call, turn_calls
from server.turn.notify import Notifier
from server.turn.prompt_view import AgentView
from server.turn.unit import Unit, commit
from storage.db import Database
from storage.records import MessageRow, PlanRow, ThreadScope

log = logging.getLogger(__name__)


@dataclass
class Kit:
    db: Database
    notifier: Notifier
    settings: Callable[[], Settings]
    caller: ModelCaller
    holder: str
    """This process's lease identity: every commit is fenced with it."""
    meter: Meter = field(default_factory=Meter)
    """Context windows and token counts (estimates unless the app says litellm calls a model)."""
    toolbox: Toolbox = field(default_factory=Toolbox)
    """The user's MCP servers' tools beside the registry's (none unless configured)."""
    progress: Progress = field(init=False)
    threads: Threads = field(init=False)

    def __post_init__(self) -> None:
        self.progress = Progress(self.notifier)
        self.threads = Threads(self.db)

    @asynccontextmanager
    async def commit(self, session_id: str) -> AsyncGenerator[Unit, None]:
        """One unit of work on a session this process holds (see `server.turn.unit`)."""
        async with commit(self.db, self.notifier, session_id, self.holder) as unit:
            yield unit


Scope = ThreadScope | None


class Threads:
    """The messages of each conversation thread (a session's main thread, or one
    subtask attempt's), fetched incrementally, and the agent's view of each.

    Messages are append-only and a session is written by one process at a time (its
    lease), so a step fetches only the rows added since the last one instead of
    decoding the whole history again, and none at all when no transaction has added
    messages to the session since (`Database.messages_mark`). The cache is bounded by
    the size of what it holds, not by a count of threads: least recently used threads
    are dropped once it passes `BUDGET` bytes."""

    BUDGET: int = 64 * 1024 * 1024
    ROW_BYTES = 1024
    """What a cached message costs besides its text: the row, its view's entries."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: OrderedDict[tuple[str, Scope], _Thread] = OrderedDict()
        self.size = 0
        """Bytes held, as `BUDGET` counts them."""

    async def get(self, session_id: str, scope: Scope) -> list[MessageRow]:
        return (await self._thread(session_id, scope)).rows

    async def view(
        self, session_id: str, scope: Scope, spec: AgentSpec, segment: int, workspace_root: Path
    ) -> tuple[list[Entry], AgentView]:
        """The thread's entries for `spec`'s agent in `segment` (`agent_entries`), and the
        view that keeps them (its marks, its token counts)."""
        thread = await self._thread(session_id, scope)
        if thread.view is None or thread.view.key != (spec.name, segment, workspace_root):
            thread.view = AgentView(spec, segment, workspace_root)
        return thread.view.entries(thread.rows), thread.view

    async def turn_calls(self, session_id: str, scope: Scope, turn_id: str | None) -> list[Call]:
        """`guards.turn_calls` of the thread (a new list: the caller adds to it), read
        from the thread's new messages only."""
        thread = await self._thread(session_id, scope)
        if thread.calls_turn != turn_id:
            thread.calls_turn, thread.calls, thread.calls_upto = turn_id, [], 0
        thread.calls += turn_calls(thread.rows[thread.calls_upto :], turn_id)
        thread.calls_upto = len(thread.rows)
        return list(thread.calls)

    async def _thread(self, session_id: str, scope: Scope) -> _Thread:
        key = (session_id, scope)
        thread = self._cache.get(key) or _Thread()
        mark = self._db.messages_mark(session_id)
        if thread.mark != mark:
            after = thread.rows[-1].seq if thread.rows else 0
            read = self._db.read.messages
            new = await (
                read.subtask_thread(session_id, scope, after) if scope else read.main_thread(session_id, after)
            )
            last = thread.rows[-1].seq if thread.rows else 0  # another reader may have been quicker
            fresh = [m for m in new if m.seq > last]
            thread.rows += fresh
            thread.size += sum(_cost(m) for m in fresh)
            thread.mark = mark
        self._hold(key, thread)
        return thread

    def _hold(self, key: tuple[str, Scope], thread: _Thread) -> None:
        """`thread` as the most recently used, counted at its size; the least recently
        used others dropped while the cache is over its budget."""
        held = self._cache.pop(key, None)
        if held is not None:
            self.size -= held.counted
        thread.counted = thread.size
        self.size += thread.counted
        self._cache[key] = thread
        while self.size > self.BUDGET and len(self._cache) > 1:
            self._drop(next(iter(self._cache)))

    def _drop(self, key: tuple[str, Scope]) -> None:
        self.size -= self._cache.pop(key).counted

    def forget(self, session_id: str) -> None:
        for key in [k for k in self._cache if k[0] == session_id]:
            self._drop(key)


def _cost(row: MessageRow) -> int:
    return len(row.content) + sum(len(c.arguments) for c in row.tool_calls) + Threads.ROW_BYTES


@dataclass
class _Thread:
    rows: list[MessageRow] = field(default_factory=lambda: [])
    mark: int = -1
    """`Database.messages_mark` of the session when `rows` were brought up to date."""
    size: int = 0
    counted: int = 0
    """`size` as `Threads.size` counts it."""
    view: AgentView | None = None
    calls: list[Call] = field(default_factory=lambda: [])
    """`guards.turn_calls` of `rows[:calls_upto]` for the turn `calls_turn`."""
    calls_upto: int = 0
    calls_turn: str | None = None


class Progress:
    """LSP work-done progress while a plan executes (only if the editor supports it).

    Tokens live in memory: after a restart, the resumed plan gets a new one."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._tokens: dict[str, str] = {}

    async def start(self, session_id: str, plan: PlanRow) -> None:
        if session_id in self._tokens or not self._notifier.supports_progress():
            return
        token = f"codelab-plan-{uuid.uuid4().hex[:12]}"
        try:
            created = await self._notifier.create_progress(token)
        except Exception:
            log.exception("window/workDoneProgress/create failed")
            created = False
        if not created:
            return
        self._tokens[session_id] = token
        done = sum(1 for s in plan.subtasks if s.status in ("done", "skipped"))
        self._notifier.progress(
            token,
            {
                "kind": "begin",
                "title": "codelab-agent plan",
                "message": plan.goal[:120],
                "cancellable": False,
                "percentage": _percent(done, len(plan.subtasks)),
            },
        )

    def report(self, session_id: str, index: int, total: int, title: str) -> Callable[[Notifier], None]:
        def send(notifier: Notifier) -> None:
            token = self._tokens.get(session_id)
            if token:
                value: dict[str, Any] = {
                    "kind": "report",
                    "message": f"subtask {index} of {total}: {title}",
                    "percentage": _percent(index - 1, total),
                }
                notifier.progress(token, value)

        return send

    def end(self, session_id: str, message: str) -> Callable[[Notifier], None]:
        def send(notifier: Notifier) -> None:
            token = self._tokens.pop(session_id, None)
            if token:
                notifier.progress(token, {"kind": "end", "message": message})

        return send


def _percent(done: int, total: int) -> int:
    return int(100 * done / total) if total else 0
