"""The client tools, executed inside a workspace directory the way an editor does.

Used by the terminal client (and by the tests' stand-in editor). Paths resolving
outside the workspace are refused.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from protocol.enums import ToolResultStatus

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
MAX_ENTRIES = 500
MAX_MATCHES = 200
MAX_OUTPUT = 64 * 1024


class ToolFailure(Exception):
    pass


class WorkspaceTools:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, raw: str) -> Path:
        candidate = Path(os.path.expanduser(raw))
        full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if full != self.root and self.root not in full.parents:
            raise ToolFailure(f"{raw} is outside the workspace {self.root}")
        return full

    def run(self, name: str, args: dict[str, Any]) -> tuple[ToolResultStatus, str]:
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            return ToolResultStatus.ERROR, f"unknown tool {name}"
        try:
            return ToolResultStatus.SUCCESS, handler(**args)
        except (ToolFailure, OSError, UnicodeDecodeError, re.error, subprocess.SubprocessError, TypeError) as exc:
            return ToolResultStatus.ERROR, str(exc)

    def preview(self, name: str, args: dict[str, Any]) -> str | None:
        """What a write would change, as a unified diff, for the approval prompt."""
        import difflib  # noqa: PLC0415

        if name not in ("write_file", "edit_file"):
            return None
        try:
            target = self.path(args["path"])
            old = target.read_text() if target.exists() else ""
        except (ToolFailure, OSError, UnicodeDecodeError):
            return None
        new = args["content"] if name == "write_file" else old.replace(args["old_text"], args["new_text"], 1)
        diff = difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"a/{args['path']}", f"b/{args['path']}"
        )
        return "".join(diff) or "(no change)"

    def _read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        lines = self.path(path).read_text().splitlines(keepends=True)
        first = (start_line or 1) - 1
        last = end_line or len(lines)
        return "".join(lines[first:last])

    def _list_files(self, path: str = ".", recursive: bool = False) -> str:
        base = self.path(path)
        if not base.is_dir():
            raise ToolFailure(f"{path} is not a directory")
        entries: list[str] = []
        walker = base.rglob("*") if recursive else base.iterdir()
        for entry in sorted(walker):
            if any(part in SKIP_DIRS for part in entry.relative_to(base).parts):
                continue
            rel = entry.relative_to(self.root).as_posix()
            entries.append(rel + "/" if entry.is_dir() else rel)
            if len(entries) >= MAX_ENTRIES:
                entries.append(f"… (more than {MAX_ENTRIES} entries)")
                break
        return "\n".join(entries) if entries else "(empty directory)"

    def _search_in_code(self, query: str, path: str | None = None, is_regex: bool = False) -> str:
        pattern = re.compile(query if is_regex else re.escape(query))
        base = self.path(path or ".")
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        matches: list[str] = []
        for file in files:
            if any(part in SKIP_DIRS for part in file.relative_to(self.root).parts):
                continue
            try:
                text = file.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    matches.append(f"{file.relative_to(self.root).as_posix()}:{number}: {line.strip()}")
                    if len(matches) >= MAX_MATCHES:
                        return "\n".join([*matches, f"… (more than {MAX_MATCHES} matches)"])
        return "\n".join(matches) if matches else "no matches"

    def _write_file(self, path: str, content: str) -> str:
        target = self.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return f"wrote {len(content.encode())} bytes to {path}"

    def _edit_file(self, path: str, old_text: str, new_text: str) -> str:
        target = self.path(path)
        text = target.read_text()
        count = text.count(old_text)
        if count != 1:
            raise ToolFailure(f"old_text occurs {count} times in {path}; it must occur exactly once")
        target.write_text(text.replace(old_text, new_text, 1))
        return f"edited {path}"

    def _create_directory(self, path: str) -> str:
        self.path(path).mkdir(parents=True, exist_ok=True)
        return f"created {path}"

    def _execute_command(self, command: str, cwd: str | None = None, timeout_seconds: int | None = None) -> str:
        try:
            done = subprocess.run(
                command,
                shell=True,
                cwd=self.path(cwd or "."),
                capture_output=True,
                text=True,
                timeout=timeout_seconds or 120,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolFailure(f"the command timed out after {exc.timeout}s") from exc
        output = (done.stdout + done.stderr)[-MAX_OUTPUT:]
        return f"exit code {done.returncode}\n{output}"
