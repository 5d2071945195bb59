"""Token counts as litellm's `token_counter` makes them, memoised per message.

`token_counter(model, messages=…, tools=…)` is a sum over the messages plus a part for
the tools and the reply's priming, so `Tokens.prompt` gives the number one call over the
whole prompt gives, while a prompt that grew by two messages costs two new counts
(the long-task bench checks the equality once per run).

litellm is imported with its offline model map, without the sidecar's warm-up call.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

MODEL = "anthropic/claude-sonnet-4-5"
"""The model whose tokenizer and prices the long-task bench uses."""

Messages = Sequence[dict[str, Any]]


def import_litellm() -> Any:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    return litellm


async def load_litellm() -> Any:
    """litellm, imported off the event loop (it takes seconds)."""
    return await asyncio.to_thread(import_litellm)


class Tokens:
    def __init__(self, litellm: Any, model: str = MODEL) -> None:
        self._litellm = litellm
        self._model = model
        self._messages: dict[str, int] = {}
        self._tools: dict[tuple[str, bool], int] = {}
        self._empty = self.exact([])

    def exact(self, messages: Messages, tools: Messages = ()) -> int:
        """One `token_counter` call over the whole prompt."""
        return int(self._litellm.token_counter(model=self._model, messages=list(messages), tools=list(tools) or None))

    def prompt(self, messages: Messages, tools: Messages = ()) -> int:
        total = self._empty + sum(self._message(m) for m in messages)
        if tools:
            system = any(m.get("role") == "system" for m in messages)
            key = (json.dumps(tools, sort_keys=True), system)
            if key not in self._tools:
                probe = [{"role": "system" if system else "user", "content": ""}]
                self._tools[key] = self.exact(probe, tools) - self.exact(probe)
            total += self._tools[key]
        return total

    def text(self, text: str) -> int:
        return int(self._litellm.token_counter(model=self._model, text=text)) if text else 0

    def _message(self, message: dict[str, Any]) -> int:
        key = json.dumps(message, sort_keys=True)
        if key not in self._messages:
            self._messages[key] = self.exact([message]) - self._empty
        return self._messages[key]
