"""A Python client of the sidecar, built on pygls's stock LSP client: it starts
`codelab-agent --stdio` as a subprocess and speaks the protocol exactly as an editor
does. The terminal chat is built on it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from server import __version__
from server.lsp.jsonrpc import raw_converter

NOTIFICATIONS = ("agent/toolCall", "agent/stream", "agent/status", "agent/planUpdate")
Listener = Callable[[str, dict[str, Any]], None]


class SidecarExited(RuntimeError):
    """The sidecar process ended while a request waited for it."""


class SidecarClient:
    def __init__(self, listener: Listener) -> None:
        self._client = LanguageClient("codelab-agent-chat", __version__, converter_factory=raw_converter)
        self._listener = listener
        self._stderr: asyncio.Task[None] | None = None
        for method in NOTIFICATIONS:
            self._client.feature(method)(self._forward(method))
        self._client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)(_accept_progress)
        self._client.feature(types.PROGRESS)(self._forward("$/progress"))

    def _forward(self, method: str) -> Callable[[Any], None]:
        def forward(params: Any) -> None:
            self._listener(method, params)

        return forward

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

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        process: Any = getattr(self._client, "_server", None)
        try:
            result: dict[str, Any] = await self._client.protocol.send_request_async(method, params)
        except RuntimeError as exc:
            if process is not None and process.returncode is not None:  # pygls fails pending requests so
                raise SidecarExited(f"the sidecar exited (code {process.returncode})") from exc
            raise
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


def _accept_progress(params: Any) -> None:
    return None


async def _drain(stream: asyncio.StreamReader, show: bool) -> None:
    while line := await stream.readline():
        if show:
            sys.stderr.write(line.decode(errors="replace"))
