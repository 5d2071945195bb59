"""Every event of the session state machine is fired by some test.

A legal transition that no test ever takes is either dead or untested (style habit 3).
Every in-process sidecar registers its database here (`opened`); after each test the
events of its persisted `transitions` rows are attached to the test's report as the
user property `fsm_events` (the autouse fixture in `tests/runtime/conftest.py`).
Reports travel from xdist workers to the controller with their user properties, so the
`FsmCoverage` plugin — registered in the controller, or in the only process — sees
every test's events, whichever worker ran it, and checks at the end of the session
that together they fire every `Event` but those listed in `E2E_ONLY`.

The check runs only when the whole `tests/runtime` folder ran: every `test_*.py` in it
was collected, no `-k`, `-m`, `--deselect`, `--lf` or `::` narrowed it, and each
collected test reached its call. Otherwise the summary says it was not checked and
why; it never passes without checking.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import pytest

from server.turn.fsm import Event

PROPERTY = "fsm_events"
FOLDER = Path(__file__).resolve().parent

E2E_ONLY: dict[Event, str] = {}
"""Events that only a test which must stay end-to-end fires, with the reason."""

_databases: list[Path] = []


def opened(db: Path) -> None:
    """An in-process sidecar started on `db`."""
    if db not in _databases:
        _databases.append(db)


def forget() -> None:
    _databases.clear()


def fired() -> set[str]:
    """The events in the `transitions` table of every database opened since `forget`."""
    events: set[str] = set()
    for db in _databases:
        if db.exists():
            with contextlib.closing(sqlite3.connect(db)) as conn:
                events.update(row[0] for row in conn.execute("SELECT DISTINCT event FROM transitions"))
    return events


class FsmCoverage:
    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._prefix = FOLDER.relative_to(config.rootpath).as_posix() + "/"
        self._expected: set[str] = set()
        self._ran: set[str] = set()
        self._fired: dict[str, set[str]] = defaultdict(set)
        self._verdict: list[str] = []
        self._failed = False

    def _ours(self, nodeid: str) -> bool:
        return nodeid.startswith(self._prefix)

    # --- what was collected and what ran ----------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._expected.update(item.nodeid for item in session.items if self._ours(item.nodeid))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._expected.update(nodeid for nodeid in ids if self._ours(nodeid))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self._ours(report.nodeid):
            return
        if report.when == "call" or (report.when == "setup" and report.skipped):
            self._ran.add(report.nodeid)
        for name, value in report.user_properties:
            if name == PROPERTY:
                events = cast(list[str], value)
                for event in events:
                    self._fired[event].add(report.nodeid)

    # --- the verdict ---------------------------------------------------------------

    def _not_checked_because(self) -> str | None:
        option = self._config.option
        for flag, value in (
            ("-k", getattr(option, "keyword", "")),
            ("-m", getattr(option, "markexpr", "")),
            ("--deselect", getattr(option, "deselect", None)),
            ("--lf", getattr(option, "lf", False)),
            ("--sw", getattr(option, "stepwise", False)),
        ):
            if value:
                return f"{flag} narrowed the run"
        if any("::" in str(arg) for arg in self._config.args):
            return "single tests were selected"
        modules = {nodeid.split("::", 1)[0] for nodeid in self._expected}
        missing = [path.name for path in sorted(FOLDER.glob("test_*.py")) if self._prefix + path.name not in modules]
        if missing:
            return f"{len(missing)} module(s) of {self._prefix} were not collected ({', '.join(missing[:3])}…)"
        if not_run := self._expected - self._ran:
            return f"{len(not_run)} of its {len(self._expected)} tests did not run"
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self._ran:
            return
        reason = self._not_checked_because()
        if reason is not None:
            self._verdict = [f"FSM event coverage: not checked, {reason}"]
            return
        every = {event.value for event in Event}
        exempt = {event.value for event in E2E_ONLY}
        missing = sorted(every - exempt - set(self._fired))
        stale = sorted(exempt & set(self._fired))
        unknown = sorted(set(self._fired) - every)
        self._failed = bool(missing or stale or unknown)
        self._verdict = [
            f"FSM event coverage: {len(every - exempt) - len(missing)} of {len(every - exempt)} events fired "
            f"by {len(self._ran)} tests in-process"
            + (f"; end-to-end only: {', '.join(sorted(exempt))}" if exempt else "")
        ]
        if missing:
            self._verdict.append(f"  never fired by a test: {', '.join(missing)}")
        if stale:
            self._verdict.append(f"  fired in-process after all, drop from E2E_ONLY: {', '.join(stale)}")
        if unknown:
            self._verdict.append(f"  persisted but not an Event: {', '.join(unknown)}")
        if self._config.option.verbose > 0:
            for event in sorted(every):
                tests = sorted(self._fired.get(event, ()))
                where = f"{len(tests)} tests, e.g. {tests[0].removeprefix(self._prefix)}" if tests else "none"
                self._verdict.append(f"  {event}: {where}")
        if self._failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for n, line in enumerate(self._verdict):
            terminalreporter.write_line(line, red=self._failed and n > 0, bold=n == 0)
