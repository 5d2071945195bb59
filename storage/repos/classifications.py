"""Cached classifier answers, by session and hash of the text classified."""

from __future__ import annotations

from storage.repos.base import Repo


class ClassificationRepo(Repo):
    async def get(self, session_id: str, text_hash: str) -> str | None:
        row = await self._one(
            "SELECT answer FROM classifications WHERE session_id = ? AND text_hash = ?", (session_id, text_hash)
        )
        return str(row["answer"]) if row else None

    async def put(self, session_id: str, text_hash: str, answer: str) -> None:
        await self._run(
            "INSERT OR REPLACE INTO classifications (session_id, text_hash, answer) VALUES (?, ?, ?)",
            (session_id, text_hash, answer),
        )
