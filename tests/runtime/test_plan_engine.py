"""The plan engine: the rules that choose what runs next (on plan rows), and the
execution that follows them (in-process, against a scripted model).

- ready order: one subtask at a time, the first pending one in plan order whose
  dependencies are all settled;
- a skipped subtask counts as settled, a failed one does not;
- a failure fails the plan and starts nothing more;
- a retry starts the subtask afresh: a new attempt, no result, its brief only;
- a subtask's agent sees its own brief and its dependencies' results, never another
  subtask's transcript, nor the conversation that produced the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from protocol.enums import SubtaskStatus
from protocol.tools import CreatePlanArgs
from server.plans import rules
from server.turn.prompt_view import subtask_brief
from storage.records import PlanRow
from tests.fake_llm import Reply, Request, call
from tests.runtime.editor import InProcessEditor, MakeEditor
from tests.runtime.model import InProcessLLM
from tests.runtime.test_plans import subtask_of

P, IN, DONE, SKIP, FAIL = (
    SubtaskStatus.PENDING,
    SubtaskStatus.IN_PROGRESS,
    SubtaskStatus.DONE,
    SubtaskStatus.SKIPPED,
    SubtaskStatus.FAILED,
)
TASK = "TASK-TEXT: build the three parts"


def plan_of(*subtasks: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "goal": "GOAL-TEXT",
        "subtasks": [
            {"id": i, "title": f"title of {i}", "description": f"do {i}", "agent": "code", "dependencies": deps}
            for i, deps in subtasks
        ],
    }


def row(plan: dict[str, Any], *statuses: SubtaskStatus) -> PlanRow:
    made = rules.new_plan("session", 1, CreatePlanArgs.model_validate(plan), None)
    return replace(
        made,
        subtasks=tuple(
            replace(s, status=st, result=f"{s.id}-result" if st is DONE else None)
            for s, st in zip(made.subtasks, statuses, strict=True)
        ),
    )


# --- the rules ---------------------------------------------------------------------

CHAIN = plan_of(("a", ["b"]), ("b", []), ("c", []), ("d", ["a", "c"]))


@pytest.mark.parametrize(
    ("statuses", "ready"),
    [
        ((P, P, P, P), "b"),  # a waits for b: plan order among the ready ones
        ((P, DONE, P, P), "a"),
        ((DONE, DONE, P, P), "c"),  # d waits for c
        ((DONE, DONE, DONE, P), "d"),
        ((P, IN, P, P), "c"),  # in progress is not settled
        ((P, SKIP, P, P), "a"),  # skipped is settled
        ((DONE, DONE, SKIP, P), "d"),
        ((P, FAIL, P, P), "c"),  # failed is not settled: a never becomes ready
        ((P, FAIL, DONE, P), None),
        ((DONE, DONE, DONE, DONE), None),
    ],
)
def test_what_is_ready_next(statuses: tuple[SubtaskStatus, ...], ready: str | None) -> None:
    chosen = rules.next_ready(row(CHAIN, *statuses))
    assert (chosen.id if chosen else None) == ready


def test_the_subtask_in_progress_is_current() -> None:
    assert rules.current(row(CHAIN, P, P, P, P)) is None
    current = rules.current(row(CHAIN, P, DONE, IN, P))
    assert current is not None and current.id == "c"


def test_the_summary_gives_results_of_done_subtasks_and_the_status_of_others() -> None:
    text = rules.summary(row(CHAIN, DONE, SKIP, DONE, FAIL))
    assert text.splitlines() == [
        "Plan completed: GOAL-TEXT",
        "- a title of a: a-result",
        "- b title of b: skipped",
        "- c title of c: c-result",
        "- d title of d: failed",
    ]


def test_a_brief_has_the_dependencies_results_and_only_the_titles_of_the_rest() -> None:
    plan = row(plan_of(("a", []), ("b", []), ("c", ["a"])), DONE, DONE, P)
    brief = subtask_brief(plan, plan.subtasks[2])
    assert "Your subtask (c): title of c" in brief and "GOAL-TEXT" in brief
    assert "- a (title of a): a-result" in brief
    assert "b-result" not in brief and "b title of b" in brief


def test_a_skipped_dependency_is_named_as_skipped_in_the_brief() -> None:
    plan = row(plan_of(("a", []), ("b", ["a"])), SKIP, P)
    brief = subtask_brief(plan, plan.subtasks[1])
    assert "- a (title of a): (skipped by the user: no result; check for yourself)" in brief


# --- execution, in-process -----------------------------------------------------------

Behaviour = Callable[[str, Request], Reply]


def completes(sid: str, request: Request) -> Reply:
    return Reply(f"{sid} chatter", [call("attempt_completion", result=f"{sid}-result")])


async def planned(
    make_editor: MakeEditor, llm: InProcessLLM, plan: dict[str, Any], behaviour: Behaviour = completes
) -> tuple[InProcessEditor, dict[str, Any]]:
    """The architect plans `plan`; each subtask's agent does `behaviour(subtask id, request)`."""
    editor = await make_editor()

    def script(request: Request) -> Reply:
        if request.agent == "architect":
            return Reply("PLANNER-CHATTER", [call("create_plan", **plan)])
        sid = subtask_of(request)
        assert sid, "a subtask's agent starts from its brief"
        return behaviour(sid, request)

    llm.script = script
    result = await editor.send(TASK, mode="architect")
    assert result["status"] == "awaiting_plan_approval", result
    return editor, result


async def approve(editor: InProcessEditor, planned: dict[str, Any]) -> dict[str, Any]:
    params = {"sessionId": planned["sessionId"], "planId": planned["planId"], "decision": "approve"}
    return await editor.request("agent/approvePlan", params)


async def stored(editor: InProcessEditor, plan_id: str) -> PlanRow:
    assert editor.app is not None
    plan = await editor.app.db.read.plans.get(plan_id)
    assert plan is not None
    return plan


def started(editor: InProcessEditor) -> list[str]:
    return [s["data"]["subtaskId"] for s in editor.statuses("subtask_started")]


def first_requests(llm: InProcessLLM) -> dict[str, Request]:
    """The first model request of each subtask's latest attempt (in these scripts, the
    last one before it has any tool result)."""
    return {sid: r for r in llm.requests if (sid := subtask_of(r)) and not r.tool_results}


async def test_subtasks_run_one_at_a_time_in_ready_order(make_editor: MakeEditor, llm: InProcessLLM) -> None:
    editor, plan = await planned(make_editor, llm, CHAIN)
    done = await approve(editor, plan)
    assert done["status"] == "completed"
    assert started(editor) == ["b", "a", "c", "d"]
    assert [subtask_of(r) for r in llm.requests if r.agent == "code"] == ["b", "a", "c", "d"]
    assert {s.id: s.status for s in (await stored(editor, plan["planId"])).subtasks} == dict.fromkeys("abcd", DONE)


async def test_a_failed_subtask_fails_the_plan_and_nothing_else_starts(
    make_editor: MakeEditor, llm: InProcessLLM
) -> None:
    def b_fails(sid: str, request: Request) -> Reply:
        if sid == "b":
            return Reply("", [call("attempt_completion", result="b cannot", failed=True)])
        return completes(sid, request)

    editor, plan = await planned(make_editor, llm, CHAIN, b_fails)
    failed = await approve(editor, plan)
    assert failed["status"] == "failed" and "b cannot" in failed["error"]["message"]
    assert started(editor) == ["b"]  # c was ready too, but a failure stops the plan
    statuses = {s.id: s.status for s in (await stored(editor, plan["planId"])).subtasks}
    assert statuses == {"a": P, "b": FAIL, "c": P, "d": P}
    state = await editor.request("agent/getSession", {"sessionId": plan["sessionId"]})
    assert state["plan"]["status"] == "failed" and state["session"]["state"] == "plan_paused"


async def test_a_skipped_subtask_settles_its_dependents(make_editor: MakeEditor, llm: InProcessLLM) -> None:
    def b_fails(sid: str, request: Request) -> Reply:
        if sid == "b":
            return Reply("", [call("attempt_completion", result="b cannot", failed=True)])
        return completes(sid, request)

    editor, plan = await planned(make_editor, llm, CHAIN, b_fails)
    await approve(editor, plan)
    done = await editor.request(
        "agent/skipSubtask", {"sessionId": plan["sessionId"], "planId": plan["planId"], "subtaskId": "b"}
    )
    assert done["status"] == "completed"
    assert started(editor) == ["b", "a", "c", "d"]
    assert "(skipped by the user: no result; check for yourself)" in first_requests(llm)["a"].text
    assert {s.id: s.status for s in (await stored(editor, plan["planId"])).subtasks} == {
        "a": DONE,
        "b": SKIP,
        "c": DONE,
        "d": DONE,
    }


async def test_a_retry_starts_afresh_from_the_brief(make_editor: MakeEditor, llm: InProcessLLM) -> None:
    attempts: dict[str, int] = {}

    def first_attempt_fails(sid: str, request: Request) -> Reply:
        if not request.tool_results:
            attempts[sid] = attempts.get(sid, 0) + 1
            return Reply(f"{sid} attempt {attempts[sid]} looks", [call("read_file", path="notes.txt")])
        if sid == "b" and attempts[sid] == 1:
            return Reply("", [call("attempt_completion", result="FAILED-ATTEMPT-RESULT", failed=True)])
        return completes(sid, request)

    editor, plan = await planned(make_editor, llm, plan_of(("b", []), ("a", ["b"])), first_attempt_fails)
    (editor.workspace / "notes.txt").write_text("FIRST-ATTEMPT-TRANSCRIPT")
    failed = await editor.drive(await approve(editor, plan))
    assert failed["status"] == "failed"
    (editor.workspace / "notes.txt").write_text("second attempt")
    before = (await stored(editor, plan["planId"])).subtasks[0]
    assert (before.status, before.attempt) == (FAIL, 1)

    retried = await editor.request(
        "agent/retrySubtask", {"sessionId": plan["sessionId"], "planId": plan["planId"], "subtaskId": "b"}
    )
    again = (await stored(editor, plan["planId"])).subtasks[0]
    assert (again.status, again.attempt, again.result) == (IN, 2, None)
    fresh = first_requests(llm)["b"]
    assert fresh.messages[1] == {"role": "user", "content": subtask_brief(await stored(editor, plan["planId"]), again)}
    assert "FIRST-ATTEMPT-TRANSCRIPT" not in fresh.text and "FAILED-ATTEMPT-RESULT" not in fresh.text
    assert "b attempt 1 looks" not in fresh.text

    done = await editor.drive(retried)
    assert done["status"] == "completed"
    final = await stored(editor, plan["planId"])
    assert [(s.id, s.status, s.attempt, s.result) for s in final.subtasks] == [
        ("b", DONE, 2, "b-result"),
        ("a", DONE, 1, "a-result"),
    ]


async def test_a_subtask_sees_its_brief_and_its_dependencies_results_only(
    make_editor: MakeEditor, llm: InProcessLLM
) -> None:
    def works(sid: str, request: Request) -> Reply:
        if not request.tool_results:
            return Reply(f"{sid.upper()}-CHATTER", [call("read_file", path=f"{sid}.txt")])
        return completes(sid, request)

    editor, plan = await planned(make_editor, llm, plan_of(("a", []), ("b", []), ("c", ["a"])), works)
    for sid in "abc":
        (editor.workspace / f"{sid}.txt").write_text(f"{sid.upper()}-FILE-CONTENT")
    done = await editor.drive(await approve(editor, plan))
    assert done["status"] == "completed"

    final = await stored(editor, plan["planId"])
    firsts = first_requests(llm)
    for subtask in final.subtasks:
        seen = firsts[subtask.id]
        assert seen.messages[0]["content"].startswith("You are the code agent")
        assert seen.messages[1:] == [{"role": "user", "content": subtask_brief(final, subtask)}]
        for other in "abc":
            assert f"{other.upper()}-CHATTER" not in seen.text and f"{other.upper()}-FILE-CONTENT" not in seen.text
        assert TASK not in seen.text and "PLANNER-CHATTER" not in seen.text
    assert "a-result" in firsts["c"].text and "b-result" not in firsts["c"].text

    c_later = [r for r in llm.requests if subtask_of(r) == "c" and r.tool_results]
    assert c_later and all(r.tool_results == ["C-FILE-CONTENT"] for r in c_later)
    assert all("A-FILE-CONTENT" not in r.text and "A-CHATTER" not in r.text for r in c_later)
