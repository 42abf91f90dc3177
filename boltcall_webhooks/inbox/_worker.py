"""The worker loop: claim a due delivery, run its handlers, record each success.

Apart from any backend: it speaks only the :class:`~._backend.Backend`
interface. Each worker thread claims one delivery at a time; one renewer thread
per loop extends the leases of the deliveries being run (every third of the
lease) and notices a lost lease; the same thread purges old bodies hourly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from boltcall_webhooks._delivery import Delivery
from boltcall_webhooks._errors import PayloadError
from boltcall_webhooks._events import Event
from boltcall_webhooks._parsing import parse_event
from boltcall_webhooks.inbox._backend import Claim, LeaseLostError
from boltcall_webhooks.inbox._crash import crash_point
from boltcall_webhooks.inbox._rules import InboxError

if TYPE_CHECKING:
    from boltcall_webhooks.inbox import Inbox

__all__ = [
    "HandlerLike",
    "LeaseRenewer",
    "RouterLike",
    "WorkerHandle",
    "process_claim",
    "run_worker",
]

logger = logging.getLogger("boltcall_webhooks.inbox")

_PURGE_EVERY = 3600.0  # seconds between the loop's automatic purges
_RETRY_AFTER_ERROR = 1.0  # seconds to wait after the database failed


class HandlerLike(Protocol):
    """What the worker needs of a router's handler (:class:`boltcall_webhooks.Handler`)."""

    @property
    def name(self) -> str:
        """The handler's stable name (its success is recorded under it)."""
        ...

    def run(self, event: Any, delivery: Delivery) -> None:
        """Run the handler to completion (sync; ``async def`` handlers included)."""
        ...


class RouterLike(Protocol):
    """What the worker needs of a router (:class:`boltcall_webhooks.Router`)."""

    def handlers_for(self, event: Any) -> list[Any]:
        """The handlers to run for ``event``, in order (each a :class:`HandlerLike`)."""
        ...


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class LeaseRenewer:
    """Renews the leases of running deliveries; records the ones that were lost."""

    def __init__(self, inbox: Inbox, stop: threading.Event, *, purge: bool) -> None:
        self._inbox = inbox
        self._stop = stop
        self._purge = purge
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._active: dict[int, Claim] = {}
        self._lost: set[int] = set()
        self._thread = threading.Thread(target=self._loop, name="boltcall-inbox-renewer")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Stop renewing (the worker threads are done) and wait for the thread."""
        self._quit.set()
        self._thread.join()

    def track(self, claim: Claim) -> None:
        with self._lock:
            self._active[self._key(claim)] = claim

    def untrack(self, claim: Claim) -> None:
        with self._lock:
            self._active.pop(self._key(claim), None)
            self._lost.discard(self._key(claim))

    def lost(self, claim: Claim) -> bool:
        with self._lock:
            return self._key(claim) in self._lost

    @staticmethod
    def _key(claim: Claim) -> int:
        return claim.delivery.id or 0

    def _loop(self) -> None:
        interval = max(0.05, min(self._inbox.lease / 3.0, 60.0))
        next_purge = time.monotonic()
        while not self._quit.wait(interval):
            with self._lock:
                claims = list(self._active.values())
            for claim in claims:
                try:
                    held = self._inbox.backend.renew(
                        self._key(claim),
                        claim.token,
                        now=self._inbox.now(),
                        lease=self._inbox.lease,
                    )
                except InboxError as exc:
                    logger.warning("inbox: renewing the lease of %s failed: %s", claim, exc)
                    continue
                if not held:
                    logger.warning(
                        "inbox: lease on delivery %s lost (expired and claimed again, or "
                        "replayed); this worker will not complete it",
                        claim.delivery.id,
                    )
                    with self._lock:
                        self._lost.add(self._key(claim))
            if self._purge and time.monotonic() >= next_purge and not self._stop.is_set():
                next_purge = time.monotonic() + _PURGE_EVERY
                try:
                    removed = self._inbox.purge()
                except InboxError as exc:
                    logger.warning("inbox: automatic purge failed: %s", exc)
                else:
                    if removed:
                        logger.info("inbox: purged %d bodies of done deliveries", removed)


class _Loop:
    def __init__(self, inbox: Inbox, router: RouterLike, *, concurrency: int, once: bool) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            msg = "concurrency must be an int >= 1"
            raise ValueError(msg)
        if not callable(getattr(router, "handlers_for", None)):
            msg = "router must be a boltcall_webhooks.Router (it has no handlers_for)"
            raise TypeError(msg)
        self.inbox = inbox
        self.router = router
        self.concurrency = concurrency
        self.once = once
        self.stop = threading.Event()
        self.count = 0
        self._count_lock = threading.Lock()
        self._seen: set[int] = set()
        self._renewer = LeaseRenewer(inbox, self.stop, purge=not once)
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._prefix = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        self._renewer.start()
        for number in range(self.concurrency):
            thread = threading.Thread(
                target=self._run_thread, name=f"boltcall-inbox-worker-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def request_stop(self) -> None:
        self.stop.set()
        self.inbox.wakeup.set()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            while thread.is_alive():
                left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
                if left <= 0:
                    return False
                thread.join(left)
        self.stop.set()
        self._renewer.join()
        return True

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def raise_errors(self) -> None:
        if self._errors:
            raise self._errors[0]

    # -- one thread ----------------------------------------------------------------

    def _run_thread(self) -> None:
        worker = f"{self._prefix}:{threading.current_thread().name}"
        inbox = self.inbox
        backend = inbox.backend
        while not self.stop.is_set():
            if not self.once:
                inbox.wakeup.clear()  # before claiming: no lost wake-up
            try:
                claims = backend.claim(
                    worker=worker,
                    now=inbox.now(),
                    lease=inbox.lease,
                    max_attempts=inbox.max_attempts,
                    limit=1,
                )
            except InboxError as exc:
                if self.once:
                    self._errors.append(exc)
                    self.stop.set()
                    return
                logger.warning("inbox: claiming failed (retrying): %s", exc)
                self.stop.wait(_RETRY_AFTER_ERROR)
                continue
            if not claims:
                if self.once:
                    return
                backend.wait_for_work(inbox.poll_interval, inbox.wakeup)
                continue
            claim = claims[0]
            delivery_id = claim.delivery.id or 0
            with self._count_lock:
                again = self.once and delivery_id in self._seen
                self._seen.add(delivery_id)
            if again or self.stop.is_set():
                self._release(claim)
                if again:
                    return
                break
            crash_point("after_claim")
            try:
                self._process(claim)
            except InboxError as exc:  # the lease expires and another attempt follows
                logger.warning("inbox: delivery %s left to its lease: %s", delivery_id, exc)
                if self.once:
                    self._errors.append(exc)
                    self.stop.set()
                    return
                self.stop.wait(_RETRY_AFTER_ERROR)
            except Exception:  # a bug (router, backend): log it, keep this thread alive
                logger.exception("inbox: delivery %s left to its lease", delivery_id)
                self.stop.wait(_RETRY_AFTER_ERROR)
            with self._count_lock:
                self.count += 1

    def _release(self, claim: Claim) -> None:
        try:
            self.inbox.backend.release(claim, now=self.inbox.now())
        except InboxError as exc:
            logger.warning(
                "inbox: releasing delivery %s failed (its lease will expire): %s",
                claim.delivery.id,
                exc,
            )

    def _process(self, claim: Claim) -> None:
        process_claim(self.inbox, self.router, claim, self._renewer)


def process_claim(inbox: Inbox, router: RouterLike, claim: Claim, renewer: LeaseRenewer) -> None:
    """Run the handlers of a claimed delivery that have not succeeded; record the outcome.

    Shared by the worker loop and the task-queue tasks: each handler in a fenced
    transaction with its success mark (the last one also marks the delivery
    ``done``), the lease renewed by ``renewer`` meanwhile; failures go back to
    ``pending`` with the backoff, or ``dead`` at ``max_attempts``; a lost lease
    stops the work (whoever holds the lease now finishes it).

    Raises:
        InboxError: The database failed (the lease expires; another attempt follows).
    """
    backend = inbox.backend
    delivery = claim.delivery
    try:
        if delivery.body is None:
            msg = f"delivery {delivery.id} has no body (purged)"
            raise PayloadError(msg)
        event = parse_event(delivery.body)
    except PayloadError as exc:  # cannot succeed on any retry: dead now
        backend.fail(
            claim,
            now=inbox.now(),
            error=_describe(exc),
            traceback="".join(traceback.format_exception_only(type(exc), exc)),
            next_attempt_at=None,
        )
        return
    handlers = [
        handler for handler in router.handlers_for(event) if handler.name not in claim.succeeded
    ]
    if not handlers:
        logger.debug("inbox: delivery %s: no handler to run", delivery.id)
        backend.finish(claim, now=inbox.now())
        return
    failures: list[tuple[str, BaseException, str]] = []
    interrupt: BaseException | None = None
    renewer.track(claim)
    try:
        for index, handler in enumerate(handlers):
            if renewer.lost(claim):
                raise LeaseLostError(f"lease on delivery {delivery.id} lost")
            last = index == len(handlers) - 1 and not failures
            try:
                backend.complete_handler(
                    claim,
                    handler.name,
                    _runner(handler, event, delivery),
                    now=inbox.now(),
                    last=last,
                )
            except LeaseLostError:
                raise
            except BaseException as exc:  # the handler's failure is recorded
                # BaseExceptions too (asyncio.CancelledError, SystemExit...): uncaught, one
                # would end this worker thread silently with the lease held, and every
                # worker that claims the delivery again would die the same way.
                logger.warning(
                    "inbox: handler %s failed on delivery %s (attempt %d): %s",
                    handler.name,
                    delivery.id,
                    delivery.attempts,
                    _storable(_describe(exc)),  # a log file is UTF-8 too
                )
                failures.append((handler.name, exc, traceback.format_exc()))
                if _interrupts(exc):
                    interrupt = exc
                    break
    except LeaseLostError:
        logger.warning(
            "inbox: lease on delivery %s lost; this worker stops working on it",
            delivery.id,
        )
        return
    finally:
        renewer.untrack(claim)
    if not failures:
        return  # the last handler's transaction marked it done
    error = _storable("; ".join(f"{name}: {_describe(exc)}" for name, exc, _ in failures))
    trace = _storable("\n".join(f"--- handler {name} ---\n{text}" for name, _, text in failures))
    now = inbox.now()
    if delivery.attempts >= inbox.max_attempts:
        next_attempt_at = None
        logger.error(
            "inbox: delivery %s is dead after %d attempts: %s",
            delivery.id,
            delivery.attempts,
            error,
        )
    else:
        next_attempt_at = now + inbox.backoff(delivery.attempts)
    if not backend.fail(
        claim, now=now, error=error, traceback=trace, next_attempt_at=next_attempt_at
    ):
        logger.warning(
            "inbox: lease on delivery %s lost before recording the failure", delivery.id
        )
    if interrupt is not None:
        raise interrupt  # recorded as a failed attempt; now stop as asked


def _storable(text: str) -> str:
    """``text`` made storable by every backend (lone surrogates and NUL escaped).

    A failure message quoting the event's data may hold them (valid JSON escapes);
    no database takes them as text, so the failure was never recorded and the
    delivery never became ``dead``, retried at each lease expiry forever.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _interrupts(exc: BaseException) -> bool:
    """A Ctrl-C or exit in the main thread (a task queue's task): record it, then stop."""
    return isinstance(exc, (KeyboardInterrupt, SystemExit)) and (
        threading.current_thread() is threading.main_thread()
    )


def _runner(handler: HandlerLike, event: Event, delivery: Delivery) -> Callable[[Any], None]:
    def run(connection: Any) -> None:
        view = dataclasses.replace(delivery, connection=connection)
        view.__dict__["event"] = event  # parsed once per attempt
        handler.run(event, view)
        crash_point("after_handler")

    return run


def run_worker(
    inbox: Inbox, router: RouterLike, *, concurrency: int = 1, once: bool = False
) -> int:
    """Run the worker loop in this thread (see :meth:`Inbox.work`); return the count."""
    loop = _Loop(inbox, router, concurrency=concurrency, once=once)
    restore: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread() and not once:

        def graceful(signum: int, _frame: FrameType | None) -> None:
            logger.info(
                "inbox: %s received: finishing the running handlers, then stopping",
                signal.Signals(signum).name,
            )
            loop.request_stop()
            for number, previous in restore:  # a second signal acts as usual
                signal.signal(number, previous)

        for number in (signal.SIGTERM, signal.SIGINT):
            restore.append((number, signal.getsignal(number)))
            signal.signal(number, graceful)
    try:
        loop.start()
        loop.join()
    finally:
        loop.request_stop()
        if threading.current_thread() is threading.main_thread():
            for number, previous in restore:
                signal.signal(number, previous)
    loop.raise_errors()
    return loop.count


class WorkerHandle:
    """Worker threads running in the background of this process (:meth:`Inbox.start_worker`)."""

    def __init__(self, inbox: Inbox, router: RouterLike, *, concurrency: int = 1) -> None:
        self._loop = _Loop(inbox, router, concurrency=concurrency, once=False)
        self._loop.start()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<WorkerHandle {state}, concurrency={self._loop.concurrency}>"

    @property
    def running(self) -> bool:
        """Whether any worker thread is still running."""
        return self._loop.alive

    @property
    def processed(self) -> int:
        """Deliveries processed (claimed and run) so far."""
        return self._loop.count

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop claiming; let running handlers finish; wait up to ``timeout`` seconds.

        Returns:
            ``True`` if every thread stopped in time (nothing is left leased).
        """
        self._loop.request_stop()
        return self._loop.join(timeout)
