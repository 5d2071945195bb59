"""`codelab-agent chat`, the terminal client, run as a new user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fake_llm import FakeLLM, Reply, Scripted, call
from tests.harness import FAKE_MODEL, base_env

CLI = Path(sys.executable).with_name("codelab-agent")


def chat(
    workspace: Path,
    db: Path,
    *args: str,
    answers: str = "",
    env: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`codelab-agent [flags] chat --workspace … --db … args`."""
    environment = base_env(**(env or {}))
    environment.pop("CODELAB_AGENT_MODEL", None)
    return subprocess.run(
        [str(CLI), *flags, "chat", "--workspace", str(workspace), "--db", str(db), *args],
        input=answers,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
        cwd=workspace,
    )


def test_a_new_user_creates_hello_py_with_the_demo_model(workspace: Path, db_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "sidecar.log"
    flags = ("--log-file", str(log), "--log-level", "INFO")  # the sidecar's log, where the user asks for it
    done = chat(workspace, db_path, "--yes", "create hello.py that prints hello", flags=flags)
    assert done.returncode == 0, done.stderr
    assert "server.app: ready: workspace" in log.read_text() and "exiting with code 0" in log.read_text()
    assert "demo model" in done.stderr
    assert (workspace / "hello.py").read_text() == 'print("hello")\n'
    assert "✓ Write hello.py" in done.stdout
    ran = subprocess.run([sys.executable, "hello.py"], cwd=workspace, capture_output=True, text=True, check=True)
    assert ran.stdout == "hello\n"


def test_approval_prompt_and_rejection(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "create notes.md with my notes", answers="n\nnot now\n")
    assert done.returncode == 0, done.stderr
    assert "Write notes.md? [y]es / [a]lways / [n]o + feedback (Enter: yes)" in done.stdout
    assert done.stdout.index("+# create notes.md") < done.stdout.index("Write notes.md?")  # the diff came first
    assert not (workspace / "notes.md").exists()
    assert "Feedback: not now" in done.stdout  # the model got the rejection and said so


def test_a_follow_up_question_is_answered_at_the_prompt(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "--yes", "create a file", answers="main.py\n")
    assert done.returncode == 0, done.stderr
    assert "What should the file be called?" in done.stdout
    assert (workspace / "main.py").exists()


def test_a_blank_task_is_a_usage_error(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "   ")
    assert done.returncode == 2 and "give a task" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_task_without_a_terminal_is_a_usage_error(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path)
    assert done.returncode == 2 and "give a task" in done.stderr
    assert os.listdir(workspace) == []


def test_a_complex_task_from_plan_to_files_approving_each_call(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "implement a currency rates app", answers="a\ny\ny\ny\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("? [y]es / [a]lways / [n]o + feedback") == 3
    assert "  · subtask 3 of 3: Document how to run it" in done.stdout
    assert "subtask_started" not in done.stdout  # people read sentences, not event names
    assert done.stdout.count("Plan v1 (awaiting approval): implement a currency rates app") == 1  # shown once
    assert "Plan completed: implement a currency rates app" in done.stdout
    assert sorted(p.name for p in workspace.iterdir()) == ["README.md", "currency_rates.py", "test_currency_rates.py"]
    tests = subprocess.run(
        [sys.executable, "-c", "import test_currency_rates as t; t.test_main()"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0 and "currency_rates works" in tests.stdout


def test_the_client_restarts_a_sidecar_that_crashed_and_the_plan_finishes(workspace: Path, db_path: Path) -> None:
    crashed = chat(
        workspace,
        db_path,
        "--yes",
        "implement a currency rates app",
        env={"CODELAB_AGENT_CRASH_AFTER": "agent/toolCall:3"},
    )  # the 2nd write; the new sidecar counts from 0 again and gets to the end
    assert crashed.returncode == 0, crashed.stdout + crashed.stderr
    assert "The sidecar stopped (killed by SIGKILL); starting it again on the same database" in crashed.stdout
    assert "Plan completed" in crashed.stdout
    names = sorted(p.name for p in workspace.iterdir())
    assert names == ["README.md", "currency_rates.py", "test_currency_rates.py"]


def test_an_unanswered_question_cancels_the_turn(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "create a file", answers="")
    assert done.returncode == 130, done.stdout + done.stderr
    assert "What should the file be called?" in done.stdout
    assert os.listdir(workspace) == []


def test_a_search_never_hands_the_model_a_file_outside_the_workspace(
    workspace: Path, db_path: Path, tmp_path: Path, llm: FakeLLM
) -> None:
    file_secret, env_secret = "sk-file-3c1d7e", "sk-env-9b4f2a"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keys.env").write_text(f"OPENAI_API_KEY={file_secret}\n")
    (workspace / "app.py").write_text("import os\nkey = os.environ['OPENAI_API_KEY']\n")
    (workspace / "keys.env").symlink_to(outside / "keys.env")
    (workspace / "config").symlink_to(outside)
    if Path("/proc/self/environ").exists():  # the client's own environment, keys and all
        (workspace / "environ").symlink_to("/proc/self/environ")
    llm.script = Scripted(
        code=[
            Reply("", [call("search_in_code", query="OPENAI_API_KEY"), call("search_in_code", query="CANARY_KEY")]),
            Reply("", [call("list_files", recursive=True), call("read_file", path="keys.env")]),
            Reply("", [call("attempt_completion", result="searched")]),
        ]
    )
    done = chat(
        workspace,
        db_path,
        "--yes",
        "--mode",
        "code",
        "--model",
        FAKE_MODEL,
        "--api-base",
        llm.url,
        "find where the API key is used",
        env={"CANARY_KEY": env_secret},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    code = llm.by_agent("code")
    assert len(code) == 3
    found = code[1].tool_results
    assert found[0] == "app.py:2: key = os.environ['OPENAI_API_KEY']"
    assert found[1] == "no matches"
    listed, read = code[2].tool_results[-2:]
    assert "keys.env -> (outside the workspace, skipped)" in listed.splitlines()
    assert "is outside the workspace" in read
    for request in llm.requests:
        assert file_secret not in request.text and env_secret not in request.text
    for stored in tmp_path.glob(db_path.name + "*"):  # the database and any -wal/-journal file
        data = stored.read_bytes()
        assert file_secret.encode() not in data and env_secret.encode() not in data, stored


def test_always_for_a_command_never_approves_a_chain_hiding_another(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    """Answering "always" for `ls -la` remembers the parsed program `ls`: `ls & touch x` still asks."""
    llm.script = Scripted(
        code=[
            Reply("", [call("execute_command", command="ls -la")]),
            Reply("", [call("execute_command", command="ls & touch x")]),
            Reply("", [call("execute_command", command="ls -R")]),
            Reply("", [call("attempt_completion", result="listed")]),
        ]
    )
    done = chat(
        workspace,
        db_path,
        *("--mode", "code", "--model", FAKE_MODEL, "--api-base", llm.url, "--allow", "git status"),
        "list the files",
        answers="a\nn\nnot that\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("[y]es / [a]lways / [n]o + feedback") == 2  # `ls -R` ran unasked: the rule holds
    assert "Run `ls & touch x`? [y]es" in done.stdout
    assert not (workspace / "x").exists()
    assert "not that" in llm.by_agent("code")[2].text


def test_the_demo_tour_shows_every_path_and_reports_only_what_happened(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "show me around", answers="tour.py\ny\ny\ny\n")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "What should I call the file I write?" in out  # a follow-up question
    assert "✓ Run `ls` → exit code 0" in out and "Run `ls`?" not in out  # allowed: ran unasked
    assert "Run `rm -rf build`?" not in out  # denied: refused without asking ...
    assert "- `rm -rf build` did not run: Refused by the approval policy" in out  # ... and the agent says so
    assert "Write tour.py? [y]es" in out and '+print("hello from the tour")' in out  # a write with its diff
    assert "Run `python3 tour.py`? [y]es" in out and "- `python3 tour.py` ran (exit code 0)" in out
    assert "Edit tour.py? [y]es" in out and '+print("hello again")' in out  # an edit with its diff
    assert (workspace / "tour.py").read_text() == 'print("hello again")\n'


def test_the_demo_never_claims_a_step_that_failed(workspace: Path, db_path: Path) -> None:
    """Rejecting the write: the demo does not edit a file that is not there, and says so."""
    done = chat(workspace, db_path, "show me around", answers="tour.py\nn\nnot today\ny\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "- writing tour.py: The user rejected this tool call" in done.stdout
    assert "- `python3 tour.py` failed with exit code 2" in done.stdout  # it ran, and failed: no file
    assert "Edit tour.py?" not in done.stdout and "- editing tour.py: skipped, nothing was written" in done.stdout
    assert not (workspace / "tour.py").exists()


def test_the_demo_runs_a_command_and_reports_its_exit_code(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "run `python3 -c 'import sys; sys.exit(3)'`", answers="y\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Run `python3 -c 'import sys; sys.exit(3)'`? [y]es" in done.stdout
    assert "failed with exit code 3" in done.stdout and "ran (exit code 0)" not in done.stdout


def test_the_demo_edits_a_file_it_read(workspace: Path, db_path: Path) -> None:
    (workspace / "hello.py").write_text('print("hello")\n')
    done = chat(workspace, db_path, "replace 'hello' with 'world' in hello.py", answers="\n")  # Enter: yes
    assert done.returncode == 0, done.stdout + done.stderr
    assert '-print("hello")' in done.stdout and '+print("world")' in done.stdout
    assert "Edited hello.py: 'hello' is now 'world'." in done.stdout
    assert (workspace / "hello.py").read_text() == 'print("world")\n'


def test_an_unknown_session_id_is_one_line(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "--resume", "no-such-session")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.strip() == "No session no-such-session in this database."
    assert "Traceback" not in done.stderr


def test_a_missing_workspace_folder_is_created_and_a_file_is_refused(tmp_path: Path, db_path: Path) -> None:
    folder = tmp_path / "new" / "app"
    done = chat(folder.parent.parent, db_path, "--workspace", str(folder), "--yes", "create hello.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Created the workspace folder {folder}." in done.stderr
    assert (folder / "hello.py").exists()
    (tmp_path / "file").write_text("")
    refused = chat(tmp_path, db_path, "--workspace", str(tmp_path / "file"), "create hello.py")
    assert refused.returncode == 2 and refused.stderr.strip().endswith("is not a folder")
    assert "Traceback" not in refused.stderr


def test_sessions_lists_every_workspace(tmp_path: Path, workspace: Path, db_path: Path) -> None:
    first = chat(workspace, db_path, "--yes", "create hello.py")
    session = first.stdout.split("· session ")[1].split()[0]
    listed = subprocess.run(
        [str(CLI), "sessions", "--db", str(db_path)],
        check=False,
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(session)]
    assert "create hello.py" in line and line.endswith(str(workspace))
    other = subprocess.run(
        [str(CLI), "sessions", "--db", str(db_path), "--workspace", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=60,
    )
    assert other.stdout == "No sessions yet.\n"


def test_a_credentials_error_is_reported_once_not_retried(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    refused = {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}
    llm.script = Scripted(code=[Reply(status=401, error=refused) for _ in range(3)])
    done = chat(
        workspace,
        db_path,
        *("--once", "--mode", "code", "--model", "openai/fake", "--api-base", llm.url),
        "say hello",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed:" in done.stdout and "Incorrect API key provided" in done.stdout
    assert len(llm.requests) == 1 and "retry" not in done.stdout.lower()
