"""How the runtime talks to the editor without knowing the transport."""

from __future__ import annotations

from typing import Any, Protocol

from protocol.base import WireModel
from protocol.notifications import Notification


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
