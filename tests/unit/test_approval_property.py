"""Property tests of the command policy over lines built from a small shell grammar:
allowed, other and dangerous (`rm` with `-r` and `-f`) simple commands, in random
spellings and quotes, behind wrappers, joined by every operator, and nested in
subshells, groups, `bash -c`, `$(…)`, `eval` and assignment prefixes.

- A line with a dangerous invocation the parser can see is refused, even when command
  tools are auto-approved; one it cannot see (`rm -r$F x`, `… | bash`) is never
  auto-approved.
- A line is auto-approved exactly when every part of it is an allowed, plain simple
  command joined by plain operators.
- Differentially, against bash itself: for lines of odd characters that the parser calls
  a plain chain, the commands it names are the commands bash runs, word for word."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.enums import Decision, ToolCategory
from server.agents.approval import decide
from server.agents.shell import Chain, parse
from server.agents.tools import BY_NAME
from server.settings import ApprovalSettings

POLICY = ApprovalSettings(allowed_commands=("ls", "git status", "echo", "cat"), denied_commands=("rm -rf",))
EVERYTHING_AUTO = replace(POLICY, auto_approve={ToolCategory.COMMAND: True})
SPEC = BY_NAME["execute_command"]
ROOT = Path("/ws")

ALLOWED = (("ls",), ("echo",), ("cat",), ("git", "status"))
OTHERS = (("touch",), ("curl",), ("python3",), ("make",), ("git", "push"), ("lsx",), ("/tmp/evil/ls",), ("rm",))
FILLER = ("a.txt", "src", "x y", "-l", "-a", "*.py", "--color=auto", "./src", "a;b", "a&&b", "$lit")
RM = ("rm", "/bin/rm", "/usr/bin/rm", "\\rm", "r\\m")
RM_FLAGS = (
    ("-rf",),
    ("-fr",),
    ("-Rf",),
    ("-fR",),
    ("-rfv",),
    ("-r", "-f"),
    ("-f", "-r"),
    ("-R", "--force"),
    ("--recursive", "--force"),
    ("--force", "-r"),
)
WRAPPERS = ("sudo", "sudo -u root", "env", "env -i A=1", "nohup", "timeout 5", "nice -n 5", "xargs", "command")
WRAPPERS += ("time", "stdbuf -oL", "exec")
OPERATORS = (" && ", " || ", "; ", ";", " | ", " |& ", " & ", "&", "\n")
NESTINGS = ("( {} )", "{{ {}; }}", "bash -c {q}", "sh -c {q}", "echo $( {} )", 'echo "$( {} )"', "eval {q}", "FOO=1 {}")


@dataclass(frozen=True)
class Line:
    text: str
    visible_danger: bool = False
    hidden_danger: bool = False
    vouched: bool = True
    """Every part is an allowed, plain simple command joined by plain operators."""


@st.composite
def quoted(draw: st.DrawFn, word: str) -> str:
    if word.startswith("$"):
        return shlex.quote(word)  # a literal dollar, never an expansion
    forms = [shlex.quote(word), f"'{word}'", f'"{word}"', f"'{word[:1]}'{shlex.quote(word[1:]) if word[1:] else ''}"]
    if word.isprintable() and not set(word) & set(" ;&|*\\'\"$"):
        forms += [word, "\\" + word]
    return draw(st.sampled_from(forms))


@st.composite
def words(draw: st.DrawFn, fixed: tuple[str, ...], filler: bool = True) -> list[str]:
    out = [draw(quoted(w)) for w in fixed]
    if filler:
        out += [draw(quoted(w)) for w in draw(st.lists(st.sampled_from(FILLER), max_size=3))]
    return out


@st.composite
def simple(draw: st.DrawFn, kind: str) -> Line:
    if kind == "allowed":
        return Line(" ".join(draw(words(draw(st.sampled_from(ALLOWED))))))
    if kind == "other":
        return Line(" ".join(draw(words(draw(st.sampled_from(OTHERS))))), vouched=False)
    if kind == "hidden":
        hidden = draw(st.sampled_from(["rm -r$F x", "rm $FLAGS x", '"$RM" -rf x', "rm -$(echo rf) x"]))
        return Line(hidden, hidden_danger=True, vouched=False)
    program = draw(st.sampled_from(RM))
    flags = [draw(quoted(f)) for f in draw(st.sampled_from(RM_FLAGS))]
    args = [*draw(words((), filler=True)), "x"]
    mixed = draw(st.permutations(flags + args))
    return Line(" ".join([program, *mixed]), visible_danger=True, vouched=False)


@st.composite
def wrapped(draw: st.DrawFn, kind: str) -> Line:
    line = draw(simple(kind))
    for wrapper in draw(st.lists(st.sampled_from(WRAPPERS), max_size=2)):
        line = replace(line, text=f"{wrapper} {line.text}", vouched=False)
    return line


@st.composite
def chain(draw: st.DrawFn, kinds: st.SearchStrategy[str], depth: int = 0) -> Line:
    parts: list[Line] = []
    for _ in range(draw(st.integers(1, 3))):
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            parts.append(draw(nested(kinds, depth + 1)))
        else:
            parts.append(draw(wrapped(draw(kinds))))
    text = parts[0].text
    for part in parts[1:]:
        text += draw(st.sampled_from(OPERATORS)) + part.text
    return Line(
        text,
        visible_danger=any(p.visible_danger for p in parts),
        hidden_danger=any(p.hidden_danger for p in parts),
        vouched=all(p.vouched for p in parts),
    )


@st.composite
def nested(draw: st.DrawFn, kinds: st.SearchStrategy[str], depth: int) -> Line:
    inner = draw(chain(kinds, depth))
    if draw(st.booleans()) and not inner.visible_danger:
        # piped into a shell: what runs is data to the parser, so nothing is visible
        return Line(f"echo {shlex.quote(inner.text)} | bash", hidden_danger=inner.hidden_danger, vouched=False)
    form = draw(st.sampled_from(NESTINGS))
    if form.startswith("FOO=1"):
        inner = draw(wrapped(draw(kinds)))
    return replace(inner, text=form.format(inner.text, q=shlex.quote(inner.text)), vouched=False)


KINDS = st.sampled_from(["allowed", "allowed", "allowed", "other", "danger", "hidden"])


@st.composite
def with_danger(draw: st.DrawFn) -> Line:
    """A line with at least one visible dangerous invocation somewhere."""
    line = draw(chain(KINDS))
    if line.visible_danger:
        return line
    danger = draw(st.one_of(wrapped("danger"), nested(st.just("danger"), 1)))
    joined = draw(st.sampled_from(OPERATORS)).join(draw(st.permutations([line.text, danger.text])))
    return Line(joined, visible_danger=True, vouched=False)


def decision(line: Line, policy: ApprovalSettings = POLICY) -> Decision:
    return decide(SPEC, SPEC.args_model.model_validate({"command": line.text}), policy, ROOT).decision


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(with_danger())
def test_a_visible_dangerous_invocation_is_refused(line: Line) -> None:
    assert decision(line) is Decision.REFUSED, line.text
    assert decision(line, EVERYTHING_AUTO) is Decision.REFUSED, line.text


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(chain(KINDS))
def test_danger_is_never_auto_approved_and_only_vouched_lines_are(line: Line) -> None:
    got = decision(line)
    if line.visible_danger:
        assert got is Decision.REFUSED, line.text
    elif line.hidden_danger:
        assert got is Decision.ASK, line.text
    assert (got is Decision.AUTO_APPROVED) == line.vouched, (line.text, got)


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(chain(st.sampled_from(["allowed", "allowed", "other"])))
def test_a_line_with_a_program_that_is_not_allowed_asks(line: Line) -> None:
    got = decision(line)
    assert got is (Decision.AUTO_APPROVED if line.vouched else Decision.ASK), (line.text, got)


BASH = shutil.which("bash")
RECORD = "command_not_found_handle() {{ printf '%s\\0' \"$@\" $'\\001' >&{fd}; }}\n"
"""With no PATH, bash hands every simple command to this handler, which records its words."""
TOKENS = ("p1", "p2", "a", "-rf", " ", " ", "\t", "\n", "\\", "\\\n", "\\ ", "'", '"', "$'\\x41'", "$'\\''")
TOKENS += (";", "&", "|", "&&", "#", "*", "?", "{", "}", "[", "]", ",", "..", "=", "!", "%", ":", ">/dev/null", "2>&1")


def bash_runs(line: str, cwd: str) -> Counter[tuple[str, ...]]:
    assert BASH is not None
    read, write = os.pipe()
    with subprocess.Popen(
        [BASH, "--norc", "--noprofile", "-c", RECORD.format(fd=write) + line],
        pass_fds=(write,),
        cwd=cwd,
        env={"PATH": "/nonexistent", "HOME": "/nonexistent"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        os.close(write)
        with os.fdopen(read, "rb") as records:
            data = records.read()
        process.wait(timeout=10)
    return Counter(tuple(w.decode() for w in record.split(b"\0")[:-1]) for record in data.split(b"\1\0") if record)


@pytest.mark.skipif(BASH is None, reason="needs bash")
@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(st.sampled_from(("p1", "\\p1", "'p1'", "\np1 ")), st.lists(st.sampled_from(TOKENS), max_size=12))
def test_a_plain_chain_is_what_bash_runs(program: str, tokens: list[str]) -> None:
    line = program + "".join(tokens)
    parsed = parse(line)
    if not isinstance(parsed, Chain) or any(c.name not in ("p1", "p2") for c in parsed.commands):
        return
    ours = Counter(c.argv for c in parsed.commands)
    with tempfile.TemporaryDirectory() as cwd:
        theirs = bash_runs(line, cwd)
    if "||" in line:  # the handler succeeds, so bash skips what follows `||`
        assert theirs <= ours, line
    else:
        assert theirs == ours, line
