"""Benchmarks: `python bench/run.py` prints a table. Run on demand, not in CI.

- cold start: process start → `initialize` result;
- one step: `agent/toolResult` in → next `agent/toolCall` out, with the in-process demo
  model and with an instant local model behind litellm, over many steps (p50, p99); the
  same round trip through a bare pygls server with the same framing (the floor), ratios;
- RSS after start, after the first model call, after the steps;
- prompt tokens of a 5-subtask demo plan: this design (each subtask sees its brief and
  its own thread) against sending the whole history at every step;
- step latency with 100 sessions running at once in one sidecar;
- a 40-step task reading a 6 KB file a step in the real sidecar (`bench.reading_model`), 32,000-token and
  claude-sonnet-4-5 windows: model calls and compactions;
- its prompt tokens, this design against the whole history every step (litellm's `token_counter` on both);
- its largest prompt, this design and full history;
- its cost in USD at claude-sonnet-4-5 prices (litellm's offline map), this design and full history, without
  a prompt cache and with one modelled as Anthropic's (`bench.long_task`).

`--only long-task` runs only the long task's rows; `--only steps` only the step and concurrency rows of
`bench.steps` (this tree against `--baseline`, a revision or a directory, side by side); `--only costs`
only `bench.costs` (cold start against the floor, the litellm call against the raw SDK, a 500 ms model
at 1 and 100 sessions, RSS, `chat`, side by side with `--baseline`) and `bench.nagle`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from bench import costs, instant_llm, long_task, nagle, reading_model, steps  # noqa: E402
from bench.tokens import MODEL, Tokens, load_litellm  # noqa: E402
from server.chat.tools import WorkspaceTools  # noqa: E402
from server.lsp.jsonrpc import raw_converter  # noqa: E402

ENV = {
    **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
    "NO_PROXY": "127.0.0.1",
    "PYTHONPATH": str(ROOT),
}


class Client:
    def __init__(self) -> None:
        self.lsp = LanguageClient("bench", "1", converter_factory=raw_converter)
        self.calls: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.by_session: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}

        @self.lsp.feature("agent/toolCall")
        def on_call(params: dict[str, Any]) -> None:
            arrival = (time.perf_counter(), params)
            self.calls.put_nowait(arrival)
            self.by_session.setdefault(params["sessionId"], asyncio.Queue()).put_nowait(arrival)

        for method in ("agent/stream", "agent/status", "agent/planUpdate"):
            self.lsp.feature(method)(lambda params: None)

    async def start(
        self, *args: str, options: dict[str, Any] | None = None, workspace: Path, env: dict[str, str] | None = None
    ) -> float:
        started = time.perf_counter()
        await self.lsp.start_io(*args, env={**ENV, **(env or {})}, cwd=str(workspace))
        await self.lsp.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=workspace.as_uri(), initialization_options=options
            )
        )
        elapsed = time.perf_counter() - started
        self.lsp.initialized(types.InitializedParams())
        return elapsed

    @property
    def pid(self) -> int:
        return self.lsp._server.pid  # type: ignore[union-attr]

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.lsp.protocol.send_request_async(method, params)

    async def stop(self) -> None:
        await self.lsp.shutdown_async(None)
        self.lsp.exit(None)
        await self.lsp.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def cold_start(runs: int, tmp: Path) -> list[float]:
    times = []
    for i in range(runs):
        client = Client()
        times.append(
            await client.start(
                sys.executable,
                "-m",
                "server",
                "--db",
                str(tmp / f"cold{i}.db"),
                "--model",
                "demo",
                "--log-level",
                "WARNING",
                workspace=tmp,
            )
        )
        await client.stop()
    return times


async def sidecar(
    tmp: Path, name: str, model: list[str], files: int = 0, steps: int = 50, *, env: dict[str, str] | None = None
) -> tuple[Client, Path]:
    """A sidecar on a fresh database, in a workspace of `files` small files."""
    workspace = tmp / name
    workspace.mkdir()
    for i in range(files):
        (workspace / f"f{i:04d}.txt").write_text("A\n")
    client = Client()
    await client.start(
        sys.executable,
        "-m",
        "server",
        "--db",
        str(tmp / f"{name}.db"),
        "--model",
        *model,
        options={"limits": {"maxSteps": steps + 50}},
        workspace=workspace,
        env=env,
    )
    return client, workspace


async def timed_step(
    client: Client,
    session: str,
    call: dict[str, Any],
    tools: WorkspaceTools,
    queue: asyncio.Queue[tuple[float, dict[str, Any]]],
) -> tuple[float, dict[str, Any]]:
    """Run `call` in the workspace, answer it; (seconds until the next toolCall, that call)."""
    status, content = tools.run(call["name"], call["arguments"])
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


async def sidecar_steps(steps: int, tmp: Path, model: list[str]) -> tuple[list[float], dict[str, float], float]:
    """Steps of the code agent reading the workspace's files one by one."""
    client, workspace = await sidecar(tmp, f"files-{model[0].replace('/', '-')}", model, files=steps + 5, steps=steps)
    memory = {"after start": rss_mb(client.pid)}
    result = await client.request("agent/sendMessage", {"text": "read every file", "mode": "code"})
    memory["after first model call"] = rss_mb(client.pid)
    session = result["sessionId"]
    tools = WorkspaceTools(workspace)
    _, call = await client.calls.get()
    latencies = []
    for _ in range(steps):
        latency, call = await timed_step(client, session, call, tools, client.calls)
        latencies.append(latency)
    usage = (await client.request("agent/getSession", {"sessionId": session}))["usage"]["byAgent"]["code"]
    model_ms = usage["durationMs"] / usage["requests"]
    memory[f"after {steps} steps"] = rss_mb(client.pid)
    await client.stop()
    return latencies, memory, model_ms / 1000


async def floor_steps(steps: int, tmp: Path) -> list[float]:
    client = Client()
    await client.start(sys.executable, str(ROOT / "bench" / "floor_server.py"), workspace=tmp)
    latencies, pending = [], "call_0"
    for _ in range(steps):
        sent = time.perf_counter()
        answered = asyncio.ensure_future(
            client.request(
                "agent/toolResult", {"sessionId": "s", "callId": pending, "status": "success", "content": "A"}
            )
        )
        arrived, call = await client.calls.get()
        latencies.append(arrived - sent)
        pending = call["callId"]
        await answered
    await client.stop()
    return latencies


async def plan_tokens(tmp: Path) -> tuple[int, int, int]:
    """(subtasks, prompt tokens of the agents' steps in this design, the same steps
    sending the whole history), with the demo model's own estimate (4 characters a token)."""
    from server.agents.specs import AGENTS
    from server.models.base import estimate_tokens

    client, workspace = await sidecar(tmp, "plan", ["demo"])
    result = await client.request(
        "agent/sendMessage", {"text": "implement a currency rates app with a cli and a cache"}
    )
    session = result["sessionId"]
    tools = WorkspaceTools(workspace)
    while result["status"] != "completed":
        if result["status"] == "awaiting_plan_approval":
            result = await client.request(
                "agent/approvePlan", {"sessionId": session, "planId": result["planId"], "decision": "approve"}
            )
            continue
        assert result["status"] == "awaiting_tool_results", result
        _, call = await client.calls.get()
        status, content = tools.run(call["name"], call["arguments"])
        result = await client.request(
            "agent/toolResult",
            {"sessionId": session, "callId": call["callId"], "status": status.value, "content": content},
        )
    state = await client.request("agent/getSession", {"sessionId": session})
    await client.stop()
    usage = state["usage"]
    ours = usage["total"]["promptTokens"] - usage["byAgent"].get("orchestrator", {}).get("promptTokens", 0)
    history: list[dict[str, Any]] = []
    full = 0
    for message in state["messages"]:
        if message["role"] == "assistant" and message["kind"] == "message":  # one model step
            system = {"role": "system", "content": AGENTS[message["agent"]].prompt}
            full += estimate_tokens([system, *history])
        entry: dict[str, Any] = {"role": message["role"], "content": message["content"]}
        if message.get("toolCalls"):
            entry["tool_calls"] = message["toolCalls"]
        history.append(entry)
    return len(state["plan"]["subtasks"]), ours, full


LONG_STEPS = 40


async def reading_task(tmp: Path, window: int) -> tuple[list[long_task.Request], dict[str, Any]]:
    """The code agent (`bench.reading_model`) reads `LONG_STEPS` 6 KB files, one a step,
    in a sidecar told the model's window is `window`: the requests it made, the session."""
    name = f"long-{window}"
    log = tmp / f"{name}.jsonl"
    adapter = ["py:bench.reading_model:ReadingModel", "--context-window", str(window)]
    client, workspace = await sidecar(tmp, name, adapter, env={reading_model.LOG_ENV: str(log)})
    for number in range(1, LONG_STEPS + 1):
        (workspace / reading_model.path_of(number)).write_text(reading_model.file_text(number, LONG_STEPS))
    result = await client.request("agent/sendMessage", {"text": reading_model.TASK, "mode": "code"})
    session = result["sessionId"]
    tools = WorkspaceTools(workspace)
    while result["status"] == "awaiting_tool_results":
        _, call = await client.calls.get()
        status, content = tools.run(call["name"], call["arguments"])
        result = await client.request(
            "agent/toolResult",
            {"sessionId": session, "callId": call["callId"], "status": status.value, "content": content},
        )
    assert result["status"] == "completed", result
    state = await client.request("agent/getSession", {"sessionId": session})
    await client.stop()
    return long_task.read_log(log), state


async def long_task_rows(tmp: Path) -> list[tuple[str, str]]:
    """The reading task with a 32,000-token window and with the window litellm's map gives
    `MODEL`, the two at once (the second starts once litellm, importing meanwhile, says it)."""
    small = asyncio.ensure_future(reading_task(tmp, 32_000))
    litellm = await load_litellm()
    mapped = int(litellm.get_model_info(MODEL)["max_input_tokens"])
    runs = await asyncio.gather(small, reading_task(tmp, mapped))
    tokens = Tokens(litellm)
    rows: list[tuple[str, str]] = []
    for (requests, state), window, what in zip(
        runs, (32_000, mapped), ("compaction's default window", f"{MODEL}, litellm's map"), strict=True
    ):
        outcome = long_task.measure(litellm, tokens, window, requests, state)
        rows += long_task.rows(outcome, LONG_STEPS, what)
    return rows


async def concurrent_steps(sessions: int, steps: int, tmp: Path) -> list[float]:
    """Step latencies with `sessions` sessions stepping at once in one sidecar (demo model)."""
    client, workspace = await sidecar(tmp, f"many-{sessions}", ["demo"], files=steps + 2, steps=steps)
    tools = WorkspaceTools(workspace)
    latencies: list[float] = []

    async def one() -> None:
        result = await client.request("agent/sendMessage", {"text": "read every file", "mode": "code"})
        queue = client.by_session.setdefault(result["sessionId"], asyncio.Queue())
        _, call = await queue.get()
        for _ in range(steps):
            latency, call = await timed_step(client, result["sessionId"], call, tools, queue)
            latencies.append(latency)

    await asyncio.gather(*(one() for _ in range(sessions)))
    await client.stop()
    return latencies


POLICY_COMMANDS = (
    "ls -la",
    "git status && pytest -x tests",
    "npm test -- --watch | tail -20",
    "ls & rm -rf victim",
    "bash -c 'cd build && make -j4'",
    "find . -name '*.py' -exec grep -l TODO {} +",
    "FOO=1 python -m pytest $(git diff --name-only)",
)


def policy_decisions(rounds: int, root: Path) -> tuple[float, list[float]]:
    """The approval policy on execute_command: the first decision (loads the grammar),
    then the time per decision over a mix of plain, chained, wrapped and unsafe lines."""
    from server.agents.approval import decide
    from server.agents.tools import REGISTRY
    from server.settings import ApprovalSettings

    spec = next(s for s in REGISTRY if s.name == "execute_command")
    settings = ApprovalSettings(
        allowed_commands=("ls", "git status", "pytest", "npm test"), denied_commands=("rm -rf",)
    )
    calls = [spec.args_model.model_validate({"command": c}) for c in POLICY_COMMANDS]
    started = time.perf_counter()
    decide(spec, calls[0], settings, root)
    first = time.perf_counter() - started
    each: list[float] = []
    for _ in range(rounds):
        for args in calls:
            started = time.perf_counter()
            decide(spec, args, settings, root)
            each.append(time.perf_counter() - started)
    return first, each


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


async def core_rows(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str]]:
    server, url = await instant_llm.start()
    cold = await cold_start(args.cold_runs, tmp)
    demo, _, _ = await sidecar_steps(args.steps, tmp, ["demo"])
    steps, memory, model = await sidecar_steps(args.steps, tmp, ["openai/instant", "--api-base", url])
    floor = await floor_steps(args.steps, tmp)
    subtasks, ours, full = await plan_tokens(tmp)
    many = await concurrent_steps(args.sessions, args.session_steps, tmp)
    single = await concurrent_steps(1, args.session_steps, tmp)
    policy_first, policy = policy_decisions(200, tmp)
    server.close()
    return [
        ("cold start → initialize result (p50)", ms(statistics.median(cold))),
        ("cold start → initialize result (max)", ms(max(cold))),
        (f"step toolResult → toolCall, in-process demo model (p50, {args.steps} steps)", ms(pct(demo, 0.5))),
        ("step toolResult → toolCall, in-process demo model (p99)", ms(pct(demo, 0.99))),
        ("step, litellm → instant local OpenAI-compatible server (p50)", ms(pct(steps, 0.5))),
        ("step, litellm → instant local OpenAI-compatible server (p99)", ms(pct(steps, 0.99))),
        ("  of which the model call, litellm included (mean)", ms(model)),
        ("step through a bare pygls server, floor (p50)", ms(pct(floor, 0.5))),
        ("step through a bare pygls server, floor (p99)", ms(pct(floor, 0.99))),
        ("ratio demo-model sidecar / floor (p50)", f"{pct(demo, 0.5) / pct(floor, 0.5):8.1f} x"),
        ("ratio litellm sidecar / floor (p50)", f"{pct(steps, 0.5) / pct(floor, 0.5):8.1f} x"),
        *((f"RSS {label}", f"{value:8.1f} MB") for label, value in memory.items()),
        (f"prompt tokens, {subtasks}-subtask demo plan, this design", f"{ours:8d}"),
        (f"prompt tokens, {subtasks}-subtask demo plan, full history each step", f"{full:8d}"),
        ("  this design / full history", f"{ours / full:8.2f}"),
        (f"step with 1 session, demo ({args.session_steps} steps, p50)", ms(pct(single, 0.5))),
        (f"step with {args.sessions} concurrent sessions, demo (p50)", ms(pct(many, 0.5))),
        (f"step with {args.sessions} concurrent sessions, demo (p99)", ms(pct(many, 0.99))),
        ("approval of execute_command, first decision (grammar load)", ms(policy_first)),
        (f"approval of execute_command, per decision ({len(POLICY_COMMANDS)} lines, p50)", ms(pct(policy, 0.5))),
        ("approval of execute_command, per decision (p99)", ms(pct(policy, 0.99))),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--session-steps", type=int, default=20)
    parser.add_argument("--only", choices=["long-task", "steps", "costs"], help="run only these rows")
    parser.add_argument("--call-rounds", type=int, default=4, help="rounds of model calls per tree in the costs rows")
    parser.add_argument("--slow-steps", type=int, default=5, help="steps per session with the 500 ms model")
    parser.add_argument("--baseline", default=steps.BASELINE, help="revision or directory the steps rows compare with")
    parser.add_argument("--turn-runs", type=int, default=3, help="long turns per tree in the steps rows")
    parser.add_argument("--crowd-runs", type=int, default=3, help="runs per tree and concurrency in the steps rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        rows = [] if args.only else await core_rows(args, tmp)
        if args.only in (None, "steps"):
            steps.show(await steps.rows(tmp, args.baseline, args.turn_runs, args.crowd_runs, args.session_steps))
        if args.only in (None, "costs"):
            (tmp / "costs").mkdir()
            baseline = steps.baseline_tree(args.baseline, tmp / "costs")
            more = await costs.rows(
                tmp, baseline, runs=args.cold_runs, call_rounds=args.call_rounds, slow_steps_each=args.slow_steps
            )
            steps.show(more)
            rows += await nagle.rows()
        if args.only not in ("steps", "costs"):
            rows += await long_task_rows(tmp)
    width = max((len(r[0]) for r in rows), default=0)
    print(f"{'measure':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 12}")
    for label, value in rows:
        print(f"{label:<{width}} | {value}")


if __name__ == "__main__":
    asyncio.run(main())
