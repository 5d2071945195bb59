"""The checks of the plan requests (`agent/approvePlan`, `retrySubtask`, `skipSubtask`,
`resume` of a paused plan): each names what is wrong and what to do instead."""

from __future__ import annotations

from protocol.enums import PlanStatus, SessionState, SubtaskStatus
from protocol.errors import InvalidState
from storage.db import Database
from storage.records import PlanRow, SessionRow


async def plan_of(db: Database, s: SessionRow, plan_id: str) -> PlanRow:
    plan = await db.read.plans.get(plan_id)
    if plan is None or plan.session_id != s.id:
        raise InvalidState(f"no plan {plan_id!r} in session {s.id}", {"planId": plan_id})
    return plan


def check_awaiting_approval(s: SessionRow, plan: PlanRow) -> None:
    if s.state is not SessionState.AWAITING_PLAN_APPROVAL or plan.status is not PlanStatus.AWAITING_APPROVAL:
        raise InvalidState(
            f"plan {plan.id} is not awaiting approval (plan {plan.status}, session {s.state})",
            {"planId": plan.id, "planStatus": plan.status, "state": s.state},
        )


def check_failed_subtask(s: SessionRow, plan: PlanRow, subtask_id: str) -> None:
    subtask = next((t for t in plan.subtasks if t.id == subtask_id), None)
    if subtask is None:
        raise InvalidState(
            f"plan {plan.id} has no subtask {subtask_id!r}", {"planId": plan.id, "subtaskId": subtask_id}
        )
    if (
        s.state is not SessionState.PLAN_PAUSED
        or plan.status is not PlanStatus.FAILED
        or subtask.status is not SubtaskStatus.FAILED
    ):
        raise InvalidState(
            f"subtask {subtask_id} is {subtask.status} and plan {plan.id} is {plan.status}: only a failed subtask "
            "of a failed plan can be retried or skipped",
            {"planId": plan.id, "subtaskId": subtask_id, "subtaskStatus": subtask.status, "planStatus": plan.status},
        )


async def paused_plan(db: Database, s: SessionRow) -> PlanRow:
    """The plan a PLAN_PAUSED session may resume; a failed one asks for retry or skip."""
    plan = await db.read.plans.get(s.active_plan_id) if s.active_plan_id else None
    if plan is None:
        raise InvalidState(f"session {s.id} has no paused plan", {"state": s.state})
    if plan.status is PlanStatus.FAILED:
        failed = [t.id for t in plan.subtasks if t.status is SubtaskStatus.FAILED]
        raise InvalidState(
            f"plan {plan.id} failed at subtask {', '.join(failed)}: use agent/retrySubtask or agent/skipSubtask",
            {"planId": plan.id, "failedSubtasks": failed},
        )
    return plan
