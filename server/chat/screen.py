"""What the terminal client shows, in one of two styles.

On a terminal (and without `NO_COLOR`), `rich` draws it: Markdown for the agents' text,
coloured diffs, and one live region at the bottom while the sidecar works — the text
streaming in, the running plan's progress, a spinner with the elapsed time — that
updates in place and leaves behind only the finished text. Into a pipe, or with
`NO_COLOR`, everything is plain lines with no escape code at all.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.spinner import Spinner
from rich.text import Text

from protocol.enums import SubtaskStatus
from protocol.plans import Plan

MARKS = {
    SubtaskStatus.PENDING: " ",
    SubtaskStatus.IN_PROGRESS: "…",
    SubtaskStatus.DONE: "✓",
    SubtaskStatus.FAILED: "✗",
    SubtaskStatus.SKIPPED: "-",
}
MARK_STYLES = {SubtaskStatus.DONE: "green", SubtaskStatus.FAILED: "red", SubtaskStatus.IN_PROGRESS: "yellow"}
FOLDED_LINES = 8
"""Lines of a diff shown for a write that needed no approval (the rest is counted)."""
LONGEST_DIFF = 400
_FILES = re.compile(r"(?<![\w./-])([\w./-]+\.[A-Za-z0-9]{1,6})\b")


def fancy_terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def files_named(text: str) -> list[str]:
    """The file names a subtask's description mentions, in order, once each."""
    found = [m.group(1) for m in _FILES.finditer(text) if not m.group(1).startswith(".")]
    return list(dict.fromkeys(found))


def diff_stats(diff: str) -> tuple[int, int]:
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


class Screen:
    def __init__(self, fancy: bool) -> None:
        self.fancy = fancy
        self.console = Console(highlight=False, emoji=False) if fancy else None
        self._live: Live | None = None
        self._started = 0.0
        self._label = ""
        self._plan: Plan | None = None
        self._text = ""
        self._text_kind: str | None = None
        self._agent = ""
        self.notice_hook: Callable[[str], bool] | None = None
        """Set while the user types at a prompt: prints a line above it (returns False if it cannot)."""

    # --- plain writing --------------------------------------------------------------------

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def line(self, text: str = "", style: str = "") -> None:
        """A line of its own, after any text still streaming."""
        self.end_stream()
        if self.console is None:
            self._write(text + "\n")
        else:
            self.console.print(Text(text, style=style), soft_wrap=True)

    def note(self, text: str) -> None:
        """A faint `  · …` line: what happened, for the record."""
        self.line(f"  · {text}", "dim")

    def notice(self, text: str, style: str = "yellow") -> None:
        """A line that may arrive while the user types: printed above the prompt."""
        if self.notice_hook is not None and self.notice_hook(text):
            return
        self.line(text, style)

    def markdown(self, text: str) -> None:
        self.end_stream()
        if self.console is None:
            self._write(text.rstrip() + "\n")
        else:
            self.console.print(Markdown(text))

    def diff(self, diff: str, *, folded: bool) -> None:
        lines = diff.rstrip("\n").splitlines()
        limit = FOLDED_LINES if folded else LONGEST_DIFF
        shown, rest = lines[:limit], lines[limit:]
        if self.console is None:
            self._write("".join(f"    {line}\n" for line in shown))
        else:
            for line in shown:
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                style = "cyan" if line.startswith("@@") else style
                self.console.print(Text("    " + line, style=style), soft_wrap=True)
        if rest:
            added, removed = diff_stats("\n".join(rest))
            self.line(f"    … {len(rest)} more lines (+{added} −{removed})", "dim")

    # --- streaming ------------------------------------------------------------------------

    def stream(self, agent: str, kind: str, delta: str) -> None:
        """The agent's text as it arrives; thoughts apart, faint."""
        if self._text_kind != kind or self._agent != agent:
            self.end_stream()
            self._text_kind, self._agent = kind, agent
            if self.console is None:
                self._write(f"[{agent}] " if kind == "text" else f"[{agent} thinking] ")
        self._text += delta
        if self.console is None:
            self._write(delta)
        # on a terminal the live region redraws itself 8 times a second: rendering the
        # whole reply as Markdown on every delta would cost the square of its length

    def end_stream(self) -> str:
        """Finish the text streaming now (printed once, as Markdown on a terminal); return it."""
        text, kind = self._text, self._text_kind
        self._text, self._text_kind = "", None
        if kind is None:
            return ""
        if self.console is None:
            self._write("" if text.endswith("\n") else "\n")
        elif kind == "thought":
            self.console.print(Text(f"[{self._agent} thinking] {text.strip()}", style="dim italic"), soft_wrap=True)
        elif text.strip():
            self.console.print(Text(f"{self._agent}:", style="bold blue"))
            self.console.print(Markdown(text.strip()))
        self._refresh()
        return text if kind == "text" else ""

    # --- the live region while the sidecar works --------------------------------------------

    def working(self, label: str) -> None:
        """Show that the sidecar works (a spinner with the elapsed time), until `idle`."""
        self._label = label
        if self.console is None or self._live is not None:
            return
        self._started = time.monotonic()
        self._live = Live(
            _Renderable(self._render),
            console=self.console,
            transient=True,
            refresh_per_second=8,
            vertical_overflow="crop",
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def idle(self) -> None:
        self.end_stream()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show_plan_progress(self, plan: Plan | None) -> None:
        """The running plan in the live region (updated in place; never reprinted)."""
        self._plan = plan
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _render(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self._text_kind == "text" and self._text.strip():
            parts.append(Markdown(self._text))
        elif self._text_kind == "thought":
            parts.append(Text(self._text.strip()[-400:], style="dim italic"))
        if self._plan is not None:
            parts.append(plan_progress(self._plan))
        elapsed = time.monotonic() - self._started
        parts.append(Spinner("dots", Text(f"{self._label} · {elapsed:.1f}s  (Ctrl-C cancels)", style="dim")))
        return Group(*parts)

    # --- plans ------------------------------------------------------------------------------

    def plan(self, plan: Plan, status: str) -> None:
        """A plan in full: every subtask with its agent, dependencies, description and files."""
        self.line(f"Plan v{plan.version} ({status}): {plan.goal}", "bold")
        if plan.feedback:
            self.line(f"  revised for: {plan.feedback}", "dim")
        for s in plan.subtasks:
            after = f", after {', '.join(s.dependencies)}" if s.dependencies else ""
            self.line(f"  [{MARKS[s.status]}] {s.id} {s.title} ({s.agent}{after})")
            if s.description and s.description != s.title:
                self.line(f"        {s.description}", "dim")
            files = files_named(s.description)
            if files:
                self.line(f"        files: {', '.join(files)}", "dim")


class _Renderable:
    """A renderable built afresh at every refresh (the spinner and the clock move)."""

    def __init__(self, build: Callable[[], RenderableType]) -> None:
        self._build = build

    def __rich__(self) -> RenderableType:
        return self._build()


def plan_progress(plan: Plan) -> RenderableType:
    done = sum(1 for s in plan.subtasks if s.status in (SubtaskStatus.DONE, SubtaskStatus.SKIPPED))
    lines = [Text(f"Plan: {plan.goal} ({done}/{len(plan.subtasks)})", style="bold")]
    for s in plan.subtasks:
        line = Text(f"  {MARKS[s.status]} ", style=MARK_STYLES.get(s.status, ""))
        line.append(f"{s.id} {s.title}", style="" if s.status is SubtaskStatus.IN_PROGRESS else "dim")
        lines.append(line)
    return Group(*lines)
