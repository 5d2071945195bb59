"""The orchestrator's state machine: every legal transition, an illegal one, every state reachable."""

from __future__ import annotations

import pytest

from protocol.enums import SessionState as S
from server.turn.fsm import TRANSITIONS, Event, IllegalTransition, check, reachable

LEGAL = sorted((event, src, dst) for event, pairs in TRANSITIONS.items() for src, dst in pairs)


@pytest.mark.parametrize(("event", "src", "dst"), LEGAL)
def test_every_legal_transition_passes(event: Event, src: S, dst: S) -> None:
    check(src, dst, event)


@pytest.mark.parametrize(
    ("src", "dst", "event"),
    [
        (S.IDLE, S.EXECUTING_PLAN, Event.PLAN_APPROVED),
        (S.AWAITING_TOOL_RESULTS, S.CLASSIFYING, Event.TASK_RECEIVED),
        (S.AGENT_RUNNING, S.AWAITING_PLAN_APPROVAL, Event.PLAN_CREATED),
        (S.EXECUTING_PLAN, S.IDLE, Event.TASK_COMPLETED),
        (S.PLAN_PAUSED, S.IDLE, Event.TURN_FAILED),
    ],
)
def test_illegal_transitions_raise(src: S, dst: S, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"{src} → {dst}"):
        check(src, dst, event)


def test_every_state_is_reachable_from_idle_and_can_get_back() -> None:
    assert reachable(S.IDLE) == set(S)
    for state in S:
        assert S.IDLE in reachable(state), f"{state} is a dead end"


def test_every_event_is_used() -> None:
    assert all(TRANSITIONS[event] for event in Event)


def test_a_return_goes_where_the_pause_began_else_where_the_facts_say() -> None:
    from protocol.enums import AgentName
    from server.turn.fsm import Facts, destination

    waiting = S.AWAITING_TOOL_RESULTS
    stored = Facts(agent=AgentName.CODE, resume=S.ARCHITECT_PLANNING)
    assert destination(waiting, Event.TOOL_RESULTS_RECEIVED, stored) is S.ARCHITECT_PLANNING
    assert destination(waiting, Event.TOOL_RESULTS_RECEIVED, Facts(agent=AgentName.CODE)) is S.AGENT_RUNNING
    assert destination(waiting, Event.TOOL_RESULTS_RECEIVED, Facts(AgentName.CODE, in_plan=True)) is S.EXECUTING_PLAN
    assert destination(S.EXECUTING_PLAN, Event.CANCELLED, Facts(AgentName.CODE, in_plan=True)) is S.PLAN_PAUSED
    assert destination(S.AGENT_RUNNING, Event.CANCELLED, Facts(AgentName.CODE)) is S.IDLE
    assert destination(S.IDLE, Event.TASK_ROUTED, Facts(AgentName.ARCHITECT)) is S.ARCHITECT_PLANNING
