from __future__ import annotations

import pytest

from protocol.tools import CreatePlanArgs
from server.plans import rules as planning


def plan(*subtasks: tuple[str, list[str]], agent: str = "code") -> CreatePlanArgs:
    return CreatePlanArgs.model_validate(
        {"goal": "g", "subtasks": [{"id": i, "title": i, "agent": agent, "dependencies": d} for i, d in subtasks]}
    )


def test_a_valid_plan() -> None:
    planning.validate(plan(("s1", []), ("s2", ["s1"]), ("s3", ["s1", "s2"])))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (plan(("s1", []), ("s1", [])), "repeated: s1"),
        (plan(("s1", ["s9"])), "unknown ids: s9"),
        (plan(("s1", ["s1"])), "depends on itself"),
        (plan(("a", ["c"]), ("b", ["a"]), ("c", ["b"])), "cycle: a → c → b → a"),
        (plan(*[(f"s{i}", []) for i in range(51)]), "at most 50"),
    ],
)
def test_invalid_plans_say_why(args: CreatePlanArgs, problem: str) -> None:
    with pytest.raises(planning.PlanInvalid, match=problem):
        planning.validate(args)


def test_unknown_agent_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="agent"):
        plan(("s1", []), agent="tester")


def test_next_ready_follows_dependencies_and_plan_order() -> None:
    row = planning.new_plan("session", 1, plan(("s1", []), ("s2", ["s1"]), ("s3", [])), None)
    assert planning.next_ready(row).id == "s1"
    from dataclasses import replace

    from protocol.enums import SubtaskStatus

    s1, s2, s3 = row.subtasks
    started = replace(row, subtasks=(replace(s1, status=SubtaskStatus.IN_PROGRESS), s2, s3))
    assert planning.current(started).id == "s1"
    assert planning.next_ready(started).id == "s3"  # s2 waits for s1
    skipped = replace(row, subtasks=(replace(s1, status=SubtaskStatus.SKIPPED), s2, s3))
    assert planning.next_ready(skipped).id == "s2"  # a skipped dependency counts as settled
