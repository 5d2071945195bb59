"""The runtime's front door: one coroutine per request, called by the JSON-RPC
handlers with validated params, returning result models. Each one claims the session
(`server.claims`), checks the request is allowed now, and delegates: to the turn
(`server.turn`), the plans (`server.plans`) or the read views (`server.views`). It
never imports pygls.

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

from protocol.enums import PlanDecision, SessionState, ToolCallStatus, TurnStatus
from protocol.errors import InvalidParams, PayloadTooLarge, SessionNotFound, UnknownToolCall
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
from server import views
from server.claims import Claims
from server.faults import FAULTS
from server.leases import Leases
from server.plans import execution, requests
from server.plans import rules as planning
from server.turn import fsm
from server.turn import tool_results as results
from server.turn.deps import Kit
from server.turn.endings import turn_result
from server.turn.fsm import WORKING, Event
from server.turn.incoming import take_message
from server.turn.loop import resting_result
from server.turn.unit import fire
from storage.records import SessionRow

log = logging.getLogger(__name__)


def _within(limit: int, field: str, *texts: str | None, hint: str = "") -> None:
    size = sum(len(t.encode("utf-8")) for t in texts if t)
    if size > limit:
        raise PayloadTooLarge(
            f"{field}: {size} bytes is over the limit of {limit}{hint}", {"field": field, "limit": limit}
        )


class Runtime:
    def __init__(self, kit: Kit, leases: Leases) -> None:
        self.kit = kit
        self.leases = leases
        self.claims = Claims(kit, leases)

    async def _session(self, session_id: str) -> SessionRow:
        s = await self.kit.db.read.sessions.get(session_id)
        if s is None:
            raise SessionNotFound(session_id)
        return s

    # --- agent/sendMessage -------------------------------------------------------

    async def send_message(self, p: SendMessageParams) -> TurnResult:
        _within(self.kit.settings().limits.max_message_bytes, "text", p.text)
        if p.session_id is None:
            return await self._start_session(p)
        async with self.claims.claim(p.session_id) as (gate, _):
            async with self.kit.commit(p.session_id) as unit:
                await take_message(unit, p.text, p.mode)
            return await self.claims.run(gate, p.session_id)

    async def open_session(self, title: str) -> str:
        """A new, empty session (its first message comes later): the ACP face's
        `session/new`, which must answer with an id before any prompt."""
        session_id = str(uuid.uuid4())
        async with self.claims.gate(session_id).lock, self.claims.create(session_id, title):
            pass
        return session_id

    async def _start_session(self, p: SendMessageParams) -> TurnResult:
        session_id = str(uuid.uuid4())
        gate = self.claims.gate(session_id)
        async with gate.lock:
            async with self.claims.create(session_id, p.text.strip().splitlines()[0][:80]) as unit:
                await take_message(unit, p.text, p.mode)
            return await self.claims.run(gate, session_id)

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
        _within(limit, "content", p.content, p.feedback, hint="; truncate the result")
        async with self.claims.claim(p.session_id, wait=True) as (gate, _):
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
            return await self.claims.run(gate, p.session_id)

    # --- agent/resume -------------------------------------------------------------

    async def resume(self, p: ResumeParams) -> TurnResult:
        async with self.claims.claim(p.session_id) as (gate, s):
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
                plan = await requests.paused_plan(self.kit.db, s)
                async with self.kit.commit(s.id) as unit:
                    await execution.resume_plan(unit, plan, "plan resumed")
                return await self.claims.run(gate, s.id)
            if s.state in WORKING:
                log.info("session %s: resuming an interrupted %s", s.id, s.state)
                return await self.claims.run(gate, s.id)
            return resting_result(s)

    async def _resend(self, s: SessionRow) -> TurnResult:
        """Send every unanswered call again, with its original callId."""
        pending = [c for c in await self.kit.db.read.tool_calls.pending(s.id) if c.awaits_editor]
        for c in pending:
            self.kit.notifier.send(TOOL_CALL, views.tool_call_notification(c))
        last = resting_result(s)
        return last.model_copy(update={"pending_tool_calls": [c.call_id for c in pending]})

    # --- plans --------------------------------------------------------------------

    async def approve_plan(self, p: ApprovePlanParams) -> TurnResult:
        if p.decision is PlanDecision.REVISE and not (p.feedback and p.feedback.strip()):
            raise InvalidParams("feedback: required when decision is revise", {"field": "feedback"})
        async with self.claims.claim(p.session_id) as (gate, s):
            plan = await requests.plan_of(self.kit.db, s, p.plan_id)
            requests.check_awaiting_approval(s, plan)
            async with self.kit.commit(s.id) as unit:
                if p.decision is PlanDecision.REJECT:
                    return await execution.reject(unit, plan, p.feedback)
                if p.decision is PlanDecision.REVISE:
                    await execution.revise(unit, plan, p.feedback or "")
                else:
                    await execution.approve(unit, plan)
            return await self.claims.run(gate, s.id)

    async def retry_subtask(self, p: RetrySubtaskParams) -> TurnResult:
        return await self._failed_subtask(p.session_id, p.plan_id, p.subtask_id, execution.retry_subtask)

    async def skip_subtask(self, p: SkipSubtaskParams) -> TurnResult:
        return await self._failed_subtask(p.session_id, p.plan_id, p.subtask_id, execution.skip_subtask)

    async def _failed_subtask(
        self, session_id: str, plan_id: str, subtask_id: str, action: execution.SubtaskAction
    ) -> TurnResult:
        async with self.claims.claim(session_id) as (gate, s):
            plan = await requests.plan_of(self.kit.db, s, plan_id)
            requests.check_failed_subtask(s, plan, subtask_id)
            async with self.kit.commit(s.id) as unit:
                await action(unit, plan, subtask_id)
            return await self.claims.run(gate, s.id)

    # --- agent/cancel -------------------------------------------------------------

    async def cancel(self, p: CancelParams) -> CancelResult:
        turn = self.claims.running(p.session_id)
        if turn is not None:
            turn.cancel.set()
            with contextlib.suppress(BaseException):
                await asyncio.shield(turn.task)
            return CancelResult(cancelled=True)
        async with self.claims.claim(p.session_id, wait=True) as (_, s):
            if not fsm.allowed(s.state, Event.CANCELLED):
                return CancelResult(cancelled=False)
            async with self.kit.commit(s.id) as unit:
                await execution.end_cancelled(self.kit, unit)
            return CancelResult(cancelled=True)

    # --- what every turn reports ---------------------------------------------------

    async def with_usage(self, result: TurnResult) -> TurnResult:
        """`result` as it leaves for the editor: with its turn's own usage so far. Every
        request that answers a TurnResult passes here (`server.lsp.server.handlers`), so
        no builder of one needs to know about usage."""
        if not result.turn_id:
            return result
        usage = await views.turn_usage(self.kit.db, result.session_id, result.turn_id)
        return result.model_copy(update={"usage": usage})

    # --- sessions -----------------------------------------------------------------

    async def get_session(self, p: GetSessionParams) -> GetSessionResult:
        s = await self._session(p.session_id)
        result = await views.get_session(self.kit.db, s, await self.claims.driven(s))
        if self.kit.toolbox.manager is None:
            return result
        return result.model_copy(update={"tools": [t.info() for t in self.kit.toolbox.known_mcp_tools()]})

    async def list_sessions(self, p: ListSessionsParams) -> ListSessionsResult:
        after = views.decode_cursor(p.cursor) if p.cursor else None
        rows = await self.kit.db.read.sessions.page(p.limit + 1, after, None if p.all_workspaces else self.claims.root)
        page = rows[: p.limit]
        return ListSessionsResult(
            sessions=[views.session_info(s, await self.claims.driven(s)) for s in page],
            next_cursor=views.encode_cursor(page[-1]) if len(rows) > p.limit else None,
        )

    async def delete_session(self, p: DeleteSessionParams) -> DeleteSessionResult:
        try:
            async with self.claims.claim(p.session_id, any_workspace=True), self.kit.db.transaction() as tx:
                deleted = await tx.sessions.delete(p.session_id)
        except SessionNotFound:
            return DeleteSessionResult(deleted=False)
        self.claims.forget(p.session_id)
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
        await self.claims.shutdown()
