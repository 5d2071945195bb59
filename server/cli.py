"""`codelab-agent`: the sidecar (default), `acp` (the ACP face), `schema`, `chat` and `sessions`
(the terminal client), and `mcp` (the MCP servers)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from server import __version__

if TYPE_CHECKING:
    from server.lsp.stdio import FrameLimits
    from server.settings import Settings

log = logging.getLogger(__name__)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codelab-agent",
        description="A multi-agent coding assistant that runs as a sidecar of a code editor (JSON-RPC over stdio).",
    )
    parser.add_argument("--version", action="version", version=f"codelab-agent {__version__}")
    parser.add_argument("--stdio", action="store_true", help="speak JSON-RPC on stdin/stdout (the default)")
    parser.add_argument("--db", metavar="PATH", help="SQLite database (default: $XDG_DATA_HOME/codelab-agent/agent.db)")
    parser.add_argument(
        "--model", metavar="NAME", help="model for the agents, e.g. openrouter/openai/gpt-4.1, openai/NAME, demo"
    )
    parser.add_argument("--api-base", metavar="URL", help="API base URL, e.g. of a local OpenAI-compatible server")
    parser.add_argument("--log-file", metavar="PATH", help="write logs there instead of stderr")
    parser.add_argument(
        "--log-level", default="WARNING", choices=LEVELS, type=str.upper, help="default WARNING (editors show stderr)"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="the environment variable holding the key for --api-base (default: $CODELAB_AGENT_API_KEY_ENV)",
    )
    parser.add_argument(
        "--context-window",
        type=_window_tokens,
        metavar="TOKENS",
        help="tokens the model takes in (default: $CODELAB_AGENT_CONTEXT_WINDOW, else litellm's model map, "
        "else 32000); prompts are compacted at 80%% of it",
    )
    parser.add_argument(
        "--max-frame-bytes",
        type=_byte_count,
        metavar="N",
        help="largest message body read from the editor; a bigger one is skipped and answered -32600 "
        "(default: $CODELAB_AGENT_MAX_FRAME_BYTES, else 16 MiB)",
    )
    parser.add_argument(
        "--max-header-bytes",
        type=_byte_count,
        metavar="N",
        help="largest header block of a message (default: $CODELAB_AGENT_MAX_HEADER_BYTES, else 8 KiB)",
    )
    commands = parser.add_subparsers(dest="command", metavar="{schema,chat,sessions,acp,mcp}")
    commands.add_parser("schema", help="print the JSON Schema of the wire protocol")
    acp = commands.add_parser(
        "acp", help="serve the Agent Client Protocol on stdio (Zed, JetBrains, CodeCompanion, avante.nvim, agent-shell)"
    )
    # the sidecar's flags, also accepted after `acp` (SUPPRESS: unset ones keep the values given before it)
    for flag, metavar in (("--db", "PATH"), ("--model", "NAME"), ("--api-base", "URL"), ("--api-key-env", "VAR")):
        acp.add_argument(flag, metavar=metavar, default=argparse.SUPPRESS, help="as for the sidecar")
    acp.add_argument("--log-file", metavar="PATH", default=argparse.SUPPRESS, help="as for the sidecar")
    acp.add_argument(
        "--log-level", choices=LEVELS, type=str.upper, default=argparse.SUPPRESS, help="as for the sidecar"
    )
    acp.add_argument(
        "--context-window", type=_window_tokens, metavar="TOKENS", default=argparse.SUPPRESS, help="as for the sidecar"
    )
    chat = commands.add_parser(
        "chat", help="talk to the agents from the terminal: run a task, then keep the conversation going"
    )
    chat.add_argument("task", nargs="?", help="what to do (omit it to start a conversation, or with --resume)")
    chat.add_argument(
        "--workspace", metavar="DIR", default=".", help="the folder the agents work in, created if missing (default: .)"
    )
    chat.add_argument(
        "--model", dest="chat_model", metavar="NAME", help="model for the agents (default: demo without a key)"
    )
    chat.add_argument("--api-base", dest="chat_api_base", metavar="URL", help="API base URL for the model")
    chat.add_argument(
        "--api-key-env", dest="chat_api_key_env", metavar="VAR", help="the variable holding the key for --api-base"
    )
    chat.add_argument("--db", dest="chat_db", metavar="PATH", help="SQLite database for the sidecar")
    chat.add_argument("--mode", default="auto", choices=("auto", "code", "architect", "debug", "explain"))
    chat.add_argument("--yes", "-y", action="store_true", help="approve every tool call and the plan without asking")
    chat.add_argument("--resume", metavar="SESSION", help="continue a session (in the folder it belongs to)")
    chat.add_argument("--once", action="store_true", help="run the task and exit with its status (no conversation)")
    chat.add_argument(
        "--allow",
        metavar="COMMAND",
        action="append",
        help="a command that runs without asking (repeatable; default: ls, pwd, git status, git diff, git log)",
    )
    chat.add_argument(
        "--deny",
        metavar="COMMAND",
        action="append",
        help="a command refused without asking (repeatable; default: rm -rf, git push, sudo)",
    )
    sessions = commands.add_parser("sessions", help="list the stored sessions, newest first")
    sessions.add_argument("--db", dest="chat_db", metavar="PATH", help="SQLite database (default: the sidecar's)")
    sessions.add_argument(
        "--workspace", dest="sessions_workspace", metavar="DIR", help="only the sessions of this folder"
    )
    sessions.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    mcp = commands.add_parser("mcp", help="the MCP servers the agents may use: list them, approve a workspace's file")
    mcp.add_argument(
        "mcp_action", choices=("list", "approve"), help="list the servers, or approve the workspace's file"
    )
    mcp.add_argument("--workspace", dest="mcp_workspace", metavar="DIR", default=".", help="the workspace (default: .)")
    return parser


_TERMINAL_HINT = """\
codelab-agent is a coding assistant that runs as a sidecar of your editor: the editor
starts it and speaks JSON-RPC to it on stdin/stdout, so typing here does nothing.

  codelab-agent chat                 talk to it from this terminal
  codelab-agent chat "a task"        run a task, then keep talking
  codelab-agent sessions             list the stored sessions
  codelab-agent --stdio              serve an editor on stdin/stdout anyway
  codelab-agent --help               every option
"""


def _byte_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a byte count: {text}")
    return value


class _ExpectedErrors(logging.Filter):
    """pygls logs a traceback for every error response; an error raised on purpose and
    answered to the editor (SessionBusy, InvalidParams, a second initialize, …) is not
    a fault of the sidecar. Unexpected exceptions are not JsonRpcExceptions: they pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pygls.exceptions import JsonRpcException  # noqa: PLC0415

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, JsonRpcException)


def _logging(log_file: str | None, level: str) -> None:
    from server.keys import RedactingFilter  # noqa: PLC0415

    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedErrors())
    quiet = logging.WARNING if level != "DEBUG" else logging.DEBUG
    for name in ("pygls", "LiteLLM", "litellm", "httpx", "httpcore", "mcp", "asyncio"):
        logging.getLogger(name).setLevel(max(quiet, logging.getLogger(name).level))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from protocol.schema import render_schema  # noqa: PLC0415

        sys.stdout.write(render_schema())
        return 0
    if args.command == "chat":
        from server.chat.main import run_chat  # noqa: PLC0415

        return run_chat(args)
    if args.command == "sessions":
        from server.chat.main import run_sessions  # noqa: PLC0415

        return run_sessions(args)
    if args.command == "mcp":
        from server.mcp.commands import run_mcp  # noqa: PLC0415

        return run_mcp(args.mcp_action, Path(args.mcp_workspace))
    if args.command is None and not args.stdio and sys.stdin.isatty():
        sys.stderr.write(_TERMINAL_HINT)
        return 2
    if args.command == "acp":
        return serve_acp(args)
    return serve(args)


def _window_tokens(value: str) -> int:
    try:
        tokens = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of tokens: {value!r}") from None
    if not 1_024 <= tokens <= 10_000_000:
        raise argparse.ArgumentTypeError(f"a context window is 1024 to 10000000 tokens, not {tokens}")
    return tokens


def frame_limits(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> FrameLimits:
    """Flags over environment over defaults."""
    from server.lsp.stdio import FrameLimits  # noqa: PLC0415

    def pick(flag: int | None, variable: str, default: int) -> int:
        if flag is not None:
            return flag
        return _byte_count(env[variable]) if env.get(variable) else default

    defaults = FrameLimits()
    return FrameLimits(
        header_bytes=pick(args.max_header_bytes, "CODELAB_AGENT_MAX_HEADER_BYTES", defaults.header_bytes),
        body_bytes=pick(args.max_frame_bytes, "CODELAB_AGENT_MAX_FRAME_BYTES", defaults.body_bytes),
    )


def serve(args: argparse.Namespace) -> int:
    """The sidecar on stdio. Up to the litellm import (when the model needs it) nothing
    heavy is imported: the import starts ~0.1 s after the process, not after the
    ~0.5 s that pygls, lsprotocol and pydantic take, which it overlaps instead."""
    from server import gcpause  # noqa: PLC0415
    from server.lsp.stdio import stdio_pipes  # noqa: PLC0415

    gcpause.pause()  # resumed once the runtime is built (AgentServer._finish)
    try:
        limits = frame_limits(args)
        settings = _settings(args)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        sys.stderr.write(f"codelab-agent: {exc}\n")
        return 2
    stdin, stdout = stdio_pipes()  # before anything can print
    _logging(args.log_file, args.log_level)
    _start_model_import(settings)
    from server.lsp.server import AgentServer  # noqa: PLC0415

    server = AgentServer(settings)
    code = asyncio.run(_serve(server, stdin, stdout, limits))
    _await_threads(code)
    _leave(code, stdout)


def _settings(args: argparse.Namespace) -> Settings:
    """The sidecar's settings from its flags (over the environment, over defaults)."""
    from server.settings import base_settings  # noqa: PLC0415

    return base_settings(
        db=args.db,
        model=args.model,
        api_base=args.api_base,
        api_key_env=args.api_key_env,
        context_window=args.context_window,
    )


def _start_model_import(settings: Settings) -> None:
    """litellm takes seconds to import: when a configured model needs it, the import
    starts now, on its own thread, rather than once the editor has connected."""
    from server.models import litellm_model  # noqa: PLC0415

    if litellm_model.needed_by(settings.llm.model, settings.llm.classifier):
        litellm_model.start_import()


def serve_acp(args: argparse.Namespace) -> int:
    """The ACP face on stdio, with the sidecar's settings (each session works in its own cwd)."""
    from server import gcpause  # noqa: PLC0415
    from server.lsp.stdio import stdio_pipes  # noqa: PLC0415

    gcpause.pause()  # resumed once the first session's runtime is built (server.acp.agent)
    try:
        settings = _settings(args)
    except ValueError as exc:
        sys.stderr.write(f"codelab-agent: {exc}\n")
        return 2
    stdin, stdout = stdio_pipes()  # before anything can print
    _logging(args.log_file, args.log_level)
    _start_model_import(settings)
    from server.acp.serve import serve as serve_acp_stdio  # noqa: PLC0415

    code = asyncio.run(serve_acp_stdio(settings, stdin, stdout))
    _await_threads(code)
    _leave(code, stdout)


async def _serve(server: object, stdin: BinaryIO, stdout: BinaryIO, limits: FrameLimits) -> int:
    """Serve until `exit` or the end of input; then stop the runtime (running turns are
    cancelled cleanly) and close the database. asyncio.run cancels what is left."""
    from server.lsp.jsonrpc import serve  # noqa: PLC0415
    from server.lsp.server import AgentServer  # noqa: PLC0415

    assert isinstance(server, AgentServer)
    protocol = server.agent_protocol
    try:
        await serve(protocol, stdin, stdout, limits, done=lambda: protocol.exit_received)
    finally:
        await server.close()
    log.info("exiting with code %d", protocol.exit_code)
    return protocol.exit_code


def _leave(code: int, stdout: BinaryIO) -> NoReturn:
    """Exit now that everything is stopped and closed: the database is closed, every
    turn ended, every frame written. Flush what is buffered, then skip the interpreter's
    teardown, which takes over a second once litellm is loaded (its modules' finalizers)
    and has nothing left to do."""
    for stream in (stdout, sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _await_threads(code: int, grace: float = 2.0) -> None:
    """The interpreter waits for every non-daemon thread before it exits; one left
    running (a database connection a cancelled `initialize` never closed) must not keep
    the process alive after `exit`."""
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if left:
        log.warning("threads still running at exit: %s; exiting anyway", ", ".join(left))
        logging.shutdown()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
