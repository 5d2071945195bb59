"""An editor stand-in that drives the runtime in-process: no subprocess, no stdio.

`InProcessEditor` has the public API of `tests.harness.Editor` (they share
`tests.harness.Traffic`), but it starts `App.start(...)` in the test's own event loop
with a recording notifier, and calls the handler path the wire uses:
`handlers()[method]` with `parse_params(method.params, ...)`. Params and results cross
through JSON as on the wire, so camelCase shapes are identical; an error is re-raised
as the client would receive it (`JsonRpcException.from_error`), the runtime's own
exception kept as its `__cause__`. Notifications are recorded as `(method, params)`
in arrival order, exactly the `agent/*` ones the subprocess harness records; `$/progress`
lands in `progress_reports` as pytest-lsp keeps it.

Models: `demo` is the built-in demo model; any other name plays the script of the
`InProcessLLM` whose `url` is the API base (`tests/runtime/model.py`). Nothing here
can reach litellm or a real provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lsprotocol import converters, types
from pygls.exceptions import JsonRpcException, JsonRpcMethodNotFound

from protocol.base import WireModel
from protocol.errors import ServerNotInitialized
from protocol.methods import Method
from protocol.notifications import Notification
from protocol.settings import InitializationOptions
from server import __version__
from server.agents.capability import agent_capability
from server.app import App
from server.lsp.server import AgentServer, Call, handlers, parse_params
from server.models.base import Model, RefusedModel
from server.settings import DEMO_MODEL, base_settings
from tests.harness import NOTIFICATIONS, Traffic
from tests.runtime import fsm_coverage
from tests.runtime.model import InProcessLLM, ScriptedModel

FAKE_MODEL = "scripted/fake"
"""The agents' model in-process: the script of the `InProcessLLM` at the API base
(its requests show `"model": "fake"`, as through `tests.harness.FAKE_MODEL`)."""

ENV = {"CODELAB_AGENT_RETRY_BACKOFF": "0.01"}
"""The environment the settings are read from (never the test process's own: no keys)."""

MakeEditor = Callable[..., Awaitable["InProcessEditor"]]
"""The `make_editor` fixture: `await make_editor(options=..., code=[Reply(...)])`."""

_METHODS: dict[str, tuple[Method, Call]] = handlers()
_PROGRESS_KINDS: dict[str, type[Any]] = {
    "begin": types.WorkDoneProgressBegin,
    "report": types.WorkDoneProgressReport,
    "end": types.WorkDoneProgressEnd,
}


def on_the_wire(value: Any) -> Any:
    """`value` as the other side reads it: through JSON."""
    return json.loads(json.dumps(value))


def as_received(exc: JsonRpcException) -> JsonRpcException:
    """The error a JSON-RPC client raises for the response `exc` becomes."""
    error = types.ResponseError(code=exc.code, message=exc.message, data=on_the_wire(exc.data))
    return JsonRpcException.from_error(error)


class InProcessApp(App):
    """The sidecar's composition root with the test's model factory."""

    def model(self, name: str) -> Model:
        if name == DEMO_MODEL:
            return super().model(name)
        api_base = self.settings.llm.api_base
        llm = InProcessLLM.at(api_base)
        if llm is None:
            return RefusedModel(f"no in-process fake model at {api_base!r}; tests never reach a provider", name)
        return ScriptedModel(name, llm)

    def warm_up(self) -> None:
        """Nothing to import ahead: no model in-process goes through litellm."""


class RecordingNotifier:
    """A `server.turn.notify.Notifier` that hands everything to the editor as it arrives."""

    def __init__(self, editor: InProcessEditor, progress: bool) -> None:
        self._editor = editor
        self._progress = progress
        self._converter = converters.get_converter()

    def send(self, notification: Notification, params: WireModel) -> None:
        if notification.name in NOTIFICATIONS:
            self._editor.record(notification.name, on_the_wire(params.wire()))

    def supports_progress(self) -> bool:
        return self._progress

    async def create_progress(self, token: str) -> bool:
        self._editor.progress_reports.setdefault(token, [])
        return True

    def progress(self, token: str, value: dict[str, Any]) -> None:
        value = on_the_wire(value)
        kind = _PROGRESS_KINDS[value["kind"]]
        self._editor.progress_reports.setdefault(token, []).append(self._converter.structure(value, kind))


class _Client:
    """What the tests do through the subprocess harness's pytest-lsp client besides
    requests: change the configuration (a notification, handled in order)."""

    def __init__(self, editor: InProcessEditor) -> None:
        self._editor = editor

    def workspace_did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        self._editor.notify_configuration(params)


class InProcessEditor(Traffic):
    def __init__(
        self,
        workspace: Path,
        db: Path,
        *,
        model: str = DEMO_MODEL,
        api_base: str | None = None,
        options: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(workspace, db)
        self.model = model
        self.api_base = api_base
        self.options = options or {}
        self.env = {**ENV, **(env or {})}
        self.progress = progress
        self.progress_reports: dict[str, list[Any]] = {}
        self.app: App | None = None
        self._notifier = RecordingNotifier(self, progress)
        self._notifications: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> InProcessEditor:
        """What `initialize` does in `AgentServer._initialize`, then its result."""
        base = base_settings(
            db=str(self.db), model=self.model, api_base=self.api_base, workspace=str(self.workspace), env=self.env
        )
        try:
            options = parse_params(InitializationOptions, on_the_wire(self.options or None))
            self.app = await InProcessApp.start(base, options, str(self.workspace), self._notifier)
        except JsonRpcException as exc:
            raise as_received(exc) from exc
        fsm_coverage.opened(self.db)
        self.initialize_result = types.InitializeResult(
            capabilities=types.ServerCapabilities(experimental=on_the_wire({"agent": agent_capability().wire()})),
            server_info=types.ServerInfo(name="codelab-agent", version=__version__),
        )
        return self

    async def stop(self) -> None:
        """`shutdown` and `exit`: the runtime stops, the database closes."""
        if self.app is not None:
            await self._settle()
            await self.app.close()
            self.app = None

    @property
    def client(self) -> _Client | None:
        return _Client(self) if self.app is not None else None

    # --- traffic -------------------------------------------------------------------

    async def request(self, method: str, params: Any = None) -> Any:
        self.events.append(("request:" + method, params))
        await self._settle()
        result = await self._handle(method, on_the_wire(params))
        self.events.append(("response:" + method, result))
        return result

    async def _handle(self, name: str, params: Any) -> Any:
        """`AgentServer._handler`: validate, call the runtime, return the result's wire form."""
        if name not in _METHODS:
            raise JsonRpcMethodNotFound.of(name)
        method, call = _METHODS[name]
        try:
            if self.app is None:
                raise ServerNotInitialized("the server is not initialized: send initialize first")
            result = await call(self.app.runtime, parse_params(method.params, params))
        except JsonRpcException as exc:
            raise as_received(exc) from exc
        return on_the_wire(result.wire())

    def notify_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        """`workspace/didChangeConfiguration`, through the server's own handler."""
        received = types.DidChangeConfigurationParams(settings=on_the_wire(params.settings))

        async def ready() -> App | None:
            return self.app

        stand_in: Any = SimpleNamespace(_opened=self.app, require_app=ready)
        handler = AgentServer._did_change_configuration  # pyright: ignore[reportPrivateUsage]
        task = asyncio.ensure_future(handler(stand_in, received))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _settle(self) -> None:
        """Notifications sent before a request are handled before it, as on the wire."""
        if self._notifications:
            await asyncio.gather(*self._notifications)
