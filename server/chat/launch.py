"""The sidecar process, started before the terminal client loads anything heavy.

The client's own modules (pygls, lsprotocol, the protocol models, rich,
prompt_toolkit) take ~0.6 s to import; started first, the sidecar spends that time on
its own start and on litellm's import, which is what the first tool call waits for
(`python bench/run.py --only costs`, the chat rows). Only the standard library here.
"""

from __future__ import annotations

import asyncio
import sys


async def start(args: list[str]) -> asyncio.subprocess.Process:
    """`python -m server --stdio ARGS` on pipes, in a session of its own (the terminal's
    Ctrl-C reaches the chat alone, which decides what it means)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--stdio",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
