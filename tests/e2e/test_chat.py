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
    workspace: Path, db: Path, *args: str, answers: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = base_env(**(env or {}))
    environment.pop("CODELAB_AGENT_MODEL", None)
    return subprocess.run(
        [str(CLI), "chat", "--workspace", str(workspace), "--db", str(db), *args],
        input=answers,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
        cwd=workspace,
    )


def test_a_new_user_creates_hello_py_with_the_demo_model(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "--yes", "create hello.py that prints hello")
    assert done.returncode == 0, done.stderr
    assert "demo model" in done.stderr
    assert (workspace / "hello.py").read_text() == 'print("hello")\n'
    assert "write_file" in done.stdout
    ran = subprocess.run([sys.executable, "hello.py"], cwd=workspace, capture_output=True, text=True, check=True)
    assert ran.stdout == "hello\n"


def test_approval_prompt_and_rejection(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "create notes.md with my notes", answers="n\nnot now\n")
    assert done.returncode == 0, done.stderr
    assert "Run it? [y]es / [a]lways / [n]o" in done.stdout
    assert "+# create notes.md" in done.stdout  # the diff was shown before asking
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


def test_no_task_is_a_usage_error(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path)
    assert done.returncode == 2 and "give a task" in done.stderr
    assert os.listdir(workspace) == []


def test_a_complex_task_from_plan_to_files_approving_each_call(workspace: Path, db_path: Path) -> None:
    done = chat(workspace, db_path, "implement a currency rates app", answers="a\ny\ny\ny\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Run it? [y]es / [a]lways / [n]o") == 3
    assert "subtask_started: subtask 3 of 3: Document how to run it" in done.stdout
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


def test_resume_after_the_sidecar_crashed(workspace: Path, db_path: Path) -> None:
    crashed = chat(
        workspace,
        db_path,
        "--yes",
        "implement a currency rates app",
        env={"CODELAB_AGENT_CRASH_AFTER": "agent/toolCall:3"},
    )  # the 2nd write
    assert crashed.returncode == 1, crashed.stdout + crashed.stderr
    assert "Stopped: the sidecar exited" in crashed.stdout
    session = crashed.stdout.split("codelab-agent chat --resume ")[1].split()[0]
    assert (workspace / "currency_rates.py").exists() and not (workspace / "test_currency_rates.py").exists()
    resumed = chat(workspace, db_path, "--yes", "--resume", session)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Plan completed" in resumed.stdout
    assert (workspace / "test_currency_rates.py").exists() and (workspace / "README.md").exists()


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
        *("--mode", "code", "--model", FAKE_MODEL, "--api-base", llm.url),
        "list the files",
        answers="a\nn\nnot that\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Run it? [y]es / [a]lways / [n]o") == 2  # `ls -R` ran unasked: the rule holds
    assert not (workspace / "x").exists()
    assert "not that" in llm.by_agent("code")[2].text
