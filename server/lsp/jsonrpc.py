"""JSON-RPC plumbing shared by the sidecar and its Python client (the terminal chat).

- `raw_converter`: pygls's default converter turns custom-method params into lossy
  namedtuples and drops requests that have no `params`; this one keeps raw dicts.
- `server.lsp.framing.FrameReader` reads the frames (bounded headers and bodies).
- `dispatch`: pygls's own loop logs and drops a body that is not JSON; this answers
  -32700 (parse error) and -32600 (invalid request) as JSON-RPC says, and refuses
  what pygls would choke on (ids that are not strings or integers, deep nesting).
- `serve`: the message loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any, BinaryIO

import cattrs
from lsprotocol import converters
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.io_ import StdoutWriter
from pygls.protocol import JsonRPCNotification, JsonRPCProtocol, JsonRPCRequestMessage, JsonRPCResponseMessage

from server.lsp.framing import FrameReader
from server.lsp.stdio import FrameLimits

log = logging.getLogger(__name__)

MsgId = str | int


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


# --- messages ------------------------------------------------------------------------


class Rejected(Exception):
    """A message answered with an error before it reaches pygls."""

    def __init__(self, error: JsonRpcException, msg_id: MsgId | None = None, *, answer: bool = True) -> None:
        super().__init__(error.message)
        self.error = error
        self.msg_id = msg_id
        self.answer = answer
        """False for a response (the editor answering the sidecar): never answered."""


def valid_id(value: Any) -> bool:
    """JSON-RPC ids are strings or integers (null only in an error response)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"(\s*:)?|[\[{]+|[\]}]+')
_DECODER = json.JSONDecoder()
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _scalar_id(text: str, at: int) -> MsgId | None:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    if at >= len(text) or text[at] not in '"-0123456789':
        return None  # null, a container, true/false: no usable id
    try:
        value, _ = _DECODER.raw_decode(text, at)
    except ValueError:
        return None
    return value if valid_id(value) else None


def _check_depth(text: str, limit: int) -> None:
    """Refuse arrays/objects nested deeper than `limit`, before json.loads recurses.
    The answer carries the top-level id if there is one (a shallow scan finds it)."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth, key, too_deep_in, msg_id = 0, None, None, None
    too_deep = False
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            if depth == 1 and match.group(1):  # a top-level key
                with contextlib.suppress(ValueError):
                    key = json.loads(token[: match.start(1) - match.start()])
                if key == "id":
                    msg_id = _scalar_id(text, match.end())
        elif token[0] in "[{":
            depth += len(token)
            if depth > limit and not too_deep:
                too_deep, too_deep_in = True, key
        else:
            depth -= len(token)
    if not too_deep:
        return
    if too_deep_in == "params":
        raise Rejected(JsonRpcInvalidParams(f"Invalid params: nested deeper than {limit} levels"), msg_id)
    raise Rejected(JsonRpcInvalidRequest(f"Invalid Request: nested deeper than {limit} levels"), msg_id)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(body: bytes, depth: int) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(
            JsonRpcParseError(f"Parse error: the body is not UTF-8 ({exc.reason} at byte {exc.start})")
        ) from None
    _check_depth(text, depth)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise Rejected(JsonRpcInvalidRequest(f"Invalid Request: nested deeper than {depth} levels")) from None
    except ValueError as exc:
        raise Rejected(JsonRpcParseError(f"Parse error: {exc}")) from None
    if _SURROGATE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            msg_id = data.get("id") if isinstance(data, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            raise Rejected(
                JsonRpcInvalidRequest("Invalid Request: a string holds an unpaired UTF-16 surrogate"),
                msg_id if valid_id(msg_id) else None,  # pyright: ignore[reportUnknownArgumentType]
            ) from None
    return data  # pyright: ignore[reportUnknownVariableType]


def parse(body: bytes, depth: int = FrameLimits.depth) -> dict[str, Any]:
    """A well-formed JSON-RPC 2.0 message from a frame's body, or `Rejected`."""
    data = _loads(body, depth)
    if not isinstance(data, dict):
        raise Rejected(JsonRpcInvalidRequest("Invalid Request: a message is one JSON object (no batches)"))
    message: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    msg_id = message.get("id")
    answer_to = msg_id if valid_id(msg_id) else None
    if "method" not in message:
        if "result" not in message and "error" not in message:
            raise Rejected(JsonRpcInvalidRequest("Invalid Request: no method, result or error"), answer_to)
        if message.get("jsonrpc") != "2.0" or not (answer_to is not None or (msg_id is None and "error" in message)):
            raise Rejected(JsonRpcInvalidRequest(f"a response with the id {msg_id!r}"), answer=False)
        return message
    if "id" in message and answer_to is None:
        raise Rejected(JsonRpcInvalidRequest("Invalid Request: id must be a string or an integer"))
    if not isinstance(message["method"], str):
        raise Rejected(JsonRpcInvalidRequest("Invalid Request: method must be a string"), answer_to)
    if message.get("jsonrpc") != "2.0":
        raise Rejected(JsonRpcInvalidRequest('Invalid Request: jsonrpc must be "2.0"'), answer_to)
    return message


def _params_problem(exc: JsonRpcException) -> str:
    cause = exc.__cause__
    if isinstance(cause, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(cause)[:5])
    return "they do not fit the method"


def _send_error(protocol: JsonRPCProtocol, msg_id: MsgId | None, error: JsonRpcException) -> None:
    # A plain dict: lsprotocol's message class would drop `"id": null`, which a parse error needs.
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "error": body})  # pyright: ignore[reportPrivateUsage]


def dispatch(protocol: JsonRPCProtocol, body: bytes, depth: int = FrameLimits.depth) -> None:
    """Decode one message and hand it to pygls, answering malformed ones with an error.
    A malformed response (the editor answering the sidecar) is logged and dropped."""
    try:
        message = parse(body, depth)
    except Rejected as exc:
        if exc.answer:
            log.warning("refused a message: %s", exc.error.message)
            _send_error(protocol, exc.msg_id, exc.error)
        else:
            log.warning("dropped a malformed message: %s", exc.error.message)
        return
    msg_id, method = message.get("id"), message.get("method")
    try:
        structured = protocol.structure_message(message)
    except JsonRpcException as exc:
        if method is not None and "id" in message:
            _send_error(protocol, msg_id, JsonRpcInvalidParams(f"Invalid params for {method}: {_params_problem(exc)}"))
        else:
            log.warning("dropped an unreadable %s: %s", method or "response", exc.message)
        return
    protocol.handle_message(structured)  # pyright: ignore[reportArgumentType]


class _Discard:
    """The writer once the editor has gone (or said `exit`): nothing reaches stdout."""

    def close(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        log.debug("not sent (the editor is gone): %d bytes", len(data))


async def serve(
    protocol: JsonRPCProtocol,
    stdin: BinaryIO,
    stdout: BinaryIO,
    limits: FrameLimits | None = None,
    *,
    done: Callable[[], bool] = lambda: False,
) -> None:
    """Read and dispatch messages until the input ends or `done()` holds (after `exit`).
    Then stdout is closed: later writes (a cancelled turn's last words) are dropped."""
    protocol.set_writer(StdoutWriter(stdout))
    reader = await FrameReader.open(stdin, limits)
    depth = reader.limits.depth
    try:
        while not done() and (frame := await reader.frame()) is not None:
            try:
                if isinstance(frame, JsonRpcException):
                    log.warning("malformed frame: %s", frame.message)
                    _send_error(protocol, None, frame)
                else:
                    dispatch(protocol, frame, depth)
            except Exception:
                log.exception("failed to handle a message")
        if not done():
            log.info("the editor closed the input stream")
    finally:
        protocol.set_writer(_Discard())
        with contextlib.suppress(OSError):
            stdout.close()
