"""`server.gcpause`: the collector paused while a start loads its modules, back when the
last holder resumes, and after the backstop whatever happens."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from server import gcpause


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process that has not paused yet; the collector as it was afterwards."""
    monkeypatch.setattr(gcpause._State, "lock", threading.Lock())
    monkeypatch.setattr(gcpause._State, "holders", 0)
    monkeypatch.setattr(gcpause._State, "started", False)
    monkeypatch.setattr(gcpause._State, "backstop", None)
    was = gc.isenabled()
    try:
        yield
    finally:
        if gcpause._State.backstop is not None:
            gcpause._State.backstop.cancel()
        gc.enable() if was else gc.disable()


def test_collection_comes_back_when_the_last_holder_resumes() -> None:
    gcpause.pause()  # the command line
    assert gcpause.pause_if_started()  # litellm's import
    assert not gc.isenabled() and gcpause._State.holders == 2
    gcpause.resume()  # initialize answered
    assert not gc.isenabled()
    gcpause.resume()  # the import done
    assert gc.isenabled() and gcpause._State.holders == 0
    gcpause.resume()  # one too many does nothing
    assert gc.isenabled()


def test_a_process_that_did_not_pause_at_start_keeps_its_collector() -> None:
    """A test process or a library user imports litellm with its own collector."""
    assert not gcpause.pause_if_started()
    assert gc.isenabled()


def test_the_backstop_brings_collection_back_whatever_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpause, "BACKSTOP", 0.05)
    gcpause.pause()
    gcpause.pause()
    deadline = time.monotonic() + 5
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc.isenabled() and gcpause._State.holders == 0
    assert not gcpause.pause_if_started()  # too late: the import collects as it goes


def test_collect_and_freeze_frees_the_loaders_cycles_and_freezes_the_rest() -> None:
    gcpause.pause()

    class Node:
        def __init__(self) -> None:
            self.me = self

    for _ in range(1000):
        Node()  # cyclic garbage a loader leaves
    before = gc.get_freeze_count()
    gcpause.resume(collect_and_freeze=True)
    try:
        assert gc.isenabled()
        assert not [o for o in gc.get_objects() if isinstance(o, Node)]
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
