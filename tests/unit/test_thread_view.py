"""The thread cache and the incremental prompt view: the same entries as a full rebuild,
the same objects from step to step (a byte-stable prefix), no read when nothing was
written, and a cache bounded by size."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.enums import AgentName, MessageRole
from server.agents.specs import AGENTS
from server.context.fit import Entry, Marks, compose
from server.context.window import Meter
from server.turn.deps import Threads
from server.turn.guards import turn_calls
from server.turn.prompt_view import MISSING_RESULT, AgentView, agent_entries
from storage.db import Database
from storage.records import MessageKind, MessageRow, ModelToolCall

ROOT = Path("/workspace")
SPEC = AGENTS[AgentName.CODE]


def _row(seq: int, role: MessageRole, content: str = "", **fields: object) -> MessageRow:
    values: dict[str, object] = {
        "seq": seq,
        "session_id": "s",
        "turn_id": "t",
        "role": role,
        "agent": None if role is MessageRole.USER else AgentName.CODE,
        "content": content,
        "tool_calls": (),
        "tool_call_id": None,
        "kind": MessageKind.MESSAGE,
        "segment": 0,
        "plan_id": None,
        "subtask_id": None,
        "attempt": None,
        "created_at": "now",
        "meta": None,
    }
    values.update(fields)
    return MessageRow(**values)  # type: ignore[arg-type]


def _thread() -> list[MessageRow]:
    """A task, two replies with calls (the second answered in two parts), a note, a
    compaction row, a reply of an earlier segment, plain text."""
    read = ModelToolCall("c1", "read_file", json.dumps({"path": "a.py"}))
    two = (ModelToolCall("c2", "read_file", '{"path": "b.py"}'), ModelToolCall("c3", "list_files", '{"path": "."}'))
    return [
        _row(1, MessageRole.USER, "do it", kind=MessageKind.TASK),
        _row(2, MessageRole.ASSISTANT, "old segment", tool_calls=(read,), segment=-1),
        _row(3, MessageRole.ASSISTANT, "reading", tool_calls=(read,)),
        _row(4, MessageRole.TOOL, "A", tool_call_id="c1"),
        _row(5, MessageRole.SYSTEM, "Agent switched", kind=MessageKind.SWITCH_NOTE),
        _row(6, MessageRole.ASSISTANT, "", tool_calls=two),
        _row(7, MessageRole.TOOL, "B", tool_call_id="c2"),
        _row(8, MessageRole.SYSTEM, "elided", kind=MessageKind.ELISION, meta={"elideBefore": 5}),
        _row(9, MessageRole.TOOL, "listing", tool_call_id="c3"),
        _row(10, MessageRole.ASSISTANT, "done"),
        _row(11, MessageRole.SYSTEM, "summary", kind=MessageKind.SUMMARY, meta={"elideBefore": 3, "through": 4}),
    ]


def test_the_view_grows_into_exactly_what_a_full_rebuild_gives() -> None:
    thread = _thread()
    view = AgentView(SPEC, 0, ROOT)
    for end in range(len(thread) + 1):  # one message at a time, as steps add them
        shown = view.entries(thread[:end])
        assert shown == agent_entries(SPEC, thread[:end], 0, ROOT)
    # marks as `Marks.of` reads them: the newest summary, the furthest elision point
    assert (view.marks.summary, view.marks.through, view.marks.elide_before) == ("summary", 4, 5)


def test_a_step_shows_the_same_entry_objects_as_the_last() -> None:
    thread = _thread()
    view = AgentView(SPEC, 0, ROOT)
    before = view.entries(thread[:6])  # the reply at seq 6 waits for its results
    after = view.entries(thread)
    kept = len(before) - 3  # the reply waiting for its results, and its two stand-in results
    assert before[kept].seq == 6 and before[kept + 1].message["content"] == MISSING_RESULT
    assert all(a is b for a, b in zip(before[:kept], after[:kept], strict=True))  # the prefix is kept
    assert [e.message for e in after] == [e.message for e in agent_entries(SPEC, thread, 0, ROOT)]


async def test_counts_are_the_meters_and_only_new_messages_are_counted() -> None:
    thread = _thread()
    view = AgentView(SPEC, 0, ROOT)
    counted: list[int] = []

    class Counting(Meter):
        async def count(self, model: str, messages: list[dict[str, object]]) -> list[int]:  # type: ignore[override]
            counted.append(len(messages))
            return await super().count(model, messages)

    meter = Counting()
    first = view.entries(thread[:4])
    assert await view.count(meter, "m", first) == await Meter().count("m", [e.message for e in first])
    counted.clear()
    shown = view.entries(thread)
    assert await view.count(meter, "m", shown) == await Meter().count("m", [e.message for e in shown])
    assert counted == [len(shown) - len(first)]  # those already counted are remembered
    stub = Entry({"role": "tool", "tool_call_id": "c1", "content": "[stub]"}, 4, 0)
    assert await view.count(meter, "m", [*shown, stub]) == [*await view.count(meter, "m", shown), 5]


async def test_no_read_when_nothing_was_written_and_a_delta_when_something_was(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
        await tx.messages.add("s", role=MessageRole.USER, content="task", segment=0, turn_id="t")
    reads: list[int] = []
    main_thread = db.read.messages.main_thread

    async def counted(session_id: str, after: int = 0) -> list[MessageRow]:
        reads.append(after)
        return await main_thread(session_id, after)

    db.read.messages.main_thread = counted  # type: ignore[method-assign]
    threads = Threads(db)
    first = await threads.get("s", None)
    assert [m.content for m in await threads.get("s", None)] == ["task"] and reads == [0]
    async with db.transaction() as tx:
        await tx.messages.add("s", role=MessageRole.ASSISTANT, content="answer", segment=0, turn_id="t")
    assert [m.content for m in await threads.get("s", None)] == ["task", "answer"]
    assert reads == [0, first[0].seq]  # only what was added since
    await db.close()


async def test_the_cache_is_bounded_by_size_not_by_threads(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.db")
    threads = Threads(db)
    threads.BUDGET = 100 * (Threads.ROW_BYTES + 1_000)
    for n in range(150):  # more sessions than the old limit of 64 threads, 10 rows each
        async with db.transaction() as tx:
            await tx.sessions.create(f"s{n}", "t", AgentName.CODE)
            for _ in range(10):
                await tx.messages.add(f"s{n}", role=MessageRole.USER, content="x" * 1_000, segment=0, turn_id="t")
        assert len(await threads.get(f"s{n}", None)) == 10
        assert threads.size <= threads.BUDGET
    assert len(threads._cache) == 10  # pyright: ignore[reportPrivateUsage]
    threads.forget("s149")
    assert len(threads._cache) == 9  # pyright: ignore[reportPrivateUsage]
    await db.close()


def test_composing_step_by_step_shows_what_composing_the_whole_view_shows() -> None:
    thread = _thread()
    thread[3] = _row(4, MessageRole.TOOL, "A" * 5_000, tool_call_id="c1")  # cut to the limit
    more = [  # later steps: a read a step
        row
        for n in range(12, 40, 2)
        for row in (
            _row(n, MessageRole.ASSISTANT, "", tool_calls=(ModelToolCall(f"r{n}", "read_file", f'{{"path": "{n}"}}'),)),
            _row(n + 1, MessageRole.TOOL, "x" * (n * 50), tool_call_id=f"r{n}"),
        )
    ]
    thread += more
    for marks in (
        Marks(),
        Marks(elide_before=20),
        Marks(summary="earlier work", through=7, elide_before=9),
        Marks(summary="all of it", through=30),
    ):
        view = AgentView(SPEC, 0, ROOT)
        entries = view.entries([])
        for end in range(len(thread) + 1):
            entries = view.entries(thread[:end])
            shown = view.compose(entries, marks, 1_000)
            assert shown == compose(entries, marks, 1_000), (marks, end)
            # the messages sent are kept in step with it (the summary note in its place)
            assert view.messages(shown) == [e.message for e in shown], (marks, end)
        # a compaction changes the marks mid-way: composed afresh, still the same
        shown = view.compose(entries, Marks(elide_before=30), 2_000)
        assert shown == compose(entries, Marks(elide_before=30), 2_000)
        assert view.messages(shown) == [e.message for e in shown]
    other = agent_entries(SPEC, thread, 0, ROOT)  # not what the view gave: composed whole
    shown = view.compose(other, Marks(), 1_000)
    assert shown == compose(other, Marks(), 1_000)
    assert view.messages(shown) == [e.message for e in shown]
    assert view.messages(shown[:3]) == [e.message for e in shown[:3]]  # any other list: its own messages


async def test_counting_what_compose_gave_is_counting_it_whole() -> None:
    thread = [
        *_thread(),
        _row(12, MessageRole.ASSISTANT, "", tool_calls=(ModelToolCall("r", "read_file", '{"path": "c.py"}'),)),
        _row(13, MessageRole.TOOL, "C" * 3_000, tool_call_id="r"),
    ]
    for marks in (Marks(), Marks(summary="earlier work", through=7, elide_before=9)):
        view = AgentView(SPEC, 0, ROOT)
        for end in range(len(thread) + 1):
            shown = view.compose(view.entries(thread[:end]), marks, 1_000)
            whole = await Meter().count("m", [e.message for e in shown])
            assert await view.count(Meter(), "m", shown) == whole, (marks, end)
            assert await view.count(Meter(), "other", shown) == whole  # another model: counted afresh


async def test_the_turns_calls_are_read_from_new_messages_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
    threads = Threads(db)
    for n in range(6):
        turn = "t1" if n < 3 else "t2"
        call = ModelToolCall(f"c{n}", "read_file", json.dumps({"path": f"{n % 2}.py"}))
        async with db.transaction() as tx:
            await tx.messages.add(
                "s", role=MessageRole.ASSISTANT, content="", segment=0, turn_id=turn, tool_calls=(call,)
            )
        for turn_id in ("t1", "t2"):
            recent = await threads.turn_calls("s", None, turn_id)
            assert recent == turn_calls(await threads.get("s", None), turn_id)
            recent.append(("mine", "{}"))  # the caller's to extend: the cache is not
    await db.close()
