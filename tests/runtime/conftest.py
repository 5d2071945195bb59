"""In-process fixtures under the names the end-to-end tests use (`llm`, `demo`,
`make_editor`), so a test moved here from tests/e2e keeps its body: the sidecar is
an `App` in the test's event loop, the model a script played through `Model`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_llm import Reply, Scripted
from tests.runtime import fsm_coverage
from tests.runtime.editor import FAKE_MODEL, InProcessEditor, MakeEditor
from tests.runtime.model import InProcessLLM


@pytest.fixture(autouse=True)
def fsm_events(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach the events this test's sidecars fired to its report (see fsm_coverage)."""
    fsm_coverage.forget()
    yield
    request.node.user_properties.append((fsm_coverage.PROPERTY, sorted(fsm_coverage.fired())))
    fsm_coverage.forget()


@pytest.fixture
def llm() -> Iterator[InProcessLLM]:
    fake = InProcessLLM(Scripted()).start()
    yield fake
    fake.stop()


@pytest.fixture
async def demo(workspace: Path, db_path: Path) -> AsyncIterator[InProcessEditor]:
    editor = await InProcessEditor(workspace, db_path).start()
    yield editor
    await editor.stop()


@pytest.fixture
async def make_editor(workspace: Path, db_path: Path, llm: InProcessLLM) -> AsyncIterator[MakeEditor]:
    """Start in-process editors against the scripted model: `await make_editor(code=[Reply(...)])`."""
    started: list[InProcessEditor] = []

    async def make(
        options: dict[str, Any] | None = None,
        progress: bool = False,
        env: dict[str, str] | None = None,
        **replies: list[Reply],
    ) -> InProcessEditor:
        if replies:
            llm.script = Scripted(**replies)
        editor = await InProcessEditor(
            workspace, db_path, model=FAKE_MODEL, api_base=llm.url, options=options, progress=progress, env=env
        ).start()
        started.append(editor)
        return editor

    yield make
    for editor in started:
        await editor.stop()
