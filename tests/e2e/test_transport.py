"""The transport never dies or stalls: raw bytes into the real sidecar's stdin, every
frame on its stdout parsed strictly, and after each malformed input a probe request
that must be answered (the stream resynchronised)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sqlite3
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.harness import FAKE_MODEL, base_env

TIMEOUT = 15.0
"""Every read waits at most this long: a wedged sidecar fails the test, it never hangs it."""
EXIT_WITHIN = 3.0
"""`exit` and the end of input end the process this promptly."""

_OUT_HEADER = re.compile(
    rb"Content-Length: ([0-9]+)\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
)


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def notification(method: str, params: Any = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return frame(message)


class RawSidecar:
    """The real sidecar over its pipes: bytes in, strictly parsed frames out.

    Responses are kept by id (a list, to check each is answered exactly once), errors
    with id null apart, notifications in arrival order. Anything on stdout that is not
    a well-formed frame is a violation, and ends the reading."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.responses: defaultdict[Any, list[dict[str, Any]]] = defaultdict(list)
        self.null_errors: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._reading = asyncio.ensure_future(self._read())

    @classmethod
    async def start(
        cls,
        workspace: Path,
        db: Path,
        *args: str,
        model: str = "demo",
        env: dict[str, str] | None = None,
        initialize: bool = True,
    ) -> RawSidecar:
        log = workspace.parent / f"sidecar-{uuid.uuid4().hex[:8]}.log"
        with log.open("wb") as stderr:  # a file, so a chatty log never fills a pipe
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "server", "--stdio", "--db", str(db), "--model", model, *args),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=base_env(**(env or {})),
                cwd=str(workspace),
            )
        sidecar = cls(process, log)
        if initialize:
            answer = await sidecar.request(
                "initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}}
            )
            assert "result" in answer, answer
            sidecar.send(notification("initialized", {}))
        return sidecar

    # --- reading ---------------------------------------------------------------------

    async def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        try:
            while True:
                try:
                    header = await out.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        self.violations.append(f"stdout ended inside a header: {exc.partial[:80]!r}")
                    return
                found = _OUT_HEADER.fullmatch(header)
                if found is None:
                    self.violations.append(f"not a frame header: {header[:80]!r}")
                    return
                body = await out.readexactly(int(found.group(1)))
                message = json.loads(body)
                if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                    self.violations.append(f"not a JSON-RPC 2.0 message: {body[:80]!r}")
                    return
                self._record(message)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.violations.append(f"malformed frame on stdout: {exc!r}")
        finally:
            self._arrived.set()

    def _record(self, message: dict[str, Any]) -> None:
        if "method" in message:
            self.notifications.append(message)
        elif message.get("id") is None:
            self.null_errors.append(message)
        else:
            self.responses[message["id"]].append(message)
        self._arrived.set()

    async def until(self, ready: Any, within: float = TIMEOUT) -> None:
        """Wait until `ready()` holds; fail if stdout ends first or it takes too long."""

        async def wait() -> None:
            while not ready():
                if self._reading.done():
                    raise AssertionError(
                        f"stdout ended; violations: {self.violations}; log:\n{self.log_text()[-3000:]}"
                    )
                self._arrived.clear()
                await self._arrived.wait()

        try:
            await asyncio.wait_for(wait(), within)
        except TimeoutError:
            raise AssertionError(f"no answer within {within} s; log:\n{self.log_text()[-3000:]}") from None

    async def response(self, msg_id: Any, within: float = TIMEOUT) -> dict[str, Any]:
        await self.until(lambda: bool(self.responses.get(msg_id)), within)
        return self.responses[msg_id][0]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # --- writing ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    async def drain(self) -> None:
        assert self.process.stdin is not None
        await asyncio.wait_for(self.process.stdin.drain(), TIMEOUT)

    def send_request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        msg_id = next(self.ids) if msg_id is None else msg_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(frame(message))
        return msg_id

    async def request(self, method: str, params: Any = None, within: float = TIMEOUT) -> dict[str, Any]:
        msg_id = self.send_request(method, params)
        await self.drain()
        return await self.response(msg_id, within)

    async def probe(self) -> None:
        """A well-formed request after a malformed one must be answered."""
        answer = await self.request("agent/listSessions", {})
        assert "result" in answer, answer

    async def after(self, raw: bytes) -> list[dict[str, Any]]:
        """Send `raw`, then a probe; the id-null errors `raw` drew (all come before the
        probe's answer: they are sent as the frames are read)."""
        start = len(self.null_errors)
        self.send(raw)
        await self.probe()
        return self.null_errors[start:]

    # --- ending ----------------------------------------------------------------------

    async def exited(self, within: float = EXIT_WITHIN) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(f"still running {within} s later; log:\n{self.log_text()[-3000:]}") from None
        await asyncio.wait_for(self._reading, TIMEOUT)
        return code

    async def shutdown_and_exit(self) -> int:
        answer = await self.request("shutdown")
        assert answer.get("result", "missing") is None, answer
        self.send(notification("exit"))
        return await self.exited()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reading.cancel()


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def peak_rss_kib(pid: int) -> int | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
    return int(found.group(1)) if found else None


# --- one sidecar for the malformed inputs ------------------------------------------------

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHARED_FRAME_LIMIT = 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sidecar(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RawSidecar]:
    root = tmp_path_factory.mktemp("transport")
    workspace = root / "workspace"
    workspace.mkdir()
    started = await RawSidecar.start(workspace, root / "agent.db", "--max-frame-bytes", str(SHARED_FRAME_LIMIT))
    yield started
    try:
        assert started.violations == []
        assert await started.shutdown_and_exit() == 0
        assert integrity(root / "agent.db") == "ok"
    finally:
        await started.kill()


REQUEST = json.dumps({"jsonrpc": "2.0", "method": "$/noSuchNotification"}).encode()
PARSE, INVALID = -32700, -32600

MALFORMED: dict[str, tuple[bytes, list[int]]] = {
    "negative length": (b"Content-Length: -5\r\n\r\n" + REQUEST, [PARSE]),
    "non-integer length": (b"Content-Length: abc\r\n\r\n" + REQUEST, [PARSE]),
    "fractional length": (b"Content-Length: 3.5\r\n\r\n" + REQUEST, [PARSE]),
    "signed length": (b"Content-Length: +5\r\n\r\n{}", [PARSE]),
    "hex length": (b"Content-Length: 0x10\r\n\r\n" + REQUEST, [PARSE]),
    "empty length": (b"Content-Length: \r\n\r\n" + REQUEST, [PARSE]),
    "absurd length": (b"Content-Length: 99999999999999999999\r\n\r\n" + REQUEST, [PARSE]),
    "two lengths": (b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", [PARSE]),
    "no length": (b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + REQUEST, [PARSE]),
    "no header at all": (REQUEST + b"\r\n", [PARSE]),
    "not a header line": (b"Hello there\r\n\r\n", [PARSE]),
    "space before the colon": (b"Content-Length : 2\r\n\r\n{}", [PARSE]),
    "non-ASCII header": (b"Content-L\xc3\xa9ngth: 2\r\n\r\n{}", [PARSE]),
    "binary junk": (b"\x00\xff\xfe\x80\r\n\x81\x82\n", [PARSE]),
    "too many header lines": (b"X-Pad: 1\r\n" * 17 + b"Content-Length: 2\r\n\r\n{}", [PARSE, INVALID]),
    "header block too big": (
        (b"X-Pad: " + b"a" * 3000 + b"\r\n") * 3 + b"Content-Length: 2\r\n\r\n{}",
        [PARSE, INVALID],
    ),
    "header line too long": (b"X-Pad: " + b"a" * 20000 + b"\r\nContent-Length: 2\r\n\r\n{}", [PARSE, INVALID]),
    "body not UTF-8": (frame(b'{"jsonrpc": "2.0", "method": "\xff\xfe"}'), [PARSE]),
    "body not JSON": (frame(b"{not json"), [PARSE]),
    "empty body": (b"Content-Length: 0\r\n\r\n", [PARSE]),
    "NaN": (frame(b'{"jsonrpc": "2.0", "method": "x", "params": NaN}'), [PARSE]),
    "a batch": (frame(b'[{"jsonrpc": "2.0", "method": "x"}]'), [INVALID]),
    "a number": (frame(b"5"), [INVALID]),
    "deep array": (frame(b"[" * 5000 + b"]" * 5000), [INVALID]),
    "deep without an id": (
        frame(b'{"jsonrpc": "2.0", "method": "x", "params": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        [-32602],
    ),
    "body longer than its length": (b"Content-Length: 2\r\n\r\n{}trailing garbage", [INVALID, PARSE]),
    "LF-only framing": (b"Content-Length: 2\n\n{}", [INVALID]),
    "stray empty lines": (b"\r\n\n\r\n", []),
    "object id": (frame({"jsonrpc": "2.0", "id": {"a": 1}, "method": "agent/listSessions"}), [INVALID]),
    "array id": (frame({"jsonrpc": "2.0", "id": [1], "method": "agent/listSessions"}), [INVALID]),
    "boolean id": (frame({"jsonrpc": "2.0", "id": True, "method": "agent/listSessions"}), [INVALID]),
    "float id": (frame({"jsonrpc": "2.0", "id": 1.5, "method": "agent/listSessions"}), [INVALID]),
    "null id": (frame({"jsonrpc": "2.0", "id": None, "method": "agent/listSessions"}), [INVALID]),
    "oversized body": (
        frame(json.dumps({"jsonrpc": "2.0", "id": "big", "method": "x", "params": "a" * SHARED_FRAME_LIMIT}).encode()),
        [INVALID],
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_frame_is_answered_and_the_stream_resynchronises(sidecar: RawSidecar, name: str) -> None:
    raw, codes = MALFORMED[name]
    errors = await sidecar.after(raw)
    assert [e["error"]["code"] for e in errors] == codes, errors
    for error in errors:
        assert set(error) == {"jsonrpc", "id", "error"} and error["id"] is None
        assert "Traceback" not in error["error"]["message"]
    assert sidecar.process.returncode is None
    if name == "oversized body":
        assert f"limit of {SHARED_FRAME_LIMIT} bytes" in errors[0]["error"]["message"]
    assert sidecar.violations == []


async def test_a_64_mib_header_line_is_dropped_without_buffering_it(sidecar: RawSidecar) -> None:
    before = peak_rss_kib(sidecar.process.pid)
    errors = await sidecar.after(b"X" * (64 * 1024 * 1024) + b"\r\n")
    assert [e["error"]["code"] for e in errors] == [PARSE]
    assert "over 8192 bytes" in errors[0]["error"]["message"]
    after = peak_rss_kib(sidecar.process.pid)
    if before is not None and after is not None:
        assert after - before < 16 * 1024, f"peak RSS grew by {after - before} KiB"


async def test_a_64_mib_body_over_the_limit_is_skipped_without_buffering_it(sidecar: RawSidecar) -> None:
    before = peak_rss_kib(sidecar.process.pid)
    size = 64 * 1024 * 1024
    errors = await sidecar.after(b"Content-Length: %d\r\n\r\n" % size + b"z" * size)
    assert [e["error"]["code"] for e in errors] == [INVALID]
    assert f"the message is {size} bytes, over the limit of {SHARED_FRAME_LIMIT} bytes" in errors[0]["error"]["message"]
    after = peak_rss_kib(sidecar.process.pid)
    if before is not None and after is not None:
        assert after - before < 16 * 1024, f"peak RSS grew by {after - before} KiB"


def _request(msg_id: Any, method: str, params: Any = None, **extra: Any) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method, **extra}
    if params is not None:
        message["params"] = params
    return frame(message)


REFUSED: dict[str, tuple[bytes, int, str]] = {
    "params nested 5,000 deep": (
        frame(
            b'{"jsonrpc": "2.0", "id": "deep", "method": "agent/listSessions", "params": {"a": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}}"
        ),
        -32602,
        "nested deeper than 128 levels",
    ),
    "another member nested 5,000 deep, the id after it": (
        frame(b'{"jsonrpc": "2.0", "x": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b', "id": "deep2", "method": "m"}'),
        INVALID,
        "nested deeper than 128 levels",
    ),
    "jsonrpc 1.0": (_request("v1", "agent/listSessions", jsonrpc="1.0"), INVALID, "jsonrpc"),
    "method not a string": (frame({"jsonrpc": "2.0", "id": "m5", "method": 5}), INVALID, "method"),
    "unpaired surrogate": (
        frame(b'{"jsonrpc": "2.0", "id": "sur", "method": "agent/sendMessage", "params": {"text": "\\ud800"}}'),
        INVALID,
        "surrogate",
    ),
    "unknown method": (_request("nope", "agent/noSuchMethod", {}), -32601, "agent/noSuchMethod"),
    "whitespace text": (_request("ws", "agent/sendMessage", {"text": " \t\n "}), -32602, "text"),
    "blank ids": (
        _request("blank", "agent/toolResult", {"sessionId": " ", "callId": "", "status": "success"}),
        -32602,
        "callId",
    ),
    "blank subtask id": (
        _request("sub", "agent/retrySubtask", {"sessionId": "s", "planId": "p", "subtaskId": "\u3000"}),
        -32602,
        "subtaskId",
    ),
    "params an array": (_request("arr", "agent/getSession", ["s"]), -32602, "params"),
    "params a string": (_request("str", "agent/getSession", "s"), -32602, "params"),
    "initialize params of the wrong shape": (
        _request("init", "initialize", {"processId": "x"}),
        -32602,
        "capabilities",
    ),
    "lsp params of the wrong shape": (_request("hover", "textDocument/hover", {"textDocument": 5}), -32602, "hover"),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_a_refused_request_is_answered_with_its_id_and_no_traceback(sidecar: RawSidecar, name: str) -> None:
    raw, code, mentions = REFUSED[name]
    start = len(sidecar.null_errors)
    sidecar.send(raw)
    await sidecar.probe()
    msg_id = _id_of(raw)
    answer = await sidecar.response(msg_id)
    assert answer["error"]["code"] == code, answer
    assert mentions in answer["error"]["message"], answer
    text = json.dumps(answer)
    assert "Traceback" not in text and ".py" not in text, answer
    assert sidecar.null_errors[start:] == []
    assert len(sidecar.responses[msg_id]) == 1


def _id_of(raw: bytes) -> Any:
    found = re.search(rb'"id": ("[^"]*"|-?[0-9]+)', raw)
    assert found is not None
    return json.loads(found.group(1))


async def test_blank_ids_are_named(sidecar: RawSidecar) -> None:
    answer = await sidecar.request("agent/toolResult", {"sessionId": " ", "callId": " \t", "status": "success"})
    problems = {p["field"] for p in answer["error"]["data"]["errors"]}
    assert problems == {"sessionId", "callId"}, answer


async def test_a_notification_handler_that_fails_leaves_its_traceback_in_the_log_only(sidecar: RawSidecar) -> None:
    """pygls's own `didChange` handler raises for a document that was never opened."""
    start = len(sidecar.notifications)
    sidecar.send(
        notification(
            "textDocument/didChange",
            {"textDocument": {"uri": "file:///never/opened.py", "version": 2}, "contentChanges": [{"text": "x"}]},
        )
    )
    await sidecar.probe()
    await sidecar.until(lambda: len(sidecar.notifications) > start)
    shown = sidecar.notifications[start:]
    assert [n["method"] for n in shown] == ["window/showMessage"], shown
    assert shown[0]["params"]["message"] == "Error in server: internal error; see the log"
    await sidecar.until(lambda: "a notification handler failed" in sidecar.log_text())
    assert "Traceback" in sidecar.log_text()


# --- the lifecycle -------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def fresh(workspace: Path, db_path: Path) -> AsyncIterator[RawSidecar]:
    started = await RawSidecar.start(workspace, db_path)
    yield started
    await started.kill()
    assert started.violations == []


async def test_a_second_initialize_is_refused_and_exit_still_ends_the_process(
    fresh: RawSidecar, workspace: Path, db_path: Path
) -> None:
    again = await fresh.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
    assert again["error"]["code"] == INVALID and "once" in again["error"]["message"], again
    result = await fresh.request("agent/sendMessage", {"text": "explain what a sidecar is", "mode": "explain"})
    assert result["result"]["status"] == "completed", result
    assert await fresh.shutdown_and_exit() == 0
    assert integrity(db_path) == "ok"


async def test_requests_after_shutdown_are_refused(fresh: RawSidecar) -> None:
    assert (await fresh.request("shutdown"))["result"] is None
    initialize = {"processId": None, "capabilities": {}}
    for method, params in (("agent/listSessions", {}), ("shutdown", None), ("initialize", initialize)):
        answer = await fresh.request(method, params)
        assert answer["error"]["code"] == INVALID and "after shutdown" in answer["error"]["message"], answer
    fresh.send(notification("initialized", {}))
    fresh.send(notification("exit"))
    assert await fresh.exited() == 0


async def test_exit_without_shutdown_exits_with_1(fresh: RawSidecar) -> None:
    fresh.send(notification("exit"))
    assert await fresh.exited() == 1


async def test_the_end_of_input_ends_the_process(fresh: RawSidecar) -> None:
    fresh.close_stdin()
    assert await fresh.exited() == 1


async def test_the_end_of_input_after_shutdown_exits_with_0(fresh: RawSidecar) -> None:
    assert (await fresh.request("shutdown"))["result"] is None
    fresh.close_stdin()
    assert await fresh.exited() == 0


async def test_a_request_before_initialized_is_served_once_the_runtime_is_built(workspace: Path, db_path: Path) -> None:
    """`initialize` is answered before the runtime is built; a request that comes before
    `initialized` builds it and waits for it, and a configuration change waits in line."""
    started = await RawSidecar.start(workspace, db_path, initialize=False)
    try:
        answer = await started.request(
            "initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}}
        )
        assert answer["result"]["capabilities"]["experimental"]["agent"]["tools"], answer
        bad = {"settings": {"codelabAgent": {"llm": {"model": "py:os:system"}}}}  # refused, and logged
        started.send(notification("workspace/didChangeConfiguration", bad))
        result = await started.request("agent/sendMessage", {"text": "explain what a sidecar is", "mode": "explain"})
        assert result["result"]["status"] == "completed", result
        assert await started.shutdown_and_exit() == 0
        assert started.violations == []
    finally:
        await started.kill()
    assert "ignored workspace/didChangeConfiguration: settings.llm.model" in started.log.read_text()
    assert integrity(db_path) == "ok"


async def test_a_sidecar_shut_down_before_its_runtime_was_built_exits_cleanly(workspace: Path, db_path: Path) -> None:
    started = await RawSidecar.start(workspace, db_path, initialize=False)
    try:
        answer = await started.request(
            "initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}}
        )
        assert "result" in answer, answer
        assert await started.shutdown_and_exit() == 0
        assert started.violations == []
    finally:
        await started.kill()
    assert integrity(db_path) == "ok"


async def test_exit_before_initialize(workspace: Path, db_path: Path) -> None:
    started = await RawSidecar.start(workspace, db_path, initialize=False)
    try:
        started.send(notification("exit"))
        assert await started.exited() == 1
    finally:
        await started.kill()


@pytest.mark.parametrize(("shutdown", "code"), [(True, 0), (False, 1)])
async def test_the_quick_exit_keeps_the_exit_code_and_everything_written_before_it(
    shutdown: bool, code: int, workspace: Path, db_path: Path
) -> None:
    """The process skips the interpreter's teardown (`os._exit`, see `server.cli._leave`):
    the code is still the one `exit` promises, and the log's last line was written out
    before it left."""
    log = workspace.parent / "quick-exit.log"
    started = await RawSidecar.start(workspace, db_path, "--log-file", str(log), "--log-level", "INFO")
    try:
        if shutdown:
            assert (await started.request("shutdown"))["result"] is None
        started.send(notification("exit"))
        assert await started.exited() == code
        assert started.violations == []
    finally:
        await started.kill()
    assert log.read_text().splitlines()[-1].endswith(f"exiting with code {code}")
    assert integrity(db_path) == "ok"


class SilentModel:
    """A model endpoint that takes the request and never answers (it never writes, so
    nothing breaks when the sidecar goes away)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.called.set()
        await self._release.wait()
        writer.close()

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest_asyncio.fixture(loop_scope="module")
async def silent_model() -> AsyncIterator[SilentModel]:
    model = SilentModel()
    yield model
    await model.stop()


@pytest.mark.parametrize("ending", ["exit", "end of input", "shutdown then exit"])
async def test_the_process_ends_promptly_while_a_turn_runs(
    ending: str, workspace: Path, db_path: Path, silent_model: SilentModel
) -> None:
    url = await silent_model.start()
    started = await RawSidecar.start(workspace, db_path, "--api-base", url, model=FAKE_MODEL)
    try:
        turn = started.send_request("agent/sendMessage", {"text": "write x", "mode": "code"})
        await started.drain()
        await asyncio.wait_for(silent_model.called.wait(), TIMEOUT)  # the turn waits for the model now
        began = time.monotonic()
        if ending == "exit":
            started.send(notification("exit"))
            assert await started.exited() == 1
        elif ending == "end of input":
            started.close_stdin()
            assert await started.exited() == 1
        else:
            answer = await started.request("shutdown")
            assert answer["result"] is None
            assert started.responses[turn][0]["result"]["status"] == "cancelled"
            started.send(notification("exit"))
            assert await started.exited() == 0
        assert time.monotonic() - began < EXIT_WITHIN
        assert started.violations == []
    finally:
        await started.kill()
    assert integrity(db_path) == "ok"
    with sqlite3.connect(db_path) as conn:
        states = [row[0] for row in conn.execute("SELECT state FROM sessions")]
    assert states and all(state != "agent_running" for state in states), states


# --- limits from flags and the environment -----------------------------------------------------


async def test_limits_come_from_flags_and_the_environment(workspace: Path, db_path: Path) -> None:
    started = await RawSidecar.start(
        workspace, db_path, "--max-header-bytes", "256", env={"CODELAB_AGENT_MAX_FRAME_BYTES": "4096"}
    )
    try:
        errors = await started.after(frame({"jsonrpc": "2.0", "id": 1, "method": "x", "params": "a" * 5000}))
        assert [e["error"]["code"] for e in errors] == [INVALID] and "limit of 4096 bytes" in errors[0]["error"][
            "message"
        ]
        errors = await started.after(b"X-Pad: " + b"a" * 300 + b"\r\n\r\n")
        assert [e["error"]["code"] for e in errors] == [PARSE] and "over 256 bytes" in errors[0]["error"]["message"]
        assert await started.shutdown_and_exit() == 0
    finally:
        await started.kill()


async def test_a_limit_that_is_not_a_byte_count_is_refused_at_start(workspace: Path, db_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--stdio",
        "--db",
        str(db_path),
        "--max-frame-bytes",
        "-1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=base_env(),
        cwd=str(workspace),
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2 and out == b"" and b"max-frame-bytes" in err
