"""The database a sidecar is given: one of a newer schema is refused and left untouched.
(Kill -9 and restart stay end-to-end: tests/e2e/test_durability.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.runtime.editor import InProcessEditor as Editor


async def test_a_newer_database_is_refused(workspace: Path, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 999")
    editor = Editor(workspace, db_path)
    with pytest.raises(JsonRpcException) as info:
        await editor.start()
    assert "schema version 999" in info.value.message and "newer" in info.value.message
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999  # untouched
