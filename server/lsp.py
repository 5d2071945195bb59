"""The sidecar as a language server: pygls wiring and the JSON-RPC handlers.

Handlers are thin: validate params into the protocol model, call the runtime, return
the result model. Everything else lives in the runtime, which never imports pygls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any, cast

from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from protocol import methods as m
from protocol.base import WireModel
from protocol.capabilities import AgentCapability
from protocol.errors import AgentError, InvalidParams, ServerNotInitialized
from protocol.notifications import Notification
from protocol.settings import ConfigurationSettings, InitializationOptions
from server import __version__
from server.agents import AGENTS
from server.app import App
from server.jsonrpc import raw_converter
from server.settings import Settings
from server.tools import REGISTRY

log = logging.getLogger(__name__)

Call = Callable[[Any, Any], Awaitable[WireModel]]

HANDLERS: dict[m.Method, Call] = {
    m.SEND_MESSAGE: lambda rt, p: rt.send_message(p),
    m.TOOL_RESULT: lambda rt, p: rt.tool_result(p),
    m.APPROVE_PLAN: lambda rt, p: rt.approve_plan(p),
    m.RESUME: lambda rt, p: rt.resume(p),
    m.RETRY_SUBTASK: lambda rt, p: rt.retry_subtask(p),
    m.SKIP_SUBTASK: lambda rt, p: rt.skip_subtask(p),
    m.CANCEL: lambda rt, p: rt.cancel(p),
    m.GET_SESSION: lambda rt, p: rt.get_session(p),
    m.LIST_SESSIONS: lambda rt, p: rt.list_sessions(p),
    m.DELETE_SESSION: lambda rt, p: rt.delete_session(p),
}


def parse_params(model: type[BaseModel], params: Any) -> Any:
    """Validate raw params into `model`, or raise -32602 naming every bad field."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParams(f"params must be an object, not {type(params).__name__}", {"field": "params"})
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "params", "problem": err["msg"]} for err in exc.errors()
        ]
        text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise InvalidParams(f"invalid params: {text}", {"errors": problems}) from exc


def agent_capability() -> AgentCapability:
    return AgentCapability(
        agents=[spec.info() for spec in AGENTS.values()],
        tools=[spec.info() for spec in REGISTRY],
    )


class AgentProtocol(LanguageServerProtocol):
    """Adds `capabilities.experimental.agent` to the `initialize` result."""

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        result.capabilities.experimental = {"agent": agent_capability().wire()}
        return result


class PyglsNotifier:
    def __init__(self, server: AgentServer) -> None:
        self._server = server

    def send(self, notification: Notification, params: WireModel) -> None:
        self._server.protocol.notify(notification.name, params.wire())

    def supports_progress(self) -> bool:
        window = self._server.protocol.client_capabilities.window
        return bool(window and window.work_done_progress)

    async def create_progress(self, token: str) -> bool:
        await self._server.protocol.send_request_async(
            types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.WorkDoneProgressCreateParams(token=token)
        )
        return True

    def progress(self, token: str, value: dict[str, Any]) -> None:
        self._server.protocol.notify(types.PROGRESS, types.ProgressParams(token=token, value=value))


class AgentServer(LanguageServer):
    def __init__(self, base: Settings) -> None:
        super().__init__(  # pyright: ignore[reportUnknownMemberType]
            "codelab-agent", __version__, protocol_cls=AgentProtocol, converter_factory=raw_converter
        )
        self.base = base
        self.app: App | None = None
        self.notifier = PyglsNotifier(self)
        self._register()

    def require_app(self) -> App:
        if self.app is None:
            raise ServerNotInitialized("the server is not initialized: send initialize first")
        return self.app

    def _register(self) -> None:
        for method, call in HANDLERS.items():
            self.feature(method.name)(self._handler(method, call))
        for name, bound in (
            (types.INITIALIZE, self._initialize),
            (types.INITIALIZED, self._initialized),
            (types.WORKSPACE_DID_CHANGE_CONFIGURATION, self._did_change_configuration),
            (types.SHUTDOWN, self._shutdown),
        ):
            self.feature(name)(_plain(bound))

    def _handler(self, method: m.Method, call: Call) -> Callable[[Any], Awaitable[dict[str, Any]]]:
        async def handle(params: Any) -> dict[str, Any]:
            try:
                app = self.require_app()
                result = await call(app.runtime, parse_params(method.params, params))
            except AgentError as exc:
                log.info("%s → %d: %s", method.name, exc.code, exc.message)
                raise
            return result.wire()

        handle.__name__ = method.name.replace("/", "_")
        return handle

    async def _initialize(self, params: types.InitializeParams) -> None:
        options = parse_params(InitializationOptions, params.initialization_options)
        root = options.workspace_root or _client_root(params)
        self.app = await App.start(self.base, options, root, self.notifier)

    async def _initialized(self, params: types.InitializedParams) -> None:
        if self.app is not None:
            self.app.warm_up()

    async def _did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        raw: Any = params.settings
        if isinstance(raw, dict) and "codelabAgent" in raw:
            raw = cast(dict[str, Any], raw)["codelabAgent"]
        try:
            settings = parse_params(ConfigurationSettings, raw)
        except InvalidParams as exc:
            log.warning("ignored workspace/didChangeConfiguration: %s", exc.message)
            return
        if self.app is not None:
            try:
                self.app.reconfigure(settings)
            except InvalidParams as exc:
                log.warning("ignored workspace/didChangeConfiguration: %s", exc.message)

    async def _shutdown(self, params: Any) -> None:
        if self.app is not None:
            await self.app.stop()


def _plain(bound: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """pygls marks handlers with attributes, which bound methods cannot carry."""

    async def handler(params: Any) -> None:
        await bound(params)

    return handler


def _client_root(params: types.InitializeParams) -> str | None:
    if params.workspace_folders:
        return to_fs_path(params.workspace_folders[0].uri)
    if params.root_uri:
        return to_fs_path(params.root_uri)
    if params.root_path:
        return str(Path(params.root_path))
    return None
