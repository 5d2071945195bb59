"""What Nagle's algorithm on a local OpenAI-compatible server costs a model call, and
whether `Connection: close` from the sidecar would win it back.

The server streams like a real one (headers, then each server-sent event as its own
write, chunked) and answers at once; it runs with TCP_NODELAY set or cleared, and closes
the connection after a reply when the request says `Connection: close`. The client is
the sidecar's own call (litellm, `hosted_vllm/` route), kept alive or told to close.

llama.cpp's server sets TCP_NODELAY (`CPPHTTPLIB_TCP_NODELAY=1` in its vendored
cpp-httplib build), as do servers on asyncio/uvicorn (vLLM) and Go's net/http (Ollama);
cpp-httplib itself defaults to Nagle on, so a server built on it without that flag is
the case measured here.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import time
from typing import Any

_TOOL = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}
MESSAGES = [{"role": "system", "content": "You are the code agent."}, {"role": "user", "content": "read a.txt"}]


def _events(model: str) -> list[bytes]:
    base = {"id": "n", "object": "chat.completion.chunk", "created": 1, "model": model}
    call = {"index": 0, "id": "call_n", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
    payloads: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}},
    ]
    return [f"data: {json.dumps(p)}\n\n".encode() for p in payloads] + [b"data: [DONE]\n\n"]


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, nodelay: bool) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if nodelay else 0)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
            body = json.loads(await reader.readexactly(length))
            close = b"connection: close" in lines
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\n"
            )
            await writer.drain()
            for event in _events(body.get("model", "m")):
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def serve(nodelay: bool) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, nodelay), "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


async def calls(litellm: Any, url: str, close: bool, n: int) -> list[float]:
    """Seconds per streamed call (after a few to warm the connection up)."""
    extra = {"extra_headers": {"Connection": "close"}} if close else {}
    times: list[float] = []
    for i in range(n + 5):
        started = time.perf_counter()
        stream = await litellm.acompletion(
            model="hosted_vllm/local",
            messages=MESSAGES,
            tools=[_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            api_base=url,
            api_key="none",
            num_retries=0,
            **extra,
        )
        async for _ in stream:
            pass
        if i >= 5:
            times.append(time.perf_counter() - started)
    return times


async def rows(n: int = 40) -> list[tuple[str, str]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    out: list[tuple[str, str]] = []
    for nodelay in (False, True):
        server, url = await serve(nodelay)
        for close in (False, True):
            times = await calls(litellm, url, close, n)
            server_kind = "TCP_NODELAY" if nodelay else "Nagle on"
            client_kind = "Connection: close" if close else "keep-alive"
            out.append(
                (
                    f"model call to a local server with {server_kind}, {client_kind} (p50)",
                    f"{statistics.median(times) * 1000:8.2f} ms",
                )
            )
        server.close()
    return out


if __name__ == "__main__":
    for label, value in asyncio.run(rows()):
        print(f"{label:<75} | {value}")
