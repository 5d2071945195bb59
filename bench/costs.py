"""What the sidecar costs around the step, this tree against a baseline tree, side by side.

- cold start → `initialize` result: each tree with the demo model, a bare pygls server
  (the floor), ratios; each tree with a litellm model (its import begins at start here);
- start → first `agent/toolCall` with a litellm model when the editor sends its message
  as soon as `initialize` is answered (what the import on the path of it costs), and
  that less the litellm import and warm-up as the sidecar logged them (what the sidecar
  adds to them: its own start shares the interpreter lock with the import); litellm's
  import and warm-up in a process that does nothing else;
- one model call at 2 messages against the instant local server (TCP_NODELAY): the raw
  OpenAI SDK call, and the tree's litellm model (`LiteLLMModel.complete`), in one process
  per tree, rounds alternating (`--call` mode below);
- with a model that answers after 500 ms (litellm to a local server): the step latency
  over the model's 500 ms at 1 and 100 sessions;
- RSS: the demo sidecar after start; the litellm sidecar after start and after its first
  calls;
- `chat --mode code --yes` (the terminal client) on a 3-file workspace: spawn → first
  tool call shown, last line → process gone, demo and litellm.

Runs alternate between the trees, so that drift in the machine's load hits both alike.
`python bench/run.py --only costs [--baseline REV_or_DIR]` runs only these rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
SLOW = 0.5
"""Seconds the slow model takes to answer."""
CHAT_FILES = 3
SHOWN_CALL = re.compile(r"\s*([✓✗] |· [a-z_]+: (success|error|rejected)\b)")
"""How `chat` shows a tool call it ran: `✓ Read a.txt`, or `· read_file: success` before."""

Tree = dict[str, Path]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _start(
    tree: Path, tmp: Path, name: str, model: list[str], *, files: int = 0, log: Path | None = None
) -> tuple[Any, float, Path]:
    """A sidecar of `tree` on a fresh database: (client, seconds to the `initialize` result, workspace)."""
    from bench.run import Client

    workspace = tmp / name
    workspace.mkdir()
    for i in range(files):
        (workspace / f"f{i:04d}.txt").write_text("A\n")
    client = Client()
    seconds = await client.start(
        sys.executable,
        "-m",
        "server",
        "--db",
        str(tmp / f"{name}.db"),
        "--model",
        *model,
        *(["--log-level", "INFO", "--log-file", str(log)] if log else ["--log-level", "WARNING"]),
        options={"limits": {"maxSteps": 10_000}},
        workspace=workspace,
        env={"PYTHONPATH": str(tree)},
    )
    return client, seconds, workspace


async def _floor(tmp: Path) -> float:
    from bench.run import Client

    client = Client()
    seconds = await client.start(sys.executable, str(ROOT / "bench" / "floor_server.py"), workspace=tmp)
    await client.stop()
    return seconds


async def _step(client: Any, session: str, call: dict[str, Any], queue: asyncio.Queue[Any], files: Path) -> Any:
    """Answer `call` from the workspace `files`: (seconds to the next toolCall, that call)."""
    from server.chat.tools import WorkspaceTools

    status, content = WorkspaceTools(files).run(call["name"], call["arguments"])
    sent = time.perf_counter()
    answered = asyncio.ensure_future(
        client.request(
            "agent/toolResult",
            {"sessionId": session, "callId": call["callId"], "status": status.value, "content": content},
        )
    )
    arrived, following = await queue.get()
    await answered
    return arrived - sent, following


async def _session(client: Any) -> tuple[str, asyncio.Queue[Any], dict[str, Any]]:
    result = await client.request("agent/sendMessage", {"text": "read every file", "mode": "code"})
    queue = client.by_session.setdefault(result["sessionId"], asyncio.Queue())
    _, call = await queue.get()
    return result["sessionId"], queue, call


# --- cold start, first call, RSS -------------------------------------------------------


async def starts(trees: Tree, tmp: Path, runs: int, url: str) -> dict[str, list[float]]:
    """Seconds to the `initialize` result and RSS, demo and litellm, and to the first
    toolCall with litellm; keys like `this/demo`, `floor`, `this/first call`."""
    seen: dict[str, list[float]] = {}
    litellm = ["openai/instant", "--api-base", url]
    for run in range(runs):
        seen.setdefault("floor", []).append(await _floor(tmp))
        for key, tree in trees.items():
            client, seconds, _ = await _start(tree, tmp, f"cold-{key}-{run}", ["demo"])
            seen.setdefault(f"{key}/demo", []).append(seconds)
            seen.setdefault(f"{key}/rss demo", []).append(rss_mb(client.pid))
            await client.stop()
            began = time.perf_counter()
            log = tmp / f"cold-litellm-{key}-{run}.log"
            client, seconds, _ = await _start(tree, tmp, f"cold-litellm-{key}-{run}", litellm, files=3, log=log)
            seen.setdefault(f"{key}/litellm", []).append(seconds)
            seen.setdefault(f"{key}/rss litellm at start", []).append(rss_mb(client.pid))
            await _session(client)
            first = time.perf_counter() - began
            seen.setdefault(f"{key}/first call", []).append(first)
            seen.setdefault(f"{key}/rss litellm after a call", []).append(rss_mb(client.pid))
            await client.stop()
            seen.setdefault(f"{key}/first call over import", []).append(first - logged_import(log))
            seen.setdefault(f"{key}/import alone", []).append(import_alone(tree))
    return seen


def logged_import(log: Path) -> float:
    """Seconds of litellm's import and warm-up as the sidecar logged them, with the
    collection of what they left where it logs one (the import runs with the collector
    paused: its garbage is collected at the end instead of on the way)."""
    found = re.search(
        r"litellm imported in ([\d.]+)s, warmed up in ([\d.]+)s(?: \(then ([\d.]+)s collecting)?", log.read_text()
    )
    if not found:
        return float("nan")
    return sum(float(group) for group in found.groups() if group is not None)


def import_alone(tree: Path) -> float:
    """Seconds of litellm's import and warm-up (the tree's `_load`) in a process doing
    nothing else, at their fastest: the collector off meanwhile, one collection after."""
    code = "import gc, time; gc.disable(); t = time.perf_counter(); "
    code += "from server.models.litellm_model import _load; _load(); gc.collect(); print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.split()[-1])


# --- one model call, in a process of each tree -------------------------------------------


def call_rows_of(tree: Path, url: str, rounds: int, calls: int) -> dict[str, list[float]]:
    """Run `--call` in a process of `tree`: its seconds per call, SDK and litellm."""
    out = subprocess.run(
        [sys.executable, str(HERE), "--call", url, str(rounds), str(calls)],
        env={**os.environ, "PYTHONPATH": str(tree), "NO_PROXY": "127.0.0.1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


async def _call_main(url: str, rounds: int, calls: int) -> None:
    """Inside a tree's process: the raw SDK and the tree's `LiteLLMModel.complete`, each
    `calls` times per round, rounds alternating; print seconds per call as JSON."""
    from openai import AsyncOpenAI

    from protocol.enums import AgentName
    from server.models.base import DeltaKind, ModelRequest
    from server.models.litellm_model import LiteLLMModel, start_import

    await asyncio.wrap_future(start_import())
    tool = {"type": "function", "function": {"name": "list_files", "parameters": {"type": "object"}}}
    messages = [{"role": "system", "content": "You are the code agent."}, {"role": "user", "content": "read all"}]
    sdk = AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
    model = LiteLLMModel("openai/instant", api_base=url, api_key=None, timeout_seconds=30)

    async def raw() -> None:
        stream = await sdk.chat.completions.create(
            model="instant", messages=messages, tools=[tool], stream=True, stream_options={"include_usage": True}
        )  # type: ignore[call-overload]
        async for _ in stream:
            pass

    async def sink(delta: str, kind: DeltaKind = "text") -> None:
        pass

    async def ours() -> None:
        await model.complete(ModelRequest(AgentName.CODE, "agent", list(messages), [tool]), sink)

    kinds: dict[str, Callable[[], Awaitable[None]]] = {"sdk": raw, "litellm": ours}
    seen: dict[str, list[float]] = {k: [] for k in kinds}
    for call in kinds.values():
        for _ in range(20):
            await call()
    for _ in range(rounds):
        for kind, call in kinds.items():
            for _ in range(calls):
                started = time.perf_counter()
                await call()
                seen[kind].append(time.perf_counter() - started)
            await asyncio.sleep(0.05)  # what litellm left to run after a call ends here
    print(json.dumps(seen))


# --- a 500 ms model ---------------------------------------------------------------------


async def slow_steps(tree: Path, tmp: Path, name: str, url: str, *, sessions: int, steps: int) -> list[float]:
    """Step latencies minus the model's `SLOW` seconds, `sessions` sessions at once."""
    client, _, workspace = await _start(tree, tmp, name, ["openai/slow", "--api-base", url], files=steps + 2)
    ready = [await _session(client) for _ in range(sessions)]
    added: list[float] = []

    async def run(session: str, queue: asyncio.Queue[Any], call: dict[str, Any]) -> None:
        for _ in range(steps):
            latency, call = await _step(client, session, call, queue, workspace)
            added.append(latency - SLOW)

    await asyncio.gather(*(run(*r) for r in ready))
    await client.stop()
    return added


# --- the terminal client ------------------------------------------------------------------


def chat_times(tree: Path, tmp: Path, name: str, model: list[str]) -> tuple[float, float, float]:
    """`chat --mode code --yes` reading a small workspace: (spawn → first tool call shown,
    last line → exited, litellm's import + warm-up + collection as its sidecar logged them:
    NaN where the tree's chat does not hand `--log-file` to its sidecar)."""
    workspace = tmp / name
    workspace.mkdir()
    for i in range(CHAT_FILES):
        (workspace / f"f{i}.txt").write_text("A\n")
    once = ["--once"] if "--once" in (tree / "server" / "cli.py").read_text() else []
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"PYTHONPATH": str(tree), "NO_PROXY": "127.0.0.1", "CODELAB_AGENT_MODEL": model[0]}
    log = tmp / f"{name}.log"
    command = [sys.executable, "-m", "server", "--log-file", str(log), "--log-level", "INFO"]
    command += ["chat", "read every file", "--mode", "code", "--yes", *once]
    command += ["--workspace", str(workspace), "--db", str(tmp / f"{name}.db"), "--model", *model]
    began = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=workspace, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert child.stdout is not None
    first: float | None = None
    last = began
    for raw in child.stdout:
        last = time.perf_counter()
        if first is None and SHOWN_CALL.match(raw.decode(errors="replace")):
            first = last - began
    child.wait()
    gone = time.perf_counter() - last
    return (first if first is not None else float("nan")), gone, logged_import(log) if log.exists() else float("nan")


# --- the table --------------------------------------------------------------------------


class Table:
    """Rows of measure | baseline | this tree | this / baseline."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def row(self, label: str, base: float, this: float, unit: str = "ms") -> None:
        if unit == "ms":
            self.rows.append((label, ms(base), ms(this), f"{this / base:6.2f} x"))
        else:
            self.rows.append((label, f"{base:8.1f} {unit}", f"{this:8.1f} {unit}", f"{this / base:6.2f} x"))


async def start_rows(table: Table, trees: Tree, tmp: Path, runs: int, url: str) -> dict[str, float]:
    """The start rows; returns their medians by key (`this/import alone`, …)."""
    med = {k: statistics.median(v) for k, v in (await starts(trees, tmp, runs, url)).items()}
    floor = med["floor"]
    table.row("cold start → initialize result, demo model (p50)", med["base/demo"], med["this/demo"])
    table.row("  bare pygls server, the floor (p50)", floor, floor)
    base, this = med["base/demo"] / floor, med["this/demo"] / floor
    table.rows.append(("  sidecar / floor", f"{base:8.2f} x", f"{this:8.2f} x", ""))
    table.row("cold start → initialize result, litellm model (p50)", med["base/litellm"], med["this/litellm"])
    table.row(
        "start → first toolCall, litellm model, message sent at once (p50)",
        med["base/first call"],
        med["this/first call"],
    )
    table.row(
        "  − litellm import, warm-up (and collection), as the sidecar logged them (p50)",
        med["base/first call over import"],
        med["this/first call over import"],
    )
    table.row(
        "litellm import + warm-up alone, collector off, one collection after (p50)",
        med["base/import alone"],
        med["this/import alone"],
    )
    for label, key in (
        ("demo sidecar after initialize", "rss demo"),
        ("litellm sidecar after initialize", "rss litellm at start"),
        ("litellm sidecar after its first call", "rss litellm after a call"),
    ):
        table.row(f"RSS, {label} (median)", med[f"base/{key}"], med[f"this/{key}"], "MB")
    return med


async def call_rows(table: Table, trees: Tree, url: str, rounds: int) -> None:
    calls: dict[str, dict[str, list[float]]] = {k: {"sdk": [], "litellm": []} for k in trees}
    for _ in range(2):
        for key, tree in trees.items():
            for kind, values in (await asyncio.to_thread(call_rows_of, tree, url, rounds, 25)).items():
                calls[key][kind] += values
    base, this = calls["base"], calls["this"]
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        table.row(f"model call, 2 messages, raw OpenAI SDK ({name})", pct(base["sdk"], q), pct(this["sdk"], q))
        table.row(
            f"model call, 2 messages, litellm (LiteLLMModel.complete, {name})",
            pct(base["litellm"], q),
            pct(this["litellm"], q),
        )
    table.row(
        "  litellm call − SDK call (p50)",
        pct(base["litellm"], 0.5) - pct(base["sdk"], 0.5),
        pct(this["litellm"], 0.5) - pct(this["sdk"], 0.5),
    )


async def slow_rows(table: Table, trees: Tree, tmp: Path, url: str, steps: int) -> None:
    for sessions in (1, 100):
        added = {
            key: await slow_steps(tree, tmp, f"slow-{key}-{sessions}", url, sessions=sessions, steps=steps)
            for key, tree in trees.items()
        }
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            table.row(
                f"500 ms model (litellm), {sessions} session(s): step − 500 ms ({name})",
                pct(added["base"], q),
                pct(added["this"], q),
            )


async def chat_rows(table: Table, trees: Tree, tmp: Path, url: str, *, runs: int, alone: dict[str, float]) -> None:
    """The chat rows; `alone` is litellm's import + warm-up in a process of its own, by tree."""
    timing: dict[str, list[tuple[float, float, float]]] = {}
    for run in range(runs):
        for key, tree in trees.items():
            for label, model in (("demo", ["demo"]), ("litellm", ["openai/instant", "--api-base", url])):
                got = await asyncio.to_thread(chat_times, tree, tmp, f"chat-{key}-{label}-{run}", model)
                timing.setdefault(f"{key}/{label}", []).append(got)
    for label in ("demo", "litellm"):
        first = {k: statistics.median(t[0] for t in timing[f"{k}/{label}"]) for k in trees}
        gone = {k: statistics.median(t[1] for t in timing[f"{k}/{label}"]) for k in trees}
        table.row(f"chat, {label}: spawn → first tool call shown (median)", first["base"], first["this"])
        if label == "litellm":
            over = {k: statistics.median(t[0] - t[2] for t in timing[f"{k}/{label}"]) for k in trees}
            table.row(
                "  − litellm import, warm-up, collection as its sidecar logged them (median)",
                over["base"],
                over["this"],
            )
            table.row(
                "  − litellm import + warm-up alone (median)",
                first["base"] - alone["base"],
                first["this"] - alone["this"],
            )
        table.row(f"chat, {label}: last line → exited (median)", gone["base"], gone["this"])


def compiled(tree: Path) -> None:
    """Write the tree's bytecode: a tree extracted for the run has none, and with
    PYTHONDONTWRITEBYTECODE set every start would compile it again (~0.1 s)."""
    packages = [str(tree / name) for name in ("server", "protocol", "storage") if (tree / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True, capture_output=True)


async def rows(
    tmp: Path, baseline: Path, *, runs: int, call_rounds: int, slow_steps_each: int
) -> list[tuple[str, ...]]:
    from bench import instant_llm

    trees: Tree = {"base": baseline, "this": ROOT}
    for tree in trees.values():
        compiled(tree)
    instant, url = await instant_llm.start()
    slow, slow_url = await instant_llm.start(delay=SLOW)
    table = Table()
    started = await start_rows(table, trees, tmp, runs, url)
    await call_rows(table, trees, url, call_rounds)
    await slow_rows(table, trees, tmp, slow_url, slow_steps_each)
    alone = {key: started[f"{key}/import alone"] for key in trees}
    await chat_rows(table, trees, tmp, url, runs=max(2, runs // 3), alone=alone)
    instant.close()
    slow.close()
    return table.rows


if __name__ == "__main__" and sys.argv[1:2] == ["--call"]:
    asyncio.run(_call_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
