"""One small interface for every model the agents call.

Implementations raise `TransientModelError` for failures worth retrying (timeouts,
rate limits, 5xx, connection errors) and `PermanentModelError` for the rest; the
engine owns the retry loop so it can announce each retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from protocol.enums import AgentName

DeltaSink = Callable[[str], Awaitable[None]]
Purpose = Literal["classify", "agent"]


@dataclass(frozen=True)
class ModelRequest:
    agent: AgentName
    purpose: Purpose
    messages: list[dict[str, Any]]
    """OpenAI chat format: the system prompt first."""
    tools: list[dict[str, Any]] = field(default_factory=lambda: [])
    """OpenAI function-tool schemas; empty for the classifier."""


@dataclass(frozen=True)
class ReplyToolCall:
    id: str | None
    name: str
    arguments: str
    """The raw JSON text the model wrote (it may be invalid: the engine validates it)."""


@dataclass(frozen=True)
class ModelReply:
    text: str
    tool_calls: tuple[ReplyToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Model(Protocol):
    name: str

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        """Call the model; stream assistant text to `on_delta` as it arrives."""
        ...


class ModelFailure(Exception):
    """Base of model failures. `str()` never carries secrets."""


class TransientModelError(ModelFailure):
    """Worth retrying: timeout, rate limit, server error, broken connection."""


class PermanentModelError(ModelFailure):
    """Not worth retrying: bad request, authentication, unknown model, context too long."""


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough count (4 characters a token) for models that report no usage."""
    chars = sum(len(str(m.get("content") or "")) + len(str(m.get("tool_calls") or "")) for m in messages)
    return chars // 4 + 1


class RefusedModel:
    """A model that may not be called as configured (e.g. no key may go to its API
    base): every call fails at once, without retries, with the reason."""

    def __init__(self, reason: str, name: str = "refused") -> None:
        self.name = name
        self._reason = reason

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        raise PermanentModelError(self._reason)
