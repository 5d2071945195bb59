"""The context budget in-process: long tasks fit their window, a refusal is recovered
from (never in a loop), compaction is stored and reused but never rewrites history,
the loop guard asks."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import Reply, Request, call, too_long
from tests.long_task import TASK, ReadingTask, write_files
from tests.runtime.editor import InProcessEditor as Editor
from tests.runtime.model import InProcessLLM as FakeLLM

WINDOW = 15_000
LIMIT = 60_000
"""The fake refuses prompts over this many characters: a 15k-token window at 4 a token."""


async def _run(editor: Editor, text: str = TASK, **extra: Any) -> dict[str, Any]:
    result = await editor.send(text, mode="code", **extra)
    while result["status"] == "awaiting_tool_results":
        result = await editor.execute(result["sessionId"], result["pendingToolCalls"][0])
    return result


async def _session(editor: Editor, session_id: str) -> dict[str, Any]:
    return await editor.request("agent/getSession", {"sessionId": session_id})


async def test_a_long_task_fits_a_told_window_and_history_is_kept_whole(make_editor, llm: FakeLLM) -> None:
    task = ReadingTask(steps=30, limit=LIMIT, notes=1_500)
    editor = await make_editor(options={"llm": {"contextWindow": WINDOW}})
    write_files(editor.workspace, 30)
    llm.script = task
    done = await _run(editor)
    assert done["status"] == "completed" and done["message"] == "read 30 files"
    assert task.refused == []  # told the window, nothing was ever refused
    agent = [r for r in llm.requests if r.agent == "code"]
    assert len(agent) == 31
    assert all(TASK in r.text for r in llm.requests)  # the task, verbatim, in every request
    assert max(len(r.text) for r in agent) < LIMIT
    # elision first, a summary when eliding was not enough; each one announced with its figures
    compacted = editor.statuses("context_compacted")
    kinds = {s["data"]["kind"] for s in compacted}
    assert kinds == {"elision", "summary"}
    for status in compacted:
        data = status["data"]
        assert data["tokensAfter"] < data["tokensBefore"] and data["window"] == WINDOW
    # a summary is written once and reused: far fewer summaries than steps
    assert 0 < task.summaries == sum(1 for s in compacted if s["data"]["kind"] == "summary") < 10
    # the stored history is whole: every result as it was, the compactions as rows of their own
    state = await _session(editor, done["sessionId"])
    results = [m for m in state["messages"] if m["role"] == "tool" and m["content"].startswith("FILE-")]
    assert [m["content"].split("\n", 1)[0] for m in results] == [f"FILE-{n:02d}" for n in range(1, 31)]
    assert all(len(m["content"]) > 5_000 for m in results)
    summaries = [m for m in state["messages"] if m["kind"] == "summary"]
    assert len(summaries) == task.summaries
    assert all(m["meta"]["through"] > 0 and "Read: f01.txt" in m["content"] for m in summaries)
    assert [m for m in state["messages"] if m["kind"] == "elision"]


async def test_the_model_is_shown_stubs_and_the_newest_result_whole(make_editor, llm: FakeLLM) -> None:
    task = ReadingTask(steps=10)
    editor = await make_editor(options={"llm": {"contextWindow": 12_000}})
    write_files(editor.workspace, 10)
    llm.script = task
    assert (await _run(editor))["status"] == "completed"
    assert task.summaries == 0  # eliding was enough
    last = [r for r in llm.requests if r.agent == "code"][-1]
    results = last.tool_results
    assert len(results) == 10 and results[-1].startswith("FILE-10")  # the newest result is whole
    stubs = [r for r in results if r.startswith("[read_file f")]
    assert (
        stubs
        and stubs[0] == "[read_file f01.txt: 6,001 bytes elided to save context; run the tool again if you need it]"
    )
    # oldest first: every stub comes before every whole result
    whole = [i for i, r in enumerate(results) if r.startswith("FILE-")]
    assert max(i for i, r in enumerate(results) if r in stubs) < min(whole)


async def test_a_prompt_between_two_compactions_only_grows(make_editor, llm: FakeLLM) -> None:
    """Append-only between compactions: a provider's prompt cache keeps hitting."""
    editor = await make_editor(options={"llm": {"contextWindow": WINDOW}})
    write_files(editor.workspace, 20)
    llm.script = ReadingTask(steps=20)
    assert (await _run(editor))["status"] == "completed"
    agent = [r.messages for r in llm.requests if r.agent == "code"]
    grew = sum(1 for before, after in pairwise(agent) if after[: len(before)] == before)
    compactions = len(editor.statuses("context_compacted"))
    assert compactions >= 2 and grew == len(agent) - 1 - compactions


async def test_a_refused_prompt_is_compacted_and_sent_again(make_editor, llm: FakeLLM) -> None:
    task = ReadingTask(steps=30, limit=LIMIT)
    editor = await make_editor()  # no window told: the default is far larger than the server's
    write_files(editor.workspace, 30)
    llm.script = task
    done = await _run(editor)
    assert done["status"] == "completed" and done["message"] == "read 30 files"
    assert len(task.refused) == 1  # refused once; the window it taught is kept
    assert all(TASK in r.text for r in llm.requests)


async def test_a_prompt_refused_whatever_is_done_fails_the_turn_after_two_retries(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor()
    (editor.workspace / "a.txt").write_text("A\n")

    def script(request: Request) -> Reply:
        return too_long(10) if request.agent == "code" else Reply("summary")

    llm.script = script
    result = await editor.send("read a.txt", mode="code")
    assert result["status"] == "failed"
    message = result["error"]["message"]
    assert "context window" in message and "contextWindow" in message and "2 times" in message
    assert len([r for r in llm.requests if r.agent == "code"]) == 3  # one call and two retries, no loop
    state = await _session(editor, result["sessionId"])
    assert state["session"]["state"] == "idle"  # the session survives; the next message works
    llm.script = lambda request: Reply("hello")
    again = await editor.send("hi", session_id=result["sessionId"], mode="code")
    assert again["status"] == "completed"


async def test_an_oversized_result_is_cut_in_the_view_and_kept_whole(make_editor, llm: FakeLLM) -> None:
    script = [Reply("", [call("read_file", path="big.txt")]), Reply("", [call("attempt_completion", result="ok")])]
    editor = await make_editor(options={"limits": {"maxViewResultChars": 4_000}}, code=script)
    big = "HEAD-" + "x" * 50_000 + "-TAIL"
    (editor.workspace / "big.txt").write_text(big)
    done = await _run(editor, "read big.txt")
    assert done["status"] == "completed"
    shown = llm.by_agent("code")[1].tool_results[0]
    assert shown.startswith("HEAD-") and shown.rstrip().endswith("-TAIL")
    assert "characters cut from the middle" in shown and len(shown) < 4_300
    state = await _session(editor, done["sessionId"])
    stored = next(m["content"] for m in state["messages"] if m["role"] == "tool")
    assert big in stored


async def test_a_subtask_keeps_its_brief_through_compaction(make_editor, llm: FakeLLM) -> None:
    plan = {
        "goal": "read the files GOAL-MARKER",
        "subtasks": [{"id": "1", "title": "Read them all", "description": "f01 to f12", "agent": "code"}],
    }
    reading = ReadingTask(steps=12)

    def script(request: Request) -> Reply:
        if request.agent == "architect":
            return Reply("", [call("create_plan", **plan)])
        return reading(request)

    editor = await make_editor(options={"llm": {"contextWindow": 8_000}})
    write_files(editor.workspace, 12)
    llm.script = script
    result = await editor.send("read the files", mode="architect")
    assert result["status"] == "awaiting_plan_approval"
    result = await editor.request(
        "agent/approvePlan", {"sessionId": result["sessionId"], "planId": result["planId"], "decision": "approve"}
    )
    while result["status"] == "awaiting_tool_results":
        result = await editor.execute(result["sessionId"], result["pendingToolCalls"][0])
    assert result["status"] == "completed"
    subtask = [r for r in llm.requests if r.agent == "code"]
    assert len(subtask) == 13 and editor.statuses("context_compacted")
    assert all("GOAL-MARKER" in r.messages[1]["content"] and "Read them all" in r.text for r in subtask)


async def test_the_classifier_sees_the_head_and_tail_of_a_huge_task(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        options={"llm": {"contextWindow": 2_000}},
        orchestrator=[Reply('{"is_atomic": true, "agent": "explain", "confidence": "high", "reason": "r"}')],
        explain=[Reply("explained")],
    )
    task = "START " + "word " * 20_000 + " END"
    done = await editor.send(task)
    assert done["status"] == "completed"
    shown = llm.by_agent("orchestrator")[0].messages[1]["content"]
    assert shown.startswith("START") and shown.endswith("END") and len(shown) <= 3_200


async def test_the_same_call_three_times_in_a_row_asks_whatever_the_policy_says(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("read_file", path="a.txt")]),
            Reply("", [call("read_file", path="a.txt")]),
            Reply("", [call("read_file", path="a.txt")]),
            Reply("", [call("read_file", path="b.txt")]),
            Reply("", [call("attempt_completion", result="done")]),
        ]
    )
    (editor.workspace / "a.txt").write_text("A\n")
    (editor.workspace / "b.txt").write_text("B\n")
    result = await editor.send("read a", mode="code")
    asked: list[dict[str, Any]] = []
    while result["status"] == "awaiting_tool_results":
        sent = editor.call(result["pendingToolCalls"][0])
        asked.append(sent)
        result = await editor.execute(result["sessionId"], sent["callId"])
    assert [c["requiresApproval"] for c in asked] == [False, False, True, False]
    assert "repeated 3 times" in asked[2]["reason"]
    state = await _session(editor, result["sessionId"])
    assert any("repeated 3 times" in a["reason"] for a in state["approvals"])


async def test_the_guard_reads_arguments_not_their_spelling(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("search_in_code", query="x", path=".")]),
            Reply("", [("search_in_code", '{"path": ".", "query": "x"}')]),
            Reply("", [("search_in_code", '{ "query":"x","path":"." }')]),
            Reply("", [call("attempt_completion", result="done")]),
        ]
    )
    result = await editor.send("search", mode="code")
    asked: list[bool] = []
    while result["status"] == "awaiting_tool_results":
        sent = editor.call(result["pendingToolCalls"][0])
        asked.append(sent["requiresApproval"])
        result = await editor.execute(result["sessionId"], sent["callId"])
    assert asked == [False, False, True]


@pytest.mark.parametrize(
    ("llm_options", "field"),
    [
        ({"contextWindow": 100}, "contextWindow"),
        ({"contextWindow": "big"}, "contextWindow"),
        ({"contextWindow": 10**9}, "contextWindow"),
        ({"compactionThreshold": 1.5}, "compactionThreshold"),
        ({"compactionThreshold": 0}, "compactionThreshold"),
        ({"compactionModel": ""}, "compactionModel"),
        ({"compactionModel": "py:tests.fake_model:FakeModel"}, "compactionModel"),
    ],
)
async def test_bad_budget_settings_are_refused_with_their_name(
    workspace: Path, db_path: Path, llm_options: dict[str, Any], field: str
) -> None:
    with pytest.raises(JsonRpcException) as info:
        await Editor(workspace, db_path, options={"llm": llm_options}).start()
    assert field in str(info.value) or field in str(getattr(info.value, "data", ""))
