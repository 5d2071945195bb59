"""One door for every change of a session: a transaction plus an outbox.

`Unit` is opened with `commit(db, notifier, session_id, holder)`; whatever the block
queues in the outbox is sent only after the transaction commits (persist, then emit).
Inside the transaction the session's lease is checked first (a fencing token): a
process that lost the session to another one — paused past its lease, say — can never
commit its stale copy of a step. `fire` is the only function that changes
`sessions.state` (the FSM computes where to), and `switch_agent` the only one that
changes `sessions.current_agent`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.base import WireModel
from protocol.enums import AgentName, MessageRole, PlanStatus, SessionState, StatusEvent
from protocol.errors import SessionBusy
from protocol.methods import TurnResult
from protocol.notifications import STATUS, Notification, StatusNotification
from server.agents import texts
from server.faults import FAULTS
from server.models.base import ModelReply
from server.turn import fsm
from server.turn.fsm import Event
from server.turn.notify import Notifier
from storage.db import Database
from storage.records import LeaseRow, MessageKind, ModelToolCall, SessionRow, ThreadScope, TransitionRow, now
from storage.repos import Repos

log = logging.getLogger("codelab_agent.fsm")


@dataclass
class Unit:
    tx: Repos
    session: SessionRow
    outbox: list[Callable[[Notifier], None]] = field(default_factory=lambda: [])

    def emit(self, notification: Notification, params: WireModel) -> None:
        point = f"status:{params.event}" if isinstance(params, StatusNotification) else notification.name

        def send(notifier: Notifier) -> None:
            notifier.send(notification, params)
            FAULTS.reached(point)

        self.outbox.append(send)

    def flush(self, notifier: Notifier) -> None:
        """Send what the block queued: only once its transaction has committed."""
        for action in self.outbox:
            action(notifier)
        self.outbox.clear()

    def later(self, action: Callable[[Notifier], None]) -> None:
        """Anything else to tell the editor once the transaction commits."""
        self.outbox.append(action)

    def status(self, event: StatusEvent, detail: str, data: dict[str, Any] | None = None) -> None:
        self.emit(
            STATUS,
            StatusNotification(
                session_id=self.session.id, turn_id=self.session.turn_id or "", event=event, detail=detail, data=data
            ),
        )

    async def say(
        self,
        role: MessageRole,
        content: str,
        *,
        kind: MessageKind = MessageKind.MESSAGE,
        agent: AgentName | None = None,
        tool_calls: Sequence[ModelToolCall] = (),
        tool_call_id: str | None = None,
        scope: ThreadScope | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Add a message to the session's current segment and turn. Its agent is the
        current agent, except for the user's messages (none, unless given)."""
        s = self.session
        return await self.tx.messages.add(
            s.id,
            role=role,
            content=content,
            segment=s.switch_count,
            turn_id=s.turn_id,
            agent=agent or (None if role is MessageRole.USER else s.current_agent),
            tool_calls=tool_calls,
            tool_call_id=tool_call_id,
            kind=kind,
            scope=scope,
            meta=meta,
        )

    async def count_call(self, agent: AgentName, reply: ModelReply, duration_ms: int) -> None:
        """Add one model call to the session's usage (for `agent`) and the turn's."""
        await self.tx.usage.add(
            self.session.id,
            agent,
            turn_id=self.session.turn_id,
            requests=1,
            prompt_tokens=reply.prompt_tokens,
            cached_tokens=reply.cached_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            duration_ms=duration_ms,
        )

    async def update(self, **fields: Any) -> None:
        """Change session fields other than state and agent (those have their doors)."""
        if "state" in fields or "current_agent" in fields:
            raise ValueError("state and current_agent change only through fire() and switch_agent()")
        await self._set(**fields)

    async def _set(self, **fields: Any) -> None:
        """Write session fields and mirror them in `self.session` (no re-read)."""
        stamp = await self.tx.sessions.update(self.session.id, **fields)
        self.session = replace(self.session, **fields, updated_at=stamp)


@asynccontextmanager
async def commit(db: Database, notifier: Notifier, session_id: str, holder: str) -> AsyncGenerator[Unit, None]:
    """A transaction on one session held by `holder`; its notifications are sent once
    it commits. Raises SessionBusy (reason `lease_lost`), committing nothing, when the
    session's lease is no longer `holder`'s."""
    async with db.transaction() as tx:
        session, lease = await tx.sessions.get_with_lease(session_id)
        _fenced(session_id, lease, holder)
        if session is None:
            raise LookupError(f"session {session_id} vanished")
        unit = Unit(tx, session)
        yield unit
    unit.flush(notifier)


def _fenced(session_id: str, lease: LeaseRow | None, holder: str) -> None:
    if lease is None or lease.holder != holder:
        who = f"pid {lease.pid} on {lease.host}" if lease else "no process"
        log.warning("session %s: lease lost to %s; the stale step is dropped", session_id, who)
        raise SessionBusy(
            f"this codelab-agent process lost session {session_id} to {who} while it was paused; "
            "nothing of its interrupted step was committed",
            {"sessionId": session_id, "reason": "lease_lost"},
        )


async def fire(unit: Unit, event: Event, *, result: TurnResult | None = None) -> SessionState:
    """The session takes `event`: the FSM gives the destination (from the state, the
    event and the session's facts), which is persisted, logged and announced.

    A `result` is stored as the turn's last result (what `agent/resume` answers when
    the session is at rest)."""
    src = unit.session.state
    in_plan = False
    needs_plan = event is Event.CANCELLED or (event in fsm.RETURNS and unit.session.resume_state is None)
    if needs_plan and unit.session.active_plan_id:
        plan = await unit.tx.plans.get(unit.session.active_plan_id)
        in_plan = plan is not None and plan.status in (PlanStatus.IN_PROGRESS, PlanStatus.PAUSED)
    facts = fsm.Facts(agent=unit.session.current_agent, in_plan=in_plan, resume=unit.session.resume_state)
    dst = fsm.destination(src, event, facts)
    fields: dict[str, Any] = {"state": dst}
    if event in fsm.PAUSES:
        fields["resume_state"] = src
    elif unit.session.resume_state is not None:
        fields["resume_state"] = None
    if result is not None:
        fields["last_result"] = result.model_dump_json(by_alias=True, exclude_none=True)
    await unit._set(**fields)  # pyright: ignore[reportPrivateUsage] - this is the door
    await unit.tx.transitions.add(TransitionRow(unit.session.id, unit.session.turn_id, src, dst, event, now()))
    log.info("session %s: %s → %s (%s)", unit.session.id, src, dst, event)
    unit.status(StatusEvent.STATE_CHANGED, f"{src} → {dst} ({event})", {"from": src, "to": dst, "event": event})
    return dst


async def switch_agent(unit: Unit, to: AgentName, reason: str) -> None:
    """Hand the conversation to `to`: a system note, a new segment (the previous agent's
    tool calls and results drop out of the new agent's view), persisted and announced.

    Switching is a normal event, logged at INFO: the orchestrator does it in code."""
    src = unit.session.current_agent
    if src == to:
        return
    note = texts.switch_note(src, to, reason)
    await unit._set(current_agent=to, switch_count=unit.session.switch_count + 1)  # pyright: ignore[reportPrivateUsage]
    await unit.say(MessageRole.SYSTEM, note, kind=MessageKind.SWITCH_NOTE)
    log.info("session %s: %s", unit.session.id, note)
    unit.status(StatusEvent.AGENT_SWITCHED, note, {"from": src, "to": to, "reason": reason})
