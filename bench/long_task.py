"""The long-task bench's accounting: what a sidecar sent to its model over a long reading
task (`bench.reading_model` logs every request), against sending the whole history at
every step, and what each costs at a model's offline prices, with and without a prompt
cache.

The full-history prompts are rebuilt from `agent/getSession`'s stored messages (every
message is stored whole) in the format the sidecar sends, with the system prompt and
tool schemas it sent; up to the first compaction they must equal what it sent.

The cache is modelled as Anthropic's with breakpoints on the system prompt and the
newest message: a request reads from the cache the longest prefix of whole messages it
shares with the previous request of its kind (agent step or summary call) and writes the
rest at the cache-write price; output is paid as usual. A compaction changes a message
of the prefix, so the request after it reads only up to that message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.tokens import MODEL, Tokens
from server.agents import texts
from server.settings import LlmSettings

Message = dict[str, Any]
COMPACTIONS = ("elision", "summary")
THRESHOLD = LlmSettings().compaction_threshold


@dataclass(frozen=True)
class Request:
    purpose: str
    messages: list[Message]
    tools: list[Message]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Bill:
    """Tokens and their price over a run's requests."""

    prompt: int = 0
    read: int = 0
    written: int = 0
    completion: int = 0
    usd: float = 0.0

    def __add__(self, other: Bill) -> Bill:
        return Bill(
            self.prompt + other.prompt,
            self.read + other.read,
            self.written + other.written,
            self.completion + other.completion,
            self.usd + other.usd,
        )


@dataclass(frozen=True)
class Outcome:
    window: int
    agent_calls: int
    summary_calls: int
    elisions: int
    summaries: int
    largest: int
    largest_full: int
    ours: Bill
    ours_cached: Bill
    full: Bill
    full_cached: Bill


def read_log(path: Path) -> list[Request]:
    requests = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        requests.append(Request(r["purpose"], r["messages"], r["tools"], r["promptTokens"], r["completionTokens"]))
    return requests


def full_history(state: dict[str, Any], system: Message) -> list[list[Message]]:
    """The prompt of each agent step had nothing been compacted: the system prompt, then
    every stored message before the step's reply, whole."""
    prompts: list[list[Message]] = []
    history: list[Message] = []
    for message in state["messages"]:
        kind, role, content = message["kind"], message["role"], message["content"]
        if kind in COMPACTIONS:
            continue
        if role == "assistant" and kind == "message":
            prompts.append([system, *history])
        if role == "user":
            history.append({"role": "user", "content": content})
        elif role == "system":
            history.append({"role": "user", "content": texts.system_note(content)})
        elif role == "tool":
            history.append({"role": "tool", "tool_call_id": message["toolCallId"], "content": content})
        elif message.get("toolCalls"):
            history.append({"role": "assistant", "content": content or None, "tool_calls": message["toolCalls"]})
        elif content:
            history.append({"role": "assistant", "content": content})
    return prompts


def shared_prefix(before: Sequence[Message], now: Sequence[Message]) -> int:
    count = 0
    for a, b in zip(before, now, strict=False):
        if a != b:
            break
        count += 1
    return count


def bill(
    litellm: Any, tokens: Tokens, requests: Sequence[tuple[str, list[Message], list[Message], int]], *, cache: bool
) -> Bill:
    """What `requests` ((purpose, messages, tools, completion tokens)) cost at `MODEL`'s
    prices. `cost_per_token` takes `prompt_tokens` with the cache's reads and writes
    included (2,000 prompt, 1,000 read, 1,000 written is priced as no uncached token)."""
    total = Bill()
    previous: dict[str, list[Message]] = {}
    for purpose, messages, tools, output in requests:
        prompt = tokens.prompt(messages, tools)
        read = written = 0
        priced: dict[str, int] = {}
        if cache:
            shared = shared_prefix(previous.get(purpose, []), messages)
            read = tokens.prompt(messages[:shared], tools) if shared else 0
            written = prompt - read
            previous[purpose] = messages
            priced = {"cache_read_input_tokens": read, "cache_creation_input_tokens": written}
        usd = sum(litellm.cost_per_token(model=MODEL, prompt_tokens=prompt, completion_tokens=output, **priced))
        total += Bill(prompt, read, written, output, usd)
    return total


def check_cache_prices(litellm: Any) -> None:
    """`bill`'s reading of `cost_per_token`: read and written tokens inside `prompt_tokens`."""
    info = litellm.get_model_info(MODEL)
    expected = 1_000 * (info["cache_read_input_token_cost"] + info["cache_creation_input_token_cost"])
    priced = litellm.cost_per_token(
        model=MODEL, prompt_tokens=2_000, cache_read_input_tokens=1_000, cache_creation_input_tokens=1_000
    )
    assert abs(priced[0] - expected) < 1e-12, (priced, expected)


def measure(litellm: Any, tokens: Tokens, window: int, requests: list[Request], state: dict[str, Any]) -> Outcome:
    check_cache_prices(litellm)
    agent = [r for r in requests if r.purpose == "agent"]
    kinds = [m["kind"] for m in state["messages"]]
    full = full_history(state, agent[0].messages[0])
    assert len(full) == len(agent), (len(full), len(agent))
    first = next((i for i, kind in enumerate(kinds) if kind in COMPACTIONS), len(kinds))
    uncompacted = sum(m["role"] == "assistant" and m["kind"] == "message" for m in state["messages"][:first])
    for sent, whole in zip(agent[:uncompacted], full, strict=False):
        assert sent.messages == whole, "a prompt sent before any compaction is not the whole history"
    assert sum(r.prompt_tokens for r in requests) == state["usage"]["total"]["promptTokens"]
    largest_full = max(full, key=len)
    assert tokens.prompt(largest_full, agent[0].tools) == tokens.exact(largest_full, agent[0].tools)
    ours = [(r.purpose, r.messages, r.tools, r.completion_tokens) for r in requests]
    theirs = [("agent", m, r.tools, r.completion_tokens) for m, r in zip(full, agent, strict=True)]
    return Outcome(
        window=window,
        agent_calls=len(agent),
        summary_calls=sum(r.purpose == "compact" for r in requests),
        elisions=kinds.count("elision"),
        summaries=kinds.count("summary"),
        largest=max(r.prompt_tokens for r in requests),
        largest_full=tokens.prompt(largest_full, agent[0].tools),
        ours=bill(litellm, tokens, ours, cache=False),
        ours_cached=bill(litellm, tokens, ours, cache=True),
        full=bill(litellm, tokens, theirs, cache=False),
        full_cached=bill(litellm, tokens, theirs, cache=True),
    )


def rows(o: Outcome, steps: int, what: str) -> list[tuple[str, str]]:
    price = f"USD at {MODEL.split('/')[-1]} prices"
    compacted = f"{o.elisions} elisions, {o.summaries} summaries" if o.elisions or o.summaries else "none"

    def cached(b: Bill) -> str:
        return f"cache ({b.read / b.prompt:.0%} of input read, {b.written / b.prompt:.0%} written)"

    return [
        (f"long task, {steps} steps × 6 KB read, {o.window:,}-token window ({what})", ""),
        ("  model calls: agent steps + summary calls", f"{o.agent_calls:8d} + {o.summary_calls}"),
        (f"  compactions (at {THRESHOLD:.0%} of the window: {int(o.window * THRESHOLD):,} tokens)", f"{compacted:>8}"),
        ("  prompt tokens, this design", f"{o.ours.prompt:8d}"),
        ("  prompt tokens, full history each step", f"{o.full.prompt:8d}"),
        ("  this design / full history", f"{o.ours.prompt / o.full.prompt:8.2f}"),
        ("  largest prompt, this design", f"{o.largest:8d}"),
        ("  largest prompt, full history", f"{o.largest_full:8d}"),
        (f"  {price}, this design, no cache", f"{o.ours.usd:8.4f} $"),
        (f"  {price}, this design, {cached(o.ours_cached)}", f"{o.ours_cached.usd:8.4f} $"),
        (f"  {price}, full history, no cache", f"{o.full.usd:8.4f} $"),
        (f"  {price}, full history, {cached(o.full_cached)}", f"{o.full_cached.usd:8.4f} $"),
    ]
