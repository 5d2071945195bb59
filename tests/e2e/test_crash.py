"""Crash safety: SIGKILL the sidecar at every transition of a 3-subtask plan whose
subtasks each make a tool call needing approval, restart it on the same database,
drive it to the end, and check that nothing was lost or done twice."""

from __future__ import annotations

import sqlite3
from collections import defaultdict

import pytest

from tests.fake_llm import FakeLLM
from tests.harness import FAKE_MODEL, Editor
from tests.runtime.test_plans import THREE, plan_script, subtask_of

POINTS = [
    "status:plan_created:1",
    "status:plan_approved:1",
    *(f"status:subtask_started:{n}" for n in (1, 2, 3)),
    *(f"agent/toolCall:{n}" for n in (1, 2, 3)),
    *(f"tool_result:{n}" for n in (1, 2, 3)),
    *(f"status:subtask_completed:{n}" for n in (1, 2, 3)),
]


async def _drive(editor: Editor, result: dict) -> dict:
    """Approve the plan and every call, as the user would, until the turn completes."""
    while result["status"] != "completed":
        if result["status"] == "awaiting_plan_approval":
            result = await editor.request(
                "agent/approvePlan",
                {"sessionId": result["sessionId"], "planId": result["planId"], "decision": "approve"},
            )
        elif result["status"] == "awaiting_tool_results":
            call_id = result["pendingToolCalls"][0]
            call = editor.call(call_id)
            assert call["requiresApproval"] is True
            result = await editor.execute(result["sessionId"], call_id)
        else:
            raise AssertionError(f"unexpected turn result {result}")
    return result


@pytest.mark.parametrize("point", POINTS)
async def test_a_crash_at_any_transition_loses_nothing(point: str, workspace, db_path, llm: FakeLLM) -> None:
    llm.script = plan_script()
    first = await Editor(
        workspace, db_path, model=FAKE_MODEL, api_base=llm.url, env={"CODELAB_AGENT_CRASH_AFTER": point}
    ).start()
    with pytest.raises(RuntimeError, match="exited"):
        await _drive(first, await first.send("make three files"))
    session_id = first.statuses()[0]["sessionId"]
    await first.kill()

    second = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url).start()
    done = await _drive(second, await second.request("agent/resume", {"sessionId": session_id}))
    assert done["message"].startswith("Plan completed: three files")

    for n in (1, 2, 3):  # the final files are right
        assert (workspace / f"s{n}.txt").read_text() == f"s{n} output"
    call_ids: dict[str, set[str]] = defaultdict(set)  # one callId per subtask's call, re-sends included
    for editor in (first, second):
        for call in editor.calls():
            call_ids[call["subtaskId"]].add(call["callId"])
    assert {k: len(v) for k, v in call_ids.items()} == {"s1": 1, "s2": 1, "s3": 1}
    steps = [(r.agent, subtask_of(r), len(r.tool_results)) for r in llm.requests]
    assert len(steps) == len(set(steps)) == 2 + 2 * len(THREE["subtasks"])  # no completed step ran twice
    await second.stop()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
