"""The runtime driven in-process: a session is created with its task or not at all,
and a commit is fenced by the lease."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.base import WireModel
from protocol.enums import MessageRole
from protocol.errors import SessionBusy
from protocol.methods import ListSessionsParams, SendMessageParams
from protocol.notifications import Notification
from protocol.settings import InitializationOptions
from server.app import App
from server.settings import base_settings
from server.turn.unit import Unit
from storage.records import LeaseRow


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, notification: Notification, params: WireModel) -> None:
        self.sent.append((notification.name, params))

    def supports_progress(self) -> bool:
        return False

    async def create_progress(self, token: str) -> bool:
        return False

    def progress(self, token: str, value: dict[str, Any]) -> None:
        return None


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    base = base_settings(db=str(tmp_path / "a.db"), model="demo", workspace=str(tmp_path), env={})
    started = await App.start(base, InitializationOptions(), None, Recorder())
    yield started
    await started.close()


async def test_a_failure_while_storing_the_task_leaves_no_session(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Unit.say

    async def failing_say(self: Unit, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("kind") == "task":
            raise RuntimeError("killed while storing the task")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Unit, "say", failing_say)
    with pytest.raises(RuntimeError, match="storing the task"):
        await app.runtime.send_message(SendMessageParams(text="hello", mode="code"))
    assert (await app.runtime.list_sessions(ListSessionsParams(all_workspaces=True))).sessions == []
    assert await app.db.read.leases.all() == []


async def test_a_commit_without_the_lease_raises_and_writes_nothing(app: App) -> None:
    done = await app.runtime.send_message(SendMessageParams(text="explain this", mode="explain"))
    kit = app.runtime.kit
    async with app.db.transaction() as tx:
        await tx.leases.put(LeaseRow(done.session_id, "another-holder", "elsewhere", 1, time.time() + 60))
    before = len(await app.db.read.messages.for_session(done.session_id))
    with pytest.raises(SessionBusy) as lost:
        async with kit.commit(done.session_id) as unit:
            await unit.say(MessageRole.ASSISTANT, "a step of a process that lost the session")
    assert lost.value.data == {"sessionId": done.session_id, "reason": "lease_lost"}
    assert len(await app.db.read.messages.for_session(done.session_id)) == before


async def test_a_task_of_one_quarter_mebibyte_word_is_handled(app: App) -> None:
    """The demo model's file-name pattern once took minutes on one long word (quadratic)."""
    done = await app.runtime.send_message(SendMessageParams(text="fix " + "y" * (256 * 1024 - 8), mode="code"))
    assert done.session_id


async def test_a_pause_stores_where_it_returns_and_the_return_clears_it(app: App) -> None:
    from protocol.enums import SessionState, ToolResultStatus
    from protocol.methods import ToolResultParams

    paused = await app.runtime.send_message(SendMessageParams(text="create hello.py that prints hello", mode="code"))
    assert paused.pending_tool_calls
    session = await app.db.read.sessions.get(paused.session_id)
    assert session is not None
    assert session.state is SessionState.AWAITING_TOOL_RESULTS
    assert session.resume_state is SessionState.AGENT_RUNNING
    done = await app.runtime.tool_result(
        ToolResultParams(
            session_id=paused.session_id,
            call_id=paused.pending_tool_calls[0],
            status=ToolResultStatus.SUCCESS,
            content="wrote 21 bytes",
        )
    )
    assert done.status == "completed"
    session = await app.db.read.sessions.get(paused.session_id)
    assert session is not None and session.resume_state is None
