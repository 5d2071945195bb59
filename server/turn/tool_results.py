"""Tool results: what the model reads for an editor's answer, and recording it."""

from __future__ import annotations

from protocol.enums import DecidedBy, Decision, ExecutedBy, MessageRole, ToolCallStatus, ToolResultStatus
from protocol.errors import ToolCallAlreadyAnswered
from protocol.methods import ToolResultParams
from server.agents import texts
from server.agents.approval import remember_rules
from server.agents.tools import BY_NAME
from server.turn.unit import Unit
from storage.records import ApprovalRow, ThreadScope, ToolCallRow, now


def format_tool_result(p: ToolResultParams) -> str:
    if p.status is ToolResultStatus.REJECTED:
        text = texts.REJECTED
        return f"{text} Feedback: {p.feedback}" if p.feedback else text
    body = p.content if p.content else "(no output)"
    if p.status is ToolResultStatus.ERROR:
        body = f"Error: {body}"
    return f"{body}\n\nUser feedback: {p.feedback}" if p.feedback else body


def already_answered(call_id: str, how: str) -> ToolCallAlreadyAnswered:
    return ToolCallAlreadyAnswered(
        f"tool call {call_id!r} was already answered ({how}); nothing changed", {"callId": call_id, "status": how}
    )


async def call_scope(unit: Unit, call: ToolCallRow) -> ThreadScope | None:
    """The thread a call's result belongs to: its subtask's current attempt, or the main one."""
    if not (call.plan_id and call.subtask_id):
        return None
    plan = await unit.tx.plans.get(call.plan_id)
    attempt = next((t.attempt for t in plan.subtasks if t.id == call.subtask_id), 1) if plan else 1
    return ThreadScope(call.plan_id, call.subtask_id, attempt)


async def record(unit: Unit, p: ToolResultParams, call: ToolCallRow) -> list[str]:
    """Close the call with the editor's answer, with the user's decision and any
    remembered approval; returns the calls of the session still unanswered.

    The UPDATE only closes a call that is still pending, so a concurrent second answer
    finds nothing to change and is refused."""
    if call.executed_by is ExecutedBy.SERVER:
        return await _record_server_call(unit, p, call)
    if not await unit.tx.tool_calls.answer(p.call_id, ToolCallStatus.ANSWERED, p.status):
        raise already_answered(call.call_id, ToolCallStatus.ANSWERED.value)
    s = unit.session
    await unit.say(MessageRole.TOOL, format_tool_result(p), tool_call_id=p.call_id, scope=await call_scope(unit, call))
    rejected = p.status is ToolResultStatus.REJECTED
    if call.requires_approval:
        decision = Decision.REJECTED if rejected else Decision.APPROVED
        reason = p.feedback or ("rejected in the editor" if rejected else "approved in the editor")
        await unit.tx.approvals.add(ApprovalRow(s.id, call.call_id, call.name, DecidedBy.USER, decision, reason, now()))
    if p.remember and not rejected:
        spec = BY_NAME[call.name]
        for tool, prefix in remember_rules(spec, spec.args_model.model_validate(call.arguments)):
            await unit.tx.approvals.remember(s.id, tool, prefix)
    return await awaiting_editor(unit)


async def awaiting_editor(unit: Unit) -> list[str]:
    """The session's calls still waiting for the editor (not those the sidecar runs)."""
    return [c.call_id for c in await unit.tx.tool_calls.pending(unit.session.id) if c.awaits_editor]


async def _record_server_call(unit: Unit, p: ToolResultParams, call: ToolCallRow) -> list[str]:
    """The editor's answer to a call the sidecar runs (an MCP tool): `success` approves
    it (it runs before the next model call), `rejected` refuses it, `error` (an editor
    that could not ask) leaves it unrun. Its content is not a result and is ignored."""
    s = unit.session
    if not call.awaits_editor:
        raise already_answered(call.call_id, "approved; the sidecar runs it")
    interrupted = call.starts > 0
    if p.status is ToolResultStatus.SUCCESS:
        if not await unit.tx.tool_calls.approve(call.call_id):  # a concurrent answer came first
            raise already_answered(call.call_id, "approved; the sidecar runs it")
        reason = p.feedback or ("run again in the editor" if interrupted else "approved in the editor")
        await unit.tx.approvals.add(
            ApprovalRow(s.id, call.call_id, call.name, DecidedBy.USER, Decision.APPROVED, reason, now())
        )
        if p.remember and not interrupted:
            await unit.tx.approvals.remember(s.id, call.name, "")
        return await awaiting_editor(unit)
    if not await unit.tx.tool_calls.answer(p.call_id, ToolCallStatus.ANSWERED, p.status):
        raise already_answered(call.call_id, ToolCallStatus.ANSWERED.value)
    if p.status is ToolResultStatus.REJECTED:
        text = texts.SKIPPED_INTERRUPTED if interrupted else texts.REJECTED
        text = f"{text} Feedback: {p.feedback}" if p.feedback else text
        decision, reason = Decision.REJECTED, p.feedback or "rejected in the editor"
    else:
        detail = p.content or p.feedback or "no reason given"
        text = f"Error: the call was not run: the editor could not ask the user ({detail})."
        decision, reason = Decision.REJECTED, f"the editor could not ask: {detail}"
    await unit.say(MessageRole.TOOL, text, tool_call_id=p.call_id, scope=await call_scope(unit, call))
    await unit.tx.approvals.add(ApprovalRow(s.id, call.call_id, call.name, DecidedBy.USER, decision, reason, now()))
    return await awaiting_editor(unit)
