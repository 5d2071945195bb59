"""The approval policy as a table: category defaults, settings, command lists, paths, remembered rules.
The command parser itself is tested in test_shell.py; here, what the policy decides with it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from protocol.enums import DecidedBy, Decision, OutsideWorkspace, ToolCategory
from server.agents.approval import decide, remember_rules
from server.agents.tools import BY_NAME
from server.settings import ApprovalSettings
from tests.unit.spellings import RM_RF_SPELLINGS

DEFAULT = ApprovalSettings()


def verdict(tool: str, settings: ApprovalSettings = DEFAULT, root: Path = Path("/ws"), rules=(), **args):
    spec = BY_NAME[tool]
    return decide(spec, spec.args_model.model_validate(args), settings, root, rules)


@pytest.mark.parametrize(
    ("tool", "args", "decision"),
    [
        ("read_file", {"path": "a.py"}, Decision.AUTO_APPROVED),
        ("list_files", {"path": "."}, Decision.AUTO_APPROVED),
        ("search_in_code", {"query": "x"}, Decision.AUTO_APPROVED),
        ("write_file", {"path": "a.py", "content": ""}, Decision.ASK),
        ("edit_file", {"path": "a.py", "old_text": "a", "new_text": "b"}, Decision.ASK),
        ("create_directory", {"path": "d"}, Decision.ASK),
        ("execute_command", {"command": "ls"}, Decision.ASK),
    ],
)
def test_category_defaults(tool: str, args: dict, decision: Decision) -> None:
    assert verdict(tool, **args).decision is decision


def test_auto_approve_settings() -> None:
    settings = replace(
        DEFAULT, auto_approve={ToolCategory.READ: False, ToolCategory.WRITE: True, ToolCategory.COMMAND: True}
    )
    assert verdict("read_file", settings, path="a").decision is Decision.ASK
    assert verdict("write_file", settings, path="a", content="").decision is Decision.AUTO_APPROVED
    assert verdict("execute_command", settings, command="make").decision is Decision.AUTO_APPROVED


def test_command_lists() -> None:
    settings = replace(DEFAULT, allowed_commands=("git status", "ls"), denied_commands=("rm -rf",))
    assert verdict("execute_command", settings, command="git status -s").decision is Decision.AUTO_APPROVED
    assert verdict("execute_command", settings, command="git statusx").decision is Decision.ASK
    assert verdict("execute_command", settings, command="ls && git status").decision is Decision.AUTO_APPROVED
    chained = verdict("execute_command", settings, command="git status && rm x")
    assert chained.decision is Decision.ASK and "rm x" in chained.reason
    denied = verdict("execute_command", settings, command="ls; rm -rf /")
    assert denied.decision is Decision.REFUSED and "rm -rf" in denied.reason
    denied_even_if_auto = replace(settings, auto_approve={ToolCategory.COMMAND: True})
    assert verdict("execute_command", denied_even_if_auto, command="rm -rf x").decision is Decision.REFUSED
    assert verdict("execute_command", settings, command="ls $(rm -rf ~)").decision is Decision.REFUSED
    assert verdict("execute_command", settings, command="ls $(touch x)").decision is Decision.ASK
    assert verdict("execute_command", settings, command="ls > out.txt").decision is Decision.ASK


def test_paths_outside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", root / "link")
    settings = replace(DEFAULT, auto_approve={ToolCategory.READ: True, ToolCategory.WRITE: True})
    assert verdict("read_file", settings, root, path="src/a.py").decision is Decision.AUTO_APPROVED
    for path in ("../x", str(tmp_path / "secret" / "f"), "link/f", "~/x"):
        asked = verdict("read_file", settings, root, path=path)
        assert asked.decision is Decision.ASK and "outside the workspace" in asked.reason, path
    refusing = replace(settings, outside_workspace=OutsideWorkspace.DENY)
    assert verdict("write_file", refusing, root, path="../x", content="").decision is Decision.REFUSED
    assert verdict("execute_command", settings, root, command="ls", cwd="..").decision is Decision.ASK


def test_remembered_rules() -> None:
    rules = remember_rules(
        BY_NAME["write_file"], BY_NAME["write_file"].args_model.model_validate({"path": "a", "content": ""})
    )
    assert rules == [("write_file", "")]
    again = verdict("write_file", rules=rules, path="b", content="")
    assert again.decision is Decision.AUTO_APPROVED and again.decided_by is DecidedBy.SESSION_RULE
    spec = BY_NAME["execute_command"]
    command_rules = remember_rules(spec, spec.args_model.model_validate({"command": "npm test -- --watch"}))
    assert command_rules == [("execute_command", "npm test")]
    assert verdict("execute_command", rules=command_rules, command="npm test").decision is Decision.AUTO_APPROVED
    assert verdict("execute_command", rules=command_rules, command="npm publish").decision is Decision.ASK


LISTS = replace(DEFAULT, allowed_commands=("git status", "ls"), denied_commands=("rm -rf",))


def command(line: str, settings: ApprovalSettings = LISTS, root: Path = Path("/ws"), rules=(), **args):
    return verdict("execute_command", settings, root, rules, command=line, **args)


def remembered(line: str) -> list[tuple[str, str]]:
    spec = BY_NAME["execute_command"]
    return remember_rules(spec, spec.args_model.model_validate({"command": line}))


@pytest.mark.parametrize(
    ("line", "unvouched"),
    [
        ("ls & rm -rf victim", None),  # denied: refused below
        ("ls & touch victim", "touch victim"),
        ("ls &\ntouch victim", "touch victim"),
        ("git status & git push", "git push"),
        ("ls |& touch x", "touch x"),
    ],
)
def test_a_lone_ampersand_separates_commands(line: str, unvouched: str | None) -> None:
    allowed_only = replace(LISTS, denied_commands=())
    asked = command(line, allowed_only)
    assert asked.decision is Decision.ASK
    if unvouched:
        assert f"{unvouched!r} is not an allowed command" in asked.reason


def test_ls_and_rm_in_the_background_asks_or_is_refused() -> None:
    allowed_only = replace(LISTS, denied_commands=())
    asked = command("ls & rm -rf victim", allowed_only)
    assert asked.decision is Decision.ASK and "'rm -rf victim' is not an allowed command" in asked.reason
    refused = command("ls & rm -rf victim")
    assert refused.decision is Decision.REFUSED and "rm -rf" in refused.reason


def test_remembering_a_command_does_not_vouch_for_what_follows_a_lone_ampersand() -> None:
    rules = remembered("ls -la")
    assert rules == [("execute_command", "ls")]
    assert command("ls -R", DEFAULT, rules=rules).decision is Decision.AUTO_APPROVED
    asked = command("ls & touch x", DEFAULT, rules=rules)
    assert asked.decision is Decision.ASK and "'touch x' is not an allowed command" in asked.reason
    assert command("ls;touch x", DEFAULT, rules=rules).decision is Decision.ASK
    assert command("ls\ntouch x", DEFAULT, rules=rules).decision is Decision.ASK


def test_remember_stores_parsed_prefixes_never_text() -> None:
    assert remembered("git status -s && ls -la | wc -l") == [
        ("execute_command", "git status"),
        ("execute_command", "ls"),
        ("execute_command", "wc"),
    ]
    assert remembered("ls; ls -a") == [("execute_command", "ls")]
    assert remembered("'my tool' run") == [("execute_command", "'my tool' run")]
    for unsafe in ("ls $(touch x)", "(ls)", "FOO=1 ls", "ls > out", "bash -c ls", "ls 'unterminated"):
        assert remembered(unsafe) == [], unsafe
    assert remembered("sudo make install && make") == [("execute_command", "make")]  # a wrapper: not remembered
    rules = remembered("'my tool' run")
    assert command("'my tool' run --fast", DEFAULT, rules=rules).decision is Decision.AUTO_APPROVED
    assert command("my tool run", DEFAULT, rules=rules).decision is Decision.ASK


def test_a_remembered_prefix_is_word_based() -> None:
    rules = [("execute_command", "npm test")]
    assert command("npm test -- --watch", DEFAULT, rules=rules).decision is Decision.AUTO_APPROVED
    assert command("npm testx", DEFAULT, rules=rules).decision is Decision.ASK
    assert command("npm test & npm publish", DEFAULT, rules=rules).decision is Decision.ASK
    assert command("npm test $(npm publish)", DEFAULT, rules=rules).decision is Decision.ASK
    assert command("nohup npm test", DEFAULT, rules=rules).decision is Decision.ASK


@pytest.mark.parametrize(
    "line",
    RM_RF_SPELLINGS,
)
def test_denied_commands_are_refused_in_any_spelling(line: str) -> None:
    refused = command(line)
    assert refused.decision is Decision.REFUSED, (line, refused)
    assert "matches the denied command 'rm -rf'" in refused.reason
    everything_auto = replace(LISTS, auto_approve={ToolCategory.COMMAND: True})
    assert command(line, everything_auto).decision is Decision.REFUSED


@pytest.mark.parametrize("line", ["rm -r x", "rm -f x", "rm -- -rf", "echo rm -rf", "git rm -rf x", "ls rm -rf"])
def test_what_is_not_the_denied_command(line: str) -> None:
    assert command(line).decision is not Decision.REFUSED, line


def test_a_denied_subcommand_matches_the_leading_positional_words() -> None:
    settings = replace(DEFAULT, denied_commands=("git push",), auto_approve={ToolCategory.COMMAND: True})
    for line in ("git push", "git push --force", "git -C repo push", "git -c a=b push origin", "/usr/bin/git push"):
        assert command(line, settings).decision is Decision.REFUSED, line
    for line in ("git log push", "git status", "git commit -m push", "gitx push"):
        assert command(line, settings).decision is Decision.AUTO_APPROVED, line
    force = replace(settings, denied_commands=("git push --force",))
    assert command("git push -f origin", force).decision is Decision.REFUSED
    assert command("git push origin main --force", force).decision is Decision.REFUSED
    assert command("git push origin", force).decision is Decision.AUTO_APPROVED


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ls $(touch x)", "command substitution"),
        ("ls `touch x`", "command substitution"),
        ("ls <(touch x)", "process substitution"),
        ("ls $((1+2))", "arithmetic expansion"),
        ("ls $HOME", "variable expansion"),
        ("ls ${HOME}", "parameter expansion"),
        ("ls > out", "output redirection"),
        ("ls >> out", "output redirection"),
        ("ls &> out", "output redirection"),
        ("(ls)", "subshell"),
        ("{ ls; }", "group"),
        ("FOO=1 ls", "assignment"),
        ("ls ~root", "tilde"),
        ("ls {a,b}", "brace"),
        ("ls 'x", "syntax error"),
        ("ls <<EOF\nx\nEOF", "here-document"),
        ("bash -c 'ls'", "-c"),
        ("eval ls", "eval"),
        ("source x.sh", "source"),
        (". x.sh", "'.'"),
    ],
)
def test_unsafe_commands_ask_even_when_allowed(line: str, reason: str) -> None:
    settings = replace(LISTS, allowed_commands=("ls", "bash", "eval", "source", "."))
    asked = command(line, settings)
    assert asked.decision is Decision.ASK and reason in asked.reason, (line, asked)


def test_allowed_means_the_program_as_written_and_plain() -> None:
    assert command("ls -la src").decision is Decision.AUTO_APPROVED
    assert command("\\ls").decision is Decision.AUTO_APPROVED
    assert command("ls 2>&1 >/dev/null | ls").decision is Decision.AUTO_APPROVED
    assert command("/tmp/evil/ls").decision is Decision.ASK
    assert command("./ls").decision is Decision.ASK
    assert command("git push").decision is Decision.ASK
    wrapped = command("nohup ls")
    assert wrapped.decision is Decision.ASK and "runs another command through 'nohup'" in wrapped.reason
    assert command("   ").decision is Decision.ASK


@pytest.mark.parametrize(
    "line",
    [
        "ls ~/.ssh",
        "cat /etc/passwd",
        "ls ../..",
        "ls ..",
        "ls src/../..",
        "ls --dir=../x",
        "ls /etc/*",
        "ls .*",
        "ls < ../secret",
    ],
)
def test_path_arguments_outside_the_workspace(line: str, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    settings = replace(LISTS, allowed_commands=("ls", "cat"))
    asked = command(line, settings, root)
    assert asked.decision is Decision.ASK and "outside the workspace" in asked.reason, (line, asked)
    refused = command(line, replace(settings, outside_workspace=OutsideWorkspace.DENY), root)
    assert refused.decision is Decision.REFUSED and "outside the workspace" in refused.reason
    auto = replace(settings, auto_approve={ToolCategory.COMMAND: True})
    assert command(line, auto, root).decision is Decision.ASK


def test_path_arguments_inside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    os.symlink(tmp_path, root / "up")
    settings = replace(LISTS, allowed_commands=("ls", "cat", "git log"))
    for line in ("ls src", "ls ./src/..", "cat src/a.py < src/b", "ls *.py", "git log origin/main", "ls --color=auto"):
        assert command(line, settings, root).decision is Decision.AUTO_APPROVED, line
    assert command("ls up/x", settings, root).decision is Decision.ASK  # through a symlink
    assert command("ls ..", settings, root, cwd="src").decision is Decision.AUTO_APPROVED  # cwd-relative
    assert command("ls ../..", settings, root, cwd="src").decision is Decision.ASK
    assert command("cd", replace(settings, allowed_commands=("cd",)), root).decision is Decision.ASK  # cd goes home


def test_a_symlink_argument_is_resolved(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", root / "notes")
    os.symlink(tmp_path, root / "up")
    settings = replace(LISTS, allowed_commands=("cat", "cd", "ls"))
    asked = command("cat notes", settings, root)
    assert asked.decision is Decision.ASK and "'notes' of 'cat notes' resolves outside" in asked.reason
    assert command("cd up && ls", settings, root).decision is Decision.ASK
    assert command("ls 2>/dev/null up", settings, root).decision is Decision.ASK
    assert command("cat missing.txt", settings, root).decision is Decision.AUTO_APPROVED
    globbed = command("cat no*", settings, root)  # the glob matches the symlink
    assert globbed.decision is Decision.ASK and "'no*'" in globbed.reason
    assert command("cat *.txt", settings, root).decision is Decision.AUTO_APPROVED


@pytest.mark.parametrize("tool", ["read_file", "write_file", "list_files", "create_directory"])
def test_an_invalid_path_is_refused_not_raised(tool: str) -> None:
    args = {"path": "a\x00b"} | ({"content": ""} if tool == "write_file" else {})
    refused = verdict(tool, **args)
    assert refused.decision is Decision.REFUSED and "not a valid path" in refused.reason
    assert "\\x00" in refused.reason  # shown escaped, so the model can see it
    spec = BY_NAME["read_file"]  # pydantic refuses lone surrogates; the policy does not rely on it
    assert decide(spec, spec.args_model.model_construct(path="\ud800"), DEFAULT, Path("/ws")).refused
    assert verdict("read_file", path="~\x00x").decision is Decision.REFUSED


def test_an_invalid_cwd_or_command_argument_is_refused() -> None:
    assert command("ls", cwd="a\x00").decision is Decision.REFUSED
    nul = command("ls a\x00b")
    assert nul.decision is Decision.REFUSED and "NUL" in nul.reason
