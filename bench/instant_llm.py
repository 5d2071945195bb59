"""An instant OpenAI-compatible model on 127.0.0.1 for benchmarks: it answers every
request at once (or after `delay` seconds), streaming one tool call: list the workspace,
read its files one a request, then `attempt_completion`.

The sockets have TCP_NODELAY, as asyncio sets it on every TCP connection: a server that
leaves Nagle's algorithm on holds the end of each reply until the client's delayed
acknowledgement (`bench.nagle` measures what that costs a keep-alive client)."""

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
    if len(results) > len(files):
        return "attempt_completion", {"result": f"Read {len(files)} files."}
    return "read_file", {"path": files[len(results) - 1]}


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


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            body = json.loads(await reader.readexactly(length))
            if delay:
                await asyncio.sleep(delay)
            payload = _reply(body)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                % (len(payload), payload)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def start(delay: float = 0.0) -> tuple[asyncio.Server, str]:
    """The server and its API base; each reply comes `delay` seconds after its request."""
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"
