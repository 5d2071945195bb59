"""Human approval, in-process: what asks, what runs, what is refused before the editor."""

from __future__ import annotations

import os

from lsprotocol import types

from tests.fake_llm import Reply, call
from tests.runtime.model import InProcessLLM as FakeLLM


async def _first_call(editor, text: str = "go") -> tuple[dict, dict]:
    result = await editor.send(text, mode="code")
    return result, editor.call(result["pendingToolCalls"][0])


async def test_defaults_per_category(make_editor) -> None:
    editor = await make_editor(
        code=[
            Reply(
                "",
                [
                    call("read_file", path="a"),
                    call("list_files", path="."),
                    call("search_in_code", query="x"),
                    call("write_file", path="a", content=""),
                    call("edit_file", path="a", old_text="x", new_text="y"),
                    call("create_directory", path="d"),
                    call("execute_command", command="make"),
                ],
            )
        ]
    )
    result = await editor.send("everything", mode="code")
    asks = {c["name"]: c["requiresApproval"] for c in editor.calls()}
    assert asks == {
        "read_file": False,
        "list_files": False,
        "search_in_code": False,
        "write_file": True,
        "edit_file": True,
        "create_directory": True,
        "execute_command": True,
    }
    assert len(result["pendingToolCalls"]) == 7


async def test_auto_approve_settings(make_editor) -> None:
    options = {"approval": {"autoApprove": {"read": False, "write": True, "command": True}}}
    editor = await make_editor(
        options=options,
        code=[
            Reply(
                "",
                [
                    call("read_file", path="a"),
                    call("write_file", path="a", content=""),
                    call("execute_command", command="make"),
                ],
            )
        ],
    )
    await editor.send("go", mode="code")
    assert {c["name"]: c["requiresApproval"] for c in editor.calls()} == {
        "read_file": True,
        "write_file": False,
        "execute_command": False,
    }


async def test_command_allow_and_deny_lists(make_editor, llm: FakeLLM) -> None:
    options = {"approval": {"allowedCommands": ["git status", "ls"], "deniedCommands": ["rm -rf"]}}
    editor = await make_editor(
        options=options,
        code=[
            Reply(
                "",
                [
                    call("execute_command", command="git status -s"),
                    call("execute_command", command="git status && rm -rf x"),
                    call("execute_command", command="git status && rm x"),
                ],
            ),
            Reply("ok"),
        ],
    )
    result = await editor.send("run things", mode="code")
    sent = editor.calls()
    assert [c["arguments"]["command"] for c in sent] == [
        "git status -s",
        "git status && rm x",
    ]  # the denied one never left
    assert sent[0]["requiresApproval"] is False
    assert sent[1]["requiresApproval"] is True and "'rm x' is not an allowed command" in sent[1]["reason"]
    await editor.answer(result["sessionId"], sent[0]["callId"], content="clean")
    await editor.answer(result["sessionId"], sent[1]["callId"], "rejected", feedback="no")
    refusal = llm.requests[-1].tool_results[1]
    assert refusal.startswith("Refused by the approval policy") and "rm -rf" in refusal
    state = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    decisions = [(a["tool"], a["decidedBy"], a["decision"]) for a in state["approvals"]]
    assert decisions == [
        ("execute_command", "policy", "auto_approved"),
        ("execute_command", "policy", "refused"),
        ("execute_command", "policy", "ask"),
        ("execute_command", "user", "rejected"),
    ]


async def test_paths_outside_the_workspace_ask_or_are_refused(make_editor, tmp_path) -> None:
    editor = await make_editor(
        code=[
            Reply(
                "",
                [
                    call("read_file", path="../secret.txt"),
                    call("read_file", path="link/x"),
                    call("read_file", path="inside.txt"),
                ],
            )
        ]
    )
    os.symlink(tmp_path, editor.workspace / "link")
    await editor.send("peek", mode="code")
    asks = [(c["arguments"]["path"], c["requiresApproval"]) for c in editor.calls()]
    assert asks == [("../secret.txt", True), ("link/x", True), ("inside.txt", False)]
    assert "outside the workspace" in editor.calls()[0]["reason"]


async def test_outside_workspace_deny(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        options={"approval": {"outsideWorkspace": "deny"}},
        code=[Reply("", [call("write_file", path="/etc/x", content="")]), Reply("ok")],
    )
    result = await editor.send("write", mode="code")
    assert result["status"] == "completed" and editor.calls() == []
    assert "outside the workspace" in llm.requests[-1].tool_results[0]


async def test_remember_auto_approves_the_same_tool_for_the_session(make_editor) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("write_file", path="a", content="1")]),
            Reply("", [call("write_file", path="b", content="2")]),
            Reply("", [call("execute_command", command="npm test -- --watch")]),
            Reply("", [call("execute_command", command="npm test")]),
            Reply("", [call("execute_command", command="npm publish")]),
            Reply("done"),
        ]
    )
    result, first = await _first_call(editor)
    assert first["requiresApproval"] is True
    second_result = await editor.execute(result["sessionId"], first["callId"], remember=True)
    second = editor.call(second_result["pendingToolCalls"][0])
    assert second["requiresApproval"] is False and "approved for this session" in second["reason"]
    third_result = await editor.execute(result["sessionId"], second["callId"])
    third = editor.call(third_result["pendingToolCalls"][0])
    assert third["requiresApproval"] is True
    fourth_result = await editor.answer(result["sessionId"], third["callId"], content="ok", remember=True)
    fourth = editor.call(fourth_result["pendingToolCalls"][0])
    assert fourth["requiresApproval"] is False  # same prefix: npm test
    fifth_result = await editor.answer(result["sessionId"], fourth["callId"], content="ok")
    assert editor.call(fifth_result["pendingToolCalls"][0])["requiresApproval"] is True  # npm publish asks
    state = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    assert ("write_file", "session_rule", "auto_approved") in [
        (a["tool"], a["decidedBy"], a["decision"]) for a in state["approvals"]
    ]


async def test_a_rejection_reaches_the_model_verbatim_and_the_agent_goes_on(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(code=[Reply("", [call("write_file", path="a", content="x")]), Reply("understood")])
    result, first = await _first_call(editor)
    feedback = "Use tabs, not spaces — and name it b.txt"
    done = await editor.answer(result["sessionId"], first["callId"], "rejected", feedback=feedback)
    assert done["status"] == "completed" and done["message"] == "understood"
    assert llm.requests[-1].tool_results[-1] == f"The user rejected this tool call. Feedback: {feedback}"


async def test_settings_change_live(make_editor) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("execute_command", command="pytest -q")]),
            Reply("", [call("execute_command", command="pytest -q")]),
        ]
    )
    result, first = await _first_call(editor)
    assert first["requiresApproval"] is True
    editor.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codelabAgent": {"approval": {"allowedCommands": ["pytest"]}}})
    )
    again = await editor.answer(result["sessionId"], first["callId"], content="1 passed")
    assert editor.call(again["pendingToolCalls"][0])["requiresApproval"] is False


async def test_a_chain_asks_when_one_part_is_not_allowed(make_editor) -> None:
    editor = await make_editor(
        options={"approval": {"allowedCommands": ["git status"]}},
        code=[Reply("", [call("execute_command", command="git status && rm -rf x")])],
    )
    _, sent = await _first_call(editor, "clean up")
    assert sent["requiresApproval"] is True and "'rm -rf x' is not an allowed command" in sent["reason"]


async def test_a_lone_ampersand_does_not_smuggle_a_command_past_the_allow_list(make_editor) -> None:
    editor = await make_editor(
        options={"approval": {"allowedCommands": ["git status", "ls"]}},
        code=[Reply("", [call("execute_command", command="ls & rm -rf victim")])],
    )
    _, sent = await _first_call(editor, "list")
    assert sent["requiresApproval"] is True
    assert "'rm -rf victim' is not an allowed command" in sent["reason"]


async def test_a_denied_command_is_refused_in_another_spelling(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        options={"approval": {"deniedCommands": ["rm -rf"], "autoApprove": {"command": True}}},
        code=[
            Reply(
                "",
                [call("execute_command", command="rm -fr x"), call("execute_command", command="sudo /bin/rm -r -f x")],
            ),
            Reply("I will not delete it."),
        ],
    )
    result = await editor.send("clean", mode="code")
    assert result["status"] == "completed" and editor.calls() == []
    for refusal in llm.requests[-1].tool_results:
        assert refusal.startswith("Refused by the approval policy") and "matches the denied command 'rm -rf'" in refusal
    state = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    assert [a["decision"] for a in state["approvals"]] == ["refused", "refused"]


async def test_remembering_a_command_does_not_approve_what_follows_an_ampersand(make_editor) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("execute_command", command="ls -la")]),
            Reply("", [call("execute_command", command="ls -R")]),
            Reply("", [call("execute_command", command="ls & touch x")]),
        ]
    )
    result, first = await _first_call(editor)
    assert first["requiresApproval"] is True
    second_result = await editor.answer(result["sessionId"], first["callId"], content="a b", remember=True)
    second = editor.call(second_result["pendingToolCalls"][0])
    assert second["requiresApproval"] is False and "approved for this session" in second["reason"]
    third_result = await editor.answer(result["sessionId"], second["callId"], content="a b")
    third = editor.call(third_result["pendingToolCalls"][0])
    assert third["requiresApproval"] is True and "'touch x' is not an allowed command" in third["reason"]
    assert not (editor.workspace / "x").exists()


async def test_a_nul_byte_in_a_path_is_refused_and_the_session_resumes(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        code=[Reply("", [call("read_file", path="notes\u0000.txt")]), Reply("That path is not valid.")],
    )
    result = await editor.send("read it", mode="code")
    assert result["status"] == "completed" and result["message"] == "That path is not valid."
    assert editor.calls() == []
    refusal = llm.requests[-1].tool_results[0]
    assert refusal.startswith("Refused by the approval policy") and "is not a valid path" in refusal
    assert "\\x00" in refusal
    resumed = await editor.request("agent/resume", {"sessionId": result["sessionId"]})
    assert resumed["status"] == "completed" and resumed["pendingToolCalls"] == []
    state = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    assert [(a["tool"], a["decision"]) for a in state["approvals"]] == [("read_file", "refused")]
