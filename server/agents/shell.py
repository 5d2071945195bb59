"""Command lines as the approval policy sees them: parsed with tree-sitter-bash, never
matched as text.

`parse(line)` gives a `Chain` or an `Unsafe`.

A `Chain` is a list of simple commands joined only by `&&`, `||`, `;`, `|`, `|&`, `&`
and newlines, where every word is a literal once quotes are removed: plain words,
'single', "double" (without `$` or backticks inside), $'ANSI-C' quoting, and
concatenations of these. Globs in arguments are allowed; so are `~` and `~/…`. The only
redirections allowed are fd duplication to 0-2 (`2>&1`, `>&-`), output to `/dev/null`,
and `<` input from a file (the file goes into `Chain.reads`, which the policy treats as
a path to check).

Everything else is `Unsafe` (its reason names the construct), because a literal reading
of the line would no longer say what runs or what it touches: a parse error; any `$`
expansion, including plain `$VAR` in arguments (it hides paths and flags); command,
process and arithmetic substitution; output redirection to a file; here-documents and
here-strings; subshells `( … )`, `{ …; }` groups, functions, `if`/`for`/`while`/`case`,
`!`, `[ … ]`/`[[ … ]]`; assignments (`FOO=1 cmd`, bare `FOO=1`, `export`/`declare`
…); `~user`/`~+`; brace expansion (`{a,b}`, `{1..3}`); a glob in the program name;
control or non-printing characters (NUL included); the builtins that run or evaluate
code (`eval`, `exec`, `source`, `.`, `trap`, `let`, …); a shell given `-c`
(`bash -c`, `sh -ec`, `su -c`, …); and `printf`/`read`/`test`/… arguments that bash may
evaluate as an array subscript (`a[$(…)]`).

tree-sitter-bash is not bash. Where it is known to split words differently, the line is
`Unsafe` too: a line break followed by a backslash (`ls⏎\\rm x` is two commands to
bash, one to the parser), a line continuation inside a word (`r\\⏎m`), a backslash-
blank it skips, a blank inside a word. Words it files under a redirection
(`rm 2>&1 -rf x`) are given back to their command. The property tests compare chains
with what bash itself runs.

A simple command of a chain is *plain* unless its program runs another command: the
wrappers (`env`, `sudo`, `xargs`, `nohup`, `timeout`, `nice`, `command`, `exec`, `time`,
`stdbuf`, …) and `find -exec`. A command that is not plain is never auto-approved.

`invocations` (on both results) is every command the line visibly runs, for deny rules,
best effort: every `command` node anywhere in the tree (inside subshells, substitutions,
functions, loops, error nodes), with unknown words as None; the script of `sh -c`,
`eval`, `trap`, `watch` and of a here-document or here-string fed to a shell, parsed in
turn (up to `_MAX_DEPTH` levels); what bash runs where the parser is known to misread
(after a stray line break; with line continuations removed); and, after a wrapper,
every later word that is not an option as a place where the wrapped command may begin
(`Invocation.starts`). This over-approximates on purpose: it may find a command that
would not run, never miss one it can see.

Deny and allow rules are matched against these in `server.agents.approval`.

Over 300 lines: the construct table, the word reading, and the places where
tree-sitter-bash and bash disagree belong together; each piece is small.
"""

from __future__ import annotations

import functools
import itertools
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

Argv = tuple[str | None, ...]
"""A command's words as deny rules see them; None for a word whose value is not known."""

_MAX_DEPTH = 6
_SEPARATORS = frozenset({";", "&", "&&", "||", "|", "|&", "\n"})
_CONSTRUCTS = {
    "ERROR": "a syntax error",
    "subshell": "a subshell ( … )",
    "compound_statement": "a { …; } group",
    "function_definition": "a function definition",
    "if_statement": "an if statement",
    "for_statement": "a for loop",
    "c_style_for_statement": "a for loop",
    "while_statement": "a while loop",
    "case_statement": "a case statement",
    "negated_command": "a negated command (!)",
    "test_command": "a test [ … ]",
    "variable_assignment": "a variable assignment",
    "variable_assignments": "a variable assignment",
    "declaration_command": "a declaration (export, declare, local …)",
    "unset_command": "unset",
    "heredoc_redirect": "a here-document",
    "herestring_redirect": "a here-string",
    "command_substitution": "command substitution",
    "process_substitution": "process substitution",
    "arithmetic_expansion": "arithmetic expansion",
    "expansion": "a parameter expansion ${…}",
    "simple_expansion": "a variable expansion $…",
    "translated_string": 'a $"…" string',
    "brace_expression": "a brace expansion",
}
_CODE_RUNNERS = frozenset(
    {"eval", "exec", "source", ".", "trap", "let", "fc", "alias", "enable", "bind", "complete", "compgen", "builtin"}
)
_SCRIPT_RUNNERS = frozenset({"eval", "watch"})
"""Programs that run their arguments, joined by spaces, as a shell line (`trap` runs its first)."""
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "su"})
_WRAPPERS = frozenset(
    {
        "env", "sudo", "doas", "xargs", "nohup", "timeout", "nice", "ionice", "command", "builtin", "exec",
        "time", "stdbuf", "setsid", "coproc", "busybox", "watch", "flock", "chrt", "taskset", "unbuffer", "strace",
    }
)  # fmt: skip
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_SUBSCRIPT_EVAL = frozenset({"printf", "read", "mapfile", "readarray", "test", "wait", "unset"})
_SUBSCRIPT = re.compile(r"\[.*[$`]")
_BRACES = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_GLOB = re.compile(r"[*?\[]")
_BLANKS = re.compile(rb"(?:[ \t\n]|\\\n)*")
_ATOMS = frozenset({"word", "string", "raw_string", "ansi_c_string", "number", "comment"})
_ANSI_C = re.compile(
    r"\\(?:([abeEfnrtv\\'\"?])|([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{1,4})|U([0-9a-fA-F]{1,8})|c(.))", re.S
)
_ANSI_C_LETTERS = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


@dataclass(frozen=True)
class SimpleCommand:
    text: str
    """As written in the line, for messages."""
    argv: tuple[str, ...]
    """Its words with quotes removed, the program first (as written, not resolved)."""
    plain: bool
    """False when the program runs another command (a wrapper, `find -exec`)."""

    @property
    def program(self) -> str:
        return self.argv[0]

    @property
    def name(self) -> str:
        return basename(self.program)


@dataclass(frozen=True)
class Invocation:
    """A command as written, and where in it a command it runs may begin: 0, and after a
    wrapper every later word that is not an option (`sudo -u root rm -rf /` may run
    `root …` or `rm -rf /`; the wrapper's own operands are included on purpose)."""

    argv: Argv
    starts: tuple[int, ...] = (0,)

    def commands(self) -> Iterator[Argv]:
        return (self.argv[start:] for start in self.starts)


@dataclass(frozen=True)
class Chain:
    commands: tuple[SimpleCommand, ...]
    reads: tuple[str, ...]
    """Files read through `<`."""
    invocations: tuple[Invocation, ...]


@dataclass(frozen=True)
class Unsafe:
    reason: str
    invocations: tuple[Invocation, ...]


Parsed = Chain | Unsafe


def basename(program: str) -> str:
    return posixpath.basename(program.rstrip("/")) or program


@functools.cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bash.language()))


def _tree(line: str) -> tuple[Node, bytes]:
    source = line.encode("utf-8", "surrogatepass")
    return _parser().parse(source).root_node, source


def parse(line: str) -> Parsed:
    root, source = _tree(line)
    invocations = tuple(_scan(root, source))
    if "\\\n" in line:  # bash removes line continuations before it splits words
        invocations += tuple(_scan(*_tree(line.replace("\\\n", ""))))
    if any(not (ch.isprintable() or ch in " \t\n") for ch in line):
        return Unsafe("a control or non-printing character", invocations)
    if root.has_error:
        return Unsafe("a syntax error", invocations)
    commands: list[SimpleCommand] = []
    reads: list[str] = []
    reason = _statements(root, source, commands, reads)
    if reason is not None:
        return Unsafe(reason, invocations)
    if _misread(root, source):
        return Unsafe("words that tree-sitter-bash may split differently from bash", invocations)
    return Chain(tuple(commands), tuple(reads), invocations)


def _text(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


def _misread(root: Node, source: bytes) -> bool:
    """Whether tree-sitter-bash may have split the line into words differently from
    bash: text left between tokens (it reads `\\ x` as `x`), tokens that only a line
    continuation separates (bash joins them: `a\\\n#b` is one word), or a blank inside
    a word (`]\t]]`)."""
    position = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.children and node.type not in _ATOMS:
            stack.extend(reversed(node.children))
            continue
        gap = source[position : node.start_byte]
        if not _BLANKS.fullmatch(gap) or (position and gap and not gap.replace(b"\\\n", b"")):
            return True
        if node.type == "word" and _unescaped(source, node.start_byte, node.end_byte, b" \t\n") is not None:
            return True
        position = node.end_byte
    return not _BLANKS.fullmatch(source, position)


def _unescaped(source: bytes, start: int, end: int, chars: bytes) -> int | None:
    """The first offset in `source[start:end]` of one of `chars` not escaped by a backslash."""
    index = start
    while index < end:
        if source[index] == ord("\\"):
            index += 2
        elif source[index] in chars:
            return index
        else:
            index += 1
    return None


def _construct(node: Node) -> str:
    """What makes a node unsafe, in words: the first construct found in it."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in _CONSTRUCTS:
            return _CONSTRUCTS[current.type]
        stack.extend(reversed(current.children))
    return f"unsupported shell syntax ({node.type})"


# --- the safe subset: chains of simple commands --------------------------------


def _statements(root: Node, source: bytes, commands: list[SimpleCommand], reads: list[str]) -> str | None:
    """Append the simple commands under `root` in order; the reason it is unsafe, or None.
    Each node to visit carries the words that follow a redirection and belong to its last
    simple command (see `_trailing`)."""
    work: list[tuple[Node, Sequence[Node]]] = [(root, ())]
    while work:
        node, trailing = work.pop()
        if node.type in ("program", "list", "pipeline"):
            operator = next((c.type for c in node.children if not c.is_named and c.type not in _SEPARATORS), None)
            if operator is not None:
                return f"the operator {operator!r}"
            statements = [c for c in node.children if c.is_named and c.type != "comment"]
            work += reversed([(c, trailing if i == len(statements) - 1 else ()) for i, c in enumerate(statements)])
        elif node.type == "redirected_statement":
            body = node.child_by_field_name("body")
            redirects = node.children_by_field_name("redirect")
            reason = next(filter(None, (_redirect(r, source, reads) for r in redirects)), None)
            if reason is not None:
                return reason
            if body is None:
                return "a redirection without a command"
            work.append((body, [*(w for r in redirects for w in _trailing(r)), *trailing]))
        elif node.type == "command":
            reason = _command(node, source, commands, reads, trailing)
            if reason is not None:
                return reason
        else:
            return _construct(node)
    return None


def _operator(redirect: Node) -> str:
    return next((c.type for c in redirect.children if not c.is_named), "")


def _trailing(redirect: Node) -> list[Node]:
    """The words tree-sitter-bash files as destinations of a redirection though bash
    reads them as arguments (`rm 2>&1 -rf x`)."""
    destinations = redirect.children_by_field_name("destination")
    return destinations if _operator(redirect) in (">&-", "<&-") else destinations[1:]


def _redirect(node: Node, source: bytes, reads: list[str]) -> str | None:
    if node.type != "file_redirect":
        return _construct(node)
    if _stray_newlines(node, source):
        return "a line break that tree-sitter-bash reads differently from bash"
    operator = _operator(node)
    target = node.child_by_field_name("destination")
    value = _literal(target, source) if target is not None else None
    if operator in (">&-", "<&-") or (operator in (">&", "<&") and value in ("0", "1", "2")):
        return None
    if operator in (">", ">>", "&>", "&>>", ">|", ">&") and value == "/dev/null":
        return None
    if operator == "<" and value is not None:
        reads.append(value)
        return None
    if target is not None and value is None:
        return _construct(target)
    return "an output redirection to a file" if operator != "<" else f"the redirection {operator!r}"


def _command(
    node: Node, source: bytes, commands: list[SimpleCommand], reads: list[str], trailing: Sequence[Node]
) -> str | None:
    if _stray_newlines(node, source):
        return "a line break that tree-sitter-bash reads differently from bash"
    words: list[str] = []
    pieces: list[Node] = []
    for index, child in enumerate(node.children):
        if child.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
            reason = _redirect(child, source, reads)
            pieces += _trailing(child)
        elif child.type == "command_name" or node.field_name_for_child(index) == "argument":
            pieces.append(child)
            reason = None
        else:
            reason = _construct(child)
        if reason is not None:
            return reason
    pieces += trailing
    if _glued(pieces, source):
        return "words that bash reads as one (a line continuation inside a word, or the like)"
    for piece in pieces:
        reason = _word(piece, source, words, program=piece.type == "command_name")
        if reason is not None:
            return reason
    if not words or pieces[0].type != "command_name":
        return "a command without a program"
    reason = _code(words)
    if reason is not None:
        return reason
    name = basename(words[0])
    plain = name not in _WRAPPERS and not (name == "find" and _FIND_EXEC.intersection(words))
    end = max(node.end_byte, *(p.end_byte for p in pieces))
    text = source[node.start_byte : end].decode("utf-8", "surrogatepass")
    commands.append(SimpleCommand(text, tuple(words), plain))
    return None


def _glued(words: Sequence[Node], source: bytes) -> bool:
    """Whether two words of a command have no blank between them once line continuations
    are removed, as bash removes them (`r\\\nm` is `rm` to bash, two words to the parser)."""
    return any(not source[a.end_byte : b.start_byte].replace(b"\\\n", b"") for a, b in itertools.pairwise(words))


def _stray_newlines(node: Node, source: bytes) -> list[int]:
    """Where tree-sitter-bash reads a command (or redirection) on past a line break that
    ends it for bash, as it does when the next line starts with a backslash
    (`ls\\n\\rm -rf x` is `ls` and `rm -rf x` to bash)."""
    spans: list[tuple[int, int]] = []
    previous = node.start_byte
    for child in node.children:
        spans.append((previous, child.start_byte))
        parts = child.children if child.type in ("command_name", "concatenation") else [child]
        spans += [(part.start_byte, part.end_byte) for part in parts if part.type == "word"]
        previous = child.end_byte
    found: list[int] = []
    for start, end in spans:
        index = _unescaped(source, start, end, b"\n")
        while index is not None:
            found.append(index)
            index = _unescaped(source, index + 1, end, b"\n")
    return found


def _word(node: Node, source: bytes, words: list[str], *, program: bool) -> str | None:
    raw = _text(node, source)
    value = _literal(node, source)
    if value is None:
        return _construct(node)
    if raw.startswith("~") and raw.split("/", 1)[0] != "~":
        return f"the tilde expansion {raw.split('/', 1)[0]!r}"
    if _BRACES.search(raw):
        return f"the brace expansion in {raw!r}"
    if program and _GLOB.search(raw):
        return f"a glob in the program name {raw!r}"
    words.append(value)
    return None


def _code(words: list[str]) -> str | None:
    """Why a command's own program runs code the line does not show, or None."""
    name = basename(words[0])
    if name in _CODE_RUNNERS:
        return f"{name!r} runs or evaluates shell code"
    if name in _SHELLS and any((_is_short_cluster(w) and "c" in w[1:]) or w.startswith("--command") for w in words[1:]):
        return f"{name!r} with -c runs a string as shell code"
    if name in _SUBSCRIPT_EVAL and any(_SUBSCRIPT.search(w) for w in words[1:]):
        return f"{name!r} may evaluate an array subscript as code"
    return None


def _is_short_cluster(word: str) -> bool:
    return len(word) > 1 and word.startswith("-") and not word.startswith("--")


# --- literal values of words ------------------------------------------------------


def _literal(node: Node, source: bytes) -> str | None:
    """A word's value once quotes are removed, or None when it expands anything."""
    raw = _text(node, source)
    kind = node.type
    if kind == "command_name":
        parts = node.named_children
        return _join([_literal(p, source) for p in parts]) if parts and _contiguous(node, parts) else None
    if kind == "word":
        return re.sub(r"\\(.)", r"\1", raw.replace("\\\n", ""), flags=re.S)
    if kind == "number" and re.fullmatch(r"-?\w+", raw):
        return raw
    if kind == "raw_string":
        return raw[1:-1]
    if kind == "string":
        if any(c.type != "string_content" for c in node.named_children):
            return None
        return re.sub(r'\\([$`"\\])', r"\1", raw[1:-1].replace("\\\n", ""))
    if kind == "ansi_c_string":
        return _ansi_c(raw[2:-1])
    if kind == "concatenation":
        parts = node.children
        return _join([_literal(p, source) for p in parts]) if _contiguous(node, parts) else None
    return None


def _contiguous(node: Node, parts: Sequence[Node]) -> bool:
    edges = [node.start_byte, *(b for p in parts for b in (p.start_byte, p.end_byte)), node.end_byte]
    return all(edges[i] == edges[i + 1] for i in range(0, len(edges), 2))


def _join(values: list[str | None]) -> str | None:
    known = [v for v in values if v is not None]
    return "".join(known) if len(known) == len(values) else None


def _ansi_c(body: str) -> str | None:
    def one(m: re.Match[str]) -> str:
        letter, octal, hex2, hex4, hex8, control = m.groups()
        if letter:
            return _ANSI_C_LETTERS.get(letter, letter)
        if control:
            return chr(ord(control) & 0x1F)
        digits = octal or hex2 or hex4 or hex8
        return chr(int(digits, 8 if octal else 16))

    if not re.fullmatch(r"(?:[^\\']|\\.)*", body, re.S):
        return None  # the parser closed the quote on an escaped one (`$'\\'`)
    try:
        return _ANSI_C.sub(one, body)
    except (ValueError, OverflowError):
        return None


# --- what the line runs, for deny rules ---------------------------------------------


def _scan(root: Node, source: bytes) -> Iterator[Invocation]:
    """Every command the tree visibly runs, reading again, as a further tree, each shell
    script it finds (up to `_MAX_DEPTH` levels)."""
    trees = [(root, source, 0)]
    while trees:
        tree, text, depth = trees.pop()
        trailing: dict[int, list[Node]] = {}
        stack = [tree]
        while stack:
            node = stack.pop()
            stack.extend(reversed(node.children))
            if node.type == "redirected_statement":
                last = _last_command(node)
                if last is not None:
                    words = [w for r in node.children_by_field_name("redirect") for w in _trailing(r)]
                    trailing.setdefault(last.id, []).extend(words)
            if node.type in ("file_redirect", "command"):  # what bash runs after each line break, read again
                breaks = _stray_newlines(node, text)
                for start, end in itertools.pairwise([*breaks, node.end_byte]):
                    trees.append((*_tree(text[start + 1 : end].decode("utf-8", "surrogatepass")), depth))
            if node.type != "command":
                continue
            argv = _loose_argv(node, text, trailing.get(node.id, []))
            if not argv or argv[0] is None:
                continue
            invocation = Invocation(argv, _starts(argv))
            yield invocation
            if depth < _MAX_DEPTH:
                trees += [(*_tree(script), depth + 1) for script in _scripts(invocation, _stdin_scripts(node, text))]


def _last_command(node: Node) -> Node | None:
    """The simple command a redirection's trailing words belong to: the last one of the
    statement, not looking into substitutions or compound commands."""
    current: Node | None = node
    while current is not None and current.type != "command":
        if current.type == "redirected_statement":
            current = current.child_by_field_name("body")
        elif current.type in ("pipeline", "list", "negated_command"):
            statements = [c for c in current.named_children if c.type != "comment"]
            current = statements[-1] if statements else None
        else:
            current = None
    return current


def _loose_argv(node: Node, source: bytes, trailing: Sequence[Node]) -> Argv:
    words: list[str | None] = []
    for index, child in enumerate(node.children):
        if child.type == "command_name" or node.field_name_for_child(index) == "argument":
            words.append(_literal(child, source))
        elif child.type == "file_redirect":
            words += [_literal(w, source) for w in _trailing(child)]
    return (*words, *(_literal(w, source) for w in trailing))


def _stdin_scripts(node: Node, source: bytes) -> list[str]:
    """Here-documents and here-strings given to the command (a shell runs them)."""
    redirects = [c for c in node.children if c.type == "herestring_redirect"]
    if node.parent is not None and node.parent.type == "redirected_statement":
        redirects += node.parent.children_by_field_name("redirect")
    scripts: list[str] = []
    for redirect in redirects:
        for part in redirect.named_children:
            if part.type == "heredoc_body":
                scripts.append(_text(part, source))
            elif redirect.type == "herestring_redirect":
                scripts.append(_literal(part, source) or _text(part, source))
    return scripts


def _scripts(invocation: Invocation, stdin: list[str]) -> list[str]:
    """The shell lines that the commands of `invocation` run."""
    scripts: list[str] = []
    for start, inner in zip(invocation.starts, invocation.commands(), strict=True):
        name = basename(inner[0] or "")
        if name in _SHELLS:
            scripts += [w for w in inner[1:] if w is not None and not w.startswith("-")]
            scripts += stdin if start == 0 else []
        elif name in _SCRIPT_RUNNERS:
            scripts.append(" ".join(w for w in inner[1:] if w is not None))
        elif name == "trap" and len(inner) > 1 and inner[1] is not None:
            scripts.append(inner[1])
        elif name == "env":
            scripts += [_split_string(w) for w in inner[1:] if w is not None and w.startswith(("-S", "--split-s"))]
    return scripts


def _starts(argv: Argv) -> tuple[int, ...]:
    """See `Invocation`; `find -exec` starts a command too. Linear in the words."""
    words = [w or "-" for w in argv]  # an unknown word cannot start a command we can name
    execs = [j + 1 for j in range(len(words) - 1) if words[j] in _FIND_EXEC]
    reachable = [index == 0 for index in range(len(words))]
    wrapped = found = False
    for index, word in enumerate(words):
        reachable[index] = reachable[index] or (wrapped and not word.startswith("-"))
        if not reachable[index]:
            continue
        name = basename(word)
        if name in _WRAPPERS:
            wrapped = True  # every later word that is not an option may start a command
        elif name == "find" and not found:
            found = True
            for j in execs:
                reachable[j] = reachable[j] or j > index
    return tuple(i for i, r in enumerate(reachable) if r and (i == 0 or not words[i].startswith("-")))


def _split_string(word: str) -> str:
    """The command line inside `env -S…` / `--split-string=…`."""
    value = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word[2:]
    return value
