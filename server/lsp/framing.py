"""LSP framing with bounded headers and bodies (`Content-Length` headers, then a body).

A malformed frame is answered (id null) and the reader skips to the next line that
starts a header block, so one bad frame never silences the stream; a body over the limit
is read and dropped in chunks, never held in memory.
"""

from __future__ import annotations

import asyncio
import re
from typing import BinaryIO

from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcParseError

from server.lsp.stdio import FrameLimits

_CONTENT_LENGTH = b"content-length:"
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
_LENGTH = re.compile(rb"[0-9]{1,15}")
"""A length beyond 15 digits (a petabyte) is not a size, it is noise: resynchronise."""
_DISCARD_CHUNK = 64 * 1024
_KEEP = 48
"""Longer than a Content-Length line; shorter than the smallest header limit."""


class FrameReader:
    """Reads LSP frames from the editor's pipe on the event loop (pygls's own reader
    hops to a thread for every line and trusts every header)."""

    def __init__(self, stream: asyncio.StreamReader, limits: FrameLimits | None = None) -> None:
        self._stream = stream
        self.limits = limits or FrameLimits()
        self._lost = False
        """After a malformed frame: skip to the next line that starts a header block."""
        self._pending: bytes | None = None
        """The rest of a malformed line, from a `Content-Length:` inside it."""

    @classmethod
    async def open(cls, pipe: BinaryIO, limits: FrameLimits | None = None) -> FrameReader:
        limits = limits or FrameLimits()
        loop = asyncio.get_running_loop()
        # The stream's limit bounds one line, so a header line never buffers more than this.
        reader = asyncio.StreamReader(limit=limits.header_bytes)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        return cls(reader, limits)

    async def frame(self) -> bytes | JsonRpcException | None:
        """The next message body; for a malformed frame, the error to answer (id null);
        None at end of input."""
        header = await self._header()
        if header is None or isinstance(header, JsonRpcException):
            return header
        limit = self.limits.body_bytes
        if header > limit:
            if not await self._discard(header):
                return None
            return JsonRpcInvalidRequest(
                f"Invalid Request: the message is {header} bytes, over the limit of {limit} bytes "
                "(--max-frame-bytes); it was skipped"
            )
        try:
            return await self._stream.readexactly(header)
        except asyncio.IncompleteReadError:
            return None

    async def _line(self) -> bytes | None:
        """The next line; b"" for a line over the stream's limit, of which only the last
        bytes stay buffered (read as the next line): a header glued after garbage starts
        there."""
        if self._pending is not None:
            line, self._pending = self._pending, None
            return line
        try:
            return await self._stream.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None  # the end of input (a partial line is dropped)
        except asyncio.LimitOverrunError as exc:
            await self._stream.readexactly(max(1, exc.consumed - _KEEP))  # already buffered
            return b""

    async def _header(self) -> int | JsonRpcException | None:
        """The Content-Length of the next header block (or the error that ends it)."""
        length: int | None = None
        size = count = 0
        while (line := await self._line()) is not None:
            if self._lost:
                start = line.lower().find(_CONTENT_LENGTH)
                if start < 0:
                    continue
                self._lost, line = False, line[start:]
            if not line:
                return self._malformed(f"a header line is over {self.limits.header_bytes} bytes")
            content = line.rstrip(b"\r\n")
            if not content:
                if count == 0:
                    continue  # a stray empty line between frames
                if length is None:
                    return self._malformed("a header block without Content-Length")
                return length
            size += len(line)
            count += 1
            if size > self.limits.header_bytes:
                return self._malformed(f"a header block is over {self.limits.header_bytes} bytes", line)
            if count > self.limits.header_lines:
                return self._malformed(f"a header block has more than {self.limits.header_lines} lines", line)
            problem, length = _header_line(content, length)
            if problem:
                return self._malformed(problem, line)
        return None

    def _malformed(self, problem: str, line: bytes = b"") -> JsonRpcException:
        self._lost = True
        start = line.lower().find(_CONTENT_LENGTH, 1)
        if start > 0:  # e.g. the tail of a body longer than its Content-Length, then a frame
            self._pending = line[start:]
        return JsonRpcParseError(f"Parse error: {problem}; skipped to the next header")

    async def _discard(self, count: int) -> bool:
        """Read and drop `count` bytes without holding them; False at end of input."""
        while count > 0:
            chunk = await self._stream.read(min(count, _DISCARD_CHUNK))
            if not chunk:
                return False
            count -= len(chunk)
        return True


def _header_line(content: bytes, length: int | None) -> tuple[str | None, int | None]:
    """(what is wrong with the line, or None; the Content-Length so far)."""
    if content.lower().find(_CONTENT_LENGTH, 1) > 0:
        return "unexpected bytes before a header", length
    if not content.isascii():
        return "a header line is not ASCII", length
    name, colon, value = content.partition(b":")
    if not colon or not _HEADER_NAME.fullmatch(name):
        return f"not a header line: {content[:40]!r}", length
    if name.lower() != b"content-length":
        return None, length  # Content-Type, or anything else: ignored
    value = value.strip(b" \t")
    if not _LENGTH.fullmatch(value):
        return f"invalid Content-Length {value[:40].decode()!r}", length
    if length is not None and int(value) != length:
        return "two different Content-Length headers", length
    return None, int(value)
