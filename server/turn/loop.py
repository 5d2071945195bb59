"""The turn engine: drives a session from its persisted state to the next stop point.

`drive` is a loop. Each pass reads the session's state from the database, does one
thing for that state (classify, assign the architect, one agent step, start the next
subtask), commits it, and goes round again. A resting state (idle, awaiting the
editor or the user, a paused plan) ends the loop with the turn's result. Because
every pass starts from committed state, a process killed at any point continues
exactly where it stopped: the interrupted pass runs again, nothing before it does.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.enums import SessionState, TurnStatus
from protocol.errors import ErrorCode, ModelError
from protocol.methods import TurnResult
from server.models.caller import TurnCancelled
from server.plans import execution
from server.plans.execution import plan_step
from server.turn.agent_step import agent_step
from server.turn.deps import Kit
from server.turn.orchestrator import assign_architect, classify_step
from server.turn.plain import PlainTurn
from storage.records import SessionRow

log = logging.getLogger(__name__)

WAITING = frozenset(
    {TurnStatus.AWAITING_TOOL_RESULTS, TurnStatus.AWAITING_USER_INPUT, TurnStatus.AWAITING_PLAN_APPROVAL}
)
"""The pauses a turn can reach; one reached after a cancel was asked for is cancelled."""


def resting_result(s: SessionRow) -> TurnResult:
    """What a session at rest answers: the result stored when it stopped."""
    if s.last_result:
        return TurnResult.model_validate_json(s.last_result)
    return TurnResult(session_id=s.id, turn_id=s.turn_id or "", status=TurnStatus.COMPLETED, agent=s.current_agent)


class Engine:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    async def drive(self, session_id: str, cancel: asyncio.Event) -> TurnResult:
        while True:
            s = await self.kit.db.read.sessions.get(session_id)
            assert s is not None, f"session {session_id} vanished during its turn"
            try:
                if cancel.is_set():
                    raise TurnCancelled
                result = await self._pass(s, cancel)
            except TurnCancelled:
                async with self.kit.commit(session_id) as unit:
                    return await execution.end_cancelled(self.kit, unit)
            except ModelError as exc:
                async with self.kit.commit(session_id) as unit:
                    return await execution.end_failed(self.kit, unit, exc.message, ErrorCode.MODEL_ERROR)
            if result is not None:
                if cancel.is_set() and result.status in WAITING:
                    # the cancel came while the pass committed its pause: it still ends the turn
                    async with self.kit.commit(session_id) as unit:
                        return await execution.end_cancelled(self.kit, unit)
                return result

    async def _pass(self, s: SessionRow, cancel: asyncio.Event) -> TurnResult | None:
        match s.state:
            case SessionState.CLASSIFYING:
                return await classify_step(self.kit, s, cancel)
            case SessionState.PLAN_REQUIRED:
                return await assign_architect(self.kit, s)
            case SessionState.AGENT_RUNNING | SessionState.ARCHITECT_PLANNING:
                return await agent_step(self.kit, s, PlainTurn(), cancel)
            case SessionState.EXECUTING_PLAN:
                return await plan_step(self.kit, s, cancel)
            case _:
                return resting_result(s)
