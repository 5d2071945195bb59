"""`codelab-agent chat` and `codelab-agent sessions`: the terminal client's entry points.

`chat` starts the sidecar before anything else, so that the sidecar's imports (litellm's
above all) overlap the user's typing; then it runs the task, or opens a conversation
when there is none, and keeps the conversation open after a task on a terminal unless
`--once`. It exits with the last turn's status — 0 completed, 1 failed (or the sidecar
could not go on), 130 cancelled, 2 for a usage error — straight after the sidecar has
closed its database and the output is flushed, skipping the interpreter's teardown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from protocol.enums import Mode
from server.chat import launch
from server.settings import DEMO_MODEL, default_model

if TYPE_CHECKING:
    from server.chat.client import Notice
    from server.chat.sidecar import Sidecar

ALLOWED_COMMANDS = ("ls", "pwd", "git status", "git diff", "git log")
"""Commands the terminal client lets run without asking, unless `--allow` says otherwise."""
DENIED_COMMANDS = ("rm -rf", "git push", "sudo")
"""Commands it refuses without asking, unless `--deny` says otherwise."""


def _sidecar_args(args: argparse.Namespace, model: str) -> list[str]:
    sidecar = ["--model", model, "--log-level", args.log_level if args.log_file else "WARNING"]
    if args.log_file:  # `codelab-agent --log-file PATH --log-level INFO chat …`: the sidecar's log
        sidecar += ["--log-file", str(Path(args.log_file).expanduser().resolve())]
    api_base = getattr(args, "chat_api_base", None) or args.api_base
    if api_base:
        sidecar += ["--api-base", api_base]
    api_key_env = getattr(args, "chat_api_key_env", None) or args.api_key_env
    if api_key_env:
        sidecar += ["--api-key-env", api_key_env]
    db = getattr(args, "chat_db", None) or args.db
    if db:
        sidecar += ["--db", str(Path(db).expanduser().resolve())]
    return sidecar


def _resume_args(args: argparse.Namespace) -> list[str]:
    """The flags `chat --resume ID` needs to find the same session with the same model."""
    extra: list[str] = []
    for flag, value in (
        ("--db", args.chat_db or args.db),
        ("--model", args.chat_model or args.model),
        ("--api-base", args.chat_api_base or args.api_base),
        ("--api-key-env", args.chat_api_key_env or args.api_key_env),
    ):
        if value:
            extra += [flag, str(Path(value).expanduser().resolve()) if flag == "--db" else value]
    return extra


def _approval(args: argparse.Namespace) -> dict[str, Any]:
    allowed = args.allow if args.allow is not None else list(ALLOWED_COMMANDS)
    denied = args.deny if args.deny is not None else list(DENIED_COMMANDS)
    return {"approval": {"allowedCommands": allowed, "deniedCommands": denied}}


def _leave(code: int) -> NoReturn:
    """Exit now: the sidecar has stopped and closed its database; only flushing is left."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _quiet_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A request abandoned at Ctrl-C may be answered later; nothing of it is for the user."""
    loop.set_exception_handler(lambda _loop, context: logging.getLogger(__name__).debug("%s", context))


def run_chat(args: argparse.Namespace) -> int:
    model = args.chat_model or args.model or os.environ.get("CODELAB_AGENT_MODEL") or default_model()
    try:
        code = asyncio.run(_chat(args, model))
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        code = 130
    _leave(code)


async def _chat(args: argparse.Namespace, model: str) -> int:
    # the sidecar first, on nothing but the standard library: the client's own imports
    # (~0.6 s) then overlap its start and litellm's import
    started = await launch.start(_sidecar_args(args, model))
    from server.chat.sidecar import Sidecar  # noqa: PLC0415 - after the sidecar started

    loop = asyncio.get_running_loop()
    _quiet_loop(loop)
    this = asyncio.current_task()
    assert this is not None
    loop.add_signal_handler(signal.SIGINT, this.cancel)
    receivers: list[Any] = []

    def forward(notice: Notice) -> None:
        for receiver in receivers:
            receiver(notice)

    sidecar = Sidecar(
        _sidecar_args(args, model),
        forward,
        _approval(args),
        show_logs=bool(os.environ.get("CODELAB_AGENT_CHAT_LOGS")),
    )
    try:
        await sidecar.spawn(started)  # its imports overlap everything below, the user's typing included
        return await _converse(args, model, sidecar, receivers)
    except asyncio.CancelledError:
        sys.stdout.write("\nInterrupted.\n")
        return 130
    finally:
        await sidecar.stop()


async def _converse(args: argparse.Namespace, model: str, sidecar: Sidecar, receivers: list[Any]) -> int:
    from server.chat.client import Refused, SidecarError  # noqa: PLC0415 - after the sidecar started

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    task = args.task.strip() if args.task else None
    if (args.task is not None and not task) or (not task and not args.resume and not interactive):
        sys.stderr.write("codelab-agent chat: give a task, or --resume SESSION (or run it in a terminal to talk)\n")
        return 2
    workspace = _workspace(args.workspace)
    if workspace is None:
        return 2
    if model == DEMO_MODEL:
        sys.stderr.write(
            "No model configured and no provider key found: using the offline demo model.\n"
            "Set OPENROUTER_API_KEY, OPENAI_API_KEY or ANTHROPIC_API_KEY, or pass --model, for a real one.\n"
        )
    from server.chat.conversation import Conversation  # noqa: PLC0415 - after the sidecar started
    from server.chat.keyboard import Keyboard  # noqa: PLC0415
    from server.chat.screen import Screen, fancy_terminal  # noqa: PLC0415
    from server.chat.turns import Options, Turns  # noqa: PLC0415

    screen = Screen(fancy_terminal())
    keyboard = Keyboard(screen, interactive, _history_file())
    options = Options(workspace=workspace, mode=Mode(args.mode), yes=args.yes, resume_args=_resume_args(args))
    turns = Turns(sidecar, screen, keyboard, options)
    receivers.append(turns.on_notice)
    conversation = Conversation(turns)
    converse = interactive and not args.once
    if converse:
        screen.line(f"codelab-agent chat · {workspace} · model {model}", "bold")
        screen.line("/help for commands · Ctrl-C cancels a turn · Ctrl-D leaves", "dim")
    try:
        await sidecar.open(workspace)
    except (SidecarError, Refused) as exc:
        screen.line(f"Could not start the sidecar: {exc}.", "red")
        return 1
    main = asyncio.ensure_future(conversation.start(task, args.resume, converse=converse))
    turns.watch_interrupts(main)
    try:
        return await main
    except asyncio.CancelledError:
        screen.idle()
        if turns.fatal is not None:
            screen.line(f"Stopped: {turns.fatal}.", "red")
            conversation.goodbye()
            return 1
        screen.line("Stopped.", "yellow")
        conversation.goodbye()
        return 130
    except SidecarError as exc:
        screen.idle()
        screen.line(f"Stopped: {exc}.", "red")
        conversation.goodbye()
        return 1


def _workspace(given: str) -> Path | None:
    """The workspace folder, made when missing (as `mkdir -p`); None (said why) when it cannot be."""
    workspace = Path(given).expanduser().resolve()
    if workspace.exists() and not workspace.is_dir():
        sys.stderr.write(f"codelab-agent chat: {workspace} is not a folder\n")
        return None
    if not workspace.exists():
        try:
            workspace.mkdir(parents=True)
        except OSError as exc:
            sys.stderr.write(f"codelab-agent chat: cannot create the workspace {workspace}: {exc.strerror}\n")
            return None
        sys.stderr.write(f"Created the workspace folder {workspace}.\n")
    return workspace


def _history_file() -> Path | None:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "codelab-agent"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base / "chat_history"


# --- codelab-agent sessions ------------------------------------------------------------------------


def _folder(given: str | None) -> Path:
    return Path(given).expanduser().resolve() if given else Path.cwd()


def run_sessions(args: argparse.Namespace) -> int:
    try:
        code = asyncio.run(_sessions(args))
    except KeyboardInterrupt:
        code = 130
    _leave(code)


async def _sessions(args: argparse.Namespace) -> int:
    from protocol.methods import LIST_SESSIONS, ListSessionsParams, ListSessionsResult  # noqa: PLC0415
    from server.chat.client import Refused, SidecarError  # noqa: PLC0415
    from server.chat.sessions import session_lines  # noqa: PLC0415
    from server.chat.sidecar import Sidecar  # noqa: PLC0415

    _quiet_loop(asyncio.get_running_loop())
    here = _folder(args.sessions_workspace)
    sidecar = Sidecar(_sidecar_args(args, DEMO_MODEL), lambda _: None, {})
    try:
        await sidecar.spawn()
        await sidecar.open(here)
        listed = await sidecar.client.request(
            LIST_SESSIONS, ListSessionsParams(limit=args.limit, all_workspaces=not args.sessions_workspace)
        )
    except (SidecarError, Refused) as exc:
        sys.stderr.write(f"codelab-agent sessions: {exc}\n")
        return 1
    finally:
        await sidecar.stop()
    assert isinstance(listed, ListSessionsResult)
    if not listed.sessions:
        sys.stdout.write("No sessions yet.\n")
        return 0
    for line in session_lines(listed.sessions, workspaces=True):
        sys.stdout.write(line + "\n")
    sys.stdout.write("Continue one with: codelab-agent chat --resume ID\n")
    return 0
