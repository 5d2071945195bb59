"""Calls the sidecar runs itself (MCP tools), durably.

A call is committed before it runs (the step that made it, or the user's approval,
clears it: `approved_at`), marked started in its own transaction just before it runs,
and its result is committed when it returns. The next agent step runs every cleared
call first, so a result always reaches the model before its next reply.

A started call with no result was cut off by a crash: whether it took effect cannot be
known. On resume a read-only one simply runs again; any other goes back to the user
("run again" or "skip"), and their answer is what the model reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from protocol.enums import (
    DecidedBy,
    Decision,
    MessageRole,
    StatusEvent,
    ToolCallStatus,
    ToolResultStatus,
    TurnStatus,
)
from protocol.methods import TurnResult
from protocol.notifications import TOOL_CALL
from server.faults import FAULTS
from server.mcp import McpCallError
from server.models.caller import race
from server.turn.deps import Kit
from server.turn.endings import turn_result
from server.turn.fsm import Event
from server.turn.tool_results import awaiting_editor, call_scope
from server.turn.unit import Unit, fire
from server.views import tool_call_notification
from storage.records import ApprovalRow, SessionRow, ToolCallRow, now

log = logging.getLogger(__name__)

INTERRUPTED = (
    "this call was interrupted (the sidecar stopped while it ran): it may or may not have taken effect. "
    "Approve to run it again, reject to skip it"
)
"""The reason shown with a cut-off call that goes back to the user."""


async def run_cleared(kit: Kit, s: SessionRow, cancel: asyncio.Event) -> TurnResult | None:
    """Run every server-executed call of the session cleared to run; a cut-off one that
    is not read-only goes back to the user instead (the turn pauses: its result)."""
    cleared = await kit.db.read.tool_calls.cleared(s.id)
    interrupted: list[ToolCallRow] = []
    for call in cleared:
        if call.started_at is not None and not call.read_only:
            interrupted.append(call)
            continue
        if call.started_at is not None:
            log.info("session %s: running the interrupted read-only call %s again", s.id, call.call_id)
        await _run(kit, s, call, cancel)
    return await _ask_again(kit, s, interrupted) if interrupted else None


async def _run(kit: Kit, s: SessionRow, call: ToolCallRow, cancel: asyncio.Event) -> None:
    async with kit.commit(s.id) as unit:
        await unit.tx.tool_calls.start(call.call_id)
        _announce(unit, call, "in_progress")
    FAULTS.reached("server_call_started")
    try:
        result = await race(kit.toolbox.call(call.name, call.arguments), cancel)
        status = ToolResultStatus.ERROR if result.is_error else ToolResultStatus.SUCCESS
        content = f"Error: {result.text}" if result.is_error else (result.text or "(no output)")
    except McpCallError as exc:
        status = ToolResultStatus.ERROR
        if exc.may_have_run:
            content = f"Error: {exc.reason}. Check whether it took effect before calling it again."
        else:
            content = f"Error: {exc.reason}. The call did not run."
    async with kit.commit(s.id) as unit:
        if await unit.tx.tool_calls.answer(call.call_id, ToolCallStatus.ANSWERED, status):
            await unit.say(MessageRole.TOOL, content, tool_call_id=call.call_id, scope=await call_scope(unit, call))
            failed = status is not ToolResultStatus.SUCCESS
            _announce(unit, call, "failed" if failed else "completed", content[:OUTPUT_SHOWN])


OUTPUT_SHOWN = 4_000
"""Characters of a server call's output its `server_tool_call` status carries."""


def _announce(unit: Unit, call: ToolCallRow, status: str, output: str | None = None) -> None:
    data: dict[str, Any] = {"callId": call.call_id, "name": call.name, "server": call.server, "status": status}
    if status == "in_progress":
        data["arguments"] = call.arguments
    if output is not None:
        data["output"] = output
    unit.status(StatusEvent.SERVER_TOOL_CALL, f"{call.name}: {status.replace('_', ' ')}", data)


async def _ask_again(kit: Kit, s: SessionRow, calls: list[ToolCallRow]) -> TurnResult:
    async with kit.commit(s.id) as unit:
        for call in calls:
            await unit.tx.tool_calls.ask_again(call.call_id, INTERRUPTED)
            await unit.tx.approvals.add(
                ApprovalRow(s.id, call.call_id, call.name, DecidedBy.POLICY, Decision.ASK, INTERRUPTED, now())
            )
        waiting = await awaiting_editor(unit)
        result = turn_result(
            unit, TurnStatus.AWAITING_TOOL_RESULTS, None, pending_tool_calls=waiting, plan_id=calls[0].plan_id
        )
        await fire(unit, Event.TOOL_CALLS_SENT, result=result)
        for call in calls:
            asked = dataclasses.replace(
                call, approved_at=None, started_at=None, requires_approval=True, reason=INTERRUPTED
            )
            unit.emit(TOOL_CALL, tool_call_notification(asked))
    return result
