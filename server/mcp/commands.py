"""`codelab-agent mcp list|approve`: the servers the agents may use, and the one step that
lets a workspace's own file start processes."""

from __future__ import annotations

import sys
from pathlib import Path

from server.mcp.config import (
    USER_FILE,
    WORKSPACE_FILE,
    HttpServer,
    McpConfig,
    McpConfigError,
    WorkspaceApproval,
    read_config,
    user_config_dir,
)


def run_mcp(action: str, workspace: Path, approval: WorkspaceApproval | None = None) -> int:
    approvals = approval or WorkspaceApproval()
    path = workspace.expanduser().resolve() / WORKSPACE_FILE
    if action == "approve":
        return _approve(path, approvals)
    return _list(path, approvals)


def _approve(path: Path, approvals: WorkspaceApproval) -> int:
    try:
        content = read_config(path, own_file=False)
        if content is None:
            sys.stderr.write(f"codelab-agent: {path} does not exist: there is nothing to approve\n")
            return 1
        config = McpConfig.from_bytes(content, str(path))
    except McpConfigError as exc:
        sys.stderr.write(f"codelab-agent: not approved: {exc.message}\n")
        return 1
    sys.stdout.write(f"{path} starts these servers:\n{_describe(config)}")
    approvals.approve(path, content)  # exactly what was shown
    sys.stdout.write("approved (editing the file withdraws the approval)\n")
    return 0


def _list(path: Path, approvals: WorkspaceApproval) -> int:
    for label, source, own in (
        ("your file", user_config_dir() / USER_FILE, True),
        ("the workspace's file", path, False),
    ):
        try:
            content = read_config(source, own_file=own)
            if content is None:
                sys.stdout.write(f"{label} {source}: none\n")
                continue
            config = McpConfig.from_bytes(content, str(source))
        except McpConfigError as exc:
            sys.stdout.write(f"{label} {source}: invalid, unused: {exc.message}\n")
            continue
        state = "" if own else (" (approved)" if approvals.is_approved(source, content) else " (NOT approved: unused)")
        sys.stdout.write(f"{label} {source}{state}:\n{_describe(config)}")
    return 0


def _describe(config: McpConfig) -> str:
    lines: list[str] = []
    for name, server in config.servers.items():
        what = server.url if isinstance(server, HttpServer) else " ".join([server.command, *server.args])
        lines.append(f"  {name}: {what}{' (disabled)' if server.disabled else ''}\n")
    return "".join(lines) or "  (no servers)\n"
