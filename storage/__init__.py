"""SQLite persistence: schema, migrations and repositories. No SQL outside it."""

from __future__ import annotations

import os
from pathlib import Path


def default_database_path() -> Path:
    """Where the database lives unless told: `$XDG_DATA_HOME/codelab-agent/agent.db`.
    (Here rather than in `storage.db`: the command line reads it before anything heavy
    is imported.)"""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "codelab-agent" / "agent.db"
