"""Crash points: places where a test makes the process die by ``SIGKILL`` (tests only).

A test sets ``BOLTCALL_INBOX_CRASH_AT`` to one of :data:`CRASH_POINTS` (or
``"name:N"`` to die on the N-th time that point is reached) in the environment of
the process it wants killed. Without the variable every :func:`crash_point` call
is a no-op (one cached environment read at import).
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_POINTS", "crash_point"]

#: Every named point, in the order a delivery meets them.
CRASH_POINTS = (
    "before_insert",  # store(): nothing written yet
    "after_insert",  # store(): row inserted, transaction not committed
    "after_commit",  # store(): committed, the endpoint has not answered yet
    "after_claim",  # worker: the delivery is leased, no handler has run
    "after_handler",  # worker: a handler returned, its success is not marked
    "during_purge",  # purge(): some bodies removed, the rest not yet
)

_ENV = "BOLTCALL_INBOX_CRASH_AT"


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, nth = value.partition(":")
    if name not in CRASH_POINTS:
        msg = f"{_ENV} names no crash point: {name!r} (known: {', '.join(CRASH_POINTS)})"
        raise ValueError(msg)
    return name, int(nth) if nth else 1


_TARGET = _parse(os.environ.get(_ENV))
_hits = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Kill this process with ``SIGKILL`` if the environment asks for it here.

    Args:
        name: One of :data:`CRASH_POINTS`.
    """
    global _hits  # noqa: PLW0603
    if _TARGET is None or _TARGET[0] != name:
        return
    with _lock:
        _hits += 1
        if _hits < _TARGET[1]:
            return
    os.kill(os.getpid(), signal.SIGKILL)
