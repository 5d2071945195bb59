"""The runtime's front door: one coroutine per request, called by the JSON-RPC
handlers with validated params, returning result models. It never imports pygls.

Concurrency: one turn at a time per session. A request that would start or continue
work while a turn runs gets SessionBusy; a session leased by another process too.
Tool results wait briefly for one another (two results of one batch may arrive
together) but never for a running turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from protocol.enums import (
    AgentName,
    MessageRole,
    PlanDecision,
    PlanStatus,
    SessionState,
    SubtaskStatus,
    ToolCallStatus,
    TurnStatus,
)
from protocol.errors import (
    InvalidParams,
    InvalidState,
    PayloadTooLarge,
    SessionBusy,
    SessionNotFound,
    UnknownToolCall,
)
from protocol.methods import (
    ApprovePlanParams,
    CancelParams,
    CancelResult,
    DeleteSessionParams,
    DeleteSessionResult,
    GetSessionParams,
    GetSessionResult,
    ListSessionsParams,
    ListSessionsResult,
    ResumeParams,
    RetrySubtaskParams,
    SendMessageParams,
    SkipSubtaskParams,
    ToolResultParams,
    TurnResult,
)
from protocol.notifications import PLAN_UPDATE, TOOL_CALL, PlanUpdateNotification
from server import views as queries
from server.faults import FAULTS
from server.leases import Leases
from server.plans import execution
from server.plans import rules as planning
from server.turn import fsm
from server.turn import tool_results as results
from server.turn.deps import Kit
from server.turn.endings import active_plan, set_plan_status, turn_result
from server.turn.endings import cancel as cancel_turn
from server.turn.fsm import WORKING, Event
from server.turn.loop import Engine, resting_result
from server.turn.orchestrator import route
from server.turn.unit import Unit, fire
from storage.records import PlanRow, SessionRow

log = logging.getLogger(__name__)


@dataclass
class _Turn:
    task: asyncio.Task[TurnResult]
    cancel: asyncio.Event


@dataclass
class _Gate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    turn: _Turn | None = None


def _size(*texts: str | None) -> int:
    return sum(len(t.encode("utf-8")) for t in texts if t)


class Runtime:
    def __init__(self, kit: Kit, leases: Leases) -> None:
        self.kit = kit
        self.leases = leases
        self.engine = Engine(kit)
        self._gates: dict[str, _Gate] = {}

    # --- plumbing ---------------------------------------------------------------

    @property
    def _root(self) -> str:
        return str(self.kit.settings().workspace_root)

    def _gate(self, session_id: str) -> _Gate:
        return self._gates.setdefault(session_id, _Gate())

    async def _driven(self, s: SessionRow) -> bool:
        """Whether a turn of `s` may be running now: here, or in a live process holding it."""
        gate = self._gates.get(s.id)
        if gate is not None and gate.turn is not None:
            return True
        lease = await self.kit.db.read.leases.get(s.id)
        return lease is not None and lease.holder != self.leases.holder and not self.leases.stale(lease)

    async def _session(self, session_id: str) -> SessionRow:
        s = await self.kit.db.read.sessions.get(session_id)
        if s is None:
            raise SessionNotFound(session_id)
        return s

    @asynccontextmanager
    async def _claim(
        self, session_id: str, *, wait: bool = False, any_workspace: bool = False
    ) -> AsyncGenerator[tuple[_Gate, SessionRow], None]:
        """Exclusive use of a session, and the session as it is once that is granted: no
        turn runs in it here, and this process holds its lease. Work on another
        workspace's session is refused: its tool calls would run against the wrong root."""
        gate = self._gate(session_id)
        if gate.lock.locked() and (gate.turn is not None or not wait):
            raise SessionBusy(
                f"a turn is already running in session {session_id}",
                {"sessionId": session_id, "reason": "turn_running", "holder": {"thisProcess": True}},
            )
        async with gate.lock:
            session = await self.kit.db.read.sessions.get(session_id)
            if session is None:
                self._gates.pop(session_id, None)
                raise SessionNotFound(session_id)
            if not any_workspace and session.workspace_root and session.workspace_root != self._root:
                raise InvalidState(
                    f"session {session_id} works in {session.workspace_root}, not in this sidecar's workspace "
                    f"{self._root}: continue it from an editor opened there",
                    {"sessionId": session_id, "workspaceRoot": session.workspace_root},
                )
            if not await self.leases.holds(session_id):
                async with self.kit.db.transaction() as tx:
                    await self.leases.take(tx, session_id)
                self.kit.threads.forget(session_id)  # another process may have written it
            yield gate, session

    async def _run(self, gate: _Gate, session_id: str) -> TurnResult:
        """Drive the session's turn to its stop point. If the request itself is
        cancelled (`$/cancelRequest`, shutdown) the turn is cancelled cleanly first."""
        cancel = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.engine.drive(session_id, cancel), name=f"turn-{session_id}")
        gate.turn = _Turn(task, cancel)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            with contextlib.suppress(BaseException):
                await task
            raise
        finally:
            gate.turn = None

    async def _scope(self, unit: Unit) -> tuple[str, str, int] | None:
        plan = await active_plan(unit)
        subtask = planning.current(plan) if plan else None
        return (plan.id, subtask.id, subtask.attempt) if plan and subtask else None

    # --- agent/sendMessage -------------------------------------------------------

    async def send_message(self, p: SendMessageParams) -> TurnResult:
        limit = self.kit.settings().limits.max_message_bytes
        if _size(p.text) > limit:
            raise PayloadTooLarge(
                f"text: {_size(p.text)} bytes is over the limit of {limit}", {"field": "text", "limit": limit}
            )
        if p.session_id is None:
            return await self._start_session(p)
        async with self._claim(p.session_id) as (gate, _):
            async with self.kit.commit(p.session_id) as unit:
                await self._take_message(unit, p)
            return await self._run(gate, p.session_id)

    async def _start_session(self, p: SendMessageParams) -> TurnResult:
        """A new session, its lease and its task in one transaction: a crash leaves
        either all of them or none (never a session without its task)."""
        session_id = str(uuid.uuid4())
        gate = self._gate(session_id)
        async with gate.lock:
            async with self.kit.db.transaction() as tx:
                title = p.text.strip().splitlines()[0][:80] if p.text.strip() else "task"
                await tx.sessions.create(session_id, title, AgentName.ORCHESTRATOR, self._root)
                await self.leases.take(tx, session_id)
                session = await tx.sessions.get(session_id)
                assert session is not None
                unit = Unit(tx, session)
                await self._take_message(unit, p)
            unit.flush(self.kit.notifier)
            return await self._run(gate, session_id)

    async def _take_message(self, unit: Unit, p: SendMessageParams) -> None:
        s = unit.session
        if s.state in (SessionState.IDLE, SessionState.PLAN_PAUSED):
            if s.state is SessionState.PLAN_PAUSED and s.active_plan_id:
                await set_plan_status(unit, s.active_plan_id, PlanStatus.CANCELLED)  # abandoned for the new task
                await unit.update(active_plan_id=None)
            await unit.update(turn_id=f"turn_{uuid.uuid4().hex[:20]}", turn_steps=0, nudges=0)
            await unit.say(MessageRole.USER, p.text, kind="task")
            await route(unit, p.mode)
        elif s.state is SessionState.AWAITING_USER_INPUT:
            await unit.say(MessageRole.USER, p.text, kind="answer", scope=await self._scope(unit))
            await unit.update(nudges=0)
            await fire(unit, Event.USER_ANSWERED)
        elif s.state is SessionState.AWAITING_TOOL_RESULTS:
            pending = [c.call_id for c in await unit.tx.tool_calls.pending(s.id)]
            raise InvalidState(
                f"session {s.id} waits for {len(pending)} tool result(s): answer them with agent/toolResult "
                "or end the turn with agent/cancel",
                {"state": s.state, "pendingToolCalls": pending},
            )
        elif s.state is SessionState.AWAITING_PLAN_APPROVAL:
            raise InvalidState(
                f"plan {s.active_plan_id} awaits approval: answer it with agent/approvePlan (approve, reject or revise)",
                {"state": s.state, "planId": s.active_plan_id},
            )
        else:
            raise InvalidState(
                f"session {s.id} was interrupted in state {s.state}: continue it with agent/resume", {"state": s.state}
            )

    # --- agent/toolResult ---------------------------------------------------------

    async def tool_result(self, p: ToolResultParams) -> TurnResult:
        call = await self.kit.db.read.tool_calls.get(p.session_id, p.call_id)
        if call is None:
            await self._session(p.session_id)  # no such session is the first thing to say
            raise UnknownToolCall(
                f"no tool call {p.call_id!r} in session {p.session_id}",
                {"sessionId": p.session_id, "callId": p.call_id},
            )
        if call.status is not ToolCallStatus.PENDING:
            raise results.already_answered(call.call_id, (call.result_status or call.status).value)
        limit = self.kit.settings().limits.max_tool_result_bytes
        if _size(p.content, p.feedback) > limit:
            raise PayloadTooLarge(
                f"content: {_size(p.content, p.feedback)} bytes is over the limit of {limit}; truncate the result",
                {"field": "content", "limit": limit},
            )
        async with self._claim(p.session_id, wait=True) as (gate, _):
            async with self.kit.commit(p.session_id) as unit:
                remaining = await results.record(unit, p, call)
                if remaining:
                    waiting = turn_result(
                        unit, TurnStatus.AWAITING_TOOL_RESULTS, None, pending_tool_calls=remaining, plan_id=call.plan_id
                    )
                else:
                    waiting = None
                    await fire(unit, Event.TOOL_RESULTS_RECEIVED)
            FAULTS.reached("tool_result")
            if waiting is not None:
                return waiting
            return await self._run(gate, p.session_id)

    # --- agent/resume -------------------------------------------------------------

    async def resume(self, p: ResumeParams) -> TurnResult:
        async with self._claim(p.session_id) as (gate, s):
            if s.state is SessionState.AWAITING_TOOL_RESULTS:
                return await self._resend(s)
            if s.state is SessionState.AWAITING_PLAN_APPROVAL and s.active_plan_id:
                plan = await self.kit.db.read.plans.get(s.active_plan_id)
                if plan is not None:
                    self.kit.notifier.send(
                        PLAN_UPDATE, PlanUpdateNotification(session_id=s.id, plan=planning.snapshot(plan))
                    )
                return resting_result(s)
            if s.state is SessionState.PLAN_PAUSED:
                plan = await self._paused_plan(s)
                if plan.status is PlanStatus.FAILED:
                    failed = [t.id for t in plan.subtasks if t.status is SubtaskStatus.FAILED]
                    raise InvalidState(
                        f"plan {plan.id} failed at subtask {', '.join(failed)}: use agent/retrySubtask or agent/skipSubtask",
                        {"planId": plan.id, "failedSubtasks": failed},
                    )
                async with self.kit.commit(s.id) as unit:
                    await execution.resume_plan(unit, plan, "plan resumed")
                return await self._run(gate, s.id)
            if s.state in WORKING:
                log.info("session %s: resuming an interrupted %s", s.id, s.state)
                return await self._run(gate, s.id)
            return resting_result(s)

    async def _resend(self, s: SessionRow) -> TurnResult:
        """Send every unanswered call again, with its original callId."""
        pending = await self.kit.db.read.tool_calls.pending(s.id)
        for c in pending:
            self.kit.notifier.send(TOOL_CALL, queries.tool_call_notification(c))
        last = resting_result(s)
        return last.model_copy(update={"pending_tool_calls": [c.call_id for c in pending]})

    async def _paused_plan(self, s: SessionRow) -> PlanRow:
        plan = await self.kit.db.read.plans.get(s.active_plan_id) if s.active_plan_id else None
        if plan is None:
            raise InvalidState(f"session {s.id} has no paused plan", {"state": s.state})
        return plan

    # --- plans --------------------------------------------------------------------

    async def approve_plan(self, p: ApprovePlanParams) -> TurnResult:
        if p.decision is PlanDecision.REVISE and not (p.feedback and p.feedback.strip()):
            raise InvalidParams("feedback: required when decision is revise", {"field": "feedback"})
        async with self._claim(p.session_id) as (gate, s):
            plan = await self._plan_of(s, p.plan_id)
            if s.state is not SessionState.AWAITING_PLAN_APPROVAL or plan.status is not PlanStatus.AWAITING_APPROVAL:
                raise InvalidState(
                    f"plan {plan.id} is not awaiting approval (plan {plan.status}, session {s.state})",
                    {"planId": plan.id, "planStatus": plan.status, "state": s.state},
                )
            async with self.kit.commit(s.id) as unit:
                if p.decision is PlanDecision.REJECT:
                    return await execution.reject(unit, plan, p.feedback)
                if p.decision is PlanDecision.REVISE:
                    await execution.revise(unit, plan, p.feedback or "")
                else:
                    await execution.approve(unit, plan)
            return await self._run(gate, s.id)

    async def _plan_of(self, s: SessionRow, plan_id: str) -> PlanRow:
        plan = await self.kit.db.read.plans.get(plan_id)
        if plan is None or plan.session_id != s.id:
            raise InvalidState(f"no plan {plan_id!r} in session {s.id}", {"planId": plan_id})
        return plan

    async def retry_subtask(self, p: RetrySubtaskParams) -> TurnResult:
        return await self._failed_subtask(p.session_id, p.plan_id, p.subtask_id, execution.retry_subtask)

    async def skip_subtask(self, p: SkipSubtaskParams) -> TurnResult:
        return await self._failed_subtask(p.session_id, p.plan_id, p.subtask_id, execution.skip_subtask)

    async def _failed_subtask(
        self, session_id: str, plan_id: str, subtask_id: str, action: execution.SubtaskAction
    ) -> TurnResult:
        async with self._claim(session_id) as (gate, s):
            plan = await self._plan_of(s, plan_id)
            subtask = next((t for t in plan.subtasks if t.id == subtask_id), None)
            if subtask is None:
                raise InvalidState(
                    f"plan {plan_id} has no subtask {subtask_id!r}", {"planId": plan_id, "subtaskId": subtask_id}
                )
            if (
                s.state is not SessionState.PLAN_PAUSED
                or plan.status is not PlanStatus.FAILED
                or subtask.status is not SubtaskStatus.FAILED
            ):
                raise InvalidState(
                    f"subtask {subtask_id} is {subtask.status} and plan {plan_id} is {plan.status}: only a failed subtask "
                    "of a failed plan can be retried or skipped",
                    {
                        "planId": plan_id,
                        "subtaskId": subtask_id,
                        "subtaskStatus": subtask.status,
                        "planStatus": plan.status,
                    },
                )
            async with self.kit.commit(s.id) as unit:
                await action(unit, plan, subtask_id)
            return await self._run(gate, s.id)

    # --- agent/cancel -------------------------------------------------------------

    async def cancel(self, p: CancelParams) -> CancelResult:
        gate = self._gates.get(p.session_id)
        if gate is not None and gate.turn is not None:
            turn = gate.turn
            turn.cancel.set()
            with contextlib.suppress(BaseException):
                await asyncio.shield(turn.task)
            return CancelResult(cancelled=True)
        async with self._claim(p.session_id, wait=True) as (_, s):
            if not fsm.allowed(s.state, Event.CANCELLED):
                return CancelResult(cancelled=False)
            async with self.kit.commit(s.id) as unit:
                await cancel_turn(self.kit, unit)
            return CancelResult(cancelled=True)

    # --- sessions -----------------------------------------------------------------

    async def get_session(self, p: GetSessionParams) -> GetSessionResult:
        s = await self._session(p.session_id)
        return await queries.get_session(self.kit.db, s, await self._driven(s))

    async def list_sessions(self, p: ListSessionsParams) -> ListSessionsResult:
        after = queries.decode_cursor(p.cursor) if p.cursor else None
        rows = await self.kit.db.read.sessions.page(p.limit + 1, after, None if p.all_workspaces else self._root)
        page = rows[: p.limit]
        return ListSessionsResult(
            sessions=[queries.session_info(s, await self._driven(s)) for s in page],
            next_cursor=queries.encode_cursor(page[-1]) if len(rows) > p.limit else None,
        )

    async def delete_session(self, p: DeleteSessionParams) -> DeleteSessionResult:
        try:
            async with self._claim(p.session_id, any_workspace=True), self.kit.db.transaction() as tx:
                deleted = await tx.sessions.delete(p.session_id)
        except SessionNotFound:
            return DeleteSessionResult(deleted=False)
        self._gates.pop(p.session_id, None)
        self.kit.threads.forget(p.session_id)
        return DeleteSessionResult(deleted=deleted)

    # --- lifecycle ----------------------------------------------------------------

    async def recover(self) -> list[str]:
        """Start-up repair: drop dead processes' leases; report interrupted sessions
        (`agent/resume` continues them where they stopped)."""
        dropped = await self.leases.clear_stale()
        interrupted = [s.id for s in await self.kit.db.read.sessions.in_states(WORKING)]
        if dropped or interrupted:
            log.info("recovery: %d stale lease(s) dropped; interrupted sessions: %s", dropped, interrupted or "none")
        return interrupted

    async def shutdown(self) -> None:
        """Cancel running turns cleanly, then give up every lease."""
        turns = [g.turn for g in self._gates.values() if g.turn is not None]
        for turn in turns:
            turn.cancel.set()
        if turns:
            await asyncio.wait([t.task for t in turns], timeout=5)
        await self.leases.release_all()
