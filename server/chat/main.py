"""`codelab-agent chat`: run a task from the terminal, as an editor would.

It starts the sidecar, sends the task, prints the streamed text, runs the tool calls
in the workspace (asking y/n for those that need approval, unless `--yes`), shows
plans and asks to approve them, answers the agents' questions from the keyboard, and
exits with the turn's status: 0 completed, 1 failed, 130 cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from lsprotocol.types import ProgressParams

from protocol.enums import Mode, PlanDecision, PlanStatus, StatusEvent, SubtaskStatus, ToolResultStatus, TurnStatus
from protocol.methods import (
    APPROVE_PLAN,
    CANCEL,
    RESUME,
    SEND_MESSAGE,
    TOOL_RESULT,
    ApprovePlanParams,
    CancelParams,
    ResumeParams,
    SendMessageParams,
    ToolResultParams,
    TurnResult,
    TurnUsage,
)
from protocol.notifications import (
    PlanUpdateNotification,
    StatusNotification,
    StreamNotification,
    ToolCallNotification,
)
from protocol.plans import Plan
from server.chat.client import MalformedMessage, Notice, SidecarClient, SidecarError
from server.chat.tools import WorkspaceTools
from server.settings import DEMO_MODEL, default_model

EXIT_CODES = {TurnStatus.COMPLETED: 0, TurnStatus.FAILED: 1, TurnStatus.CANCELLED: 130}
STATUS_MARK = {
    SubtaskStatus.PENDING: " ",
    SubtaskStatus.IN_PROGRESS: "…",
    SubtaskStatus.DONE: "✓",
    SubtaskStatus.FAILED: "✗",
    SubtaskStatus.SKIPPED: "-",
}
QUIET_EVENTS = (StatusEvent.STATE_CHANGED, StatusEvent.NUDGED)
SHOWN_PLANS = (PlanStatus.IN_PROGRESS, PlanStatus.AWAITING_APPROVAL, PlanStatus.COMPLETED, PlanStatus.FAILED)


def _say(text: str = "", *, end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _dim(text: str) -> str:
    """Faint text on a terminal that shows colours (not with NO_COLOR, not into a pipe)."""
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\x1b[2m{text}\x1b[0m"
    return text


def usage_line(usage: TurnUsage) -> str:
    """One line on what a turn used: requests, tokens in (cached) and out, cost."""
    cost = f"${usage.cost_usd:.4f}" if usage.cost_usd is not None else "cost unknown"
    requests = f"{usage.requests} request{'' if usage.requests == 1 else 's'}"
    tokens = f"{usage.prompt_tokens:,} tokens in ({usage.cached_tokens:,} cached), {usage.completion_tokens:,} out"
    return f"  · usage: {requests}, {tokens}, {cost}"


async def _ask(prompt: str) -> str:
    try:
        return (await asyncio.to_thread(input, prompt)).strip()
    except EOFError:
        return ""


class Chat:
    def __init__(self, args: argparse.Namespace, workspace: Path) -> None:
        self.args = args
        self.tools = WorkspaceTools(workspace)
        self.calls: dict[str, ToolCallNotification] = {}
        self.streaming: str | None = None
        """What is streaming on the current line: "text", "thought", or nothing."""
        self.session: str | None = args.resume
        self.client = SidecarClient(self._on_notification)

    # --- what the sidecar tells us -------------------------------------------------

    def _on_notification(self, notice: Notice) -> None:
        if self.session is None and not isinstance(notice, ProgressParams):
            self.session = notice.session_id
            self._end_stream()
            _say(f"  · session {self.session}")
        if isinstance(notice, StreamNotification):
            self._stream(notice)
            return
        self._end_stream()
        if isinstance(notice, ToolCallNotification):
            self.calls[notice.call_id] = notice
        elif isinstance(notice, StatusNotification) and notice.event not in QUIET_EVENTS:
            _say(f"  · {notice.event}: {notice.detail}")
        elif isinstance(notice, PlanUpdateNotification) and notice.plan.status in SHOWN_PLANS:
            self._show_plan(notice.plan)

    def _stream(self, notice: StreamNotification) -> None:
        """Text as it comes; thoughts dimmed, on lines of their own."""
        kind = notice.kind or "text"
        if self.streaming != kind:
            self._end_stream()
            _say(f"[{notice.agent}] " if kind == "text" else _dim(f"[{notice.agent} thinking] "), end="")
            self.streaming = kind
        _say(_dim(notice.delta) if kind == "thought" else notice.delta, end="")

    def _end_stream(self) -> None:
        if self.streaming:
            _say()
            self.streaming = None

    def _show_plan(self, plan: Plan) -> None:
        _say(f"Plan v{plan.version} ({plan.status}): {plan.goal}")
        for s in plan.subtasks:
            deps = f" after {', '.join(s.dependencies)}" if s.dependencies else ""
            _say(f"  [{STATUS_MARK[s.status]}] {s.id} {s.title} ({s.agent}{deps})")

    # --- the loop ------------------------------------------------------------------

    async def run(self, sidecar_args: list[str]) -> int:
        await self.client.start(
            sidecar_args, self.tools.root, show_logs=bool(os.environ.get("CODELAB_AGENT_CHAT_LOGS"))
        )
        try:
            if self.args.resume:
                result = await self.client.turn(RESUME, ResumeParams(session_id=self.args.resume))
            else:
                result = await self.client.turn(
                    SEND_MESSAGE, SendMessageParams(text=self.args.task, mode=Mode(self.args.mode))
                )
            while True:
                self._end_stream()
                if result.status in EXIT_CODES:
                    return self._finish(result)
                if result.status == TurnStatus.AWAITING_TOOL_RESULTS:
                    result = await self._tool_calls(result)
                elif result.status == TurnStatus.AWAITING_USER_INPUT:
                    result = await self._question(result)
                elif result.status == TurnStatus.AWAITING_PLAN_APPROVAL:
                    result = await self._plan(result)
        except SidecarError as exc:
            self._end_stream()
            _say(f"Stopped: {exc}.")
            if self.session:
                _say(f"  · continue with: codelab-agent chat --resume {self.session}")
            return 1
        except asyncio.CancelledError:
            return 130
        finally:
            await self.client.stop()

    def _finish(self, result: TurnResult) -> int:
        if result.status == TurnStatus.FAILED:
            _say(f"Failed: {(result.error.message if result.error else None) or result.message}")
        elif result.message:
            _say(result.message)
        if result.usage is not None:
            _say(usage_line(result.usage))
        return EXIT_CODES[result.status]

    async def _tool_calls(self, result: TurnResult) -> TurnResult:
        session = result.session_id
        for call_id in result.pending_tool_calls:
            call = self.calls.get(call_id)
            if call is None:
                raise MalformedMessage("turn result", f"pending tool call {call_id} was never announced")
            verdict, feedback = await self._approve(call) if call.requires_approval and not self.args.yes else ("y", "")
            if verdict == "n":
                answer = ToolResultParams(
                    session_id=session, call_id=call_id, status=ToolResultStatus.REJECTED, feedback=feedback or None
                )
            else:
                status, content = self.tools.run(call.name, call.arguments)
                answer = ToolResultParams(
                    session_id=session, call_id=call_id, status=status, content=content, remember=verdict == "a"
                )
                _say(f"  · {call.name}: {status.value}")
            result = await self.client.turn(TOOL_RESULT, answer)
        return result

    async def _approve(self, call: ToolCallNotification) -> tuple[str, str]:
        _say(f"\n{call.name} {json.dumps({k: v for k, v in call.arguments.items() if k != 'content'})}")
        if call.reason:
            _say(f"  ({call.reason})")
        diff = self.tools.preview(call.name, call.arguments)
        if diff:
            _say(diff.rstrip())
        while True:
            choice = (await _ask("Run it? [y]es / [a]lways / [n]o: ")).lower()[:1]
            if choice in ("y", "a"):
                return choice, ""
            if choice in {"n", ""}:
                return "n", await _ask("Feedback for the agent (optional): ")

    async def _question(self, result: TurnResult) -> TurnResult:
        _say(f"? {result.message}")
        answer = await _ask("> ")
        if not answer:  # no answer (end of input): end the turn rather than wait forever
            await self.client.request(CANCEL, CancelParams(session_id=result.session_id))
            cancelled = result.model_copy()
            cancelled.status = TurnStatus.CANCELLED
            return cancelled
        return await self.client.turn(SEND_MESSAGE, SendMessageParams(session_id=result.session_id, text=answer))

    async def _plan(self, result: TurnResult) -> TurnResult:
        decision, feedback = PlanDecision.APPROVE, None
        if not self.args.yes:
            choice = (await _ask("Approve the plan? [a]pprove / [r]eject / re[v]ise: ")).lower()[:1]
            if choice == "r":
                decision = PlanDecision.REJECT
            elif choice == "v":
                decision, feedback = PlanDecision.REVISE, await _ask("What should change? ")
        if result.plan_id is None:
            raise MalformedMessage("turn result", f"{result.status} without a plan id")
        params = ApprovePlanParams(
            session_id=result.session_id, plan_id=result.plan_id, decision=decision, feedback=feedback
        )
        return await self.client.turn(APPROVE_PLAN, params)


def run_chat(args: argparse.Namespace) -> int:
    if not (args.task and args.task.strip()) and not args.resume:
        sys.stderr.write("codelab-agent chat: give a task, or --resume SESSION\n")
        return 2
    workspace = Path(args.workspace).expanduser().resolve()
    if not workspace.is_dir():
        sys.stderr.write(f"codelab-agent chat: {workspace} is not a directory\n")
        return 2
    model = args.chat_model or args.model or os.environ.get("CODELAB_AGENT_MODEL") or default_model()
    if model == DEMO_MODEL:
        sys.stderr.write(
            "No model configured and no provider key found: using the offline demo model.\n"
            "Set OPENROUTER_API_KEY, OPENAI_API_KEY or ANTHROPIC_API_KEY, or pass --model, for a real one.\n"
        )
    sidecar = ["--model", model, "--log-level", "WARNING"]
    api_base = args.chat_api_base or args.api_base
    if api_base:
        sidecar += ["--api-base", api_base]
    api_key_env = args.chat_api_key_env or args.api_key_env
    if api_key_env:
        sidecar += ["--api-key-env", api_key_env]
    if args.chat_db or args.db:
        sidecar += ["--db", args.chat_db or args.db]
    chat = Chat(args, workspace)
    try:
        return asyncio.run(chat.run(sidecar))
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
