"""An instant OpenAI-compatible model on 127.0.0.1 for benchmarks: it answers every
request at once, streaming one `read_file` tool call (or text, once asked to stop)."""

from __future__ import annotations

import asyncio
import json


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _next_call(body: dict) -> tuple[str, dict]:
    """List the workspace, then read its files one per request (like the demo model)."""
    results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if not results:
        return "list_files", {"path": ".", "recursive": True}
    files = [line for line in results[0].splitlines() if line and not line.endswith("/")]
    return "read_file", {"path": files[min(len(results) - 1, len(files) - 1)]}


def _reply(body: dict) -> bytes:
    base = {"id": "b", "object": "chat.completion.chunk", "created": 1, "model": body.get("model", "m")}
    name, arguments = _next_call(body)
    call = {
        "index": 0,
        "id": "call_b",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    chunks = [
        _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}),
        _sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}),
        _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        _sse({**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        b"data: [DONE]\n\n",
    ]
    return b"".join(chunks)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            body = json.loads(await reader.readexactly(length))
            payload = _reply(body)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                % (len(payload), payload)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def start() -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"
