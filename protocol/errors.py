"""Error codes of the wire contract and the exceptions that carry them.

Each domain error is raised where the problem is found and serialized by the JSON-RPC
layer; nothing builds error dictionaries by hand. The classes subclass pygls's
`JsonRpcException` only (a small module of plain exception classes), so the runtime
can raise them without depending on the server framework.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pygls.exceptions import JsonRpcException


class ErrorCode(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    SERVER_NOT_INITIALIZED = -32002
    REQUEST_CANCELLED = -32800
    SESSION_NOT_FOUND = -32010
    SESSION_BUSY = -32011
    UNKNOWN_TOOL_CALL = -32012
    TOOL_CALL_ALREADY_ANSWERED = -32013
    INVALID_STATE = -32014
    MODEL_ERROR = -32015
    PAYLOAD_TOO_LARGE = -32016


class AgentError(JsonRpcException):
    """A JSON-RPC error of this protocol; `CODE` names it."""

    CODE: int = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, data: Any | None = None) -> None:
        super().__init__(message=message, code=self.CODE, data=data)


class InvalidParams(AgentError):
    CODE = ErrorCode.INVALID_PARAMS


class ServerNotInitialized(AgentError):
    CODE = ErrorCode.SERVER_NOT_INITIALIZED


class SessionNotFound(AgentError):
    CODE = ErrorCode.SESSION_NOT_FOUND

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session with id {session_id!r}", {"sessionId": session_id})


class SessionBusy(AgentError):
    """A turn runs in the session, or another process holds it (`data.holder`)."""

    CODE = ErrorCode.SESSION_BUSY


class UnknownToolCall(AgentError):
    CODE = ErrorCode.UNKNOWN_TOOL_CALL


class ToolCallAlreadyAnswered(AgentError):
    CODE = ErrorCode.TOOL_CALL_ALREADY_ANSWERED


class InvalidState(AgentError):
    CODE = ErrorCode.INVALID_STATE


class ModelError(AgentError):
    """The model failed after retries; the message never carries secrets."""

    CODE = ErrorCode.MODEL_ERROR


class PayloadTooLarge(AgentError):
    CODE = ErrorCode.PAYLOAD_TOO_LARGE
