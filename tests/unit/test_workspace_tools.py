"""The terminal client's tools (server/chat/tools.py): the workspace is a boundary for
every tool, symlinks, races and odd arguments included."""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.enums import ToolResultStatus
from server.chat.tools import MAX_READ_FILE, OUTSIDE, ToolFailure, WorkspaceTools

SUCCESS, ERROR = ToolResultStatus.SUCCESS, ToolResultStatus.ERROR
SECRET = "SECRET-7f3a9c"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the tools need POSIX dir_fd and O_NOFOLLOW")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the workspace, holding a secret."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text(f"token = {SECRET}\n")
    return path


@pytest.fixture
def tools(workspace: Path) -> WorkspaceTools:
    return WorkspaceTools(workspace)


def run(tools: WorkspaceTools, name: str, **args: Any) -> tuple[ToolResultStatus, str]:
    return tools.run(name, args)


# --- invalid paths and arguments -----------------------------------------------------------

PATH_TOOLS = [
    ("read_file", {}),
    ("write_file", {"content": "x"}),
    ("edit_file", {"old_text": "a", "new_text": "b"}),
    ("list_files", {}),
    ("search_in_code", {"query": "x"}),
    ("create_directory", {}),
]


@pytest.mark.parametrize(("name", "rest"), PATH_TOOLS)
def test_a_nul_byte_in_a_path_is_a_clean_error(tools: WorkspaceTools, name: str, rest: dict[str, Any]) -> None:
    status, content = tools.run(name, {"path": "a\x00b", **rest})
    assert (status, content) == (ERROR, "the path 'a\\x00b' contains a NUL byte")


def test_invalid_paths_are_clean_errors(tools: WorkspaceTools, workspace: Path) -> None:
    assert run(tools, "execute_command", command="pwd", cwd="\x00") == (ERROR, "the path '\\x00' contains a NUL byte")
    status, content = run(tools, "read_file", path="a" * 5000)
    assert status is ERROR and "is too long" in content
    status, content = run(tools, "write_file", path="d/" + "b" * 300, content="x")
    assert status is ERROR and "is too long" in content
    status, content = run(tools, "read_file", path="\ud800")
    assert status is ERROR and "path: Input should be a valid string" in content
    with pytest.raises(ToolFailure, match="cannot be a file name"):
        tools.path("\udfff")
    with pytest.raises(ToolFailure, match="a path must be a non-empty string"):
        tools.path(None)
    status, content = run(tools, "read_file", path=5)
    assert status is ERROR and content.startswith("invalid arguments for read_file: path:")
    assert os.listdir(workspace) == []


@pytest.mark.parametrize(
    ("name", "args", "says"),
    [
        ("no_such_tool", {}, "unknown tool no_such_tool"),
        (None, {}, "unknown tool None"),
        ("read_file", None, "the arguments of read_file must be an object"),
        ("read_file", ["a.txt"], "the arguments of read_file must be an object"),
        ("read_file", "a.txt", "the arguments of read_file must be an object"),
        ("read_file", {}, "invalid arguments for read_file: path: Field required"),
        ("read_file", {"path": "a.txt", "mode": "r"}, "read_file takes no argument mode"),
        ("read_file", {"path": "a.txt", 1: 2}, "read_file takes no argument 1"),
        ("read_file", {"path": "a.txt", "start_line": "first"}, "invalid arguments for read_file: start_line:"),
        ("read_file", {"path": "a.txt", "start_line": 0}, "start_line: Input should be greater than or equal to 1"),
        ("write_file", {"path": "b.txt"}, "invalid arguments for write_file: content: Field required"),
        ("write_file", {"path": "b.txt", "content": 5}, "content: Input should be a valid string"),
        ("write_file", {"path": "b.txt", "content": "\ud800"}, "the content for b.txt is not valid text"),
        ("edit_file", {"path": "a.txt", "old_text": "", "new_text": "x"}, "old_text: String should have at least"),
        ("list_files", {"path": "a.txt", "recursive": "maybe"}, "recursive: Input should be a valid boolean"),
        ("search_in_code", {"query": 5}, "query: Input should be a valid string"),
        ("search_in_code", {"query": "(", "is_regex": True}, "invalid regular expression '('"),
        ("execute_command", {"command": ["ls"]}, "command: Input should be a valid string"),
        ("execute_command", {"command": "ls", "timeout_seconds": -1}, "timeout_seconds: Input should be greater"),
    ],
)
def test_run_never_raises_whatever_the_arguments(
    tools: WorkspaceTools, workspace: Path, name: Any, args: Any, says: str
) -> None:
    (workspace / "a.txt").write_text("alpha\n")
    status, content = tools.run(name, args)
    assert status is ERROR
    assert says in content
    assert sorted(os.listdir(workspace)) == ["a.txt"]


def test_preview_never_raises(tools: WorkspaceTools) -> None:
    assert tools.preview("write_file", {"path": "a\x00b", "content": "x"}) is None
    assert tools.preview("write_file", {"path": "x.txt"}) is None
    assert tools.preview("edit_file", {"path": "x.txt", "old_text": 1, "new_text": "y"}) is None
    assert (
        tools.preview("write_file", {"path": "x.txt", "content": "new\n"})
        == "--- a/x.txt\n+++ b/x.txt\n@@ -0,0 +1 @@\n+new\n"
    )


# --- symlinks that leave the workspace -------------------------------------------------------


def test_search_does_not_follow_a_symlink_out_of_the_workspace(
    tools: WorkspaceTools, workspace: Path, outside: Path
) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text(f"# the token is not {SECRET[:6]}\n")
    (workspace / "src" / "creds.txt").symlink_to(outside / "secret.txt")
    (workspace / "vendor").symlink_to(outside)
    if Path("/proc/self/environ").exists():
        (workspace / "env").symlink_to("/proc/self/environ")
    (workspace / "alias.py").symlink_to(workspace / "src" / "app.py")  # a link that stays inside

    status, content = run(tools, "search_in_code", query=SECRET)
    assert (status, content) == (SUCCESS, "no matches")
    status, content = run(tools, "search_in_code", query="PATH=")
    assert (status, content) == (SUCCESS, "no matches")  # not the client's environment
    status, content = run(tools, "search_in_code", query="token", path="src")
    assert (status, content) == (SUCCESS, f"src/app.py:1: # the token is not {SECRET[:6]}")
    status, content = run(tools, "search_in_code", query="token")
    assert content == f"alias.py:1: # the token is not {SECRET[:6]}\nsrc/app.py:1: # the token is not {SECRET[:6]}"

    for path in ("src/creds.txt", "vendor", "vendor/secret.txt", "env"):
        status, content = run(tools, "search_in_code", query="token", path=path)
        assert status is ERROR and "is outside the workspace" in content, path
        status, content = run(tools, "read_file", path=path)
        assert status is ERROR and "is outside the workspace" in content, path


def test_a_recursive_listing_does_not_walk_out_of_the_workspace(
    tools: WorkspaceTools, workspace: Path, outside: Path
) -> None:
    (outside / "deep").mkdir()
    (outside / "deep" / "hidden.txt").write_text("x")
    (workspace / "sub").mkdir()
    (workspace / "sub" / "a.txt").write_text("a")
    (workspace / "sub" / "out").symlink_to(outside)
    (workspace / "sub" / "creds.txt").symlink_to(outside / "secret.txt")
    (workspace / "same").symlink_to(workspace / "sub")  # inside: listed, not entered twice
    (workspace / "gone").symlink_to(outside / "missing")

    status, content = run(tools, "list_files", recursive=True)
    assert status is SUCCESS
    assert content.splitlines() == [
        f"gone -> {OUTSIDE}",
        "same/",
        "sub/",
        "sub/a.txt",
        f"sub/creds.txt -> {OUTSIDE}",
        f"sub/out -> {OUTSIDE}",
    ]
    assert run(tools, "list_files", path="sub") == (
        SUCCESS,
        f"sub/a.txt\nsub/creds.txt -> {OUTSIDE}\nsub/out -> {OUTSIDE}",
    )
    status, content = run(tools, "list_files", path="sub/out", recursive=True)
    assert status is ERROR and "is outside the workspace" in content


def test_writes_through_links_that_leave_the_workspace_are_refused(
    tools: WorkspaceTools, workspace: Path, outside: Path
) -> None:
    before = sorted(os.listdir(outside))
    (workspace / "out").symlink_to(outside)
    (workspace / "creds.txt").symlink_to(outside / "secret.txt")
    (workspace / "dangling.txt").symlink_to(outside / "new.txt")
    (workspace / "dangling_dir").symlink_to(outside / "newdir")
    for name, args in [
        ("write_file", {"path": "creds.txt", "content": "pwned"}),
        ("write_file", {"path": "dangling.txt", "content": "pwned"}),
        ("write_file", {"path": "out/new.txt", "content": "pwned"}),
        ("write_file", {"path": "dangling_dir/a/b.txt", "content": "pwned"}),
        ("edit_file", {"path": "creds.txt", "old_text": "token", "new_text": "pwned"}),
        ("create_directory", {"path": "dangling_dir/a"}),
        ("create_directory", {"path": "out/made"}),
        ("execute_command", {"command": "touch made.txt", "cwd": "out"}),
    ]:
        status, content = tools.run(name, args)
        assert status is ERROR and "is outside the workspace" in content, (name, args)
    assert sorted(os.listdir(outside)) == before
    assert (outside / "secret.txt").read_text() == f"token = {SECRET}\n"


def test_a_write_through_a_link_inside_writes_its_target(tools: WorkspaceTools, workspace: Path) -> None:
    (workspace / "docs").mkdir()
    (workspace / "docs" / "README.md").write_text("old\n")
    (workspace / "README.md").symlink_to("docs/README.md")
    assert run(tools, "edit_file", path="README.md", old_text="old", new_text="new")[0] is SUCCESS
    assert (workspace / "README.md").is_symlink()
    assert (workspace / "docs" / "README.md").read_text() == "new\n"


def test_a_symlink_loop_is_a_clean_error(tools: WorkspaceTools, workspace: Path) -> None:
    (workspace / "a").symlink_to("b")
    (workspace / "b").symlink_to("a")
    for name, args in [
        ("read_file", {"path": "a"}),
        ("write_file", {"path": "a", "content": "x"}),
        ("write_file", {"path": "a/x.txt", "content": "x"}),
        ("list_files", {"path": "a"}),
    ]:
        status, content = tools.run(name, args)
        assert status is ERROR and "a symlink where none was, or a loop" in content, (name, content)
    assert run(tools, "list_files") == (SUCCESS, "a\nb")
    assert (workspace / "a").is_symlink() and (workspace / "b").is_symlink()


# --- writes ------------------------------------------------------------------------------------


def test_writes_keep_the_mode_and_leave_no_temporary_file(tools: WorkspaceTools, workspace: Path) -> None:
    script = workspace / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    assert run(tools, "write_file", path="run.sh", content="echo new\n") == (SUCCESS, "wrote 9 bytes to run.sh")
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert run(tools, "edit_file", path="run.sh", old_text="new", new_text="newer") == (SUCCESS, "edited run.sh")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert run(tools, "write_file", path="a/b/c.txt", content="deep\n")[0] is SUCCESS
    assert (workspace / "a" / "b" / "c.txt").read_text() == "deep\n"
    assert run(tools, "create_directory", path="x/y") == (SUCCESS, "created x/y")
    assert sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*")) == [
        "a",
        "a/b",
        "a/b/c.txt",
        "run.sh",
        "x",
        "x/y",
    ]


def test_a_write_over_a_directory_or_a_file_as_directory_is_refused(tools: WorkspaceTools, workspace: Path) -> None:
    (workspace / "d").mkdir()
    (workspace / "f.txt").write_text("f")
    assert run(tools, "write_file", path="d", content="x") == (ERROR, "d is a directory")
    assert run(tools, "write_file", path=".", content="x") == (ERROR, ". is a directory")
    assert run(tools, "write_file", path="f.txt/x", content="x") == (ERROR, "f.txt/x is not a directory")
    assert run(tools, "create_directory", path="f.txt") == (ERROR, "f.txt is not a directory")
    assert run(tools, "list_files", path="f.txt") == (ERROR, "f.txt is not a directory")
    assert run(tools, "read_file", path="missing.txt") == (ERROR, "missing.txt does not exist")


# --- special files -------------------------------------------------------------------------------


@pytest.fixture
def fifo(workspace: Path) -> Iterator[Path]:
    path = workspace / "pipe"
    os.mkfifo(path)
    yield path
    # A reader the old code left blocked on the FIFO gets its end of file.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def _within(seconds: float, fn: Any) -> Any:
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still running after {seconds}s"
    return done[0]


def test_a_fifo_is_refused_not_read(tools: WorkspaceTools, workspace: Path, fifo: Path) -> None:
    (workspace / "a.txt").write_text("needle\n")
    status, content = _within(5, lambda: run(tools, "read_file", path="pipe"))
    assert (status, content) == (ERROR, "pipe is not a regular file (a FIFO, socket or device); it is not read")
    status, content = _within(5, lambda: run(tools, "search_in_code", query="needle", path="pipe"))
    assert status is ERROR and "not a regular file" in content
    assert _within(5, lambda: run(tools, "search_in_code", query="needle")) == (SUCCESS, "a.txt:1: needle")
    assert run(tools, "write_file", path="pipe", content="x")[0] is ERROR
    assert run(tools, "list_files") == (SUCCESS, "a.txt\npipe")


# --- races -----------------------------------------------------------------------------------------


def _swap_file(target: Path, outside_file: Path, stop: threading.Event) -> None:
    """Keeps replacing `target` by a symlink to `outside_file` and back by a regular file."""
    link, regular = target.with_name(".swap-link"), target.with_name(".swap-file")
    while not stop.is_set():
        link.symlink_to(outside_file)
        os.replace(link, target)
        regular.write_text("inside\n")
        os.replace(regular, target)


def _exchange(a: Path, b: Path) -> None:
    """Swaps two paths atomically (Linux renameat2 RENAME_EXCHANGE)."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def _can_exchange(tmp: Path) -> bool:
    (tmp / "x").mkdir()
    (tmp / "y").symlink_to(tmp)
    try:
        _exchange(tmp / "x", tmp / "y")
    except (OSError, AttributeError):
        return False
    return (tmp / "x").is_symlink()


def _swap_dir(target: Path, outside_dir: Path, stop: threading.Event) -> None:
    """Keeps exchanging directory `target` with a symlink to `outside_dir`."""
    other = target.with_name(".swap-dir")
    other.symlink_to(outside_dir)
    while not stop.is_set():
        _exchange(target, other)


@pytest.mark.timeout(60)
def test_a_concurrent_symlink_swap_never_lets_a_write_out(
    tools: WorkspaceTools, workspace: Path, outside: Path, tmp_path: Path
) -> None:
    secret = outside / "secret.txt"
    original = secret.read_bytes()
    (workspace / "sub").mkdir()
    (workspace / "target.txt").write_text("inside\n")
    stop = threading.Event()
    swappers = [threading.Thread(target=_swap_file, args=(workspace / "target.txt", secret, stop), daemon=True)]
    if _can_exchange(tmp_path):  # a directory swapped for a symlink, atomically: Linux only
        swappers.append(threading.Thread(target=_swap_dir, args=(workspace / "sub", outside, stop), daemon=True))
    for swapper in swappers:
        swapper.start()
    writes, outcomes = 0, set[ToolResultStatus]()
    deadline = time.monotonic() + 2
    try:
        while writes < 5000 and time.monotonic() < deadline:
            outcomes.add(run(tools, "write_file", path="target.txt", content="pwned\n")[0])
            outcomes.add(run(tools, "write_file", path="sub/secret.txt", content="pwned\n")[0])
            assert SECRET not in run(tools, "read_file", path="target.txt")[1]
            writes += 2
    finally:
        stop.set()
        for swapper in swappers:
            swapper.join(5)
    assert writes >= 200, writes
    assert secret.read_bytes() == original
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert SUCCESS in outcomes  # the writes did run, not only fail


def test_a_command_never_sees_the_provider_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a command prints goes to the model: `env` (or `echo $OPENAI_API_KEY`) must not
    hand it the user's provider keys, nor the variable bound to the API base."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-secret-1")
    monkeypatch.setenv("anthropic_api_key", "sk-provider-secret-2")
    monkeypatch.setenv("MY_PROXY_KEY", "sk-proxy-secret-3")
    monkeypatch.setenv("CODELAB_AGENT_API_KEY_ENV", "MY_PROXY_KEY")
    monkeypatch.setenv("BUILD_FLAVOUR", "kept")
    status, content = WorkspaceTools(tmp_path).run("execute_command", {"command": "env; echo $OPENAI_API_KEY"})
    assert status is ToolResultStatus.SUCCESS and "BUILD_FLAVOUR=kept" in content
    assert "secret" not in content


def test_a_command_that_times_out_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    status, content = WorkspaceTools(tmp_path).run(
        "execute_command", {"command": "(sleep 2; touch late) & sleep 30", "timeout_seconds": 1}
    )
    assert status is ToolResultStatus.ERROR and "timed out after 1s" in content
    time.sleep(2.5)
    assert not (tmp_path / "late").exists()  # the background job died with the group


def test_a_file_too_big_to_read_is_named_with_its_limit_not_read(tmp_path: Path) -> None:
    with (tmp_path / "huge.log").open("wb") as file:
        file.truncate(MAX_READ_FILE + 1)  # sparse: costs no disk
    status, content = WorkspaceTools(tmp_path).run("read_file", {"path": "huge.log", "end_line": 1})
    assert status is ToolResultStatus.ERROR and f"larger than {MAX_READ_FILE:,} bytes" in content
    status, content = WorkspaceTools(tmp_path).run(
        "execute_command", {"command": "head -c 200000 /dev/zero | tr '\\\\0' x"}
    )
    assert status is ToolResultStatus.SUCCESS and len(content) < 70 * 1024  # the output's tail only
