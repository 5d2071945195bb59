"""The frame reader and message checks of server/lsp/jsonrpc.py (and server/lsp/framing.py), fed from an in-memory
StreamReader; and the protocol hooks of server/lsp.py that keep tracebacks off the wire."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)

from protocol.errors import AgentError, InvalidParams
from server.lsp.framing import FrameReader
from server.lsp.jsonrpc import Rejected, dispatch, parse, valid_id
from server.lsp.server import AgentServer
from server.lsp.stdio import FrameLimits
from server.settings import base_settings

LIMITS = FrameLimits(header_bytes=256, body_bytes=1024, header_lines=4, depth=8)


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_all(data: bytes | list[bytes], limits: FrameLimits = LIMITS) -> list[bytes | JsonRpcException]:
    """Everything the reader makes of `data` (fed in the given pieces) up to the end."""
    stream = asyncio.StreamReader(limit=limits.header_bytes)
    for piece in [data] if isinstance(data, bytes) else data:
        stream.feed_data(piece)
    stream.feed_eof()
    reader = FrameReader(stream, limits)
    frames: list[bytes | JsonRpcException] = []
    while (item := await asyncio.wait_for(reader.frame(), 5)) is not None:
        frames.append(item)
    return frames


def kinds(frames: list[bytes | JsonRpcException]) -> list[Any]:
    return [f if isinstance(f, bytes) else type(f) for f in frames]


NEXT = frame(b'{"next": 1}')


# --- well-formed -------------------------------------------------------------------------


async def test_frames_back_to_back() -> None:
    assert await read_all(frame(b"{}") + frame(b"[1]") + NEXT) == [b"{}", b"[1]", b'{"next": 1}']


async def test_headers_are_case_insensitive_and_content_type_is_ignored() -> None:
    data = b"content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH:  2 \r\n\r\n{}"
    assert await read_all(data) == [b"{}"]


async def test_lf_only_lines_and_stray_empty_lines_are_accepted() -> None:
    assert await read_all(b"\r\n\n" + b"Content-Length: 2\n\n{}" + b"\r\n" + NEXT) == [b"{}", b'{"next": 1}']


async def test_a_frame_split_into_single_bytes() -> None:
    data = frame(b'{"a": "b"}') + NEXT
    assert await read_all([data[i : i + 1] for i in range(len(data))]) == [b'{"a": "b"}', b'{"next": 1}']


async def test_the_same_length_twice_is_accepted() -> None:
    assert await read_all(b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}") == [b"{}"]


async def test_a_body_at_the_limit_is_read() -> None:
    body = b"x" * LIMITS.body_bytes
    assert await read_all(frame(body)) == [body]


# --- malformed: answered, then resynchronised ------------------------------------------------

MALFORMED: dict[str, bytes] = {
    "negative length": b"Content-Length: -5\r\n\r\n{}",
    "non-integer length": b"Content-Length: abc\r\n\r\n{}",
    "fractional length": b"Content-Length: 3.5\r\n\r\n{}",
    "signed length": b"Content-Length: +2\r\n\r\n{}",
    "underscored length": b"Content-Length: 1_0\r\n\r\n{}",
    "unicode digits": "Content-Length: \u0662\r\n\r\n{}".encode(),
    "empty length": b"Content-Length:\r\n\r\n{}",
    "sixteen digits": b"Content-Length: 1000000000000000\r\n\r\n{}",
    "two different lengths": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "no length": b"Content-Type: text/plain\r\n\r\n{}",
    "a body without a header": b'{"jsonrpc": "2.0"}\r\n',
    "no colon": b"Content-Length 2\r\n\r\n{}",
    "space before the colon": b"Content-Length : 2\r\n\r\n{}",
    "non-ASCII name": "Cöntent-Length: 2\r\n\r\n{}".encode(),
    "non-UTF-8 header": b"\xff\xfe: 2\r\n\r\n{}",
    "NUL bytes": b"\x00\x00\x00\r\n\r\n",
    "too many lines": b"X-A: 1\r\n" * 5 + b"\r\n{}",
    "block over the limit": (b"X-A: " + b"a" * 100 + b"\r\n") * 3 + b"\r\n{}",
    "line over the limit": b"X-A: " + b"a" * 1000 + b"\r\n\r\n{}",
    "line over the limit, no newline for a while": b"a" * 5000 + b"\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_header_is_a_parse_error_then_the_next_frame_is_read(name: str) -> None:
    frames = await read_all(MALFORMED[name] + NEXT)
    assert kinds(frames) == [JsonRpcParseError, b'{"next": 1}'], frames
    error = frames[0]
    assert isinstance(error, JsonRpcParseError) and error.message.startswith("Parse error: ")


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_header_fed_byte_by_byte(name: str) -> None:
    data = MALFORMED[name] + NEXT
    frames = await read_all([data[i : i + 1] for i in range(len(data))])
    assert kinds(frames) == [JsonRpcParseError, b'{"next": 1}'], frames


async def test_the_problem_is_named() -> None:
    frames = await read_all(
        b"Content-Length: abc\r\n\r\n"
        + NEXT
        + b"X-A: 1\r\n\r\n"
        + NEXT
        + b"X-A: "
        + b"a" * 300
        + b"\r\n"
        + NEXT
        + b"X-A: 1\r\n" * 5
        + NEXT
    )
    messages = [f.message for f in frames if isinstance(f, JsonRpcException)]
    assert messages == [
        "Parse error: invalid Content-Length 'abc'; skipped to the next header",
        "Parse error: a header block without Content-Length; skipped to the next header",
        "Parse error: a header line is over 256 bytes; skipped to the next header",
        "Parse error: a header block has more than 4 lines; skipped to the next header",
    ]


async def test_a_body_longer_than_its_length_leaves_garbage_before_the_next_header() -> None:
    frames = await read_all(b"Content-Length: 2\r\n\r\n{}garbage" + NEXT)
    assert kinds(frames) == [b"{}", JsonRpcParseError, b'{"next": 1}']


async def test_a_body_with_newlines_after_a_bad_length_is_skipped() -> None:
    frames = await read_all(b'Content-Length: x\r\n\r\n{\n  "a": 1,\n  "b": [\n]}\r\n' + NEXT)
    assert kinds(frames) == [JsonRpcParseError, b'{"next": 1}']


async def test_a_header_after_a_space_is_found() -> None:
    frames = await read_all(b" Content-Length: 2\r\n\r\n{}" + NEXT)
    assert kinds(frames) == [JsonRpcParseError, b"{}", b'{"next": 1}']


@pytest.mark.parametrize("pieces", [1, 7, 100_000])
async def test_a_header_glued_after_a_long_line_is_found(pieces: int) -> None:
    data = b"a" * 5000 + frame(b"{}") + NEXT
    frames = await read_all([data[i : i + pieces] for i in range(0, len(data), pieces)])
    assert kinds(frames) == [JsonRpcParseError, b"{}", b'{"next": 1}']


async def test_a_header_glued_after_a_header_is_found() -> None:
    frames = await read_all(b"Content-Length: 5Content-Length: 2\r\n\r\n{}" + NEXT)
    assert kinds(frames) == [JsonRpcParseError, b"{}", b'{"next": 1}']


async def test_an_oversized_body_is_skipped_exactly() -> None:
    big = b"x" * (LIMITS.body_bytes * 70 + 1)  # more than one discard chunk
    frames = await read_all(frame(big) + NEXT)
    assert kinds(frames) == [JsonRpcInvalidRequest, b'{"next": 1}']
    error = frames[0]
    assert isinstance(error, JsonRpcException)
    assert error.message == (
        f"Invalid Request: the message is {len(big)} bytes, over the limit of 1024 bytes (--max-frame-bytes); "
        "it was skipped"
    )


async def test_an_oversized_body_fed_in_pieces() -> None:
    data = frame(b"y" * 5000) + NEXT
    frames = await read_all([data[i : i + 97] for i in range(0, len(data), 97)])
    assert kinds(frames) == [JsonRpcInvalidRequest, b'{"next": 1}']


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Length: 10\r\n\r\n{}",  # the body is cut short
        b"Content-Length: 5000\r\n\r\n" + b"x" * 100,  # cut short while skipping
        b"Content-Length: 2\r\n",  # inside the header block
        b"Content-Len",  # inside a line
        b"Content-Length: x\r\n\r\n" + b"z" * 100,  # while resynchronising
        b"",
    ],
)
async def test_the_end_of_input_anywhere_ends_the_reading(data: bytes) -> None:
    frames = await read_all(data)
    assert all(isinstance(f, JsonRpcException) for f in frames)


async def test_the_stream_limit_bounds_a_header_line() -> None:
    """FrameReader.open sizes the StreamReader by the header limit; a 1 MiB line in one
    piece is dropped whole, with no frame read from inside it."""
    frames = await read_all(b"a" * (1024 * 1024) + b"Content-Length\r\n\r\n" + NEXT)
    assert kinds(frames) == [JsonRpcParseError, b'{"next": 1}']


# --- parse: bodies to messages ---------------------------------------------------------------


def rejected(body: bytes | str, depth: int = 8) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(body.encode() if isinstance(body, str) else body, depth)
    return caught.value


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def test_a_request_a_notification_and_a_response_pass() -> None:
    for message in (
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"a": [1]}},
        {"jsonrpc": "2.0", "id": "x", "method": "m"},
        {"jsonrpc": "2.0", "method": "m"},
        {"jsonrpc": "2.0", "id": "x", "result": None},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "m"}},
    ):
        assert parse(json.dumps(message).encode()) == message


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\xff{}", JsonRpcParseError),
        (b"\xef\xbb\xbf{}", JsonRpcParseError),  # a BOM
        (b"{", JsonRpcParseError),
        (b"", JsonRpcParseError),
        (b'{"jsonrpc": "2.0", "method": "m", "params": NaN}', JsonRpcParseError),
        (b'{"jsonrpc": "2.0", "method": "m", "params": -Infinity}', JsonRpcParseError),
        (b"[]", JsonRpcInvalidRequest),
        (b'"text"', JsonRpcInvalidRequest),
        (b"{}", JsonRpcInvalidRequest),
        (b'{"jsonrpc": "2.0", "method": 5}', JsonRpcInvalidRequest),
        (b'{"method": "m"}', JsonRpcInvalidRequest),
    ],
)
def test_malformed_bodies(body: bytes, error: type[JsonRpcException]) -> None:
    found = rejected(body)
    assert type(found.error) is error and found.msg_id is None and found.answer


@pytest.mark.parametrize("bad", [{"a": 1}, [1], True, False, 1.5, 1e3, None])
def test_a_request_id_must_be_a_string_or_an_integer(bad: Any) -> None:
    found = rejected(json.dumps({"jsonrpc": "2.0", "id": bad, "method": "m"}))
    assert isinstance(found.error, JsonRpcInvalidRequest) and found.msg_id is None
    assert "id must be a string or an integer" in found.error.message


@pytest.mark.parametrize("good", ["", "x", 0, -1, 2**70])
def test_valid_ids(good: Any) -> None:
    assert valid_id(good)


def test_a_response_with_a_bad_id_is_dropped_not_answered() -> None:
    found = rejected(json.dumps({"jsonrpc": "2.0", "id": {"a": 1}, "result": 1}))
    assert not found.answer


def test_the_id_is_kept_when_it_is_good() -> None:
    found = rejected(json.dumps({"jsonrpc": "1.0", "id": 7, "method": "m"}))
    assert found.msg_id == 7 and found.answer


def test_nesting_up_to_the_limit_passes() -> None:
    parse(('{"jsonrpc": "2.0", "method": "m", "params": ' + nested(7) + "}").encode())


@pytest.mark.parametrize("depth", [9, 5000])
def test_nesting_over_the_limit_in_params_is_invalid_params_with_the_id(depth: int) -> None:
    body = '{"id": "before", "jsonrpc": "2.0", "method": "m", "params": ' + nested(depth - 1) + "}"
    found = rejected(body)
    assert isinstance(found.error, JsonRpcInvalidParams) and found.msg_id == "before"
    assert found.error.message == "Invalid params: nested deeper than 8 levels"


def test_the_id_after_the_deep_part_is_found() -> None:
    found = rejected('{"jsonrpc": "2.0", "x": ' + nested(100) + ', "method": "m", "id": 42}')
    assert isinstance(found.error, JsonRpcInvalidRequest) and found.msg_id == 42


@pytest.mark.parametrize("bad_id", ['{"a": 1}', "[1]", "true", "null", "1.5", '"unterminated'])
def test_a_bad_id_next_to_a_deep_part_is_null(bad_id: str) -> None:
    found = rejected('{"jsonrpc": "2.0", "method": "m", "params": ' + nested(20) + ', "id": ' + bad_id + "}")
    assert found.msg_id is None


def test_an_id_nested_inside_is_not_the_message_id() -> None:
    found = rejected('{"jsonrpc": "2.0", "method": "m", "params": {"id": 5, "x": ' + nested(20) + "}}")
    assert found.msg_id is None


def test_brackets_inside_strings_do_not_count() -> None:
    text = '"' + "[{" * 500 + '\\"' + "[" * 500 + '"'
    message = parse(('{"jsonrpc": "2.0", "method": "m", "params": {"t": ' + text + "}}").encode())
    assert message["params"]["t"].startswith("[{[{")


def test_a_deep_top_level_array_has_no_id() -> None:
    found = rejected(nested(5000))
    assert isinstance(found.error, JsonRpcInvalidRequest) and found.msg_id is None


def test_an_unpaired_surrogate_is_refused_and_a_pair_is_fine() -> None:
    found = rejected('{"jsonrpc": "2.0", "id": 3, "method": "m", "params": {"t": "a\\udc00b"}}')
    assert isinstance(found.error, JsonRpcInvalidRequest) and found.msg_id == 3
    pair = parse(b'{"jsonrpc": "2.0", "method": "m", "params": {"t": "\\ud83d\\ude00"}}')
    assert pair["params"]["t"] == "\U0001f600"


def test_limits_must_be_sensible() -> None:
    with pytest.raises(ValueError):
        FrameLimits(body_bytes=0)


# --- the protocol hooks: no traceback on the wire --------------------------------------------


class _Capture:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.messages.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))

    def close(self) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> tuple[AgentServer, _Capture]:
    server = AgentServer(base_settings(db=str(tmp_path / "agent.db"), model="demo", workspace=str(tmp_path)))
    capture = _Capture()
    server.protocol.set_writer(capture)

    @server.feature("test/boom")
    async def boom(params: Any) -> None:
        raise RuntimeError("secret detail at /home/someone/project/file.py")

    @server.feature("test/syncBoom")
    def sync_boom(params: Any) -> None:
        raise KeyError("/etc/passwd")

    @server.feature("test/invalid")
    async def invalid(params: Any) -> None:
        raise InvalidParams("text: must not be blank", {"field": "text"})

    @server.feature("test/database")
    async def database(params: Any) -> None:
        raise AgentError("cannot open the database", {"database": "/tmp/x.db"})

    return server, capture


async def answer(server: AgentServer, capture: _Capture, method: str) -> dict[str, Any]:
    dispatch(server.protocol, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode())
    for _ in range(100):
        if capture.messages:
            break
        await asyncio.sleep(0.01)
    [message] = capture.messages
    return message


@pytest.mark.parametrize("method", ["test/boom", "test/syncBoom"])
async def test_an_unexpected_exception_answers_without_its_traceback(
    server: tuple[AgentServer, _Capture], method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    message = await answer(*server, method)
    assert message == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "internal error; see the log"}}
    assert "Traceback" in caplog.text and ("secret detail" in caplog.text or "/etc/passwd" in caplog.text)


async def test_errors_raised_on_purpose_keep_their_message_and_data(server: tuple[AgentServer, _Capture]) -> None:
    message = await answer(*server, "test/invalid")
    assert message["error"] == {"code": -32602, "message": "text: must not be blank", "data": {"field": "text"}}
    server[1].messages.clear()
    message = await answer(*server, "test/database")
    assert message["error"] == {
        "code": -32603,
        "message": "cannot open the database",
        "data": {"database": "/tmp/x.db"},
    }
