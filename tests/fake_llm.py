"""A local OpenAI-compatible server on 127.0.0.1 that plays a script (the model is
faked at the edge: the sidecar talks to it through litellm, as to any provider).

It streams like the real thing: text in several chunks, each tool call's arguments
split across chunks, usage last. Every request is recorded for assertions.

`ScriptedLLM` is the part that does not need HTTP (the script, the recorded requests,
the held replies); `tests/runtime/model.py` plays the same scripts in-process.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_AGENT = re.compile(r"You are the (\w+)")
COMPACTOR = "You compact the history"
"""How the compaction summary's system prompt begins (server/context/summary.py)."""


@dataclass
class Reply:
    text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)
    """(tool name, arguments as a dict, or a raw string for malformed JSON)."""
    status: int = 200
    hold: threading.Event | None = None
    """Block the response until this is set (or the client goes away)."""
    error: dict[str, Any] | None = None
    """The `error` object of a non-200 answer (default: a server error with `text`)."""

    def error_body(self) -> dict[str, Any]:
        return {"error": self.error or {"message": self.text or "error", "type": "server_error"}}


def too_long(limit: int) -> Reply:
    """What an OpenAI-compatible server answers a prompt longer than its window."""
    message = f"This model's maximum context length is {limit} characters. Please reduce the length of the messages."
    return Reply(
        status=400,
        error={
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
    )


def call(name: str, **arguments: Any) -> tuple[str, Any]:
    return (name, arguments)


@dataclass
class Request:
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: {})
    """The HTTP headers, names in lower case."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]

    @property
    def agent(self) -> str:
        """The agent whose prompt this is, or `compactor` for a compaction summary."""
        system = self.messages[0].get("content") or ""
        if system.startswith(COMPACTOR):
            return "compactor"
        found = _AGENT.search(system)
        return found.group(1) if found else "?"

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools") or []]

    @property
    def tool_results(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "tool"]

    @property
    def text(self) -> str:
        """Everything the model was shown, for `in` assertions."""
        return json.dumps(self.messages)

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]


Script = Callable[[Request], Reply]


class Scripted:
    """Replies in order, per agent (`orchestrator`, `architect`, `code`, ...)."""

    def __init__(self, **replies: list[Reply]) -> None:
        self.replies = {agent: list(items) for agent, items in replies.items()}
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            queue = self.replies.get(request.agent)
            if not queue:
                return Reply(status=500, text=f"script exhausted for agent {request.agent}")
            return queue.pop(0)


def classify(agent: str, atomic: bool = True, confidence: str = "high") -> Reply:
    return Reply(
        text=json.dumps(
            {"is_atomic": atomic, "agent": agent, "confidence": confidence, "reason": f"looks like {agent}"}
        )
    )


def _sse(wfile: Any, payload: dict[str, Any]) -> None:
    data = f"data: {json.dumps(payload)}\n\n".encode()
    wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    wfile.flush()


def pieces(text: str, parts: int = 3) -> list[str]:
    """`text` in up to `parts` chunks, as a stream delivers it."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _stream(handler: BaseHTTPRequestHandler, reply: Reply, body: dict[str, Any]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    out = handler.wfile
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    for n, piece in enumerate(pieces(reply.text)):
        _sse(out, choice({"content": piece, **({"role": "assistant"} if n == 0 else {})}))
    for index, (name, args) in enumerate(reply.calls):
        raw = args if isinstance(args, str) else json.dumps(args)
        first, *rest = pieces(raw) or [""]
        head = {
            "index": index,
            "id": f"call_fake_{index}",
            "type": "function",
            "function": {"name": name, "arguments": first},
        }
        _sse(out, choice({"tool_calls": [head]}))
        for part in rest:
            _sse(out, choice({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
    _sse(out, choice({}, "tool_calls" if reply.calls else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        prompt, completion = len(json.dumps(body["messages"])) // 4, len(reply.text) // 4 + 1
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        _sse(out, {**base, "choices": [], "usage": usage})
    done = b"data: [DONE]\n\n"
    out.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    out.flush()


def _json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _whole(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": f"call_fake_{i}",
                "type": "function",
                "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)},
            }
            for i, (n, a) in enumerate(reply.calls)
        ]
    finish = "tool_calls" if reply.calls else "stop"
    _json(
        handler,
        200,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1,
            "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        },
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        fake = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = fake.answer(Request(body, {k.lower(): v for k, v in self.headers.items()}))
        if reply.hold is not None:
            reply.hold.wait(60)
        if reply.status != 200:
            _json(self, reply.status, reply.error_body())
        elif body.get("stream"):
            _stream(self, reply, body)
        else:
            _whole(self, reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a cancelled turn) is expected; anything
        else is printed as the standard server does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ScriptedLLM:
    """A script and the requests it answered, in arrival order."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.holds: list[threading.Event] = []

    def by_agent(self, agent: str) -> list[Request]:
        return [r for r in self.requests if r.agent == agent]

    def answer(self, request: Request) -> Reply:
        """Record `request` and play the script's reply to it (a held one is remembered,
        so that `release` can let it go)."""
        with self.lock:
            self.requests.append(request)
        reply = self.script(request)
        if reply.hold is not None:
            self.holds.append(reply.hold)
        return reply

    def release(self) -> None:
        for hold in self.holds:
            hold.set()


class FakeLLM(ScriptedLLM):
    """The script served over HTTP, for a sidecar in its own process."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
