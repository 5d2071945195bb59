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
from typing import Any

from server.chat.client import SidecarClient, SidecarExited
from server.chat.tools import WorkspaceTools
from server.settings import DEMO_MODEL, default_model

EXIT_CODES = {"completed": 0, "failed": 1, "cancelled": 130}
STATUS_MARK = {"pending": " ", "in_progress": "…", "done": "✓", "failed": "✗", "skipped": "-"}


def _say(text: str = "", *, end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


async def _ask(prompt: str) -> str:
    try:
        return (await asyncio.to_thread(input, prompt)).strip()
    except EOFError:
        return ""


class Chat:
    def __init__(self, args: argparse.Namespace, workspace: Path) -> None:
        self.args = args
        self.tools = WorkspaceTools(workspace)
        self.calls: dict[str, dict[str, Any]] = {}
        self.streaming = False
        self.session: str | None = args.resume
        self.client = SidecarClient(self._on_notification)

    # --- what the sidecar tells us -------------------------------------------------

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if self.session is None and "sessionId" in params:
            self.session = params["sessionId"]
            self._end_stream()
            _say(f"  · session {self.session}")
        if method == "agent/stream":
            if not self.streaming:
                _say(f"[{params['agent']}] ", end="")
                self.streaming = True
            _say(params["delta"], end="")
            return
        self._end_stream()
        if method == "agent/toolCall":
            self.calls[params["callId"]] = params
        elif method == "agent/status" and params["event"] not in ("state_changed", "nudged"):
            _say(f"  · {params['event']}: {params['detail']}")
        elif method == "agent/planUpdate":
            plan = params["plan"]
            if plan["status"] in ("in_progress", "awaiting_approval", "completed", "failed"):
                self._show_plan(plan)

    def _end_stream(self) -> None:
        if self.streaming:
            _say()
            self.streaming = False

    def _show_plan(self, plan: dict[str, Any]) -> None:
        _say(f"Plan v{plan['version']} ({plan['status']}): {plan['goal']}")
        for s in plan["subtasks"]:
            deps = f" after {', '.join(s['dependencies'])}" if s["dependencies"] else ""
            _say(f"  [{STATUS_MARK.get(s['status'], '?')}] {s['id']} {s['title']} ({s['agent']}{deps})")

    # --- the loop ------------------------------------------------------------------

    async def run(self, sidecar_args: list[str]) -> int:
        await self.client.start(
            sidecar_args, self.tools.root, show_logs=bool(os.environ.get("CODELAB_AGENT_CHAT_LOGS"))
        )
        try:
            if self.args.resume:
                result = await self.client.request("agent/resume", {"sessionId": self.args.resume})
            else:
                result = await self.client.request(
                    "agent/sendMessage", {"text": self.args.task, "mode": self.args.mode}
                )
            while True:
                self._end_stream()
                status = result["status"]
                if status in EXIT_CODES:
                    return self._finish(result)
                if status == "awaiting_tool_results":
                    result = await self._tool_calls(result)
                elif status == "awaiting_user_input":
                    result = await self._question(result)
                elif status == "awaiting_plan_approval":
                    result = await self._plan(result)
        except SidecarExited as exc:
            self._end_stream()
            _say(f"Stopped: {exc}.")
            if self.session:
                _say(f"  · continue with: codelab-agent chat --resume {self.session}")
            return 1
        except asyncio.CancelledError:
            return 130
        finally:
            await self.client.stop()

    def _finish(self, result: dict[str, Any]) -> int:
        status = result["status"]
        if status == "failed":
            error: dict[str, Any] = result.get("error") or {}
            _say(f"Failed: {error.get('message') or result.get('message')}")
        elif result.get("message"):
            _say(result["message"])
        return EXIT_CODES[status]

    async def _tool_calls(self, result: dict[str, Any]) -> dict[str, Any]:
        session = result["sessionId"]
        for call_id in result["pendingToolCalls"]:
            call = self.calls[call_id]
            answer: dict[str, Any] = {"sessionId": session, "callId": call_id}
            verdict, feedback = (
                await self._approve(call) if call["requiresApproval"] and not self.args.yes else ("y", "")
            )
            if verdict == "n":
                answer.update(status="rejected", feedback=feedback or None)
            else:
                status, content = self.tools.run(call["name"], call["arguments"])
                answer.update(status=status.value, content=content, remember=verdict == "a")
                _say(f"  · {call['name']}: {status.value}")
            result = await self.client.request("agent/toolResult", {k: v for k, v in answer.items() if v is not None})
        return result

    async def _approve(self, call: dict[str, Any]) -> tuple[str, str]:
        _say(f"\n{call['name']} {json.dumps({k: v for k, v in call['arguments'].items() if k != 'content'})}")
        if call.get("reason"):
            _say(f"  ({call['reason']})")
        diff = self.tools.preview(call["name"], call["arguments"])
        if diff:
            _say(diff.rstrip())
        while True:
            choice = (await _ask("Run it? [y]es / [a]lways / [n]o: ")).lower()[:1]
            if choice in ("y", "a"):
                return choice, ""
            if choice in {"n", ""}:
                return "n", await _ask("Feedback for the agent (optional): ")

    async def _question(self, result: dict[str, Any]) -> dict[str, Any]:
        _say(f"? {result.get('message')}")
        answer = await _ask("> ")
        if not answer:  # no answer (end of input): end the turn rather than wait forever
            await self.client.request("agent/cancel", {"sessionId": result["sessionId"]})
            return {**result, "status": "cancelled"}
        return await self.client.request("agent/sendMessage", {"sessionId": result["sessionId"], "text": answer})

    async def _plan(self, result: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"sessionId": result["sessionId"], "planId": result["planId"], "decision": "approve"}
        if not self.args.yes:
            choice = (await _ask("Approve the plan? [a]pprove / [r]eject / re[v]ise: ")).lower()[:1]
            if choice == "r":
                params["decision"] = "reject"
            elif choice == "v":
                params.update(decision="revise", feedback=await _ask("What should change? "))
        return await self.client.request("agent/approvePlan", params)


def run_chat(args: argparse.Namespace) -> int:
    if not args.task and not args.resume:
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
