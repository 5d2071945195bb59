"""The loop guard: the same tool call (its tool and its arguments) made three times in
a row in one turn asks the user, whatever the policy says. A model stuck in a loop,
re-reading one file or re-running one failing command, should not spend the user's
budget and context on it unseen."""

from __future__ import annotations

import json
from collections.abc import Sequence

from protocol.enums import MessageRole
from server.context.fit import json_object
from storage.records import MessageRow

REPEATS_ASK = 3
"""This many identical calls in a row ask the user."""

Call = tuple[str, str]
"""A call's identity: its tool and its arguments (canonical JSON when they parse)."""


def same_call(name: str, arguments: str) -> Call:
    """A call's identity for the loop guard: its tool and its arguments, key order aside."""
    parsed = json_object(arguments)
    return name, json.dumps(parsed, sort_keys=True) if parsed else arguments.strip()


def turn_calls(thread: Sequence[MessageRow], turn_id: str | None) -> list[Call]:
    """The tool calls of this turn in this thread, oldest first."""
    return [
        same_call(c.name, c.arguments)
        for m in thread
        if m.role is MessageRole.ASSISTANT and m.turn_id == turn_id
        for c in m.tool_calls
    ]


def repeats(recent: Sequence[Call], call: Call) -> int:
    """How many times in a row `call` has now been made (itself included)."""
    count = 1
    for earlier in reversed(recent):
        if earlier != call:
            break
        count += 1
    return count
