"""`codelab-agent`: the sidecar (default), `schema`, and `chat` (the terminal client)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import BinaryIO

from server import __version__

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
    commands = parser.add_subparsers(dest="command", metavar="{schema,chat}")
    commands.add_parser("schema", help="print the JSON Schema of the wire protocol")
    chat = commands.add_parser("chat", help="run a task from the terminal (the sidecar's terminal client)")
    chat.add_argument("task", nargs="?", help="what to do (omit with --resume)")
    chat.add_argument("--workspace", metavar="DIR", default=".", help="the directory the agents work in (default: .)")
    chat.add_argument(
        "--model", dest="chat_model", metavar="NAME", help="model for the agents (default: demo without a key)"
    )
    chat.add_argument("--api-base", dest="chat_api_base", metavar="URL", help="API base URL for the model")
    chat.add_argument("--db", dest="chat_db", metavar="PATH", help="SQLite database for the sidecar")
    chat.add_argument("--mode", default="auto", choices=("auto", "code", "architect", "debug", "explain"))
    chat.add_argument("--yes", "-y", action="store_true", help="approve every tool call and the plan without asking")
    chat.add_argument("--resume", metavar="SESSION", help="continue an interrupted session")
    return parser


class _ExpectedErrors(logging.Filter):
    """pygls logs a traceback for every error response; a domain error answered to the
    editor (SessionBusy, InvalidParams, …) is not a fault of the sidecar."""

    def filter(self, record: logging.LogRecord) -> bool:
        from protocol.errors import AgentError  # noqa: PLC0415

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, AgentError)


def _logging(log_file: str | None, level: str) -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedErrors())
    quiet = logging.WARNING if level != "DEBUG" else logging.DEBUG
    for name in ("pygls", "LiteLLM", "litellm", "httpx", "httpcore", "aiosqlite", "asyncio"):
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
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    from server.jsonrpc import stdio_pipes  # noqa: PLC0415

    stdin, stdout = stdio_pipes()  # before anything can print
    _logging(args.log_file, args.log_level)
    from server import agents  # noqa: PLC0415
    from server.lsp import AgentServer  # noqa: PLC0415
    from server.settings import base_settings  # noqa: PLC0415

    agents.validate()
    server = AgentServer(base_settings(db=args.db, model=args.model, api_base=args.api_base))
    try:
        asyncio.run(_serve(server, stdin, stdout))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


async def _serve(server: object, stdin: BinaryIO, stdout: BinaryIO) -> None:
    from server.jsonrpc import serve  # noqa: PLC0415
    from server.lsp import AgentServer  # noqa: PLC0415

    assert isinstance(server, AgentServer)
    try:
        await serve(server.protocol, stdin, stdout)
    finally:
        if server.app is not None:
            await server.app.close()


if __name__ == "__main__":
    sys.exit(main())
