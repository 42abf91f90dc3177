"""Leader/follower group commit, shared by the PostgreSQL and Django backends.

Concurrent ``store`` calls of one process queue their item; the first caller
to find no batch in progress leads: it takes everything queued, writes it with
one statement and one commit, and wakes each follower with its own result (or
its own exception). The next queued caller then leads the next batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from boltcall_webhooks.inbox._backend import NewDelivery

__all__ = ["GroupCommit", "Waiter"]

R = TypeVar("R")


class Waiter(Generic[R]):
    """One store waiting for the batch that holds it; the writer sets ``result`` or ``error``."""

    __slots__ = ("done", "error", "item", "lead", "result")

    def __init__(self, item: NewDelivery) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[R]):
    """Batches concurrent writes of one process: one statement and one commit per batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._queue: list[Waiter[R]] = []
        self._leading = False

    def submit(self, item: NewDelivery, write: Callable[[list[Waiter[R]]], None]) -> R | None:
        """Queue ``item``; lead or wait for the batch that writes it; its result.

        ``write(batch)`` must set each waiter's ``result`` or ``error`` and then
        ``done`` (followers wake on it).

        Raises:
            BaseException: The error ``write`` recorded for this item.
        """
        waiter: Waiter[R] = Waiter(item)
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's queue is not ours
                self._pid, self._queue, self._leading = os.getpid(), [], False
            self._queue.append(waiter)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            waiter.done.wait()
        if lead or waiter.lead:
            with self._lock:
                batch, self._queue = self._queue, []
            try:
                write(batch)
            finally:
                with self._lock:
                    if self._queue:
                        successor = self._queue[0]
                        successor.lead = True
                        successor.done.set()
                    else:
                        self._leading = False
        if waiter.error is not None:
            raise waiter.error
        return waiter.result
