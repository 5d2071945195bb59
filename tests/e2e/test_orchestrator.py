"""The agents as a client sees them: in the `initialize` result, and a plan in the
terminal client. The orchestrator itself runs in-process (tests/runtime/test_orchestrator.py)."""

from __future__ import annotations

from tests.harness import Editor


async def test_demo_model_shows_a_plan_in_the_terminal(workspace, db_path) -> None:
    from tests.e2e.test_chat import chat

    done = chat(workspace, db_path, "implement a currency rates app", answers="r\n")
    assert done.returncode == 0, done.stderr
    assert "Plan v1 (awaiting approval): implement a currency rates app" in done.stdout
    assert "Approve the plan? [y]es / [n]o / re[v]ise + feedback" in done.stdout
    assert "Plan rejected." in done.stdout


async def test_every_agent_has_its_prompt_and_tools(demo: Editor) -> None:
    capability = demo.initialize_result.capabilities.experimental["agent"]
    agents = {a["name"]: a for a in capability["agents"]}
    assert set(agents) == {"orchestrator", "architect", "code", "debug", "explain"}
    assert agents["orchestrator"]["tools"] == []
    assert "switch_mode" not in agents["architect"]["tools"] and "create_plan" in agents["architect"]["tools"]
    assert "write_file" not in agents["explain"]["tools"]
    tools = {t["name"]: t for t in capability["tools"]}
    assert tools["write_file"]["executedBy"] == "client" and tools["write_file"]["category"] == "write"
    assert tools["create_plan"]["executedBy"] == "server"
    assert tools["edit_file"]["parameters"]["required"] == ["path", "old_text", "new_text"]
