"""Human approval policy: whether a client tool call runs at once, asks the user, or
is refused without reaching the editor (SPEC.md, *Human approval*).

In order, first match wins:
1. An invalid path (a NUL byte, anything `expanduser`/`realpath` rejects) in `path`,
   `cwd` or an argument of a command is refused, never raised.
2. `execute_command`: a NUL byte in the command line is refused (no shell runs it as
   written); so is a line that visibly runs something a `deniedCommands` rule matches,
   even when the line is otherwise unsafe (`(rm -rf x)`, `bash -c '…'`, `sudo rm -fr /`).
   What a line visibly runs is `server.agents.shell.parse(…).invocations`.
3. A `path`/`cwd` argument, or an argument of a parsed command, that resolves outside
   the workspace asks, or is refused with `outsideWorkspace: "deny"`. Every argument
   that is not an option is resolved (after `~` expansion, against `cwd`, through
   symlinks), and so is the value of `--opt=value`, a `<` input file, and `~` for a bare
   `cd`; a glob also names the files it matches, and `..` when a component can match it
   (`.*`).
4. A command line that is not a chain of plain simple commands (`server.agents.shell.Unsafe`,
   or a wrapper such as `sudo`/`nohup`) asks, unless command tools are auto-approved;
   a chain is auto-approved when an allow rule or a prefix remembered for the session
   vouches for every one of its simple commands.
5. Other tools: remembered for the session, else the category's setting.

Deny rules (`DenyRule`) match a program and its flags, not text. A rule is split like a
shell line: its first word is a program, compared by basename (`rm` matches `/bin/rm`
and `\\rm`); then every word starting with `-` is a flag and the others are positional
words. A command matches when
- its short flags include every short flag of the rule: single-dash clusters are split
  into letters and compared as sets (`-rf` = `-fr` = `-r -f` = `-f -r -v`);
- its long flags include every long flag of the rule, compared by name (`--force=x` has
  the name `force`), a GNU abbreviation counting (`--recur` for `--recursive`);
- synonyms are folded first, for a few programs (`_SYNONYMS`: for `rm`, `-R` and
  `--recursive` are `-r`, `--force` is `-f`), so `rm --recursive --force` matches `rm -rf`;
- the rule's positional words are the command's leading positional words, in order,
  where a word right after a flag may be that flag's value and is skipped
  (`git push` matches `git -C repo push --force`, not `git log push`);
- nothing after `--` is a flag (`rm -- -rf` has no flags).
A word the parser cannot know (an expansion) is never a flag and may always be skipped.

Allow rules (`AllowRule`: `allowedCommands` and remembered prefixes) are stricter: the
rule's words must equal the leading words of a plain simple command exactly, the
program as written (`ls` allows `ls -la`, not `/tmp/evil/ls`; `git status` allows
`git status -s`, not `git push`).

"Approve always" on a command remembers the program, and the subcommand when it has
one, of every plain simple command of the chain, as words; a line that is not a plain
chain remembers nothing and asks again next time.

Over 300 lines: the rule matching (deny and allow rules over parsed commands) and the
path checks of command arguments are the policy; the parsing itself is `shell.py`.
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.enums import DecidedBy, Decision, OutsideWorkspace, ToolCategory
from protocol.tools import ExecuteCommandArgs, ToolArgs
from server.agents import shell
from server.agents.toolbox import McpSpec
from server.agents.tools import ToolSpec
from server.settings import ApprovalSettings

_SYNONYMS: dict[str, dict[str, str]] = {
    "rm": {"R": "r", "recursive": "r", "force": "f", "dir": "d"},
    "cp": {"R": "r", "recursive": "r", "force": "f"},
    "chmod": {"recursive": "R"},
    "chown": {"recursive": "R"},
    "chgrp": {"recursive": "R"},
    "git": {"force": "f"},
}
"""Flags that mean the same, folded to one short letter before deny rules compare them."""
_SUBCOMMAND = re.compile(r"[A-Za-z][\w:-]*")
_MAX_CANDIDATES = 64
_MAX_GLOB_MATCHES = 200
_GLOB = re.compile(r"[*?\[]")


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


class _InvalidPath(Exception):
    def __init__(self, raw: str, why: str) -> None:
        super().__init__(raw, why)
        self.raw = raw
        self.why = why


def command_prefix(command: shell.SimpleCommand) -> str:
    """What "approve always" remembers for a simple command: the program and, when it
    has one, its subcommand (`git status -s` → `git status`, `pytest -x` → `pytest`),
    quoted so that it reads back as the same words."""
    argv = command.argv
    return shlex.join(argv[:2] if len(argv) >= 2 and _SUBCOMMAND.fullmatch(argv[1]) else argv[:1])


def remember_rules(spec: ToolSpec, args: ToolArgs) -> list[Rule]:
    if not isinstance(args, ExecuteCommandArgs):
        return [(spec.name, "")]
    parsed = shell.parse(args.command)
    if isinstance(parsed, shell.Unsafe):
        return []
    return list(dict.fromkeys((spec.name, command_prefix(c)) for c in parsed.commands if c.plain))


def decide(
    spec: ToolSpec,
    args: ToolArgs,
    settings: ApprovalSettings,
    workspace_root: Path,
    rules: Iterable[Rule] = (),
) -> Verdict:
    try:
        return _decide(spec, args, settings, workspace_root, list(rules))
    except _InvalidPath as exc:
        return Verdict(Decision.REFUSED, DecidedBy.POLICY, f"refused: {exc.raw!r} is not a valid path ({exc.why})")


def decide_mcp(spec: McpSpec, settings: ApprovalSettings, rules: Iterable[Rule] = ()) -> Verdict:
    """An MCP tool: "always" given by the user for this tool in this session runs it;
    else, annotated destructive, it asks (no pattern or setting clears it); read-only, it
    is a read; else it runs without asking only when `allowedMcpTools` names it. The
    annotations are the server's word, as the MCP specification has it."""
    if (spec.name, "") in rules:
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE, f"{spec.name} was approved for this session")
    if spec.destructive:
        return Verdict(
            Decision.ASK, DecidedBy.POLICY, f"{spec.name} is marked destructive by its server: it always asks"
        )
    if spec.read_only and settings.auto_approve.get(ToolCategory.READ, False):
        return Verdict(
            Decision.AUTO_APPROVED, DecidedBy.POLICY, f"{spec.name} is read-only; read tools are auto-approved"
        )
    names = (spec.name, spec.name.removeprefix("mcp__"), f"{spec.server}__{spec.tool.name}")
    pattern = next((p for p in settings.allowed_mcp_tools if any(fnmatch.fnmatchcase(n, p) for n in names)), None)
    if pattern is not None:
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, f"{spec.name} is allowed by {pattern!r}")
    what = "read-only MCP tools ask for approval" if spec.read_only else "MCP tools ask unless allowed"
    return Verdict(Decision.ASK, DecidedBy.POLICY, what)


def _decide(spec: ToolSpec, args: ToolArgs, settings: ApprovalSettings, root: Path, rules: list[Rule]) -> Verdict:
    real_root = _resolved(None, str(root))
    if isinstance(args, ExecuteCommandArgs):
        return _decide_command(spec, args, settings, rules, real_root)
    outside = _outside(real_root, real_root, [(raw, repr(raw)) for raw in _paths(args)])
    if outside:
        return _outside_verdict(outside, settings, real_root)
    if (spec.name, "") in rules:
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE, f"{spec.name} was approved for this session")
    if settings.auto_approve.get(spec.category, False):
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, f"{spec.category} tools are auto-approved")
    return Verdict(Decision.ASK, DecidedBy.POLICY, f"{spec.category} tools ask for approval")


def _decide_command(
    spec: ToolSpec, args: ExecuteCommandArgs, settings: ApprovalSettings, rules: list[Rule], real_root: Path
) -> Verdict:
    if "\x00" in args.command:
        return Verdict(
            Decision.REFUSED,
            DecidedBy.POLICY,
            "refused: the command contains a NUL byte, which no shell runs as written",
        )
    parsed = shell.parse(args.command)
    denied = _denied(parsed, settings.denied_commands)
    if denied is not None:
        return denied
    outside = _outside(real_root, real_root, [(raw, repr(raw)) for raw in _paths(args)])
    if outside is None and isinstance(parsed, shell.Chain):
        base = _resolved(real_root, args.cwd) if args.cwd else real_root
        outside = _outside(real_root, base, _command_paths(parsed, base))
    if outside:
        return _outside_verdict(outside, settings, real_root)
    vouched = _vouched(spec, parsed, settings, rules)
    if isinstance(vouched, Verdict):
        return vouched
    if settings.auto_approve.get(ToolCategory.COMMAND, False):
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, "command tools are auto-approved")
    return Verdict(Decision.ASK, DecidedBy.POLICY, f"asks: {vouched}")


def _denied(parsed: shell.Parsed, denied_commands: Iterable[str]) -> Verdict | None:
    for rule in filter(None, map(DenyRule.parse, denied_commands)):
        for invocation in parsed.invocations:
            argv = rule.first_match(invocation)
            if argv is not None:
                shown = " ".join(w if w is not None else "…" for w in argv)
                reason = f"refused: {shown!r} matches the denied command {rule.text!r}"
                return Verdict(Decision.REFUSED, DecidedBy.POLICY, reason)
    return None


def _vouched(spec: ToolSpec, parsed: shell.Parsed, settings: ApprovalSettings, rules: list[Rule]) -> Verdict | str:
    """The auto-approval when allow rules and remembered prefixes vouch for every simple
    command, else why they do not."""
    if isinstance(parsed, shell.Unsafe):
        return f"the command is not a plain chain of simple commands ({parsed.reason})"
    if not parsed.commands:
        return "the command runs nothing the policy can name"
    allowed = list(filter(None, map(AllowRule.parse, settings.allowed_commands)))
    remembered = list(filter(None, (AllowRule.parse(prefix) for tool, prefix in rules if tool == spec.name)))
    by_rule = False
    for command in parsed.commands:
        if not command.plain:
            return f"{command.text!r} runs another command through {command.name!r}"
        if any(r.matches(command) for r in allowed):
            continue
        if not any(r.matches(command) for r in remembered):
            return f"{command.text!r} is not an allowed command"
        by_rule = True
    if by_rule:
        return Verdict(Decision.AUTO_APPROVED, DecidedBy.SESSION_RULE, "command prefix approved for this session")
    return Verdict(Decision.AUTO_APPROVED, DecidedBy.POLICY, "every part of the command is allowed")


# --- rules --------------------------------------------------------------------------


def _rule_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@dataclass(frozen=True)
class DenyRule:
    text: str
    program: str
    shorts: frozenset[str]
    longs: frozenset[str]
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> DenyRule | None:
        words = _rule_words(text)
        if not words:
            return None
        program = shell.basename(words[0])
        flags = _Flags.of(program, words[1:])
        positional = tuple(w for w, _ in flags.positionals if w is not None)
        return cls(text, program, frozenset(flags.shorts), frozenset(flags.longs), positional)

    def first_match(self, invocation: shell.Invocation) -> shell.Argv | None:
        """The first command of `invocation` the rule matches, or None. Only the first
        `_MAX_CANDIDATES` that run this rule's program are tried, so that a line repeating
        a program name thousands of times stays cheap to decide (it asks anyway)."""
        argv = invocation.argv
        starts = [s for s in invocation.starts if shell.basename(argv[s] or "") == self.program]
        return next((argv[s:] for s in starts[:_MAX_CANDIDATES] if self.matches(argv[s:])), None)

    def matches(self, argv: shell.Argv) -> bool:
        if not argv or argv[0] is None or shell.basename(argv[0]) != self.program:
            return False
        flags = _Flags.of(self.program, argv[1:])
        return (
            self.shorts <= flags.shorts
            and all(any(given and rule.startswith(given) for given in flags.longs) for rule in self.longs)
            and _leading(self.words, flags.positionals)
        )


def _leading(words: Sequence[str], positionals: Sequence[tuple[str | None, bool]]) -> bool:
    """Whether `words` are the leading positional words, in order, skipping skippable ones."""
    states = {0}
    for word, skippable in positionals:
        following: set[int] = set()
        for i in states:
            if i == len(words):
                following.add(i)
                continue
            if word == words[i]:
                following.add(i + 1)
            if skippable:
                following.add(i)
        states = following
    return len(words) in states


@dataclass
class _Flags:
    shorts: set[str]
    longs: set[str]
    positionals: list[tuple[str | None, bool]]
    """(word, whether it may be skipped: unknown, or right after a flag)."""

    @classmethod
    def of(cls, program: str, words: Sequence[str | None]) -> _Flags:
        synonyms = _SYNONYMS.get(program, {})
        flags = cls(set(), set(), [])
        after_flag = ended = False
        for word in words:
            if ended or word is None or word == "-" or not word.startswith("-"):
                flags.positionals.append((word, word is None or after_flag))
                after_flag = False
            elif word == "--":
                ended = True
            elif word.startswith("--"):
                name = word[2:].split("=", 1)[0]
                long_names = [k for k in synonyms if len(k) > 1 and name and k.startswith(name)]
                if len(long_names) == 1:
                    flags.shorts.add(synonyms[long_names[0]])
                else:
                    flags.longs.add(name)
                after_flag = "=" not in word
            else:
                flags.shorts.update(synonyms.get(letter, letter) for letter in word[1:])
                after_flag = True
        return flags


@dataclass(frozen=True)
class AllowRule:
    text: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> AllowRule | None:
        words = tuple(_rule_words(text))
        return cls(text, words) if words else None

    def matches(self, command: shell.SimpleCommand) -> bool:
        return command.plain and command.argv[: len(self.words)] == self.words


# --- paths --------------------------------------------------------------------------


def _paths(args: ToolArgs) -> list[str]:
    found: list[str] = []
    for name in ("path", "cwd"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _resolved(base: Path | None, raw: str) -> Path:
    """`raw` with `~` expanded, made absolute against `base` (the process's directory
    when None) and resolved through symlinks."""
    try:
        path = Path(os.path.expanduser(raw))
        return Path(os.path.realpath(path if base is None or path.is_absolute() else base / path))
    except (ValueError, OSError) as exc:
        raise _InvalidPath(raw, str(exc) or type(exc).__name__) from exc


def _outside(real_root: Path, base: Path, paths: Iterable[tuple[str, str]]) -> str | None:
    """How the first of `paths` (raw, how to name it) that resolves outside the workspace
    is named, or None."""
    for raw, named in paths:
        resolved = _resolved(base, raw)
        if resolved != real_root and real_root not in resolved.parents:
            return named
    return None


def _outside_verdict(named: str, settings: ApprovalSettings, root: Path) -> Verdict:
    where = f"{named} resolves outside the workspace {str(root)!r}"
    if settings.outside_workspace is OutsideWorkspace.DENY:
        return Verdict(Decision.REFUSED, DecidedBy.POLICY, f"refused: {where}")
    return Verdict(Decision.ASK, DecidedBy.POLICY, f"asks: {where}")


def _command_paths(chain: shell.Chain, base: Path) -> list[tuple[str, str]]:
    """Every argument of the chain's commands that may name a file, and how to name it."""
    found = [(raw, f"the input file {raw!r}") for raw in chain.reads]
    for command in chain.commands:
        words = list(command.argv[1:]) or (["~"] if command.name in ("cd", "pushd") else [])
        for word in words:
            values = [word] if not word.startswith("-") else []
            values += [word.split("=", 1)[1]] if "=" in word else []
            named = f"the argument {word!r} of {command.text!r}"
            found += [(path, named) for value in values if value for path in _expansions(base, value)]
    return found


def _expansions(base: Path, word: str) -> list[str]:
    """`word`, and what it names as a glob: the first `_MAX_GLOB_MATCHES` files it matches
    (through a symlink, `l*` may name a file elsewhere), and `..` for a component that can
    match it (`.*`, `.?`)."""
    if not _GLOB.search(word):
        return [word]
    parts = word.split("/")
    dotdot = "/".join(".." if p.startswith(".") and fnmatch.fnmatchcase("..", p) else p for p in parts)
    try:
        matches = glob.iglob(os.path.expanduser(word), root_dir=base)
        return [dotdot, *itertools.islice(matches, _MAX_GLOB_MATCHES)]
    except (ValueError, OSError):
        return [dotdot]
