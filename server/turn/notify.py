"""How the runtime talks to the editor without knowing the transport."""

from __future__ import annotations

from typing import Any, Protocol

from protocol.base import WireModel
from protocol.enums import AgentName, StatusEvent
from protocol.notifications import STATUS, STREAM, Notification, StatusNotification, StreamNotification
from server.models.base import DeltaKind
from storage.records import SessionRow


class Notifier(Protocol):
    def send(self, notification: Notification, params: WireModel) -> None:
        """Send one notification (in order with everything else written)."""
        ...

    def supports_progress(self) -> bool:
        """Whether the editor announced `window.workDoneProgress`."""
        ...

    async def create_progress(self, token: str) -> bool:
        """`window/workDoneProgress/create`; False if the editor refused it."""
        ...

    def progress(self, token: str, value: dict[str, Any]) -> None:
        """`$/progress` with a begin, report or end value."""
        ...


class EditorReport:
    """A model call as the editor sees it: `agent/stream` deltas and `retrying` statuses."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def streamed(self, session: SessionRow, agent: AgentName, delta: str, kind: DeltaKind = "text") -> None:
        """Text goes without a `kind` (as to clients of version 1); reasoning as a thought."""
        self._notifier.send(
            STREAM,
            StreamNotification(
                session_id=session.id,
                turn_id=session.turn_id or "",
                agent=agent,
                delta=delta,
                kind="thought" if kind == "thought" else None,
            ),
        )

    def retrying(self, session: SessionRow, agent: AgentName, attempt: int, limit: int, error: str) -> None:
        self._notifier.send(
            STATUS,
            StatusNotification(
                session_id=session.id,
                turn_id=session.turn_id or "",
                event=StatusEvent.RETRYING,
                detail=f"the model failed; retry {attempt} of {limit}",
                data={"agent": agent, "attempt": attempt, "error": error},
            ),
        )
