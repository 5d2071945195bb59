"""Model usage per session and agent (requests, tokens, cached tokens, cost, time,
nudges), and per turn (requests, tokens, cost).

A cost of None for counted requests means the price map did not know the model: those
requests are counted as `unpriced`, and the cost reads as unknown while any is, never as
a smaller sum.
"""

from __future__ import annotations

from protocol.enums import AgentName
from storage.records import TurnUsageRow, UsageRow
from storage.repos.base import Repo


class UsageRepo(Repo):
    async def add(
        self,
        session_id: str,
        agent: AgentName,
        *,
        turn_id: str | None = None,
        requests: int = 0,
        prompt_tokens: int = 0,
        cached_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
        duration_ms: int = 0,
        nudges: int = 0,
    ) -> None:
        """Add to the session's figures for `agent` and, given `turn_id`, to the turn's."""
        unpriced = requests if cost_usd is None else 0
        cost = cost_usd or 0.0
        await self._run(
            "INSERT INTO usage (session_id, agent, requests, prompt_tokens, cached_tokens, completion_tokens,"
            " cost_usd, unpriced, duration_ms, nudges) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (session_id, agent) DO UPDATE SET"
            " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " cached_tokens = cached_tokens + excluded.cached_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " cost_usd = cost_usd + excluded.cost_usd, unpriced = unpriced + excluded.unpriced,"
            " duration_ms = duration_ms + excluded.duration_ms, nudges = nudges + excluded.nudges",
            (
                session_id,
                agent,
                requests,
                prompt_tokens,
                cached_tokens,
                completion_tokens,
                cost,
                unpriced,
                duration_ms,
                nudges,
            ),
        )
        if turn_id is None or not (requests or prompt_tokens or cached_tokens or completion_tokens or cost):
            return
        await self._run(
            "INSERT INTO turn_usage (session_id, turn_id, requests, prompt_tokens, cached_tokens, completion_tokens,"
            " cost_usd, unpriced) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, turn_id) DO UPDATE SET"
            " requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " cached_tokens = cached_tokens + excluded.cached_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " cost_usd = cost_usd + excluded.cost_usd, unpriced = unpriced + excluded.unpriced",
            (session_id, turn_id, requests, prompt_tokens, cached_tokens, completion_tokens, cost, unpriced),
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
                cached_tokens=r["cached_tokens"],
                cost_usd=r["cost_usd"],
                unpriced=r["unpriced"],
            )
            for r in rows
        ]

    async def for_turn(self, session_id: str, turn_id: str) -> TurnUsageRow:
        """The turn's figures; all zero for a turn that has called no model yet."""
        r = await self._one("SELECT * FROM turn_usage WHERE session_id = ? AND turn_id = ?", (session_id, turn_id))
        if r is None:
            return TurnUsageRow()
        return TurnUsageRow(
            requests=r["requests"],
            prompt_tokens=r["prompt_tokens"],
            cached_tokens=r["cached_tokens"],
            completion_tokens=r["completion_tokens"],
            cost_usd=r["cost_usd"],
            unpriced=r["unpriced"],
        )
