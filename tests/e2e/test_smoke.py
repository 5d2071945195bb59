from __future__ import annotations

from tests.harness import Editor


async def test_demo_writes_a_file(demo: Editor) -> None:
    result = await demo.send("create hello.py that prints hello", mode="code")
    assert result["status"] == "awaiting_tool_results", result
    result = await demo.drive(result)
    assert result["status"] == "completed", result
    assert (demo.workspace / "hello.py").read_text() == 'print("hello")\n'
