"""The small interface every inbox backend implements (SQLite, PostgreSQL...).

A backend stores rows and enforces leases and fencing **atomically**; the rules
(backoff, dedupe keys, when to give up) are decided above it, in
:mod:`boltcall_webhooks.inbox._rules` and the worker, and handed down as plain
values. Times crossing this interface are POSIX timestamps (``float`` seconds,
UTC) taken from the inbox's clock, never the database's clock, so that tests can
drive time.

The state machine a backend must keep (one row per dedupe key)::

    store ──> pending ──claim──> processing ──finish──> done ──purge──> done, no body
                 ^                  │  │  │                              (tombstone)
                 │     fail (retry) │  │  └─ lease expired at claim time:
                 └──────────────────┘  │     attempts >= max_attempts -> dead,
                                       │     else claimed again (attempt + 1)
                  fail (no retry) ─────┴──> dead ──duplicate store / replay──> pending

A module implementing a backend exposes ``open_backend(url: str, options: dict)
-> Backend``; ``options`` are the extra keyword arguments given to ``Inbox``
(the backend refuses unknown ones with ``ConfigurationError``). It must not
connect before first use (a web server may fork after creating the inbox), and
must be safe to call from many threads at once.

Every method raises :class:`InboxError` (or a subclass) for a database failure,
with a message that names no password, body or secret.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boltcall_webhooks._delivery import Delivery, DeliveryState
from boltcall_webhooks.inbox._rules import InboxError

__all__ = [
    "Backend",
    "Claim",
    "DeliveryNotFoundError",
    "LeaseLostError",
    "NewDelivery",
    "Stored",
]


class DeliveryNotFoundError(InboxError, LookupError):
    """No delivery has that id (CLI exit status 1)."""


class LeaseLostError(InboxError):
    """This worker's lease on a delivery was lost (expired and claimed again, or replayed).

    Raised by the backend's ``complete_handler`` after rolling back everything the
    handler wrote through ``delivery.connection``: the worker stops working on
    that delivery; whoever holds the lease now finishes it.
    """


@dataclass(frozen=True)
class NewDelivery:
    """A body to store, already verified, parsed and keyed by the inbox.

    Attributes:
        key: The dedupe key (unique in the inbox).
        event_type: The envelope's ``event``, ``None`` if the body is not an envelope.
        body: The raw body.
        received_at: When it arrived (POSIX seconds).
        error: ``None`` for an envelope (stored ``pending``, due at once); else the
            parse error (``"PayloadError: ..."``): stored ``dead`` with that error
            and ``finished_at = received_at``.
    """

    key: str
    event_type: str | None
    body: bytes
    received_at: float
    error: str | None = None


@dataclass(frozen=True)
class Stored:
    """What :meth:`Inbox.store` did with a body.

    Attributes:
        id: The delivery's id.
        key: Its dedupe key.
        duplicate: ``True`` if the key was already stored (nothing new was stored;
            the stored delivery's ``duplicates`` was incremented, and a ``dead`` one
            was re-armed).
        state: The delivery's state after this call.
    """

    id: int
    key: str
    duplicate: bool
    state: DeliveryState


@dataclass(frozen=True)
class Claim:
    """A delivery leased to one worker.

    Attributes:
        delivery: The row as claimed: ``state`` is ``processing`` and ``attempts``
            already counts this attempt (1 on the first). ``body`` is set.
        token: The fencing token: a number the backend bumped when it granted this
            lease. Every later write for this attempt names it, and the backend
            refuses the write if the row's token is no longer this one.
        succeeded: Names of the handlers whose success is already recorded for this
            delivery (they are not run again).
    """

    delivery: Delivery
    token: int
    succeeded: frozenset[str]


class Backend(abc.ABC):
    """Storage for one inbox. Subclasses implement every abstract method."""

    #: A short name for logs and reprs ("sqlite", "postgresql").
    name: str = "backend"
    #: Threads that :meth:`Inbox.store_async` stores on when :meth:`store_async` is not
    #: overridden: enough for concurrent requests to meet in one group commit.
    store_threads: int = 32

    @abc.abstractmethod
    def migrate(self) -> None:
        """Create the schema, or upgrade it to this version; idempotent and concurrency-safe.

        Several processes may call it at once on a new database; all must succeed.
        ``store`` and ``claim`` must work on a fresh database without an explicit
        call (the backend migrates once on first use).
        """

    @abc.abstractmethod
    def store(self, item: NewDelivery) -> Stored:
        """Store ``item`` durably, or count it as a duplicate; return only after the commit.

        Insert if ``item.key`` is new: state ``pending`` with ``next_attempt_at =
        received_at`` and ``attempts = 0`` (or ``dead`` with ``last_error =
        item.error`` when ``item.error`` is set). If the key exists: increment the
        stored row's ``duplicates``; if that row is ``dead`` and has an ``event_type``
        and a body, re-arm it (``pending``, ``attempts = 0``, ``next_attempt_at =
        item.received_at``, ``finished_at`` cleared; ``last_error`` kept for the
        record; handler successes kept, so only handlers that never succeeded run);
        change nothing else. One atomic statement (an upsert), so that two
        concurrent stores of one key give one row and one duplicate.

        Concurrent calls from many threads should share commits (group commit):
        the durable flush is the cost, and a batch pays it once. Each caller still
        gets its own :class:`Stored`, or its own exception.

        ``crash_point("before_insert")`` must be called before writing,
        ``crash_point("after_insert")`` after the insert and before the commit,
        ``crash_point("after_commit")`` after the commit.

        Raises:
            InboxError: The delivery may not be stored (the caller answers 503).
        """

    def refuse_in_handler(self, action: str) -> None:  # noqa: B027 - a no-op by default
        """Raise :class:`InboxError` if this thread is inside a handler's open transaction.

        Called before a write is handed to another thread (``store_async``): there it
        would wait for the lock this thread's transaction holds. The default does
        nothing (a backend whose handlers' writes do not lock out other writers).
        """

    def release_thread(self) -> None:  # noqa: B027 - a no-op by default
        """Called on a ``store_async`` thread after each store: free what it holds, if due.

        The Django backend closes the thread's connection as Django would at the end
        of a request (``CONN_MAX_AGE``, an unusable connection); the default does nothing.
        """

    async def store_async(self, item: NewDelivery) -> Stored:
        """:meth:`store` without blocking the event loop (default: in a worker thread).

        A backend with a native async driver overrides it.
        """
        return await asyncio.to_thread(self.store, item)

    @abc.abstractmethod
    def claim(
        self, *, worker: str, now: float, lease: float, max_attempts: int, limit: int = 1
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries to ``worker``, in one transaction.

        Due: ``pending`` with ``next_attempt_at <= now``, or ``processing`` with
        ``lease_expires_at <= now`` (its worker died or hung: that attempt counts).
        An expired row with ``attempts >= max_attempts`` is not claimed but set
        ``dead`` (``last_error``: ``"LeaseExpired: ..."``, ``finished_at = now``).
        Each claimed row: ``state = processing``, ``attempts + 1``, ``lease_owner =
        worker``, ``lease_expires_at = now + lease``, ``next_attempt_at`` cleared,
        and a NEW token greater than any the row had (fencing). Rows leased to
        another live worker are never returned (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``). Oldest due first.
        """

    def claim_one(
        self, delivery_id: int, *, worker: str, now: float, lease: float, max_attempts: int
    ) -> Claim | None:
        """Lease this one delivery to ``worker`` if it is claimable now; else ``None``.

        For task queues (:mod:`boltcall_webhooks.celery`, :mod:`boltcall_webhooks.rq`):
        a task message names a delivery, and the task claims exactly that one. The
        rules are those of :meth:`claim` for one row: claimable when ``pending``
        with ``next_attempt_at <= now``, or ``processing`` with ``lease_expires_at <=
        now`` (an expired row with ``attempts >= max_attempts`` is set ``dead``
        instead, as :meth:`claim` does). ``None`` (nothing written) for a delivery
        that is done, dead, leased to a live worker, not yet due, or unknown: a
        duplicate or stale task message does nothing.
        """
        del delivery_id, worker, now, lease, max_attempts
        msg = f"the {self.name} inbox backend cannot hand deliveries to a task queue"
        raise InboxError(msg)

    def handoff_due(self, *, now: float, fresh_before: float, limit: int) -> list[int]:
        """Ids of the deliveries a relay should hand to a task queue again, oldest first.

        ``pending`` ones due by ``now`` that were already attempted (a retry: no
        one hands it off otherwise) or due by ``fresh_before`` (handed off after
        their store, yet still unclaimed: the message was lost, the broker was
        down, or the queue is slow), and ``processing`` ones whose lease expired
        by ``now`` (their queue worker died). At most ``limit``; read only.
        """
        del now, fresh_before, limit
        msg = f"the {self.name} inbox backend cannot hand deliveries to a task queue"
        raise InboxError(msg)

    @abc.abstractmethod
    def renew(self, delivery_id: int, token: int, *, now: float, lease: float) -> bool:
        """Extend the lease to ``now + lease`` if ``token`` still holds it; else ``False``."""

    @abc.abstractmethod
    def complete_handler(
        self,
        claim: Claim,
        handler: str,
        run: Callable[[Any], None],
        *,
        now: float,
        last: bool = False,
    ) -> None:
        """Run one handler and record its success in ONE transaction, fenced by the token.

        Calls ``run(connection)`` with the backend's own DB-API connection, inside a
        transaction (begun before ``run`` or, on SQLite, at the handler's first
        write, so a handler that does not write holds no lock); the handler's own
        writes go through that connection. After ``run`` returns, in the same
        transaction: check that the row's token is still ``claim.token`` (and the
        state ``processing``), insert the success ``(delivery_id, handler, now,
        attempt)``, commit. If ``run`` raises, roll back and re-raise its exception
        unchanged. If the token no longer matches, roll back (the handler's writes
        vanish) and raise :class:`LeaseLostError`.

        ``last=True`` (the last handler of an attempt in which none failed): also
        mark the delivery ``done`` in that same transaction, as :meth:`finish` does
        (one commit less per delivery).
        """

    @abc.abstractmethod
    def finish(self, claim: Claim, *, now: float) -> bool:
        """Mark the delivery ``done`` (``finished_at = now``, lease cleared) if the token holds.

        Returns:
            ``False`` (and nothing written) if the lease was lost.
        """

    @abc.abstractmethod
    def fail(
        self,
        claim: Claim,
        *,
        now: float,
        error: str,
        traceback: str,
        next_attempt_at: float | None,
    ) -> bool:
        """Record a failed attempt if the token holds: retry later, or give up.

        Sets ``last_error`` and ``last_traceback``, clears the lease; then
        ``pending`` due at ``next_attempt_at``, or ``dead`` (``finished_at = now``)
        when ``next_attempt_at`` is ``None``.

        Returns:
            ``False`` (and nothing written) if the lease was lost.
        """

    @abc.abstractmethod
    def release(self, claim: Claim, *, now: float) -> bool:
        """Give a claimed delivery back untouched (a worker stopping before running it).

        If the token holds: ``pending`` due ``now``, ``attempts - 1`` (this attempt
        never ran), lease cleared. Returns ``False`` if the lease was lost.
        """

    @abc.abstractmethod
    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery with this id (with its body, if kept), or ``None``."""

    @abc.abstractmethod
    def list(
        self, *, state: DeliveryState | None, event_type: str | None, limit: int
    ) -> list[Delivery]:
        """Deliveries, newest first (by id), filtered by state and type, bodies included."""

    @abc.abstractmethod
    def stats(self) -> dict[str, int]:
        """A count per state: every :class:`DeliveryState` value as a key, zeros included."""

    @abc.abstractmethod
    def replay(self, delivery_id: int, *, now: float) -> Delivery:
        """Any state -> ``pending`` due ``now``, attempts 0, every handler to run again.

        Deletes the delivery's handler successes, clears the lease and ``finished_at``,
        bumps the token (a worker still running it can no longer complete it).

        Raises:
            DeliveryNotFoundError: No such id.
            InboxError: Its body was purged (a tombstone cannot be processed).
        """

    @abc.abstractmethod
    def replay_dead(self, *, now: float) -> int:
        """:meth:`replay` every ``dead`` delivery that has a body; return how many."""

    @abc.abstractmethod
    def purge(self, *, bodies_before: float, keys_before: float) -> int:
        """Forget old ``done`` deliveries; never touch another state.

        Bodies of ``done`` rows with ``finished_at < bodies_before`` are removed (the
        row stays: its key is a tombstone that still dedupes); rows with
        ``finished_at < keys_before`` are deleted with their handler successes. May
        work in several short transactions (``crash_point("during_purge")`` between
        two); a crash leaves a consistent state.

        Returns:
            The number of bodies removed.
        """

    def wait_for_work(self, timeout: float, wake: threading.Event) -> None:
        """Block until work may be due: ``wake`` set (a store in this process) or ``timeout``.

        PostgreSQL overrides this to also return on a ``NOTIFY`` from a store in
        another process.
        """
        wake.wait(timeout)

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection this process opened (the backend reopens on next use)."""
