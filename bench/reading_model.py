"""A model adapter for the long-task bench (`--model py:bench.reading_model:ReadingModel`):
it reads the workspace's files one per step, statelessly, like an agent working through
a long task.

Each file starts with a `FILE-NN of TOTAL` line, so the next move follows from the newest
tool result in the request: none yet → read the first file; `FILE-07 of 40` → write a
short note and read the eighth; `FILE-40 of 40` → attempt_completion. A compaction
request is answered with a short summary. Prompt and completion tokens are counted with
litellm's `token_counter` (`bench.tokens`), and every request is appended, as one JSON
line (purpose, messages, tools, tokens), to the file `$CODELAB_BENCH_REQUEST_LOG` names.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

from bench.tokens import Tokens, load_litellm
from server.models.base import DeltaSink, ModelReply, ModelRequest, ReplyToolCall

LOG_ENV = "CODELAB_BENCH_REQUEST_LOG"
HEADER = re.compile(r"FILE-(\d+) of (\d+)")
FILE_BYTES = 6_144

TASK = "Read the files part01.txt, part02.txt, … in order, one per step, noting what each holds; then finish."
SUMMARY = """## Task
Read the numbered files in order, one per step, noting what each holds.
## Decisions
None: each file is read whole, in order.
## Files
The files read so far hold helper functions over records (see the record below).
## Done
The files listed in the record are read.
## Next
Read the next file after the newest one shown."""

VERBS = ("load", "merge", "check", "render", "split", "count", "index", "flush", "parse", "settle")
NOUNS = ("ledger", "entry", "batch", "account", "rate", "invoice", "window", "cursor", "balance", "audit")


def path_of(number: int) -> str:
    return f"part{number:02d}.txt"


def file_text(number: int, total: int) -> str:
    """`FILE_BYTES` of Python-like text, different in every file, under its header line."""
    rng = random.Random(number)
    lines = [f"FILE-{number:02d} of {total}", f'"""Part {number} of the ledger service."""', ""]
    while sum(len(line) + 1 for line in lines) < FILE_BYTES:
        verb, noun, other = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(NOUNS)
        lines += [
            f"def {verb}_{noun}_{rng.randint(1, 999)}(record, limit={rng.randint(1, 500)}):",
            f'    """{verb.capitalize()} the {noun} of a record, skipping any {other} over the limit."""',
            f"    total = sum(item.{other} for item in record.items if item.size < limit)",
            f"    return total * {rng.randint(2, 99)} // {rng.randint(2, 9)}",
            "",
        ]
    return "\n".join(lines)[:FILE_BYTES]


class ReadingModel:
    def __init__(self, *, name: str, api_base: str | None = None, timeout_seconds: float = 0) -> None:
        self.name = name
        self._log = os.environ.get(LOG_ENV)
        self._tokens: Tokens | None = None

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        if self._tokens is None:
            self._tokens = Tokens(await load_litellm())
        text, calls = _answer(request)
        if text:
            await on_delta(text)
        prompt = self._tokens.prompt(request.messages, request.tools)
        completion = self._tokens.text(text + "".join(c.name + c.arguments for c in calls))
        if self._log:
            line = {
                "purpose": request.purpose,
                "messages": request.messages,
                "tools": request.tools,
                "promptTokens": prompt,
                "completionTokens": completion,
            }
            _append(Path(self._log), line)
        return ModelReply(text=text, tool_calls=calls, prompt_tokens=prompt, completion_tokens=completion)


def _answer(request: ModelRequest) -> tuple[str, tuple[ReplyToolCall, ...]]:
    if request.purpose == "compact":
        return SUMMARY, ()
    if request.purpose == "classify":
        return "code", ()
    results = [m for m in request.messages if m.get("role") == "tool"]
    if not results:
        return "Starting with the first file.", (_call("read_file", "call_r01", path=path_of(1)),)
    header = HEADER.match(str(results[-1].get("content") or ""))
    if header is None:
        return "", (_call("attempt_completion", "call_fail", result="The newest result is no file.", failed=True),)
    number, total = int(header[1]), int(header[2])
    note = f"{path_of(number)} holds the ledger helpers of part {number}; noted."
    if number >= total:
        return note, (_call("attempt_completion", "call_done", result=f"Read all {total} files."),)
    return note, (_call("read_file", f"call_r{number + 1:02d}", path=path_of(number + 1)),)


def _append(log: Path, line: dict[str, Any]) -> None:
    with log.open("a") as file:
        file.write(json.dumps(line) + "\n")


def _call(name: str, call_id: str, **arguments: Any) -> ReplyToolCall:
    return ReplyToolCall(call_id, name, json.dumps(arguments))
