"""Third-party MCP servers the tests run, and tests/mcp_servers/env_server.py."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SERVERS = Path(__file__).resolve().parent
ENV_SERVER = SERVERS / "env_server.py"
FILESYSTEM = "@modelcontextprotocol/server-filesystem"


def filesystem_server_entry() -> Path:
    """The filesystem server's entry point, installed with npm once (a lock keeps
    xdist workers from installing it together)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm and node are needed to install and run @modelcontextprotocol/server-filesystem")
    wanted = json.loads((SERVERS / "package.json").read_text())["dependencies"][FILESYSTEM]
    package = SERVERS / "node_modules" / FILESYSTEM
    lock_path = (
        Path(tempfile.gettempdir()) / f"codelab-agent-npm-{hashlib.sha256(bytes(SERVERS)).hexdigest()[:12]}.lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = package / "package.json"
        if not installed.is_file() or json.loads(installed.read_text())["version"] != wanted:
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=SERVERS,
                check=True,
                timeout=300,
            )
    return package / json.loads((package / "package.json").read_text())["bin"]["mcp-server-filesystem"]
