"""The scripted model in-process: the scripts of `tests/fake_llm.py` played through
the `Model` interface itself, with no HTTP server and no subprocess.

Each call is turned into the OpenAI-style body the fake server would have received
(messages and tools, through JSON), recorded as a `Request`, and answered from the
script: text streamed to `on_delta` in a few pieces, tool calls with raw arguments, a
non-200 status raised as the model errors the real adapters raise, a held reply
awaited without blocking the loop (and given up when the call is cancelled).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

from server.models.base import (
    ContextOverflow,
    DeltaSink,
    ModelReply,
    ModelRequest,
    PermanentModelError,
    ReplyToolCall,
    TransientModelError,
)
from server.models.litellm_model import too_long
from tests.fake_llm import Reply, Request, Script, Scripted, ScriptedLLM, pieces

HOLD_SECONDS = 60.0
"""As long as the fake server holds a reply."""

_LIVE: dict[str, InProcessLLM] = {}
_NUMBERS = itertools.count(1)


class InProcessLLM(ScriptedLLM):
    """`FakeLLM` without the server: `url` is an address that only an in-process
    sidecar resolves (see `tests/runtime/editor.py`), as the real one resolves
    `--api-base`."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__(script or Scripted())
        self.url = f"inprocess://fake-llm/{next(_NUMBERS)}"

    def start(self) -> InProcessLLM:
        _LIVE[self.url] = self
        return self

    def stop(self) -> None:
        self.release()
        _LIVE.pop(self.url, None)

    @staticmethod
    def at(url: str | None) -> InProcessLLM | None:
        return _LIVE.get(url) if url else None


def wire_name(name: str) -> str:
    """The `model` the fake server sees: what litellm sends for `provider/name`, and
    "fake" for a `py:` adapter, as `tests/fake_model.py` sends."""
    return "fake" if name.startswith("py:") else name.split("/", 1)[-1]


class ScriptedModel:
    """A `Model` that answers from an `InProcessLLM`'s script."""

    def __init__(self, name: str, llm: InProcessLLM) -> None:
        self.name = name
        self._llm = llm

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        body: dict[str, Any] = {
            "model": wire_name(self.name),
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = request.tools
        body = json.loads(json.dumps(body))  # the shapes the server would have parsed
        reply = self._llm.answer(Request(body))
        if reply.hold is not None:
            await _held(reply.hold)
        if reply.status != 200:
            raise _error(reply)
        for piece in pieces(reply.text):
            await on_delta(piece)
            await asyncio.sleep(0)  # a stream yields between chunks
        calls = tuple(
            ReplyToolCall(f"call_fake_{i}", name, args if isinstance(args, str) else json.dumps(args))
            for i, (name, args) in enumerate(reply.calls)
        )
        await asyncio.sleep(0)
        return ModelReply(
            text=reply.text,
            tool_calls=calls,
            prompt_tokens=len(json.dumps(body["messages"])) // 4,
            completion_tokens=len(reply.text) // 4 + 1,
        )


async def _held(hold: threading.Event) -> None:
    """Wait for a test to set `hold` (a threading.Event, as the server waits), polling so
    that a cancelled call stops waiting at once and leaves no thread behind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HOLD_SECONDS
    while not hold.is_set() and loop.time() < deadline:  # noqa: ASYNC110 (a threading.Event, set from tests)
        await asyncio.sleep(0.005)


PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 422})
"""The statuses of the litellm errors that `_classify` in server/models/litellm_model.py
never retries (bad request, authentication, permission denied, not found, unprocessable).
Everything else — 408, 429, 5xx — is worth retrying."""


def _error(reply: Reply) -> Exception:
    body = json.dumps(reply.error_body())
    kind = PermanentModelError if reply.status in PERMANENT_STATUSES else TransientModelError
    if kind is PermanentModelError and too_long(body):
        kind = ContextOverflow
    return kind(f"HTTP {reply.status}: {body}")
