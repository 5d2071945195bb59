"""The orchestrator, the five agents, switching, server tools and nudges, in-process."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.fake_llm import Reply, call, classify
from tests.runtime.model import InProcessLLM as FakeLLM

PLAN = {
    "goal": "build it",
    "subtasks": [
        {"id": "s1", "title": "model", "description": "write model.py", "agent": "code"},
        {"id": "s2", "title": "tests", "description": "write tests", "agent": "code", "dependencies": ["s1"]},
    ],
}


@pytest.mark.parametrize("agent", ["code", "debug", "explain"])
async def test_atomic_tasks_are_routed_to_the_named_agent(make_editor, llm: FakeLLM, agent: str) -> None:
    editor = await make_editor(orchestrator=[classify(agent)], **{agent: [Reply(f"{agent} answers")]})
    result = await editor.send("a task")
    assert result["status"] == "completed" and result["agent"] == agent and result["message"] == f"{agent} answers"
    assert [r.agent for r in llm.requests] == ["orchestrator", agent]
    assert llm.requests[0].body.get("tools") is None  # the classifier gets no tools
    classified = editor.statuses("classified")[0]
    assert classified["data"]["agent"] == agent and classified["data"]["cached"] is False
    switched = editor.statuses("agent_switched")[0]
    assert switched["data"] == {"from": "orchestrator", "to": agent, "reason": f"looks like {agent}"}
    state = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    assert state["session"]["currentAgent"] == agent and state["session"]["switchCount"] == 1
    notes = [m["content"] for m in state["messages"] if m["kind"] == "switch_note"]
    assert notes == [f"Agent switched: orchestrator → {agent}. looks like {agent}"]


async def test_an_explicit_mode_makes_exactly_one_model_call(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(explain=[Reply("because")])
    result = await editor.send("why?", mode="explain")
    assert result["message"] == "because" and len(llm.requests) == 1
    assert not editor.statuses("classified")


async def test_an_invalid_classification_is_retried_then_routed_to_code(make_editor, llm: FakeLLM) -> None:
    contradiction = Reply(json.dumps({"is_atomic": False, "agent": "code", "confidence": "high", "reason": "x"}))
    editor = await make_editor(orchestrator=[Reply("I think code!"), contradiction], code=[Reply("done")])
    result = await editor.send("do something")
    assert result["status"] == "completed" and result["agent"] == "code"
    assert [r.agent for r in llm.requests] == ["orchestrator", "orchestrator", "code"]
    classified = editor.statuses("classified")[0]
    assert classified["data"]["fallback"] is True and "contradicts" in classified["detail"]


async def test_a_fenced_answer_is_accepted(make_editor, llm: FakeLLM) -> None:
    fenced = Reply('```json\n{"is_atomic": true, "agent": "debug", "confidence": "low", "reason": "stack trace"}\n```')
    editor = await make_editor(orchestrator=[fenced], debug=[Reply("fixed")])
    assert (await editor.send("it crashes"))["agent"] == "debug"
    assert len(llm.by_agent("orchestrator")) == 1


async def test_the_same_task_reuses_the_cached_classification(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(orchestrator=[classify("explain")], explain=[Reply("one"), Reply("two")])
    first = await editor.send("what is this?")
    second = await editor.send("what  is this?", session_id=first["sessionId"])
    assert second["message"] == "two"
    assert len(llm.by_agent("orchestrator")) == 1
    assert editor.statuses("classified")[1]["data"]["cached"] is True


async def test_the_classifier_can_use_a_cheaper_model(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        options={"llm": {"classifierModel": "openai/cheap"}}, orchestrator=[classify("code")], code=[Reply("ok")]
    )
    await editor.send("small change")
    assert [r.body["model"] for r in llm.requests] == ["cheap", "fake"]
    usage = (await editor.request("agent/getSession", {"sessionId": editor.statuses()[0]["sessionId"]}))["usage"]
    assert usage["byAgent"]["orchestrator"]["requests"] == 1 and usage["byAgent"]["code"]["requests"] == 1
    assert usage["total"]["requests"] == 2


async def test_a_complex_task_reaches_the_architect_who_reads_then_plans(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        orchestrator=[classify("plan", atomic=False)],
        architect=[
            Reply("Looking.", [call("read_file", path="README")]),
            Reply("Here is the plan.", [call("create_plan", **PLAN)]),
        ],
    )
    (editor.workspace / "README").write_text("a project\n")
    result = await editor.send("build the whole app")
    assert result["status"] == "awaiting_tool_results" and result["agent"] == "architect"
    read = editor.call(result["pendingToolCalls"][0])
    assert read["requiresApproval"] is False and "auto-approved" in read["reason"]
    planned = await editor.execute(result["sessionId"], read["callId"])
    assert planned["status"] == "awaiting_plan_approval" and planned["planId"]
    update = editor.of("agent/planUpdate")[-1]["plan"]
    assert update["id"] == planned["planId"] and update["status"] == "awaiting_approval" and update["version"] == 1
    assert [s["id"] for s in update["subtasks"]] == ["s1", "s2"] and update["subtasks"][1]["dependencies"] == ["s1"]
    assert "a project" in llm.by_agent("architect")[1].tool_results[0]
    assert set(llm.by_agent("architect")[0].tool_names) == {
        "read_file",
        "list_files",
        "search_in_code",
        "create_plan",
        "attempt_completion",
        "ask_followup_question",
    }
    transitions = [s["data"]["to"] for s in editor.statuses("state_changed")]
    with sqlite3.connect(editor.db) as conn:  # each one persisted too, with its event
        stored = conn.execute(
            "SELECT from_state, to_state, event FROM transitions WHERE session_id = ? ORDER BY id",
            (result["sessionId"],),
        ).fetchall()
    assert stored == [
        (s["data"]["from"], s["data"]["to"], s["data"]["event"]) for s in editor.statuses("state_changed")
    ]
    assert transitions == [
        "classifying",
        "plan_required",
        "architect_planning",
        "awaiting_tool_results",
        "architect_planning",
        "awaiting_plan_approval",
    ]


async def test_an_invalid_plan_goes_back_to_the_architect(make_editor, llm: FakeLLM) -> None:
    cyclic = {**PLAN, "subtasks": [{**PLAN["subtasks"][0], "dependencies": ["s2"]}, PLAN["subtasks"][1]]}
    editor = await make_editor(
        architect=[Reply("", [call("create_plan", **cyclic)]), Reply("", [call("create_plan", **PLAN)])]
    )
    result = await editor.send("plan it", mode="architect")
    assert result["status"] == "awaiting_plan_approval"
    error = llm.by_agent("architect")[1].tool_results[-1]
    assert error.startswith("Error: the plan is invalid") and "cycle" in error
    assert [p["plan"]["version"] for p in editor.of("agent/planUpdate")] == [1]


async def test_a_text_only_architect_is_nudged_twice_then_fails(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(architect=[Reply("I would do X."), Reply("Then Y."), Reply("Finally Z.")])
    result = await editor.send("plan it", mode="architect")
    assert result["status"] == "failed"
    assert "without calling create_plan" in result["error"]["message"] and result["error"]["code"] == -32015
    assert len(editor.statuses("nudged")) == 2
    assert "must call create_plan" in llm.by_agent("architect")[1].last["content"]
    usage = (await editor.request("agent/getSession", {"sessionId": result["sessionId"]}))["usage"]
    assert usage["byAgent"]["architect"]["nudges"] == 2 and usage["byAgent"]["architect"]["requests"] == 3


async def test_a_follow_up_question_is_answered_by_the_next_message(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        orchestrator=[classify("code")],
        code=[
            Reply("", [call("ask_followup_question", question="Which file?", suggestions=["a.py", "b.py"])]),
            Reply("", [call("attempt_completion", result="used b.py")]),
        ],
    )
    asked = await editor.send("change the file")
    assert asked["status"] == "awaiting_user_input" and asked["message"].startswith("Which file?")
    done = await editor.send("b.py please", session_id=asked["sessionId"])
    assert done["status"] == "completed" and done["message"] == "used b.py" and done["turnId"] == asked["turnId"]
    assert [r.agent for r in llm.requests] == ["orchestrator", "code", "code"]  # no new classification
    assert llm.by_agent("code")[1].last == {"role": "user", "content": "b.py please"}


async def test_switch_mode_hands_over_without_the_tool_messages(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        explain=[
            Reply("Let me look.", [call("read_file", path="app.py")]),
            Reply("", [call("switch_mode", mode="code", reason="this needs a change")]),
        ],
        code=[Reply("", [call("attempt_completion", result="changed")])],
    )
    (editor.workspace / "app.py").write_text("secret_token = 1\n")
    result = await editor.send("explain app.py and fix it", mode="explain")
    done = await editor.execute(result["sessionId"], result["pendingToolCalls"][0])
    assert done["status"] == "completed" and done["agent"] == "code"
    code_view = llm.by_agent("code")[0]
    assert all(m["role"] != "tool" and "tool_calls" not in m for m in code_view.messages)
    assert "secret_token" not in code_view.text  # the explain agent's tool result is gone
    assert "Let me look." in code_view.text  # its text is kept
    assert any(
        "Agent switched: explain → code. this needs a change" in (m["content"] or "") for m in code_view.messages
    )
    assert "write_file" in code_view.tool_names
    assert editor.statuses("agent_switched")[-1]["data"]["to"] == "code"


async def test_bad_tool_arguments_go_back_to_the_model_not_the_editor(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        explain=[
            Reply("", [call("write_file", path="x", content="y")]),
            Reply("", [("read_file", '{"path": ')]),
            Reply("", [call("read_file")]),
            Reply("", [call("attempt_completion", result="gave up"), call("ask_followup_question", question="ok?")]),
            Reply("fine"),
        ],
    )
    result = await editor.send("try things", mode="explain")
    assert result["status"] == "completed" and result["message"] == "fine"
    assert editor.calls() == []  # nothing reached the editor
    results = [r.tool_results[-1] for r in llm.by_agent("explain")[1:]]
    assert "not available to the explain agent" in results[0]
    assert "not valid JSON" in results[1]
    assert "invalid arguments for read_file: path: Field required" in results[2]
    last = llm.by_agent("explain")[4].tool_results
    assert any("must be the only tool call" in r for r in last)


async def test_attempt_completion_with_failed_fails_the_turn(make_editor) -> None:
    editor = await make_editor(
        code=[Reply("", [call("attempt_completion", result="cannot: no such API", failed=True)])]
    )
    result = await editor.send("impossible", mode="code")
    assert result["status"] == "failed" and "no such API" in result["error"]["message"]


async def test_a_new_message_while_calls_are_pending_is_invalid_state(make_editor) -> None:
    from pygls.exceptions import JsonRpcException

    editor = await make_editor(code=[Reply("", [call("read_file", path="a")])])
    result = await editor.send("read", mode="code")
    with pytest.raises(JsonRpcException) as info:
        await editor.send("something else", session_id=result["sessionId"])
    assert info.value.code == -32014 and "agent/toolResult" in info.value.message
    assert info.value.data["pendingToolCalls"] == result["pendingToolCalls"]
