"""The process's standard streams as the transport uses them, and the limits of one
frame. Light on purpose (no pygls, no lsprotocol): the command line sets these up
before anything heavy is imported, so a litellm import it starts at once on its own
thread can never print into the protocol stream."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class FrameLimits:
    """What one frame may hold. `body_bytes` bounds what the reader buffers; the
    protocol's own limits (`maxMessageBytes`, `maxToolResultBytes`) are far below it
    and are answered with -32016 naming the field."""

    header_bytes: int = 8 * 1024
    """One header block, all its lines (LSP sends two short headers)."""
    body_bytes: int = 16 * 1024 * 1024
    header_lines: int = 16
    depth: int = 128
    """How deep arrays and objects may nest in a body (json.loads recurses)."""

    def __post_init__(self) -> None:
        if self.header_bytes < 64 or self.body_bytes < 1024 or self.header_lines < 1 or self.depth < 2:
            raise ValueError(f"frame limits too small: {self}")


def stdio_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Keep the real stdout for protocol frames and point fd 1 (and `sys.stdout`) at
    stderr, so nothing a library prints can corrupt the stream."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, os.fdopen(protocol_fd, "wb")
