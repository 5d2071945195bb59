"""The client tools, executed inside a workspace directory the way an editor does.

Used by the terminal client (and by the tests' stand-in editor). The workspace is a
boundary for every tool, listing and search included:

- A path is resolved through its symlinks and `..` and refused when it leaves the
  workspace; a NUL byte, an overlong or a non-string path is a tool error.
- Files and directories are then reached from the workspace root one component at a
  time without following any symlink (`O_NOFOLLOW` with `dir_fd`), so a symlink swapped
  in after the check makes the call fail instead of leading outside.
- Writes go to a temporary file in the checked directory, renamed over the target: a
  final symlink is replaced, never followed, and an existing file keeps its mode.
- Walks (recursive listing, search) never enter a directory symlink. A link whose real
  path is inside is listed (and, for a file, searched) under its own name; a link that
  leaves the workspace is listed as `name -> (outside the workspace, skipped)` and never
  read.
- FIFOs, devices and sockets are not read (reading a FIFO would hang).

Its size (over 300 lines) is the boundary itself: every tool shares the component-wise,
no-follow path walk, and splitting the walk from its users would only add an interface.

POSIX only: it needs `dir_fd` and `O_NOFOLLOW`.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import secrets
import signal
import stat
import subprocess
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from protocol.enums import ToolResultStatus
from protocol.tools import (
    CreateDirectoryArgs,
    EditFileArgs,
    ExecuteCommandArgs,
    ListFilesArgs,
    ReadFileArgs,
    SearchInCodeArgs,
    WriteFileArgs,
)
from server import keys

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
MAX_ENTRIES = 500
MAX_MATCHES = 200
MAX_OUTPUT = 64 * 1024
MAX_SEARCH_FILE = 1024 * 1024
MAX_READ_FILE = 16 * 1024 * 1024
"""A larger file is not read (nor diffed for an approval): its size is the answer."""
MAX_DEPTH = 100
PATH_MAX = 4096
NAME_MAX = 255
OUTSIDE = "(outside the workspace, skipped)"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO that appeared after the check does not hang.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ToolFailure(Exception):
    """A call that cannot succeed; its text is the error result the model reads."""


class _Kind(Enum):
    DIR = "dir"
    FILE = "file"
    SPECIAL = "special"  # a FIFO, socket or device
    LINK = "link"  # a symlink whose real path is inside the workspace
    OUTSIDE = "outside"  # a symlink that leaves the workspace (or cannot be resolved)


@dataclass(frozen=True)
class _Entry:
    rel: str
    """The path relative to the workspace root, with `/`."""
    kind: _Kind
    real: Path | None = None
    """Where a link inside the workspace leads."""

    @property
    def listed(self) -> str:
        if self.kind is _Kind.OUTSIDE:
            return f"{self.rel} -> {OUTSIDE}"
        if self.kind is _Kind.DIR or (self.real is not None and self.real.is_dir()):
            return self.rel + "/"
        return self.rel


def checked_path(raw: object) -> str:
    """`raw` when it can name a file; a ToolFailure saying why not otherwise."""
    if not isinstance(raw, str) or not raw:
        raise ToolFailure("a path must be a non-empty string")
    if "\0" in raw:
        raise ToolFailure(f"the path {raw!r} contains a NUL byte")
    try:
        encoded = os.fsencode(raw)
    except UnicodeEncodeError:
        raise ToolFailure(f"the path {raw!r} cannot be a file name (invalid characters)") from None
    if len(encoded) >= PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise ToolFailure(f"the path {raw[:60]!r}… is too long")
    return raw


def _require_regular(mode: int, shown: str, done: str = "read") -> None:
    if stat.S_ISDIR(mode):
        raise ToolFailure(f"{shown} is a directory")
    if stat.S_ISLNK(mode):
        raise ToolFailure(f"{shown} changed during the call (a symlink where none was, or a loop); nothing was {done}")
    if not stat.S_ISREG(mode):
        raise ToolFailure(f"{shown} is not a regular file (a FIFO, socket or device); it is not {done}")


def _read_at(parent: int, name: str, shown: str, limit: int | None = None) -> bytes:
    """The bytes of regular file `name` in directory `parent`, never through a symlink."""
    try:
        _require_regular(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode, shown)
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        raise ToolFailure(f"{shown} does not exist") from None
    except OSError as exc:
        raise ToolFailure(f"cannot read {shown}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        _require_regular(info.st_mode, shown)  # what was opened, not what was checked
        if limit is not None and info.st_size > limit:
            raise ToolFailure(f"{shown} is larger than {limit:,} bytes")
        data = file.read(-1 if limit is None else limit + 1)  # it may have grown since
        if limit is not None and len(data) > limit:
            raise ToolFailure(f"{shown} is larger than {limit:,} bytes")
        return data


def _make_dir(parent: int, name: str, shown: str) -> None:
    try:
        os.mkdir(name, dir_fd=parent)
    except FileExistsError:
        pass  # a directory already, or not: opening it says which
    except OSError as exc:
        raise ToolFailure(f"cannot create {shown}: {exc.strerror}") from None


def _decoded(data: bytes, shown: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ToolFailure(f"{shown} is not UTF-8 text") from None


class WorkspaceTools:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._tools: dict[str, tuple[type[BaseModel], Callable[[Any], str]]] = {
            "read_file": (ReadFileArgs, self._read_file),
            "list_files": (ListFilesArgs, self._list_files),
            "search_in_code": (SearchInCodeArgs, self._search_in_code),
            "write_file": (WriteFileArgs, self._write_file),
            "edit_file": (EditFileArgs, self._edit_file),
            "create_directory": (CreateDirectoryArgs, self._create_directory),
            "execute_command": (ExecuteCommandArgs, self._execute_command),
        }

    def inside(self, full: Path) -> bool:
        return full.is_relative_to(self.root)

    def path(self, raw: object) -> Path:
        """The real path of `raw` (symlinks and `..` resolved); refused outside the workspace."""
        text = checked_path(raw)
        try:
            expanded = os.path.expanduser(text)
            full = Path(os.path.realpath(expanded if os.path.isabs(expanded) else self.root / expanded))
        except (OSError, ValueError) as exc:
            raise ToolFailure(f"cannot resolve {text}: {exc}") from None
        if not self.inside(full):
            raise ToolFailure(f"{text} is outside the workspace {self.root}")
        return full

    # --- calls -----------------------------------------------------------------------

    def run(self, name: str, args: Any) -> tuple[ToolResultStatus, str]:
        """Runs one call. Never raises: whatever goes wrong is an error result."""
        try:
            return ToolResultStatus.SUCCESS, self._call(name, args)
        except ToolFailure as exc:
            return ToolResultStatus.ERROR, str(exc)
        except (OSError, subprocess.SubprocessError) as exc:
            return ToolResultStatus.ERROR, str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug here must still answer the call, as the editors do
            return ToolResultStatus.ERROR, f"the client failed to run {name}: {type(exc).__name__}: {exc}"

    def _call(self, name: object, args: object) -> str:
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise ToolFailure(f"unknown tool {name}")
        model, handler = tool
        return handler(self._parsed(str(name), model, args))

    @staticmethod
    def _parsed(name: str, model: type[BaseModel], args: object) -> Any:
        if not isinstance(args, dict):
            raise ToolFailure(f"the arguments of {name} must be an object")
        given = cast(dict[Any, Any], args)
        extra = sorted(str(key) for key in given if key not in model.model_fields)
        if extra:
            raise ToolFailure(f"{name} takes no argument {', '.join(extra)}")
        try:
            return model.model_validate(given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'arguments'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ToolFailure(f"invalid arguments for {name}: {problems}") from None

    def preview(self, name: str, args: dict[str, Any]) -> str | None:
        """What a write would change, as a unified diff, for the approval prompt."""
        try:
            if name == "write_file":
                write = WriteFileArgs.model_validate(args)
                shown, old = write.path, self._old_text(write.path)
                new = write.content
            elif name == "edit_file":
                edit = EditFileArgs.model_validate(args)
                shown, old = edit.path, self._old_text(edit.path)
                new = old.replace(edit.old_text, edit.new_text, 1)
            else:
                return None
        except (ToolFailure, ValidationError, OSError):
            return None
        diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{shown}", f"b/{shown}")
        return "".join(diff) or "(no change)"

    def _old_text(self, raw: str) -> str:
        target = self.path(raw)
        return self._read_text(target, raw) if target.exists() else ""

    # --- reaching files without following symlinks -------------------------------------

    def _open_dir(self, full: Path, shown: str, *, create: bool = False) -> int:
        """A descriptor of directory `full` (a real path in the workspace), reached from
        the root one component at a time, following no symlink; with `create`, missing
        components are made on the way."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in full.relative_to(self.root).parts:
                if create:
                    _make_dir(fd, part, shown)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise self._refusal(fd, part, shown, exc) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _refusal(parent: int, part: str, shown: str, exc: OSError) -> ToolFailure:
        try:
            mode = os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            mode = None
        if mode is not None and stat.S_ISLNK(mode):
            return ToolFailure(
                f"{shown} changed during the call ({part}: a symlink where none was, or a loop); nothing was done"
            )
        if mode is None:
            return ToolFailure(f"{shown} does not exist")
        if not stat.S_ISDIR(mode):
            return ToolFailure(f"{shown} is not a directory")
        return ToolFailure(f"cannot open {shown}: {exc.strerror}")

    def _read_bytes(self, full: Path, shown: str, limit: int | None = None) -> bytes:
        if full == self.root:
            raise ToolFailure(f"{shown} is a directory")
        parent = self._open_dir(full.parent, shown)
        try:
            return _read_at(parent, full.name, shown, limit)
        finally:
            os.close(parent)

    def _read_text(self, full: Path, shown: str) -> str:
        return _decoded(self._read_bytes(full, shown, MAX_READ_FILE), shown)

    def _write_text(self, full: Path, shown: str, text: str) -> None:
        """Writes a temporary file in the checked directory, then renames it over the
        target: a symlink at the target is replaced, never followed."""
        if full == self.root:
            raise ToolFailure(f"{shown} is a directory")
        try:
            data = text.encode()
        except UnicodeEncodeError:
            raise ToolFailure(f"the content for {shown} is not valid text") from None
        parent = self._open_dir(full.parent, shown, create=True)
        try:
            mode = self._kept_mode(parent, full.name, shown)
            temporary = f".{secrets.token_hex(8)}.codelab-tmp"
            try:
                fd = os.open(temporary, _NEW_FILE_FLAGS, 0o666, dir_fd=parent)
                with os.fdopen(fd, "wb") as file:
                    if mode is not None:
                        os.fchmod(fd, mode)
                    file.write(data)
                os.rename(temporary, full.name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
                if isinstance(exc, OSError):
                    raise ToolFailure(f"cannot write {shown}: {exc.strerror}") from None
                raise
        finally:
            os.close(parent)

    @staticmethod
    def _kept_mode(parent: int, name: str, shown: str) -> int | None:
        """The permission bits of the file being replaced; None for a new file."""
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISREG(mode):
            return stat.S_IMODE(mode)
        _require_regular(mode, shown, "written")  # a link swapped in after this: the rename replaces it
        return None

    def _walk(self, base: Path, shown: str, *, recursive: bool) -> Generator[tuple[_Entry, int]]:
        """The entries under directory `base`, sorted, depth first, each with a descriptor
        of its directory (open while the entry is looked at). No symlink is followed or
        entered: a link is an entry of its own."""
        top = self._open_dir(base, shown)
        stack: list[tuple[int, Path, Iterator[os.DirEntry[str]]]] = [(top, base, self._listing(top))]
        try:
            while stack:
                fd, here, entries = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    stack.pop()
                    os.close(fd)
                    continue
                if entry.name in SKIP_DIRS:
                    continue
                item = self._entry(here / entry.name, entry)
                yield item, fd
                if item.kind is _Kind.DIR and recursive and len(stack) < MAX_DEPTH:
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        continue  # replaced since it was listed (by a symlink, say): not entered
                    stack.append((child, here / entry.name, self._listing(child)))
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    @staticmethod
    def _listing(fd: int) -> Iterator[os.DirEntry[str]]:
        with os.scandir(fd) as entries:
            return iter(sorted(entries, key=lambda e: e.name))

    def _entry(self, full: Path, entry: os.DirEntry[str]) -> _Entry:
        rel = full.relative_to(self.root).as_posix()
        if entry.is_symlink():
            try:
                real = Path(os.path.realpath(full))
            except (OSError, ValueError):
                return _Entry(rel, _Kind.OUTSIDE)
            return _Entry(rel, _Kind.LINK, real) if self.inside(real) else _Entry(rel, _Kind.OUTSIDE)
        if entry.is_dir(follow_symlinks=False):
            return _Entry(rel, _Kind.DIR)
        if entry.is_file(follow_symlinks=False):
            return _Entry(rel, _Kind.FILE)
        return _Entry(rel, _Kind.SPECIAL)

    def _searched_texts(self, base: Path, shown: str) -> Iterator[tuple[str, str]]:
        """(relative path, text) of the files a search looks at: the regular files under
        `base` and the file links that stay inside; binary, unreadable and big files skipped."""
        if not base.is_dir():
            yield base.relative_to(self.root).as_posix(), self._read_text(base, shown)
            return
        with contextlib.closing(self._walk(base, shown, recursive=True)) as walk:
            for entry, parent in walk:
                try:
                    if entry.kind is _Kind.FILE:
                        data = _read_at(parent, Path(entry.rel).name, entry.rel, MAX_SEARCH_FILE)
                    elif entry.kind is _Kind.LINK and entry.real is not None and entry.real.is_file():
                        data = self._read_bytes(entry.real, entry.rel, MAX_SEARCH_FILE)
                    else:
                        continue
                    text = _decoded(data, entry.rel)
                except (ToolFailure, OSError):
                    continue
                if "\0" not in text:
                    yield entry.rel, text

    # --- the tools -------------------------------------------------------------------

    def _read_file(self, args: ReadFileArgs) -> str:
        lines = self._read_text(self.path(args.path), args.path).splitlines(keepends=True)
        first = (args.start_line or 1) - 1
        last = args.end_line or len(lines)
        return "".join(lines[first:last])

    def _list_files(self, args: ListFilesArgs) -> str:
        base = self.path(args.path)
        entries: list[str] = []
        with contextlib.closing(self._walk(base, args.path, recursive=args.recursive)) as walk:
            for entry, _ in walk:
                entries.append(entry.listed)
                if len(entries) >= MAX_ENTRIES:
                    entries.append(f"… (more than {MAX_ENTRIES} entries)")
                    break
        return "\n".join(entries) if entries else "(empty directory)"

    def _search_in_code(self, args: SearchInCodeArgs) -> str:
        try:
            pattern = re.compile(args.query if args.is_regex else re.escape(args.query))
        except re.error as exc:
            raise ToolFailure(f"invalid regular expression {args.query!r}: {exc}") from None
        shown = args.path or "."
        matches: list[str] = []
        for rel, text in self._searched_texts(self.path(shown), shown):
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    matches.append(f"{rel}:{number}: {line.strip()}")
                    if len(matches) >= MAX_MATCHES:
                        return "\n".join([*matches, f"… (more than {MAX_MATCHES} matches)"])
        return "\n".join(matches) if matches else "no matches"

    def _write_file(self, args: WriteFileArgs) -> str:
        self._write_text(self.path(args.path), args.path, args.content)
        return f"wrote {len(args.content.encode())} bytes to {args.path}"

    def _edit_file(self, args: EditFileArgs) -> str:
        target = self.path(args.path)
        text = self._read_text(target, args.path)
        count = text.count(args.old_text)
        if count != 1:
            raise ToolFailure(f"old_text occurs {count} times in {args.path}; it must occur exactly once")
        self._write_text(target, args.path, text.replace(args.old_text, args.new_text, 1))
        return f"edited {args.path}"

    def _create_directory(self, args: CreateDirectoryArgs) -> str:
        os.close(self._open_dir(self.path(args.path), args.path, create=True))
        return f"created {args.path}"

    def _execute_command(self, args: ExecuteCommandArgs) -> str:
        shown = args.cwd or "."
        cwd = self.path(shown)
        if not cwd.is_dir():
            raise ToolFailure(f"{shown} is not a directory")
        timeout = args.timeout_seconds or 120
        with subprocess.Popen(
            args.command,
            shell=True,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=keys.without_keys(os.environ),  # what a command prints reaches the model
            start_new_session=True,  # its own process group: a timeout stops all of it
        ) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise ToolFailure(f"the command timed out after {timeout}s") from None
        return f"exit code {process.returncode}\n{output[-MAX_OUTPUT:]}"
