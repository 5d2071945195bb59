"""Crash injection for the durability tests.

`CODELAB_AGENT_CRASH_AFTER=<point>:<n>` makes the process SIGKILL itself right after
the n-th occurrence of a point, where a point is a committed change the editor has
just been told about (`status:<event>`, `agent/toolCall`) or `tool_result`, a tool
result committed before the turn continues. Unset (always, outside the tests), it
does nothing.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


class Faults:
    def __init__(self, spec: str | None) -> None:
        self._point: str | None = None
        self._left = 0
        if spec:
            point, _, count = spec.rpartition(":")
            self._point, self._left = point, int(count)

    def reached(self, point: str) -> None:
        if point != self._point:
            return
        self._left -= 1
        if self._left == 0:
            log.warning("crash injection: killing the process after %s", point)
            os.kill(os.getpid(), signal.SIGKILL)


FAULTS = Faults(os.environ.get("CODELAB_AGENT_CRASH_AFTER"))
