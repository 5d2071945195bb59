"""The layers, enforced (STYLE.md, habit 12).

    server/lsp, server/acp → server/runtime.py → server/turn, server/plans → server/agents, server/models
    → storage → protocol

Every module of `server/`, `storage/` and `protocol/` is parsed with `ast`, and every
import counts: at module level, inside a function, under `TYPE_CHECKING` alike. A test
here fails with one line per offending import: `path:line: module imports target`.

An ast test rather than ruff's banned-api (TID251): ruff's ban list is one table per
configuration file, so folder rules would take a nested `ruff.toml` per folder, each
repeating the whole list; it cannot single out one file nor see a cycle.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "storage", "protocol")

DOMAIN = ("server.turn", "server.plans", "server.agents", "server.models", "storage", "protocol")
"""Everything below the faces: it can be driven in tests without a language server."""

FACE = ("server.lsp", "server.acp", "pygls", "lsprotocol", "acp")
"""What only the faces import. A superset of pygls's `lsp`, `server` and `protocol`
modules: the domain needs none of pygls but its exceptions."""

FACE_ALLOWED = ("pygls.exceptions",)
"""Domain errors subclass `JsonRpcException` on purpose (STYLE.md, habit 2)."""

LAYERS: dict[str, int] = {
    "protocol": 0,
    "storage": 1,
    "server.agents": 2,
    "server.models": 2,
    "server.context": 2,
    "server.turn": 3,
    "server.plans": 3,
    "server.runtime": 4,
    "server.lsp": 5,
    "server.acp": 5,
}
"""The layer order, lowest first. Modules outside it (the composition root `app`, `cli`,
`settings`, `keys`, `leases`, `views`, `faults`, the terminal client) are not ranked."""


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.module} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """What one import statement brings in: a module, or `module.name` for a name that is
    not one of ours (a submodule or a member; either way its prefix is the module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    ours = source.split(".")[0] in PACKAGES
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        yield candidate if not ours or candidate in _modules() else source


@cache
def _imports_of(module: str) -> tuple[Import, ...]:
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            targets = dict.fromkeys(_targets(node, module, path.name == "__init__.py"))
            found += [Import(module, t, path, node.lineno) for t in targets]
    return tuple(sorted(found, key=lambda i: (i.line, i.target)))


def _all_imports() -> Iterator[Import]:
    for module in _modules():
        yield from _imports_of(module)


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(name: str) -> int | None:
    ranked = [prefix for prefix in LAYERS if _within(name, (prefix,))]
    return LAYERS[max(ranked, key=len)] if ranked else None


def _upward() -> list[Import]:
    found: list[Import] = []
    for imp in _all_imports():
        source, target = _layer(imp.module), _layer(imp.target)
        if source is not None and target is not None and target > source:
            found.append(imp)
    return found


def _report(violations: Iterable[Import]) -> str:
    return "\n".join(str(v) for v in violations)


def test_every_package_is_parsed() -> None:
    modules = _modules()
    assert {"server.lsp.server", "server.runtime", "server.turn.agent_step", "storage.repos", "protocol.tools"} <= set(
        modules
    )
    assert any(i.target == "pygls.exceptions.JsonRpcException" for i in _imports_of("protocol.errors"))


def test_the_domain_never_imports_the_lsp_face() -> None:
    bad = [
        i
        for i in _all_imports()
        if _within(i.module, DOMAIN) and _within(i.target, FACE) and not _within(i.target, FACE_ALLOWED)
    ]
    assert not bad, "the domain imports the language-server face:\n" + _report(bad)


def test_storage_and_protocol_never_import_server() -> None:
    bad = [i for i in _all_imports() if _within(i.module, ("storage", "protocol")) and _within(i.target, ("server",))]
    assert not bad, "storage/ or protocol/ imports server/:\n" + _report(bad)


def test_agent_step_imports_nothing_from_plans() -> None:
    module = "server.turn.agent_step"
    if module not in _modules():
        raise LookupError(f"{module} is gone: point this test at the agent step's new home")
    bad = [i for i in _imports_of(module) if _within(i.target, ("server.plans",))]
    assert not bad, "the agent step imports the plan engine:\n" + _report(bad)


def test_no_lower_layer_imports_a_higher_one() -> None:
    bad = list(_upward())
    assert not bad, "a lower layer imports a higher one:\n" + _report(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """The shortest cycle within a component, as modules from one back to itself."""
    members = set(component)
    best: list[str] = []
    for start in component:
        paths = {start: [start]}
        frontier = deque([start])
        found: list[str] = []
        while frontier and not found:
            node = frontier.popleft()
            for succ in sorted(graph[node] & members):
                if succ == start:
                    found = [*paths[node], start]
                    break
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    frontier.append(succ)
        if found and (not best or len(found) < len(best)):
            best = found
    return best


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in _modules()}
    for imp in _all_imports():
        if imp.target in graph and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    cycles = _cycles(graph)
    lines: list[str] = []
    for component in cycles:
        lines.append(f"{len(component)} modules import each other: {', '.join(component)}; the shortest cycle:")
        path = _shortest_cycle(graph, component)
        for source, target in pairwise(path):
            lines += [f"  {i}" for i in _imports_of(source) if i.target == target]
    assert not cycles, "import cycles:\n" + "\n".join(lines)
