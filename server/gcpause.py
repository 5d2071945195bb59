"""The cyclic garbage collector paused while the process loads its modules.

A start imports thousands of classes (lsprotocol, pydantic, the protocol models, and
litellm's ~500,000 objects on its own thread), and each full collection on the way walks
all of them again while almost nothing is garbage: ~60 ms of the way to the `initialize`
result, ~1.2 s of litellm's import and warm-up (`python bench/run.py --only costs`).

Whoever loads holds a pause (`pause`/`resume`); collection comes back when the last one
resumes, and after `BACKSTOP` seconds whatever happens, so that a client that never
initializes, or an import that never ends, cannot make garbage pile up. The sidecar
resumes once its runtime is built (after the `initialize` result is out: turning
collection back on sooner would make the next allocation walk everything the start
allocated, ~70 ms, before the result is written), and litellm's import once it is warm.
Each collects what its loading left, then freezes the rest: later full collections skip
those objects (`gc.freeze`), which keeps them short in long sessions.
"""

from __future__ import annotations

import gc
import threading

BACKSTOP = 10.0
"""Seconds after the first pause when collection comes back in any case."""


class _State:
    lock = threading.RLock()  # a finalizer run by a collection may pause or resume
    holders = 0
    started = False
    backstop: threading.Timer | None = None


def pause() -> None:
    """One more holder; collection stops until every holder resumes (or the backstop).
    The command line's first call marks the process as one that pauses at start."""
    with _State.lock:
        _State.started = True
        _State.holders += 1
        gc.disable()
        if _State.backstop is None:
            _State.backstop = threading.Timer(BACKSTOP, _release_all)
            _State.backstop.daemon = True
            _State.backstop.start()


def resume(*, collect_and_freeze: bool = False) -> None:
    """One holder less (a resume without a pause does nothing). `collect_and_freeze`:
    first collect what the holder's loading left, and freeze what survives."""
    with _State.lock:
        if _State.holders == 0:
            return
        if collect_and_freeze:
            gc.collect()
            gc.freeze()
        _State.holders -= 1
        if _State.holders == 0:
            gc.enable()


def pause_if_started() -> bool:
    """`pause`, in a process that paused at start (the sidecar; not a test process or a
    library user, whose collector is theirs); whether it paused."""
    with _State.lock:
        if not _State.started or _State.backstop is None or not _State.backstop.is_alive():
            return False
    pause()
    return True


def _release_all() -> None:
    with _State.lock:
        _State.holders = 0
        gc.enable()
