"""One agent step: call the model once, then commit everything its reply implies in
one transaction (the assistant message, every tool call with its result or its
pending row, approvals, usage, plan changes, the state transition), then emit.

Client tool calls stop the turn; server tools run here; a reply without tool calls
ends the turn, or is nudged, depending on the agent (SPEC.md, *An agent turn*).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from protocol.enums import (
    AgentName,
    ExecutedBy,
    MessageRole,
    StatusEvent,
    SubtaskStatus,
    ToolCallStatus,
    ToolResultStatus,
    TurnStatus,
)
from protocol.methods import TurnResult
from protocol.notifications import TOOL_CALL, ToolCallNotification
from protocol.tools import (
    AskFollowupQuestionArgs,
    AttemptCompletionArgs,
    CreatePlanArgs,
    SwitchModeArgs,
    ToolArgs,
)
from server.agents import approval
from server.agents.specs import AGENTS, AgentSpec
from server.agents.tools import ToolArgumentsError, parse_arguments
from server.models.base import ModelReply, ModelRequest, ReplyToolCall
from server.plans import rules as planning
from server.turn.deps import Kit
from server.turn.endings import complete_task, fail, plan_changed, turn_result
from server.turn.fsm import Event
from server.turn.prompt_view import agent_view
from server.turn.unit import Unit, fire, switch_agent
from server.views import tool_call_notification
from storage.records import ApprovalRow, ModelToolCall, PlanRow, SessionRow, SubtaskRow, ToolCallRow, now

ARCHITECT_NUDGES = 2
PLAN_NUDGES = 1
EMPTY_NUDGES = 2
ARCHITECT_NUDGE = (
    "[Reminder] You must call create_plan with your plan, or ask_followup_question if you need "
    "information from the user. Do not answer with text alone."
)
PLAN_NUDGE = (
    "[Reminder] You are working on one subtask of a plan. When it is done, call attempt_completion with its "
    "result (alone); if something is missing, use your tools."
)
EMPTY_NUDGE = "[Reminder] Your reply was empty. Continue the task: call a tool, or answer."


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class Where:
    """Where a step runs: the main conversation, or one subtask's thread."""

    plan: PlanRow | None = None
    subtask: SubtaskRow | None = None

    @property
    def scope(self) -> tuple[str, str, int] | None:
        if self.plan and self.subtask:
            return (self.plan.id, self.subtask.id, self.subtask.attempt)
        return None


async def agent_step(kit: Kit, s: SessionRow, where: Where, cancel: asyncio.Event) -> TurnResult | None:
    spec = AGENTS[s.current_agent]
    settings = kit.settings()
    if s.turn_steps >= settings.limits.max_steps:
        async with kit.commit(s.id) as unit:
            return await fail(
                kit,
                unit,
                f"the {spec.name} agent used its budget of {settings.limits.max_steps} model calls without finishing",
            )
    thread = await kit.threads.get(s.id, where.scope)
    request = ModelRequest(
        agent=spec.name,
        purpose="agent",
        messages=agent_view(spec, thread, s.switch_count, settings.workspace_root),
        tools=[t.openai_schema() for t in spec.tools],
    )
    reply, duration_ms = await kit.caller.call(s, settings.llm.model, request, cancel)
    rules = await kit.db.read.approvals.rules(s.id)
    async with kit.commit(s.id) as unit:
        await unit.tx.usage.add(
            s.id,
            spec.name,
            requests=1,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            duration_ms=duration_ms,
        )
        # a reply with tool calls ends a run of nudges
        nudges = 0 if reply.tool_calls else unit.session.nudges
        await unit.update(turn_steps=unit.session.turn_steps + 1, nudges=nudges)
        return await _Step(kit, unit, spec, where, rules).apply(reply)


class _Step:
    def __init__(self, kit: Kit, unit: Unit, spec: AgentSpec, where: Where, rules: list[approval.Rule]) -> None:
        self.kit = kit
        self.unit = unit
        self.spec = spec
        self.where = where
        self.rules = rules

    # --- messages ---------------------------------------------------------------

    async def _say(
        self, role: MessageRole, content: str, *, kind: str = "message", calls: tuple[ModelToolCall, ...] = ()
    ) -> int:
        return await self.unit.say(role, content, kind=kind, tool_calls=calls, scope=self.where.scope)

    async def _result(self, call_id: str, content: str, kind: str = "message") -> None:
        await self.unit.say(MessageRole.TOOL, content, kind=kind, tool_call_id=call_id, scope=self.where.scope)

    # --- the reply --------------------------------------------------------------

    async def apply(self, reply: ModelReply) -> TurnResult | None:
        if not reply.tool_calls:
            return await self._text_only(reply.text)
        calls = [(new_call_id(), c) for c in reply.tool_calls]
        seq = await self._say(
            MessageRole.ASSISTANT, reply.text, calls=tuple(ModelToolCall(i, c.name, c.arguments) for i, c in calls)
        )
        alone = len(calls) == 1
        pending: list[ToolCallNotification] = []
        stop: TurnResult | None = None
        for call_id, call in calls:
            args = await self._validated(call_id, call)
            if args is None:
                continue
            spec = self.spec.tools_by_name[call.name]
            if spec.executed_by is ExecutedBy.SERVER:
                if not alone:
                    await self._result(
                        call_id,
                        f"Error: {call.name} must be the only tool call of a reply; it was not executed. Call it again on its own once the other results are in.",
                    )
                    continue
                stop = await self._server_tool(call_id, args)
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
                plan_id=self.where.plan.id if self.where.plan else None,
            )
            await fire(self.unit, Event.TOOL_CALLS_SENT, result=result)
            for n in pending:
                self.unit.emit(TOOL_CALL, n)
            return result
        return stop

    async def _validated(self, call_id: str, call: ReplyToolCall) -> ToolArgs | None:
        """The call's arguments, or None after writing the error result the model gets."""
        spec = self.spec.tools_by_name.get(call.name)
        if spec is None:
            available = ", ".join(sorted(self.spec.tool_names))
            await self._result(
                call_id,
                f"Error: the tool {call.name!r} is not available to the {self.spec.name} agent. Available tools: {available}.",
            )
            return None
        try:
            return parse_arguments(spec, call.arguments)
        except ToolArgumentsError as exc:
            await self._result(call_id, f"Error: {exc}. Correct the arguments and call the tool again.")
            return None

    async def _client_tool(
        self, seq: int, call_id: str, call: ReplyToolCall, args: ToolArgs
    ) -> ToolCallNotification | None:
        s = self.unit.session
        spec = self.spec.tools_by_name[call.name]
        settings = self.kit.settings()
        verdict = approval.decide(spec, args, settings.approval, settings.workspace_root, self.rules)
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
            arguments=args.model_dump(mode="json", exclude_none=True),
            status=ToolCallStatus.ANSWERED if refused else ToolCallStatus.PENDING,
            requires_approval=verdict.requires_approval,
            reason=verdict.reason,
            result_status=ToolResultStatus.REJECTED if refused else None,
            plan_id=self.where.plan.id if self.where.plan else None,
            subtask_id=self.where.subtask.id if self.where.subtask else None,
            created_at=stamp,
            answered_at=stamp if refused else None,
        )
        await self.unit.tx.tool_calls.add(row)
        if refused:
            await self._result(
                call_id,
                f"Refused by the approval policy, without asking the user ({verdict.reason}). Do not retry it; find another way or explain.",
                kind="refused",
            )
            return None
        return tool_call_notification(row)

    # --- server tools -----------------------------------------------------------

    async def _server_tool(self, call_id: str, args: ToolArgs) -> TurnResult | None:
        if isinstance(args, AttemptCompletionArgs):
            return await self._attempt_completion(call_id, args)
        if isinstance(args, AskFollowupQuestionArgs):
            return await self._ask(call_id, args)
        if isinstance(args, SwitchModeArgs):
            return await self._switch_mode(call_id, args)
        if isinstance(args, CreatePlanArgs):
            return await self._create_plan(call_id, args)
        raise AssertionError(f"no handler for server tool arguments {type(args).__name__}")

    async def _attempt_completion(self, call_id: str, args: AttemptCompletionArgs) -> TurnResult | None:
        await self._result(call_id, "Completion recorded." if not args.failed else "Failure recorded.")
        if self.where.plan and self.where.subtask:
            if args.failed:
                return await fail(self.kit, self.unit, args.result)
            return await self._subtask_done(args.result)
        await self._say(MessageRole.ASSISTANT, args.result, kind="completion")
        if args.failed:
            return await fail(self.kit, self.unit, args.result)
        return await complete_task(self.unit, args.result)

    async def _subtask_done(self, result: str) -> None:
        plan, subtask = self.where.plan, self.where.subtask
        assert plan is not None and subtask is not None
        await self.unit.tx.plans.set_subtask(plan.id, subtask.id, SubtaskStatus.DONE, result=result)
        await plan_changed(self.unit, plan.id)
        self.unit.status(
            StatusEvent.SUBTASK_COMPLETED,
            f"subtask {subtask.id} done: {subtask.title}",
            {"planId": plan.id, "subtaskId": subtask.id, "result": result},
        )

    async def _ask(self, call_id: str, args: AskFollowupQuestionArgs) -> TurnResult:
        await self._result(call_id, "The question was shown to the user; their answer is the next message.")
        question = args.question + (("\nSuggestions: " + "; ".join(args.suggestions)) if args.suggestions else "")
        await self._say(MessageRole.ASSISTANT, question, kind="question")
        result = turn_result(
            self.unit, TurnStatus.AWAITING_USER_INPUT, question, plan_id=self.where.plan.id if self.where.plan else None
        )
        await fire(self.unit, Event.QUESTION_ASKED, result=result)
        return result

    async def _switch_mode(self, call_id: str, args: SwitchModeArgs) -> None:
        target = AgentName(args.mode)
        if self.where.plan is not None:
            await self._result(
                call_id,
                "Error: switch_mode is not allowed while a plan executes. Finish this subtask with attempt_completion (failed: true if you cannot).",
            )
            return None
        if target == self.spec.name:
            await self._result(call_id, f"Error: you already are the {target} agent.")
            return None
        await self._result(call_id, f"Switched to the {target} agent.")
        await switch_agent(self.unit, target, args.reason)
        await fire(self.unit, Event.MODE_SWITCHED)
        return None

    async def _create_plan(self, call_id: str, args: CreatePlanArgs) -> TurnResult | None:
        try:
            planning.validate(args)
        except planning.PlanInvalid as exc:
            await self._result(call_id, f"Error: the plan is invalid: {exc}. Correct it and call create_plan again.")
            return None
        s = self.unit.session
        version = await self.unit.tx.plans.latest_version(s.id) + 1
        feedback = await self._revision_feedback() if version > 1 else None
        plan = planning.new_plan(s.id, version, args, feedback)
        await self.unit.tx.plans.add(plan)
        await self.unit.update(active_plan_id=plan.id)
        await self._result(
            call_id,
            f"Plan version {version} ({len(plan.subtasks)} subtasks) was submitted to the user for approval. Stop here.",
        )
        await plan_changed(self.unit, plan.id)
        self.unit.status(
            StatusEvent.PLAN_CREATED, f"plan v{version}: {plan.goal}", {"planId": plan.id, "version": version}
        )
        result = turn_result(
            self.unit, TurnStatus.AWAITING_PLAN_APPROVAL, f"Plan v{version}: {plan.goal}", plan_id=plan.id
        )
        await fire(self.unit, Event.PLAN_CREATED, result=result)
        return result

    async def _revision_feedback(self) -> str | None:
        messages = await self.kit.threads.get(self.unit.session.id, None)
        revisions = [m.content for m in messages if m.kind == "revision"]
        return revisions[-1] if revisions else None

    # --- replies without tool calls ---------------------------------------------

    async def _text_only(self, text: str) -> TurnResult | None:
        s = self.unit.session
        if text:
            await self._say(MessageRole.ASSISTANT, text)
        if self.where.plan and self.where.subtask:
            if s.nudges < PLAN_NUDGES:
                return await self._nudge(PLAN_NUDGE)
            return await self._subtask_done(text or "(no result given)")
        if self.spec.name is AgentName.ARCHITECT:
            if s.nudges < ARCHITECT_NUDGES:
                return await self._nudge(ARCHITECT_NUDGE)
            return await fail(
                self.kit,
                self.unit,
                f"the architect answered {s.nudges + 1} times without calling create_plan or ask_followup_question",
            )
        if not text:
            if s.nudges < EMPTY_NUDGES:
                return await self._nudge(EMPTY_NUDGE)
            return await fail(self.kit, self.unit, "the model kept answering with empty replies")
        return await complete_task(self.unit, text)

    async def _nudge(self, text: str) -> None:
        s = self.unit.session
        await self._say(MessageRole.USER, text, kind="nudge")
        await self.unit.update(nudges=s.nudges + 1)
        await self.unit.tx.usage.add(s.id, self.spec.name, nudges=1)
        self.unit.status(StatusEvent.NUDGED, text, {"agent": self.spec.name, "nudge": s.nudges + 1})
