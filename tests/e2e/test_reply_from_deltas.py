"""The litellm model's reply, read from the chunks as they stream, against what litellm's
`stream_chunk_builder` makes of the very same chunks (the way the reply used to be
built): through litellm's real stream from the local OpenAI-compatible fake (text in
pieces, tool-call arguments split across chunks, usage last) and from the Anthropic fake
(signed thinking, reasoning, cached tokens)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from protocol.enums import AgentName
from server.models import litellm_model as lm
from server.models.base import DeltaKind, ModelReply, ModelRequest, estimate_tokens
from tests.fake_anthropic import FakeAnthropic, Turn
from tests.fake_llm import FakeLLM, Reply, Scripted, call

TOOL = {
    "type": "function",
    "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
}
MESSAGES = [
    {"role": "system", "content": "You are the code agent. " + "Be careful. " * 100},
    {"role": "user", "content": "what is in a.py and b.py?"},
]


@pytest.fixture
def litellm() -> Any:
    return lm.start_import().result(timeout=120)


@pytest.fixture
def recorded(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every chunk litellm's stream yields to the model, in order."""
    chunks: list[Any] = []
    original = litellm.acompletion

    async def acompletion(**kwargs: Any) -> Any:
        stream = await original(**kwargs)

        async def each() -> Any:
            async for piece in stream:
                chunks.append(piece)
                yield piece

        return each()

    monkeypatch.setattr(litellm, "acompletion", acompletion)
    yield chunks


def as_built_before(litellm: Any, name: str, chunks: list[Any]) -> ModelReply:
    """The reply as the model built it from `stream_chunk_builder` before."""
    built = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    message = built.choices[0].message
    usage = built.usage
    prompt = int(usage.prompt_tokens or 0) or estimate_tokens(MESSAGES)
    completion = int(usage.completion_tokens or 0)
    reasoning = getattr(message, "reasoning_content", None)
    return ModelReply(
        text=message.content or "",
        tool_calls=tuple(
            lm.ReplyToolCall(id=c.id, name=c.function.name or "", arguments=c.function.arguments or "")
            for c in (message.tool_calls or [])
        ),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=lm.cached_tokens(usage),
        cost_usd=lm.price(litellm, name, usage, prompt, completion),
        reasoning=reasoning if isinstance(reasoning, str) else "",
        thinking_blocks=tuple(
            dict(b.model_dump() if hasattr(b, "model_dump") else b)
            for b in getattr(message, "thinking_blocks", None) or []
        ),
    )


async def complete(model: lm.LiteLLMModel) -> tuple[ModelReply, list[tuple[str, DeltaKind]]]:
    streamed: list[tuple[str, DeltaKind]] = []

    async def sink(delta: str, kind: DeltaKind = "text") -> None:
        streamed.append((delta, kind))

    return await model.complete(ModelRequest(AgentName.CODE, "agent", list(MESSAGES), [TOOL]), sink), streamed


async def test_an_openai_compatible_stream_gives_the_reply_stream_chunk_builder_gave(
    litellm: Any, recorded: list[Any]
) -> None:
    text = "Reading both files now, one after the other."
    calls = [call("read_file", path="a.py" * 20), call("read_file", path="b.py")]
    fake = FakeLLM(Scripted(code=[Reply(text, calls)])).start()
    try:
        reply, streamed = await complete(
            lm.LiteLLMModel("openai/fake", api_base=fake.url, api_key=None, timeout_seconds=30)
        )
    finally:
        fake.stop()
    assert len(recorded) > 6  # text in pieces, each call's arguments in pieces, usage
    assert reply == as_built_before(litellm, "openai/fake", recorded)
    assert reply.text == text == "".join(d for d, _ in streamed)
    assert [c.arguments for c in reply.tool_calls] == ['{"path": "' + "a.py" * 20 + '"}', '{"path": "b.py"}']
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0


async def test_an_anthropic_stream_gives_the_reply_stream_chunk_builder_gave(litellm: Any, recorded: list[Any]) -> None:
    anthropic = FakeAnthropic().start()
    anthropic.script = lambda request: Turn(
        text="Reading it.", thinking="I should read a.py first, then b.py.", calls=[("read_file", {"path": "a.py"})]
    )
    name = "anthropic/claude-sonnet-4-5"
    try:
        model = lm.LiteLLMModel(name, api_base=anthropic.url, api_key="test-key-not-real", timeout_seconds=30)
        first, _ = await complete(model)
        recorded.clear()
        again, streamed = await complete(model)
    finally:
        anthropic.stop()
    assert again == as_built_before(litellm, name, recorded)
    assert (
        again.reasoning == "I should read a.py first, then b.py." == "".join(d for d, k in streamed if k == "thought")
    )
    [block] = again.thinking_blocks
    assert block["signature"] and block["thinking"] == again.reasoning
    assert again.cached_tokens > 0 and again.cost_usd is not None and first.cost_usd is not None
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


@pytest.fixture
def kept(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """litellm's own streams, handed to the model unwrapped (so it can stop early)."""
    streams: list[Any] = []
    original = litellm.acompletion

    async def acompletion(**kwargs: Any) -> Any:
        stream = await original(**kwargs)
        streams.append(stream)
        return stream

    monkeypatch.setattr(litellm, "acompletion", acompletion)
    yield streams


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
async def test_the_call_stops_at_litellm_s_last_chunk_and_leaves_nothing_unread(
    litellm: Any, kept: list[Any], provider: str
) -> None:
    """`read_whole`: the model stops reading at the usage litellm sends after the
    provider's stream ended. What it leaves is no chunk, only the end of the iteration,
    and the reply is the one a read to the end gives."""
    if provider == "anthropic":
        server: Any = FakeAnthropic().start()
        server.script = lambda request: Turn(text="Reading it.", thinking="a.py first.", calls=[("read_file", {})])
        name, key = "anthropic/claude-sonnet-4-5", "test-key-not-real"
    else:
        server = FakeLLM(Scripted(code=[Reply("Reading.", [call("read_file", path="a.py")])] * 3)).start()
        name, key = "openai/fake", None
    try:
        model = lm.LiteLLMModel(name, api_base=server.url, api_key=key, timeout_seconds=30)
        await complete(model)  # the prompt's prefix cached from now on, as for both calls below
        kept.clear()
        early, _ = await complete(model)
        [stream] = kept
        assert lm.read_whole(stream)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        kept.clear()
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setattr(lm, "read_whole", lambda stream: False)
        try:
            whole, _ = await complete(model)
        finally:
            monkeypatch.undo()
    finally:
        server.stop()
    assert early.tool_calls and early.prompt_tokens > 0 and early.completion_tokens > 0
    assert early == whole
