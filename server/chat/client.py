"""A Python client of the sidecar, built on pygls's stock LSP client: it starts
`codelab-agent --stdio` as a subprocess and speaks the protocol exactly as an editor
does. The terminal chat is built on it.

Messages are typed at this boundary: requests go out from their `protocol` params
models, and results and notifications come back parsed into theirs. A message the
sidecar gets wrong is a `SidecarError` that names it, raised from the request it
arrived during.

Every wait watches the process: a request to a sidecar that has exited (or exits while
it waits) raises `SidecarExited` at once instead of waiting for an answer that cannot
come. The process runs in a session of its own, so the terminal's Ctrl-C reaches the
chat alone, which decides what it means (cancel the turn, or quit).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcException
from pygls.io_ import run_async
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
from server.chat import launch
from server.lsp.jsonrpc import raw_converter

log = logging.getLogger(__name__)

SessionNotice = ToolCallNotification | StreamNotification | StatusNotification | PlanUpdateNotification
Notice = SessionNotice | types.ProgressParams
"""A notification: one of `protocol.notifications`' models, or LSP work-done progress."""
Listener = Callable[[Notice], None]
STDERR_LINES = 20
"""How many of the sidecar's last log lines are kept to say why it stopped."""


class SidecarError(RuntimeError):
    """The sidecar cannot carry on the conversation; the text says why."""


class SidecarExited(SidecarError):
    """The sidecar process ended while a request waited for it."""


class MalformedMessage(SidecarError):
    """The sidecar sent a result or notification that its protocol model refuses."""

    def __init__(self, what: str, problems: str) -> None:
        super().__init__(f"the sidecar sent a malformed {what} ({problems})")


class Refused(Exception):
    """The sidecar answered a request with a JSON-RPC error (an unknown session, say)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class SidecarClient:
    def __init__(self, listener: Listener, *, show_logs: bool = False) -> None:
        self._client = LanguageClient("codelab-agent-chat", __version__, converter_factory=raw_converter)
        self._listener = listener
        self._show_logs = show_logs
        self._malformed: MalformedMessage | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._process: asyncio.subprocess.Process | None = None
        self.exited: asyncio.Future[int] | None = None
        """Done with the exit code when the process ends."""
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
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

    # --- the process -------------------------------------------------------------------

    async def spawn(self, args: list[str], started: asyncio.subprocess.Process | None = None) -> None:
        """Start the process (it begins its imports while the chat does other things),
        or talk to one `server.chat.launch` `started` already."""
        process = started or await launch.start(args)
        if process.stdin is None or process.stdout is None:
            raise SidecarError("the sidecar process did not start")
        # what pygls's `start_io` does once it has spawned the process (pygls 2.1)
        client: Any = self._client
        client.protocol.set_writer(process.stdin)
        reading = run_async(
            stop_event=client._stop_event,
            reader=process.stdout,
            protocol=client.protocol,
            logger=log,
            error_handler=client.report_server_error,
        )
        client._server = process
        client._async_tasks.extend([asyncio.create_task(reading), asyncio.create_task(client._server_exit())])
        self._process = process
        self.exited = asyncio.ensure_future(process.wait())
        if process.stderr is not None:
            self._own(_drain(process.stderr, self._show_logs, self.stderr_tail))

    def _own(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def exit_reason(self) -> str:
        """Why the process ended, in a few words: `killed by SIGKILL`, `exited with code 1: …`."""
        code = self._process.returncode if self._process else None
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        return f"exited with code {code}" + (f": {last.strip()}" if last else "")

    async def initialize(self, workspace: Path, options: dict[str, Any]) -> None:
        params = types.InitializeParams(
            capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
            root_uri=workspace.as_uri(),
            initialization_options={"workspaceRoot": str(workspace), **options},
        )
        await self._watched(self._client.initialize_async(params))
        self._client.initialized(types.InitializedParams())

    async def _watched(self, pending: Awaitable[Any]) -> Any:
        """The answer to a request, or `SidecarExited` as soon as the process is gone."""
        future = asyncio.ensure_future(pending)
        if self.exited is None:
            raise SidecarExited("the sidecar was never started")
        await asyncio.wait({future, self.exited}, return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            future.cancel()
            raise SidecarExited(f"the sidecar {self.exit_reason()}")
        try:
            return future.result()
        except JsonRpcException as exc:
            raise Refused(exc.code, exc.message) from None
        except RuntimeError as exc:  # pygls fails the pending requests of a process that exited
            if not self.alive:
                raise SidecarExited(f"the sidecar {self.exit_reason()}") from exc
            raise

    async def request(self, method: Method, params: WireModel) -> WireModel:
        """Send `params` (an instance of `method.params`); return the result, parsed into `method.result`."""
        if not isinstance(params, method.params):
            raise TypeError(f"{method.name} takes {method.params.__name__}, not {type(params).__name__}")
        if not self.alive:
            raise SidecarExited(f"the sidecar {self.exit_reason()}")
        raw: Any = await self._watched(self._client.protocol.send_request_async(method.name, params.wire()))
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

    async def stop(self, grace: float = 3.0) -> None:
        """Shut the sidecar down (it ends running turns cleanly and closes the database);
        kill it if it does not go within `grace` seconds."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._watched(self._client.shutdown_async(None)), grace)
                self._client.exit(None)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.stop(), 1)
        for task in list(self._tasks):
            task.cancel()


def _problems(exc: ValidationError) -> str:
    """A validation error on one line: `field.path: what is wrong; ...`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())


def _accept_progress(params: Any) -> None:
    return None


async def _drain(stream: asyncio.StreamReader, show: bool, tail: collections.deque[str]) -> None:
    while line := await stream.readline():
        text = line.decode(errors="replace")
        tail.append(text)
        if show:
            sys.stderr.write(text)
