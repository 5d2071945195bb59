"""Fuzzing the real sidecar over its pipes (seeded, so every run sends the same bytes).

One long-lived sidecar takes malformed frames (random headers, lengths, bodies and
bytes), each followed by a probe that must be answered, and random params of every
`agent/*` method (random JSON of random shapes, wrong types, huge strings, deep
nesting, bad ids), interleaved with valid requests. Throughout: the process stays
alive, every request with a valid id is answered exactly once and never with a
traceback or an internal error, and stdout holds nothing but well-formed frames. At
the end it shuts down cleanly (exit code 0) and its database passes
`PRAGMA integrity_check`.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from protocol.errors import ErrorCode
from protocol.methods import METHODS
from tests.e2e.test_transport import RawSidecar, frame, integrity, notification

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAME_LIMIT = 512 * 1024
"""The fuzzed sidecar's --max-frame-bytes: above maxMessageBytes (256 KiB), so a huge
text reaches the runtime's own limit, and cheap to overflow."""
HEADER_LIMIT = 8 * 1024
ALLOWED_ERRORS = {
    ErrorCode.INVALID_REQUEST,
    ErrorCode.METHOD_NOT_FOUND,
    ErrorCode.INVALID_PARAMS,
    ErrorCode.REQUEST_CANCELLED,
    ErrorCode.SESSION_NOT_FOUND,
    ErrorCode.SESSION_BUSY,
    ErrorCode.UNKNOWN_TOOL_CALL,
    ErrorCode.TOOL_CALL_ALREADY_ANSWERED,
    ErrorCode.INVALID_STATE,
    ErrorCode.PAYLOAD_TOO_LARGE,
}
"""Every error a request may get; -32603 (internal error) is never one of them."""
FUZZ = settings(
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # shrinking against one long-lived process would mislead
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@dataclass
class Fuzzed:
    """The sidecar under fuzz and the books kept on it."""

    sidecar: RawSidecar
    sessions: list[str] = field(default_factory=list[str], repr=False)
    calls: list[str] = field(default_factory=list[str], repr=False)
    plans: list[str] = field(default_factory=list[str], repr=False)
    sent: set[Any] = field(default_factory=set[Any], repr=False)
    """Every valid id of a request sent."""
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000))
    cases: int = 0
    oversized: int = 0
    raw: dict[Any, bytes] = field(default_factory=dict[Any, bytes], repr=False)
    typed: dict[str, dict[str, st.SearchStrategy[Any]]] = field(
        default_factory=dict[str, dict[str, st.SearchStrategy[Any]]], repr=False
    )
    """`_well_typed`, built once: a strategy built anew for every draw costs hypothesis more
    than the draw itself."""

    def fresh_id(self, as_text: bool) -> Any:
        n = next(self.ids)
        return f"fuzz-{n}" if as_text else n

    def track(self, msg_id: Any) -> None:
        assert msg_id not in self.sent
        self.sent.add(msg_id)

    def send(self, msg_id: Any, raw: bytes) -> Any:
        """Send a request; its id to wait for, or None for one over the frame limit
        (answered with id null, as its id is never read)."""
        self.sidecar.send(raw)
        if len(raw) - raw.index(b"\r\n\r\n") - 4 > FRAME_LIMIT:
            self.oversized += 1
            return None
        self.track(msg_id)
        self.raw[msg_id] = raw
        return msg_id

    async def answered(self, ids: list[Any]) -> list[dict[str, Any]]:
        """The answer to each id, checked: a result, or an error the protocol names."""
        sidecar = self.sidecar
        try:
            await sidecar.until(lambda: all(sidecar.responses.get(i) for i in ids))
        except AssertionError as exc:
            missing = [i for i in ids if not sidecar.responses.get(i)]
            sent = [self.raw.get(i, b"")[:300] for i in missing]
            raise AssertionError(f"unanswered: {missing} {sent} ({sidecar.log})") from exc
        answers = [sidecar.responses[i][0] for i in ids]
        for answer in answers:
            self._learn(answer.get("result"))
            assert ("result" in answer) != ("error" in answer), answer
            if "error" in answer:
                error = answer["error"]
                assert error["code"] in ALLOWED_ERRORS, answer
                text = json.dumps(error)
                assert "Traceback" not in text and 'File "' not in text, answer
        return answers

    def _learn(self, result: Any) -> None:
        """Keep the sessions, calls and plans a turn names, for later requests to use."""
        if not isinstance(result, dict) or "turnId" not in result:
            return
        for pool, found in (
            (self.sessions, [result.get("sessionId")]),
            (self.calls, result.get("pendingToolCalls", [])),
            (self.plans, [result.get("planId")]),
        ):
            pool.extend(x for x in found if x and x not in pool)

    async def probe(self) -> None:
        msg_id = self.fresh_id(as_text=False)
        self.track(msg_id)
        self.sidecar.send(frame({"jsonrpc": "2.0", "id": msg_id, "method": "agent/listSessions"}))
        await self.sidecar.drain()
        [answer] = await self.answered([msg_id])
        assert "result" in answer, answer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    workspace, db = root / "workspace", root / "agent.db"
    workspace.mkdir()
    (workspace / "main.py").write_text("print('hi')\n")
    sidecar = await RawSidecar.start(workspace, db, "--max-frame-bytes", str(FRAME_LIMIT))
    state = Fuzzed(sidecar)
    began = time.monotonic()
    try:
        for text, mode in (
            ("create hello.py that prints hello", "code"),
            ("explain what main.py does", "explain"),
            ("build a small website with several pages", "auto"),
        ):
            answer = await sidecar.request("agent/sendMessage", {"text": text, "mode": mode})
            result = answer["result"]
            state.sessions.append(result["sessionId"])
            state.calls.extend(result.get("pendingToolCalls", []))
            if result.get("planId"):
                state.plans.append(result["planId"])
        oversized = {
            "jsonrpc": "2.0",
            "id": "big",
            "method": "agent/sendMessage",
            "params": {"text": "z" * FRAME_LIMIT},
        }
        state.send("big", frame(oversized))  # at least one, whatever the draws
        await state.probe()
        yield state
        _check_books(state, sidecar)
        assert await sidecar.shutdown_and_exit() == 0
        assert sidecar.violations == []
        assert integrity(db) == "ok"
        answers = [r for rs in sidecar.responses.values() for r in rs] + sidecar.null_errors
        outcomes = Counter(a["error"]["code"] if "error" in a else "result" for a in answers)
        print(f"\nfuzz: {state.cases} cases in {time.monotonic() - began:.1f} s; answers: {dict(outcomes)}")
    finally:
        await sidecar.kill()


def _check_books(state: Fuzzed, sidecar: RawSidecar) -> None:
    assert sidecar.process.returncode is None, "the sidecar died"
    assert sidecar.violations == []
    unanswered = [i for i in state.sent if not sidecar.responses.get(i)]
    assert unanswered == []
    twice = {i: r for i, r in sidecar.responses.items() if len(r) > 1 and i in state.sent}
    assert twice == {}
    over = [e for e in sidecar.null_errors if "over the limit" in e["error"]["message"]]
    assert len(over) >= state.oversized > 0
    strangers = [i for i in sidecar.responses if i not in state.sent and not str(i).startswith("junk")]
    assert len(strangers) <= 10, strangers  # the helper's own few (initialize, the set-up)


# --- strategies ----------------------------------------------------------------------------

_BANNED = re.compile(rb"content-length", re.IGNORECASE)
"""Junk never holds this: a Content-Length the fuzzer did not mean would make the
sidecar wait for body bytes that are the probe's."""

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


class Raw(str):
    """JSON text spliced into a message as is (deep nesting json.dumps cannot write)."""


def _deep(levels: int, opener: str) -> Raw:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return Raw('{"a": ' * levels + "1" + closer * levels)
    return Raw(opener * levels + closer * levels)


deep_values = st.builds(_deep, st.integers(100, 6000), st.sampled_from("[{"))
huge_texts = (
    st.sampled_from([1_000, 70_000, 256 * 1024 + 1, 300_000]).map(lambda n: ("x " * n)[:n])
    | st.sampled_from([70_000, 256 * 1024]).map(lambda n: "y" * n)
    | st.integers(1, 2000).map(lambda n: " \t\n" * n)
)
"""Around the 256 KiB maxMessageBytes, as many words or one long word, and whitespace only."""
bad_ids = st.sampled_from([{"a": 1}, [1], True, False, 1.5, None, [], {}]) | st.floats(
    allow_nan=False, allow_infinity=False
)


def _dumps(value: Any) -> str:
    """JSON text of `value`, with Raw parts left as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


def message(msg_id: Any = None, method: Any = "agent/listSessions", params: Any = None, **extra: Any) -> bytes:
    """A message as bytes: `...` for a field leaves it out."""
    parts: dict[str, Any] = {"jsonrpc": "2.0"}
    if msg_id is not ...:
        parts["id"] = msg_id
    if method is not ...:
        parts["method"] = method
    if params is not None:
        parts["params"] = params
    parts.update(extra)
    return _dumps(parts).encode()


def _one_of(pool: list[str]) -> st.SearchStrategy[str]:
    """An item of `pool` as it is when drawn (the books grow as the fuzz runs)."""
    return st.integers(0, 2**16).map(lambda i: pool[i % len(pool)] if pool else "none-yet")


texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "create hello.py that prints hello",
            "explain what main.py does",
            "fix the crash in main.py",
            "build a small website with several pages",
            "write notes.md",
            "revise",
        ]
    ),
    st.sampled_from(["", " ", "\t\n", "\u3000", "\u200b"]),
    huge_texts,
)


def _well_typed(fuzzed: Fuzzed) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """For each method, a strategy per field that gives it the right type (and mostly
    a value the sidecar knows): the turns, the tool results and the plans really run."""
    if not fuzzed.typed:
        fuzzed.typed = _typed_fields(fuzzed)
    return fuzzed.typed


def _typed_fields(fuzzed: Fuzzed) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    session, call, plan = _one_of(fuzzed.sessions), _one_of(fuzzed.calls), _one_of(fuzzed.plans)
    subtask = st.sampled_from(["s1", "s2", "s3", "subtask-1"])
    only_session = {"sessionId": session}
    return {
        "agent/sendMessage": {
            "text": texts,
            "sessionId": session,
            "mode": st.sampled_from(["auto", "code", "architect", "debug", "explain", "nope"]),
        },
        "agent/toolResult": {
            "sessionId": session,
            "callId": call,
            "status": st.sampled_from(["success", "error", "rejected", "maybe"]),
            "content": texts,
            "feedback": texts,
            "remember": st.booleans(),
        },
        "agent/approvePlan": {
            "sessionId": session,
            "planId": plan,
            "decision": st.sampled_from(["approve", "reject", "revise", "perhaps"]),
            "feedback": texts,
        },
        "agent/resume": only_session,
        "agent/retrySubtask": {"sessionId": session, "planId": plan, "subtaskId": subtask},
        "agent/skipSubtask": {"sessionId": session, "planId": plan, "subtaskId": subtask},
        "agent/cancel": only_session,
        "agent/getSession": only_session,
        "agent/listSessions": {
            "limit": st.integers(-5, 600),
            "cursor": texts | session,
            "allWorkspaces": st.booleans(),
        },
        "agent/deleteSession": {"sessionId": st.one_of(st.text(max_size=10), st.text(max_size=10), session)},
    }


# The strategies below are built once, not on every draw (hypothesis spends more on a new
# strategy than on drawing from it); the draws are the same.
_shapes = st.sampled_from(["typed", "typed", "typed", "spoilt", "spoilt", "random", "json", "deep", "none"])
_spoilers = json_values | deep_values | huge_texts
_others = {"json": json_values, "deep": deep_values, "none": st.none()}
_methods = st.sampled_from([*METHODS, "initialize", "agent/nope", "textDocument/hover", "shutdown?"])
_foreign_params: st.SearchStrategy[Any] = json_values | st.just({"processId": None, "capabilities": {}})


@functools.cache
def _names(fields: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields))


@functools.cache
def _spoilt_keys(fields: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from([*fields, "extra", "sessionID"])


@functools.cache
def _random_params(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from([*fields, "x"]), json_values, max_size=4)


@st.composite
def params_for(draw: st.DrawFn, fuzzed: Fuzzed, method: Any) -> Any:
    """Params for `method`: well-typed, well-typed with one field spoilt, random keys,
    or any JSON at all."""
    fields = _well_typed(fuzzed)[method.name]
    shape = draw(_shapes)
    if shape in ("typed", "spoilt"):
        names = draw(_names(tuple(fields)))
        params = {name: draw(fields[name]) for name in names}
        required = [n for n, info in method.params.model_fields.items() if info.is_required()]
        for name in required:  # mostly present
            alias = method.params.model_fields[name].alias or name
            if alias not in params and draw(st.integers(0, 9)) > 0:
                params[alias] = draw(fields[alias])
        if shape == "spoilt":
            key = draw(_spoilt_keys(tuple(fields)))
            params[key] = draw(_spoilers)
        return params
    if shape == "random":
        return draw(_random_params(tuple(fields)))
    return draw(_others[shape])


@st.composite
def requests(draw: st.DrawFn, fuzzed: Fuzzed) -> tuple[Any, bytes]:
    """(the valid id, the frame) of a request to an agent/* method, or another one."""
    method = draw(_methods)
    msg_id = fuzzed.fresh_id(draw(st.booleans()))
    if isinstance(method, str):
        params = draw(_foreign_params)
        return msg_id, frame(message(msg_id, method, params))
    params = draw(params_for(fuzzed, method))
    return msg_id, frame(message(msg_id, method.name, params))


@st.composite
def junk_bodies(draw: st.DrawFn) -> bytes:
    """Bodies a frame of the right length may carry and still be wrong. Their ids are
    junk: the books do not count them (a junk request may well be answered)."""
    junk_id = draw(st.sampled_from(["junk-a", "junk-b"]) | bad_ids)
    bad_id = draw(bad_ids)
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=100).map(str.encode),
            json_values.map(lambda v: json.dumps(v).encode()),
            deep_values.map(lambda d: message(junk_id, "agent/getSession", {"sessionId": d})),
            deep_values.map(lambda d: message(junk_id, ..., None, result=d)),
            deep_values.map(lambda d: str(d).encode()),
            json_values.map(lambda p: message(bad_id, "agent/listSessions", p)),
            st.sampled_from(
                [
                    message(junk_id, "agent/listSessions", jsonrpc="1.0"),
                    message(junk_id, 5),
                    message(..., ...),
                    message(junk_id, "agent/sendMessage", Raw('{"text": "\\udfff"}')),
                    b'{"jsonrpc": "2.0", "method": "m", "params": NaN}',
                    b"\xef\xbb\xbf{}",
                ]
            ),
        )
    )
    return _BANNED.sub(b"content-lengt_", body)


header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z")
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
header_lines = st.builds(lambda n, v: f"{n}: {v}\r\n".encode(), header_names, header_values)
bad_lengths = st.one_of(
    st.integers(-(10**6), -1).map(str),
    st.floats(allow_nan=True).map(str),
    st.integers(10**15, 10**30).map(str),
    st.text(st.characters(exclude_characters="\r\n"), max_size=12),
    st.sampled_from(["", " ", "0x10", "+5", "1_0", "\u0662", "5 5", "NaN", "-0"]),
).filter(lambda v: not re.fullmatch(r"[ \t]*[0-9]{1,15}[ \t]*", v))


@st.composite
def malformed(draw: st.DrawFn) -> bytes:
    """A malformed frame, or bytes that are not one. None of them can leave a valid
    Content-Length waiting for a body, so the probe after it must be answered."""
    kind = draw(st.integers(0, 9))
    if kind == 0:  # a Content-Length that is no length
        name = draw(st.sampled_from(["Content-Length", "content-length", "CONTENT-LENGTH"]))
        value = _BANNED.sub(b"_", draw(bad_lengths).encode())
        return f"{name}: ".encode() + value + b"\r\n\r\n" + draw(junk_bodies())
    if kind == 1:  # no Content-Length at all
        headers = _BANNED.sub(b"_", b"".join(draw(st.lists(header_lines, max_size=5))))
        return headers + b"\r\n" + draw(junk_bodies())
    if kind in (2, 3):  # the right length around a wrong body
        return frame(draw(junk_bodies()))
    if kind == 4:  # a body longer than its length
        body = draw(junk_bodies())
        tail = _BANNED.sub(b"_", draw(st.binary(min_size=1, max_size=50)))
        return b"Content-Length: %d\r\n\r\n" % draw(st.integers(0, len(body))) + body + tail
    if kind == 5:  # over the body limit, and sent whole
        size = FRAME_LIMIT + draw(st.integers(1, 64 * 1024))
        return b"Content-Length: %d\r\n\r\n" % size + b"z" * size
    if kind == 6:  # a header line over the limit
        chunk = b"X-Long: " + b"a" * draw(st.integers(HEADER_LIMIT, 4 * HEADER_LIMIT))
        chunk += draw(st.sampled_from([b"\r\n", b""]))
    elif kind == 7:  # too many header lines
        chunk = b"".join(draw(st.lists(header_lines, min_size=17, max_size=30))) + b"\r\n"
    elif kind == 8:  # bytes
        chunk = draw(st.binary(max_size=300))
    else:  # non-ASCII or control bytes in a header
        chunk = draw(st.binary(min_size=1, max_size=20)) + b": 1\r\n" + draw(st.sampled_from([b"\r\n{}", b""]))
    return _BANNED.sub(b"content-lengt_", chunk)


# --- the fuzz runs ---------------------------------------------------------------------------


@settings(FUZZ, max_examples=1200)
@given(chunk=malformed())
async def test_malformed_frames_are_answered_and_the_stream_resynchronises(fuzzed: Fuzzed, chunk: bytes) -> None:
    fuzzed.cases += 1
    fuzzed.sidecar.send(chunk)
    await fuzzed.probe()
    assert fuzzed.sidecar.violations == []


@settings(FUZZ, max_examples=700)
@given(data=st.data())
async def test_random_params_of_every_method_are_answered_exactly_once(fuzzed: Fuzzed, data: st.DataObject) -> None:
    batch = data.draw(st.lists(requests(fuzzed), min_size=1, max_size=6))
    fuzzed.cases += len(batch)
    waiting = [fuzzed.send(msg_id, raw) for msg_id, raw in batch]
    await fuzzed.sidecar.drain()
    await fuzzed.answered([msg_id for msg_id in waiting if msg_id is not None])
    if None in waiting:
        await fuzzed.probe()


@settings(FUZZ, max_examples=400)
@given(data=st.data())
async def test_everything_interleaved(fuzzed: Fuzzed, data: st.DataObject) -> None:
    steps = data.draw(
        st.lists(
            st.one_of(
                requests(fuzzed).map(lambda r: ("request", r)),
                malformed().map(lambda m: ("malformed", m)),
                st.builds(
                    lambda m, p: ("notification", notification(m, p)),
                    st.sampled_from(["$/cancelRequest", "initialized", "agent/sendMessage", "textDocument/didOpen"]),
                    json_values,
                ),
            ),
            min_size=1,
            max_size=8,
        )
    )
    fuzzed.cases += len(steps)
    waiting: list[Any] = []
    for kind, step in steps:
        if kind == "request":
            if (msg_id := fuzzed.send(*step)) is not None:
                waiting.append(msg_id)
        elif kind == "malformed":
            fuzzed.sidecar.send(step)
            await fuzzed.probe()
        else:
            fuzzed.sidecar.send(step)
    await fuzzed.sidecar.drain()
    await fuzzed.answered(waiting)
    await fuzzed.probe()
