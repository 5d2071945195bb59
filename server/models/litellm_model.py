# litellm ships no usable types: this module is the boundary that gives its answers types.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""Any model litellm reaches: OpenRouter, OpenAI, Anthropic, a local OpenAI-compatible
server (`openai/NAME` with an api base).

Long tasks send the same prefix again and again, so where the provider takes explicit
prompt-cache breakpoints (Anthropic, Bedrock's Claude, Gemini, and those behind
OpenRouter) each call marks two through litellm's `cache_control_injection_points`: the
system prompt (on Anthropic the tools come before it, so they are cached with it) and
the newest message, which the next step's prompt still holds in place (the runtime keeps
the prompt an append-only prefix between compactions). OpenAI-style providers cache
such a prefix without being told. Each reply carries the cached input tokens and its
cost from litellm's offline price map (None when the map does not know the model), and
the reasoning a provider streams (`reasoning_content`, Anthropic's signed thinking
blocks), which goes to the editor as thoughts.

litellm is slow to import (seconds) and, unless told otherwise, fetches a price list
from the internet and prints to stdout. `start_import()` loads it on a worker thread:
the sidecar calls it at process start when a configured model needs it (and again
whenever the settings name a new one), so no message waits for more of the import than
is left of it. The thread shares the interpreter lock with the sidecar's own start, so
`initialize` is answered later than without it (`python bench/run.py --only costs`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, cast

from server import gcpause
from server.keys import redact
from server.models.base import (
    ContextOverflow,
    DeltaSink,
    ModelReply,
    ModelRequest,
    PermanentModelError,
    ReplyToolCall,
    TransientModelError,
    estimate_tokens,
)
from server.models.stream import StreamedReply

log = logging.getLogger(__name__)


class _Import:
    lock = threading.Lock()
    future: Future[Any] | None = None


def _load() -> Any:
    """Import litellm and warm it up, the collector paused meanwhile in the sidecar
    (`server.gcpause`: a quarter of the import's time otherwise goes to collections)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    paused = gcpause.pause_if_started()
    started = time.perf_counter()
    try:
        import litellm  # noqa: PLC0415 - deliberately imported off the critical path

        litellm.suppress_debug_info = True
        litellm.drop_params = True
        imported = time.perf_counter()
        _warm_up(litellm)
        warmed = time.perf_counter()
    finally:
        if paused:
            gcpause.resume(collect_and_freeze=True)
    log.info(
        "litellm imported in %.2fs, warmed up in %.2fs (then %.2fs collecting what it left)",
        imported - started,
        warmed - imported,
        time.perf_counter() - warmed,
    )
    return litellm


def _warm_up(litellm: Any) -> None:
    """One mocked streaming call with a tool (no network), and one token count: they load
    the modules and the tokenizer (~0.2 s) a first real call would otherwise load while
    the user waits (about a second in all)."""
    messages = [{"role": "user", "content": "warm-up"}]
    tool = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}

    async def call() -> None:
        stream = await litellm.acompletion(
            model="openai/warm-up", messages=messages, tools=[tool], stream=True, mock_response="ok", timeout=5
        )
        reply = StreamedReply()
        async for chunk in stream:
            reply.add(chunk)
        reply.result()

    try:
        asyncio.run(call())
        litellm.token_counter(model="gpt-4", messages=messages)  # the tokenizer every count uses
    except Exception:
        log.debug("litellm warm-up failed", exc_info=True)


def needed_by(*names: str) -> bool:
    """Whether litellm calls any of these models (not the demo, not a `py:` adapter)."""
    from server.models.adapters import is_adapter  # noqa: PLC0415 - models' own light modules
    from server.settings import DEMO_MODEL  # noqa: PLC0415

    return any(name != DEMO_MODEL and not is_adapter(name) for name in names)


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


CACHE_POINTS: tuple[dict[str, Any], ...] = (
    {"location": "message", "role": "system"},
    {"location": "message", "index": -1},
)
"""Where litellm puts `cache_control` breakpoints: the system prompt, the newest message."""

BREAKPOINT_PROVIDERS = frozenset({"anthropic", "bedrock", "vertex_ai", "vertex_ai_beta", "gemini"})
"""Providers that cache only what a breakpoint marks. OpenAI, Azure, DeepSeek and the
OpenAI-compatible servers cache a repeated prefix by themselves, and some refuse fields
they do not know, so they are sent none."""

OPENROUTER_BREAKPOINT_FAMILIES = ("anthropic/", "google/")
"""The models behind OpenRouter that take `cache_control` breakpoints."""


def names(name: str) -> list[str]:
    """`name`, then without each routing prefix in turn:
    `openrouter/anthropic/claude-x` → `anthropic/claude-x` → `claude-x`."""
    parts = name.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def takes_breakpoints(litellm: Any, name: str) -> bool:
    """Whether calls to `name` (a litellm route) should carry cache breakpoints."""
    try:
        provider = str(litellm.get_llm_provider(name)[1])
    except Exception:  # noqa: BLE001 - a name litellm cannot route has nothing to cache
        return False
    if provider == "openrouter":
        if not name.removeprefix("openrouter/").startswith(OPENROUTER_BREAKPOINT_FAMILIES):
            return False
    elif provider not in BREAKPOINT_PROVIDERS:
        return False
    from litellm.utils import supports_prompt_caching  # noqa: PLC0415 - litellm loads off the critical path

    for candidate in names(name):
        try:
            if supports_prompt_caching(candidate):
                return True
        except Exception:  # noqa: BLE001 - not in the map under this name; try the next
            continue
    return False


def priced_name(model_cost: Mapping[str, Any], name: str) -> str | None:
    """The first of `names(name)` that litellm's price map prices, or None. The map
    itself, not `get_model_info`: that makes up a zero-cost entry for some providers'
    unknown models, and an unknown price must read as unknown, never as free."""
    for candidate in names(name):
        entry = model_cost.get(candidate)
        if isinstance(entry, Mapping) and cast(Mapping[str, Any], entry).get("input_cost_per_token") is not None:
            return candidate
    return None


def price(litellm: Any, name: str, usage: Any, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The call's cost in USD by the offline price map, cached and cache-write tokens at
    their own prices when the provider reported them; None when the map lacks the model."""
    priced = priced_name(litellm.model_cost, name)
    if priced is None:
        return None
    try:
        if usage is not None and getattr(usage, "prompt_tokens", None):
            prompt_cost, completion_cost = litellm.cost_per_token(model=priced, usage_object=usage)
        else:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=priced, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
    except Exception:
        log.debug("no price for %s as %s", name, priced, exc_info=True)
        return None
    return float(prompt_cost) + float(completion_cost)


def cached_tokens(usage: Any) -> int:
    """Input tokens served from the provider's cache: OpenAI's
    `prompt_tokens_details.cached_tokens`, else Anthropic's `cache_read_input_tokens`."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return int(cached or getattr(usage, "cache_read_input_tokens", 0) or 0)


class LiteLLMModel:
    def __init__(self, name: str, *, api_base: str | None, api_key: str | None, timeout_seconds: float) -> None:
        """`api_key` None lets litellm find the provider's own key (`server.keys` decides)."""
        self.name = name
        self._route = route(name, api_base)
        self._api_base = api_base
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._breakpoints: bool | None = None

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
        if self._breakpoints is None:
            self._breakpoints = takes_breakpoints(litellm, self._route)
        if self._breakpoints:
            kwargs["cache_control_injection_points"] = [dict(point) for point in CACHE_POINTS]
        reply = StreamedReply()
        try:
            stream = await litellm.acompletion(**kwargs)
            async for chunk in stream:
                for piece, kind in reply.add(chunk):
                    await on_delta(piece, kind)
                if read_whole(stream):
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _classify(litellm, exc) from exc
        return _reply(litellm, self.name, reply, request)


def read_whole(stream: Any) -> bool:
    """Whether litellm's stream has given everything: the provider's stream ended and
    litellm sent the usage it computed after it (its last chunk). Reading on would only
    run litellm's end-of-stream logging (a second build of the whole response, a second
    cost calculation, success callbacks we never register): about half of what litellm
    costs a call (`python bench/run.py --only costs`). A stream without these flags is
    read to its end."""
    return getattr(stream, "sent_last_chunk", False) is True and getattr(stream, "sent_stream_usage", False) is True


def _reply(litellm: Any, name: str, reply: StreamedReply, request: ModelRequest) -> ModelReply:
    if not reply.chunks:
        raise TransientModelError("the model returned an empty response")
    whole = reply.result()
    usage = whole.usage
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0) or estimate_tokens(request.messages)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return ModelReply(
        text=whole.text,
        tool_calls=tuple(ReplyToolCall(id=id_, name=name_, arguments=args) for id_, name_, args in whole.tool_calls),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached_tokens(usage),
        cost_usd=price(litellm, name, usage, prompt, completion),
        reasoning=whole.reasoning,
        thinking_blocks=whole.thinking_blocks,
    )


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
    if isinstance(exc, litellm.ContextWindowExceededError) or (isinstance(exc, never_retry) and too_long(str(exc))):
        return ContextOverflow(message)
    if isinstance(exc, never_retry):
        return PermanentModelError(message)
    return TransientModelError(message)


_TOO_LONG = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the maximum number of tokens",
    "reduce the length",
)


def too_long(message: str) -> bool:
    """Whether a provider's refusal says the prompt is longer than the model takes (for
    providers whose errors litellm does not map to `ContextWindowExceededError`)."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in _TOO_LONG)
