"""The orchestrator's state machine: an explicit table of legal transitions, and the
one rule for what comes next.

`destination(state, event, facts)` is the only place a destination state is computed;
`allowed(state, event)` answers whether an event may happen now. Every change of a
session's state goes through `fire` (in `server/turn/unit.py`, the only writer of
`sessions.state`): it computes the destination here, persists the change with a row
in `transitions`, logs `from → to (event)`, and queues the notification that is sent
once the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.enums import AgentName
from protocol.enums import SessionState as S


class Event(StrEnum):
    TASK_RECEIVED = "task_received"
    TASK_ROUTED = "task_routed"
    CLASSIFIED_ATOMIC = "classified_atomic"
    CLASSIFIED_COMPLEX = "classified_complex"
    ARCHITECT_ASSIGNED = "architect_assigned"
    TOOL_CALLS_SENT = "tool_calls_sent"
    TOOL_RESULTS_RECEIVED = "tool_results_received"
    QUESTION_ASKED = "question_asked"
    USER_ANSWERED = "user_answered"
    MODE_SWITCHED = "mode_switched"
    PLAN_CREATED = "plan_created"
    PLAN_APPROVED = "plan_approved"
    PLAN_REJECTED = "plan_rejected"
    REVISION_REQUESTED = "revision_requested"
    TASK_COMPLETED = "task_completed"
    PLAN_COMPLETED = "plan_completed"
    TURN_FAILED = "turn_failed"
    PLAN_HALTED = "plan_halted"
    PLAN_RESUMED = "plan_resumed"
    CANCELLED = "cancelled"


RUNNING = frozenset({S.AGENT_RUNNING, S.ARCHITECT_PLANNING, S.EXECUTING_PLAN})
"""States in which an agent's model steps run."""

WORKING = RUNNING | {S.CLASSIFYING, S.PLAN_REQUIRED}
"""States in which the sidecar, not the user or the editor, has the next move."""

_ATOMIC = (S.AGENT_RUNNING, S.ARCHITECT_PLANNING)

TRANSITIONS: dict[Event, frozenset[tuple[S, S]]] = {
    Event.TASK_RECEIVED: frozenset({(S.IDLE, S.CLASSIFYING), (S.PLAN_PAUSED, S.CLASSIFYING)}),
    Event.TASK_ROUTED: frozenset((src, dst) for src in (S.IDLE, S.PLAN_PAUSED) for dst in _ATOMIC),
    Event.CLASSIFIED_ATOMIC: frozenset({(S.CLASSIFYING, S.AGENT_RUNNING)}),
    Event.CLASSIFIED_COMPLEX: frozenset({(S.CLASSIFYING, S.PLAN_REQUIRED)}),
    Event.ARCHITECT_ASSIGNED: frozenset({(S.PLAN_REQUIRED, S.ARCHITECT_PLANNING)}),
    Event.TOOL_CALLS_SENT: frozenset((src, S.AWAITING_TOOL_RESULTS) for src in RUNNING),
    Event.TOOL_RESULTS_RECEIVED: frozenset((S.AWAITING_TOOL_RESULTS, dst) for dst in RUNNING),
    Event.QUESTION_ASKED: frozenset((src, S.AWAITING_USER_INPUT) for src in RUNNING),
    Event.USER_ANSWERED: frozenset((S.AWAITING_USER_INPUT, dst) for dst in RUNNING),
    Event.MODE_SWITCHED: frozenset((src, dst) for src in _ATOMIC for dst in _ATOMIC),
    Event.PLAN_CREATED: frozenset({(S.ARCHITECT_PLANNING, S.AWAITING_PLAN_APPROVAL)}),
    Event.PLAN_APPROVED: frozenset({(S.AWAITING_PLAN_APPROVAL, S.EXECUTING_PLAN)}),
    Event.PLAN_REJECTED: frozenset({(S.AWAITING_PLAN_APPROVAL, S.IDLE)}),
    Event.REVISION_REQUESTED: frozenset({(S.AWAITING_PLAN_APPROVAL, S.ARCHITECT_PLANNING)}),
    Event.TASK_COMPLETED: frozenset((src, S.IDLE) for src in _ATOMIC),
    Event.PLAN_COMPLETED: frozenset({(S.EXECUTING_PLAN, S.IDLE)}),
    Event.TURN_FAILED: frozenset(
        (src, S.IDLE) for src in (S.CLASSIFYING, S.PLAN_REQUIRED, S.AGENT_RUNNING, S.ARCHITECT_PLANNING)
    ),
    Event.PLAN_HALTED: frozenset({(S.EXECUTING_PLAN, S.PLAN_PAUSED)}),
    Event.PLAN_RESUMED: frozenset({(S.PLAN_PAUSED, S.EXECUTING_PLAN)}),
    Event.CANCELLED: frozenset(
        {(src, S.IDLE) for src in WORKING - {S.EXECUTING_PLAN}}
        | {(src, S.IDLE) for src in (S.AWAITING_TOOL_RESULTS, S.AWAITING_USER_INPUT, S.AWAITING_PLAN_APPROVAL)}
        | {(src, S.PLAN_PAUSED) for src in (S.EXECUTING_PLAN, S.AWAITING_TOOL_RESULTS, S.AWAITING_USER_INPUT)}
    ),
}


class IllegalTransition(RuntimeError):
    def __init__(self, src: S, dst: S, event: Event) -> None:
        super().__init__(f"illegal transition {src} → {dst} on {event}")
        self.src, self.dst, self.event = src, dst, event


def check(src: S, dst: S, event: Event) -> None:
    """Raise `IllegalTransition` unless the table allows `src → dst` on `event`."""
    if (src, dst) not in TRANSITIONS[event]:
        raise IllegalTransition(src, dst, event)


def reachable(start: S = S.IDLE) -> set[S]:
    """Every state the table can reach from `start` (a test checks it is all of them)."""
    seen = {start}
    frontier = [start]
    while frontier:
        src = frontier.pop()
        for pairs in TRANSITIONS.values():
            for a, b in pairs:
                if a == src and b not in seen:
                    seen.add(b)
                    frontier.append(b)
    return seen


def allowed(state: S, event: Event) -> bool:
    """Whether `event` may happen in `state` (some destination is legal)."""
    return any(src == state for src, _ in TRANSITIONS[event])


@dataclass(frozen=True)
class Facts:
    """What, besides the state and the event, decides where a session goes next."""

    agent: AgentName
    """The session's current agent (after any switch the event follows)."""
    in_plan: bool = False
    """A plan is executing (or was, until this event paused it)."""
    resume: S | None = None
    """The running state a pause (tool results, a question) returns to, stored when it began."""


_FIXED: dict[Event, S] = {
    Event.TASK_RECEIVED: S.CLASSIFYING,
    Event.CLASSIFIED_ATOMIC: S.AGENT_RUNNING,
    Event.CLASSIFIED_COMPLEX: S.PLAN_REQUIRED,
    Event.ARCHITECT_ASSIGNED: S.ARCHITECT_PLANNING,
    Event.TOOL_CALLS_SENT: S.AWAITING_TOOL_RESULTS,
    Event.QUESTION_ASKED: S.AWAITING_USER_INPUT,
    Event.PLAN_CREATED: S.AWAITING_PLAN_APPROVAL,
    Event.PLAN_APPROVED: S.EXECUTING_PLAN,
    Event.PLAN_REJECTED: S.IDLE,
    Event.REVISION_REQUESTED: S.ARCHITECT_PLANNING,
    Event.TASK_COMPLETED: S.IDLE,
    Event.PLAN_COMPLETED: S.IDLE,
    Event.TURN_FAILED: S.IDLE,
    Event.PLAN_HALTED: S.PLAN_PAUSED,
    Event.PLAN_RESUMED: S.EXECUTING_PLAN,
}

PAUSES = frozenset({Event.TOOL_CALLS_SENT, Event.QUESTION_ASKED})
"""Events that leave a running state for a pause; the state they leave is stored."""
RETURNS = frozenset({Event.TOOL_RESULTS_RECEIVED, Event.USER_ANSWERED})
"""Events that end a pause: back to the state stored when it began."""


def agent_state(agent: AgentName) -> S:
    """The running state of an agent outside a plan."""
    return S.ARCHITECT_PLANNING if agent is AgentName.ARCHITECT else S.AGENT_RUNNING


def destination(state: S, event: Event, facts: Facts) -> S:
    """Where `event` takes a session in `state`; raises `IllegalTransition` if nowhere."""
    if event in _FIXED:
        dst = _FIXED[event]
    elif event in (Event.TASK_ROUTED, Event.MODE_SWITCHED):
        dst = agent_state(facts.agent)
    elif event in RETURNS:
        dst = facts.resume or (S.EXECUTING_PLAN if facts.in_plan else agent_state(facts.agent))
    else:  # CANCELLED: a plan pauses, anything else ends
        dst = S.PLAN_PAUSED if facts.in_plan and state is not S.PLAN_PAUSED else S.IDLE
    check(state, dst, event)
    return dst
