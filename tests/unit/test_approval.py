"""The approval policy as a table: category defaults, settings, command lists, paths, remembered rules."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from protocol.enums import DecidedBy, Decision, OutsideWorkspace, ToolCategory
from server.approval import command_prefix, decide, remember_rules, split_command
from server.settings import ApprovalSettings
from server.tools import BY_NAME

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
    assert verdict("execute_command", settings, command="ls $(rm -rf ~)").decision is Decision.ASK
    assert verdict("execute_command", settings, command="ls > out.txt").decision is Decision.ASK


def test_split_command() -> None:
    assert split_command("a && b || c ; d | e") == ["a", "b", "c", "d", "e"]
    assert split_command("  git   status  ") == ["git status"]


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


def test_command_prefix() -> None:
    assert command_prefix("git status -s") == "git status"
    assert command_prefix("pytest -x tests") == "pytest"
    assert command_prefix("python3 ./run.py") == "python3"
