"""Plans and their subtasks: one aggregate, written and read together."""

from __future__ import annotations

import json

from protocol.enums import AgentName, PlanStatus, SubtaskStatus
from storage.records import PlanRow, SubtaskRow, dumps, now
from storage.repos.base import Repo, Row


def _subtask(row: Row) -> SubtaskRow:
    return SubtaskRow(
        plan_id=row["plan_id"],
        id=row["id"],
        ord=row["ord"],
        title=row["title"],
        description=row["description"],
        agent=AgentName(row["agent"]),
        dependencies=tuple(json.loads(row["dependencies"])),
        status=SubtaskStatus(row["status"]),
        result=row["result"],
        attempt=row["attempt"],
    )


class PlanRepo(Repo):
    async def add(self, plan: PlanRow) -> None:
        await self._run(
            "INSERT INTO plans (id, session_id, version, goal, status, feedback, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                plan.id,
                plan.session_id,
                plan.version,
                plan.goal,
                plan.status,
                plan.feedback,
                plan.created_at,
                plan.updated_at,
            ),
        )
        for s in plan.subtasks:
            await self._run(
                "INSERT INTO subtasks (plan_id, id, ord, title, description, agent, dependencies, status, result, attempt)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.id,
                    s.id,
                    s.ord,
                    s.title,
                    s.description,
                    s.agent,
                    dumps(list(s.dependencies)),
                    s.status,
                    s.result,
                    s.attempt,
                ),
            )

    async def get(self, plan_id: str) -> PlanRow | None:
        row = await self._one("SELECT * FROM plans WHERE id = ?", (plan_id,))
        if row is None:
            return None
        subtasks = await self._all("SELECT * FROM subtasks WHERE plan_id = ? ORDER BY ord", (plan_id,))
        return PlanRow(
            id=row["id"],
            session_id=row["session_id"],
            version=row["version"],
            goal=row["goal"],
            status=PlanStatus(row["status"]),
            feedback=row["feedback"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            subtasks=tuple(_subtask(s) for s in subtasks),
        )

    async def for_session(self, session_id: str) -> list[PlanRow]:
        rows = await self._all("SELECT id FROM plans WHERE session_id = ? ORDER BY version, created_at", (session_id,))
        plans = [await self.get(r["id"]) for r in rows]
        return [p for p in plans if p is not None]

    async def latest_version(self, session_id: str) -> int:
        row = await self._one("SELECT MAX(version) FROM plans WHERE session_id = ?", (session_id,))
        return int(row[0]) if row and row[0] is not None else 0

    async def set_status(self, plan_id: str, status: PlanStatus) -> None:
        await self._run("UPDATE plans SET status = ?, updated_at = ? WHERE id = ?", (status, now(), plan_id))

    async def set_subtask(
        self,
        plan_id: str,
        subtask_id: str,
        status: SubtaskStatus,
        *,
        result: str | None = None,
        attempt: int | None = None,
    ) -> None:
        await self._run(
            "UPDATE subtasks SET status = ?, result = COALESCE(?, result), attempt = COALESCE(?, attempt)"
            " WHERE plan_id = ? AND id = ?",
            (status, result, attempt, plan_id, subtask_id),
        )
        await self._run("UPDATE plans SET updated_at = ? WHERE id = ?", (now(), plan_id))

    async def reset_subtask(self, plan_id: str, subtask_id: str, attempt: int) -> None:
        """Back to pending for another attempt, its old result cleared."""
        await self._run(
            "UPDATE subtasks SET status = 'pending', result = NULL, attempt = ? WHERE plan_id = ? AND id = ?",
            (attempt, plan_id, subtask_id),
        )
        await self._run("UPDATE plans SET updated_at = ? WHERE id = ?", (now(), plan_id))
