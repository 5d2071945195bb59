"""The context budget's pure parts: the view under compaction marks, the elision order,
cutting, the summary split and prompt, the meter's windows, the loop guard."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from protocol.enums import AgentName, MessageRole
from server.agents.specs import AGENTS
from server.agents.toolbox import McpSpec
from server.context import summary
from server.context.fit import (
    SUMMARY_HEADING,
    SYSTEM_GROUP,
    Entry,
    Marks,
    compose,
    cut,
    elide_all,
    elision_point,
    stub,
    summary_split,
    target_of,
)
from server.context.window import DEFAULT_WINDOW, MIN_WINDOW, Meter, candidate_names, estimate_offered
from server.mcp.tools import McpTool
from server.settings import base_settings
from server.turn.guards import repeats, same_call, turn_calls
from storage.records import MessageKind, MessageRow, ModelToolCall


def _system() -> Entry:
    return Entry({"role": "system", "content": "You are the code agent."}, 0, SYSTEM_GROUP, True)


def _user(seq: int, text: str, group: int) -> Entry:
    return Entry({"role": "user", "content": text}, seq, group, True)


def _step(seq: int, group: int, path: str, size: int, note: str = "") -> list[Entry]:
    """An assistant reply reading `path` (row `seq`) and its result (row `seq + 1`)."""
    call = {
        "id": f"c{seq}",
        "type": "function",
        "function": {"name": "read_file", "arguments": f'{{"path": "{path}"}}'},
    }
    return [
        Entry({"role": "assistant", "content": note or None, "tool_calls": [call]}, seq, group),
        Entry(
            {"role": "tool", "tool_call_id": f"c{seq}", "content": f"{path}:" + "x" * size},
            seq + 1,
            group,
            tool="read_file",
            target=path,
        ),
    ]


def _thread(steps: int, size: int = 4_000, note: str = "") -> list[Entry]:
    entries = [_system(), _user(1, "THE TASK", 0)]
    for n in range(steps):
        entries += _step(2 + 2 * n, n + 1, f"f{n}.txt", size, note)
    return entries


def _tokens(entries: list[Entry]) -> list[int]:
    return [len(str(e.message.get("content") or "")) // 4 + 4 for e in entries]


def test_nothing_is_changed_without_marks_but_a_result_over_the_view_limit() -> None:
    entries = _thread(3, size=100)
    assert compose(entries, Marks(), 10_000) == entries
    shown = compose(_thread(3, size=50_000), Marks(), 4_000)
    result = shown[3].content
    assert result.startswith("f0.txt:") and "characters cut from the middle" in result and len(result) < 4_200


def test_cut_keeps_head_and_tail_and_says_how_much_is_gone() -> None:
    text = "HEAD" + "m" * 10_000 + "TAIL"
    shown = cut(text, 1_000)
    assert shown.startswith("HEAD") and shown.endswith("TAIL") and "10,008 characters" not in shown
    assert f"{len(text) - 1_000:,} characters cut" in shown
    assert cut("short", 1_000) == "short"


def test_elision_goes_oldest_first_and_never_touches_the_newest_reply() -> None:
    entries = _thread(6)
    shown = compose(entries, Marks(), 100_000)
    counts = _tokens(shown)
    total = sum(counts)
    found = elision_point(shown, counts, total, total - 1_500)
    assert found is not None
    point, after = found
    assert after <= total - 1_500
    elided = compose(entries, Marks(elide_before=point), 100_000)
    results = [e for e in elided if e.is_result]
    flags = [e.elided for e in results]
    assert flags == sorted(flags, reverse=True) and flags[0] and not flags[-1]  # a prefix, oldest first
    # even asked for the impossible, the newest reply's result stays whole
    assert elision_point(shown, counts, total, 0) is None
    everything = compose(entries, Marks(elide_before=elide_all(shown)), 100_000)
    assert [e.elided for e in everything if e.is_result] == [True] * 5 + [False]


def test_a_stub_says_what_was_there_and_how_to_get_it_again() -> None:
    entry = _step(2, 1, "src/app.py", 6_312)[1]
    text = stub(entry)
    assert text == "[read_file src/app.py: 6,323 bytes elided to save context; run the tool again if you need it]"
    assert target_of('{"command": "pytest -q"}') == "pytest -q"
    assert target_of("not json") is None and target_of("[1, 2]") is None


def test_a_summary_replaces_older_turns_but_never_the_users_words() -> None:
    entries = _thread(4)
    entries.insert(4, _user(99, "ALSO THIS", 5))  # the user's follow-up, mid-thread
    entries.insert(5, Entry({"role": "user", "content": "[Reminder] nudge"}, 100, 6))  # a nudge is not pinned
    through = entries[3].seq  # the first step
    shown = compose(entries, Marks(summary="WHAT HAPPENED", through=through), 100_000)
    texts = [e.content for e in shown]
    assert texts[1] == "THE TASK" and texts[2].startswith(SUMMARY_HEADING) and "WHAT HAPPENED" in texts[2]
    assert not any(t.startswith("f0.txt:") for t in texts)  # the summarised step is gone
    assert "ALSO THIS" in texts and any(t.startswith("f1.txt:") for t in texts)


def test_a_summary_split_keeps_the_newest_groups_that_fit() -> None:
    entries = _thread(6)
    counts = _tokens(entries)
    per_step = counts[2] + counts[3]
    through = summary_split(entries, counts, per_step * 2, through=0)
    assert through == entries[9].seq  # six steps: the four oldest go, the two newest stay
    assert summary_split(entries, counts, 0, through=0) == entries[11].seq  # at least the newest group stays
    assert summary_split(entries, counts, per_step * 2, through=through) is None  # nothing new to summarise


def test_marks_come_from_the_newest_compaction_rows() -> None:
    def row(seq: int, kind: MessageKind, meta: dict[str, Any] | None, content: str = "") -> MessageRow:
        return MessageRow(
            seq, "s", "t", MessageRole.SYSTEM, None, content, (), None, kind, 0, None, None, None, "x", meta
        )

    thread = [
        row(5, MessageKind.ELISION, {"elideBefore": 4}),
        row(9, MessageKind.SUMMARY, {"elideBefore": 7, "through": 6}, "first"),
        row(12, MessageKind.ELISION, {"elideBefore": 11}),
        row(15, MessageKind.SUMMARY, {"elideBefore": 3, "through": 13}, "second"),
        row(16, MessageKind.MESSAGE, None, "ordinary"),
    ]
    assert Marks.of(thread) == Marks(summary="second", through=13, elide_before=11)


def test_the_summary_prompt_asks_for_the_sections_and_shows_the_users_words_first() -> None:
    entries = _thread(3, size=10_000, note="decided to use X")
    messages = summary.request([entries[1]], "EARLIER", entries[2:], 20_000)
    assert messages[0]["content"] == summary.PROMPT
    for section in ("## Task", "## Decisions", "## Files", "## Done", "## Next"):
        assert section in summary.PROMPT
    shown = messages[1]["content"]
    assert shown.index("THE TASK") < shown.index("EARLIER") < shown.index("decided to use X")
    assert 'TOOL CALL read_file {"path": "f0.txt"}' in shown
    assert len(shown) <= 20_000 + 200 and "characters cut" in shown  # results are cut to 1,500 characters


def test_the_runtimes_record_lists_every_summarised_call() -> None:
    entries = [*_step(2, 1, "a.py", 10)]
    write = {"id": "w", "type": "function", "function": {"name": "write_file", "arguments": '{"path": "b.py"}'}}
    run = {"id": "r", "type": "function", "function": {"name": "execute_command", "arguments": '{"command": "pytest"}'}}
    entries.append(Entry({"role": "assistant", "content": None, "tool_calls": [write, run]}, 9, 2))
    text = summary.compose_summary("  model's summary  ", entries)
    assert text.startswith("model's summary\n\n## Record kept by the runtime")
    assert "Read: a.py" in text and "Changed: b.py" in text and "Ran: pytest" in text
    assert summary.compose_summary("only", []) == "only"


def test_the_tools_share_is_what_serializing_the_offered_schemas_gives() -> None:
    """Each tool's schema is serialized once (`schema_chars`), not every step: the
    estimate is the same as serializing the whole list."""
    mcp = McpSpec(McpTool("git", "log", "mcp__git__log", "Shows the log «ü»", {"properties": {"n": {}}}, True, False))
    for spec in AGENTS.values():
        for offered in ([*spec.tools], [*spec.tools, mcp], [mcp], []):
            whole = len(json.dumps([t.openai_schema() for t in offered])) // 4 if offered else 0
            assert estimate_offered([t.schema_chars for t in offered]) == whole, (spec.name, offered)
    assert estimate_offered([mcp.schema_chars]) > 0


def test_model_names_are_tried_without_their_routing_prefixes() -> None:
    assert candidate_names("openrouter/anthropic/claude-x") == [
        "openrouter/anthropic/claude-x",
        "anthropic/claude-x",
        "claude-x",
    ]
    assert candidate_names("demo") == ["demo"]


def test_the_window_is_told_else_the_default_and_a_refusal_only_lowers_it() -> None:
    meter = Meter()
    assert asyncio.run(meter.window("scripted/x")) == DEFAULT_WINDOW
    assert asyncio.run(meter.window("scripted/x", 50_000)) == 50_000
    assert meter.refused("scripted/x", 20_000) == 17_000
    assert asyncio.run(meter.window("scripted/x", 50_000)) == 17_000
    assert meter.refused("scripted/x", 40_000) == 17_000  # never raised again by a bigger refusal
    assert meter.refused("scripted/x", 100) == MIN_WINDOW
    assert asyncio.run(meter.window("other")) == DEFAULT_WINDOW  # per model


def test_the_litellm_map_knows_mapped_models() -> None:
    meter = Meter(lambda _name: True)
    mapped = asyncio.run(meter.window("openrouter/anthropic/claude-sonnet-4-5"))
    assert mapped > 100_000
    assert asyncio.run(meter.window("openai/no-such-model-here")) == DEFAULT_WINDOW
    exact = asyncio.run(meter.count("openai/gpt-4o", [{"role": "user", "content": "hello world " * 100}]))
    assert 150 < exact[0] < 300


@pytest.mark.parametrize("value", ["abc", "12.5", "100", "99999999999"])
def test_a_bad_window_in_the_environment_is_named(value: str) -> None:
    with pytest.raises(ValueError, match="CODELAB_AGENT_CONTEXT_WINDOW"):
        base_settings(env={"CODELAB_AGENT_CONTEXT_WINDOW": value})
    assert base_settings(env={"CODELAB_AGENT_CONTEXT_WINDOW": "20000"}).llm.context_window == 20_000
    assert (
        base_settings(context_window=9_000, env={"CODELAB_AGENT_CONTEXT_WINDOW": "20000"}).llm.context_window == 9_000
    )


def test_the_guard_counts_identical_calls_in_a_row() -> None:
    a = same_call("read_file", '{"path": "a", "x": 1}')
    assert a == same_call("read_file", '{ "x": 1, "path": "a" }')
    b = same_call("read_file", '{"path": "b"}')
    assert repeats([], a) == 1
    assert repeats([a, a], a) == 3
    assert repeats([a, b, a], a) == 2
    assert repeats([a, a], b) == 1
    assert same_call("execute_command", "not json") == ("execute_command", "not json")


def test_the_guard_sees_only_this_turns_calls() -> None:
    def reply(seq: int, turn: str, path: str) -> MessageRow:
        calls = (ModelToolCall(f"c{seq}", "read_file", f'{{"path": "{path}"}}'),)
        return MessageRow(
            seq,
            "s",
            turn,
            MessageRole.ASSISTANT,
            AgentName.CODE,
            "",
            calls,
            None,
            MessageKind.MESSAGE,
            0,
            None,
            None,
            None,
            "x",
        )

    thread = [reply(1, "old", "a"), reply(2, "old", "a"), reply(3, "now", "a")]
    assert turn_calls(thread, "now") == [same_call("read_file", '{"path": "a"}')]


def test_the_demo_model_writes_a_summary_when_asked_to_compact() -> None:
    from server.models.base import ModelRequest
    from server.models.demo import DemoModel

    entries = _thread(2)
    request = ModelRequest(AgentName.CODE, "compact", summary.request([entries[1]], None, entries[2:], 10_000))

    async def ignore(_delta: str, _kind: str = "text") -> None:
        return None

    reply = asyncio.run(DemoModel().complete(request, ignore))
    assert reply.tool_calls == () and "## Next" in reply.text and "2 tool calls" in reply.text
