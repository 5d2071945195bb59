from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_llm import FakeLLM, Reply, Scripted
from tests.harness import FAKE_MODEL, FAKE_MODEL_LITELLM, Editor
from tests.mcp_servers import filesystem_server_entry
from tests.runtime.fsm_coverage import FsmCoverage


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the xdist controller, or the only process
        config.pluginmanager.register(FsmCoverage(config), "fsm-coverage")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    fake = FakeLLM(Scripted()).start()
    yield fake
    fake.stop()


@pytest.fixture
async def demo(workspace: Path, db_path: Path) -> AsyncIterator[Editor]:
    editor = await Editor(workspace, db_path).start()
    yield editor
    await editor.stop()


@pytest.fixture
async def make_editor(workspace: Path, db_path: Path, llm: FakeLLM) -> AsyncIterator[Callable[..., Awaitable[Editor]]]:
    """Start editors against the fake model: `await make_editor(code=[Reply(...)])`."""
    started: list[Editor] = []

    async def make(
        options: dict[str, Any] | None = None,
        progress: bool = False,
        env: dict[str, str] | None = None,
        litellm: bool = False,
        **replies: list[Reply],
    ) -> Editor:
        """`litellm=True` takes the real litellm path; otherwise the model adapter in
        tests/fake_model.py talks to the same fake server (much faster to start)."""
        if replies:
            llm.script = Scripted(**replies)
        model = FAKE_MODEL_LITELLM if litellm else FAKE_MODEL
        editor = await Editor(
            workspace, db_path, model=model, api_base=llm.url, options=options, progress=progress, env=env
        ).start()
        started.append(editor)
        return editor

    yield make
    for editor in started:
        if editor.client is not None:
            await editor.stop()


@pytest.fixture(scope="session")
def filesystem_server() -> Path:
    """`@modelcontextprotocol/server-filesystem`'s entry point, installed with npm once."""
    return filesystem_server_entry()
