"""A stand-in editor: a pytest-lsp client that starts the real sidecar over stdio,
records every notification in arrival order, and can execute tool calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

from server.chat.tools import WorkspaceTools
from server.lsp.jsonrpc import raw_converter

NOTIFICATIONS = ("agent/toolCall", "agent/stream", "agent/status", "agent/planUpdate")
FAKE_MODEL = "py:tests.fake_model:HttpModel"
"""The fake server through the model adapter in tests/fake_model.py (no litellm import)."""
FAKE_MODEL_LITELLM = "openai/fake"
"""The fake server through litellm, as a user's local OpenAI-compatible server."""
ROOT = Path(__file__).resolve().parent.parent


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        {
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "CODELAB_AGENT_RETRY_BACKOFF": "0.01",
            "PYTHONPATH": str(ROOT),
            # the user's own MCP servers and approvals stay out of the tests
            "XDG_CONFIG_HOME": str(Path(tempfile.gettempdir()) / "codelab-agent-tests-no-config"),
        }
    )
    env.update(extra)
    return env


class Traffic:
    """What an editor does with the sidecar's traffic, whatever carries it: the requests
    it sends, the notifications it records in arrival order, the tool calls it runs.
    `Editor` carries it over stdio; `tests.runtime.editor.InProcessEditor` in-process."""

    def __init__(self, workspace: Path, db: Path) -> None:
        self.workspace = workspace
        self.db = db
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.tools = WorkspaceTools(workspace)
        self.initialize_result: Any = None
        self._changed = asyncio.Event()

    async def request(self, method: str, params: Any = None) -> Any:
        raise NotImplementedError

    def record(self, method: str, params: Any) -> None:
        """A notification arrived."""
        self.events.append((method, params))
        self._changed.set()

    async def send(self, text: str, session_id: str | None = None, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"text": text, **extra}
        if session_id:
            params["sessionId"] = session_id
        return await self.request("agent/sendMessage", params)

    async def answer(
        self, session_id: str, call_id: str, status: str = "success", content: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"sessionId": session_id, "callId": call_id, "status": status, **extra}
        if content is not None:
            params["content"] = content
        return await self.request("agent/toolResult", params)

    def calls(self) -> list[dict[str, Any]]:
        return self.of("agent/toolCall")

    def call(self, call_id: str) -> dict[str, Any]:
        return next(c for c in self.calls() if c["callId"] == call_id)

    async def execute(self, session_id: str, call_id: str, **extra: Any) -> dict[str, Any]:
        """Run the call in the workspace, as the editor would, and send the result."""
        c = self.call(call_id)
        status, content = self.tools.run(c["name"], c["arguments"])
        return await self.answer(session_id, call_id, status.value, content, **extra)

    async def drive(
        self, result: dict[str, Any], *, reject: Callable[[dict[str, Any]], str | None] = lambda c: None
    ) -> dict[str, Any]:
        """Execute (or reject with feedback) every pending call until the turn rests."""
        while result["status"] == "awaiting_tool_results":
            for call_id in list(result["pendingToolCalls"]):
                feedback = reject(self.call(call_id))
                if feedback is not None:
                    result = await self.answer(result["sessionId"], call_id, "rejected", feedback=feedback)
                else:
                    result = await self.execute(result["sessionId"], call_id)
        return result

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.events if name == method]

    def statuses(self, event: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.of("agent/status") if event is None or s["event"] == event]

    def index(self, method: str, predicate: Callable[[dict[str, Any]], bool] = lambda p: True) -> int:
        return next(i for i, (name, params) in enumerate(self.events) if name == method and predicate(params))

    async def wait_for(self, predicate: Callable[[], bool], within: float = 30) -> None:
        """Wait until `predicate()` holds (it is checked on each notification and every 20 ms)."""

        async def poll() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)

        await asyncio.wait_for(poll(), within)


class Editor(Traffic):
    def __init__(
        self,
        workspace: Path,
        db: Path,
        *,
        model: str = "demo",
        api_base: str | None = None,
        options: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        progress: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workspace, db)
        self.model = model
        self.api_base = api_base
        self.options = options or {}
        self.env = base_env(**(env or {}))
        self.progress = progress
        self.extra_args = extra_args
        self.client: LanguageClient | None = None

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> Editor:
        client = LanguageClient(converter_factory=raw_converter)
        register_lsp_features(client)
        for method in NOTIFICATIONS:
            client.feature(method)(self._recorder(method))
        args = ["-m", "server", "--stdio", "--db", str(self.db), "--model", self.model, *self.extra_args]
        if self.api_base:
            args += ["--api-base", self.api_base]
        await client.start_io(sys.executable, *args, env=self.env, cwd=str(self.workspace))
        capabilities = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=self.progress))
        try:
            self.initialize_result = await client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities,
                    root_uri=self.workspace.as_uri(),
                    initialization_options=self.options or None,
                )
            )
        except BaseException:
            client.exit(None)  # a failed initialize leaves the server up: tell it to go
            await client.stop()
            raise
        self.client = client
        return self

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.shutdown_session()
            await self.client.stop()
            self.client = None

    async def kill(self) -> None:
        """SIGKILL the sidecar, as a crash would."""
        assert self.client is not None and self.client._server is not None
        process = self.client._server
        with contextlib.suppress(ProcessLookupError):  # it may have died already
            os.kill(process.pid, signal.SIGKILL)
        await process.wait()
        self.client._stop_event.set()
        await self.client.stop()
        self.client = None

    @property
    def pid(self) -> int:
        assert self.client is not None and self.client._server is not None
        return self.client._server.pid

    @property
    def progress_reports(self) -> dict[Any, list[Any]]:
        assert self.client is not None
        return self.client.progress_reports

    # --- traffic -------------------------------------------------------------------

    def _recorder(self, method: str) -> Callable[[Any], None]:
        def record(params: Any) -> None:
            self.record(method, params)

        return record

    async def request(self, method: str, params: Any = None) -> Any:
        assert self.client is not None
        self.events.append(("request:" + method, params))
        result = await self.client.protocol.send_request_async(method, params)
        self.events.append(("response:" + method, result))
        return result
