"""Calling a model: streaming to the editor, bounded retries, cancellation.

Cancellation is cooperative: `agent/cancel` sets the turn's event and only the model
call (or the back-off sleep) is interrupted, never a database transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from protocol.enums import AgentName
from protocol.errors import ModelError
from server.models.base import (
    ContextOverflow,
    DeltaKind,
    Model,
    ModelReply,
    ModelRequest,
    PermanentModelError,
    TransientModelError,
)
from server.settings import Settings
from storage.records import SessionRow

log = logging.getLogger(__name__)
T = TypeVar("T")


class TurnCancelled(Exception):
    """The user cancelled the turn while it waited for the model."""


async def race(work: Coroutine[Any, Any, T], cancel: asyncio.Event) -> T:
    """Run `work` unless `cancel` is set first (then `TurnCancelled`)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task in done:
        return task.result()
    raise TurnCancelled


class CallReport(Protocol):
    """Who watches a call: the agent's text and thoughts as they stream, each retry."""

    def streamed(self, session: SessionRow, agent: AgentName, delta: str, kind: DeltaKind) -> None: ...

    def retrying(self, session: SessionRow, agent: AgentName, attempt: int, limit: int, error: str) -> None: ...


class ModelCaller:
    def __init__(self, report: CallReport, settings: Callable[[], Settings], models: Callable[[str], Model]) -> None:
        self._report = report
        self._settings = settings
        self._models = models

    async def call(
        self, session: SessionRow, model_name: str, request: ModelRequest, cancel: asyncio.Event
    ) -> tuple[ModelReply, int]:
        """The model's reply and the milliseconds it took (retries included).

        Raises `ModelError` once retries are exhausted, `ContextOverflow` when the prompt
        is too long for the model, `TurnCancelled` on cancel."""
        model = self._models(model_name)
        llm = self._settings().llm
        stream = request.purpose == "agent"
        started = time.perf_counter()

        async def sink(delta: str, kind: DeltaKind = "text") -> None:
            if stream and delta:
                self._report.streamed(session, request.agent, delta, kind)

        attempt = 0
        while True:
            try:
                reply = await race(model.complete(request, sink), cancel)
                return reply, int((time.perf_counter() - started) * 1000)
            except ContextOverflow:
                raise  # the step compacts harder and calls again
            except PermanentModelError as exc:
                raise ModelError(f"the model {model_name} failed: {exc}") from exc
            except TransientModelError as exc:
                if attempt >= llm.max_retries:
                    raise ModelError(f"the model {model_name} failed after {attempt + 1} attempts: {exc}") from exc
                attempt += 1
                delay = llm.retry_backoff_seconds * 2 ** (attempt - 1)
                log.warning("model %s failed (%s); retry %d in %.2fs", model_name, exc, attempt, delay)
                self._report.retrying(session, request.agent, attempt, llm.max_retries, str(exc))
                await race(asyncio.sleep(delay), cancel)
