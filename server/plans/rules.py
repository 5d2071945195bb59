"""Plans: validation of the architect's `create_plan`, and choosing what runs next.

Skipped subtasks: a subtask the user skipped counts as settled for its dependents.
They run, and their brief says the dependency was skipped and left no result, so the
agent checks the workspace itself instead of trusting a result that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from protocol.enums import AgentName, PlanStatus, SubtaskStatus
from protocol.plans import Plan, Subtask
from protocol.tools import CreatePlanArgs
from storage.records import PlanRow, SubtaskRow, ThreadScope, now

MAX_SUBTASKS = 50
SETTLED = frozenset({SubtaskStatus.DONE, SubtaskStatus.SKIPPED})


class PlanInvalid(ValueError):
    """Why a plan was refused; the text goes back to the architect."""


def validate(args: CreatePlanArgs) -> None:
    problems: list[str] = []
    ids = [s.id for s in args.subtasks]
    if len(ids) > MAX_SUBTASKS:
        problems.append(f"the plan has {len(ids)} subtasks; at most {MAX_SUBTASKS} are allowed")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"subtask ids must be unique; repeated: {', '.join(duplicates)}")
    known = set(ids)
    for s in args.subtasks:
        unknown = [d for d in s.dependencies if d not in known]
        if unknown:
            problems.append(f"subtask {s.id} depends on unknown ids: {', '.join(unknown)}")
        if s.id in s.dependencies:
            problems.append(f"subtask {s.id} depends on itself")
    if not problems:
        cycle = _find_cycle({s.id: list(s.dependencies) for s in args.subtasks})
        if cycle:
            problems.append("the dependencies form a cycle: " + " → ".join(cycle))
    if problems:
        raise PlanInvalid("; ".join(problems))


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for dep in graph[node]:
            found = visit(dep)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return None

    for node in graph:
        found = visit(node)
        if found:
            return found
    return None


def new_plan(session_id: str, version: int, args: CreatePlanArgs, feedback: str | None) -> PlanRow:
    stamp = now()
    plan_id = f"plan_{uuid.uuid4().hex[:20]}"
    subtasks = tuple(
        SubtaskRow(
            plan_id=plan_id,
            id=s.id,
            ord=i,
            title=s.title,
            description=s.description,
            agent=AgentName(s.agent),
            dependencies=tuple(s.dependencies),
            status=SubtaskStatus.PENDING,
            result=None,
            attempt=1,
        )
        for i, s in enumerate(args.subtasks)
    )
    return PlanRow(
        plan_id, session_id, version, args.goal, PlanStatus.AWAITING_APPROVAL, feedback, stamp, stamp, subtasks
    )


def current(plan: PlanRow) -> SubtaskRow | None:
    """The subtask in progress, if any."""
    return next((s for s in plan.subtasks if s.status is SubtaskStatus.IN_PROGRESS), None)


def next_ready(plan: PlanRow) -> SubtaskRow | None:
    """The first pending subtask, in plan order, whose dependencies are all settled."""
    status = {s.id: s.status for s in plan.subtasks}
    for s in plan.subtasks:
        if s.status is SubtaskStatus.PENDING and all(status[d] in SETTLED for d in s.dependencies):
            return s
    return None


def summary(plan: PlanRow) -> str:
    lines = [f"Plan completed: {plan.goal}"]
    for s in plan.subtasks:
        outcome = s.result if s.status is SubtaskStatus.DONE else s.status.value
        lines.append(f"- {s.id} {s.title}: {outcome}")
    return "\n".join(lines)


def snapshot(plan: PlanRow) -> Plan:
    return Plan(
        id=plan.id,
        session_id=plan.session_id,
        version=plan.version,
        goal=plan.goal,
        status=plan.status,
        feedback=plan.feedback,
        subtasks=[
            Subtask(
                id=s.id,
                title=s.title,
                description=s.description,
                agent=s.agent,
                dependencies=list(s.dependencies),
                status=s.status,
                result=s.result,
            )
            for s in plan.subtasks
        ],
    )


def position(plan: PlanRow, subtask_id: str) -> tuple[int, int]:
    """(1-based index, total) of a subtask, for progress messages."""
    ids: Sequence[str] = [s.id for s in plan.subtasks]
    return ids.index(subtask_id) + 1, len(ids)


def scope_of(plan: PlanRow, subtask: SubtaskRow) -> ThreadScope:
    """The thread of the subtask's current attempt: the one place a scope is built."""
    return ThreadScope(plan.id, subtask.id, subtask.attempt)
