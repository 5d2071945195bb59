"""The sidecar process as the terminal client keeps it: started before anything else
(its imports overlap the user's typing), opened on a workspace, watched, and started
again on the same database when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.chat.client import Listener, SidecarClient, SidecarError

STARTS = 3
"""Attempts at starting the sidecar again after it stopped, before giving up."""


class Sidecar:
    def __init__(
        self, args: list[str], listener: Listener, options: dict[str, Any], *, show_logs: bool = False
    ) -> None:
        self.args = args
        self.options = options
        self._listener = listener
        self._show_logs = show_logs
        self.client = SidecarClient(listener, show_logs=show_logs)
        self.workspace: Path | None = None
        self.on_exit: Callable[[SidecarClient], None] | None = None
        """Called when the process stops on its own (not when the chat stops it)."""
        self._stopping: set[SidecarClient] = set()

    async def spawn(self, started: asyncio.subprocess.Process | None = None) -> None:
        """Start the process, or take the one `server.chat.launch` `started`."""
        await self.client.spawn(self.args, started)
        self._watch(self.client)

    def _watch(self, client: SidecarClient) -> None:
        assert client.exited is not None

        def exited(_: object) -> None:
            if client not in self._stopping and client is self.client and self.on_exit is not None:
                self.on_exit(client)

        client.exited.add_done_callback(exited)

    async def open(self, workspace: Path) -> None:
        """`initialize` on `workspace` (once per process)."""
        await self.client.initialize(workspace, self.options)
        self.workspace = workspace

    async def restart(self, workspace: Path | None = None) -> None:
        """A new process on the same database, opened on `workspace` (default: the same)."""
        target = workspace or self.workspace
        if target is None:
            raise SidecarError("the sidecar has no workspace to open")
        old = self.client
        self._stopping.add(old)
        if old.alive:
            await old.stop()
        else:
            with contextlib.suppress(Exception):
                await old.stop(grace=0.5)
        self.client = SidecarClient(self._listener, show_logs=self._show_logs)
        await self.spawn()
        await self.open(target)

    async def stop(self) -> None:
        self._stopping.add(self.client)
        with contextlib.suppress(TimeoutError, SidecarError):
            await asyncio.wait_for(self.client.stop(), 8)
