"""Session state transitions, one row per change (the audit of the state machine)."""

from __future__ import annotations

from storage.records import TransitionRow
from storage.repos.base import Repo


class TransitionRepo(Repo):
    async def add(self, row: TransitionRow) -> None:
        await self._run(
            "INSERT INTO transitions (session_id, turn_id, from_state, to_state, event, at) VALUES (?, ?, ?, ?, ?, ?)",
            (row.session_id, row.turn_id, row.from_state, row.to_state, row.event, row.at),
        )
