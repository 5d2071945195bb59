"""Human approval policy: whether a client tool call runs at once, asks the user, or
is refused without reaching the editor (SPEC.md, *Human approval*)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.enums import DecidedBy, Decision, OutsideWorkspace, ToolCategory
from protocol.tools import ExecuteCommandArgs, ToolArgs
from server.settings import ApprovalSettings
from server.tools import ToolSpec

_CHAIN = re.compile(r"&&|\|\||;|\||\n")
_HIDDEN = re.compile(r"\$\(|`|>|<\(")
"""Command substitution and redirection: an allow-listed prefix does not vouch for them."""


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    decided_by: DecidedBy
    reason: str

    @property
    def requires_approval(self) -> bool:
        return self.decision is Decision.ASK

    @property
    def refused(self) -> bool:
        return self.decision is Decision.REFUSED


Rule = tuple[str, str]
"""A remembered approval: (tool name, command prefix or '')."""


def split_command(command: str) -> list[str]:
    """The parts of a chained command line (`&&`, `||`, `;`, `|`), whitespace-normalized."""
    return [" ".join(part.split()) for part in _CHAIN.split(command) if part.strip()]


def _matches(part: str, prefix: str) -> bool:
    prefix = " ".join(prefix.split())
    return bool(prefix) and (part == prefix or part.startswith(prefix + " "))


def command_prefix(part: str) -> str:
    """The prefix "approve always" remembers: the program and, when it has one, its
    subcommand (`git status -s` → `git status`, `pytest -x` → `pytest`)."""
    words = part.split()
    if len(words) >= 2 and re.fullmatch(r"[A-Za-z][\w:-]*", words[1]):
        return " ".join(words[:2])
    return words[0] if words else ""


def remember_rules(spec: ToolSpec, args: ToolArgs) -> list[Rule]:
    if isinstance(args, ExecuteCommandArgs):
        return [(spec.name, command_prefix(part)) for part in split_command(args.command)]
    return [(spec.name, "")]


def _outside(root: Path, raw: str) -> bool:
    path = Path(os.path.expanduser(raw))
    full = path if path.is_absolute() else root / path
    resolved = Path(os.path.realpath(full))
    real_root = Path(os.path.realpath(root))
    return resolved != real_root and real_root not in resolved.parents


def _paths(args: ToolArgs) -> list[str]:
    found: list[str] = []
    for name in ("path", "cwd"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def decide(
    spec: ToolSpec,
    args: ToolArgs,
    settings: ApprovalSettings,
    workspace_root: Path,
    rules: Iterable[Rule] = (),
) -> Verdict:
    rules = list(rules)
    outside = [p for p in _paths(args) if _outside(workspace_root, p)]
    if outside:
        where = f"{outside[0]!r} resolves outside the workspace {str(workspace_root)!r}"
        if settings.outside_workspace is OutsideWorkspace.DENY:
            return Verdict(Decision.REFUSED, DecidedBy.POLICY, f"refused: {where}")
        return Verdict(Decision.ASK, DecidedBy.POLICY, f"asks: {where}")

    if isinstance(args, ExecuteCommandArgs):
        return _decide_command(spec, args.command, settings, rules)

    if (spec.name, "") in rules:
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE, f"{spec.name} was approved for this session")
    if settings.auto_approve.get(spec.category, False):
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, f"{spec.category} tools are auto-approved")
    return Verdict(Decision.ASK, DecidedBy.POLICY, f"{spec.category} tools ask for approval")


def _decide_command(spec: ToolSpec, command: str, settings: ApprovalSettings, rules: list[Rule]) -> Verdict:
    parts = split_command(command)
    for part in parts:
        for denied in settings.denied_commands:
            if _matches(part, denied):
                return Verdict(
                    Decision.REFUSED, DecidedBy.POLICY, f"refused: {part!r} matches the denied command {denied!r}"
                )
    remembered = [prefix for tool, prefix in rules if tool == spec.name and prefix]
    unvouched: list[str] = []
    by_rule = False
    for part in parts:
        if _HIDDEN.search(part):
            unvouched.append(part)
        elif any(_matches(part, p) for p in settings.allowed_commands):
            continue
        elif any(_matches(part, p) for p in remembered):
            by_rule = True
        else:
            unvouched.append(part)
    if parts and not unvouched:
        if by_rule:
            return Verdict(Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE, "command prefix approved for this session")
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, "every part of the command is allowed")
    if settings.auto_approve.get(ToolCategory.COMMAND, False):
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, "command tools are auto-approved")
    return Verdict(Decision.ASK, DecidedBy.POLICY, f"asks: {unvouched[0]!r} is not an allowed command")
