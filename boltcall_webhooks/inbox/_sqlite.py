"""The SQLite inbox backend (standard library ``sqlite3`` only).

One file shared by every process of one host: gunicorn workers, worker
processes and their threads. WAL journal (readers never block the writer),
``synchronous=FULL`` by default (a commit survives power loss), ``BEGIN
IMMEDIATE`` for every write (no deadlock-prone lock upgrades), a busy timeout
for the moments another process holds the write lock. A connection per thread,
reopened after a fork.

Group commit: concurrent :meth:`SQLiteBackend.store` calls of one process share
one transaction and one fsync. The first caller that finds no commit running
becomes the leader: it takes every store queued so far, writes them in one
transaction (multi-row upserts; if one fails, row by row with a savepoint each,
so one bad row fails alone) and commits once; then it hands the lead to the
first store that queued meanwhile. A store returns only after the commit that
holds its row. When stores come concurrently (the last batch had several, or
more queued during its commit), a leader first lets the batch grow for up to
2 ms while it keeps growing: a commit costs an fsync and its CPU, and committing
at once on a busy server would write one or two rows per commit. A lone caller
never waits.

:meth:`SQLiteBackend.store_async` (the ASGI endpoints) never blocks the event
loop and costs no thread hop per call: it queues the delivery with a future of
its loop for ONE writer thread per process, which takes everything queued,
writes it in one transaction, commits once and resolves the whole batch's
futures with one ``call_soon_threadsafe`` per loop. The thread stops after a
few idle seconds and is started again by the next store (and anew after a fork).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from importlib import resources
from typing import Any, TypeVar

from boltcall_webhooks._delivery import Delivery, DeliveryState
from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks.inbox._backend import (
    Backend,
    Claim,
    DeliveryNotFoundError,
    LeaseLostError,
    NewDelivery,
    Stored,
)
from boltcall_webhooks.inbox._crash import crash_point
from boltcall_webhooks.inbox._rules import InboxError, sqlite_path

__all__ = ["SCHEMA_VERSION", "SQLiteBackend", "open_backend"]

logger = logging.getLogger("boltcall_webhooks.inbox")

SCHEMA_VERSION = 1
_T = "boltcall_inbox_deliveries"
_RUNS = "boltcall_inbox_handler_runs"
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_COLUMNS = (
    "id, key, state, event_type, received_at, attempts, next_attempt_at, "
    "last_error, last_traceback, duplicates, body"
)
_REARM = "state = 'dead' AND event_type IS NOT NULL AND body IS NOT NULL"
_UPSERT = f"""
INSERT INTO {_T} (key, state, event_type, body, received_at, next_attempt_at,
                  last_error, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    duplicates = duplicates + 1,
    state = CASE WHEN {_REARM} THEN 'pending' ELSE state END,
    attempts = CASE WHEN {_REARM} THEN 0 ELSE attempts END,
    next_attempt_at = CASE WHEN {_REARM} THEN excluded.received_at ELSE next_attempt_at END,
    finished_at = CASE WHEN {_REARM} THEN NULL ELSE finished_at END
RETURNING id, state, duplicates
"""
_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?)"
_CHUNKS = (256, 128, 64, 32, 16, 8, 4, 2, 1)  # rows per multi-row statement (8 parameters each)
_T_ = TypeVar("_T_")


def _chunks(values: Sequence[_T_]) -> list[Sequence[_T_]]:
    """``values`` cut into runs whose lengths are in :data:`_CHUNKS` (largest first)."""
    chunks: list[Sequence[_T_]] = []
    start = 0
    for size in _CHUNKS:
        while len(values) - start >= size:
            chunks.append(values[start : start + size])
            start += size
    return chunks


@functools.lru_cache(maxsize=len(_CHUNKS))
def _upsert_rows(count: int) -> str:
    """:data:`_UPSERT` for ``count`` rows in one statement, returning nothing.

    SQLite applies the rows in order: a key given twice is inserted by the first
    row and counted as a duplicate by the second.
    """
    head, _, tail = _UPSERT.partition(f"VALUES {_VALUES}")
    tail, _, _ = tail.partition("RETURNING")
    return f"{head}VALUES {', '.join([_VALUES] * count)}{tail}"


@functools.lru_cache(maxsize=len(_CHUNKS))
def _stored_rows(count: int) -> str:
    """One row of text: ``"position id state duplicates"`` of ``count`` keys, comma-joined."""
    keys = ", ".join(f"({position}, ?)" for position in range(count))
    return (
        "SELECT group_concat(k.column1 || ' ' || t.id || ' ' || t.state || ' ' || t.duplicates,"
        f" ',') FROM (VALUES {keys}) AS k JOIN {_T} AS t ON t.key = k.column2"
    )


_PURGE_BATCH = 500
# Expired leases whose worker used the last attempt: dead, never claimed again.
_BURY = (
    f"UPDATE {_T} SET state = 'dead', finished_at = ?, lease_owner = NULL,"
    " lease_expires_at = NULL, lease_token = lease_token + 1, last_traceback = NULL,"
    " last_error = 'LeaseExpired: the worker running attempt ' || attempts ||"
    " ' stopped renewing its lease (killed or hung); no attempts left'"
    " WHERE state = 'processing' AND lease_expires_at <= ? AND attempts >= ?"
)
# Claimable now (two parameters: now, now): due, or leased to a worker that stopped renewing.
_DUE = (
    "(state = 'pending' AND next_attempt_at <= ?)"
    " OR (state = 'processing' AND lease_expires_at <= ?)"
)


def open_backend(url: str, options: dict[str, Any]) -> SQLiteBackend:
    """The backend for a ``sqlite:///`` URL (see :func:`~._rules.sqlite_path`).

    Options: ``synchronous`` (``"FULL"`` by default; ``"NORMAL"`` may lose the
    last commits on power loss, never on a process crash) and ``busy_timeout``
    (seconds to wait for another process's write lock, 10 by default).
    """
    options = dict(options)
    synchronous = str(options.pop("synchronous", "FULL")).upper()
    busy_timeout = options.pop("busy_timeout", 10.0)
    if options:
        msg = f"unknown SQLite inbox option(s): {', '.join(sorted(options))}"
        raise ConfigurationError(msg)
    if synchronous not in _SYNCHRONOUS:
        msg = f"synchronous must be one of {', '.join(_SYNCHRONOUS)}"
        raise ConfigurationError(msg)
    if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
        msg = "busy_timeout must be a number of seconds"
        raise ConfigurationError(msg)
    if not busy_timeout >= 0:
        msg = "busy_timeout must be >= 0"
        raise ConfigurationError(msg)
    return SQLiteBackend(sqlite_path(url), synchronous=synchronous, busy_timeout=busy_timeout)


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    received = _moment(row[4])
    assert received is not None  # NOT NULL column
    return Delivery(
        id=row[0],
        key=row[1],
        state=DeliveryState(row[2]),
        event_type=row[3],
        received_at=received,
        attempts=row[5],
        next_attempt_at=_moment(row[6]),
        last_error=row[7],
        last_traceback=row[8],
        duplicates=row[9],
        body=None if row[10] is None else bytes(row[10]),
    )


_STATES = {state.value: state for state in DeliveryState}


def _params(item: NewDelivery) -> tuple[Any, ...]:
    """The parameters of :data:`_UPSERT` for one delivery."""
    if item.error is None:
        return (
            item.key, "pending", item.event_type, item.body,
            item.received_at, item.received_at, None, None,
        )  # fmt: skip
    return (
        item.key, "dead", item.event_type, item.body,
        item.received_at, None, item.error, item.received_at,
    )  # fmt: skip


def _error(action: str, exc: BaseException) -> InboxError:
    # sqlite3 messages name SQL and files, never a bound value (bodies are bound values).
    return InboxError(f"SQLite inbox: {action} failed: {type(exc).__name__}: {exc}")


def _schema_statements() -> list[str]:
    text = resources.files("boltcall_webhooks.inbox.sql").joinpath("sqlite_schema.sql")
    statements: list[str] = []
    current = ""
    for line in text.read_text(encoding="utf-8").splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


class _Holder:
    """Owns one thread's connection; collected (and the connection closed) with the thread."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def _refuse_nested(conn: sqlite3.Connection, action: str) -> None:
    """Refuse to write from inside a handler's open transaction (same thread, same connection).

    Committing there would commit the handler's half-done writes, rolling back
    would silently drop them: neither is acceptable, so the call fails instead.
    """
    if conn.in_transaction:
        msg = (
            f"SQLite inbox: {action} called inside a handler that has written through "
            "delivery.connection; call it before the handler's first write"
        )
        raise InboxError(msg)


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:  # pragma: no cover - closing never fails in practice
        logger.debug("SQLite inbox: close failed", exc_info=True)


class _Slot:
    """One store in a batch: its delivery, then its result or its own error."""

    __slots__ = ("error", "item", "result")

    def __init__(self, item: NewDelivery) -> None:
        self.item = item
        self.result: Stored | None = None
        self.error: BaseException | None = None


class _Waiter(_Slot):
    """A :meth:`SQLiteBackend.store` call (a thread) waiting for its batch's commit.

    ``done`` is a lock taken at creation (cheaper than an ``Event``): the thread
    blocks acquiring it again. After a commit the leader releases the first
    waiter of the batch only, and each waiter, once awake, releases ``next``: a
    relay. Waking 31 threads in a row from the thread holding the GIL made each
    woken thread preempt it (2.7 context switches per store at 32 writers, 1.4
    with the relay). ``finished`` is set before the relay starts: a waiter also
    looks at it every ``_RELAY_TIMEOUT``, so that one thread that stopped waiting
    (an exception in ``acquire``) never strands the rest of the relay.
    """

    __slots__ = ("done", "finished", "lead", "next")

    def __init__(self, item: NewDelivery) -> None:
        super().__init__(item)
        self.done = threading.Lock()
        self.done.acquire()
        self.lead = False
        self.finished = False
        self.next: _Waiter | None = None


class _AsyncWaiter(_Slot):
    """A :meth:`SQLiteBackend.store_async` call: settled on its own event loop."""

    __slots__ = ("future", "loop")

    def __init__(
        self, item: NewDelivery, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Stored]
    ) -> None:
        super().__init__(item)
        self.loop = loop
        self.future = future


def _let_grow(queued: Callable[[], int]) -> None:
    """Before a commit of concurrent stores: wait while more keep coming.

    Every commit costs an fsync and its CPU in the kernel (0.1-0.2 ms of CPU on
    the disks measured); a busy server hands over a store every few tenths of a
    millisecond, so committing at once would write one or two rows per commit.
    Sleeps in steps of ``_GATHER_STEP`` while ``queued()`` grows, for at most
    ``_GATHER_MAX`` (the latency a store may gain) or up to ``_MAX_BATCH`` stores.
    """
    size = queued()
    deadline = time.monotonic() + _GATHER_MAX
    while size < _MAX_BATCH and time.monotonic() < deadline:
        time.sleep(_GATHER_STEP)
        grown = queued()
        if grown == size:  # nobody else is storing right now
            return
        size = grown


def _resolve(waiters: list[_AsyncWaiter]) -> None:
    """Settle the futures of one batch (on their loop, in one callback)."""
    for waiter in waiters:
        future = waiter.future
        if future.done():  # the awaiting request was cancelled (client gone)
            continue
        if waiter.error is not None:
            future.set_exception(waiter.error)
        else:
            future.set_result(waiter.result)  # type: ignore[arg-type]


_GATHER_STEP = 0.0005  # seconds: a busy writer looks again whether more stores came
_GATHER_MAX = 0.002  # seconds: the most a busy writer waits for more before committing
_MAX_BATCH = 1000  # stores: a batch this large is committed without waiting
_POLL_IDLE = 0.05  # seconds: a busy writer polls this long for the next store, then blocks
_RELAY_TIMEOUT = 0.05  # seconds: a waiting store also looks whether its batch is done
_WRITER_IDLE = 5.0  # seconds the store_async writer thread waits for work before it ends


class SQLiteBackend(Backend):
    """Stores deliveries in one SQLite file (see the module docstring).

    Attributes:
        path: The file.
        store_commits: Commits made by :meth:`store` in this process (tests read it
            to see that group commit batches).
    """

    name = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "FULL", busy_timeout: float = 10.0):
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout = float(busy_timeout)
        self.store_commits = 0
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        # One finalizer per connection: it closes the connection when its thread ends
        # (the thread-local holder is dropped), on close(), or at garbage collection.
        self._closers: set[weakref.finalize[Any, Any]] = set()
        self._lock = threading.Lock()
        self._migrated = False
        self._batch_lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False
        self._sync_busy = False
        self._async_lock = threading.Lock()
        self._async_wake = threading.Condition(self._async_lock)
        self._async_queue: list[_AsyncWaiter] = []
        self._writer: threading.Thread | None = None
        self._writer_waiting = False

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.path!r}, synchronous={self._synchronous!r})"

    # -- connections ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:  # forked: never touch the parent's connections
            self._reset()
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            return holder.conn
        conn = None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level="IMMEDIATE",  # a handler's first write begins IMMEDIATE
                check_same_thread=False,
                cached_statements=64,
            )
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            if conn is not None:
                _close_quietly(conn)
            raise _error("opening the database", exc) from None
        holder = _Holder(conn)
        self._local.holder = holder
        closer = weakref.finalize(holder, _close_quietly, conn)
        with self._lock:
            self._closers = {c for c in self._closers if c.alive}
            self._closers.add(closer)
        if not self._migrated:
            self.migrate()
        return conn

    @contextmanager
    def _write(self, action: str) -> Generator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, else rolled back."""
        conn = self._connect()
        _refuse_nested(conn, action)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise _error(action, exc) from None
        except BaseException:
            self._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            logger.warning("SQLite inbox: rollback failed", exc_info=True)

    def _read(self, action: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        conn = self._connect()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _error(action, exc) from None

    def close(self) -> None:
        """Close this process's connections (each thread reopens on next use)."""
        if os.getpid() != self._pid:
            self._reset()
            return
        with self._lock:
            closers, self._closers = self._closers, set()
            self._local = threading.local()
        for closer in closers:
            closer()

    # -- schema --------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the tables (WAL mode first), or check that the schema is this version."""
        holder = getattr(self._local, "holder", None) if os.getpid() == self._pid else None
        conn = None if holder is None else holder.conn
        if conn is None:
            self._migrated = True  # _connect() must not recurse into migrate()
            try:
                conn = self._connect()
            finally:
                self._migrated = False
        _refuse_nested(conn, "migrate")
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("SQLite inbox: journal_mode is %s, not WAL", mode)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS boltcall_inbox_schema (version INTEGER NOT NULL)"
            )
            row = conn.execute("SELECT max(version) FROM boltcall_inbox_schema").fetchone()
            version = row[0] or 0
            if version > SCHEMA_VERSION:
                conn.rollback()
                msg = (
                    f"SQLite inbox: the database has schema version {version}, newer than "
                    f"this boltcall-webhooks ({SCHEMA_VERSION}); upgrade the library"
                )
                raise InboxError(msg)
            if version < SCHEMA_VERSION:
                for statement in _schema_statements():
                    conn.execute(statement)
                conn.execute("DELETE FROM boltcall_inbox_schema")
                conn.execute("INSERT INTO boltcall_inbox_schema VALUES (?)", (SCHEMA_VERSION,))
            conn.commit()
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise _error("migrate", exc) from None
        self._migrated = True

    def refuse_in_handler(self, action: str) -> None:
        """Refuse ``action`` if this thread's connection has a handler's open transaction.

        An ``async def`` handler runs on the worker's thread: its ``await
        inbox.store_async(...)`` after a write through ``delivery.connection``
        would store from another thread and wait for the write lock the handler
        holds (``busy_timeout``, 10 s), stalling every writer of the file meanwhile.

        Raises:
            InboxError: This thread's connection is inside a transaction.
        """
        if os.getpid() != self._pid:
            return
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            _refuse_nested(holder.conn, action)

    # -- store (group commit) ------------------------------------------------------

    def store(self, item: NewDelivery) -> Stored:
        """Store ``item`` (see :meth:`Backend.store`); concurrent calls share one commit."""
        _refuse_nested(self._connect(), "store")
        crash_point("before_insert")
        waiter = _Waiter(item)
        with self._batch_lock:
            self._queue.append(waiter)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            while not waiter.done.acquire(timeout=_RELAY_TIMEOUT):
                if waiter.finished or waiter.lead:  # a thread before it left the relay
                    break
            follower = waiter.next
            if follower is not None:
                follower.done.release()  # the relay: wake the next of the batch
        if lead or waiter.lead:
            if self._sync_busy:  # concurrent stores: let them gather (see _let_grow)
                _let_grow(lambda: len(self._queue))
            with self._batch_lock:
                batch, self._queue = self._queue, []
            try:
                self._commit_batch(batch)
            finally:
                followers = [queued for queued in batch if queued is not waiter]
                for index, queued in enumerate(followers, 1):
                    queued.next = followers[index] if index < len(followers) else None
                    queued.finished = True
                if followers:  # each one wakes the next (see _Waiter)
                    followers[0].done.release()
                with self._batch_lock:
                    # A lone caller (its next store only after this one returned) never waits.
                    self._sync_busy = len(batch) > 1 or bool(self._queue)
                    if self._queue:
                        successor = self._queue[0]
                        successor.lead = True
                        successor.done.release()
                    else:
                        self._leading = False
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None  # set by the batch's leader
        crash_point("after_commit")
        return waiter.result

    async def store_async(self, item: NewDelivery) -> Stored:
        """Store ``item`` from an event loop: queued for this process's writer thread.

        The loop never blocks and pays no thread hop of its own: the writer commits
        every store queued meanwhile at once and settles their futures in one
        callback per loop. Returns after the commit that holds the row; a
        cancelled caller leaves its row to that commit (stored or not, like a
        client that hung up).
        """
        if os.getpid() != self._pid:  # forked: the parent's writer thread is not here
            self._reset()
        self.refuse_in_handler("store_async")
        crash_point("before_insert")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()
        with self._async_lock:
            self._async_queue.append(_AsyncWaiter(item, loop, future))
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_queued, name="boltcall-inbox-writer", daemon=True
                )
                self._writer.start()
            elif self._writer_waiting:
                self._async_wake.notify()
        stored = await future
        crash_point("after_commit")
        return stored

    def _write_queued(self) -> None:
        """The writer thread: commit what ``store_async`` queued, batch after batch."""
        lock = self._async_lock
        busy = False
        while True:
            if busy:  # poll (no wake-up call from the loop per batch) while stores keep coming
                busy = self._gather()
            with lock:
                while not self._async_queue:
                    self._writer_waiting = True
                    woken = self._async_wake.wait(_WRITER_IDLE)
                    self._writer_waiting = False
                    if not woken and not self._async_queue:
                        self._writer = None  # idle: the next store starts a new thread
                        return
            with lock:
                batch, self._async_queue = self._async_queue, []
            try:
                self._commit_batch(batch)
            except BaseException as exc:  # opening the connection failed: the whole batch
                for waiter in batch:
                    waiter.error = exc
            loop = batch[0].loop
            groups: dict[asyncio.AbstractEventLoop, list[_AsyncWaiter]]
            if all(waiter.loop is loop for waiter in batch):
                groups = {loop: batch}
            else:
                groups = {}
                for waiter in batch:
                    groups.setdefault(waiter.loop, []).append(waiter)
            for loop, waiters in groups.items():
                with suppress(RuntimeError):  # that loop is closed: nobody awaits these any more
                    loop.call_soon_threadsafe(_resolve, waiters)
            # Concurrent callers: more than one in this batch, or some came during its commit.
            # A lone caller (the next store only after this one returned) never waits.
            busy = len(batch) > 1 or bool(self._async_queue)

    def _gather(self) -> bool:
        """The busy writer thread: wait for the next stores without being woken for them.

        Polls every ``_GATHER_STEP`` (the event loop never has to wake a sleeping
        thread) until a store is queued, then lets the batch grow
        (:func:`_let_grow`). Returns ``False`` if no store came for
        ``_POLL_IDLE``: the writer then blocks until ``store_async`` wakes it.
        """
        idle_until = time.monotonic() + _POLL_IDLE
        while not self._async_queue:
            if time.monotonic() >= idle_until:
                return False
            time.sleep(_GATHER_STEP)
        _let_grow(lambda: len(self._async_queue))
        return True

    def _commit_batch(self, batch: Sequence[_Slot]) -> None:
        """Write ``batch`` in one transaction and commit once; each slot gets its outcome.

        The rows are written without savepoints (one statement each). If one of
        them fails, the transaction is rolled back and the batch written again
        with a savepoint around each row, so that the bad row fails alone.
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._upsert_all(conn, batch)
            except sqlite3.Error:
                if len(batch) == 1:
                    raise
                self._rollback(conn)
                conn.execute("BEGIN IMMEDIATE")
                self._upsert_each(conn, batch)
            crash_point("after_insert")
            conn.commit()
            self.store_commits += 1
        except BaseException as exc:
            self._rollback(conn)
            error = _error("store", exc) if isinstance(exc, sqlite3.Error) else exc
            for waiter in batch:
                waiter.result = None
                waiter.error = error

    @staticmethod
    def _upsert_all(conn: sqlite3.Connection, batch: Sequence[_Slot]) -> None:
        """Write ``batch`` in a few multi-row statements (a store: one row, one statement).

        The sqlite3 module lets go of the GIL around every step of a statement; a
        writer thread stepping once per row competes with the event loop's thread
        for the GIL once per row. Here a batch takes a few steps in all: the
        upserts in chunks of a power of two rows (a handful of distinct statements
        to cache), then one read of every row's id, state and duplicate count.
        """
        if len(batch) == 1:
            waiter = batch[0]
            item = waiter.item
            row = conn.execute(_UPSERT, _params(item)).fetchone()
            waiter.result = Stored(
                id=row[0], key=item.key, duplicate=row[2] > 0, state=_STATES[row[1]]
            )
            return
        for chunk in _chunks(batch):
            params: list[Any] = []
            for waiter in chunk:
                params.extend(_params(waiter.item))
            conn.execute(_upsert_rows(len(chunk)), params)
        stores: dict[str, list[_Slot]] = {}  # a key stored twice: in statement order
        for waiter in batch:
            stores.setdefault(waiter.item.key, []).append(waiter)
        keys = list(stores)
        for chunk_keys in _chunks(keys):
            text = conn.execute(_stored_rows(len(chunk_keys)), chunk_keys).fetchone()[0]
            for found in (text or "").split(","):
                position, row_id, state, duplicates = found.split(" ")
                key = chunk_keys[int(position)]
                waiters = stores[key]
                # Each store of the key counted one duplicate after the first insert.
                first = int(duplicates) - len(waiters) + 1
                for index, waiter in enumerate(waiters):
                    waiter.result = Stored(
                        id=int(row_id),
                        key=key,
                        duplicate=first + index > 0,
                        state=_STATES[state],
                    )
        if any(waiter.result is None for waiter in batch):  # pragma: no cover - defensive
            msg = "a stored row was not found again in its own transaction"
            raise sqlite3.DatabaseError(msg)

    @staticmethod
    def _upsert_each(conn: sqlite3.Connection, batch: Sequence[_Slot]) -> None:
        for waiter in batch:
            item = waiter.item
            waiter.result = None
            conn.execute("SAVEPOINT boltcall_store")
            try:
                row = conn.execute(_UPSERT, _params(item)).fetchone()
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK TO boltcall_store")
                waiter.error = _error("store", exc)
            else:
                waiter.result = Stored(
                    id=row[0], key=item.key, duplicate=row[2] > 0, state=_STATES[row[1]]
                )
            conn.execute("RELEASE boltcall_store")

    # -- worker side ---------------------------------------------------------------

    def claim(
        self, *, worker: str, now: float, lease: float, max_attempts: int, limit: int = 1
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries (see :meth:`Backend.claim`)."""
        due = self._read(
            "claim",
            f"SELECT EXISTS (SELECT 1 FROM {_T} WHERE state = 'pending' AND next_attempt_at <= ?)"
            f" OR EXISTS (SELECT 1 FROM {_T} WHERE state = 'processing'"
            " AND lease_expires_at <= ?)",
            (now, now),
        )
        if not due[0][0]:  # nothing due: no write lock taken (idle workers poll cheaply)
            return []
        with self._write("claim") as conn:
            conn.execute(_BURY, (now, now, max_attempts))
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM {_T} WHERE state = 'processing' AND lease_expires_at <= ?"
                    " ORDER BY lease_expires_at LIMIT ?",
                    (now, limit),
                )
            ]
            if len(ids) < limit:
                ids += [
                    row[0]
                    for row in conn.execute(
                        f"SELECT id FROM {_T} WHERE state = 'pending' AND next_attempt_at <= ?"
                        " ORDER BY next_attempt_at, id LIMIT ?",
                        (now, limit - len(ids)),
                    )
                ]
            return self._lease(conn, ids, worker=worker, now=now, lease=lease)

    @staticmethod
    def _lease(
        conn: sqlite3.Connection, ids: list[int], *, worker: str, now: float, lease: float
    ) -> list[Claim]:
        """Lease the rows ``ids`` (already found due) to ``worker``, in ``ids`` order."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            f"UPDATE {_T} SET state = 'processing', attempts = attempts + 1,"
            " lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ?,"
            f" next_attempt_at = NULL WHERE id IN ({marks})"
            f" RETURNING {_COLUMNS}, lease_token",
            (worker, now + lease, *ids),
        ).fetchall()
        done: dict[int, set[str]] = {}
        for delivery_id, handler in conn.execute(
            f"SELECT delivery_id, handler FROM {_RUNS} WHERE delivery_id IN ({marks})", ids
        ):
            done.setdefault(delivery_id, set()).add(handler)
        rows.sort(key=lambda row: ids.index(row[0]))
        return [
            Claim(
                delivery=_delivery(row), token=row[-1], succeeded=frozenset(done.get(row[0], ()))
            )
            for row in rows
        ]

    def claim_one(
        self, delivery_id: int, *, worker: str, now: float, lease: float, max_attempts: int
    ) -> Claim | None:
        """Lease this delivery if it is due (see :meth:`Backend.claim_one`)."""
        due = self._read(
            "claim", f"SELECT 1 FROM {_T} WHERE id = ? AND ({_DUE})", (delivery_id, now, now)
        )
        if not due:  # done, dead, leased to a live worker, not due: no write lock taken
            return None
        with self._write("claim") as conn:
            conn.execute(f"{_BURY} AND id = ?", (now, now, max_attempts, delivery_id))
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM {_T} WHERE id = ? AND ({_DUE})", (delivery_id, now, now)
                )
            ]
            claims = self._lease(conn, ids, worker=worker, now=now, lease=lease)
        return claims[0] if claims else None

    def handoff_due(self, *, now: float, fresh_before: float, limit: int) -> list[int]:
        """Ids a relay should hand to a task queue again (see :meth:`Backend.handoff_due`)."""
        rows = self._read(
            "handoff_due",
            f"SELECT id FROM (SELECT id, next_attempt_at AS due FROM {_T}"
            " WHERE state = 'pending' AND next_attempt_at <= ?"
            " AND (attempts > 0 OR next_attempt_at <= ?)"
            f" UNION ALL SELECT id, lease_expires_at FROM {_T}"
            " WHERE state = 'processing' AND lease_expires_at <= ?)"
            " ORDER BY due, id LIMIT ?",
            (now, fresh_before, now, limit),
        )
        return [row[0] for row in rows]

    def renew(self, delivery_id: int, token: int, *, now: float, lease: float) -> bool:
        """Extend the lease if ``token`` still holds it."""
        with self._write("renew") as conn:
            cursor = conn.execute(
                f"UPDATE {_T} SET lease_expires_at = ? WHERE id = ? AND lease_token = ?"
                " AND state = 'processing'",
                (now + lease, delivery_id, token),
            )
            return cursor.rowcount == 1

    @staticmethod
    def _holds(conn: sqlite3.Connection, claim: Claim) -> bool:
        row = conn.execute(
            f"SELECT lease_token, state FROM {_T} WHERE id = ?", (claim.delivery.id,)
        ).fetchone()
        return row is not None and row[0] == claim.token and row[1] == "processing"

    def complete_handler(
        self,
        claim: Claim,
        handler: str,
        run: Callable[[Any], None],
        *,
        now: float,
        last: bool = False,
    ) -> None:
        """Run a handler and mark its success in one fenced transaction."""
        conn = self._connect()
        self._rollback(conn)
        try:
            run(conn)
        except BaseException:
            self._rollback(conn)
            raise
        try:
            if not conn.in_transaction:  # the handler wrote nothing
                conn.execute("BEGIN IMMEDIATE")
            if not self._holds(conn, claim):
                conn.rollback()
                msg = f"lease on delivery {claim.delivery.id} lost; handler {handler!r} undone"
                raise LeaseLostError(msg)
            conn.execute(
                f"INSERT INTO {_RUNS} (delivery_id, handler, succeeded_at, attempt)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (claim.delivery.id, handler, now, claim.delivery.attempts),
            )
            if last:
                self._mark_done(conn, claim, now)
            conn.commit()
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise _error("marking a handler's success", exc) from None
        except BaseException:
            self._rollback(conn)
            raise

    @staticmethod
    def _mark_done(conn: sqlite3.Connection, claim: Claim, now: float) -> int:
        return conn.execute(
            f"UPDATE {_T} SET state = 'done', finished_at = ?, lease_owner = NULL,"
            " lease_expires_at = NULL, next_attempt_at = NULL"
            " WHERE id = ? AND lease_token = ? AND state = 'processing'",
            (now, claim.delivery.id, claim.token),
        ).rowcount

    def finish(self, claim: Claim, *, now: float) -> bool:
        """Mark the delivery done if the token holds."""
        with self._write("finish") as conn:
            return self._mark_done(conn, claim, now) == 1

    def fail(
        self,
        claim: Claim,
        *,
        now: float,
        error: str,
        traceback: str,
        next_attempt_at: float | None,
    ) -> bool:
        """Record a failed attempt (retry at ``next_attempt_at``, or dead) if the token holds."""
        dead = next_attempt_at is None
        with self._write("fail") as conn:
            return (
                conn.execute(
                    f"UPDATE {_T} SET state = ?, next_attempt_at = ?, finished_at = ?,"
                    " last_error = ?, last_traceback = ?, lease_owner = NULL,"
                    " lease_expires_at = NULL"
                    " WHERE id = ? AND lease_token = ? AND state = 'processing'",
                    (
                        "dead" if dead else "pending",
                        next_attempt_at,
                        now if dead else None,
                        error,
                        traceback,
                        claim.delivery.id,
                        claim.token,
                    ),
                ).rowcount
                == 1
            )

    def release(self, claim: Claim, *, now: float) -> bool:
        """Give back a claimed delivery that was not run."""
        with self._write("release") as conn:
            return (
                conn.execute(
                    f"UPDATE {_T} SET state = 'pending', next_attempt_at = ?,"
                    " attempts = max(attempts - 1, 0), lease_owner = NULL,"
                    " lease_expires_at = NULL"
                    " WHERE id = ? AND lease_token = ? AND state = 'processing'",
                    (now, claim.delivery.id, claim.token),
                ).rowcount
                == 1
            )

    # -- reading and repair --------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery with this id, or ``None``."""
        rows = self._read("get", f"SELECT {_COLUMNS} FROM {_T} WHERE id = ?", (delivery_id,))
        return _delivery(rows[0]) if rows else None

    def list(
        self, *, state: DeliveryState | None, event_type: str | None, limit: int
    ) -> list[Delivery]:
        """Deliveries, newest first."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(str(state))
        if event_type is not None:
            where.append("event_type = ?")
            params.append(event_type)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            "list",
            f"SELECT {_COLUMNS} FROM {_T}{clause} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_delivery(row) for row in rows]

    def stats(self) -> dict[str, int]:
        """A count per state, zeros included."""
        counts = {state.value: 0 for state in DeliveryState}
        for state, count in self._read(
            "stats", f"SELECT state, count(*) FROM {_T} GROUP BY state"
        ):
            counts[state] = count
        return counts

    def replay(self, delivery_id: int, *, now: float) -> Delivery:
        """Back to pending with every handler to run again."""
        with self._write("replay") as conn:
            row = conn.execute(
                f"SELECT body IS NULL FROM {_T} WHERE id = ?", (delivery_id,)
            ).fetchone()
            if row is None:
                msg = f"no delivery with id {delivery_id}"
                raise DeliveryNotFoundError(msg)
            if row[0]:
                msg = f"delivery {delivery_id} has no body any more (purged); it cannot run"
                raise InboxError(msg)
            conn.execute(f"DELETE FROM {_RUNS} WHERE delivery_id = ?", (delivery_id,))
            result = conn.execute(
                f"UPDATE {_T} SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                " finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL,"
                f" lease_token = lease_token + 1 WHERE id = ? RETURNING {_COLUMNS}",
                (now, delivery_id),
            ).fetchone()
        return _delivery(result)

    def replay_dead(self, *, now: float) -> int:
        """Replay every dead delivery that has a body."""
        with self._write("replay_dead") as conn:
            conn.execute(
                f"DELETE FROM {_RUNS} WHERE delivery_id IN"
                f" (SELECT id FROM {_T} WHERE state = 'dead' AND body IS NOT NULL)"
            )
            return conn.execute(
                f"UPDATE {_T} SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                " finished_at = NULL, lease_token = lease_token + 1"
                " WHERE state = 'dead' AND body IS NOT NULL",
                (now,),
            ).rowcount

    def purge(self, *, bodies_before: float, keys_before: float) -> int:
        """Remove old done bodies (keys stay), then delete rows past ``keys_before``."""
        bodies_before = max(bodies_before, keys_before)  # a deleted row loses its body too
        removed = 0
        while True:
            with self._write("purge") as conn:
                count = conn.execute(
                    f"UPDATE {_T} SET body = NULL, purged = 1 WHERE id IN (SELECT id FROM {_T}"
                    " WHERE state = 'done' AND finished_at < ? AND body IS NOT NULL LIMIT ?)",
                    (bodies_before, _PURGE_BATCH),
                ).rowcount
            removed += count
            crash_point("during_purge")
            if count < _PURGE_BATCH:
                break
        while True:
            with self._write("purge") as conn:
                count = conn.execute(
                    f"DELETE FROM {_T} WHERE id IN (SELECT id FROM {_T}"
                    " WHERE state = 'done' AND finished_at < ? LIMIT ?)",
                    (keys_before, _PURGE_BATCH),
                ).rowcount
            if count < _PURGE_BATCH:
                break
        return removed
