"""A test double at the model edge, loaded by the sidecar as a model adapter
(`--model py:tests.fake_model:HttpModel --api-base <fake server>`).

It sends the same OpenAI-shaped streaming request to the fake server on 127.0.0.1
that litellm would, and reads the streamed answer (text deltas, tool-call arguments
split across chunks, usage) with nothing but asyncio: the sidecar then never imports
litellm, whose import costs seconds of CPU per process. The litellm path itself has
its own tests (`test_litellm_path.py`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlparse

from server.models.base import (
    DeltaSink,
    ModelReply,
    ModelRequest,
    PermanentModelError,
    ReplyToolCall,
    TransientModelError,
)


class HttpModel:
    def __init__(self, *, name: str, api_base: str | None, timeout_seconds: float) -> None:
        assert api_base, "the fake model needs --api-base"
        url = urlparse(api_base)
        self.name = name
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._path = url.path.rstrip("/") + "/chat/completions"
        self._timeout = timeout_seconds

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        body: dict[str, Any] = {
            "model": "fake",
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = request.tools
        payload = json.dumps(body).encode()
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise TransientModelError(f"cannot reach the model: {exc}") from exc
        try:
            writer.write(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (self._path.encode(), self._host.encode(), len(payload), payload)
            )
            await writer.drain()
            return await asyncio.wait_for(self._read(reader, on_delta), self._timeout)
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, on_delta: DeltaSink) -> ModelReply:
        status = int((await reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        if status != 200:
            error = (await reader.readexactly(int(headers.get("content-length", "0")))).decode()
            kind = TransientModelError if status >= 500 or status == 429 else PermanentModelError
            raise kind(f"HTTP {status}: {error}")
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage: dict[str, int] = {}
        buffer = b""
        while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
            buffer += await reader.readexactly(size)
            await reader.readline()
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = event.removeprefix(b"data: ")
                if data == b"[DONE]":
                    continue
                chunk = json.loads(data)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        text.append(delta["content"])
                        await on_delta(delta["content"])
                    for piece in delta.get("tool_calls") or []:
                        call = calls.setdefault(piece["index"], {"id": "", "name": "", "arguments": ""})
                        call["id"] = piece.get("id") or call["id"]
                        function = piece.get("function") or {}
                        call["name"] += function.get("name") or ""
                        call["arguments"] += function.get("arguments") or ""
        await reader.readline()
        return ModelReply(
            text="".join(text),
            tool_calls=tuple(
                ReplyToolCall(c["id"] or None, c["name"], c["arguments"]) for _, c in sorted(calls.items())
            ),
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
