"""The floor: a bare pygls server with the same framing that answers `agent/toolResult`
by sending one `agent/toolCall` notification and a result, doing nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pygls.lsp.server import LanguageServer

from server.lsp.jsonrpc import raw_converter, serve
from server.lsp.stdio import stdio_pipes

server = LanguageServer("floor", "1", converter_factory=raw_converter)
calls = itertools.count(1)


@server.feature("agent/toolResult")
async def tool_result(params: dict) -> dict:
    call_id = f"call_{next(calls)}"
    server.protocol.notify(
        "agent/toolCall",
        {
            "sessionId": params["sessionId"],
            "turnId": "t",
            "callId": call_id,
            "name": "read_file",
            "arguments": {"path": "a.txt"},
            "requiresApproval": False,
        },
    )
    return {
        "sessionId": params["sessionId"],
        "turnId": "t",
        "status": "awaiting_tool_results",
        "agent": "code",
        "pendingToolCalls": [call_id],
    }


if __name__ == "__main__":
    stdin, stdout = stdio_pipes()
    with contextlib.suppress(SystemExit):
        asyncio.run(serve(server.protocol, stdin, stdout))
