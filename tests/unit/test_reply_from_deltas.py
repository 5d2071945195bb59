"""The reply is put together from the streamed chunks as they arrive, by litellm's rules:
the same text, reasoning, tool calls, thinking blocks and usage as litellm's own
`stream_chunk_builder` gives for the same chunks (which the model no longer calls)."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from server.models.stream import StreamedReply


@pytest.fixture(scope="module")
def litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # seconds to import: only the tests that need it pay for it

    litellm.suppress_debug_info = True
    return litellm


def chunk(litellm: Any, usage: dict[str, int] | None = None, finish: str | None = None, **delta: Any) -> Any:
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage

    choices = [] if usage is not None and not delta else [StreamingChoices(delta=Delta(**delta), finish_reason=finish)]
    made = ModelResponseStream(id="c", model="m", choices=choices)
    if usage is not None:
        made.usage = Usage(**usage)  # pyright: ignore[reportAttributeAccessIssue]
    return made


def fragment(index: int, arguments: str, name: str | None = None, call_id: str | None = None) -> dict[str, Any]:
    head: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        head["function"]["name"] = name
        head["id"] = call_id
        head["type"] = "function"
    return head


def built_by_litellm(litellm: Any, chunks: list[Any]) -> Any:
    return litellm.stream_chunk_builder(chunks, messages=[{"role": "user", "content": "hi"}])


def assembled(chunks: list[Any]) -> Any:
    reply = StreamedReply()
    for each in chunks:
        reply.add(each)
    return reply.result()


def test_text_and_tool_calls_split_across_chunks_match_litellm(litellm: Any) -> None:
    chunks = [
        chunk(litellm, role="assistant", content=""),
        chunk(litellm, content="Reading "),
        chunk(litellm, content="both."),
        chunk(litellm, tool_calls=[fragment(0, '{"pa', "read_file", "call_a")]),
        chunk(litellm, tool_calls=[fragment(1, "", "list_files", "call_b")]),
        chunk(litellm, tool_calls=[fragment(0, 'th": "a.py"}')]),
        chunk(litellm, finish="tool_calls"),
        chunk(litellm, usage={"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}),
    ]
    ours = assembled(chunks)
    theirs = built_by_litellm(litellm, chunks)
    message = theirs.choices[0].message
    assert ours.text == message.content == "Reading both."
    assert ours.tool_calls == tuple((c.id, c.function.name, c.function.arguments) for c in message.tool_calls)
    assert ours.tool_calls == (("call_a", "read_file", '{"path": "a.py"}'), ("call_b", "list_files", "{}"))
    assert (ours.usage.prompt_tokens, ours.usage.completion_tokens) == (42, 7)
    assert (theirs.usage.prompt_tokens, theirs.usage.completion_tokens) == (42, 7)


def test_reasoning_and_signed_thinking_blocks_match_litellm(litellm: Any) -> None:
    chunks = [
        chunk(
            litellm,
            reasoning_content="First ",
            thinking_blocks=[{"type": "thinking", "thinking": "First ", "signature": None}],
        ),
        chunk(
            litellm,
            reasoning_content="thought.",
            thinking_blocks=[{"type": "thinking", "thinking": "thought.", "signature": None}],
        ),
        chunk(litellm, thinking_blocks=[{"type": "thinking", "thinking": "", "signature": "sig-1"}]),
        chunk(litellm, thinking_blocks=[{"type": "redacted_thinking", "data": "opaque"}]),
        chunk(litellm, content="Answer."),
        chunk(litellm, finish="stop"),
    ]
    ours = assembled(chunks)
    message = built_by_litellm(litellm, chunks).choices[0].message
    assert ours.reasoning == message.reasoning_content == "First thought."
    assert ours.text == message.content == "Answer."
    assert list(ours.thinking_blocks) == [dict(b) for b in message.thinking_blocks]
    assert ours.thinking_blocks == (
        {"type": "thinking", "thinking": "First thought.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"},
    )
    assert ours.tool_calls == ()


def test_a_call_without_an_id_or_name_is_dropped_as_litellm_drops_it(litellm: Any) -> None:
    chunks = [
        chunk(litellm, tool_calls=[{"index": 0, "function": {"name": "read_file", "arguments": "{}"}}]),
        chunk(litellm, tool_calls=[fragment(1, "{}", "list_files", "call_b")]),
    ]
    message = built_by_litellm(litellm, chunks).choices[0].message
    assert [c.id for c in message.tool_calls] == ["call_b"]
    assert assembled(chunks).tool_calls == (("call_b", "list_files", "{}"),)


def test_the_pieces_stream_as_they_come_and_plain_objects_are_read_too() -> None:
    reply = StreamedReply()
    plain = SimpleNamespace(
        usage=None,
        choices=[SimpleNamespace(delta=SimpleNamespace(reasoning_content="hmm", content="Hi", tool_calls=None))],
    )
    assert reply.add(plain) == [("hmm", "thought"), ("Hi", "text")]
    assert reply.add(SimpleNamespace(choices=[], usage=SimpleNamespace(prompt_tokens=3))) == []
    whole = reply.result()
    assert (whole.text, whole.reasoning, whole.usage.prompt_tokens) == ("Hi", "hmm", 3)
    assert reply.chunks == 2
