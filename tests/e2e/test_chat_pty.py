"""`codelab-agent chat` in a terminal, driven through a pseudo-terminal as a person types:
the conversation, approvals, Ctrl-C, the sidecar killed at a prompt, resuming from
another folder, NO_COLOR, and the bare command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.e2e.test_chat import CLI
from tests.fake_llm import FakeLLM, Reply, Scripted, call
from tests.harness import FAKE_MODEL, base_env

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r")
_COLOURS = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7]|38;5|38;2)(?:;[0-9]+)*m")


class Terminal:
    """A program in a pseudo-terminal: what it shows (without escape codes), and keys."""

    def __init__(self, child: pexpect.spawn[str]) -> None:
        self.child = child
        self.raw = ""
        self._seen = 0

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", self.raw)

    def _read(self, timeout: float) -> bool:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        return True

    def expect(self, wanted: str, timeout: float = 60) -> str:
        """Wait until `wanted` is shown after what the last `expect` matched; the text up to it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            found = text.find(wanted, self._seen)
            if found >= 0:
                shown = text[self._seen : found + len(wanted)]
                self._seen = found + len(wanted)
                return shown
            alive = self._read(0.2)
            if not alive and wanted not in self.text[self._seen :]:
                raise AssertionError(f"the program ended before showing {wanted!r}:\n{self.text[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} not shown in {timeout}s:\n{self.text[-3000:]}")

    def type(self, line: str) -> None:
        self.child.send(line + "\r")

    def exit_code(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s:\n{self.text[-3000:]}")
        self.child.close()
        assert self.child.exitstatus is not None, f"ended by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def sidecar_pid(self) -> int:
        """The sidecar process the client started (its only child)."""
        for _ in range(100):
            children = Path(f"/proc/{self.child.pid}/task/{self.child.pid}/children").read_text().split()
            if children:
                return int(children[0])
            time.sleep(0.1)
        raise AssertionError("the client started no sidecar")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for term in started:
        if term.child.isalive():
            term.child.kill(signal.SIGKILL)


def run(
    started: list[Terminal], cwd: Path, *args: str, env: dict[str, str] | None = None, history: Path | None = None
) -> Terminal:
    environment = base_env(TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    environment.pop("CODELAB_AGENT_MODEL", None)
    environment.pop("NO_COLOR", None)
    environment.update(env or {})
    environment["XDG_DATA_HOME"] = str(history or cwd.parent / "data")  # the input history stays in the test
    child = pexpect.spawn(
        str(CLI), list(args), cwd=str(cwd), env=environment, encoding="utf-8", dimensions=(40, 120), timeout=60
    )
    term = Terminal(child)
    started.append(term)
    return term


def test_a_conversation_a_task_then_a_follow_up_in_the_same_session(
    workspace: Path, db_path: Path, terminal: list[Terminal]
) -> None:
    term = run(terminal, workspace, "chat", "--db", str(db_path), "create hello.py that prints hello")
    term.expect("/help for commands")
    asked = term.expect("Write hello.py? [y]es / [a]lways / [n]o + feedback (Enter: yes)")
    assert '+print("hello")' in asked  # the diff before the question
    session = asked.split("· session ")[1].split()[0]
    term.type("y")
    term.expect("Wrote hello.py.")
    term.expect("› ")
    term.type("replace 'hello' with 'world' in hello.py")
    edit = term.expect("Edit hello.py? [y]es / [a]lways / [n]o + feedback (Enter: yes)")
    assert '-print("hello")' in edit and '+print("world")' in edit
    term.type("")  # Enter: the default, yes
    term.expect("Edited hello.py: 'hello' is now 'world'.")
    term.type("/sessions")
    term.expect(f"{session}  ")
    term.type("/cost")
    cost = term.expect("cost unknown").splitlines()[-1]
    assert re.fullmatch(r"7 requests, [\d,]+ tokens in \(0 cached\), [\d,]+ out, cost unknown", cost)  # both turns
    term.type("/quit")
    assert term.exit_code() == 0
    assert f"continue with codelab-agent chat --resume {session}" in term.text
    listed = subprocess.run(
        [str(CLI), "sessions", "--db", str(db_path)], check=True, capture_output=True, text=True, env=base_env()
    )
    assert re.findall(r"^[0-9a-f-]{36}", listed.stdout, re.MULTILINE) == [session]  # the follow-up: same session
    assert (workspace / "hello.py").read_text() == 'print("world")\n'
    assert _COLOURS.search(term.raw), "a terminal without NO_COLOR gets colours"
    assert "Traceback" not in term.text


def test_no_color_means_no_colour_codes(workspace: Path, db_path: Path, terminal: list[Terminal]) -> None:
    term = run(terminal, workspace, "chat", "--once", "--db", str(db_path), "create hello.py", env={"NO_COLOR": "1"})
    term.expect("Write hello.py? [y]es")
    term.type("n not now")
    term.expect("Did not write the file")
    assert term.exit_code() == 0
    assert not _COLOURS.search(term.raw), repr(_COLOURS.search(term.raw))
    assert not (workspace / "hello.py").exists()


def test_ctrl_c_during_a_model_call_cancels_and_exits_130_with_once(
    workspace: Path, db_path: Path, llm: FakeLLM, terminal: list[Terminal]
) -> None:
    held = threading.Event()
    llm.script = Scripted(code=[Reply("never", hold=held)])
    try:
        term = run(
            terminal,
            workspace,
            *("chat", "--once", "--db", str(db_path), "--mode", "code", "--model", FAKE_MODEL, "--api-base", llm.url),
            "say hello",
        )
        session = term.expect("· session ")
        term.expect("thinking")  # the spinner: the model call is under way
        for _ in range(100):
            if llm.requests:
                break
            time.sleep(0.1)
        term.child.sendintr()
        term.expect("Cancelling the turn… (Ctrl-C again quits)")
        term.expect("Cancelled.")
        assert term.exit_code() == 130
    finally:
        held.set()
    assert session and "continue with codelab-agent chat --resume " in term.text
    assert "Traceback" not in term.text and "Error" not in term.text


def test_ctrl_c_cancels_the_turn_then_twice_at_the_prompt_quits(
    workspace: Path, db_path: Path, llm: FakeLLM, terminal: list[Terminal]
) -> None:
    held = threading.Event()
    llm.script = Scripted(code=[Reply("never", hold=held), Reply("Hello again.")])
    try:
        term = run(
            terminal,
            workspace,
            *("chat", "--db", str(db_path), "--mode", "code", "--model", FAKE_MODEL, "--api-base", llm.url),
            "say hello",
        )
        term.expect("thinking")
        for _ in range(100):
            if llm.requests:
                break
            time.sleep(0.1)
        term.child.sendintr()
        term.expect("Cancelled.")
        term.expect("› ")  # back at the prompt: the conversation goes on
        term.type("say hello again")
        term.expect("Hello again.")
        term.expect("› ")
        term.child.sendintr()
        term.expect("(Ctrl-C again, Ctrl-D or /quit leaves)")
        term.child.sendintr()
        assert term.exit_code() == 130
    finally:
        held.set()
    assert "continue with codelab-agent chat --resume" in term.text
    assert "Traceback" not in term.text


def test_the_sidecar_killed_at_an_approval_prompt_comes_back_and_the_task_finishes(
    workspace: Path, db_path: Path, terminal: list[Terminal]
) -> None:
    term = run(terminal, workspace, "chat", "--once", "--db", str(db_path), "create hello.py that prints hello")
    term.expect("Write hello.py? [y]es")
    first = term.sidecar_pid()
    os.kill(first, signal.SIGKILL)
    term.expect("The sidecar stopped (killed by SIGKILL); starting it again on the same database…")
    term.expect("resumed.")
    assert term.sidecar_pid() != first
    term.type("y")  # the same question, still open: answered once
    term.expect("Wrote hello.py.")
    assert term.exit_code() == 0
    assert term.text.count("write tools ask for approval") == 1  # the question was put once, not again
    assert (workspace / "hello.py").read_text() == 'print("hello")\n'
    assert "Traceback" not in term.text


def test_a_sidecar_that_cannot_start_again_ends_with_the_reason_and_the_command(
    workspace: Path, db_path: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    term = run(terminal, workspace, "chat", "--once", "--db", str(db_path), "create hello.py that prints hello")
    term.expect("Write hello.py? [y]es")
    pid = term.sidecar_pid()
    kept = tmp_path / "kept"
    kept.mkdir()
    stored = [p for p in tmp_path.iterdir() if p.name.startswith(db_path.name)]
    for path in stored:
        path.rename(kept / path.name)
    db_path.write_text("not a database\n" * 100)  # a new sidecar cannot open it
    os.kill(pid, signal.SIGKILL)
    term.expect("another try")
    term.expect("Stopped: the sidecar stopped, and 3 tries to start it again failed (last: cannot open the database")
    assert term.exit_code() == 1
    command = re.search(r"continue with (codelab-agent chat --resume \S+ --db \S+)", term.text)
    assert command, term.text[-2000:]
    db_path.unlink()
    for path in kept.iterdir():
        path.rename(tmp_path / path.name)
    again = run(terminal, workspace, *command.group(1).split()[1:])  # the printed command, as typed
    again.expect("Write hello.py? [y]es")
    again.type("y")
    again.expect("Wrote hello.py.")
    again.expect("› ")
    again.child.sendeof()
    assert again.exit_code() == 0
    assert (workspace / "hello.py").exists()


def test_resume_from_another_folder_finds_the_session_s_workspace(
    workspace: Path, db_path: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    first = run(terminal, workspace, "chat", "--db", str(db_path), "create hello.py that prints hello")
    session = first.expect("Write hello.py? [y]es").split("· session ")[1].split()[0]
    first.child.kill(signal.SIGKILL)  # the client dies at the prompt; its sidecar follows (end of input)
    first.child.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    term = run(terminal, elsewhere, "chat", "--once", "--db", str(db_path), "--resume", session)
    term.expect(f"it works in {workspace}")
    term.expect("Write hello.py? [y]es")  # the same call, asked again
    term.type("y")
    term.expect("Wrote hello.py.")
    assert term.exit_code() == 0
    assert (workspace / "hello.py").exists() and not (elsewhere / "hello.py").exists()


def test_an_unknown_session_id_in_a_terminal(workspace: Path, db_path: Path, terminal: list[Terminal]) -> None:
    term = run(terminal, workspace, "chat", "--db", str(db_path), "--resume", "not-a-session")
    term.expect("No session not-a-session in this database.")
    assert term.exit_code() == 2
    assert "Traceback" not in term.text


def test_a_plan_is_shown_once_and_approved_with_enter(workspace: Path, db_path: Path, terminal: list[Terminal]) -> None:
    term = run(terminal, workspace, "chat", "--once", "--db", str(db_path), "implement a currency rates app")
    term.expect("Plan v1 (awaiting approval): implement a currency rates app")
    term.expect("files: currency_rates.py")
    term.expect("Approve the plan? [y]es / [n]o / re[v]ise + feedback (Enter: yes)")
    term.type("")
    for name in ("currency_rates.py", "test_currency_rates.py", "README.md"):
        term.expect(f"Write {name}? [y]es")
        term.type("a" if name == "README.md" else "y")
    term.expect("Plan completed: implement a currency rates app")
    assert term.exit_code() == 0
    assert term.text.count("Plan v1 (awaiting approval)") == 1
    assert sorted(p.name for p in workspace.iterdir()) == ["README.md", "currency_rates.py", "test_currency_rates.py"]


def test_bare_codelab_agent_in_a_terminal_says_what_it_is(tmp_path: Path, terminal: list[Terminal]) -> None:
    term = run(terminal, tmp_path)
    term.expect("runs as a sidecar of your editor", timeout=20)
    term.expect("codelab-agent chat")
    assert term.exit_code(timeout=20) == 2
    assert "Traceback" not in term.text


def test_a_failed_call_shows_its_reason(workspace: Path, db_path: Path, llm: FakeLLM, terminal: list[Terminal]) -> None:
    llm.script = Scripted(
        code=[Reply("", [call("read_file", path="missing.py")]), Reply("", [call("attempt_completion", result="ok")])]
    )
    term = run(
        terminal,
        workspace,
        *("chat", "--once", "--db", str(db_path), "--mode", "code", "--model", FAKE_MODEL, "--api-base", llm.url),
        "read missing.py",
    )
    term.expect("✗ Read missing.py: missing.py does not exist")
    assert term.exit_code() == 0


def test_without_a_task_a_terminal_opens_a_conversation_with_its_commands(
    workspace: Path, db_path: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    term = run(terminal, workspace, "chat", "--db", str(db_path), history=tmp_path / "data")
    term.expect("/help for commands")
    term.type("/help")
    shown = term.expect("Ctrl-C cancels a running turn")
    for command in ("/sessions", "/resume ID", "/new", "/plan", "/cost", "/mode NAME", "/quit"):
        assert command in shown
    term.type("/mode explain")
    term.expect("next messages go to: explain")
    term.expect("[explain] › ")
    term.type("/frobnicate")
    term.expect("Unknown command /frobnicate; /help lists them.")
    term.type("/resume not-a-session")
    term.expect("No session not-a-session in this database.")  # one line, and the conversation goes on
    term.type("what is a sidecar")
    term.expect("the demo model gives no real explanations")
    term.expect("cost unknown")
    term.expect("[explain] › ")
    term.child.sendeof()
    assert term.exit_code() == 0
    assert "what is a sidecar" in (tmp_path / "data" / "codelab-agent" / "chat_history").read_text()
    assert "Traceback" not in term.text


def test_ctrl_c_at_an_approval_prompt_cancels_the_turn(
    workspace: Path, db_path: Path, terminal: list[Terminal]
) -> None:
    term = run(terminal, workspace, "chat", "--once", "--db", str(db_path), "create hello.py that prints hello")
    term.expect("Write hello.py? [y]es")
    term.child.sendintr()
    term.expect("Cancelled.")
    assert term.exit_code() == 130
    assert "continue with codelab-agent chat --resume " in term.text
    assert not (workspace / "hello.py").exists()
    assert "Traceback" not in term.text
