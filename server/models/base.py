"""One small interface for every model the agents call.

Implementations raise `TransientModelError` for failures worth retrying (timeouts,
rate limits, 5xx, connection errors) and `PermanentModelError` for the rest; the
engine owns the retry loop so it can announce each retry.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from protocol.enums import AgentName

DeltaKind = Literal["text", "thought"]
"""What a streamed piece is: the assistant's text, or its reasoning (shown as a thought)."""


class DeltaSink(Protocol):
    """Where a model streams its reply as it arrives. `kind` defaults to text, so a
    model adapter that knows nothing of reasoning calls `on_delta(piece)`."""

    def __call__(self, delta: str, kind: DeltaKind = "text", /) -> Awaitable[None]: ...


Purpose = Literal["classify", "agent", "compact"]


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
    cached_tokens: int = 0
    """Prompt tokens the provider served from its cache (included in `prompt_tokens`)."""
    cost_usd: float | None = None
    """What the call cost by the offline price map; None when the model is not in it."""
    reasoning: str = ""
    """The reasoning the provider returned beside the text (`reasoning_content`)."""
    thinking_blocks: tuple[dict[str, Any], ...] = ()
    """Anthropic's thinking blocks (with their signatures), as litellm gives them: they go
    back verbatim, as `thinking_blocks` on the assistant message, after a tool call."""


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
    """Not worth retrying as it is: bad request, authentication, unknown model."""


class ContextOverflow(PermanentModelError):
    """The provider refused the prompt as longer than the model's context window: worth
    retrying only with a shorter prompt (the step compacts harder)."""


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
