"""Answering the sidecar's tool calls and plans from the terminal: ask (unless the
policy or `--yes` already decided), run the call in the workspace, and show what came
of it — the diff of a write (folded when it needed no approval), the reason of an error,
the first lines of a command's output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from protocol.enums import ExecutedBy, PlanDecision, ToolResultStatus
from protocol.methods import ApprovePlanParams, ToolResultParams, TurnResult
from protocol.notifications import ToolCallNotification
from server.chat import approvals
from server.chat.approvals import Answer, Verdict
from server.chat.keyboard import Keyboard
from server.chat.screen import Screen
from server.chat.tools import ToolFailure, WorkspaceTools

T = TypeVar("T")


class Turns(Protocol):
    """What answering needs of the turn being driven."""

    screen: Screen
    keyboard: Keyboard
    tools: WorkspaceTools

    @property
    def approve_all(self) -> bool:
        """`--yes`: every call and plan approved without asking."""
        ...

    async def running(self, work: Awaitable[T]) -> T:
        """`work` done in the client: Ctrl-C meanwhile cancels the turn."""
        ...


OUTPUT_LINES = 6
"""Lines of a command's output shown after it ran."""


async def answer_call(turns: Turns, call: ToolCallNotification) -> ToolResultParams | None:
    """The answer to one call; None when the user cancelled the turn instead (Ctrl-C)."""
    screen, tools = turns.screen, turns.tools
    exists = call.name == "write_file" and _exists(turns, call)
    what = approvals.action(call.name, call.arguments, exists=exists)
    diff = tools.preview(call.name, call.arguments)
    asks = call.requires_approval and not turns.approve_all
    answer = Answer(Verdict.YES)
    if asks:
        screen.line()
        if call.reason:
            screen.note(call.reason)
        if diff:
            screen.diff(diff, folded=False)
        given = await _ask(turns, what)
        if given is None:
            return None
        answer = given
    if answer.verdict is Verdict.NO:
        screen.line(f"  ✗ {what}: rejected" + (f" ({answer.feedback})" if answer.feedback else ""), "yellow")
        return ToolResultParams(
            session_id=call.session_id,
            call_id=call.call_id,
            status=ToolResultStatus.REJECTED,
            feedback=answer.feedback or None,
        )
    if call.executed_by is ExecutedBy.SERVER:  # the sidecar runs it (an MCP tool): the answer is the approval
        screen.note(f"approved: {what}" + (f" (on {call.server})" if call.server else ""))
        return ToolResultParams(
            session_id=call.session_id,
            call_id=call.call_id,
            status=ToolResultStatus.SUCCESS,
            remember=answer.verdict is Verdict.ALWAYS,
        )
    status, content = await turns.running(asyncio.to_thread(tools.run, call.name, call.arguments))
    _show_result(turns, what, status, content)
    if status is ToolResultStatus.SUCCESS and diff and not asks:
        screen.diff(diff, folded=True)
    return ToolResultParams(
        session_id=call.session_id,
        call_id=call.call_id,
        status=status,
        content=content,
        remember=answer.verdict is Verdict.ALWAYS,
    )


def _exists(turns: Turns, call: ToolCallNotification) -> bool:
    try:
        return turns.tools.path(call.arguments.get("path")).is_file()
    except ToolFailure:
        return False


async def _ask(turns: Turns, what: str) -> Answer | None:
    keyboard, screen = turns.keyboard, turns.screen
    while True:
        try:
            text = await keyboard.answer(f"{what}? {approvals.CHOICES} {approvals.DEFAULT} ")
        except KeyboardInterrupt:
            return None
        if text is None:
            screen.note("no answer (end of input): not approved")
            return Answer(Verdict.NO)
        answer = approvals.parse(text)
        if answer is None:
            screen.line(f"  Please answer {approvals.CHOICES}; Enter means yes.", "yellow")
            continue
        if answer.verdict is Verdict.NO and not answer.feedback:
            try:
                feedback = await keyboard.answer("Feedback for the agent (optional): ")
            except KeyboardInterrupt:
                return None
            answer = Answer(Verdict.NO, (feedback or "").strip())
        return answer


def _show_result(turns: Turns, what: str, status: ToolResultStatus, content: str) -> None:
    screen = turns.screen
    first, *rest = content.splitlines() or [""]
    if status is not ToolResultStatus.SUCCESS:
        screen.line(f"  ✗ {what}: {first}", "red")
        return
    if first.startswith("exit code "):
        failed = first != "exit code 0"
        screen.line(f"  {'✗' if failed else '✓'} {what} → {first}", "red" if failed else "green")
        for line in rest[:OUTPUT_LINES]:
            screen.line(f"    {line}", "dim")
        if len(rest) > OUTPUT_LINES:
            screen.line(f"    … {len(rest) - OUTPUT_LINES} more lines", "dim")
        return
    screen.line(f"  ✓ {what}", "green")


async def decide_plan(turns: Turns, result: TurnResult) -> ApprovePlanParams | None:
    """The user's decision on the plan awaiting approval; None to cancel the turn."""
    assert result.plan_id is not None
    verdict, feedback = PlanDecision.APPROVE, ""
    if not turns.approve_all:
        decided = await _ask_plan(turns)
        if decided is None:
            return None
        verdict, feedback = decided
    return ApprovePlanParams(
        session_id=result.session_id, plan_id=result.plan_id, decision=verdict, feedback=feedback or None
    )


async def _ask_plan(turns: Turns) -> tuple[PlanDecision, str] | None:
    keyboard, screen = turns.keyboard, turns.screen
    while True:
        try:
            text = await keyboard.answer(f"Approve the plan? {approvals.PLAN_CHOICES} {approvals.DEFAULT} ")
        except KeyboardInterrupt:
            return None
        if text is None:
            screen.note("no answer (end of input): the plan is rejected")
            return PlanDecision.REJECT, ""
        decided = approvals.parse_plan(text)
        if decided is None:
            screen.line(f"  Please answer {approvals.PLAN_CHOICES}; Enter means yes.", "yellow")
            continue
        verdict, feedback = decided
        while verdict is PlanDecision.REVISE and not feedback:
            try:
                feedback = ((await keyboard.answer("What should change? ")) or "").strip()
            except KeyboardInterrupt:
                return None
            if not feedback and not keyboard.interactive:
                return PlanDecision.REJECT, ""
        return verdict, feedback
