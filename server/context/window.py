# litellm ships no usable types: its answers are checked where they are used.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
"""How big a model's context window is and how many tokens a prompt takes.

The window: the user's setting (`llm.contextWindow`, `--context-window`,
`CODELAB_AGENT_CONTEXT_WINDOW`) wins; else litellm's offline model map
(`max_input_tokens`, trying the name without its routing prefixes too); else
`DEFAULT_WINDOW`. A provider that refuses a prompt as too long teaches a smaller one
(`refused`), kept for the process's lifetime.

Counting: litellm's `token_counter` for models litellm calls, memoised per message
(messages are append-only, so a step counts only what is new) and run off the event
loop (its first call loads a tokenizer). A prompt far below the threshold is not counted
exactly at all: a pessimistic estimate (3 characters a token) is enough to know that.
Models litellm does not call (the demo, adapters, tests' scripted models) are estimated
at 4 characters a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from server.models.litellm_model import start_import

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 32_000
"""Tokens assumed for a model nobody describes (a local server's unnamed model):
small enough for most local servers' defaults; a refusal teaches a smaller one."""

MIN_WINDOW = 1_024
"""No window, told or learned, is taken to be smaller than this."""

Messages = Sequence[dict[str, Any]]


def candidate_names(model: str) -> list[str]:
    """`openrouter/anthropic/claude-x` → itself, `anthropic/claude-x`, `claude-x`."""
    parts = model.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts)) if parts[i]]


def text_of(message: dict[str, Any]) -> str:
    """Everything in a message that costs tokens, as one string."""
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content) if content else ""
    calls = message.get("tool_calls")
    return text + (json.dumps(calls) if calls else "")


def estimate(message: dict[str, Any], chars_per_token: float = 4.0) -> int:
    return int(len(text_of(message)) / chars_per_token) + 4


def estimate_offered(schema_chars: Sequence[int]) -> int:
    """What the offered tools take of the prompt: their list's JSON at 4 characters a
    token, from each schema's own length (`schema_chars`; the list adds its brackets and
    a ", " between items), so that no schema is serialized again every step."""
    return (sum(schema_chars) + 2 * len(schema_chars)) // 4 if schema_chars else 0


class Meter:
    """Windows and token counts for the models a session calls.

    `uses_litellm(name)` says whether litellm calls that model (then its map and
    tokenizer apply)."""

    MEMO = 8_192

    def __init__(self, uses_litellm: Callable[[str], bool] = lambda _name: False) -> None:
        self._uses_litellm = uses_litellm
        self._mapped: dict[str, int | None] = {}
        self._learned: dict[str, int] = {}
        self._memo: OrderedDict[tuple[str, str, str], int] = OrderedDict()

    async def window(self, model: str, configured: int | None = None) -> int:
        """The window to budget for: told, else mapped, else the default; never more
        than a refusal taught."""
        told = configured or await self._mapped_window(model) or DEFAULT_WINDOW
        return max(MIN_WINDOW, min(told, self._learned.get(model, told)))

    def refused(self, model: str, sent_tokens: int) -> int:
        """The provider refused a prompt of `sent_tokens` as too long: budget for less
        from now on. Returns the new window."""
        smaller = max(MIN_WINDOW, int(sent_tokens * 0.85))
        self._learned[model] = min(self._learned.get(model, smaller), smaller)
        log.info("model %s refused %d tokens as too long: budgeting for %d", model, sent_tokens, smaller)
        return self._learned[model]

    async def count(self, model: str, messages: Messages) -> list[int]:
        """Tokens of each message (exact where litellm calls the model, estimated otherwise)."""
        if not self._uses_litellm(model):
            return [estimate(m) for m in messages]
        keys = [(model, str(m.get("role", "")), text_of(m)) for m in messages]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memo]
        if missing:
            litellm = await asyncio.wrap_future(start_import())
            counted = await asyncio.to_thread(_count_exactly, litellm, model, missing)
            for key, tokens in zip(missing, counted, strict=True):
                self._memo[key] = tokens
        result: list[int] = []
        for key in keys:
            self._memo.move_to_end(key)
            result.append(self._memo[key])
        while len(self._memo) > self.MEMO:
            self._memo.popitem(last=False)
        return result

    async def _mapped_window(self, model: str) -> int | None:
        if not self._uses_litellm(model):
            return None
        if model not in self._mapped:
            litellm = await asyncio.wrap_future(start_import())
            self._mapped[model] = _max_input_tokens(litellm, model)
        return self._mapped[model]


def _max_input_tokens(litellm: Any, model: str) -> int | None:
    for name in candidate_names(model):
        try:
            info = litellm.get_model_info(name)
        except Exception:  # noqa: BLE001 - litellm raises a bare Exception for unmapped models
            continue
        tokens = info.get("max_input_tokens") or info.get("max_tokens")
        if isinstance(tokens, int) and tokens > 0:
            return tokens
    return None


def _count_exactly(litellm: Any, model: str, keys: list[tuple[str, str, str]]) -> list[int]:
    counts: list[int] = []
    for _model, role, text in keys:
        try:
            counts.append(int(litellm.token_counter(model=model, messages=[{"role": role, "content": text}])))
        except Exception:
            log.debug("token_counter failed for %s; estimating", model, exc_info=True)
            counts.append(len(text) // 3 + 4)
    return counts
