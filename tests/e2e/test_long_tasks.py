"""Long tasks over stdio, through litellm, against an OpenAI-compatible server that
refuses any prompt over its window: a 30-step task reading a 6 KB file per step
completes, told the window or not; the history stays whole; a kill -9 during a
compaction's model call loses and repeats nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.fake_llm import FakeLLM
from tests.harness import FAKE_MODEL, Editor
from tests.long_task import TASK, ReadingTask, name, write_files

LIMIT = 60_000
"""Characters of prompt the fake server takes: about a 15k-token window."""


async def _finish(editor: Editor, result: dict[str, Any]) -> dict[str, Any]:
    while result["status"] == "awaiting_tool_results":
        result = await editor.execute(result["sessionId"], result["pendingToolCalls"][0])
    return result


async def _check_history(editor: Editor, session_id: str) -> None:
    state = await editor.request("agent/getSession", {"sessionId": session_id})
    results = [m["content"] for m in state["messages"] if m["role"] == "tool" and m["content"].startswith("FILE-")]
    assert [r.split("\n", 1)[0] for r in results] == [f"FILE-{n:02d}" for n in range(1, 31)]
    assert all(len(r) > 5_900 for r in results)  # stored whole, whatever the model was shown


async def test_a_long_task_within_a_told_window_is_never_refused(make_editor, llm: FakeLLM) -> None:
    task = ReadingTask(steps=30, limit=LIMIT)
    editor = await make_editor(litellm=True, options={"llm": {"contextWindow": 15_000}})
    write_files(editor.workspace, 30)
    llm.script = task
    done = await _finish(editor, await editor.send(TASK, mode="code"))
    assert done["status"] == "completed" and done["message"] == "read 30 files"
    assert task.refused == []
    assert all(TASK in r.text for r in llm.requests)
    assert len([r for r in llm.requests if r.agent == "code"]) == 31
    assert editor.statuses("context_compacted")
    await _check_history(editor, done["sessionId"])


async def test_a_long_task_recovers_when_the_server_refuses_its_prompt(make_editor, llm: FakeLLM) -> None:
    task = ReadingTask(steps=30, limit=LIMIT)
    editor = await make_editor(litellm=True)  # no window told: litellm's map does not know openai/fake
    write_files(editor.workspace, 30)
    llm.script = task
    done = await _finish(editor, await editor.send(TASK, mode="code"))
    assert done["status"] == "completed" and done["message"] == "read 30 files"
    assert 1 <= len(task.refused) <= 2  # learned from the refusal, not refused at every step
    assert all(TASK in r.text for r in llm.requests)
    await _check_history(editor, done["sessionId"])


async def test_a_kill_during_a_compaction_call_repeats_no_step(make_editor, llm: FakeLLM) -> None:
    hold = threading.Event()
    task = ReadingTask(steps=30, notes=1_500, hold_summary=hold)
    options = {"llm": {"contextWindow": 15_000}}
    editor = await make_editor(options=options)
    write_files(editor.workspace, 30)
    llm.script = task
    result = await editor.send(TASK, mode="code")
    session_id = result["sessionId"]
    answering = asyncio.ensure_future(_finish(editor, result))
    await editor.wait_for(lambda: task.summaries == 1)  # the summary call is in flight
    await editor.kill()
    answering.cancel()
    task.hold_summary = None
    hold.set()
    read_before = [r for r in llm.requests if r.agent == "code"]

    editor = await Editor(editor.workspace, editor.db, model=FAKE_MODEL, api_base=llm.url, options=options).start()
    state = await editor.request("agent/getSession", {"sessionId": session_id})
    assert state["session"]["interrupted"] is True
    assert not [m for m in state["messages"] if m["kind"] == "summary"]  # nothing of the cut-off call
    done = await _finish(editor, await editor.request("agent/resume", {"sessionId": session_id}))
    assert done["status"] == "completed" and done["message"] == "read 30 files"
    state = await editor.request("agent/getSession", {"sessionId": session_id})
    paths = [c["function"]["arguments"] for m in state["messages"] for c in m.get("toolCalls") or []]
    assert len(paths) == 31 and len(set(paths)) == 31  # 30 reads and the completion, none twice
    assert all(f'"{name(n)}"' in p for n, p in zip(range(1, 31), paths, strict=False))
    assert [m for m in state["messages"] if m["kind"] == "summary"]
    steps_after = [r for r in llm.requests if r.agent == "code"][len(read_before) :]
    # the step the kill cut off (it was compacting before its own model call) runs once, after
    assert ReadingTask.last_read(steps_after[0]) == ReadingTask.last_read(read_before[-1]) + 1
    assert task.summaries >= 2  # the cut-off summary was asked again: it had committed nothing
    await editor.stop()


def test_a_bad_context_window_stops_the_sidecar_with_its_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CODELAB_AGENT_CONTEXT_WINDOW"}
    cases = [
        (["--context-window", "lots"], env, "--context-window"),
        (["--context-window", "12"], env, "--context-window"),
        ([], {**env, "CODELAB_AGENT_CONTEXT_WINDOW": "-5"}, "CODELAB_AGENT_CONTEXT_WINDOW"),
    ]
    for flags, environment, named in cases:
        done = subprocess.run(
            [sys.executable, "-m", "server", "--db", str(tmp_path / "a.db"), *flags],
            input=b"",
            capture_output=True,
            env=environment,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and named in done.stderr.decode(), done.stderr
        assert done.stdout == b""  # nothing but frames ever goes to stdout
