"""The conversation: a task, then the user's next messages in the same session, and the
slash commands between them."""

from __future__ import annotations

from pathlib import Path

from protocol.enums import Mode
from protocol.methods import LIST_SESSIONS, ListSessionsParams, ListSessionsResult
from server.chat.sessions import session_lines
from server.chat.turns import Quit, Turns

HELP = """\
Type a task or a follow-up and press Enter (Alt-Enter or Esc Enter for a new line).
  /help           this help
  /sessions       the sessions of this workspace
  /resume ID      continue a session (it may belong to another folder)
  /new            start a new session with the next message
  /plan           the session's plan and where it stands
  /cost           what the session used: requests, tokens, cost, time
  /mode NAME      who takes the next messages: auto, code, architect, debug, explain
  /quit           leave (Ctrl-D does too)
Ctrl-C cancels a running turn; a second Ctrl-C quits.
Approvals: [y]es / [a]lways (this tool, or this command, for the session) / [n]o + feedback."""


class Conversation:
    def __init__(self, turns: Turns) -> None:
        self.turns = turns
        self.screen = turns.screen

    async def start(self, task: str | None, resume: str | None, *, converse: bool) -> int:
        """Run the task (or resume the session), then take more messages if `converse`."""
        code = 0
        if resume:
            code = await self.resume(resume)
            if code == 2:
                return code
        elif task:
            code = await self.turns.send(task)
        if not converse:
            return code
        try:
            await self.converse()
        except Quit as leaving:
            code = leaving.code
        self.goodbye()
        return code

    def goodbye(self) -> None:
        if self.turns.session:
            self.screen.note(f"session {self.turns.session}: continue with {self.turns.resume_command()}")

    async def resume(self, session_id: str) -> int:
        """Continue a session, in the workspace it belongs to; 2 when there is no such session."""
        found = await self.turns.session_info(session_id)
        if found is None:
            return 2
        info = found.session
        self.screen.note(f"resuming session {info.id}: {info.title} ({info.state})")
        root = Path(info.workspace_root) if info.workspace_root else None
        if root is not None and root != self.turns.tools.root:
            if not root.is_dir():
                self.screen.line(f"The session's workspace {root} is not a folder any more.", "red")
                return 2
            self.screen.note(f"it works in {root}")
            await self.turns.switch_workspace(root)
        return await self.turns.resume(info.id)

    async def converse(self) -> None:
        interrupted = False
        while True:
            mode = "" if self.turns.mode is Mode.AUTO else f"[{self.turns.mode}] "
            try:
                text = await self.turns.keyboard.message(f"{mode}› ")
            except KeyboardInterrupt:
                if interrupted:
                    raise Quit(130) from None
                interrupted = True
                self.screen.line("  (Ctrl-C again, Ctrl-D or /quit leaves)", "dim")
                continue
            interrupted = False
            if text is None:
                raise Quit
            text = text.strip()
            if text.startswith("/"):
                await self.command(text)
            elif text:
                await self.turns.send(text)

    async def command(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name in ("/quit", "/exit"):
            raise Quit
        if name == "/help":
            self.screen.line(HELP)
        elif name == "/sessions":
            await self.sessions()
        elif name == "/resume" and argument:
            await self.resume(argument)
        elif name == "/new":
            self.turns.session = None
            self.screen.note("the next message starts a new session")
        elif name == "/mode":
            self.mode(argument)
        elif name == "/plan":
            await self.plan()
        elif name == "/cost":
            await self.cost()
        else:
            self.screen.line(f"Unknown command {text}; /help lists them.", "yellow")

    def mode(self, name: str) -> None:
        try:
            self.turns.mode = Mode(name.lower())
        except ValueError:
            choices = ", ".join(m.value for m in Mode)
            self.screen.line(f"Mode: {self.turns.mode}. Choose one of {choices}.", "yellow")
            return
        self.screen.note(f"next messages go to: {self.turns.mode}")

    async def sessions(self) -> None:
        listed = await self.turns.request(LIST_SESSIONS, ListSessionsParams(limit=20))
        assert isinstance(listed, ListSessionsResult)
        for line in session_lines(listed.sessions, workspaces=False) or ["No sessions in this workspace yet."]:
            self.screen.line(line)

    async def plan(self) -> None:
        found = await self.turns.session_info(self.turns.session) if self.turns.session else None
        if found is None or found.plan is None:
            self.screen.line("No plan in this session.")
            return
        self.screen.plan(found.plan, found.plan.status.replace("_", " "))

    async def cost(self) -> None:
        found = await self.turns.session_info(self.turns.session) if self.turns.session else None
        if found is None:
            self.screen.line("No session yet.")
            return
        total = found.usage.total
        cost = f"${total.cost_usd:.4f}" if total.cost_usd is not None else "cost unknown"
        self.screen.line(
            f"{total.requests} requests, {total.prompt_tokens:,} tokens in ({total.cached_tokens:,} cached), "
            f"{total.completion_tokens:,} out, {cost}, {total.duration_ms / 1000:.1f}s of model time"
        )
