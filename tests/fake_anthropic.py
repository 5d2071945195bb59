"""A local Anthropic Messages API on 127.0.0.1 that plays a script, as litellm's
`anthropic/` route speaks it (`POST /v1/messages` with `stream: true`).

It streams like the real thing: `message_start`, then one content block after another
(`thinking` with its signature, `text`, `tool_use` whose input arrives as
`input_json_delta` pieces), `message_delta` with the stop reason and the usage,
`message_stop`.

It also keeps a prompt cache the way Anthropic describes it, so cached tokens are
earned, not scripted: a request is read as one run of blocks (tools, system blocks,
then every message's content blocks), a block marked `cache_control` is a breakpoint,
and the prefix up to each breakpoint is written to the cache. A later request reads the
longest prefix of its own that was written before and ends at one of its breakpoints or
up to 20 blocks before one, as Anthropic looks back (`cache_read_input_tokens`); what
lies between that and its last breakpoint is written (`cache_creation_input_tokens`);
the rest is `input_tokens`. A token is four characters
of the block's JSON (without its `cache_control`), so a prompt that does not keep its
earlier bytes in place earns no hit.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_llm import pieces

_AGENT = re.compile(r"You are the (\w+)")
LOOKBACK_BLOCKS = 20
"""How far before a breakpoint a cache hit is looked for (Anthropic's documented window)."""


@dataclass
class Turn:
    """One scripted answer."""

    text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)
    """(tool name, arguments as a dict)."""
    thinking: str = ""
    """A thinking block before the text, streamed as `thinking_delta`s, then its signature."""
    status: int = 200


@dataclass
class MessagesRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    usage: dict[str, int] = field(default_factory=lambda: {})
    """The usage this request was answered with."""

    @property
    def system(self) -> list[dict[str, Any]]:
        system = self.body.get("system") or []
        return [{"type": "text", "text": system}] if isinstance(system, str) else system

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]

    @property
    def agent(self) -> str:
        found = _AGENT.search(" ".join(str(b.get("text", "")) for b in self.system))
        return found.group(1) if found else "?"

    def blocks(self) -> list[dict[str, Any]]:
        """The request as the cache sees it: tools, system blocks, message blocks."""
        found: list[dict[str, Any]] = [*(self.body.get("tools") or []), *self.system]
        for message in self.messages:
            content = message["content"]
            if isinstance(content, str):
                found.append({"type": "text", "text": content, "role": message["role"]})
            else:
                found += [{**block, "role": message["role"]} for block in content]
        return found

    def breakpoints(self) -> list[int]:
        """Indexes (in `blocks()`) of the blocks marked `cache_control`."""
        return [i for i, block in enumerate(self.blocks()) if "cache_control" in block]

    def thinking_sent_back(self) -> list[dict[str, Any]]:
        """Thinking blocks in the assistant messages of this request."""
        return [
            block
            for message in self.messages
            if message["role"] == "assistant" and isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") in ("thinking", "redacted_thinking")
        ]


def _tokens(block: dict[str, Any]) -> int:
    return len(json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)) // 4 + 1


class PromptCache:
    """Prefix hashes written at breakpoints; what a request reads, writes and pays."""

    def __init__(self) -> None:
        self._written: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, request: MessagesRequest) -> dict[str, int]:
        blocks = request.blocks()
        marks = request.breakpoints()
        sizes = [_tokens(b) for b in blocks]
        digests: list[str] = []
        running = hashlib.sha256()
        for block in blocks:
            running.update(
                json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True).encode()
            )
            digests.append(running.copy().hexdigest())
        looked_at = {j for i in marks for j in range(max(0, i - LOOKBACK_BLOCKS), i + 1)}
        with self._lock:
            hit = max((j for j in looked_at if digests[j] in self._written), default=-1)
            self._written.update(digests[i] for i in marks)
        read = sum(sizes[: hit + 1])
        written = sum(sizes[: marks[-1] + 1]) - read if marks and marks[-1] > hit else 0
        return {
            "input_tokens": sum(sizes) - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }


Script = Callable[[MessagesRequest], Turn]


class ByAgent:
    """Turns in order, per agent (`code`, `architect`, ...)."""

    def __init__(self, **turns: list[Turn]) -> None:
        self.turns = {agent: list(items) for agent, items in turns.items()}
        self._lock = threading.Lock()

    def __call__(self, request: MessagesRequest) -> Turn:
        with self._lock:
            queue = self.turns.get(request.agent)
            if not queue:
                return Turn(status=500, text=f"script exhausted for agent {request.agent}")
            return queue.pop(0)


def _event(out: Any, kind: str, payload: dict[str, Any]) -> None:
    data = f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()
    out.write(b"%x\r\n%s\r\n" % (len(data), data))
    out.flush()


def _stream(handler: BaseHTTPRequestHandler, turn: Turn, request: MessagesRequest) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    out = handler.wfile
    usage = request.usage
    output = len(turn.text + turn.thinking) // 4 + 8 * len(turn.calls) + 1
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": request.body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    _event(out, "message_start", {"message": message})
    index = 0
    if turn.thinking:
        _event(out, "content_block_start", {"index": index, "content_block": {"type": "thinking", "thinking": ""}})
        for piece in pieces(turn.thinking):
            _event(out, "content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": piece}})
        signature = "sig-" + hashlib.sha256(turn.thinking.encode()).hexdigest()[:16]
        _event(
            out, "content_block_delta", {"index": index, "delta": {"type": "signature_delta", "signature": signature}}
        )
        _event(out, "content_block_stop", {"index": index})
        index += 1
    if turn.text:
        _event(out, "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        for piece in pieces(turn.text):
            _event(out, "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
        _event(out, "content_block_stop", {"index": index})
        index += 1
    for n, (name, arguments) in enumerate(turn.calls):
        block = {"type": "tool_use", "id": f"toolu_fake_{len(request.messages)}_{n}", "name": name, "input": {}}
        _event(out, "content_block_start", {"index": index, "content_block": block})
        for piece in pieces(json.dumps(arguments)):
            _event(
                out,
                "content_block_delta",
                {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
            )
        _event(out, "content_block_stop", {"index": index})
        index += 1
    stop = "tool_use" if turn.calls else "end_turn"
    _event(
        out,
        "message_delta",
        {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {**usage, "output_tokens": output}},
    )
    _event(out, "message_stop", {})
    out.write(b"0\r\n\r\n")
    out.flush()


def _error(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = json.dumps({"type": "error", "error": {"type": "api_error", "message": text}}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        fake = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.rstrip("/").endswith("/v1/messages"):
            _error(self, 404, f"no route {self.path}")
            return
        request = MessagesRequest(body, {k.lower(): v for k, v in self.headers.items()})
        turn = fake.answer(request)
        if turn.status != 200:
            _error(self, turn.status, turn.text or "error")
        elif not body.get("stream"):
            _error(self, 400, "this fake only streams")
        else:
            _stream(self, turn, request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic


class FakeAnthropic:
    """The Messages API over HTTP; every request is recorded with the usage it got."""

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or ByAgent()
        self.requests: list[MessagesRequest] = []
        self.cache = PromptCache()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, request: MessagesRequest) -> Turn:
        turn = self.script(request)
        if turn.status == 200:
            request.usage = self.cache.usage(request)
        with self._lock:
            self.requests.append(request)
        return turn

    def by_agent(self, agent: str) -> list[MessagesRequest]:
        return [r for r in self.requests if r.agent == agent]

    def start(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
