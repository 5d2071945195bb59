"""The command-line parser behind the approval policy: what is a plain chain, what is
unsafe and why, what a command visibly runs, and how deny and allow rules match."""

from __future__ import annotations

import pytest

from server.agents.approval import AllowRule, DenyRule, command_prefix
from server.agents.shell import Argv, Chain, Invocation, SimpleCommand, Unsafe, parse
from tests.unit.spellings import RM_RF_SPELLINGS


def chain(line: str) -> Chain:
    parsed = parse(line)
    assert isinstance(parsed, Chain), (line, parsed)
    return parsed


def argvs(line: str) -> list[tuple[str, ...]]:
    return [c.argv for c in chain(line).commands]


def runs(line: str) -> list[Argv]:
    """Every command the line visibly runs, as deny rules see them."""
    return [argv for invocation in parse(line).invocations for argv in invocation.commands()]


def denied(rule: str, line: str) -> bool:
    parsed_rule = DenyRule.parse(rule)
    assert parsed_rule is not None
    return any(parsed_rule.first_match(invocation) for invocation in parse(line).invocations)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ls", [("ls",)]),
        ("a && b || c ; d | e", [("a",), ("b",), ("c",), ("d",), ("e",)]),
        ("ls & rm -rf victim", [("ls",), ("rm", "-rf", "victim")]),
        ("ls &", [("ls",)]),
        ("ls\nrm x", [("ls",), ("rm", "x")]),
        ("ls\n\n  pwd\n", [("ls",), ("pwd",)]),
        ("a |& b", [("a",), ("b",)]),
        ("  git   status  ", [("git", "status")]),
        ("ls # a comment; rm x", [("ls",)]),
        ("ls \\\n  -la", [("ls", "-la")]),
    ],
)
def test_separators(line: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ls 'a b'", ("ls", "a b")),
        ('echo "x;y"', ("echo", "x;y")),
        ("echo 'x && y' \"a | b\"", ("echo", "x && y", "a | b")),
        ('echo "a\\"b" \'c\\d\'', ("echo", 'a"b', "c\\d")),
        ("echo a\\ b \\;", ("echo", "a b", ";")),
        ("echo 'a'\"b\"c", ("echo", "abc")),
        ("echo $'a\\tb\\x41\\u00e9'", ("echo", "a\tbAé")),
        ('echo "a$"', ("echo", "a$")),
        ("'l''s' -la", ("ls", "-la")),
        ('"/bin/ls"', ("/bin/ls",)),
        ("\\ls", ("ls",)),
        ("git commit -m 'two\nlines'", ("git", "commit", "-m", "two\nlines")),
        ('git commit -m "two\nlines"', ("git", "commit", "-m", "two\nlines")),
        ("ls *.py src/[ab]?.txt", ("ls", "*.py", "src/[ab]?.txt")),
        ("ls ~ ~/x", ("ls", "~", "~/x")),
        ("find . -name '{}'", ("find", ".", "-name", "{}")),
        ("make CC=gcc -j4", ("make", "CC=gcc", "-j4")),
        ("timeout 5 -5", ("timeout", "5", "-5")),
    ],
)
def test_quotes_are_removed(line: str, expected: tuple[str, ...]) -> None:
    assert argvs(line) == [expected]


def test_words_after_a_redirection_belong_to_the_command() -> None:
    assert argvs("ls >/dev/null -la src") == [("ls", "-la", "src")]
    assert argvs("ls 2>&1 a | wc >/dev/null -l") == [("ls", "a"), ("wc", "-l")]
    assert isinstance(parse("bash >/dev/null -c ls"), Unsafe)
    (command,) = chain("ls 2>&1 /etc").commands
    assert command.text == "ls 2>&1 /etc"


def test_a_simple_command_keeps_its_text_and_program() -> None:
    (command,) = chain("/usr/bin/git  status -s 2>/dev/null").commands
    assert command == SimpleCommand("/usr/bin/git  status -s", ("/usr/bin/git", "status", "-s"), plain=True)
    assert command.program == "/usr/bin/git" and command.name == "git"


@pytest.mark.parametrize(
    ("line", "reads"),
    [
        ("ls 2>&1", ()),
        ("ls >&2", ()),
        ("ls 1>&2 2>&1", ()),
        ("ls >/dev/null", ()),
        ("ls 2>> /dev/null", ()),
        ("ls &>/dev/null", ()),
        ("ls >&-", ()),
        ("wc -l < in.txt", ("in.txt",)),
        ("wc -l < '../a b'", ("../a b",)),
        ("sort 3<f", ("f",)),
    ],
)
def test_allowed_redirections(line: str, reads: tuple[str, ...]) -> None:
    assert chain(line).reads == reads


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ls 'unterminated", "syntax error"),
        ("ls &&", "syntax error"),
        ("ls ;; x", "operator"),
        ("echo $(ls)", "command substitution"),
        ("echo `ls`", "command substitution"),
        ('echo "$(ls)"', "command substitution"),
        ("diff <(ls) >(cat)", "process substitution"),
        ("echo $((1+2))", "arithmetic expansion"),
        ("echo $[1+2]", "arithmetic expansion"),
        ("echo $HOME", "variable expansion"),
        ('echo "$HOME"', "variable expansion"),
        ("echo $1 $@", "variable expansion"),
        ("echo ${HOME}", "parameter expansion"),
        ("echo ${x:-$(ls)}", "parameter expansion"),
        ("$CMD -la", "variable expansion"),
        ("ls > out", "output redirection"),
        ("ls >> out", "output redirection"),
        ("ls &> out", "output redirection"),
        ("ls &>> out", "output redirection"),
        ("ls >| out", "output redirection"),
        ("ls >& out", "output redirection"),
        ("ls 2> err", "output redirection"),
        ("ls | tee x > out", "output redirection"),
        ("cat <<EOF\nx\nEOF", "here-document"),
        ("cat <<< hi", "here-string"),
        ("(ls)", "subshell"),
        ("{ ls; }", "group"),
        ("f() { ls; }", "function"),
        ("if true; then ls; fi", "if statement"),
        ("for f in a b; do ls; done", "for loop"),
        ("for ((i=0; i<2; i++)); do ls; done", "for loop"),
        ("while true; do ls; done", "while loop"),
        ("until true; do ls; done", "while loop"),
        ("case x in x) ls;; esac", "case statement"),
        ("! ls", "negated"),
        ("[ -f x ]", "test"),
        ("[[ -f x ]]", "test"),
        ("FOO=1 ls", "assignment"),
        ("FOO=1", "assignment"),
        ("A=1 B=2", "assignment"),
        ("export A=1", "declaration"),
        ("declare -a x", "declaration"),
        ("unset x", "unset"),
        ("eval ls", "eval"),
        ("exec ls", "'exec'"),
        ("source env.sh", "'source'"),
        (". env.sh", "'.'"),
        ("trap 'ls' EXIT", "'trap'"),
        ("let x=1", "'let'"),
        ("builtin echo x", "'builtin'"),
        ("bash -c ls", "-c"),
        ("sh -c 'ls'", "-c"),
        ("zsh -c ls", "-c"),
        ("dash -ec ls", "-c"),
        ("/bin/bash -xc ls", "-c"),
        ("su -c ls root", "-c"),
        ("printf -v 'a[$(ls)]' x", "subscript"),
        ("ls ~root", "tilde"),
        ("ls ~+/x", "tilde"),
        ("ls {a,b}", "brace expansion"),
        ("ls x{1..3}", "brace expansion"),
        ("l* x", "glob in the program"),
        ("/bin/l? x", "glob in the program"),
        ("ls \x00", "control"),
        ("ls\rrm", "control"),
        ("ls \x1b[2J", "control"),
        ('echo $"hi"', ""),
        # where tree-sitter-bash would read the words differently from bash
        ("ls\n\\rm x", "line break"),
        ("ls\n\\\nrm x", "line break"),
        ("ls # note\n\\rm x", "line break"),
        ("l\\\ns", "as one"),
        ("ls a\\\nb", "as one"),
        ("ls [[[\\&", "as one"),
        ("\\ ls", "split differently"),
        ("ls \\ x", "split differently"),
        ("ls ]\t]]", "split differently"),
        ("ls x\\\n#y", "split differently"),
        ("ls $'a\\'", "ansi_c_string"),  # bash: an unterminated quote
        ("ls >&3", "output redirection"),  # tree-sitter-bash reads $"…" as a $ word and a string
    ],
)
def test_unsafe_constructs(line: str, reason: str) -> None:
    parsed = parse(line)
    assert isinstance(parsed, Unsafe), (line, parsed)
    assert reason in parsed.reason, (line, parsed.reason)


@pytest.mark.parametrize(
    "line",
    [
        "env ls",
        "env -i A=1 ls",
        "sudo ls",
        "sudo -u root ls",
        "xargs ls",
        "xargs -0 -n1 ls",
        "nohup ls",
        "timeout 5 ls",
        "timeout -k 1 5 ls",
        "nice ls",
        "nice -n 5 ls",
        "command ls",
        "time ls",
        "stdbuf -oL ls",
        "doas ls",
        "setsid ls",
        "watch ls",
        "find . -exec ls {} ;",
        "find . -execdir ls {} +",
    ],
)
def test_wrappers_are_not_plain(line: str) -> None:
    (command,) = chain(line).commands
    assert not command.plain
    assert any(argv[0] == "ls" for argv in runs(line))


def test_find_without_exec_is_plain() -> None:
    (command,) = chain("find . -name '*.py' -type f").commands
    assert command.plain


def test_invocations_reach_inside_everything() -> None:
    seen = {argv[0] for argv in runs('(a); { b; }; $(c) `d` <(e) "$(f)" ${x:-$(g)} && h')}
    assert seen >= set("abcdefgh")
    nested = runs("bash -c \"sh -c 'eval touch x'\"")
    assert ("touch", "x") in nested
    assert ("touch", "x") in runs("echo ok <<< x; bash <<EOF\ntouch x\nEOF")
    assert ("touch", "x") in runs("bash <<< 'touch x'")
    assert ("touch", "x") in runs("env -S'touch x'")
    assert ("touch", "x") in runs("trap 'touch x' EXIT")
    assert (None, "x") not in runs("$CMD x")  # an unknown program is not reported
    assert ("rm", None, "x") in runs("rm $FLAGS x")


def test_where_a_wrapped_command_may_begin() -> None:
    (invocation,) = parse("sudo -u root nice -n 5 rm -rf x").invocations
    assert invocation == Invocation(("sudo", "-u", "root", "nice", "-n", "5", "rm", "-rf", "x"), (0, 2, 3, 5, 6, 8))
    (find,) = parse("find . -name a -exec rm -rf {} ;").invocations
    assert find.starts == (0, 5)
    assert parse("ls rm -rf").invocations == (Invocation(("ls", "rm", "-rf")),)


def test_huge_lines_stay_cheap() -> None:
    for line in ("nohup " * 3000 + "rm -rf x", "sudo " + "rm " * 3000 + "-rf x", "ls && " * 3000 + "ls"):
        parsed = parse(line)
        assert denied("rm -rf", line) or isinstance(parsed, Chain)
    deep = "$(" * 300 + "rm -rf x" + ")" * 300
    assert denied("rm -rf", deep)


def test_nesting_is_bounded() -> None:
    line = "touch x"
    for _ in range(20):
        line = f"bash -c {line!r}"
    assert isinstance(parse(line), Unsafe)  # and it returns


@pytest.mark.parametrize(
    "line",
    RM_RF_SPELLINGS,
)
def test_every_spelling_of_a_denied_command_matches(line: str) -> None:
    assert denied("rm -rf", line), line


@pytest.mark.parametrize(
    "line",
    ["rm -r x", "rm -f x", "rm x", "rm -- -rf", "rm -r -- -f", "echo rm -rf", "git rm -rf x", "rmdir -rf x", "rm $F x"],
)
def test_what_a_denied_command_does_not_match(line: str) -> None:
    assert not denied("rm -rf", line), line


def test_deny_rule_spellings_are_equivalent() -> None:
    for rule in ("rm -rf", "rm -fr", "rm -r -f", "rm -Rf", "rm --recursive --force", "/bin/rm -rf"):
        assert denied(rule, "rm -f -R x") and not denied(rule, "rm -R x"), rule


def test_deny_rule_positional_words_lead() -> None:
    assert denied("git push", "git push")
    assert denied("git push", "git push --force origin main")
    assert denied("git push", "git -C repo push")
    assert denied("git push", "git --git-dir=.git push")
    assert not denied("git push", "git log push")
    assert not denied("git push", "git status")
    assert denied("git push --force", "git push -f")
    assert denied("git push --force", "git push --f")  # a GNU abbreviation
    assert not denied("git push --force", "git push --force-with-lease")
    assert denied("git remote add", "git remote -v add origin x")
    assert not denied("git remote add", "git remote remove add")
    assert denied("docker", "sudo docker ps")
    assert denied("sudo", "sudo ls")


def test_rules_that_parse_to_nothing() -> None:
    assert DenyRule.parse("   ") is None
    assert AllowRule.parse("") is None
    assert DenyRule.parse("rm 'unbalanced") is not None  # falls back to whitespace


def test_allow_rules_match_leading_words_of_plain_commands() -> None:
    (status,) = chain("git status -s").commands
    (push,) = chain("git push").commands
    (evil,) = chain("/tmp/evil/ls").commands
    (wrapped,) = chain("nohup ls").commands
    git_status, ls = AllowRule.parse("git status"), AllowRule.parse("ls")
    assert git_status is not None and ls is not None
    assert git_status.matches(status) and not git_status.matches(push)
    assert not ls.matches(evil) and not ls.matches(wrapped)


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        ("git status -s", "git status"),
        ("pytest -x tests", "pytest"),
        ("python3 ./run.py", "python3"),
        ("npm test -- --watch", "npm test"),
        ("'my tool' run", "'my tool' run"),
    ],
)
def test_command_prefix(line: str, prefix: str) -> None:
    (command,) = chain(line).commands
    assert command_prefix(command) == prefix
