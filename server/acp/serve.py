"""`codelab-agent acp`: the ACP face over stdio. Newline-delimited JSON-RPC on the real
stdout, which nothing else may write to: fd 1 is pointed at stderr first (as for the
LSP face), so a library that prints cannot corrupt the stream."""

from __future__ import annotations

import asyncio
import logging
from typing import BinaryIO

from acp import run_agent

from server.acp.agent import Face
from server.settings import Settings

log = logging.getLogger(__name__)

LINE_LIMIT = 64 * 1024 * 1024
"""The longest line read from the client (a prompt with embedded files can be large)."""


class _Writes(asyncio.streams.FlowControlMixin, asyncio.Protocol):
    """What `asyncio.StreamWriter` needs of a write pipe's protocol (`_drain_helper`)."""


async def _streams(stdin: BinaryIO, stdout: BinaryIO) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    transport, protocol = await loop.connect_write_pipe(_Writes, stdout)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def serve(settings: Settings, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Serve one client until it closes stdin; then stop every runtime cleanly."""
    face = Face(settings)
    reader, writer = await _streams(stdin, stdout)
    try:
        await run_agent(face, writer, reader, use_unstable_protocol=True)
    finally:
        await face.close()
    log.info("the ACP client closed the connection")
    return 0
