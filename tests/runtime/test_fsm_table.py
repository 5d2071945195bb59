"""The session state machine against an independent reading of the product's rules.

`expected` below is written from README.md ("Plans", "Sessions and durability") and the
protocol, not from `server/turn/fsm.py`: which events may happen in which state, and
where they lead. For every event, every state and every combination of facts (the
agent, whether a plan executes, the state a pause returns to), `fsm.destination` must
agree with it, `fsm.allowed` must say yes exactly where some facts make it legal, and
the table must hold no pair that no facts can produce (a dead row).

Whether each event is actually fired by the runtime is checked over the whole folder:
see `tests/runtime/fsm_coverage.py`.
"""

from __future__ import annotations

import itertools

import pytest

from protocol.enums import AgentName
from protocol.enums import SessionState as S
from server.turn import fsm
from server.turn.fsm import Event, Facts

RESTING = {S.IDLE, S.PLAN_PAUSED}
"""Nothing runs and nothing is awaited: a new task may start (a paused plan is then abandoned)."""
ATOMIC = {S.AGENT_RUNNING, S.ARCHITECT_PLANNING}
"""One agent works on the task itself, outside a plan."""
RUNNING = ATOMIC | {S.EXECUTING_PLAN}
"""An agent's model steps run (in a plan, the subtask's agent)."""
PAUSES_OF_A_PLAN = {S.EXECUTING_PLAN, S.AWAITING_TOOL_RESULTS, S.AWAITING_USER_INPUT}
"""Where a cancel finds an executing plan: it pauses instead of ending."""

FACTS = [
    Facts(agent=agent, in_plan=in_plan, resume=resume)
    for agent, in_plan, resume in itertools.product(AgentName, (False, True), (None, *sorted(RUNNING)))
]


def expected(state: S, event: Event, facts: Facts) -> S | None:
    """Where `event` takes a session in `state`, or None if it may not happen there."""
    own = S.ARCHITECT_PLANNING if facts.agent is AgentName.ARCHITECT else S.AGENT_RUNNING
    back = facts.resume or (S.EXECUTING_PLAN if facts.in_plan else own)
    rules: dict[Event, tuple[set[S], S | None]] = {
        Event.TASK_RECEIVED: (RESTING, S.CLASSIFYING),
        Event.TASK_ROUTED: (RESTING, own),  # an explicit mode skips the classifier
        Event.CLASSIFIED_ATOMIC: ({S.CLASSIFYING}, S.AGENT_RUNNING),
        Event.CLASSIFIED_COMPLEX: ({S.CLASSIFYING}, S.PLAN_REQUIRED),
        Event.ARCHITECT_ASSIGNED: ({S.PLAN_REQUIRED}, S.ARCHITECT_PLANNING),
        Event.TOOL_CALLS_SENT: (RUNNING, S.AWAITING_TOOL_RESULTS),
        Event.QUESTION_ASKED: (RUNNING, S.AWAITING_USER_INPUT),
        Event.TOOL_RESULTS_RECEIVED: ({S.AWAITING_TOOL_RESULTS}, back),
        Event.USER_ANSWERED: ({S.AWAITING_USER_INPUT}, back),
        Event.MODE_SWITCHED: (ATOMIC, own),  # switch_mode is refused while a plan executes
        Event.PLAN_CREATED: ({S.ARCHITECT_PLANNING}, S.AWAITING_PLAN_APPROVAL),
        Event.PLAN_APPROVED: ({S.AWAITING_PLAN_APPROVAL}, S.EXECUTING_PLAN),
        Event.PLAN_REJECTED: ({S.AWAITING_PLAN_APPROVAL}, S.IDLE),
        Event.REVISION_REQUESTED: ({S.AWAITING_PLAN_APPROVAL}, S.ARCHITECT_PLANNING),
        Event.TASK_COMPLETED: (ATOMIC, S.IDLE),
        Event.PLAN_COMPLETED: ({S.EXECUTING_PLAN}, S.IDLE),
        # a failing subtask halts its plan (PLAN_HALTED) rather than failing the turn from EXECUTING_PLAN
        Event.TURN_FAILED: ({S.CLASSIFYING, S.PLAN_REQUIRED, *ATOMIC}, S.IDLE),
        Event.PLAN_HALTED: ({S.EXECUTING_PLAN}, S.PLAN_PAUSED),
        Event.PLAN_RESUMED: ({S.PLAN_PAUSED}, S.EXECUTING_PLAN),
    }
    if event is Event.CANCELLED:  # anything under way stops; an executing plan pauses
        if facts.in_plan:
            return S.PLAN_PAUSED if state in PAUSES_OF_A_PLAN else None
        return S.IDLE if state not in RESTING | {S.EXECUTING_PLAN} else None
    sources, destination = rules[event]
    return destination if state in sources else None


def test_the_expectations_cover_every_event() -> None:
    for event in Event:
        assert any(expected(state, event, facts) for state in S for facts in FACTS), event


@pytest.mark.parametrize("event", list(Event))
def test_where_each_event_leads_from_every_state(event: Event) -> None:
    wrong: list[str] = []
    for state, facts in itertools.product(S, FACTS):
        want = expected(state, event, facts)
        try:
            got: S | None = fsm.destination(state, event, facts)
        except fsm.IllegalTransition:
            got = None
        if got != want:
            wrong.append(f"{state} with {facts}: {got} (expected {want})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("event", list(Event))
def test_allowed_in_exactly_the_states_some_facts_make_legal(event: Event) -> None:
    legal = {state for state in S if any(expected(state, event, facts) for facts in FACTS)}
    assert {state for state in S if fsm.allowed(state, event)} == legal


@pytest.mark.parametrize("event", list(Event))
def test_the_table_has_no_pair_that_no_facts_produce(event: Event) -> None:
    produced = {(state, dst) for state, facts in itertools.product(S, FACTS) if (dst := expected(state, event, facts))}
    assert fsm.TRANSITIONS[event] == produced


def test_an_illegal_event_raises_naming_the_transition() -> None:
    with pytest.raises(fsm.IllegalTransition, match="idle → executing_plan on plan_approved") as info:
        fsm.check(S.IDLE, S.EXECUTING_PLAN, Event.PLAN_APPROVED)
    assert (info.value.src, info.value.dst, info.value.event) == (S.IDLE, S.EXECUTING_PLAN, Event.PLAN_APPROVED)
