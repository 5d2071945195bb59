"""Model usage per session and agent: requests, tokens, time, nudges."""

from __future__ import annotations

from protocol.enums import AgentName
from storage.records import UsageRow
from storage.repos.base import Repo


class UsageRepo(Repo):
    async def add(
        self,
        session_id: str,
        agent: AgentName,
        *,
        requests: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        duration_ms: int = 0,
        nudges: int = 0,
    ) -> None:
        await self._run(
            "INSERT INTO usage (session_id, agent, requests, prompt_tokens, completion_tokens, duration_ms, nudges)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, agent) DO UPDATE SET"
            " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " duration_ms = duration_ms + excluded.duration_ms, nudges = nudges + excluded.nudges",
            (session_id, agent, requests, prompt_tokens, completion_tokens, duration_ms, nudges),
        )

    async def for_session(self, session_id: str) -> list[UsageRow]:
        rows = await self._all("SELECT * FROM usage WHERE session_id = ? ORDER BY agent", (session_id,))
        return [
            UsageRow(
                AgentName(r["agent"]),
                r["requests"],
                r["prompt_tokens"],
                r["completion_tokens"],
                r["duration_ms"],
                r["nudges"],
            )
            for r in rows
        ]
