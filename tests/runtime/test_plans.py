"""Plans in-process: approval, one subtask at a time, failure and control, progress."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import Reply, Request, call, classify
from tests.runtime.editor import InProcessEditor as Editor
from tests.runtime.model import InProcessLLM as FakeLLM

THREE = {
    "goal": "three files",
    "subtasks": [
        {"id": "s1", "title": "first", "description": "write s1.txt", "agent": "code"},
        {"id": "s2", "title": "second", "description": "write s2.txt", "agent": "code", "dependencies": ["s1"]},
        {"id": "s3", "title": "third", "description": "write s3.txt", "agent": "debug", "dependencies": ["s2"]},
    ],
}
_SUBTASK = re.compile(r"Your subtask \((\w+)\)")


def subtask_of(request: Request) -> str | None:
    found = _SUBTASK.search(request.messages[1]["content"] or "") if len(request.messages) > 1 else None
    return found.group(1) if found else None


def plan_script(
    plan: dict = THREE, *, revised: dict | None = None, behaviour: Callable[[str, Request], Reply | None] | None = None
) -> Callable[[Request], Reply]:
    """The orchestrator says plan, the architect plans (v2 after a revision), and each
    subtask's agent writes `<id>.txt` through the editor, then completes."""

    def script(request: Request) -> Reply:
        if request.agent == "orchestrator":
            return classify("plan", atomic=False)
        if request.agent == "architect":
            asked_revision = any(
                "Revise the plan" in (m["content"] or "") for m in request.messages if m["role"] == "user"
            )
            return Reply("Planned.", [call("create_plan", **(revised if revised and asked_revision else plan))])
        sid = subtask_of(request)
        assert sid, "a subtask agent always starts from its brief"
        if behaviour and (special := behaviour(sid, request)) is not None:
            return special
        results = request.tool_results
        if not results or results[-1].startswith("Cancelled"):
            return Reply(f"Working on {sid}.", [call("write_file", path=f"{sid}.txt", content=f"{sid} output")])
        if results[-1].startswith("The user rejected"):
            return Reply("", [call("attempt_completion", result=f"{sid} not written: {results[-1]}")])
        return Reply("", [call("attempt_completion", result=f"{sid} wrote {sid}.txt")])

    return script


async def start_plan(
    make_editor, llm: FakeLLM, script: Callable[[Request], Reply] | None = None, **kwargs
) -> tuple[Editor, dict]:
    editor = await make_editor(**kwargs)
    llm.script = script or plan_script()
    result = await editor.send("make three files")
    assert result["status"] == "awaiting_plan_approval", result
    return editor, result


async def approve(editor: Editor, result: dict) -> dict:
    return await editor.request(
        "agent/approvePlan", {"sessionId": result["sessionId"], "planId": result["planId"], "decision": "approve"}
    )


def model_steps(llm: FakeLLM) -> list[tuple[str, str | None, int]]:
    return [(r.agent, subtask_of(r), len(r.tool_results)) for r in llm.requests]


async def test_a_plan_runs_one_subtask_at_a_time(make_editor, llm: FakeLLM) -> None:
    editor, planned = await start_plan(make_editor, llm)
    session = planned["sessionId"]
    first = await approve(editor, planned)
    assert first["status"] == "awaiting_tool_results" and first["planId"] == planned["planId"]
    s1_call = editor.call(first["pendingToolCalls"][0])
    assert s1_call["subtaskId"] == "s1" and s1_call["planId"] == planned["planId"] and s1_call["requiresApproval"]
    assert [s["data"]["subtaskId"] for s in editor.statuses("subtask_started")] == ["s1"]  # s2 waits for s1's call
    result = await editor.drive(first)
    assert result["status"] == "completed"
    assert result["message"].startswith("Plan completed: three files") and "s3 wrote s3.txt" in result["message"]
    assert all((editor.workspace / f"s{i}.txt").read_text() == f"s{i} output" for i in (1, 2, 3))

    # order: each subtask starts only after the previous one's call was answered and it completed
    events = [
        (p["event"], p["data"].get("subtaskId"))
        for n, p in editor.events
        if n == "agent/status" and p["event"].startswith("subtask")
    ]
    assert events == [
        ("subtask_started", "s1"),
        ("subtask_completed", "s1"),
        ("subtask_started", "s2"),
        ("subtask_completed", "s2"),
        ("subtask_started", "s3"),
        ("subtask_completed", "s3"),
    ]
    calls = [editor.index("agent/toolCall", lambda p, s=s: p["subtaskId"] == s) for s in ("s1", "s2", "s3")]
    started = [
        editor.index("agent/status", lambda p, s=s: p["event"] == "subtask_started" and p["data"]["subtaskId"] == s)
        for s in ("s1", "s2", "s3")
    ]
    answered = [
        editor.index("request:agent/toolResult", lambda p, s=s: editor.call(p["callId"])["subtaskId"] == s)
        for s in ("s1", "s2", "s3")
    ]
    assert (
        started[0] < calls[0] < answered[0] < started[1] < calls[1] < answered[1] < started[2] < calls[2] < answered[2]
    )
    assert editor.statuses("plan_completed") and editor.of("agent/planUpdate")[-1]["plan"]["status"] == "completed"

    # one flow per tool result: no model step asked twice
    steps = model_steps(llm)
    assert len(steps) == len(set(steps)) == 2 + 6  # classify, plan, then 2 steps per subtask
    assert [s for s in steps if s[0] in ("code", "debug")] == [
        ("code", "s1", 0),
        ("code", "s1", 1),
        ("code", "s2", 0),
        ("code", "s2", 1),
        ("debug", "s3", 0),
        ("debug", "s3", 1),
    ]

    # each subtask sees its goal, itself, its dependencies' results; not other transcripts
    s2 = next(r for r in llm.requests if subtask_of(r) == "s2")
    assert "s1 wrote s1.txt" in s2.text and "three files" in s2.text
    assert "s1 output" not in s2.text and "Planned." not in s2.text and "make three files" not in s2.text
    s3 = next(r for r in llm.requests if subtask_of(r) == "s3")
    assert "s2 wrote s2.txt" in s3.text and "s1 wrote s1.txt" not in s3.text
    assert s3.messages[0]["content"].startswith("You are the debug agent")
    state = await editor.request("agent/getSession", {"sessionId": session})
    assert [s["status"] for s in state["plan"]["subtasks"]] == ["done", "done", "done"]
    assert state["session"]["state"] == "idle" and "activePlanId" not in state["session"]


async def test_reject_ends_the_turn(make_editor, llm: FakeLLM) -> None:
    editor, planned = await start_plan(make_editor, llm)
    rejected = await editor.request(
        "agent/approvePlan",
        {"sessionId": planned["sessionId"], "planId": planned["planId"], "decision": "reject", "feedback": "not now"},
    )
    assert rejected["status"] == "completed" and rejected["message"] == "Plan rejected. Feedback: not now"
    assert editor.of("agent/planUpdate")[-1]["plan"]["status"] == "rejected"
    assert not editor.calls()
    with pytest.raises(JsonRpcException) as info:
        await approve(editor, planned)
    assert info.value.code == -32014 and "not awaiting approval" in info.value.message


async def test_revise_produces_version_two_which_runs(make_editor, llm: FakeLLM) -> None:
    revised = {"goal": "one file", "subtasks": [{"id": "only", "title": "just one", "agent": "code"}]}
    editor, planned = await start_plan(make_editor, llm, plan_script(revised=revised))
    with pytest.raises(JsonRpcException) as missing:
        await editor.request(
            "agent/approvePlan", {"sessionId": planned["sessionId"], "planId": planned["planId"], "decision": "revise"}
        )
    assert missing.value.code == -32602 and "feedback" in missing.value.message
    v2 = await editor.request(
        "agent/approvePlan",
        {
            "sessionId": planned["sessionId"],
            "planId": planned["planId"],
            "decision": "revise",
            "feedback": "one file is enough",
        },
    )
    assert v2["status"] == "awaiting_plan_approval" and v2["planId"] != planned["planId"]
    assert "one file is enough" in llm.by_agent("architect")[-1].text
    done = await editor.drive(await approve(editor, v2))
    assert done["status"] == "completed" and (editor.workspace / "only.txt").exists()
    assert not (editor.workspace / "s1.txt").exists()
    state = await editor.request("agent/getSession", {"sessionId": planned["sessionId"]})
    versions = [(p["version"], p["status"]) for p in state["planVersions"]]
    assert versions == [(1, "rejected"), (2, "completed")]
    assert state["planVersions"][1]["feedback"].endswith("one file is enough")


async def test_cancel_pauses_the_plan_and_resume_continues_the_same_subtask(make_editor, llm: FakeLLM) -> None:
    editor, planned = await start_plan(make_editor, llm)
    first = await approve(editor, planned)
    second = await editor.execute(planned["sessionId"], first["pendingToolCalls"][0])
    assert editor.call(second["pendingToolCalls"][0])["subtaskId"] == "s2"
    assert await editor.request("agent/cancel", {"sessionId": planned["sessionId"]}) == {"cancelled": True}
    paused = editor.of("agent/planUpdate")[-1]["plan"]
    assert paused["status"] == "paused" and [s["status"] for s in paused["subtasks"]] == [
        "done",
        "in_progress",
        "pending",
    ]
    assert editor.statuses("plan_paused")
    resumed = await editor.request("agent/resume", {"sessionId": planned["sessionId"]})
    s2_again = editor.call(resumed["pendingToolCalls"][0])
    assert s2_again["subtaskId"] == "s2" and s2_again["callId"] != second["pendingToolCalls"][0]
    done = await editor.drive(resumed)
    assert done["status"] == "completed"
    assert [s for s in model_steps(llm) if s[1] == "s1"] == [("code", "s1", 0), ("code", "s1", 1)]  # s1 never redone


async def test_a_failed_subtask_can_be_retried(make_editor, llm: FakeLLM) -> None:
    attempts = Counter[str]()

    def flaky(sid: str, request: Request) -> Reply | None:
        if sid == "s2" and not request.tool_results:
            attempts[sid] += 1
            if attempts[sid] == 1:
                return Reply("", [call("attempt_completion", result="the disk is full", failed=True)])
        return None

    editor, planned = await start_plan(make_editor, llm, plan_script(behaviour=flaky))
    failed = await editor.drive(await approve(editor, planned))
    assert failed["status"] == "failed" and "subtask s2 (second) failed: the disk is full" in failed["error"]["message"]
    plan = editor.of("agent/planUpdate")[-1]["plan"]
    assert plan["status"] == "failed" and [s["status"] for s in plan["subtasks"]] == ["done", "failed", "pending"]
    with pytest.raises(JsonRpcException) as info:
        await editor.request("agent/resume", {"sessionId": planned["sessionId"]})
    assert info.value.code == -32014 and "retrySubtask" in info.value.message
    with pytest.raises(JsonRpcException):
        await editor.request(
            "agent/retrySubtask", {"sessionId": planned["sessionId"], "planId": planned["planId"], "subtaskId": "s1"}
        )
    retried = await editor.request(
        "agent/retrySubtask", {"sessionId": planned["sessionId"], "planId": planned["planId"], "subtaskId": "s2"}
    )
    done = await editor.drive(retried)
    assert done["status"] == "completed" and (editor.workspace / "s2.txt").exists()
    retry_view = [r for r in llm.requests if subtask_of(r) == "s2"][-2]
    assert "the disk is full" not in retry_view.text  # a fresh attempt starts from its brief


async def test_a_failed_subtask_can_be_skipped(make_editor, llm: FakeLLM) -> None:
    def broken(sid: str, request: Request) -> Reply | None:
        return Reply(status=400, text="bad request") if sid == "s2" else None

    editor, planned = await start_plan(make_editor, llm, plan_script(behaviour=broken))
    failed = await editor.drive(await approve(editor, planned))
    assert failed["status"] == "failed" and failed["error"]["code"] == -32015 and "s2" in failed["error"]["message"]
    skipped = await editor.request(
        "agent/skipSubtask", {"sessionId": planned["sessionId"], "planId": planned["planId"], "subtaskId": "s2"}
    )
    done = await editor.drive(skipped)
    assert done["status"] == "completed"
    assert [s["status"] for s in editor.of("agent/planUpdate")[-1]["plan"]["subtasks"]] == ["done", "skipped", "done"]
    s3 = next(r for r in llm.requests if subtask_of(r) == "s3")
    assert "skipped by the user" in s3.text


async def test_text_replies_inside_a_plan(make_editor, llm: FakeLLM) -> None:
    def chatty(sid: str, request: Request) -> Reply | None:
        if sid == "s1":
            return Reply("s1 is done, I think.")
        if sid == "s2" and not request.tool_results:
            return Reply("", [call("switch_mode", mode="explain", reason="bored")])
        return None

    editor, planned = await start_plan(make_editor, llm, plan_script(behaviour=chatty))
    result = await editor.drive(await approve(editor, planned))
    assert result["status"] == "completed"
    assert len(editor.statuses("nudged")) == 1
    subtasks = editor.of("agent/planUpdate")[-1]["plan"]["subtasks"]
    assert subtasks[0]["result"] == "s1 is done, I think."
    s2_second = [r for r in llm.requests if subtask_of(r) == "s2"][1]
    assert "not allowed while a plan executes" in s2_second.tool_results[0]


async def test_a_step_budget_fails_the_subtask(make_editor, llm: FakeLLM) -> None:
    def looping(sid: str, request: Request) -> Reply | None:
        return Reply("", [call("list_files", path=".")])

    editor, planned = await start_plan(
        make_editor, llm, plan_script(behaviour=looping), options={"limits": {"maxSteps": 3}}
    )
    failed = await editor.drive(await approve(editor, planned))
    assert failed["status"] == "failed" and "subtask s1 (first) failed" in failed["error"]["message"]
    assert "budget of 3 model calls" in failed["error"]["message"]


async def test_progress_is_reported_to_a_client_that_supports_it(make_editor, llm: FakeLLM) -> None:
    editor, planned = await start_plan(make_editor, llm, progress=True)
    await editor.drive(await approve(editor, planned))
    reports = list(editor.progress_reports.values())
    assert len(reports) == 1
    kinds = [r.kind for r in reports[0]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("report") == 3
    messages = [r.message for r in reports[0] if r.kind == "report"]
    assert messages == ["subtask 1 of 3: first", "subtask 2 of 3: second", "subtask 3 of 3: third"]


async def test_no_progress_for_a_client_that_does_not_announce_it(make_editor, llm: FakeLLM) -> None:
    editor, planned = await start_plan(make_editor, llm, progress=False)
    done = await editor.drive(await approve(editor, planned))
    assert done["status"] == "completed" and editor.progress_reports == {}


async def test_plan_controls_need_the_right_state(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(code=[Reply("hi")])
    result = await editor.send("hello", mode="code")
    for method, extra in (
        ("agent/approvePlan", {"planId": "nope", "decision": "approve"}),
        ("agent/skipSubtask", {"planId": "nope", "subtaskId": "s1"}),
    ):
        with pytest.raises(JsonRpcException) as info:
            await editor.request(method, {"sessionId": result["sessionId"], **extra})
        assert info.value.code == -32014 and "no plan 'nope'" in info.value.message
