"""The user's MCP servers: what they are, where they come from, what their processes see.

Three sources, same shape (a name per server, optionally wrapped in `{"mcpServers": …}`):
`initializationOptions.mcpServers`, the user file `$XDG_CONFIG_HOME/codelab-agent/mcp.json`
(else `~/.config/…`), and a workspace file, which is used only once the user has approved
that exact content (`WorkspaceApproval`): a repository must not be able to start processes
on its own.

A server's name becomes the prefix of its tools (`mcp__<server>__<tool>`), hence the narrow
alphabet. A value in `env` or `headers` may name a variable of the sidecar's environment
(`${VAR}` or `${env:VAR}`); one that names a provider key is dropped, so a configuration
cannot hand the user's model keys to a third-party process. A key written literally in the
configuration is the user's own choice and is kept.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from protocol.errors import InvalidParams
from server.keys import protected_variables

log = logging.getLogger(__name__)

APP_DIR = "codelab-agent"
USER_FILE = "mcp.json"
WORKSPACE_FILE = Path(".codelab-agent") / "mcp.json"
"""Where a workspace may propose servers, relative to its root (used only once approved)."""

_NAME = re.compile(r"(?!_)(?!.*__)[A-Za-z0-9_-]{1,32}(?<!_)")
"""No `__` and no `_` at either end: `mcp__<server>__<tool>` names one server only."""
_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
_INHERITED = ("PATH", "HOME")


def _server_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"server name {name!r} must be 1-32 letters, digits, '_' or '-', with no '__' and no '_' at either end "
            "(it prefixes tool names: mcp__<name>__<tool>)"
        )
    return name


def _http_url(url: str) -> str:
    if not re.match(r"https?://[^/\s]+", url):
        raise ValueError(f"url {url!r} must be an http:// or https:// address")
    return url


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StdioServer(_Model):
    """A server the sidecar runs as a child process and talks to over its stdin/stdout."""

    type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=lambda: [])
    env: dict[str, str] = Field(default_factory=lambda: {})
    disabled: bool = False


class HttpServer(_Model):
    """A server reached over MCP's streamable HTTP transport."""

    type: Literal["http", "streamable-http", "streamableHttp"] = "http"
    url: Annotated[str, AfterValidator(_http_url)]
    headers: dict[str, str] = Field(default_factory=lambda: {})
    disabled: bool = False


_HTTP_TYPES = ("http", "streamable-http", "streamableHttp")


def _kind(value: Any) -> str | None:
    """Which model a server's object is: its `type` if given, else `url` → HTTP, `command` → stdio."""
    if isinstance(value, StdioServer):
        return "stdio"
    if isinstance(value, HttpServer):
        return "http"
    if not isinstance(value, dict):
        return None
    fields = cast(dict[str, Any], value)
    declared = fields.get("type")
    if declared == "stdio":
        return "stdio"
    if declared in _HTTP_TYPES:
        return "http"
    if declared is not None:
        return None
    if "url" in fields:
        return "http"
    return "stdio" if "command" in fields else None


ServerConfig = Annotated[
    Annotated[StdioServer, Tag("stdio")] | Annotated[HttpServer, Tag("http")],
    Discriminator(
        _kind,
        custom_error_type="mcp_server_kind",
        custom_error_message="a server needs `command` (stdio) or `url` (streamable HTTP); "
        "`type`, if given, is 'stdio' or 'http' (SSE servers are not supported)",
    ),
]


class McpConfigError(InvalidParams):
    """A configuration that does not validate; `problems` names every bad field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid MCP servers in {source}: " + "; ".join(problems), {"problems": problems})


class McpConfig(_Model):
    """Servers by name. Disabled ones are kept (a later source may not re-enable them silently)."""

    servers: dict[Annotated[str, AfterValidator(_server_name)], ServerConfig] = Field(default_factory=lambda: {})

    @classmethod
    def parse(cls, data: object, source: str) -> McpConfig:
        """`data` as `{name: server}` or `{"mcpServers": {name: server}}`; `source` names it in errors."""
        if isinstance(data, dict) and "mcpServers" in data:
            wrapper = cast(dict[str, Any], data)
            extra = sorted(set(wrapper) - {"mcpServers"})
            if extra:
                raise McpConfigError(source, [f"{key}: unknown field (only mcpServers is read)" for key in extra])
            data = wrapper["mcpServers"]
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise McpConfigError(source, ["mcpServers: must be an object of servers by name"])
        try:
            return cls.model_validate({"servers": data})
        except ValidationError as error:
            raise McpConfigError(source, [_describe(e) for e in error.errors()]) from None

    @classmethod
    def load(cls, path: Path) -> McpConfig:
        """The servers in a JSON file; an absent file holds none."""
        content = read_config(path)
        return cls() if content is None else cls.from_bytes(content, str(path))

    @classmethod
    def from_bytes(cls, content: bytes, source: str) -> McpConfig:
        try:
            data: object = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise McpConfigError(source, [f"not JSON in UTF-8: {error}"]) from None
        return cls.parse(data, source)

    def merged(self, *others: McpConfig) -> McpConfig:
        """These servers with `others`' added; a later one replaces an earlier one of the same name."""
        servers = dict(self.servers)
        for other in others:
            servers.update(other.servers)
        return McpConfig(servers=servers)

    def enabled(self) -> dict[str, StdioServer | HttpServer]:
        return {name: server for name, server in self.servers.items() if not server.disabled}


def _describe(error: Any) -> str:
    """One pydantic error as `mcpServers.<name>.<field>: message` (the union tag left out)."""
    loc = [str(part) for part in cast(tuple[Any, ...], error["loc"])]
    if loc and loc[0] == "servers":
        loc[0] = "mcpServers"
    if len(loc) > 2 and loc[2] in ("stdio", "http"):
        del loc[2]
    if loc and loc[-1] == "[key]":
        loc.pop()
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {message}"


def user_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / APP_DIR


def load_user_config(env: Mapping[str, str] = os.environ) -> McpConfig:
    """The user's own servers, from `$XDG_CONFIG_HOME/codelab-agent/mcp.json`."""
    return McpConfig.load(user_config_dir(env) / USER_FILE)


MAX_FILE_BYTES = 1024 * 1024
"""A configuration file larger than this is refused, not read."""


def read_config(path: Path, *, own_file: bool = True) -> bytes | None:
    """A configuration file's bytes, read once (None when there is none); only a regular
    file is read (a FIFO would hang the start). `own_file` false (a workspace's file):
    neither the file nor its folder may be a symbolic link, so the approval is of that
    very file, in that very workspace."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if own_file else os.O_NOFOLLOW)
    try:
        if not own_file and path.parent.is_symlink():
            raise McpConfigError(str(path), [f"{path.parent.name} is a symbolic link: it is not used"])
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        why = "a symbolic link is not used" if error.errno == errno.ELOOP else f"cannot be read: {error.strerror}"
        raise McpConfigError(str(path), [why]) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise McpConfigError(str(path), ["cannot be read: not a regular file"])
    with os.fdopen(fd, "rb") as file:
        content = file.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise McpConfigError(str(path), [f"larger than {MAX_FILE_BYTES:,} bytes"])
    return content


def load_workspace_config(root: Path, approval: WorkspaceApproval) -> McpConfig | None:
    """The workspace's servers if its file exists and the user approved this exact content;
    None when there is a file the user has not approved (ask, then `approval.approve(path)`).
    The bytes checked are the bytes used: the file is read once."""
    path = root / WORKSPACE_FILE
    content = read_config(path, own_file=False)
    if content is None:
        return McpConfig()
    if not approval.is_approved(path, content):
        return None
    return McpConfig.from_bytes(content, str(path))


class WorkspaceApproval:
    """Workspace files the user allowed, each as (absolute path, sha256 of its content).

    Kept in a JSON file in the user's configuration directory, which a workspace cannot
    write. Editing an approved file makes it unapproved until approved again.
    """

    def __init__(self, store: Path | None = None) -> None:
        self.store = store or user_config_dir() / "approved-mcp-files.json"

    def is_approved(self, path: Path, content: bytes | None = None) -> bool:
        """Whether `content` (default: the file as it is now) is what the user approved
        for `path`."""
        digest = _digest(path) if content is None else hashlib.sha256(content).hexdigest()
        return digest is not None and self._read().get(_key(path)) == digest

    def approve(self, path: Path, content: bytes | None = None) -> None:
        """Approve `content` for `path` (default: the file as it is now; a file that
        cannot be read is refused). Give the bytes the user was shown."""
        digest = _digest(path) if content is None else hashlib.sha256(content).hexdigest()
        if digest is None:
            raise FileNotFoundError(path)
        approved = self._read()
        approved[_key(path)] = digest
        self.store.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.store.with_name(self.store.name + ".tmp")
        entries = [{"path": p, "sha256": d} for p, d in sorted(approved.items())]
        temporary.write_text(json.dumps({"approved": entries}, indent=2) + "\n", encoding="utf-8")
        temporary.chmod(0o600)
        temporary.replace(self.store)

    def _read(self) -> dict[str, str]:
        try:
            data: object = json.loads(self.store.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("ignoring unreadable MCP approvals file %s", self.store)
            return {}
        entries: object = cast(dict[str, Any], data).get("approved") if isinstance(data, dict) else None
        approved: dict[str, str] = {}
        for entry in cast(list[Any], entries) if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                fields = cast(dict[str, Any], entry)
                path, digest = fields.get("path"), fields.get("sha256")
                if isinstance(path, str) and isinstance(digest, str):
                    approved[path] = digest
        return approved


def _key(path: Path) -> str:
    """The file's own absolute path: its folder resolved, the file itself not followed."""
    return str(path.absolute().parent.resolve() / path.name)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _expand(values: Mapping[str, str], parent: Mapping[str, str], protected: set[str], what: str) -> dict[str, str]:
    """`values` with `${VAR}` references filled in from `parent`; an entry that references a
    protected or unset variable is left out (and logged, by name only)."""
    expanded: dict[str, str] = {}
    for name, value in values.items():
        referenced = _REFERENCE.findall(value)
        refused = [ref for ref in referenced if ref in protected]
        missing = [ref for ref in referenced if ref not in parent]
        if refused:
            log.warning("MCP %s %s left out: it passes through %s", what, name, ", ".join(refused))
        elif missing:
            log.warning("MCP %s %s left out: %s is not set", what, name, ", ".join(missing))
        else:
            expanded[name] = _REFERENCE.sub(lambda match: parent[match.group(1)], value)
    return expanded


def child_environment(
    server: StdioServer, parent: Mapping[str, str] = os.environ, *, protected: Iterable[str] = ()
) -> dict[str, str]:
    """The whole environment of a stdio server's process: `PATH` and `HOME` from `parent`,
    then the configuration's `env` (see the module docstring); nothing else."""
    env = {name: parent[name] for name in _INHERITED if name in parent}
    env.update(_expand(server.env, parent, protected_variables(parent, protected), "env"))
    return env


def request_headers(
    server: HttpServer, parent: Mapping[str, str] = os.environ, *, protected: Iterable[str] = ()
) -> dict[str, str]:
    """An HTTP server's headers, references filled in under the same rule as `env`."""
    return _expand(server.headers, parent, protected_variables(parent, protected), "header")
