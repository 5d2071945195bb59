"""The Agent Client Protocol face: ACP's sessions and prompt turns on the same runtime
the LSP face drives, as an in-process editor of it.

The runtime stops a turn where the editor must act (tool calls to run, a plan to
approve, a question); this face acts for the ACP client: it asks permission where the
policy says to ask (`session/request_permission`), runs the call through the client's
`fs/*` and `terminal/*` or inside the sidecar (`server.acp.tools`), gives the result to
the runtime and goes on, until the turn ends; then it answers `session/prompt` with the
stop reason. Every pause is committed by the runtime before the client hears of it, so
after a crash `session/load` brings a pending call back with the same `toolCallId`.

Over 300 lines: the ACP methods and the turn loop they share live together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, helpers
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    ClientCapabilities,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PermissionOption,
    PromptCapabilities,
    PromptResponse,
    ResumeSessionResponse,
    SessionCapabilities,
    SessionInfo,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    StopReason,
    ToolCallUpdate,
)
from pygls.exceptions import JsonRpcException

from protocol.base import WireModel
from protocol.enums import ExecutedBy, Mode, PlanDecision, SessionState, StatusEvent, ToolResultStatus, TurnStatus
from protocol.methods import (
    ApprovePlanParams,
    CancelParams,
    GetSessionParams,
    GetSessionResult,
    ListSessionsParams,
    ResumeParams,
    SendMessageParams,
    ToolResultParams,
    TurnResult,
)
from protocol.notifications import (
    PLAN_UPDATE,
    STREAM,
    TOOL_CALL,
    Notification,
    PlanUpdateNotification,
    StatusNotification,
    StreamNotification,
    ToolCallNotification,
)
from protocol.settings import InitializationOptions
from server import __version__, gcpause
from server.acp import replay
from server.acp.replay import plan_update
from server.acp.tools import KINDS, Runner, locations, mcp_config, text_content, title
from server.app import App
from server.mcp import McpConfigError
from server.settings import Settings

log = logging.getLogger(__name__)

MODES = [
    SessionMode(id="auto", name="Auto", description="The orchestrator picks the agent, or plans a complex task."),
    SessionMode(id="code", name="Code", description="Writes and changes code."),
    SessionMode(id="architect", name="Architect", description="Plans the task as subtasks you approve."),
    SessionMode(id="debug", name="Debug", description="Finds and fixes the cause of a failure."),
    SessionMode(id="explain", name="Explain", description="Answers questions about the code; changes nothing."),
]
ALLOW, ALWAYS, REJECT = "allow", "always", "reject"
CALL_OPTIONS = [
    PermissionOption(option_id=ALLOW, name="Allow once", kind="allow_once"),
    PermissionOption(option_id=ALWAYS, name="Always allow", kind="allow_always"),
    PermissionOption(option_id=REJECT, name="Reject", kind="reject_once"),
]
PLAN_OPTIONS = [
    PermissionOption(option_id="approve", name="Approve the plan", kind="allow_once"),
    PermissionOption(option_id="reject", name="Reject the plan", kind="reject_once"),
]


def _invalid(field: str, why: str) -> RequestError:
    """Invalid params, the message naming the field and what is wrong with it."""
    return RequestError(-32602, f"invalid params: {field}: {why}", {field: why})


def _error(exc: JsonRpcException) -> RequestError:
    """A runtime error as the ACP client receives it: the same code, message and data."""
    return RequestError(exc.code, exc.message, exc.data)


@dataclass
class Live:
    """What this process knows of a session an ACP client has open."""

    session_id: str
    root: Path
    app: App
    mode: str = "auto"
    calls: dict[str, ToolCallNotification] = field(default_factory=lambda: {})
    cancelled: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by `session/cancel`: a permission request still open is given up."""
    streamed: list[str] = field(default_factory=lambda: [])
    """The answer text streamed in the current turn (so a final message is not sent twice)."""
    turn: asyncio.Task[Any] | None = None
    """A turn resumed by `session/load`, running in the background."""
    mcp_servers: list[Any] = field(default_factory=lambda: [])
    """The MCP servers the client offered with the session (kept; not started yet)."""


class Updates:
    """`session/update`s in the order the runtime produced them, sent by one task."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self.client: Any = None

    def put(self, session_id: str, update: Any) -> None:
        self._queue.put_nowait((session_id, update))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while not self._queue.empty():
            session_id, update = self._queue.get_nowait()
            try:
                await self.client.session_update(session_id=session_id, update=update)
            except Exception:
                log.warning("session/update to the client failed", exc_info=True)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        await self._queue.join()


class Face:
    """The ACP agent (the SDK calls these methods; see `acp.interfaces.Agent`)."""

    def __init__(self, base: Settings) -> None:
        self._base = base
        self._apps: dict[Path, App] = {}
        self._live: dict[str, Live] = {}
        self._caps: ClientCapabilities | None = None
        self.updates = Updates()
        self.client: Any = None

    def on_connect(self, conn: Any) -> None:
        self.client = conn
        self.updates.client = conn

    # --- workspaces -------------------------------------------------------------------

    async def _app(self, cwd: str) -> tuple[Path, App]:
        root = await asyncio.to_thread(_workspace, cwd)
        if root not in self._apps:
            settings = replace(self._base, workspace_root=root)
            try:
                self._apps[root] = await App.start(settings, InitializationOptions(), str(root), _Notifier(self))
            except JsonRpcException as exc:
                raise _error(exc) from exc
            finally:
                gcpause.resume(collect_and_freeze=True)  # the first: paused by the command line while modules loaded
        return root, self._apps[root]

    def _session(self, session_id: str) -> Live:
        live = self._live.get(session_id)
        if live is None:
            raise _invalid("sessionId", f"no open session {session_id!r}: load it first")
        return live

    async def close(self) -> None:
        for live in self._live.values():
            if live.turn is not None:
                live.turn.cancel()
        for app in self._apps.values():
            await app.close()

    # --- runtime notifications ----------------------------------------------------------

    def notified(self, notification: Notification, params: WireModel) -> None:
        if isinstance(params, ToolCallNotification) and notification is TOOL_CALL:
            live = self._live.get(params.session_id)
            if live is None:
                return
            live.calls[params.call_id] = params
            start = helpers.start_tool_call(
                params.call_id,
                title(params),
                kind=KINDS.get(params.name, "other"),  # pyright: ignore[reportArgumentType]
                status="pending",
                locations=locations(params, live.root),
                raw_input=params.arguments,
            )
            self.updates.put(params.session_id, start)
        elif isinstance(params, StreamNotification) and notification is STREAM:
            if params.kind == "thought":
                self.updates.put(params.session_id, helpers.update_agent_thought_text(params.delta))
            else:
                live = self._live.get(params.session_id)
                if live is not None:
                    live.streamed.append(params.delta)
                self.updates.put(params.session_id, helpers.update_agent_message_text(params.delta))
        elif isinstance(params, PlanUpdateNotification) and notification is PLAN_UPDATE:
            self.updates.put(params.session_id, plan_update(params.plan))
        elif isinstance(params, StatusNotification) and params.event is StatusEvent.SERVER_TOOL_CALL:
            self._server_call(params)

    def _server_call(self, params: StatusNotification) -> None:
        """An MCP call the sidecar runs: a tool call card that starts and ends."""
        data = params.data or {}
        call_id, status = str(data.get("callId", "")), data.get("status")
        if not call_id or params.session_id not in self._live:
            return
        if status == "in_progress":
            if call_id not in self._live[params.session_id].calls:  # not asked about: not shown yet
                start = helpers.start_tool_call(
                    call_id,
                    str(data.get("name", "")),
                    kind="other",
                    status="in_progress",
                    raw_input=data.get("arguments"),
                )
                self.updates.put(params.session_id, start)
            return
        output = str(data.get("output", ""))
        update = helpers.update_tool_call(
            call_id,
            status="failed" if status == "failed" else "completed",
            content=[text_content(output)] if output else None,
            raw_output={"status": status, "output": output},
        )
        self.updates.put(params.session_id, update)

    # --- initialize and sessions ---------------------------------------------------------

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **_: Any,
    ) -> InitializeResponse:
        self._caps = client_capabilities
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
            ),
            agent_info=Implementation(name="codelab-agent", title="codelab-agent", version=__version__),
        )

    async def new_session(
        self, cwd: str, additional_directories: list[str] | None = None, mcp_servers: list[Any] | None = None, **_: Any
    ) -> NewSessionResponse:
        root, app = await self._app(cwd)
        self._offer_servers(app, mcp_servers)
        session_id = await app.runtime.open_session("(new session)")
        self._live[session_id] = Live(session_id, root, app, mcp_servers=list(mcp_servers or []))
        return NewSessionResponse(session_id=session_id, modes=_modes("auto"))

    def _offer_servers(self, app: App, servers: list[Any] | None) -> None:
        """The client's MCP servers join the workspace's (its sessions share them)."""
        if not servers:
            return
        try:
            config = mcp_config(servers)
        except McpConfigError as exc:
            raise _invalid("mcpServers", exc.message) from exc
        added = app.toolbox.add(config)
        if added:
            log.info("MCP servers from the client: %s", ", ".join(added))

    async def _open(self, cwd: str, session_id: str, mcp_servers: list[Any] | None) -> tuple[Live, GetSessionResult]:
        """A stored session opened again, with the client's MCP servers offered first: a
        call cleared before a crash runs on them when the turn goes on."""
        root, app = await self._app(cwd)
        self._offer_servers(app, mcp_servers)
        try:
            state = await app.runtime.get_session(GetSessionParams(session_id=session_id))
        except JsonRpcException as exc:
            raise _error(exc) from exc
        stored = state.session.workspace_root
        if stored and Path(stored) != root:
            raise _invalid("cwd", f"session {session_id} works in {stored}, not in {root}")
        live = self._live.get(session_id) or Live(session_id, root, app, mcp_servers=list(mcp_servers or []))
        self._live[session_id] = live
        return live, state

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **_: Any,
    ) -> LoadSessionResponse:
        live, state = await self._open(cwd, session_id, mcp_servers)
        for update in replay.updates(state, live.root):
            self.updates.put(session_id, update)
        await self.updates.flush()
        self._continue(live, state)
        return LoadSessionResponse(modes=_modes(live.mode))

    async def resume_session(
        self,
        session_id: str,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **_: Any,
    ) -> ResumeSessionResponse:
        live, state = await self._open(cwd, session_id, mcp_servers)
        self._continue(live, state)
        return ResumeSessionResponse(modes=_modes(live.mode))

    def _continue(self, live: Live, state: GetSessionResult) -> None:
        """A turn cut off by a crash, or waiting on calls, goes on right after the load:
        its pending calls are asked about again, with their original ids."""
        s = state.session
        waiting = s.state is SessionState.AWAITING_TOOL_RESULTS or s.interrupted
        if not waiting or (live.turn is not None and not live.turn.done()):
            return

        async def resume() -> None:
            try:
                result = await live.app.runtime.resume(ResumeParams(session_id=live.session_id))
                await self._drive(live, result)
            except JsonRpcException as exc:
                log.warning("session %s: resuming failed: %s", live.session_id, exc.message)
            except RequestError as exc:
                log.warning("session %s: resuming failed: %s", live.session_id, exc)

        live.turn = asyncio.get_running_loop().create_task(resume(), name=f"acp-resume-{live.session_id}")

    async def list_sessions(self, cwd: str | None = None, cursor: str | None = None, **_: Any) -> ListSessionsResponse:
        if cwd is None:
            raise _invalid("cwd", "session/list needs the workspace (cwd) to list")
        root, app = await self._app(cwd)
        try:
            found = await app.runtime.list_sessions(ListSessionsParams(cursor=cursor))
        except JsonRpcException as exc:
            raise _error(exc) from exc
        sessions = [
            SessionInfo(session_id=s.id, cwd=s.workspace_root or str(root), title=s.title, updated_at=s.updated_at)
            for s in found.sessions
        ]
        return ListSessionsResponse(sessions=sessions, next_cursor=found.next_cursor)

    async def set_session_mode(self, session_id: str, mode_id: str, **_: Any) -> SetSessionModeResponse:
        live = self._session(session_id)
        if mode_id not in {m.id for m in MODES}:
            raise _invalid("modeId", f"unknown mode {mode_id!r}; one of {[m.id for m in MODES]}")
        live.mode = mode_id
        self.updates.put(session_id, helpers.update_current_mode(mode_id))
        await self.updates.flush()
        return SetSessionModeResponse()

    async def authenticate(self, method_id: str, **_: Any) -> None:
        return None

    # --- what this agent does not offer -----------------------------------------------

    async def set_config_option(self, config_id: str, session_id: str, value: str | bool, **_: Any) -> None:
        raise RequestError.method_not_found("session/set_config_option")

    async def fork_session(
        self,
        session_id: str,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **_: Any,
    ) -> Any:
        raise RequestError.method_not_found("session/fork")

    async def close_session(self, session_id: str, **_: Any) -> None:
        live = self._live.pop(session_id, None)
        if live is not None and live.turn is not None:
            live.turn.cancel()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        log.info("ignored extension notification %s", method)

    # --- a prompt turn ---------------------------------------------------------------

    async def prompt(self, session_id: str, prompt: list[Any], **_: Any) -> PromptResponse:
        live = self._session(session_id)
        if live.turn is not None and not live.turn.done():
            with contextlib.suppress(Exception):
                await live.turn  # the turn a load resumed ends first
        text = replay.prompt_text(prompt)
        if not text.strip():
            raise _invalid("prompt", "the prompt has no text or resource content")
        live.cancelled = False
        live.stop.clear()
        live.streamed.clear()
        runtime = live.app.runtime
        try:
            state = (await runtime.get_session(GetSessionParams(session_id=session_id))).session
            if state.state is SessionState.AWAITING_PLAN_APPROVAL and state.active_plan_id:
                result = await runtime.approve_plan(
                    ApprovePlanParams(
                        session_id=session_id,
                        plan_id=state.active_plan_id,
                        decision=PlanDecision.REVISE,
                        feedback=text,
                    )
                )
            else:
                result = await runtime.send_message(
                    SendMessageParams(session_id=session_id, text=text, mode=Mode(live.mode))
                )
            stop = await self._drive(live, result)
        except JsonRpcException as exc:
            raise _error(exc) from exc
        finally:
            await self.updates.flush()
        return PromptResponse(stop_reason=stop)

    async def cancel(self, session_id: str, **_: Any) -> None:
        live = self._live.get(session_id)
        if live is None:
            return
        live.cancelled = True
        live.stop.set()
        with contextlib.suppress(JsonRpcException):
            await live.app.runtime.cancel(CancelParams(session_id=session_id))

    async def _drive(self, live: Live, result: TurnResult) -> StopReason:
        """Act for the client at every stop of the turn until it ends; its stop reason."""
        runtime = live.app.runtime
        while True:
            if live.cancelled and result.status not in (TurnStatus.COMPLETED, TurnStatus.FAILED):
                return "cancelled"
            match result.status:
                case TurnStatus.AWAITING_TOOL_RESULTS:
                    result = await self._answer(live, result)
                case TurnStatus.AWAITING_PLAN_APPROVAL if result.plan_id:
                    decision = await self._plan_decision(live, result)
                    if decision is None:
                        return "cancelled"
                    result = await runtime.approve_plan(
                        ApprovePlanParams(session_id=live.session_id, plan_id=result.plan_id, decision=decision)
                    )
                case TurnStatus.CANCELLED:
                    return "cancelled"
                case TurnStatus.FAILED:
                    message = result.error.message if result.error else "the turn failed"
                    if "budget of" in message:
                        self._say(live, message)
                        return "max_turn_requests"
                    raise RequestError(result.error.code if result.error else -32603, message)
                case _:
                    self._say(live, result.message)
                    return "end_turn"

    def _say(self, live: Live, message: str | None) -> None:
        """The turn's final message, unless it was streamed already."""
        if message and message.strip() != "".join(live.streamed).strip():
            self.updates.put(live.session_id, helpers.update_agent_message_text(message))

    async def _answer(self, live: Live, result: TurnResult) -> TurnResult:
        """Ask about, run and answer each pending call (the last answer runs the next step)."""
        runtime = live.app.runtime
        for call_id in result.pending_tool_calls:
            call = live.calls.get(call_id) or await self._pending(live, call_id)
            runner = Runner(self.client, self._caps, live.session_id, live.root)
            remember = False
            if call.requires_approval:
                choice = await self._permission(live, call, runner)
                if choice is None:
                    live.cancelled = True
                    await runtime.cancel(CancelParams(session_id=live.session_id))
                    return result.model_copy(update={"status": TurnStatus.CANCELLED})
                if choice == REJECT:
                    self.updates.put(
                        live.session_id,
                        helpers.update_tool_call(
                            call_id, status="failed", content=[text_content("Rejected by the user.")]
                        ),
                    )
                    result = await runtime.tool_result(
                        ToolResultParams(session_id=live.session_id, call_id=call_id, status=ToolResultStatus.REJECTED)
                    )
                    continue
                remember = choice == ALWAYS
            if call.executed_by is ExecutedBy.SERVER:  # the sidecar runs it once approved
                self.updates.put(live.session_id, helpers.update_tool_call(call_id, status="in_progress"))
                result = await runtime.tool_result(
                    ToolResultParams(
                        session_id=live.session_id,
                        call_id=call_id,
                        status=ToolResultStatus.SUCCESS if call.requires_approval else ToolResultStatus.ERROR,
                        content=None if call.requires_approval else "the call needs no approval",
                        remember=remember,
                    )
                )
                continue
            self.updates.put(live.session_id, helpers.update_tool_call(call_id, status="in_progress"))
            outcome = await runner.run(call)
            failed = outcome.status is not ToolResultStatus.SUCCESS
            self.updates.put(
                live.session_id,
                helpers.update_tool_call(
                    call_id,
                    status="failed" if failed else "completed",
                    content=list(outcome.content) or [text_content(outcome.text[:4_000])],
                    raw_output={"status": outcome.status.value, "output": outcome.text[:4_000]},
                ),
            )
            limit = live.app.settings.limits.max_tool_result_bytes
            text = outcome.text if len(outcome.text.encode()) <= limit else outcome.text[: limit // 4] + "\n[truncated]"
            result = await runtime.tool_result(
                ToolResultParams(
                    session_id=live.session_id, call_id=call_id, status=outcome.status, content=text, remember=remember
                )
            )
        return result

    async def _pending(self, live: Live, call_id: str) -> ToolCallNotification:
        """A pending call this process has not been told of (it was sent before a restart)."""
        state = await live.app.runtime.get_session(GetSessionParams(session_id=live.session_id))
        for p in state.pending_tool_calls:
            if p.call_id == call_id:
                call = ToolCallNotification(
                    session_id=live.session_id,
                    turn_id=p.turn_id,
                    call_id=p.call_id,
                    name=p.name,
                    arguments=p.arguments,
                    requires_approval=p.requires_approval,
                    reason=p.reason,
                    plan_id=p.plan_id,
                    subtask_id=p.subtask_id,
                    executed_by=p.executed_by,
                    server=p.server,
                )
                live.calls[call_id] = call
                return call
        raise RequestError.internal_error({"callId": f"no pending call {call_id} in session {live.session_id}"})

    async def _permission(self, live: Live, call: ToolCallNotification, runner: Runner) -> str | None:
        """The user's choice for a call the policy asks about; None if the turn was cancelled."""
        preview = await runner.preview(call)
        content = [*preview, text_content(f"Why you are asked: {call.reason}")] if call.reason else preview
        asked = ToolCallUpdate(
            tool_call_id=call.call_id,
            title=title(call),
            kind=KINDS.get(call.name, "other"),  # pyright: ignore[reportArgumentType]
            status="pending",
            content=content or None,
            locations=locations(call, live.root),
            raw_input=call.arguments,
        )
        response = await self._ask(live, asked, CALL_OPTIONS)
        outcome = response.outcome if response is not None else None
        if isinstance(outcome, AllowedOutcome) and not live.cancelled:
            return outcome.option_id if outcome.option_id in (ALLOW, ALWAYS, REJECT) else REJECT
        return None

    async def _ask(self, live: Live, asked: ToolCallUpdate, options: list[PermissionOption]) -> Any:
        """`session/request_permission`, given up (None) when the turn is cancelled first."""
        await self.updates.flush()
        request = asyncio.ensure_future(
            self.client.request_permission(session_id=live.session_id, tool_call=asked, options=options)
        )
        stopped = asyncio.ensure_future(live.stop.wait())
        try:
            await asyncio.wait({request, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not request.done():
            request.cancel()
            return None
        return request.result()

    async def _plan_decision(self, live: Live, result: TurnResult) -> PlanDecision | None:
        state = await live.app.runtime.get_session(GetSessionParams(session_id=live.session_id))
        plan = state.plan
        if plan is None:
            return None
        self.updates.put(live.session_id, plan_update(plan))
        lines = [f"Goal: {plan.goal}", *(f"{s.id}. {s.title} ({s.agent})" for s in plan.subtasks)]
        asked = ToolCallUpdate(
            tool_call_id=f"plan-{plan.id}-v{plan.version}",
            title=f"Approve the plan: {plan.goal[:80]}",
            kind="think",
            status="pending",
            content=[text_content("\n".join(lines) + "\n\nTo revise it instead, reply with what to change.")],
        )
        response = await self._ask(live, asked, PLAN_OPTIONS)
        outcome = response.outcome if response is not None else None
        if not isinstance(outcome, AllowedOutcome) or live.cancelled:
            return None
        return PlanDecision.APPROVE if outcome.option_id == "approve" else PlanDecision.REJECT


def _workspace(cwd: str) -> Path:
    """A session's cwd as its workspace root: absolute, resolved, an existing directory."""
    if not isinstance(cwd, str) or not cwd or "\x00" in cwd:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise _invalid("cwd", "must be an absolute path")
    root = Path(cwd).expanduser()
    if not root.is_absolute():
        raise _invalid("cwd", f"must be an absolute path, not {cwd!r}")
    root = root.resolve()
    if not root.is_dir():
        raise _invalid("cwd", f"{cwd} is not a directory")
    return root


def _modes(current: str) -> SessionModeState:
    return SessionModeState(current_mode_id=current, available_modes=MODES)


class _Notifier:
    """The runtime's notifier for the ACP face: notifications become session updates."""

    def __init__(self, face: Face) -> None:
        self._face = face

    def send(self, notification: Notification, params: WireModel) -> None:
        self._face.notified(notification, params)

    def supports_progress(self) -> bool:
        return False

    async def create_progress(self, token: str) -> bool:
        return False

    def progress(self, token: str, value: dict[str, Any]) -> None:
        return None
