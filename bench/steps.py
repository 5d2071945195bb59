"""The sidecar's own step, this tree against a baseline tree, side by side in one run.

- demo step p50/p99 at step 10 and at step 500 of one turn (windows of `WINDOW` steps,
  `--turn-runs` turns), with the demo model's own time per call and the rest (the sidecar);
- step 10 against step 500 with the history the only difference (`alternating`: one
  sidecar, two sessions stepped in turn, the demo's replies replayed so that the model's
  own work is the same at both);
- throughput (steps/s over the stepping phase) and step p50 at 1, 10 and 100 concurrent
  demo sessions;
- at 100 sessions, the write lock: the longest wait, the longest transaction, the median
  one, and the waits over the bound "the slowest transaction + one median transaction per
  writer queued ahead".

Both trees run as real sidecars over stdio, started through this file's `--probe` mode:
it times the write lock (`Database._write_lock`, a timed subclass) and the demo model's
`complete`, and writes what it saw to a file when the database closes. The editor is
this bench: it answers `list_files` with a listing of `FILES` names and `read_file` with
a two-byte file, so the client's own work stays small.

`python bench/run.py --only steps [--baseline REV_or_DIR]` runs only these rows; the
default baseline is the revision before this storage layer (`BASELINE`), extracted with
`git archive` into a temporary directory (git state is not touched).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from asyncio.subprocess import PIPE
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
BASELINE = "bd828db"
FILES = 600
WINDOW = 20
AT = (10, 500)
TURN_STEPS = AT[-1] + WINDOW
CONCURRENCY = (1, 10, 100)


@dataclass
class Probe:
    """What a probed sidecar saw: per transaction (lock wait, lock held, writers queued
    ahead), and the demo model's time per call."""

    waits: list[float] = field(default_factory=lambda: [])
    held: list[float] = field(default_factory=lambda: [])
    ahead: list[int] = field(default_factory=lambda: [])
    model: list[float] = field(default_factory=lambda: [])

    @classmethod
    def load(cls, path: Path) -> Probe:
        return cls(**json.loads(path.read_text()))


def baseline_tree(spec: str, tmp: Path) -> Path:
    """A directory holding the baseline: `spec` itself, or the revision `spec` extracted;
    its sidecar must import in this environment (else the bench stops and says why)."""
    if Path(spec).is_dir():
        target = Path(spec).resolve()
    else:
        target = tmp / f"baseline-{spec}"
        target.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", spec], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    imports = subprocess.run(
        [sys.executable, "-c", "import server.cli, storage.db, server.models.demo"],
        check=False,
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
    )
    if imports.returncode != 0:
        last = (imports.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise SystemExit(
            f"the baseline {spec} cannot start in this environment: {last}\n"
            "(the default baseline uses aiosqlite: pip install -e '.[bench]')"
        )
    return target


def answer(call: dict[str, Any]) -> str:
    if call["name"] == "list_files":
        return "\n".join(f"f{i:04d}.txt" for i in range(FILES))
    return "A\n"


class Editor:
    """A minimal editor over stdio: frames in and out, JSON parsed, nothing validated (a
    pygls client spends more CPU per step than the sidecar does, and would be measured)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self._process = process
        self._log = log
        self._ended: BaseException | None = None
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.by_session: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}
        self._reading = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], workspace: Path) -> Editor:
        log = workspace.with_suffix(".stderr")
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=PIPE, stdout=PIPE, stderr=stderr, env=env, cwd=workspace, limit=2**24
            )
        editor = cls(process, log)
        await editor.request(
            "initialize",
            {
                "processId": None,
                "rootUri": workspace.as_uri(),
                "capabilities": {},
                "initializationOptions": {"limits": {"maxSteps": TURN_STEPS + 50}},
            },
        )
        editor.notify("initialized", {})
        return editor

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self._process.stdin is not None
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._write({"method": method, "params": params})

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        self._ids += 1
        self.check()
        answer = self._waiting[self._ids] = asyncio.get_running_loop().create_future()
        self._write({"id": self._ids, "method": method, "params": params})
        return await answer

    async def _read(self) -> None:
        out = self._process.stdout
        assert out is not None
        with contextlib.suppress(asyncio.IncompleteReadError):
            await self._frames(out)
        # the sidecar is gone: whoever waits on it is told why instead of waiting forever
        code = await self._process.wait()
        tail = self._log.read_text(errors="replace").strip().splitlines()[-3:]
        self._ended = RuntimeError(f"the sidecar exited with code {code}: {' / '.join(tail) or '(no stderr)'}")
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(self._ended)
        for queue in self.by_session.values():
            queue.put_nowait((0.0, {}))

    def check(self) -> None:
        """Raise if the sidecar has exited."""
        if self._ended is not None:
            raise self._ended

    async def _frames(self, out: asyncio.StreamReader) -> None:
        while header := await out.readuntil(b"\r\n\r\n"):
            length = next(
                int(line.split(b":")[1]) for line in header.split(b"\r\n") if line.startswith(b"Content-Length")
            )
            message = json.loads(await out.readexactly(length))
            arrived = time.perf_counter()
            if "id" in message and "method" not in message:
                waiting = self._waiting.pop(message["id"])
                if "error" in message:
                    waiting.set_exception(RuntimeError(message["error"]))
                else:
                    waiting.set_result(message.get("result"))
            elif message.get("method") == "agent/toolCall":
                params = message["params"]
                self.by_session.setdefault(params["sessionId"], asyncio.Queue()).put_nowait((arrived, params))
            elif "id" in message:  # a request of the sidecar's: answer it
                self._write({"id": message["id"], "result": None})

    async def stop(self) -> None:
        await self.request("shutdown", {})
        self.notify("exit", {})
        try:
            await asyncio.wait_for(self._process.wait(), 30)
        finally:
            if self._process.returncode is None:
                self._process.kill()
            self._reading.cancel()


async def started(tree: Path, tmp: Path, name: str, replies: tuple[str, Path] | None = None) -> tuple[Editor, Path]:
    """A probed sidecar of `tree` on a fresh database: (editor, the probe's file).
    `replies`: ("--record", file) keeps the demo model's replies by prompt, ("--replay",
    file) answers with them instead of the demo (a model whose own work is constant)."""
    workspace = tmp / name
    workspace.mkdir()
    probe = tmp / f"{name}.probe.json"
    argv = [
        sys.executable,
        str(HERE),
        "--probe",
        str(probe),
        *((replies[0], str(replies[1])) if replies else ()),
        "--db",
        str(tmp / f"{name}.db"),
        "--model",
        "demo",
        "--log-level",
        "WARNING",
    ]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return await Editor.start(argv, {**env, "PYTHONPATH": str(tree)}, workspace), probe


async def step(client: Editor, session: str, call: dict[str, Any], queue: asyncio.Queue[Any]) -> tuple[float, Any]:
    """Answer `call`: (seconds until the session's next toolCall, that call)."""
    sent = time.perf_counter()
    answered = asyncio.ensure_future(
        client.request(
            "agent/toolResult",
            {"sessionId": session, "callId": call["callId"], "status": "success", "content": answer(call)},
        )
    )
    arrived, following = await queue.get()
    client.check()
    await answered
    return arrived - sent, following


async def start_session(client: Editor) -> tuple[str, asyncio.Queue[Any], dict[str, Any]]:
    result = await client.request("agent/sendMessage", {"text": "read every file", "mode": "code"})
    queue = client.by_session.setdefault(result["sessionId"], asyncio.Queue())
    _, call = await queue.get()
    client.check()
    return result["sessionId"], queue, call


@dataclass
class Turn:
    latencies: list[float]
    model: list[float]
    """The demo model's time on the call each step ended with."""


async def one_turn(tree: Path, tmp: Path, name: str, record: Path | None = None) -> Turn:
    """`TURN_STEPS` steps of one turn (list the workspace, then read file after file);
    `record`: keep the demo model's replies there."""
    client, probe = await started(tree, tmp, name, ("--record", record) if record else None)
    session, queue, call = await start_session(client)
    latencies: list[float] = []
    for _ in range(TURN_STEPS):
        latency, call = await step(client, session, call, queue)
        latencies.append(latency)
    await client.stop()
    model = Probe.load(probe).model
    return Turn(latencies, model[1 : TURN_STEPS + 1])


@dataclass
class Alternating:
    early: list[float]
    """A fresh session's steps `AT[0]` .. `AT[0] + WINDOW`."""
    late: list[float]
    """The other session's steps `AT[-1]` .. `AT[-1] + WINDOW`, taken in turn with those."""


async def alternating(tree: Path, tmp: Path, name: str, replies: Path) -> Alternating:
    """Step 10 against step 500 with nothing else different: one sidecar, the model's
    replies replayed (its own work the same at every step), a session taken to step 500,
    then a fresh one taken to step 10, then a step of each in turn. What one step costs
    more than the other comes from the history alone, not from the machine's speed over
    the run, the process's heap or the model reading a longer prompt."""
    client, _ = await started(tree, tmp, name, ("--replay", replies))
    late_session, late_queue, late_call = await start_session(client)
    for _ in range(AT[-1]):
        _, late_call = await step(client, late_session, late_call, late_queue)
    session, queue, call = await start_session(client)
    for _ in range(AT[0]):
        _, call = await step(client, session, call, queue)
    early: list[float] = []
    late: list[float] = []
    for _ in range(WINDOW):
        latency, call = await step(client, session, call, queue)
        early.append(latency)
        latency, late_call = await step(client, late_session, late_call, late_queue)
        late.append(latency)
    await client.stop()
    return Alternating(early, late)


@dataclass
class Crowd:
    steps_per_second: float
    latencies: list[float]
    probe: Probe


async def crowd(tree: Path, tmp: Path, name: str, sessions: int, steps: int) -> Crowd:
    """`sessions` sessions stepping at once in one sidecar, `steps` steps each, once all started."""
    client, probe = await started(tree, tmp, name)
    ready = [await start_session(client) for _ in range(sessions)]
    latencies: list[float] = []

    async def run(session: str, queue: asyncio.Queue[Any], call: dict[str, Any]) -> None:
        for _ in range(steps):
            latency, call = await step(client, session, call, queue)
            latencies.append(latency)

    began = time.perf_counter()
    await asyncio.gather(*(run(*r) for r in ready))
    elapsed = time.perf_counter() - began
    await client.stop()
    return Crowd(sessions * steps / elapsed, latencies, Probe.load(probe))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


def lock_check(p: Probe) -> tuple[float, float, float, float, int, int]:
    """(longest wait, longest transaction, p99 transaction, median transaction, most
    writers queued ahead, waits over the bound)."""
    slowest, median = max(p.held), statistics.median(p.held)
    over = sum(1 for wait, ahead in zip(p.waits, p.ahead, strict=True) if wait > slowest + ahead * median)
    return max(p.waits), slowest, pct(p.held, 0.99), median, max(p.ahead), over


@dataclass
class Runs:
    turns: dict[str, list[Turn]]
    paired: dict[str, list[Alternating]]
    crowds: dict[tuple[str, int], list[Crowd]]


async def measure(trees: dict[str, Path], tmp: Path, turn_runs: int, crowd_runs: int, crowd_steps: int) -> Runs:
    """Every run, alternating between the trees so that drift in the machine's load hits both alike."""
    turns: dict[str, list[Turn]] = {"base": [], "this": []}
    replies = {key: tmp / f"replies-{key}.pickle" for key in trees}
    for run in range(turn_runs):
        for key, tree in trees.items():
            turns[key].append(await one_turn(tree, tmp, f"turn-{key}-{run}", replies[key] if run == 0 else None))
    paired: dict[str, list[Alternating]] = {"base": [], "this": []}
    for run in range(turn_runs):
        for key, tree in trees.items():
            paired[key].append(await alternating(tree, tmp, f"paired-{key}-{run}", replies[key]))
    crowds: dict[tuple[str, int], list[Crowd]] = {}
    for run in range(crowd_runs):
        for n in CONCURRENCY:
            for key, tree in trees.items():
                crowds.setdefault((key, n), []).append(await crowd(tree, tmp, f"crowd-{key}-{n}-{run}", n, crowd_steps))
    return Runs(turns, paired, crowds)


async def rows(tmp: Path, baseline: str, turn_runs: int, crowd_runs: int, crowd_steps: int) -> list[tuple[str, ...]]:
    """The table: measure | baseline | this tree | ratio."""
    trees = {"base": baseline_tree(baseline, tmp), "this": ROOT}
    runs = await measure(trees, tmp, turn_runs, crowd_runs, crowd_steps)
    turns, paired, crowds = runs.turns, runs.paired, runs.crowds
    table: list[tuple[str, ...]] = []

    def row(label: str, base: float, this: float, unit: str = "ms") -> None:
        if unit == "ms":
            table.append((label, ms(base), ms(this), f"{this / base:6.2f} x"))
        else:
            table.append((label, f"{base:8.1f} {unit}", f"{this:8.1f} {unit}", f"{this / base:6.2f} x"))

    for at in AT:
        window = {k: [t.latencies[i] for t in v for i in range(at, at + WINDOW)] for k, v in turns.items()}
        model = {k: [t.model[i] for t in v for i in range(at, at + WINDOW)] for k, v in turns.items()}
        own = {k: [t.latencies[i] - t.model[i] for t in v for i in range(at, at + WINDOW)] for k, v in turns.items()}
        row(f"demo step at step {at} of one turn (p50)", pct(window["base"], 0.5), pct(window["this"], 0.5))
        row(f"demo step at step {at} of one turn (p99)", pct(window["base"], 0.99), pct(window["this"], 0.99))
        row("  of which the demo model's own call (p50)", pct(model["base"], 0.5), pct(model["this"], 0.5))
        row("  the step without the model's call (p50)", pct(own["base"], 0.5), pct(own["this"], 0.5))
    early = {k: [x for a in v for x in a.early] for k, v in paired.items()}
    late = {k: [x for a in v for x in a.late] for k, v in paired.items()}
    row(f"replayed model, in turn: step {AT[0]} of one session (p50)", pct(early["base"], 0.5), pct(early["this"], 0.5))
    row(f"replayed model, in turn: step {AT[-1]} of another (p50)", pct(late["base"], 0.5), pct(late["this"], 0.5))
    growth = {k: pct(late[k], 0.5) / pct(early[k], 0.5) for k in trees}
    table.append(
        (
            f"  step {AT[-1]} / step {AT[0]} (the growth the history alone causes)",
            f"{growth['base']:6.2f} x",
            f"{growth['this']:6.2f} x",
            "",
        )
    )
    for n in CONCURRENCY:
        rate = {k: statistics.median(c.steps_per_second for c in crowds[(k, n)]) for k in trees}
        p50 = {k: statistics.median(pct(c.latencies, 0.5) for c in crowds[(k, n)]) for k in trees}
        row(f"{n} concurrent demo sessions: throughput (median of {crowd_runs})", rate["base"], rate["this"], "steps/s")
        row(f"{n} concurrent demo sessions: step p50", p50["base"], p50["this"])
    top = CONCURRENCY[-1]
    checks = {k: [lock_check(c.probe) for c in crowds[(k, top)]] for k in trees}
    labels = ("longest lock wait", "longest transaction (lock held)", "transaction p99", "median transaction")
    for index, label in enumerate(labels):
        row(
            f"{top} sessions: {label} (median of runs)",
            statistics.median(c[index] for c in checks["base"]),
            statistics.median(c[index] for c in checks["this"]),
        )
    table.append(
        (
            f"{top} sessions: most writers queued / waits over the bound (all runs)",
            f"{max(c[4] for c in checks['base'])} / {sum(c[5] for c in checks['base'])}",
            f"{max(c[4] for c in checks['this'])} / {sum(c[5] for c in checks['this'])}",
            "",
        )
    )
    return table


def show(table: list[tuple[str, ...]]) -> None:
    header = ("measure", "baseline", "this tree", "this / baseline")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *table]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    print()


# --- the probe: runs inside a sidecar process, in either tree ---------------------------


def probe_main(out: str, argv: list[str]) -> int:
    """Start the sidecar of the tree on PYTHONPATH with its write lock and demo model
    timed; `--record FILE` / `--replay FILE` first in `argv`: keep the demo model's
    replies by (purpose, prompt length), or answer with them (`started`)."""
    import pickle

    from server.cli import main
    from server.models.demo import DemoModel
    from storage.db import Database

    seen = Probe()

    class TimedLock(asyncio.Lock):
        _since = 0.0

        async def acquire(self) -> bool:
            waiters = self._waiters  # pyright: ignore[reportAttributeAccessIssue]
            ahead = (len(waiters) if waiters else 0) + int(self.locked())
            began = time.perf_counter()
            await super().acquire()
            self._since = time.perf_counter()
            seen.waits.append(self._since - began)
            seen.ahead.append(ahead)
            return True

        def release(self) -> None:
            seen.held.append(time.perf_counter() - self._since)
            super().release()

    init, close, complete = Database.__init__, Database.close, DemoModel.complete
    replies_mode, replies_file = (argv[0], Path(argv[1])) if argv[:1] in (["--record"], ["--replay"]) else ("", None)
    argv = argv[2:] if replies_file else argv
    replies: dict[tuple[str, int], Any] = {}
    if replies_mode == "--replay" and replies_file:
        with replies_file.open("rb") as file:
            replies = pickle.load(file)

        async def replayed(self: DemoModel, request: Any, on_delta: Any) -> Any:
            reply = replies[(request.purpose, len(request.messages))]
            for piece in reply.text.split():
                await on_delta(piece + " ")
            return reply

        complete = replayed  # type: ignore[assignment]

    def timed_init(self: Database, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._write_lock = TimedLock()  # pyright: ignore[reportPrivateUsage]

    async def timed_close(self: Database) -> None:
        with open(out, "w") as file:  # noqa: ASYNC230 - once, as the sidecar stops
            json.dump(seen.__dict__, file)
        if replies_mode == "--record" and replies_file:
            with replies_file.open("wb") as file:
                pickle.dump(replies, file)
        await close(self)

    async def timed_complete(self: DemoModel, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            reply = await complete(self, *args, **kwargs)
        finally:
            seen.model.append(time.perf_counter() - began)
        if replies_mode == "--record":
            request = args[0]
            replies[(request.purpose, len(request.messages))] = reply
        return reply

    Database.__init__ = timed_init  # type: ignore[method-assign]
    Database.close = timed_close  # type: ignore[method-assign]
    DemoModel.complete = timed_complete  # type: ignore[method-assign]
    return main(argv)


if __name__ == "__main__" and sys.argv[1:2] == ["--probe"]:
    sys.path.pop(0)  # this directory: the tree on PYTHONPATH is the one measured
    sys.exit(probe_main(sys.argv[2], sys.argv[3:]))
