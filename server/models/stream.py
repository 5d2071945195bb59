"""A streamed reply put together from its chunks as they arrive.

litellm already assembles the whole reply once the stream ends (for its own usage and
cost accounting) and sends the usage it settled on in a last chunk; assembling it a
second time from the kept chunks costs more than the rest of our side of the call. So
each chunk is read once, as it streams: its text and reasoning go to the editor, its
tool-call fragments, thinking blocks and usage are kept. The rules are litellm's
(`stream_chunk_builder`): a tool call's fragments join by their index, the last id and
name given win, a call without both is dropped and one without arguments gets `{}`; a
thinking block ends at its signature; the usage is the last one a chunk carries.

Chunks are read by attribute, as litellm's stream objects give them (plain objects in
tests); thinking blocks are mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from server.models.base import DeltaKind


@dataclass
class _Call:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=lambda: [])


@dataclass(frozen=True)
class Assembled:
    """What a whole stream said: the parts of a `ModelReply` the stream itself gives."""

    text: str
    reasoning: str
    tool_calls: tuple[tuple[str, str, str], ...]
    """(id, name, arguments) in the order of their index."""
    thinking_blocks: tuple[dict[str, Any], ...]
    usage: Any
    """The provider's (or litellm's) usage object, None when no chunk carried one."""


class StreamedReply:
    def __init__(self) -> None:
        self.chunks = 0
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._thinking: list[dict[str, Any]] = []
        self._thought: list[str] = []
        self._signature: str | None = None
        self._usage: Any = None

    def add(self, chunk: Any) -> list[tuple[str, DeltaKind]]:
        """Keep what `chunk` carries; return its reasoning (as a thought), then its text,
        for the editor."""
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage
        choices = getattr(chunk, "choices", None)
        if not choices:
            return []
        delta = getattr(choices[0], "delta", None)
        if delta is None:
            return []
        pieces: list[tuple[str, DeltaKind]] = []
        reasoning = getattr(delta, "reasoning_content", None)
        if isinstance(reasoning, str) and reasoning:
            self._reasoning.append(reasoning)
            pieces.append((reasoning, "thought"))
        content = getattr(delta, "content", None)
        if isinstance(content, str) and content:
            self._text.append(content)
            pieces.append((content, "text"))
        calls = getattr(delta, "tool_calls", None)
        if calls:
            self._add_calls(cast(list[Any], calls))
        blocks = getattr(delta, "thinking_blocks", None)
        if blocks:
            self._add_thinking(cast(list[Any], blocks))
        return pieces

    def _add_calls(self, calls: list[Any]) -> None:
        for fragment in calls:
            function = getattr(fragment, "function", None)
            if not fragment or function is None:
                continue
            index = getattr(fragment, "index", 0) or 0
            call = self._calls.get(index)
            if call is None:
                call = self._calls[index] = _Call()
            if fragment_id := getattr(fragment, "id", None):
                call.id = fragment_id
            if name := getattr(function, "name", None):
                call.name = name
            if arguments := getattr(function, "arguments", None):
                call.arguments.append(arguments)

    def _add_thinking(self, blocks: list[Any]) -> None:
        for raw in blocks:
            plain = raw.model_dump() if hasattr(raw, "model_dump") else raw
            if not isinstance(plain, Mapping):
                continue
            block = cast(Mapping[str, Any], plain)
            if block.get("type") == "redacted_thinking":
                self._end_thought()
                if data := block.get("data"):
                    self._thinking.append({"type": "redacted_thinking", "data": data})
                continue
            if thinking := block.get("thinking"):
                self._thought.append(thinking)
            if signature := block.get("signature"):
                self._signature = signature
                self._end_thought()

    def _end_thought(self) -> None:
        """A thinking block is kept only once signed (litellm's rule: unsigned text is dropped)."""
        if self._signature:
            self._thinking.append(
                {"type": "thinking", "thinking": "".join(self._thought), "signature": self._signature}
            )
        self._thought = []
        self._signature = None

    def result(self) -> Assembled:
        self._end_thought()
        return Assembled(
            text="".join(self._text),
            reasoning="".join(self._reasoning),
            tool_calls=tuple(
                (call.id, call.name, "".join(call.arguments) or "{}")
                for _, call in sorted(self._calls.items())
                if call.id and call.name
            ),
            thinking_blocks=tuple(self._thinking),
            usage=self._usage,
        )
