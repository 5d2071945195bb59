# litellm ships no usable types: this module is the boundary that gives its answers types.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""Any model litellm reaches: OpenRouter, OpenAI, Anthropic, a local OpenAI-compatible
server (`openai/NAME` with an api base).

litellm is slow to import (seconds) and, unless told otherwise, fetches a price list
from the internet and prints to stdout. `start_import()` loads it on a worker thread
once the editor is connected, so neither `initialize` nor the first message waits for
the whole import when the user takes a moment to type.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

from server.keys import redact
from server.models.base import (
    DeltaSink,
    ModelReply,
    ModelRequest,
    PermanentModelError,
    ReplyToolCall,
    TransientModelError,
    estimate_tokens,
)

log = logging.getLogger(__name__)


class _Import:
    lock = threading.Lock()
    future: Future[Any] | None = None


def _load() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    started = time.perf_counter()
    import litellm  # noqa: PLC0415 - deliberately imported off the critical path

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    imported = time.perf_counter()
    _warm_up(litellm)
    log.info("litellm imported in %.2fs, warmed up in %.2fs", imported - started, time.perf_counter() - imported)
    return litellm


def _warm_up(litellm: Any) -> None:
    """One mocked streaming call with a tool (no network): it loads the modules a
    first real call would otherwise load while the user waits (about a second)."""
    messages = [{"role": "user", "content": "warm-up"}]
    tool = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}

    async def call() -> None:
        stream = await litellm.acompletion(
            model="openai/warm-up", messages=messages, tools=[tool], stream=True, mock_response="ok", timeout=5
        )
        chunks = [chunk async for chunk in stream]
        litellm.stream_chunk_builder(chunks, messages=messages)

    try:
        asyncio.run(call())
    except Exception:
        log.debug("litellm warm-up failed", exc_info=True)


def start_import() -> Future[Any]:
    """Begin importing litellm on a daemon thread (idempotent)."""
    with _Import.lock:
        if _Import.future is None:
            future: Future[Any] = Future()

            def run() -> None:
                try:
                    future.set_result(_load())
                except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits it
                    future.set_exception(exc)

            threading.Thread(target=run, name="litellm-import", daemon=True).start()
            _Import.future = future
        return _Import.future


def route(name: str, api_base: str | None) -> str:
    """The litellm model string to call.

    `openai/NAME` with an API base is an OpenAI-compatible server (llama.cpp, vLLM,
    LM Studio): litellm's generic OpenAI-compatible handler speaks the same wire format
    without the OpenAI SDK's per-call walk over every message, which costs ~140 ms a
    call on a 600-message history (`python bench/run.py` shows the step latency)."""
    if api_base and name.startswith("openai/"):
        return "hosted_vllm/" + name.removeprefix("openai/")
    return name


class LiteLLMModel:
    def __init__(self, name: str, *, api_base: str | None, api_key: str | None, timeout_seconds: float) -> None:
        """`api_key` None lets litellm find the provider's own key (`server.keys` decides)."""
        self.name = name
        self._route = route(name, api_base)
        self._api_base = api_base
        self._api_key = api_key
        self._timeout = timeout_seconds

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        litellm = await asyncio.wrap_future(start_import())
        kwargs: dict[str, Any] = {
            "model": self._route,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self._timeout,
            "num_retries": 0,
        }
        if request.tools:
            kwargs["tools"] = request.tools
        if self._api_base:
            kwargs["api_base"] = self._api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        try:
            stream = await litellm.acompletion(**kwargs)
            chunks: list[Any] = []
            async for chunk in stream:
                chunks.append(chunk)
                delta = _delta_text(chunk)
                if delta:
                    await on_delta(delta)
            built = litellm.stream_chunk_builder(chunks, messages=request.messages)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _classify(litellm, exc) from exc
        return _reply(built, request)


def _delta_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    return content if isinstance(content, str) else ""


def _reply(built: Any, request: ModelRequest) -> ModelReply:
    if built is None or not getattr(built, "choices", None):
        raise TransientModelError("the model returned an empty response")
    message = built.choices[0].message
    calls = tuple(
        ReplyToolCall(id=getattr(c, "id", None), name=c.function.name or "", arguments=c.function.arguments or "")
        for c in (getattr(message, "tool_calls", None) or [])
    )
    usage = getattr(built, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0) or estimate_tokens(request.messages)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return ModelReply(text=message.content or "", tool_calls=calls, prompt_tokens=prompt, completion_tokens=completion)


def _classify(litellm: Any, exc: Exception) -> Exception:
    """Map litellm's exceptions onto transient (retry) or permanent (do not)."""
    never_retry = (
        litellm.AuthenticationError,
        litellm.BadRequestError,
        litellm.NotFoundError,
        litellm.ContextWindowExceededError,
        litellm.ContentPolicyViolationError,
        litellm.PermissionDeniedError,
        litellm.UnprocessableEntityError,
    )
    message = redact(f"{type(exc).__name__}: {exc}")[:800]
    if isinstance(exc, never_retry):
        return PermanentModelError(message)
    return TransientModelError(message)
