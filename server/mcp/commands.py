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
    user_config_dir,
)


def run_mcp(action: str, workspace: Path, approval: WorkspaceApproval | None = None) -> int:
    approvals = approval or WorkspaceApproval()
    path = workspace.expanduser().resolve() / WORKSPACE_FILE
    if action == "approve":
        return _approve(path, approvals)
    return _list(path, approvals)


def _approve(path: Path, approvals: WorkspaceApproval) -> int:
    if not path.is_file():
        sys.stderr.write(f"codelab-agent: {path} does not exist: there is nothing to approve\n")
        return 1
    try:
        config = McpConfig.load(path)
    except McpConfigError as exc:
        sys.stderr.write(f"codelab-agent: not approved: {exc.message}\n")
        return 1
    sys.stdout.write(f"{path} starts these servers:\n{_describe(config)}")
    approvals.approve(path)
    sys.stdout.write("approved (editing the file withdraws the approval)\n")
    return 0


def _list(path: Path, approvals: WorkspaceApproval) -> int:
    user = user_config_dir() / USER_FILE
    for label, source in (("your file", user), ("the workspace's file", path)):
        if not source.is_file():
            sys.stdout.write(f"{label} {source}: none\n")
            continue
        state = "" if source == user else (" (approved)" if approvals.is_approved(path) else " (NOT approved: unused)")
        try:
            sys.stdout.write(f"{label} {source}{state}:\n{_describe(McpConfig.load(source))}")
        except McpConfigError as exc:
            sys.stdout.write(f"{label} {source}: invalid, unused: {exc.message}\n")
    return 0


def _describe(config: McpConfig) -> str:
    lines: list[str] = []
    for name, server in config.servers.items():
        what = server.url if isinstance(server, HttpServer) else " ".join([server.command, *server.args])
        lines.append(f"  {name}: {what}{' (disabled)' if server.disabled else ''}\n")
    return "".join(lines) or "  (no servers)\n"
