"""How a tool call is put to the user, and what their answer means.

The question names the action ("Write hello.py?", "Run `npm test`?"); the choices read
the same everywhere: `[y]es / [a]lways / [n]o + feedback`, Enter meaning yes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocol.enums import PlanDecision

CHOICES = "[y]es / [a]lways / [n]o + feedback"
PLAN_CHOICES = "[y]es / [n]o / re[v]ise + feedback"
DEFAULT = "(Enter: yes)"


class Verdict(Enum):
    YES = "yes"
    ALWAYS = "always"
    NO = "no"


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    feedback: str = ""


def _arg(arguments: dict[str, Any], name: str, default: str = "") -> str:
    value = arguments.get(name)
    return value if isinstance(value, str) and value else default


def action(name: str, arguments: dict[str, Any], *, exists: bool = False) -> str:
    """What a call does, as the start of a sentence: `Write hello.py`, `Run \\`ls\\``."""
    path = _arg(arguments, "path", ".")
    if name == "write_file":
        return f"{'Overwrite' if exists else 'Write'} {path}"
    if name == "edit_file":
        return f"Edit {path}"
    if name == "create_directory":
        return f"Create the folder {path}"
    if name == "execute_command":
        cwd = _arg(arguments, "cwd")
        return f"Run `{_arg(arguments, 'command', '?')}`" + (f" in {cwd}" if cwd and cwd != "." else "")
    if name == "read_file":
        return f"Read {path}"
    if name == "list_files":
        return f"List {path}"
    if name == "search_in_code":
        return f"Search for {_arg(arguments, 'query', '?')!r} in {_arg(arguments, 'path', '.')}"
    return f"Use {name}"


def parse(text: str) -> Answer | None:
    """`y`, `a`, `n`, `n <feedback>` (or the words); Enter is yes. None: not an answer."""
    words = text.strip()
    if not words:
        return Answer(Verdict.YES)
    head, _, rest = words.partition(" ")
    head = head.lower().rstrip(",:;.")
    if head in ("y", "yes"):
        return Answer(Verdict.YES)
    if head in ("a", "always"):
        return Answer(Verdict.ALWAYS)
    if head in ("n", "no"):
        return Answer(Verdict.NO, rest.strip())
    return None


def parse_plan(text: str) -> tuple[PlanDecision, str] | None:
    """`y` (or `a`pprove), `n` (or `r`eject), `v <feedback>` (revise); Enter is yes."""
    words = text.strip()
    if not words:
        return PlanDecision.APPROVE, ""
    head, _, rest = words.partition(" ")
    head = head.lower().rstrip(",:;.")
    if head in ("y", "yes", "a", "approve"):
        return PlanDecision.APPROVE, ""
    if head in ("n", "no", "r", "reject"):
        return PlanDecision.REJECT, rest.strip()
    if head in ("v", "revise"):
        return PlanDecision.REVISE, rest.strip()
    return None
