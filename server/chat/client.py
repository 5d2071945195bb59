"""A Python client of the sidecar, built on pygls's stock LSP client: it starts
`codelab-agent --stdio` as a subprocess and speaks the protocol exactly as an editor
does. The terminal chat is built on it.

Messages are typed at this boundary: requests go out from their `protocol` params
models, and results and notifications come back parsed into theirs. A message the
sidecar gets wrong is a `SidecarError` that names it, raised from the request it
arrived during."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import ValidationError
from pygls.lsp.client import LanguageClient

from protocol.base import WireModel
from protocol.methods import Method, TurnResult
from protocol.notifications import (
    NOTIFICATIONS,
    Notification,
    PlanUpdateNotification,
    StatusNotification,
    StreamNotification,
    ToolCallNotification,
)
from server import __version__
from server.lsp.jsonrpc import raw_converter

SessionNotice = ToolCallNotification | StreamNotification | StatusNotification | PlanUpdateNotification
Notice = SessionNotice | types.ProgressParams
"""A notification: one of `protocol.notifications`' models, or LSP work-done progress."""
Listener = Callable[[Notice], None]


class SidecarError(RuntimeError):
    """The sidecar cannot carry on the conversation; the text says why."""


class SidecarExited(SidecarError):
    """The sidecar process ended while a request waited for it."""


class MalformedMessage(SidecarError):
    """The sidecar sent a result or notification that its protocol model refuses."""

    def __init__(self, what: str, problems: str) -> None:
        super().__init__(f"the sidecar sent a malformed {what} ({problems})")


class SidecarClient:
    def __init__(self, listener: Listener) -> None:
        self._client = LanguageClient("codelab-agent-chat", __version__, converter_factory=raw_converter)
        self._listener = listener
        self._malformed: MalformedMessage | None = None
        self._stderr: asyncio.Task[None] | None = None
        for notification in NOTIFICATIONS:
            self._client.feature(notification.name)(self._forward(notification))
        self._client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)(_accept_progress)

        def progress(params: types.ProgressParams) -> None:  # pygls parses LSP's own messages itself
            self._listener(params)

        self._client.feature(types.PROGRESS)(progress)

    def _forward(self, notification: Notification) -> Callable[[Any], None]:
        def forward(params: Any) -> None:
            try:
                parsed = notification.params.model_validate(params)
            except ValidationError as exc:
                self._refuse(MalformedMessage(notification.name, _problems(exc)))
                return
            if not isinstance(parsed, SessionNotice):
                raise TypeError(f"{notification.name}: {type(parsed).__name__} is not a SessionNotice")
            self._listener(parsed)

        return forward

    def _refuse(self, error: MalformedMessage) -> None:
        """Keep the first malformed notification: the request in flight raises it."""
        if self._malformed is None:
            self._malformed = error

    async def start(self, args: list[str], workspace: Path, *, show_logs: bool = False) -> None:
        await self._client.start_io(sys.executable, "-m", "server", "--stdio", *args)  # pyright: ignore[reportUnknownMemberType]
        process: Any = getattr(self._client, "_server", None)
        if process is not None and process.stderr is not None:
            self._stderr = asyncio.create_task(_drain(process.stderr, show_logs))
        await self._client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
                root_uri=workspace.as_uri(),
                initialization_options={"workspaceRoot": str(workspace)},
            )
        )
        self._client.initialized(types.InitializedParams())

    async def request(self, method: Method, params: WireModel) -> WireModel:
        """Send `params` (an instance of `method.params`); return the result, parsed into `method.result`."""
        if not isinstance(params, method.params):
            raise TypeError(f"{method.name} takes {method.params.__name__}, not {type(params).__name__}")
        process: Any = getattr(self._client, "_server", None)
        try:
            raw: Any = await self._client.protocol.send_request_async(method.name, params.wire())
        except RuntimeError as exc:
            if process is not None and process.returncode is not None:  # pygls fails pending requests so
                raise SidecarExited(f"the sidecar exited (code {process.returncode})") from exc
            raise
        if self._malformed is not None:
            raise self._malformed
        try:
            return method.result.model_validate(raw)
        except ValidationError as exc:
            raise MalformedMessage(f"{method.name} result", _problems(exc)) from exc

    async def turn(self, method: Method, params: WireModel) -> TurnResult:
        """`request` for the methods that start or continue a turn."""
        result = await self.request(method, params)
        if not isinstance(result, TurnResult):
            raise TypeError(f"{method.name} does not return a TurnResult")
        return result

    async def stop(self) -> None:
        process: Any = getattr(self._client, "_server", None)
        try:
            if process is not None and process.returncode is None:
                await asyncio.wait_for(self._client.shutdown_async(None), 10)
                self._client.exit(None)
        finally:
            await self._client.stop()
            if self._stderr is not None:
                self._stderr.cancel()


def _problems(exc: ValidationError) -> str:
    """A validation error on one line: `field.path: what is wrong; ...`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())


def _accept_progress(params: Any) -> None:
    return None


async def _drain(stream: asyncio.StreamReader, show: bool) -> None:
    while line := await stream.readline():
        if show:
            sys.stderr.write(line.decode(errors="replace"))
