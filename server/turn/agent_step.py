"""One agent step: call the model once, then commit everything its reply implies in
one transaction (the assistant message, every tool call with its result or its
pending row, approvals, usage, plan changes, the state transition), then emit.

The step returns what happened — a `StepOutcome` — and its caller's `Conduct` decides,
inside the same transaction, what that means: the plain turn ends, nudges or takes the
architect's plan; the plan engine marks the subtask done, nudges once or fails it. The
step knows nothing of plans: it knows the thread it writes to (its scope) and whether
the agent may switch.

Over 300 lines because the outcome types and the `Conduct` interface live beside the
step that produces them; the reply handling itself is one class.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from protocol.enums import (
    AgentName,
    DecidedBy,
    Decision,
    ExecutedBy,
    MessageRole,
    StatusEvent,
    ToolCallStatus,
    ToolResultStatus,
    TurnStatus,
)
from protocol.methods import TurnResult
from protocol.notifications import STATUS, TOOL_CALL, StatusNotification, ToolCallNotification
from protocol.tools import (
    AskFollowupQuestionArgs,
    AttemptCompletionArgs,
    CreatePlanArgs,
    SwitchModeArgs,
    ToolArgs,
)
from server.agents import approval, texts
from server.agents.specs import AGENTS, AgentSpec
from server.agents.toolbox import AnyTool, McpSpec
from server.agents.tools import BY_NAME, ToolArgumentsError, parse_arguments
from server.models.base import ModelReply, ReplyToolCall
from server.turn.budget import call_within_budget
from server.turn.deps import Kit, Scope
from server.turn.endings import turn_result
from server.turn.fsm import Event
from server.turn.guards import REPEATS_ASK, repeats, same_call
from server.turn.server_calls import run_cleared
from server.turn.unit import Unit, fire, switch_agent
from server.views import tool_call_notification
from storage.records import ApprovalRow, MessageKind, ModelToolCall, SessionRow, ToolCallRow, now


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class Paused:
    """Client calls were sent or a question was asked: the turn waits (already fired)."""

    result: TurnResult


@dataclass(frozen=True)
class Continues:
    """Nothing ends the turn: the next step runs (results given, a mode switched)."""


@dataclass(frozen=True)
class Completed:
    """The agent called attempt_completion."""

    result: str
    failed: bool = False


@dataclass(frozen=True)
class TextOnly:
    """A reply without tool calls (its text, if any, is already recorded)."""

    text: str


@dataclass(frozen=True)
class PlanSubmitted:
    """The agent called create_plan (alone); its tool result is the caller's to write."""

    call_id: str
    args: CreatePlanArgs


@dataclass(frozen=True)
class OutOfSteps:
    """The turn used its budget of model calls."""

    reason: str


StepOutcome = Paused | Continues | Completed | TextOnly | PlanSubmitted | OutOfSteps


class Conduct(Protocol):
    """What a step's outcome means where it runs; `settle` runs in the step's transaction."""

    @property
    def scope(self) -> Scope: ...

    @property
    def switch_refusal(self) -> str | None:
        """Why switch_mode is refused here, or None where it is allowed."""
        ...

    async def settle(self, kit: Kit, unit: Unit, outcome: StepOutcome) -> TurnResult | None: ...


async def nudge(unit: Unit, agent: AgentName, text: str, scope: Scope) -> None:
    """Remind the agent of what its reply lacked; the next step sees it."""
    s = unit.session
    await unit.say(MessageRole.USER, text, kind=MessageKind.NUDGE, scope=scope)
    await unit.update(nudges=s.nudges + 1)
    await unit.tx.usage.add(s.id, agent, nudges=1)
    unit.status(StatusEvent.NUDGED, text, {"agent": agent, "nudge": s.nudges + 1})


async def agent_step(kit: Kit, s: SessionRow, conduct: Conduct, cancel: asyncio.Event) -> TurnResult | None:
    """Call the model once and commit its reply; `conduct` settles the outcome."""
    spec = AGENTS[s.current_agent]
    paused = await run_cleared(kit, s, cancel)  # the MCP calls of the last reply (or resumed)
    if paused is not None:
        async with kit.commit(s.id) as unit:
            return await conduct.settle(kit, unit, Paused(paused))
    settings = kit.settings()
    if s.turn_steps >= settings.limits.max_steps:
        reason = f"the {spec.name} agent used its budget of {settings.limits.max_steps} model calls without finishing"
        async with kit.commit(s.id) as unit:
            return await conduct.settle(kit, unit, OutOfSteps(reason))
    tools = await kit.toolbox.for_agent(spec.tools, spec.mcp)
    _announce_failures(kit, s)
    reply, duration_ms = await call_within_budget(
        kit, s, spec, scope=conduct.scope, cancel=cancel, offered=list(tools.values())
    )
    rules = await kit.db.read.approvals.rules(s.id)
    recent = await kit.threads.turn_calls(s.id, conduct.scope, s.turn_id)
    async with kit.commit(s.id) as unit:
        await unit.count_call(spec.name, reply, duration_ms)
        # a reply with tool calls ends a run of nudges
        nudges = 0 if reply.tool_calls else unit.session.nudges
        await unit.update(turn_steps=unit.session.turn_steps + 1, nudges=nudges)
        outcome = await _Step(kit, unit, spec, conduct, rules, recent=recent, tools=tools).apply(reply)
        return await conduct.settle(kit, unit, outcome)


def _announce_failures(kit: Kit, s: SessionRow) -> None:
    """`mcp_server_failed`, once per server, to the session whose step met it."""
    for server, reason in kit.toolbox.take_failures():
        kit.notifier.send(
            STATUS,
            StatusNotification(
                session_id=s.id,
                turn_id=s.turn_id or "",
                event=StatusEvent.MCP_SERVER_FAILED,
                detail=f"the MCP server {server} is not available; its tools are left out: {reason}",
                data={"server": server, "reason": reason},
            ),
        )


class _Step:
    def __init__(
        self,
        kit: Kit,
        unit: Unit,
        spec: AgentSpec,
        conduct: Conduct,
        rules: list[approval.Rule],
        *,
        recent: list[tuple[str, str]],
        tools: dict[str, AnyTool],
    ) -> None:
        self.kit = kit
        self.unit = unit
        self.spec = spec
        self.scope = conduct.scope
        self.switch_refusal = conduct.switch_refusal
        self.rules = rules
        self.recent = recent
        """This turn's earlier calls, for the loop guard (the reply's own are added as they come)."""
        self.tools = tools
        """The tools offered at this step: the agent's and the MCP tools it may use."""

    @property
    def plan_id(self) -> str | None:
        return self.scope.plan_id if self.scope else None

    # --- messages ---------------------------------------------------------------

    async def _say(
        self,
        role: MessageRole,
        content: str,
        *,
        kind: MessageKind = MessageKind.MESSAGE,
        calls: tuple[ModelToolCall, ...] = (),
        meta: dict[str, Any] | None = None,
    ) -> int:
        return await self.unit.say(role, content, kind=kind, tool_calls=calls, scope=self.scope, meta=meta)

    async def _result(self, call_id: str, content: str, kind: MessageKind = MessageKind.MESSAGE) -> None:
        await self.unit.say(MessageRole.TOOL, content, kind=kind, tool_call_id=call_id, scope=self.scope)

    # --- the reply --------------------------------------------------------------

    async def apply(self, reply: ModelReply) -> StepOutcome:
        if not reply.tool_calls:
            if reply.text:
                await self._say(MessageRole.ASSISTANT, reply.text)
            return TextOnly(reply.text)
        calls = [(new_call_id(), c) for c in reply.tool_calls]
        # signed thinking blocks go back to the provider with the calls they led to
        thinking = {"thinkingBlocks": list(reply.thinking_blocks)} if reply.thinking_blocks else None
        seq = await self._say(
            MessageRole.ASSISTANT,
            reply.text,
            calls=tuple(ModelToolCall(i, c.name, c.arguments) for i, c in calls),
            meta=thinking,
        )
        alone = len(calls) == 1
        pending: list[ToolCallNotification] = []
        outcome: StepOutcome = Continues()
        for call_id, call in calls:
            args = await self._validated(call_id, call)
            if args is None:
                continue
            spec = self.tools[call.name]
            if isinstance(spec, McpSpec):
                assert isinstance(args, dict)
                notification = await self._mcp_tool(seq, call_id, call, spec, args)
                if notification is not None:
                    pending.append(notification)
                continue
            assert not isinstance(args, dict)
            if spec.executed_by is ExecutedBy.SERVER:
                if not alone:
                    await self._result(
                        call_id,
                        f"Error: {call.name} must be the only tool call of a reply; it was not executed. Call it again on its own once the other results are in.",
                    )
                    continue
                outcome = await self._server_tool(call_id, args)
                continue
            notification = await self._client_tool(seq, call_id, call, args)
            if notification is not None:
                pending.append(notification)
        if pending:
            result = turn_result(
                self.unit,
                TurnStatus.AWAITING_TOOL_RESULTS,
                reply.text or None,
                pending_tool_calls=[n.call_id for n in pending],
                plan_id=self.plan_id,
            )
            await fire(self.unit, Event.TOOL_CALLS_SENT, result=result)
            for n in pending:
                self.unit.emit(TOOL_CALL, n)
            return Paused(result)
        return outcome

    async def _validated(self, call_id: str, call: ReplyToolCall) -> ToolArgs | dict[str, Any] | None:
        """The call's arguments, or None after writing the error result the model gets."""
        spec = self.tools.get(call.name)
        if spec is None:
            available = ", ".join(sorted(self.tools))
            await self._result(
                call_id,
                f"Error: the tool {call.name!r} is not available to the {self.spec.name} agent. Available tools: {available}.",
            )
            return None
        try:
            if isinstance(spec, McpSpec):
                return spec.parse_arguments(call.arguments)
            return parse_arguments(spec, call.arguments)
        except ToolArgumentsError as exc:
            await self._result(call_id, f"Error: {exc}. Correct the arguments and call the tool again.")
            return None

    async def _client_tool(
        self, seq: int, call_id: str, call: ReplyToolCall, args: ToolArgs
    ) -> ToolCallNotification | None:
        settings = self.kit.settings()
        verdict = self._guarded(
            call, approval.decide(BY_NAME[call.name], args, settings.approval, settings.workspace_root, self.rules)
        )
        row = await self._record(seq, call_id, call, verdict, args.model_dump(mode="json", exclude_none=True))
        if verdict.refused:
            await self._result(
                call_id,
                f"{texts.REFUSED}, without asking the user ({verdict.reason}). Do not retry it; find another way or explain.",
                kind=MessageKind.REFUSED,
            )
            return None
        return tool_call_notification(row)

    async def _mcp_tool(
        self, seq: int, call_id: str, call: ReplyToolCall, spec: McpSpec, args: dict[str, Any]
    ) -> ToolCallNotification | None:
        """An MCP call, committed with this step: cleared to run (the next step runs it
        first), or sent to the editor to ask the user (returned)."""
        verdict = self._guarded(call, approval.decide_mcp(spec, self.kit.settings().approval, self.rules))
        cleared = None if verdict.requires_approval else now()
        row = await self._record(
            seq,
            call_id,
            call,
            verdict,
            args,
            executed_by=ExecutedBy.SERVER,
            server=spec.server,
            read_only=spec.read_only,
            approved_at=cleared,
        )
        return tool_call_notification(row) if verdict.requires_approval else None

    async def _record(
        self,
        seq: int,
        call_id: str,
        call: ReplyToolCall,
        verdict: approval.Verdict,
        arguments: dict[str, Any],
        **server_call: Any,
    ) -> ToolCallRow:
        """The decision on a call and the call itself, committed with this step (a
        refused call is answered at once)."""
        s = self.unit.session
        await self.unit.tx.approvals.add(
            ApprovalRow(s.id, call_id, call.name, verdict.decided_by, verdict.decision, verdict.reason, now())
        )
        refused = verdict.refused
        stamp = now()
        row = ToolCallRow(
            call_id=call_id,
            session_id=s.id,
            turn_id=s.turn_id or "",
            message_seq=seq,
            name=call.name,
            arguments=arguments,
            status=ToolCallStatus.ANSWERED if refused else ToolCallStatus.PENDING,
            requires_approval=verdict.requires_approval,
            reason=verdict.reason,
            result_status=ToolResultStatus.REJECTED if refused else None,
            plan_id=self.plan_id,
            subtask_id=self.scope.subtask_id if self.scope else None,
            created_at=stamp,
            answered_at=stamp if refused else None,
            **server_call,
        )
        await self.unit.tx.tool_calls.add(row)
        return row

    def _guarded(self, call: ReplyToolCall, verdict: approval.Verdict) -> approval.Verdict:
        """The loop guard: the same call made again and again asks, whatever the policy."""
        identity = same_call(call.name, call.arguments)
        times = repeats(self.recent, identity)
        self.recent.append(identity)
        if times >= REPEATS_ASK and not verdict.refused:
            return approval.Verdict(
                Decision.ASK,
                DecidedBy.POLICY,
                f"repeated {times} times: the same {call.name} call with the same arguments, {times} times in a row",
            )
        return verdict

    # --- server tools -----------------------------------------------------------

    async def _server_tool(self, call_id: str, args: ToolArgs) -> StepOutcome:
        if isinstance(args, AttemptCompletionArgs):
            await self._result(call_id, "Completion recorded." if not args.failed else "Failure recorded.")
            return Completed(args.result, args.failed)
        if isinstance(args, AskFollowupQuestionArgs):
            return await self._ask(call_id, args)
        if isinstance(args, SwitchModeArgs):
            await self._switch_mode(call_id, args)
            return Continues()
        if isinstance(args, CreatePlanArgs):
            return PlanSubmitted(call_id, args)
        raise AssertionError(f"no handler for server tool arguments {type(args).__name__}")

    async def _ask(self, call_id: str, args: AskFollowupQuestionArgs) -> Paused:
        await self._result(call_id, "The question was shown to the user; their answer is the next message.")
        question = args.question + (("\nSuggestions: " + "; ".join(args.suggestions)) if args.suggestions else "")
        await self._say(MessageRole.ASSISTANT, question, kind=MessageKind.QUESTION)
        result = turn_result(self.unit, TurnStatus.AWAITING_USER_INPUT, question, plan_id=self.plan_id)
        await fire(self.unit, Event.QUESTION_ASKED, result=result)
        return Paused(result)

    async def _switch_mode(self, call_id: str, args: SwitchModeArgs) -> None:
        target = AgentName(args.mode)
        if self.switch_refusal is not None:
            await self._result(call_id, self.switch_refusal)
            return
        if target == self.spec.name:
            await self._result(call_id, f"Error: you already are the {target} agent.")
            return
        await self._result(call_id, f"Switched to the {target} agent.")
        await switch_agent(self.unit, target, args.reason)
        await fire(self.unit, Event.MODE_SWITCHED)
