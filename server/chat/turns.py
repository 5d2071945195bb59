"""Driving a turn from the terminal: the sidecar's requests, its notifications, the
tool calls run in the workspace, the questions put to the user, and the sidecar's
restart when it stops.

A turn is driven from the result of the request that started it until it reaches an
end (completed, failed, cancelled); each stop point in between (tool calls, a question,
a plan to approve) is answered from the keyboard or by `--yes`.

**Restarts.** Every request watches the process. When the sidecar stops — while a
request waits, or while the user sits at a prompt — the client says so at once, starts
it again on the same database and resumes the session: unanswered calls come back with
the same ids, and an answer already given (the tool already ran) is sent again without
asking or running anything twice. A request cut off by the stop is sent again only when
the resumed session shows it never arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol.types import ProgressParams

from protocol.base import WireModel
from protocol.enums import MessageRole, Mode, PlanStatus, StatusEvent, TurnStatus
from protocol.errors import ErrorCode
from protocol.methods import (
    APPROVE_PLAN,
    CANCEL,
    GET_SESSION,
    RESUME,
    SEND_MESSAGE,
    TOOL_RESULT,
    ApprovePlanParams,
    CancelParams,
    GetSessionParams,
    GetSessionResult,
    Method,
    ResumeParams,
    SendMessageParams,
    ToolResultParams,
    TurnResult,
    TurnUsage,
)
from protocol.notifications import StatusNotification, StreamNotification, ToolCallNotification
from server.chat.calls import answer_call, decide_plan
from server.chat.client import Notice, Refused, SidecarClient, SidecarError, SidecarExited
from server.chat.keyboard import Keyboard
from server.chat.screen import Screen
from server.chat.sidecar import STARTS, Sidecar
from server.chat.tools import WorkspaceTools

T = TypeVar("T")
EXIT_CODES = {TurnStatus.COMPLETED: 0, TurnStatus.FAILED: 1, TurnStatus.CANCELLED: 130}
QUIET_EVENTS = (
    StatusEvent.STATE_CHANGED,
    StatusEvent.NUDGED,
    StatusEvent.PLAN_CREATED,
    StatusEvent.CLASSIFIED,
    StatusEvent.PLAN_COMPLETED,
    StatusEvent.PLAN_REJECTED,
)
"""Not shown: the agent switch after a classification says the same, a plan is shown whole,
and the turn's last message says the plan completed or was rejected."""


@dataclass
class Options:
    workspace: Path
    mode: Mode = Mode.AUTO
    yes: bool = False
    resume_args: list[str] = field(default_factory=list[str])
    """What `codelab-agent chat --resume ID` needs besides the id (`--db PATH`, …)."""


class Quit(Exception):
    """The user asked to leave: `/quit` or end of input (0), a second Ctrl-C (130)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def usage_line(usage: TurnUsage, seconds: float | None = None) -> str:
    """One line on what a turn used: requests, tokens in (cached) and out, cost, time."""
    cost = f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "cost unknown"
    requests = f"{usage.requests} request{'' if usage.requests == 1 else 's'}"
    tokens = f"{usage.prompt_tokens:,} tokens in ({usage.cached_tokens:,} cached), {usage.completion_tokens:,} out"
    took = f", {seconds:.1f}s" if seconds is not None else ""
    return f"  · usage: {requests}, {tokens}, {cost}{took}"


class Turns:
    """The session being talked to, and the turns driven in it."""

    def __init__(self, sidecar: Sidecar, screen: Screen, keyboard: Keyboard, options: Options) -> None:
        self.sidecar = sidecar
        self.screen = screen
        self.keyboard = keyboard
        self.options = options
        self.tools = WorkspaceTools(options.workspace)
        self.session: str | None = None
        self.mode = options.mode
        self.calls: dict[str, ToolCallNotification] = {}
        self.answered: dict[str, ToolResultParams] = {}
        self._recovery: asyncio.Task[TurnResult | None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._working = False
        self._cancelling = False
        self._cancel_when_known = False
        self._streamed = ""
        self._last_status = ""
        self._plan_running = False
        self._shown_plans: set[tuple[str, int]] = set()
        self._main: asyncio.Task[Any] | None = None
        self.fatal: SidecarError | None = None
        """Why the conversation cannot go on (the sidecar would not start again)."""
        self._started = time.monotonic()
        sidecar.on_exit = self._sidecar_stopped

    # --- what the sidecar tells us -----------------------------------------------------------

    def on_notice(self, notice: Notice) -> None:
        if isinstance(notice, ProgressParams):
            return
        if self.session is None:
            self.session = notice.session_id
            self.screen.note(f"session {self.session}")
            if self._cancel_when_known:
                self._own(self._cancel())
        if isinstance(notice, StreamNotification):
            kind = notice.kind or "text"
            if kind == "text":
                self._streamed += notice.delta
            self.screen.stream(notice.agent, kind, notice.delta)
        elif isinstance(notice, ToolCallNotification):
            self.calls.setdefault(notice.call_id, notice)
        elif isinstance(notice, StatusNotification):
            self._status(notice)
        else:
            self._plan_running = notice.plan.status is PlanStatus.IN_PROGRESS
            self.screen.show_plan_progress(notice.plan if self._plan_running else None)

    def _status(self, notice: StatusNotification) -> None:
        if notice.event in QUIET_EVENTS or notice.detail == self._last_status:
            return
        if notice.event is StatusEvent.AGENT_SWITCHED and self._plan_running:
            return  # the subtask's start says which agent takes it
        self._last_status = notice.detail
        style = "red" if notice.event in (StatusEvent.SUBTASK_FAILED, StatusEvent.PLAN_FAILED) else "dim"
        self.screen.line(f"  · {notice.detail}", style)

    # --- requests, watched and recovered ---------------------------------------------------------

    def _own(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sidecar_stopped(self, client: SidecarClient) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.ensure_future(self._restart(client))

    async def _restart(self, dead: SidecarClient) -> TurnResult | None:
        """Start the sidecar again on the same database and resume the session."""
        reason = dead.exit_reason()
        self.screen.notice(f"The sidecar stopped ({reason}); starting it again on the same database…")
        for attempt in range(1, STARTS + 1):
            try:
                await self.sidecar.restart()
                result = None
                if self.session is not None:
                    result = await self.sidecar.client.turn(RESUME, ResumeParams(session_id=self.session))
            except (SidecarExited, Refused) as exc:
                reason = str(exc).removeprefix("the sidecar ")
                if attempt < STARTS:
                    self.screen.notice(f"That failed ({reason}); another try…")
                continue
            self.screen.notice("The sidecar is back" + (f"; session {self.session} resumed." if self.session else "."))
            return result
        self.fatal = SidecarError(f"the sidecar stopped, and {STARTS} tries to start it again failed (last: {reason})")
        if not self._working and self._main is not None:  # the user is at a prompt: stop there, and say why
            self._main.cancel()
        raise self.fatal

    async def request(self, method: Method, params: WireModel) -> WireModel:
        """A request that is not a turn (get a session, list them): sent again after a restart."""
        for _ in range(STARTS + 1):
            await self._recovered()
            try:
                return await self.sidecar.client.request(method, params)
            except SidecarExited:
                continue
        raise SidecarError("the sidecar keeps stopping")

    async def _recovered(self) -> TurnResult | None:
        if self._recovery is None:
            return None
        try:
            return await self._recovery
        finally:
            self._recovery = None

    async def turn(self, method: Method, params: WireModel, label: str) -> TurnResult:
        """A request that starts or continues a turn, with a spinner while it runs."""
        for _ in range(STARTS + 1):
            await self._recovered()
            self._working = True
            self.screen.working(label)
            try:
                return await self.sidecar.client.turn(method, params)
            except SidecarExited:
                if self._recovery is None:
                    self._sidecar_stopped(self.sidecar.client)
                resumed = await self._recovered()
                decided = await self._after_restart(params, resumed)
                if decided is not None:
                    return decided
            finally:
                self.screen.idle()
                self._working = False
        raise SidecarError("the sidecar keeps stopping")

    async def _after_restart(self, params: WireModel, resumed: TurnResult | None) -> TurnResult | None:
        """What stands for a request the sidecar stopped during: the resumed session's
        result, or None when the request never arrived and must be sent again."""
        if resumed is None:
            return None
        if isinstance(params, ToolResultParams):
            return None if params.call_id in resumed.pending_tool_calls else resumed
        if isinstance(params, ApprovePlanParams):
            waiting = resumed.status is TurnStatus.AWAITING_PLAN_APPROVAL and resumed.plan_id == params.plan_id
            return None if waiting else resumed
        if isinstance(params, SendMessageParams) and params.session_id is not None:
            found = await self.request(GET_SESSION, GetSessionParams(session_id=params.session_id))
            assert isinstance(found, GetSessionResult)
            said = [m.content for m in found.messages if m.role is MessageRole.USER]
            return resumed if said and said[-1] == params.text else None
        return resumed

    # --- Ctrl-C ------------------------------------------------------------------------------

    def watch_interrupts(self, main: asyncio.Task[Any]) -> None:
        self._main = main
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._interrupted)

    def _interrupted(self) -> None:
        """Ctrl-C while the sidecar works: cancel the turn; a second one: quit."""
        if self._working and not self._cancelling:
            self._cancelling = True
            self.screen.notice("Cancelling the turn… (Ctrl-C again quits)")
            self._own(self._cancel())
        elif self._main is not None:
            self._main.cancel()

    @property
    def approve_all(self) -> bool:
        return self.options.yes

    async def running(self, work: Awaitable[T]) -> T:
        """`work` done in the client (a tool call): Ctrl-C meanwhile cancels the turn."""
        self._working = True
        try:
            return await work
        finally:
            self._working = False

    async def _cancel(self) -> None:
        if self.session is None:
            self._cancel_when_known = True
            return
        self._cancel_when_known = False
        with contextlib.suppress(SidecarError, Refused):
            await self.sidecar.client.request(CANCEL, CancelParams(session_id=self.session))

    async def cancel_now(self, result: TurnResult) -> TurnResult:
        """End the turn at a stop point (Ctrl-C or no answer at a prompt)."""
        await self._cancel()
        return result.model_copy(update={"status": TurnStatus.CANCELLED, "pending_tool_calls": []})

    # --- a turn, from its first result to its end --------------------------------------------

    async def send(self, text: str) -> int:
        self._begin()
        params = SendMessageParams(session_id=self.session, text=text, mode=self.mode)
        return await self.drive(await self.turn(SEND_MESSAGE, params, "thinking"))

    async def resume(self, session_id: str) -> int:
        self._begin()
        self.session = session_id
        return await self.drive(await self.turn(RESUME, ResumeParams(session_id=session_id), "resuming"))

    def _begin(self) -> None:
        self._cancelling = False
        self._cancel_when_known = False
        self._streamed = ""
        self._last_status = ""
        self._started = time.monotonic()

    async def drive(self, result: TurnResult) -> int:
        while result.status not in EXIT_CODES:
            self.session = result.session_id
            if self._cancelling:
                result = await self.cancel_now(result)
            elif result.status is TurnStatus.AWAITING_TOOL_RESULTS:
                result = await self._tool_calls(result)
            elif result.status is TurnStatus.AWAITING_USER_INPUT:
                result = await self._question(result)
            elif result.status is TurnStatus.AWAITING_PLAN_APPROVAL:
                result = await self._plan(result)
        self.session = result.session_id
        return self._finish(result)

    def _finish(self, result: TurnResult) -> int:
        self.screen.idle()
        if result.status is TurnStatus.FAILED:
            reason = (result.error.message if result.error else None) or result.message or "no reason given"
            self.screen.line(f"Failed: {reason}", "bold red")
        elif result.status is TurnStatus.CANCELLED:
            self.screen.line("Cancelled.", "yellow")
        elif result.message and _normal(result.message) not in _normal(self._streamed):
            self.screen.markdown(result.message)
        if result.usage is not None:
            self.screen.line(usage_line(result.usage, time.monotonic() - self._started), "dim")
        if result.status is not TurnStatus.COMPLETED:
            self.screen.note(f"session {result.session_id}: continue with {self.resume_command()}")
        return EXIT_CODES[result.status]

    def resume_command(self) -> str:
        return " ".join(["codelab-agent chat --resume", self.session or "?", *self.options.resume_args])

    async def _tool_calls(self, result: TurnResult) -> TurnResult:
        for call_id in result.pending_tool_calls:
            answer = self.answered.get(call_id)
            if answer is None:
                call = self.calls.get(call_id)
                if call is None:
                    raise SidecarError(f"the sidecar asked for tool call {call_id} without announcing it")
                answer = await answer_call(self, call)
                if answer is None:  # Ctrl-C or no answer: the turn ends here
                    return await self.cancel_now(result)
                self.answered[call_id] = answer
            if self._cancelling:
                return await self.cancel_now(result)
            result = await self.turn(TOOL_RESULT, answer, "thinking")
        return result

    async def _question(self, result: TurnResult) -> TurnResult:
        self.screen.line(f"? {result.message}", "bold yellow")
        while True:
            try:
                answer = await self.keyboard.answer("> ")
            except KeyboardInterrupt:
                answer = None
            if answer is None or (not answer.strip() and not self.keyboard.interactive):
                return await self.cancel_now(result)  # no answer: end the turn rather than wait forever
            if answer.strip():
                break
            self.screen.line("  (type an answer, or Ctrl-C to cancel the turn)", "dim")
        params = SendMessageParams(session_id=result.session_id, text=answer.strip())
        return await self.turn(SEND_MESSAGE, params, "thinking")

    async def _plan(self, result: TurnResult) -> TurnResult:
        if result.plan_id is None:
            raise SidecarError(f"the sidecar answered {result.status} without a plan id")
        found = await self.request(GET_SESSION, GetSessionParams(session_id=result.session_id))
        assert isinstance(found, GetSessionResult)
        plan = next((p for p in reversed(found.plan_versions) if p.id == result.plan_id), found.plan)
        if plan is not None and (plan.id, plan.version) not in self._shown_plans:
            self._shown_plans.add((plan.id, plan.version))
            self.screen.plan(plan, "awaiting approval")
        params = await decide_plan(self, result)
        if params is None:
            return await self.cancel_now(result)
        return await self.turn(APPROVE_PLAN, params, "planning" if params.feedback else "working")

    async def switch_workspace(self, root: Path) -> None:
        """Work in `root` from now on: a sidecar opened on it (sessions belong to their workspace)."""
        await self._recovered()
        self.screen.working("opening the workspace")
        try:
            await self.sidecar.restart(root)
        finally:
            self.screen.idle()
        self.tools = WorkspaceTools(root)
        self.options.workspace = root

    async def session_info(self, session_id: str) -> GetSessionResult | None:
        """The session, or None (said on one line) when there is none with that id."""
        try:
            found = await self.request(GET_SESSION, GetSessionParams(session_id=session_id))
        except Refused as exc:
            if exc.code == ErrorCode.SESSION_NOT_FOUND:
                self.screen.line(f"No session {session_id} in this database.", "red")
                return None
            raise
        assert isinstance(found, GetSessionResult)
        return found


def _normal(text: str) -> str:
    return " ".join(text.split())
