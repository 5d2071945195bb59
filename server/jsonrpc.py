"""JSON-RPC plumbing shared by the sidecar and its Python client (the terminal chat).

- `raw_converter`: pygls's default converter turns custom-method params into lossy
  namedtuples and drops requests that have no `params`; this one keeps raw dicts.
- `serve`: the message loop. pygls's own loop logs and drops a body that is not JSON;
  this one answers -32700 (parse error) and -32600 (invalid request) as JSON-RPC says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any, BinaryIO

import cattrs
from lsprotocol import converters
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.io_ import StdoutWriter
from pygls.protocol import JsonRPCNotification, JsonRPCProtocol, JsonRPCRequestMessage, JsonRPCResponseMessage

log = logging.getLogger(__name__)


def _keep_raw(obj: dict[str, Any], cls: type[Any]) -> Any:
    obj.setdefault("params", None)
    return cls(**obj)


def _keep_raw_result(obj: dict[str, Any], cls: type[Any]) -> Any:
    obj.setdefault("result", None)
    return cls(**obj)


def raw_converter() -> cattrs.Converter:
    converter = converters.get_converter()
    converter.register_structure_hook(JsonRPCRequestMessage, _keep_raw)
    converter.register_structure_hook(JsonRPCNotification, _keep_raw)
    converter.register_structure_hook(JsonRPCResponseMessage, _keep_raw_result)
    return converter


class _Reader:
    """Reads LSP frames from the editor's pipe on the event loop (pygls's own reader
    hops to a thread for every line)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    @classmethod
    async def open(cls, pipe: BinaryIO) -> _Reader:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        return cls(reader)

    async def frame(self) -> bytes | None:
        """The next message body, or None at end of input."""
        length: int | None = None
        while True:
            line = await self._stream.readline()
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                if length is None:
                    continue
                try:
                    return await self._stream.readexactly(length)
                except asyncio.IncompleteReadError:
                    return None
            name, _, value = line.decode("ascii", "replace").partition(":")
            if name.strip().lower() == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = None


def _send_error(protocol: JsonRPCProtocol, msg_id: Any, error: JsonRpcException) -> None:
    # A plain dict: lsprotocol's message class would drop `"id": null`, which a parse error needs.
    response = {"jsonrpc": "2.0", "id": msg_id, "error": {"code": error.code, "message": error.message}}
    protocol._send_data(response)  # pyright: ignore[reportPrivateUsage]


def dispatch(protocol: JsonRPCProtocol, body: bytes) -> None:
    """Decode one message and hand it to pygls, answering malformed ones with an error."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        _send_error(protocol, None, JsonRpcParseError(f"Parse error: {exc}"))
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":  # pyright: ignore[reportUnknownMemberType]
        msg_id = data.get("id") if isinstance(data, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        _send_error(protocol, msg_id, JsonRpcInvalidRequest("Invalid Request: expected a JSON-RPC 2.0 object"))
        return
    message: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    msg_id = message.get("id")
    if "method" in message and not isinstance(message["method"], str):
        _send_error(protocol, msg_id, JsonRpcInvalidRequest("Invalid Request: method must be a string"))
        return
    if "method" not in message and "result" not in message and "error" not in message:
        _send_error(protocol, msg_id, JsonRpcInvalidRequest("Invalid Request: no method, result or error"))
        return
    try:
        structured = protocol.structure_message(message)
    except JsonRpcException as exc:
        if msg_id is not None and "method" in message:
            _send_error(protocol, msg_id, exc)
        else:
            log.warning("dropped an unreadable message: %s", exc.message)
        return
    protocol.handle_message(structured)  # pyright: ignore[reportArgumentType]


async def serve(protocol: JsonRPCProtocol, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Read and dispatch messages until the input ends (`exit` raises SystemExit)."""
    protocol.set_writer(StdoutWriter(stdout))
    reader = await _Reader.open(stdin)
    while (body := await reader.frame()) is not None:
        try:
            dispatch(protocol, body)
        except Exception:
            log.exception("failed to handle a message")
    log.info("the editor closed the input stream")


def stdio_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Keep the real stdout for protocol frames and point fd 1 (and `sys.stdout`) at
    stderr, so nothing a library prints can corrupt the stream."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, os.fdopen(protocol_fd, "wb")
