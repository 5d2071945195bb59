"""The Anthropic path as litellm's `anthropic/` route speaks it, against a fake Messages
API (`tests/fake_anthropic.py`): prompt-cache breakpoints on the wire, cached tokens and
cost recorded, thinking blocks sent back after a tool call, reasoning streamed to the
editor as thoughts. And a model the price map does not know costs null, never 0."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.enums import AgentName
from server.models.base import DeltaKind, ModelRequest
from server.models.litellm_model import LiteLLMModel
from tests.fake_anthropic import ByAgent, FakeAnthropic, MessagesRequest, Turn
from tests.fake_llm import FakeLLM, Reply
from tests.harness import Editor, base_env

MODEL = "anthropic/claude-sonnet-4-5"
"""A Claude model in litellm's offline price map (as `claude-sonnet-4-5`)."""
KEY = "test-anthropic-key-not-real"
CLI = Path(sys.executable).with_name("codelab-agent")


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


def marked(block: dict[str, Any]) -> bool:
    return block.get("cache_control") == {"type": "ephemeral"}


def newest_block(request: MessagesRequest) -> dict[str, Any]:
    content = request.messages[-1]["content"]
    return content[-1] if isinstance(content, list) else {"text": content}


def assert_breakpoints(request: MessagesRequest) -> None:
    """The system prompt (the tools before it ride along) and the newest message."""
    assert marked(request.system[-1]), request.system
    assert marked(newest_block(request)), request.messages[-1]
    assert not any("cache_control" in tool for tool in request.body.get("tools") or [])


# --- the model adapter alone -----------------------------------------------------------


async def test_the_adapter_marks_breakpoints_reads_cache_and_cost_and_returns_thinking(
    anthropic: FakeAnthropic,
) -> None:
    turns = [
        Turn(text="Reading it.", thinking="I should read a.py first.", calls=[("read_file", {"path": "a.py"})]),
        Turn(text="It prints hello.", thinking="Now I know."),
    ]
    anthropic.script = lambda request: turns.pop(0)
    model = LiteLLMModel(MODEL, api_base=anthropic.url, api_key=KEY, timeout_seconds=30)
    tool = {
        "type": "function",
        "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
    }
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are the code agent. " + "Be careful. " * 200},
        {"role": "user", "content": "what does a.py do?"},
    ]
    streamed: list[tuple[str, DeltaKind]] = []

    async def sink(delta: str, kind: DeltaKind = "text") -> None:
        streamed.append((delta, kind))

    first = await model.complete(ModelRequest(AgentName.CODE, "agent", list(messages), [tool]), sink)
    assert first.reasoning == "I should read a.py first."
    assert "".join(d for d, k in streamed if k == "thought") == first.reasoning
    assert "".join(d for d, k in streamed if k == "text") == first.text == "Reading it."
    [block] = first.thinking_blocks
    assert block["type"] == "thinking" and block["thinking"] == first.reasoning and block["signature"]
    assert first.cached_tokens == 0 and first.cost_usd is not None and first.cost_usd > 0
    [call] = first.tool_calls
    messages += [
        {
            "role": "assistant",
            "content": first.text,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            ],
            "thinking_blocks": list(first.thinking_blocks),
        },
        {"role": "tool", "tool_call_id": call.id, "content": "print('hello')"},
    ]
    second = await model.complete(ModelRequest(AgentName.CODE, "agent", messages, [tool]), sink)

    one, two = anthropic.requests
    assert_breakpoints(one)
    assert_breakpoints(two)
    assert newest_block(two)["type"] == "tool_result"
    assert two.thinking_sent_back() == [block]  # as the provider requires after a tool call
    assert second.cached_tokens == two.usage["cache_read_input_tokens"] > 0
    assert second.prompt_tokens == sum(two.usage.values())
    assert second.cost_usd is not None and second.cost_usd > 0


# --- the sidecar, end to end -----------------------------------------------------------


async def test_a_task_with_claude_caches_its_prefix_and_reports_what_it_cost(
    workspace: Path, db_path: Path, anthropic: FakeAnthropic
) -> None:
    (workspace / "a.py").write_text("print('a')\n")
    (workspace / "b.py").write_text("print('b')\n")
    anthropic.script = ByAgent(
        code=[
            Turn(text="First a.py.", thinking="Start with a.py.", calls=[("read_file", {"path": "a.py"})]),
            Turn(text="Then b.py.", thinking="a.py prints a.", calls=[("read_file", {"path": "b.py"})]),
            Turn(text="Both print a letter.", thinking="Done reading."),
        ]
    )
    editor = await Editor(
        workspace, db_path, model=MODEL, api_base=anthropic.url, env={"ANTHROPIC_API_KEY": KEY}
    ).start()
    try:
        result = await editor.drive(await editor.send("what do a.py and b.py do?", mode="code"))
        assert result["status"] == "completed", result
        assert result["message"] == "Both print a letter."
        session = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    finally:
        await editor.stop()

    requests = anthropic.requests
    assert len(requests) == 3
    for request in requests:
        assert_breakpoints(request)
        assert request.headers.get("x-api-key") == KEY
    cached = [r.usage["cache_read_input_tokens"] for r in requests]
    assert cached[0] == 0 and all(c > 0 for c in cached[1:])  # the prefix held still: every later request hit
    assert cached[2] > cached[1]

    # thinking blocks go back with the assistant message that called the tool
    assert [b["thinking"] for b in requests[1].thinking_sent_back()] == ["Start with a.py."]
    assert [b["thinking"] for b in requests[2].thinking_sent_back()] == ["Start with a.py.", "a.py prints a."]
    assert all(b["signature"] for b in requests[2].thinking_sent_back())

    # reasoning reached the editor as thoughts, the text as plain deltas
    streams = editor.of("agent/stream")
    thoughts = "".join(s["delta"] for s in streams if s.get("kind") == "thought")
    assert thoughts == "Start with a.py.a.py prints a.Done reading."
    assert "".join(s["delta"] for s in streams if "kind" not in s) == "First a.py.Then b.py.Both print a letter."

    # usage: the session's and the turn's own, with cached tokens and a cost
    code = session["usage"]["byAgent"]["code"]
    assert code["requests"] == 3
    assert code["cachedTokens"] == sum(cached)
    assert code["promptTokens"] == sum(sum(r.usage.values()) for r in requests)
    assert code["costUsd"] > 0
    assert session["usage"]["total"]["costUsd"] == pytest.approx(code["costUsd"])
    turn = result["usage"]
    assert turn["requests"] == 3 and turn["cachedTokens"] == sum(cached)
    assert turn["costUsd"] == pytest.approx(code["costUsd"])


async def test_a_model_the_price_map_does_not_know_costs_null_not_zero(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(litellm=True, code=[Reply("done")])  # openai/fake, through litellm
    result = await editor.send("hello", mode="code")
    assert result["status"] == "completed"
    assert result["usage"]["requests"] == 1 and result["usage"]["promptTokens"] > 0
    assert result["usage"].get("costUsd") is None
    usage = (await editor.request("agent/getSession", {"sessionId": result["sessionId"]}))["usage"]
    assert usage["byAgent"]["code"]["requests"] == 1
    assert usage["byAgent"]["code"].get("costUsd") is None
    assert usage["total"].get("costUsd") is None
    assert not any("cache_control" in json.dumps(r.body) for r in llm.requests)  # no breakpoints where unknown


def test_the_terminal_shows_thoughts_apart_and_what_the_turn_cost(
    workspace: Path, db_path: Path, anthropic: FakeAnthropic
) -> None:
    anthropic.script = ByAgent(code=[Turn(text="Hello there.", thinking="A greeting is enough.")])
    args = ["--workspace", str(workspace), "--db", str(db_path), "--model", MODEL, "--api-base", anthropic.url]
    done = subprocess.run(
        [str(CLI), "chat", *args, "--mode", "code", "say hello"],
        capture_output=True,
        text=True,
        env=base_env(ANTHROPIC_API_KEY=KEY),
        timeout=120,
        check=False,
        cwd=workspace,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "[code thinking] A greeting is enough." in lines  # on a line of its own (no colour into a pipe)
    assert "[code] Hello there." in lines
    [usage] = [line for line in lines if line.startswith("  · usage: ")]
    assert re.fullmatch(
        r"  · usage: 1 request, [\d,]+ tokens in \(0 cached\), [\d,]+ out, \$\d+\.\d{4}, \d+\.\ds", usage
    )
