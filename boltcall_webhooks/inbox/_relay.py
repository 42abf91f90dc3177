"""Task queues as the place where handlers run, with the inbox as the transactional outbox.

The inbox stays the source of truth; a task queue (Celery, RQ, Dramatiq...) only
carries delivery **ids**:

1. After ``inbox.store`` commits, the storing process hands the id to the queue
   (:meth:`Relay.hand_off`: queued in memory, sent by a thread of the relay, so
   the request never waits for the broker and a broker that is down never fails
   a store).
2. A queue worker runs :func:`run_delivery`: it claims exactly that delivery with
   the inbox's lease and fencing, runs the handlers that have not yet succeeded
   (the built-in worker's code), records each success. A duplicate or stale
   message (the delivery is done, leased by a live worker, or not due) does
   nothing.
3. :meth:`Relay.run` (``boltcall-webhooks inbox relay``) hands off again what the
   queue lost: deliveries stored but still unclaimed after ``grace`` seconds
   (broker down, message lost, web process killed before sending), retries that
   became due (the inbox's backoff, never the queue's), and deliveries whose
   lease expired (their queue worker was killed).

Several relays, duplicate messages and late messages are all harmless: a
delivery runs only under a lease, and only the lease holder can complete it.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from boltcall_webhooks._delivery import DeliveryState
from boltcall_webhooks.inbox._backend import Stored
from boltcall_webhooks.inbox._rules import InboxError, as_object
from boltcall_webhooks.inbox._worker import LeaseRenewer, RouterLike, process_claim

if TYPE_CHECKING:
    from boltcall_webhooks.inbox import Inbox

__all__ = ["Relay", "RelayHandle", "run_delivery"]

logger = logging.getLogger("boltcall_webhooks.inbox")

_PURGE_EVERY = 3600.0  # seconds between a relay loop's automatic purges
_BUFFER = 100_000  # ids waiting for the broker in one process; older ones are left to the relay
_MAX_BACKOFF = 5.0  # seconds between two sends while the broker is unreachable
_MAX_GAP = 3600.0  # at most this long between two hand-offs of one waiting delivery

_renewers: weakref.WeakKeyDictionary[Inbox, tuple[int, LeaseRenewer]] = weakref.WeakKeyDictionary()
_renewers_lock = threading.Lock()


def _renewer(inbox: Inbox) -> LeaseRenewer:
    """This process's lease renewer for ``inbox`` (one thread, started on first use)."""
    with _renewers_lock:
        found = _renewers.get(inbox)
        if found is not None and found[0] == os.getpid():
            return found[1]
        renewer = LeaseRenewer(inbox, threading.Event(), purge=False)
        renewer.start()
        _renewers[inbox] = (os.getpid(), renewer)
        return renewer


def run_delivery(inbox: Inbox, router: RouterLike, delivery_id: int) -> bool:
    """Claim this delivery if it is due, run its handlers, record the outcome: a task's body.

    What a task-queue task calls with the id it was given. Handlers run exactly
    as in the built-in worker: only those that have not yet succeeded, each in a
    transaction with its success mark (and its writes through
    ``delivery.connection``), the lease renewed meanwhile; a failure goes back
    to ``pending`` with the inbox's backoff (a relay hands it off again when it
    is due), or ``dead`` at ``max_attempts``. Never raise for a handler's
    failure: the queue's own retries must stay off.

    Args:
        inbox: The inbox the delivery was stored in.
        router: The :class:`boltcall_webhooks.Router` whose handlers run.
        delivery_id: The id the relay handed off.

    Returns:
        ``True`` if this call claimed the delivery and ran it; ``False`` if there
        was nothing to do (done, dead, leased by a live worker, not due yet, or
        unknown): a duplicate or stale message.

    Raises:
        InboxError: The database failed (the delivery stays where it was; a
            relay hands it off again).
    """
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        msg = "delivery_id must be an int"
        raise TypeError(msg)
    worker = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
    claim = inbox.backend.claim_one(
        delivery_id,
        worker=worker,
        now=inbox.now(),
        lease=inbox.lease,
        max_attempts=inbox.max_attempts,
    )
    if claim is None:
        logger.debug("inbox: delivery %s: nothing to do (done, leased or not due)", delivery_id)
        return False
    process_claim(inbox, router, claim, _renewer(inbox))
    return True


class Relay:
    """Hands delivery ids to a task queue: after each store, and again when the queue lost one.

    ::

        relay = Relay(inbox, process_delivery.send)   # any queue: a function id -> None

    Creating it subscribes it to ``inbox``'s stores in this process
    (:meth:`Inbox.on_stored`): every delivery stored ``pending`` is handed off
    after its commit, by a thread of the relay (the request never waits for the
    broker). :meth:`run` is the loop that hands off what the queue lost; run it
    in one process (``boltcall-webhooks inbox relay --to MODULE:ATTR``) or in
    the background of one (:meth:`start`); more than one is harmless.

    Args:
        inbox: The inbox (the source of truth).
        send: Puts one delivery id on the queue (``task.delay``,
            ``actor.send``...); it may raise when the broker is unreachable.
        grace: Seconds a stored delivery may wait for a queue worker before the
            relay loop hands it off again (then after 2x, 4x... as long while it
            still waits). A backlog longer than this gets duplicate messages:
            harmless, the task does nothing for a delivery already done.
        interval: Seconds between two passes of the relay loop.
        batch: At most this many ids handed off by one pass.
        after_store: Subscribe to the inbox's stores (``False``: only the loop
            hands off, e.g. in a process that never stores).
        name: How logs name the queue.
    """

    def __init__(
        self,
        inbox: Inbox,
        send: Callable[[int], object],
        *,
        grace: float = 30.0,
        interval: float = 5.0,
        batch: int = 1000,
        after_store: bool = True,
        name: str = "the task queue",
    ) -> None:
        if not callable(as_object(send)):
            msg = "send must be a callable taking a delivery id"
            raise TypeError(msg)
        for option, value in (("grace", grace), ("interval", interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                msg = f"{option} must be a positive number of seconds"
                raise ValueError(msg)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            msg = "batch must be an int >= 1"
            raise ValueError(msg)
        self.inbox = inbox
        self.send = send
        self.grace: float = float(grace)
        self.interval: float = float(interval)
        self.batch = batch
        self.name = name
        # The loop's last hand-off of each id still waiting, and the wait before the next.
        self._sent_at: dict[int, tuple[float, float]] = {}
        #: Ids sent to the queue by this process so far (after stores and by the loop).
        self.handed_off: int = 0
        self._reset_sender()
        if after_store:
            inbox.on_stored(self._stored)

    def __repr__(self) -> str:
        return f"<Relay {self.inbox!r} -> {self.name}>"

    # -- after each store: a sender thread per process -----------------------------

    def _reset_sender(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._ids: collections.deque[int] = collections.deque()
        self._busy = False
        self._thread: threading.Thread | None = None

    def _stored(self, stored: Stored) -> None:
        if stored.state == DeliveryState.PENDING:
            self.hand_off(stored.id)

    def hand_off(self, delivery_id: int) -> None:
        """Queue ``delivery_id`` for the sender thread of this process; never blocks or raises.

        While the broker is unreachable, the thread keeps retrying (the ids wait
        in memory, at most 100,000); a process that dies meanwhile loses only
        messages: the relay loop hands those deliveries off again.
        """
        if os.getpid() != self._pid:  # forked (a web server's worker): a thread of our own
            self._reset_sender()
        with self._cond:
            if len(self._ids) >= _BUFFER:
                self._ids.popleft()  # the relay loop will find it
            self._ids.append(delivery_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._send_loop, name="boltcall-inbox-relay-sender", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _send_loop(self) -> None:
        failing_since: float | None = None
        delay = 0.05
        while True:
            with self._cond:
                while not self._ids:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                delivery_id = self._ids[0]
                self._busy = True
            try:
                self.send(delivery_id)
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning(
                        "inbox: handing delivery %s to %s failed (%s); the deliveries stay "
                        "stored and are handed off when it answers again",
                        delivery_id,
                        self.name,
                        type(exc).__name__,
                    )
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            with self._cond:
                if self._ids and self._ids[0] == delivery_id:
                    self._ids.popleft()
                self.handed_off += 1
            if failing_since is not None:
                logger.warning(
                    "inbox: %s reachable again after %.1f s; handing off resumed",
                    self.name,
                    time.monotonic() - failing_since,
                )
                failing_since, delay = None, 0.05

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until this process's hand-offs were sent; ``False`` if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._ids or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- the relay loop ------------------------------------------------------------

    def run_once(self) -> int:
        """One pass: hand off what the queue lost (see the class docstring); return how many.

        Sends in this thread. A delivery still waiting after a hand-off by the loop
        is handed off again after ``grace`` seconds, then after twice as long each
        time (at most hourly): a queue whose workers are down is not flooded.

        Raises:
            InboxError: The database failed.
        """
        now = self.inbox.now()
        ids = self.inbox.backend.handoff_due(
            now=now, fresh_before=now - self.grace, limit=self.batch
        )
        clock = time.monotonic()
        waiting = set(ids)
        sent_at = {i: last for i, last in self._sent_at.items() if i in waiting}
        count = 0
        for delivery_id in ids:
            at, gap = sent_at.get(delivery_id, (-math.inf, self.grace / 2))
            if clock - at < gap:
                continue
            try:
                self.send(delivery_id)
            except Exception as exc:
                logger.warning(
                    "inbox: relay: %s unreachable (%s); %d deliveries wait for it",
                    self.name,
                    type(exc).__name__,
                    len(ids) - count,
                )
                break
            sent_at[delivery_id] = (clock, min(gap * 2, _MAX_GAP))
            count += 1
            self.handed_off += 1
        self._sent_at = sent_at
        if count:
            logger.info("inbox: relay handed %d deliveries to %s again", count, self.name)
        return count

    def run(self, *, stop: threading.Event | None = None) -> None:
        """The relay loop: :meth:`run_once` every ``interval``, and the hourly purge.

        Runs until ``stop`` is set, or (in the main thread) SIGTERM/SIGINT.
        """
        stop = stop or threading.Event()
        restore: list[tuple[signal.Signals, Any]] = []
        if threading.current_thread() is threading.main_thread():

            def graceful(signum: int, _frame: FrameType | None) -> None:
                logger.info("inbox: relay: %s received, stopping", signal.Signals(signum).name)
                stop.set()

            for number in (signal.SIGTERM, signal.SIGINT):
                restore.append((number, signal.getsignal(number)))
                signal.signal(number, graceful)
        next_purge = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                    if time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + _PURGE_EVERY
                        self.inbox.purge()
                except InboxError as exc:
                    logger.warning("inbox: relay pass failed (retrying): %s", exc)
                stop.wait(self.interval)
        finally:
            for number, previous in restore:
                signal.signal(number, previous)

    def start(self) -> RelayHandle:
        """Run :meth:`run` in a background thread of this process (``handle.stop()``)."""
        return RelayHandle(self)


class RelayHandle:
    """A relay loop running in a background thread (:meth:`Relay.start`)."""

    def __init__(self, relay: Relay) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=relay.run, kwargs={"stop": self._stop}, name="boltcall-inbox-relay"
        )
        self._thread.daemon = True
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the loop's thread is alive."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop the loop after its current pass; ``True`` if it stopped within ``timeout``."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()
