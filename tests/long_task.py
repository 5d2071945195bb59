"""A long task for the context budget's tests, as a stateless script: the code agent
reads `f01.txt`, `f02.txt`, ... one per step, writing a paragraph of notes each time,
and completes after the last; the compactor answers summaries; a prompt longer than
`limit` characters (the JSON of its messages) is refused as a real server refuses it.

Stateless: the next file follows from the newest tool result the agent was shown
(never elided), so retries, compactions and restarts replay correctly."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_llm import Reply, Request, call, too_long

TASK = "Read every file f01.txt to f30.txt in order and report what they hold. TASK-MARKER-7f3a"
_FILE = re.compile(r"^FILE-(\d+)")
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "theta",
    "kappa",
    "lambda",
    "sigma",
    "omega",
    "river",
    "stone",
    "cloud",
]


def write_files(root: Path, count: int, size: int = 6_000) -> None:
    for n in range(1, count + 1):
        body = " ".join(WORDS[(n * 7 + i) % len(WORDS)] for i in range(size // 6))
        (root / name(n)).write_text(f"FILE-{n:02d}\n{body}"[:size] + "\n")


def name(n: int) -> str:
    return f"f{n:02d}.txt"


@dataclass
class ReadingTask:
    steps: int = 30
    limit: int | None = None
    notes: int = 0
    """Characters of notes the agent writes with each call (text that cannot be elided)."""
    hold_summary: threading.Event | None = None
    refused: list[int] = field(default_factory=lambda: [])
    """The sizes of the prompts refused as too long."""
    summaries: int = 0

    def __call__(self, request: Request) -> Reply:
        if self.limit is not None and len(request.text) > self.limit:
            self.refused.append(len(request.text))
            return too_long(self.limit)
        if request.agent == "compactor":
            self.summaries += 1
            text = f"## Task\nRead the files.\n## Done\nSummary {self.summaries}.\n## Next\nRead the next file."
            return Reply(text, hold=self.hold_summary)
        done = self.last_read(request)
        if done >= self.steps:
            return Reply("", [call("attempt_completion", result=f"read {done} files")])
        notes = f"Notes after file {done}: " + "n" * self.notes if self.notes else ""
        return Reply(notes, [call("read_file", path=name(done + 1))])

    @staticmethod
    def last_read(request: Request) -> int:
        last = request.last
        if last.get("role") != "tool":
            return 0
        found = _FILE.match(last.get("content") or "")
        return int(found.group(1)) if found else 0
