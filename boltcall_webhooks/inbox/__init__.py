"""A durable inbox for verified deliveries: store, answer 200, process with retries.

::

    from boltcall_webhooks.inbox import Inbox

    inbox = Inbox("sqlite:///boltcall-inbox.sqlite3")   # or Inbox(): BOLTCALL_INBOX_URL
    stored = inbox.store(verified_body)               # durable when it returns
    inbox.work(router)                                # the worker loop (or the CLI)

Every delivery that got a 200 is processed at least once, or ends ``dead`` with its
error and traceback kept. See ``docs/inbox.md`` for the guarantees and the state
machine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from boltcall_webhooks._delivery import Delivery, DeliveryState
from boltcall_webhooks._errors import ConfigurationError, PayloadError
from boltcall_webhooks._events import Event
from boltcall_webhooks._parsing import parse_event
from boltcall_webhooks.inbox._backend import (
    Backend,
    DeliveryNotFoundError,
    LeaseLostError,
    NewDelivery,
    Stored,
)
from boltcall_webhooks.inbox._relay import Relay, RelayHandle, run_delivery
from boltcall_webhooks.inbox._rules import (
    URL_ENV_VAR,
    Backoff,
    Dedupe,
    InboxError,
    as_object,
    exponential_backoff,
    open_backend,
    resolve_backoff,
    resolve_dedupe,
)
from boltcall_webhooks.inbox._worker import RouterLike, WorkerHandle, run_worker

__all__ = [
    "URL_ENV_VAR",
    "Backoff",
    "Dedupe",
    "Delivery",
    "DeliveryNotFoundError",
    "DeliveryState",
    "Inbox",
    "InboxError",
    "LeaseLostError",
    "Relay",
    "RelayHandle",
    "Stored",
    "WorkerHandle",
    "exponential_backoff",
    "run_delivery",
]


logger: logging.Logger = logging.getLogger("boltcall_webhooks.inbox")

_MAX_KEY_CHARS = 1024  # longer dedupe keys fall back to the body's SHA-256 (index limits)
_MAX_TYPE_CHARS = 255  # event types are stored cut to this (the Django app's column)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _storable(text: str) -> bool:
    """Whether every backend can store ``text`` (valid UTF-8, no NUL)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _seconds(name: str, value: timedelta | float) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        msg = f"{name} must be a timedelta or a number of seconds"
        raise ConfigurationError(msg)
    if not (seconds > 0 and math.isfinite(seconds)):
        msg = f"{name} must be positive and finite"
        raise ConfigurationError(msg)
    return float(seconds)


class Inbox:
    """Durable storage of verified deliveries, and the workers that process them.

    Args:
        url: ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
            ``postgresql://...`` (extra ``[postgres]``); ``None`` reads
            ``BOLTCALL_INBOX_URL``. Nothing is opened until first use.
        max_attempts: Attempts before a delivery is ``dead`` (>= 1).
        backoff: ``attempt -> seconds`` before the next attempt; the default is
            exponential with full jitter (first retry within 10 s, at most 1 h).
        lease: Seconds a worker holds a delivery without renewing; renewed every
            third of it while a handler runs. A killed worker's delivery is claimed
            again after it expires.
        keep_bodies: Bodies of ``done`` deliveries are purged after this long.
        keep_keys: Dedupe keys (tombstones) are kept this long after ``done``, so a
            late dashboard re-send is still recognised.
        dedupe: ``"event"`` (``type:data.id:timestamp``, else the body's SHA-256),
            ``"body"`` (the SHA-256 always) or a callable ``(body, event) -> str``
            (``event`` is ``None`` for a non-envelope).
        clock: Returns the current aware ``datetime`` (tests pass a fake one).
        poll_interval: Seconds an idle worker waits before looking again (a store
            in the same process wakes it at once).
        backend_options: Options of the backend. SQLite: ``synchronous``
            (``"FULL"``) and ``busy_timeout`` (seconds, 10).

    Raises:
        ConfigurationError: No URL, a bad URL or a bad option.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_attempts: int = 8,
        backoff: Backoff | None = None,
        lease: timedelta | float = 300.0,
        keep_bodies: timedelta | float = timedelta(days=30),
        keep_keys: timedelta | float = timedelta(days=90),
        dedupe: Dedupe = "event",
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 1.0,
        **backend_options: Any,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            msg = "max_attempts must be an int >= 1"
            raise ConfigurationError(msg)
        self.max_attempts: int = max_attempts
        self.backoff: Backoff = resolve_backoff(backoff)
        self.lease: float = _seconds("lease", lease)
        self.keep_bodies: timedelta = timedelta(seconds=_seconds("keep_bodies", keep_bodies))
        self.keep_keys: timedelta = timedelta(seconds=_seconds("keep_keys", keep_keys))
        self.poll_interval: float = _seconds("poll_interval", poll_interval)
        self._key = resolve_dedupe(dedupe)
        self._custom_key = not isinstance(dedupe, str)
        if clock is not None and not callable(as_object(clock)):
            msg = "clock must be a callable returning an aware datetime"
            raise ConfigurationError(msg)
        self._clock = clock or _utc_now
        self._url, self._backend = open_backend(url, backend_options)
        #: Set by every store in this process: idle workers of this process look at once.
        self.wakeup: threading.Event = threading.Event()
        self._stored_listeners: list[Callable[[Stored], object]] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_pid = 0
        self._executor_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Inbox({self._url!r})"

    @property
    def url(self) -> str:
        """The inbox URL, any password replaced by ``***``."""
        return self._url

    @property
    def backend(self) -> Backend:
        """The storage backend (internal interface; for tests and tools)."""
        return self._backend

    def now(self) -> float:
        """The inbox clock's current time as POSIX seconds."""
        moment = self._clock()
        if moment.utcoffset() is None:
            msg = "the inbox clock returned a naive datetime"
            raise ConfigurationError(msg)
        return moment.timestamp()

    # -- storing -------------------------------------------------------------------

    def _prepare(
        self, body: bytes, parsed: Event | None = None, refused: str | None = None
    ) -> NewDelivery:
        if not isinstance(as_object(body), (bytes, bytearray, memoryview)):
            msg = "the body must be bytes (the raw request body)"
            raise TypeError(msg)
        body = bytes(body)
        event: Event | None
        error: str | None = None
        if parsed is not None:  # parsed by the endpoint that verified it: not parsed again
            event = parsed
        else:
            try:
                event = parse_event(body)
            except PayloadError as exc:
                event, error = None, f"PayloadError: {exc}"
        try:
            key = self._key(body, event)
        except Exception as exc:
            msg = f"the dedupe callable failed: {type(exc).__name__}"
            raise InboxError(msg) from exc
        # A signed body whose data.id (or type) holds a lone surrogate or a NUL ("\ud800"
        # is valid JSON): no database stores such text, and in a group commit the failure
        # took the other deliveries of the batch with it. A key of kilobytes: PostgreSQL's
        # unique index refuses it. Either way a 503 on every re-send.
        if self._custom_key:
            if not _storable(key):
                msg = "the dedupe callable returned a key with a lone surrogate or a NUL"
                raise InboxError(msg)
        elif not _storable(key) or len(key) > _MAX_KEY_CHARS:
            key = "sha256:" + hashlib.sha256(body).hexdigest()
        # Refused by its endpoint (strict parsing): kept dead, with no type, so that
        # neither a worker nor a re-send (which re-arms only typed dead rows) runs it.
        event_type = None if event is None or refused is not None else event.type
        error = refused if refused is not None else error
        if event_type is not None:
            if not _storable(event_type):
                event_type = event_type.encode("utf-8", "backslashreplace").decode("utf-8")
                event_type = event_type.replace("\x00", "\\x00")
            event_type = event_type[:_MAX_TYPE_CHARS]  # the body keeps it whole
        return NewDelivery(
            key=key,
            event_type=event_type,
            body=body,
            received_at=self.now(),
            error=error,
        )

    def store(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        refused: str | None = None,
    ) -> Stored:
        """Store a body that was ALREADY VERIFIED; return once it is durably committed.

        A body that is not an event envelope is stored ``dead`` with its parse error
        (it is genuine and will not come again). A key already stored: nothing new is
        stored, its ``duplicates`` grows, and a ``dead`` delivery is re-armed
        (``pending``, attempts reset).

        Args:
            body: The raw request body.
            headers: The request headers (not stored; accepted so that endpoints
                hand over what they have).
            refused: Why the endpoint refused this genuine body (``"PayloadError:
                ..."``: not an envelope, or a field of the wrong type under
                ``strict=True``). It is stored ``dead`` with this error and no event
                type: no worker runs it, a re-send does not re-arm it, and
                :meth:`replay` runs it if a person decides to.

        Raises:
            InboxError: Not stored (the endpoint answers 503).
        """
        del headers
        stored = self._backend.store(self._prepare(body, refused=refused))
        self.wakeup.set()
        self._after_store(stored)
        return stored

    async def store_async(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        refused: str | None = None,
    ) -> Stored:
        """:meth:`store` for async code: the event loop is never blocked."""
        del headers
        if type(self._backend).store_async is Backend.store_async:
            # Parse and store in one hop to threads of our own: enough of them that
            # concurrent requests meet in one group commit (the loop's default
            # executor has only a few threads).
            self._backend.refuse_in_handler("store_async")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._store_executor(), self._store_on_thread, body, refused
            )
        stored = await self._backend.store_async(self._prepare(body, refused=refused))
        self.wakeup.set()
        self._after_store(stored)
        return stored

    async def _store_verified_async(self, body: bytes, event: Event) -> Stored:
        """:meth:`store_async` of a body an endpoint verified and parsed into ``event``.

        The same as ``store_async(body)`` (``event`` is what ``parse_event(body)``
        returns), without parsing the body a second time on the event loop.
        """
        if type(self._backend).store_async is Backend.store_async:
            return await self.store_async(body)
        stored = await self._backend.store_async(self._prepare(body, event))
        self.wakeup.set()
        self._after_store(stored)
        return stored

    def on_stored(self, listener: Callable[[Stored], object]) -> None:
        """Call ``listener(stored)`` after every committed :meth:`store` in this process.

        It runs in the storing thread, before the endpoint answers: it must be
        quick (a task-queue relay only queues the id for a thread of its own). An
        exception it raises is logged and never fails the store.
        """
        self._stored_listeners.append(listener)

    def _after_store(self, stored: Stored) -> None:
        for listener in self._stored_listeners:
            try:
                listener(stored)
            except Exception:  # the delivery is stored: the 200 must not depend on this
                logger.exception("inbox: a store listener failed for delivery %s", stored.id)

    def _store_on_thread(self, body: bytes, refused: str | None = None) -> Stored:
        try:
            return self.store(body, refused=refused)
        finally:
            self._backend.release_thread()

    def _store_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._backend.store_threads,
                    thread_name_prefix="boltcall-inbox-store",
                )
                self._executor_pid = os.getpid()
            return self._executor

    # -- working -------------------------------------------------------------------

    def work(self, router: RouterLike, *, concurrency: int = 1, once: bool = False) -> int:
        """Run the worker loop in this process until SIGTERM/SIGINT (or until idle if ``once``).

        Claims due deliveries with a lease, runs the handlers of
        ``router.handlers_for(event)`` that have not yet succeeded for the
        delivery, each in a transaction with its success mark (and its writes
        through ``delivery.connection``); a failure goes back to ``pending`` with
        the backoff, or ``dead`` at ``max_attempts``. SIGTERM or SIGINT (when
        called from the main thread) stops it gracefully: running handlers finish,
        nothing is left leased.

        Args:
            router: A :class:`boltcall_webhooks.Router`.
            concurrency: Worker threads.
            once: Process what is due now, then return.

        Returns:
            The number of deliveries processed.

        Raises:
            InboxError: With ``once``: the database failed.
        """
        return run_worker(self, router, concurrency=concurrency, once=once)

    def start_worker(self, router: RouterLike, *, concurrency: int = 1) -> WorkerHandle:
        """Run the worker loop in background threads of this process (``handle.stop()``).

        The one-process setup for small apps: still durable, since every delivery
        was stored before its 200. Start it after a server forks (in each worker
        process), not before.
        """
        return WorkerHandle(self, router, concurrency=concurrency)

    # -- reading and repair --------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema (``store`` and ``work`` also do it on first use)."""
        self._backend.migrate()

    def get(self, delivery_id: int) -> Delivery:
        """The delivery with this id (body included while kept).

        Raises:
            DeliveryNotFoundError: No such delivery.
        """
        delivery = self._backend.get(delivery_id)
        if delivery is None:
            msg = f"no delivery with id {delivery_id}"
            raise DeliveryNotFoundError(msg)
        return delivery

    def list(
        self,
        *,
        state: DeliveryState | str | None = None,
        type: str | None = None,  # noqa: A002 (the contract's name)
        limit: int = 50,
    ) -> list[Delivery]:
        """Deliveries, newest first, optionally of one state and/or one event type."""
        wanted = None if state is None else DeliveryState(state)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            msg = "limit must be an int >= 0"
            raise ValueError(msg)
        return self._backend.list(state=wanted, event_type=type, limit=limit)

    def stats(self) -> dict[str, int]:
        """How many deliveries are in each state (every state listed, zeros included)."""
        return self._backend.stats()

    def replay(self, delivery_id: int) -> Delivery:
        """Run a delivery again from scratch: any state -> ``pending``, attempts reset.

        Every handler runs again (recorded successes are forgotten); a worker still
        running it loses its lease.

        Raises:
            DeliveryNotFoundError: No such delivery.
            InboxError: Its body was purged.
        """
        delivery = self._backend.replay(delivery_id, now=self.now())
        self.wakeup.set()
        return delivery

    def replay_dead(self) -> int:
        """:meth:`replay` every ``dead`` delivery that still has its body; return how many."""
        count = self._backend.replay_dead(now=self.now())
        self.wakeup.set()
        return count

    def purge(self, *, older_than: timedelta | float | None = None) -> int:
        """Remove the bodies of ``done`` deliveries finished more than ``older_than`` ago.

        Their keys stay as tombstones (a late re-send is still a duplicate) until
        ``keep_keys``, when the rows are deleted. Other states are never purged.
        Workers run it hourly with the default.

        Args:
            older_than: A ``timedelta`` or seconds; ``None``: ``keep_bodies``.

        Returns:
            The number of bodies removed.
        """
        age = self.keep_bodies.total_seconds()
        if older_than is not None:
            age = _seconds("older_than", older_than)
        now = self.now()
        return self._backend.purge(
            bodies_before=now - age, keys_before=now - self.keep_keys.total_seconds()
        )

    def close(self) -> None:
        """Close this process's database connections (they reopen on next use)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None and self._executor_pid == os.getpid():
            executor.shutdown(wait=True)
        self._backend.close()
