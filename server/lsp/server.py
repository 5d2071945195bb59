"""The sidecar as a language server: pygls wiring and the JSON-RPC handlers.

Handlers are thin: validate params into the protocol model, call the runtime, return
the result model. Everything else lives in the runtime, which never imports pygls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.exceptions import FeatureNotificationError, JsonRpcInternalError, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from protocol import method_names as names
from protocol.base import WireModel
from protocol.errors import AgentError, InvalidParams, ServerNotInitialized
from protocol.settings import ConfigurationSettings, InitializationOptions
from server import __version__, gcpause
from server.agents.capability import capability_wire
from server.keys import redact
from server.lsp.jsonrpc import MsgId, raw_converter
from server.settings import Settings
from server.startup import Opened, open_app

if TYPE_CHECKING:
    from protocol import methods as m
    from protocol.notifications import Notification
    from server.app import App

log = logging.getLogger(__name__)

Call = Callable[[Any, Any], Awaitable[WireModel]]

_CALLS: dict[str, Call] = {  # by name: registered before `protocol.methods` loads (`handlers`)
    names.SEND_MESSAGE: lambda rt, p: rt.send_message(p),
    names.TOOL_RESULT: lambda rt, p: rt.tool_result(p),
    names.APPROVE_PLAN: lambda rt, p: rt.approve_plan(p),
    names.RESUME: lambda rt, p: rt.resume(p),
    names.RETRY_SUBTASK: lambda rt, p: rt.retry_subtask(p),
    names.SKIP_SUBTASK: lambda rt, p: rt.skip_subtask(p),
    names.CANCEL: lambda rt, p: rt.cancel(p),
    names.GET_SESSION: lambda rt, p: rt.get_session(p),
    names.LIST_SESSIONS: lambda rt, p: rt.list_sessions(p),
    names.DELETE_SESSION: lambda rt, p: rt.delete_session(p),
}


def _reporting_usage(call: Call) -> Call:
    async def reported(rt: Any, p: Any) -> WireModel:
        return await rt.with_usage(await call(rt, p))

    return reported


@functools.cache
def handlers() -> dict[str, tuple[m.Method, Call]]:
    """Every request's method (its models) and handler, by name; a TurnResult leaves
    with its turn's usage (`Runtime.with_usage`). It loads the protocol's models, which
    `initialize` does not need: the sidecar first asks at its first request."""
    from protocol import methods  # noqa: PLC0415

    def handler(method: m.Method) -> Call:
        call = _CALLS[method.name]
        return _reporting_usage(call) if method.result is methods.TurnResult else call

    return {method.name: (method, handler(method)) for method in methods.METHODS}


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


INTERNAL_ERROR = "internal error; see the log"
"""What the editor reads when a handler fails unexpectedly; the traceback is logged."""


class AgentProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with the lifecycle held to the LSP rules, and no
    traceback on the wire.

    - `initialize` is answered once; a second one is refused (-32600), so it can
      never start a second runtime beside the first.
    - Requests after `shutdown` are refused (-32600), not silently dropped.
    - `exit` ends the message loop (`serve` returns) instead of raising SystemExit
      inside it; the process exits with `exit_code` (0 after `shutdown`, else 1).
    - An unexpected exception answers -32603 "internal error; see the log".
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_received = False
        self._shutdown_received = False
        self.exit_received = False

    @property
    def exit_code(self) -> int:
        return 0 if self._shutdown else 1

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        if self._initialize_received:
            raise JsonRpcInvalidRequest("Invalid Request: initialize may only be sent once")
        self._initialize_received = True
        result = yield from super().lsp_initialize(params)
        result.capabilities.experimental = {"agent": capability_wire()}
        return result

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        self._shutdown_received = True  # pygls only marks it once the runtime has stopped
        yield from super().lsp_shutdown(*args)  # pyright: ignore[reportUnknownMemberType]

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        self.exit_received = True
        yield from ()

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if self._shutdown_received and method is not None and method != types.EXIT:
            msg_id = getattr(message, "id", None)
            if msg_id is None:
                log.info("ignored %s after shutdown", method)
                return
            error = JsonRpcInvalidRequest(f"Invalid Request: {method} after shutdown")
            self._send_response(msg_id, error=error.to_response_error())
            return
        super().handle_message(message)

    def _send_response(
        self, msg_id: MsgId, result: Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        # pygls answers an unexpected exception with its text and traceback (and has logged both).
        data: Any = error.data if error is not None else None
        if error is not None and isinstance(data, dict) and "traceback" in data:
            error = types.ResponseError(code=error.code, message=INTERNAL_ERROR)
        super()._send_response(msg_id, result, error)

    def _check_handler_result(self, future: Future[Any]) -> None:
        # pygls neither logs a failed notification handler nor keeps its traceback off the wire.
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("a notification handler failed", exc_info=exc)
            self._server.report_server_error(JsonRpcInternalError(INTERNAL_ERROR), FeatureNotificationError)


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
        self._opened: Opened | None = None
        self._finishing: asyncio.Task[App] | None = None
        self._closing = False
        self.notifier = PyglsNotifier(self)
        self._register()

    @property
    def agent_protocol(self) -> AgentProtocol:
        return cast(AgentProtocol, self.protocol)

    async def require_app(self) -> App:
        """The app, once `initialize` has opened it and `App.finish` has built the rest
        (started by `initialized`, or here by the first request that comes before it)."""
        if self.app is not None:
            return self.app
        if self._opened is None:
            raise ServerNotInitialized("the server is not initialized: send initialize first")
        return await asyncio.shield(self._start_finishing(self._opened))

    def _start_finishing(self, opened: Opened) -> asyncio.Task[App]:
        if self._closing:
            raise AgentError("the sidecar is stopping")
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._finish(opened))
        return self._finishing

    async def _finish(self, opened: Opened) -> App:
        """`App.finish`; when it fails, every request waiting for it is answered with why,
        and the next request tries again (the database stays open until `close`)."""
        from server.app import App  # noqa: PLC0415 - the runtime's modules load once initialize is answered

        try:
            app = await App.finish(opened, self.notifier)
        except Exception as exc:
            self._finishing = None
            log.exception("the sidecar could not finish starting")
            raise AgentError(f"the sidecar could not finish starting: {redact(str(exc))} (see its log)") from exc
        finally:
            gcpause.resume(collect_and_freeze=True)  # paused by the command line while the modules loaded
        app.warm_up()
        self.app = app
        return app

    async def close(self) -> None:
        """Stop the runtime and close the database (opened by `initialize`, whether or
        not the rest was built): each exactly once. Nothing starts building after this."""
        self._closing = True
        if self._finishing is not None:
            with contextlib.suppress(Exception):  # logged by `_finish`, answered to the requests
                await self._finishing
        if self.app is not None:
            await self.app.close()
        elif self._opened is not None:
            await self._opened.db.close()

    def _register(self) -> None:
        for name in _CALLS:
            self.feature(name)(self._handler(name))
        for name, bound in (
            (types.INITIALIZE, self._initialize),
            (types.INITIALIZED, self._initialized),
            (types.WORKSPACE_DID_CHANGE_CONFIGURATION, self._did_change_configuration),
            (types.SHUTDOWN, self._shutdown),
        ):
            self.feature(name)(_plain(bound))

    def _handler(self, name: str) -> Callable[[Any], Awaitable[dict[str, Any]]]:
        async def handle(params: Any) -> dict[str, Any]:
            try:
                app = await self.require_app()
                method, call = handlers()[name]
                result = await call(app.runtime, parse_params(method.params, params))
            except AgentError as exc:
                log.info("%s → %d: %s", name, exc.code, exc.message)
                raise
            return result.wire()

        handle.__name__ = name.replace("/", "_")
        return handle

    async def _initialize(self, params: types.InitializeParams) -> None:
        try:
            options = parse_params(InitializationOptions, params.initialization_options)
            root = options.workspace_root or _client_root(params)
            self._opened = await open_app(self.base, options, root)
        except BaseException:
            gcpause.resume()  # paused by the command line; nothing more will load
            raise

    async def _initialized(self, params: types.InitializedParams) -> None:
        if self._opened is not None and not self._closing:
            self._start_finishing(self._opened)  # awaited by requests, and by `close`

    async def _did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        raw: Any = params.settings
        if isinstance(raw, dict) and "codelabAgent" in raw:
            raw = cast(dict[str, Any], raw)["codelabAgent"]
        try:
            settings = parse_params(ConfigurationSettings, raw)
        except InvalidParams as exc:
            log.warning("ignored workspace/didChangeConfiguration: %s", exc.message)
            return
        if self._opened is None:
            return  # before initialize: nothing to change yet
        try:
            (await self.require_app()).reconfigure(settings)
        except AgentError as exc:  # settings refused (InvalidParams), or a sidecar that could not start
            log.warning("ignored workspace/didChangeConfiguration: %s", exc.message)

    async def _shutdown(self, params: Any) -> None:
        if self._finishing is not None:
            with contextlib.suppress(Exception):  # logged by `_finish`
                await self._finishing
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
