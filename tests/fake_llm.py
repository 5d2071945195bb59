"""A local OpenAI-compatible server on 127.0.0.1 that plays a script (the model is
faked at the edge: the sidecar talks to it through litellm, as to any provider).

It streams like the real thing: text in several chunks, each tool call's arguments
split across chunks, usage last. Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_AGENT = re.compile(r"You are the (\w+)")


@dataclass
class Reply:
    text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)
    """(tool name, arguments as a dict, or a raw string for malformed JSON)."""
    status: int = 200
    hold: threading.Event | None = None
    """Block the response until this is set (or the client goes away)."""


def call(name: str, **arguments: Any) -> tuple[str, Any]:
    return (name, arguments)


@dataclass
class Request:
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]

    @property
    def agent(self) -> str:
        found = _AGENT.search(self.messages[0].get("content") or "")
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
    return Reply(text=json.dumps({"is_atomic": atomic, "agent": agent, "confidence": confidence, "reason": f"looks like {agent}"}))


class FakeLLM:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._holds: list[threading.Event] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = Request(body)
                with fake._lock:
                    fake.requests.append(request)
                reply = fake.script(request)
                if reply.hold is not None:
                    fake._holds.append(reply.hold)
                    reply.hold.wait(60)
                if reply.status != 200:
                    payload = json.dumps({"error": {"message": reply.text or "error", "type": "server_error"}}).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._whole(reply)

            def _chunk(self, payload: dict[str, Any]) -> None:
                data = f"data: {json.dumps(payload)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
                text = reply.text
                pieces = [text[i : i + max(1, len(text) // 3 or 1)] for i in range(0, len(text), max(1, len(text) // 3 or 1))]
                for n, piece in enumerate(pieces):
                    delta: dict[str, Any] = {"content": piece}
                    if n == 0:
                        delta["role"] = "assistant"
                    self._chunk({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                for index, (name, args) in enumerate(reply.calls):
                    raw = args if isinstance(args, str) else json.dumps(args)
                    third = max(1, len(raw) // 3)
                    parts = [raw[:third], raw[third : 2 * third], raw[2 * third :]]
                    first = {"index": index, "id": f"call_fake_{index}", "type": "function",
                             "function": {"name": name, "arguments": parts[0]}}
                    self._chunk({**base, "choices": [{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}]})
                    for part in parts[1:]:
                        more = {"index": index, "function": {"arguments": part}}
                        self._chunk({**base, "choices": [{"index": 0, "delta": {"tool_calls": [more]}, "finish_reason": None}]})
                finish = "tool_calls" if reply.calls else "stop"
                self._chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = {"prompt_tokens": len(json.dumps(body["messages"])) // 4, "completion_tokens": len(text) // 4 + 1}
                    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                    self._chunk({**base, "choices": [], "usage": usage})
                done = b"data: [DONE]\n\n"
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
                self.wfile.flush()

            def _whole(self, reply: Reply) -> None:
                message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
                if reply.calls:
                    message["tool_calls"] = [
                        {"id": f"call_fake_{i}", "type": "function",
                         "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}}
                        for i, (n, a) in enumerate(reply.calls)
                    ]
                payload = json.dumps({
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "fake",
                    "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.calls else "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def by_agent(self, agent: str) -> list[Request]:
        return [r for r in self.requests if r.agent == agent]

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        for hold in self._holds:
            hold.set()
        self._server.shutdown()
        self._server.server_close()
