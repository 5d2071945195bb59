"""What every part of a turn needs: the dependencies, injected, apart from state."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from server.context.window import Meter
from server.models.caller import ModelCaller
from server.settings import Settings
from server.turn.notify import Notifier
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
    subtask attempt's), fetched incrementally.

    Messages are append-only and a session is written by one process at a time (its
    lease), so a step fetches only the rows added since the last one instead of
    decoding the whole history again. Least recently used threads are dropped."""

    LIMIT = 64

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: OrderedDict[tuple[str, Scope], list[MessageRow]] = OrderedDict()

    async def get(self, session_id: str, scope: Scope) -> list[MessageRow]:
        key = (session_id, scope)
        rows = self._cache.pop(key, [])
        after = rows[-1].seq if rows else 0
        read = self._db.read.messages
        rows += await (read.subtask_thread(session_id, scope, after) if scope else read.main_thread(session_id, after))
        self._cache[key] = rows
        while len(self._cache) > self.LIMIT:
            self._cache.popitem(last=False)
        return rows

    def forget(self, session_id: str) -> None:
        for key in [k for k in self._cache if k[0] == session_id]:
            del self._cache[key]


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
