"""What the manager and each server connection are told: timeouts, limits, back-off.
Kept apart from `connection.py` so that configuring MCP does not import the SDK; the
SDK is imported when a server first starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FailureCallback = Callable[[str, str], None]
"""`on_failure(server, reason)`, called once when a server cannot be started."""


@dataclass(frozen=True)
class McpOptions:
    call_timeout: float = 60.0
    """Seconds a `tools/call` or `tools/list` may take."""
    start_timeout: float = 30.0
    """Seconds from starting a server to its answer to `initialize` and `tools/list`."""
    max_result_bytes: int = 1024 * 1024
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    protected_env: tuple[str, ...] = ()
    """More parent variables no configuration may pass through (the `--api-key-env` one)."""
    cwd: Path | None = None
    """The working directory of stdio servers (default: the sidecar's)."""
