"""The PostgreSQL inbox backend (``pip install "boltcall-webhooks[postgres]"``).

Many web servers and many workers on many machines share one database. What it
does, and why:

- ``store`` is ONE statement in autocommit mode, so one round trip and one
  transaction: ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING`` (a duplicate
  counted, a ``dead`` delivery re-armed). The commit is as durable as the server's
  ``synchronous_commit`` makes it (``on``, PostgreSQL's default: flushed to the WAL,
  and to a synchronous standby if one is configured, before the 200). PostgreSQL
  groups concurrent commits itself (one WAL flush for many).
- The ``NOTIFY`` that wakes the workers is sent right AFTER that commit by one
  notifier thread per process, coalescing the stores made meanwhile, on its own
  connection with ``synchronous_commit = off``. Not inside the store's
  transaction: a transaction that notifies holds PostgreSQL's global notify lock
  until its commit is flushed, which serialises every store's fsync (measured:
  0.13x the bare upsert rate at 16 clients). A notification lost with a crashed
  process only delays the work until the workers' next poll.
- Workers claim with ``FOR UPDATE SKIP LOCKED`` (no two workers see one row, no
  worker waits for another's lock) in one statement that also bumps the fencing
  token and returns the handlers already done. Every later write names that token.
- ``wait_for_work`` returns on a ``NOTIFY`` from any process: one listening
  connection per process, polling as the fallback when it is down.
- A connection pool (``psycopg_pool``) with bounded waits: ``timeout`` for a
  connection (server unreachable or restarting: :class:`InboxError` after it),
  ``connect_timeout`` for each attempt, ``statement_timeout`` on the server,
  TCP keepalives for a server that vanished. A connection found dead (a backend
  terminated, a server restart) is replaced, and an idempotent statement is
  retried once on a fresh connection.
- The async path (``store_async``) uses psycopg's own async connections, reused
  per event loop (at most ``pool_size``, no background task): no thread per request.

URL: ``postgresql://user:password@host:port/dbname?schema=NAME`` plus any libpq
parameter (``sslmode=require``...). ``schema`` (``boltcall`` by default) holds the
tables; ``migrate()`` creates it. Passwords never reach a repr, a log or an error.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from typing_extensions import LiteralString

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
from boltcall_webhooks.inbox._group import GroupCommit, Waiter
from boltcall_webhooks.inbox._rules import InboxError, redact_url

__all__ = ["DEFAULT_SCHEMA", "SCHEMA_VERSION", "PostgresBackend", "open_backend"]

logger = logging.getLogger("boltcall_webhooks.inbox")

SCHEMA_VERSION = 1
#: The schema the tables live in when the URL has no ``?schema=``.
DEFAULT_SCHEMA = "boltcall"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
_T = TypeVar("_T")

_COLUMNS = (
    "d.id, d.key, d.state, d.event_type, d.received_at, d.attempts, d.next_attempt_at,"
    " d.last_error, d.last_traceback, d.duplicates, d.body"
)
_REARM = "d.state = 'dead' AND d.event_type IS NOT NULL AND d.body IS NOT NULL"
_ON_CONFLICT = f"""
ON CONFLICT (key) DO UPDATE SET
    duplicates = d.duplicates + 1,
    state = CASE WHEN {_REARM} THEN 'pending' ELSE d.state END,
    attempts = CASE WHEN {_REARM} THEN 0 ELSE d.attempts END,
    next_attempt_at = CASE WHEN {_REARM} THEN excluded.received_at ELSE d.next_attempt_at END,
    finished_at = CASE WHEN {_REARM} THEN NULL ELSE d.finished_at END
RETURNING d.id, (d.xmax = 0) AS inserted, d.state, d.key
"""
_INSERT = """
INSERT INTO {schema}.deliveries AS d
    (key, state, event_type, body, received_at, next_attempt_at, last_error, finished_at)"""
_UPSERT = _INSERT + "\nVALUES (%s, %s, %s, %s, %s, %s, %s, %s)" + _ON_CONFLICT
# Group commit: the stores that queued while one was running, in one statement (keys
# distinct within it: ON CONFLICT cannot touch one row twice in a statement).
_UPSERT_MANY = (
    _INSERT
    + """
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[], %s::timestamptz[],
    %s::timestamptz[], %s::text[], %s::timestamptz[])"""
    + _ON_CONFLICT
)
# Expired leases whose worker used the last attempt: dead, never claimed again.
_BURY_SET = """state = 'dead', finished_at = %(now)s,
        lease_owner = NULL, lease_expires_at = NULL, lease_token = lease_token + 1,
        last_traceback = NULL,
        last_error = 'LeaseExpired: the worker running attempt ' || attempts
            || ' stopped renewing its lease (killed or hung); no attempts left'"""
# Lease the picked rows: bump attempts and the fencing token, return the handlers done.
_LEASE = f"""UPDATE {{schema}}.deliveries AS d SET
    state = 'processing', attempts = d.attempts + 1, lease_owner = %(worker)s,
    lease_token = d.lease_token + 1, lease_expires_at = %(until)s, next_attempt_at = NULL
FROM picked WHERE d.id = picked.id
RETURNING {_COLUMNS}, d.lease_token,
    ARRAY(SELECT r.handler FROM {{schema}}.handler_runs r WHERE r.delivery_id = d.id)"""
# The common case, alone: lease the oldest due pending rows (see PostgresBackend.claim).
_CLAIM_DUE = f"""
WITH picked AS (
    SELECT id, 1 AS rank, next_attempt_at AS due_at FROM {{schema}}.deliveries
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
{_LEASE},
    picked.rank, picked.due_at
"""
# One statement: bury expired leases that used their last attempt, lease the oldest
# due rows (expired leases first), bump their fencing tokens, return the handlers
# already done. The buried and the claimed rows are disjoint (attempts < max).
_CLAIM = f"""
WITH buried AS (
    UPDATE {{schema}}.deliveries SET {_BURY_SET}
    WHERE id IN (
        SELECT id FROM {{schema}}.deliveries
        WHERE state = 'processing' AND lease_expires_at <= %(now)s AND attempts >= %(max)s
        FOR UPDATE SKIP LOCKED)
), expired AS (
    SELECT id FROM {{schema}}.deliveries
    WHERE state = 'processing' AND lease_expires_at <= %(now)s AND attempts < %(max)s
    ORDER BY lease_expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id, next_attempt_at FROM {{schema}}.deliveries
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id, 0 AS rank, NULL::timestamptz AS due_at FROM expired
    UNION ALL SELECT id, 1, next_attempt_at FROM due
    ORDER BY rank, due_at, id LIMIT %(limit)s
)
{_LEASE},
    picked.rank, picked.due_at
"""
# claim_one: the same for one delivery, if it is due (or its lease expired), else no row.
_CLAIM_ONE = f"""
WITH buried AS (
    UPDATE {{schema}}.deliveries SET {_BURY_SET}
    WHERE id IN (
        SELECT id FROM {{schema}}.deliveries
        WHERE id = %(id)s AND state = 'processing' AND lease_expires_at <= %(now)s
            AND attempts >= %(max)s
        FOR UPDATE SKIP LOCKED)
), picked AS (
    SELECT id FROM {{schema}}.deliveries
    WHERE id = %(id)s AND ((state = 'pending' AND next_attempt_at <= %(now)s)
        OR (state = 'processing' AND lease_expires_at <= %(now)s AND attempts < %(max)s))
    FOR UPDATE SKIP LOCKED
)
{_LEASE}
"""
# What a relay hands to a task queue again: due retries, fresh deliveries nobody claimed
# since ``fresh`` and expired leases; oldest first.
_HANDOFF_DUE = """
SELECT id FROM (
    SELECT id, next_attempt_at AS due FROM {schema}.deliveries
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
        AND (attempts > 0 OR next_attempt_at <= %(fresh)s)
    UNION ALL
    SELECT id, lease_expires_at FROM {schema}.deliveries
    WHERE state = 'processing' AND lease_expires_at <= %(now)s
) AS candidates ORDER BY due, id LIMIT %(limit)s
"""
# One statement: lock the row if this token still holds it and record the handler's
# success. Returns one row only if the lease held.
_MARK = """
WITH held AS (
    SELECT id FROM {schema}.deliveries
    WHERE id = %(id)s AND lease_token = %(token)s AND state = 'processing'
    FOR NO KEY UPDATE
), run AS (
    INSERT INTO {schema}.handler_runs (delivery_id, handler, succeeded_at, attempt)
    SELECT id, %(handler)s, %(now)s, %(attempt)s FROM held
    ON CONFLICT DO NOTHING
)
SELECT id FROM held
"""
# The last handler of an attempt in which none failed: the delivery is done, and its
# handler successes no longer matter (a replay deletes them), so none is recorded.
_MARK_LAST = """
UPDATE {schema}.deliveries SET state = 'done', finished_at = %(now)s,
    lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'processing'
RETURNING id
"""
_FENCE = "WHERE id = %(id)s AND lease_token = %(token)s AND state = 'processing'"
_FINISH = (
    "UPDATE {schema}.deliveries SET state = 'done', finished_at = %(now)s, lease_owner = NULL,"
    " lease_expires_at = NULL, next_attempt_at = NULL " + _FENCE
)
_FAIL = (
    "UPDATE {schema}.deliveries SET state = %(state)s, next_attempt_at = %(next)s,"
    " finished_at = %(finished)s, last_error = %(error)s, last_traceback = %(traceback)s,"
    " lease_owner = NULL, lease_expires_at = NULL " + _FENCE
)
_RELEASE = (
    "UPDATE {schema}.deliveries SET state = 'pending', next_attempt_at = %(now)s,"
    " attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL " + _FENCE
)
_RENEW = "UPDATE {schema}.deliveries SET lease_expires_at = %(until)s " + _FENCE
_REPLAY_SET = (
    "state = 'pending', attempts = 0, next_attempt_at = %(now)s, finished_at = NULL,"
    " lease_owner = NULL, lease_expires_at = NULL, lease_token = lease_token + 1"
)
_PURGE_BATCH = 500
#: Seconds between two NOTIFYs of one process (the stores in between share the next).
_NOTIFY_GAP = 0.02
#: Seconds: a claim also looks for expired leases at least this often (see claim()).
_FULL_CLAIM_EVERY = 1.0


_CRASH_AT = os.environ.get("BOLTCALL_INBOX_CRASH_AT", "").partition(":")[0]


def _crash_armed(name: str) -> bool:
    """Whether a test asked this process to die at crash point ``name`` (read at import)."""
    return name == _CRASH_AT


def _trusted(text: str) -> LiteralString:
    """SQL text of this package (module constants, the schema file): never user input."""
    return text  # pyright: ignore[reportReturnType]


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _delivery(row: tuple[Any, ...] | Any) -> Delivery:
    return Delivery(
        id=row[0],
        key=row[1],
        state=DeliveryState(row[2]),
        event_type=row[3],
        received_at=row[4].astimezone(timezone.utc),
        attempts=row[5],
        next_attempt_at=_utc(row[6]),
        last_error=row[7],
        last_traceback=row[8],
        duplicates=row[9],
        body=None if row[10] is None else bytes(row[10]),
    )


def _number(options: dict[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = options.pop(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        msg = f"{name} must be a number >= {minimum:g}"
        raise ConfigurationError(msg)
    return float(value)


def open_backend(url: str, options: dict[str, Any]) -> PostgresBackend:
    """The backend for a ``postgresql://`` URL; nothing connects before first use.

    Options (keyword arguments of ``Inbox``): ``pool_size`` (connections per
    process, 10 by default), ``timeout`` (seconds to get a connection, 5 by
    default: after it, :class:`InboxError`), ``statement_timeout`` (seconds the
    server lets any statement run, 5 by default; it also bounds each statement a
    handler runs through ``delivery.connection``), ``prepare_threshold`` (psycopg's;
    ``None`` disables prepared statements, as PgBouncer's transaction pooling needs).
    The schema is the URL's ``?schema=NAME`` (``boltcall`` by default).

    Raises:
        ConfigurationError: A bad URL or option.
    """
    options = dict(options)
    pool_size = options.pop("pool_size", 10)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        msg = "pool_size must be an int >= 1"
        raise ConfigurationError(msg)
    timeout = _number(options, "timeout", 5.0, minimum=0.1)
    statement_timeout = _number(options, "statement_timeout", 5.0, minimum=0.0)
    prepare_threshold = options.pop("prepare_threshold", 5)
    if prepare_threshold is not None and (
        isinstance(prepare_threshold, bool) or not isinstance(prepare_threshold, int)
    ):
        msg = "prepare_threshold must be an int or None"
        raise ConfigurationError(msg)
    if options:
        msg = f"unknown PostgreSQL inbox option(s): {', '.join(sorted(options))}"
        raise ConfigurationError(msg)
    return PostgresBackend(
        url,
        pool_size=pool_size,
        timeout=timeout,
        statement_timeout=statement_timeout,
        prepare_threshold=prepare_threshold,
    )


def _connection_params(
    url: str, *, timeout: float, statement_timeout: float
) -> tuple[dict[str, Any], str]:
    """libpq parameters for ``url`` (our defaults under the URL's own), and the schema."""
    try:
        parts = urlsplit(url)
    except ValueError:
        msg = "the PostgreSQL inbox URL cannot be parsed"
        raise ConfigurationError(msg) from None
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"}:
        msg = "a PostgreSQL inbox URL starts with postgresql://"
        raise ConfigurationError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    rest: list[tuple[str, str]] = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            rest.append((name, value))
    if not _SCHEMA_NAME.fullmatch(schema):
        msg = "?schema= must be a plain identifier (letters, digits, _; at most 48)"
        raise ConfigurationError(msg)
    libpq_url = urlunsplit(
        ("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), "")
    )
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(libpq_url))
    except psycopg.Error:
        msg = f"the PostgreSQL inbox URL is not valid: {redact_url(url)}"
        raise ConfigurationError(msg) from None
    defaults: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(timeout)),  # libpq: whole seconds, >= 2
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "application_name": "boltcall-webhooks inbox",
    }
    for name, value in defaults.items():
        params.setdefault(name, value)
    settings = f"-c statement_timeout={round(statement_timeout * 1000)} -c timezone=UTC"
    params["options"] = f"{params['options']} {settings}" if params.get("options") else settings
    return params, schema


class _ConnectionLostError(Exception):
    """An async connection was found dead (its idle companions were dropped too)."""


class _AsyncConnections:
    """psycopg async connections of one event loop, reused; at most ``size`` at once.

    Not ``psycopg_pool.AsyncConnectionPool``: its maintenance tasks swallow a
    cancellation that lands while they connect, so a loop ending with the pool
    open (``asyncio.run`` returning, a server shutting down) can wait for them
    forever. Here nothing runs in the background: a connection is opened when a
    store needs one and none is idle, within ``timeout``.
    """

    def __init__(self, kwargs: dict[str, Any], size: int, timeout: float) -> None:
        self._kwargs = kwargs
        self._timeout = timeout
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def fetchone(self, query: bytes, params: tuple[Any, ...]) -> Any:
        """Run ``query`` on an idle (or new) connection; its first row.

        Raises:
            TimeoutError: No connection within the timeout.
            _ConnectionLostError: The connection died (retry on a fresh one).
            psycopg.Error: The statement failed.
        """
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except asyncio.TimeoutError:
            raise TimeoutError from None
        try:
            if self._idle:
                conn = self._idle.pop()
            else:
                left = max(0.1, deadline - asyncio.get_running_loop().time())
                try:
                    conn = await asyncio.wait_for(
                        psycopg.AsyncConnection.connect(**self._kwargs), left
                    )
                except (asyncio.TimeoutError, psycopg.OperationalError):
                    raise TimeoutError from None
            try:
                cursor = await conn.execute(query, params)
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    self.drop_idle()  # a restart or a kill took the others too, most likely
                    conn.pgconn.finish()
                    if isinstance(exc, psycopg.OperationalError):
                        raise _ConnectionLostError from None
                else:
                    self._idle.append(conn)  # autocommit: idle again after the error
                raise
            except BaseException:  # cancelled mid-statement: never reuse it
                conn.pgconn.finish()
                raise
            self._idle.append(conn)
            return row
        finally:
            self._slots.release()

    def drop_idle(self) -> None:
        """Close the idle connections now (synchronously: no I/O on the loop)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()

    def close_now(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close every idle connection, from any thread (their loop may be gone)."""
        if loop.is_running():
            loop.call_soon_threadsafe(self.drop_idle)
        else:
            self.drop_idle()


class PostgresBackend(Backend):
    """Stores deliveries in PostgreSQL tables (see the module docstring).

    Attributes:
        schema: The schema holding the tables.
        channel: The ``LISTEN``/``NOTIFY`` channel stores notify.
        store_commits: Statements (each its own commit) :meth:`store` ran in this
            process; fewer than the stores when group commit batched them.
    """

    name = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        timeout: float = 5.0,
        statement_timeout: float = 5.0,
        prepare_threshold: int | None = 5,
    ) -> None:
        self._shown = redact_url(url)
        self._params, self.schema = _connection_params(
            url, timeout=timeout, statement_timeout=statement_timeout
        )
        password = self._params.get("password")
        self._secret = str(password) if password else None
        self.channel = f"boltcall_inbox_{self.schema}"
        self._pool_size = pool_size
        self._timeout = timeout
        self._prepare_threshold = prepare_threshold
        self.store_commits = 0
        self._full_claim_at = -_FULL_CLAIM_EVERY  # the first claim looks at leases too
        identifier = sql.Identifier(self.schema)
        # Rendered once: psycopg then parses and prepares each statement once per connection.
        self._sql: dict[str, bytes] = {
            name: sql.SQL(_trusted(text)).format(schema=identifier).as_bytes(None)
            for name, text in {
                "upsert": _UPSERT,
                "upsert_many": _UPSERT_MANY,
                "claim": _CLAIM,
                "claim_due": _CLAIM_DUE,
                "claim_one": _CLAIM_ONE,
                "handoff_due": _HANDOFF_DUE,
                "mark": _MARK,
                "mark_last": _MARK_LAST,
                "finish": _FINISH,
                "fail": _FAIL,
                "release": _RELEASE,
                "renew": _RENEW,
            }.items()
        }
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._apools: dict[asyncio.AbstractEventLoop, _AsyncConnections] = {}
        self._migrated = False
        self._listener: threading.Thread | None = None
        self._notifier: threading.Thread | None = None
        self._notify_wanted = threading.Event()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._wakes: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self._group: GroupCommit[Any] = GroupCommit()

    def _abandon_after_fork(self) -> None:
        """In a forked child: forget the parent's pools and listener without closing them."""
        _ABANDONED.append((self._pool, self._apools))
        self._reset()

    def __repr__(self) -> str:
        return f"PostgresBackend({self._shown!r}, schema={self.schema!r})"

    def _t(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    # -- errors and connections ----------------------------------------------------

    def _error(self, action: str, exc: BaseException) -> InboxError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if self._secret:
            text = text.replace(self._secret, "***")
        return InboxError(f"PostgreSQL inbox: {action} failed: {type(exc).__name__}: {text}")

    def _kwargs(self) -> dict[str, Any]:
        return {**self._params, "autocommit": True, "prepare_threshold": self._prepare_threshold}

    def _sync_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        if os.getpid() != self._pid:
            self._abandon_after_fork()
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                pool = psycopg_pool.ConnectionPool(
                    "",
                    kwargs=self._kwargs(),
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._timeout,
                    name="boltcall-inbox",
                    open=False,
                )
                pool.open(wait=False)
                self._pool = pool
                # A script that never calls close() (the CLI after an error) must not
                # leave the pool's threads to the interpreter's teardown.
                atexit.register(_close_at_exit, weakref.ref(self))
            return self._pool

    def _run(self, action: str, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """``work(connection)`` on a pooled autocommit connection; retried once if it died.

        Only idempotent work comes here: a statement that failed because its
        connection was dead (terminated, server restarted) runs once more on a
        fresh one, so a restart costs no 503s to requests that arrive after it.
        """
        if not self._migrated:
            self.migrate()
        for attempt in (1, 2):
            pool = self._sync_pool()
            used: psycopg.Connection[Any] | None = None
            try:
                with pool.connection() as conn:
                    used = conn
                    return work(conn)
            except psycopg_pool.PoolTimeout:
                msg = (
                    f"PostgreSQL inbox: {action} failed: no connection within "
                    f"{self._timeout:g} s (server unreachable, restarting or refusing us, or"
                    " pool exhausted; the psycopg.pool log has the connection error)"
                )
                raise InboxError(msg) from None
            except psycopg.OperationalError as exc:
                if attempt == 1 and used is not None and (used.broken or used.closed):
                    logger.warning("PostgreSQL inbox: connection lost during %s; retrying", action)
                    pool.check()
                    continue
                raise self._error(action, exc) from None
            except psycopg.Error as exc:
                raise self._error(action, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close this process's pools and listening connection (reopened on next use)."""
        if os.getpid() != self._pid:
            self._abandon_after_fork()
            return
        self._stop.set()
        self._notify_wanted.set()  # the notifier sees the stop at once
        for thread in (self._listener, self._notifier):
            if thread is not None:
                thread.join(timeout=5)
        with self._lock:
            pool, self._pool = self._pool, None
            apools, self._apools = self._apools, {}
            self._listener = self._notifier = None
            self._stop = threading.Event()
            self._listening.clear()
        if pool is not None:
            pool.close(timeout=5)
        for loop, apool in apools.items():
            apool.close_now(loop)

    # -- schema --------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema and tables, or upgrade them; safe to run from many processes.

        One transaction under a transaction-level advisory lock (one per schema
        name), so concurrent migrations run one after the other and the later ones
        find the work done.
        """
        lock_key = int.from_bytes(
            hashlib.sha256(f"boltcall-webhooks inbox {self.schema}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        text = resources.files("boltcall_webhooks.inbox.sql").joinpath("postgres_schema.sql")
        schema = sql.Identifier(self.schema)
        versions = self._t("schema_version")
        pool = self._sync_pool()
        try:
            with pool.connection() as conn, conn.transaction():
                conn.execute("SET LOCAL statement_timeout = 0")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(versions)
                )
                row = conn.execute(sql.SQL("SELECT max(version) FROM {}").format(versions))
                version = (row.fetchone() or (None,))[0] or 0
                if version > SCHEMA_VERSION:
                    msg = (
                        f"PostgreSQL inbox: the database has schema version {version}, newer"
                        f" than this boltcall-webhooks ({SCHEMA_VERSION}); upgrade the library"
                    )
                    raise InboxError(msg)
                if version < SCHEMA_VERSION:
                    script = text.read_text(encoding="utf-8")
                    conn.execute(sql.SQL(_trusted(script)).format(schema=schema))
                    conn.execute(
                        sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(versions),
                        (SCHEMA_VERSION,),
                    )
        except psycopg_pool.PoolTimeout:
            msg = f"PostgreSQL inbox: migrate failed: no connection within {self._timeout:g} s"
            raise InboxError(msg) from None
        except psycopg.Error as exc:
            raise self._error("migrate", exc) from None
        self._migrated = True

    # -- store ---------------------------------------------------------------------

    def _upsert_params(self, item: NewDelivery) -> tuple[Any, ...]:
        dead = item.error is not None
        received = _moment(item.received_at)
        return (
            item.key,
            "dead" if dead else "pending",
            item.event_type,
            item.body,
            received,
            None if dead else received,
            item.error,
            received if dead else None,
        )

    def _stored_after_commit(self, item: NewDelivery, row: Any) -> Stored:
        if row is None:  # pragma: no cover - an upsert always returns its row
            msg = "PostgreSQL inbox: store failed: the upsert returned no row"
            raise InboxError(msg)
        stored = Stored(id=row[0], key=item.key, duplicate=not row[1], state=DeliveryState(row[2]))
        if stored.state is DeliveryState.PENDING:
            self._notify_soon()
        crash_point("after_commit")
        return stored

    def _notify_soon(self) -> None:
        """Have the notifier thread send one NOTIFY (coalescing the stores meanwhile)."""
        if os.getpid() != self._pid:
            self._abandon_after_fork()
        if self._notifier is None:
            with self._lock:
                if self._notifier is None:
                    thread = threading.Thread(
                        target=self._notify_loop,
                        args=(self._stop,),
                        name="boltcall-inbox-notify",
                        daemon=True,
                    )
                    self._notifier = thread
                    thread.start()
        self._notify_wanted.set()

    def _notify_loop(self, stop: threading.Event) -> None:
        conn: psycopg.Connection[Any] | None = None
        wanted = self._notify_wanted
        try:
            while not stop.is_set():
                if not wanted.wait(0.5) or stop.is_set():
                    continue
                wanted.clear()
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(**self._kwargs())
                        conn.execute("SET synchronous_commit = off")
                    conn.execute("SELECT pg_notify(%s, '')", (self.channel,))
                    # At most one NOTIFY per gap: a busy web server's stores share one.
                    stop.wait(_NOTIFY_GAP)
                except psycopg.Error as exc:
                    logger.debug("%s; workers poll instead", self._error("NOTIFY", exc))
                    if conn is not None:
                        conn.close()
                    conn = None
                    stop.wait(0.2)
        finally:
            if conn is not None:
                conn.close()

    def store(self, item: NewDelivery) -> Stored:
        """Store ``item`` with one autocommit upsert (see :meth:`Backend.store`).

        Group commit: a store that arrives while another is running queues; the
        first of the queue then writes every queued item in ONE statement (one round
        trip, one commit) and hands the lead on. Alone, a store is one single-row
        upsert, as if there were no queue.
        """
        if not self._migrated:
            self.migrate()
        crash_point("before_insert")
        if _crash_armed("after_insert"):  # tests only: stop between insert and commit
            params, upsert = self._upsert_params(item), self._sql["upsert"]

            def work(conn: psycopg.Connection[Any]) -> Any:
                with conn.transaction():
                    row = conn.execute(upsert, params).fetchone()
                    crash_point("after_insert")
                return row

            return self._stored_after_commit(item, self._run("store", work))
        return self._stored_after_commit(item, self._group.submit(item, self._write_batch))

    def _write_batch(self, batch: list[Waiter[Any]]) -> None:
        """Upsert the items of ``batch`` (distinct keys per statement); set each result."""
        rounds: list[list[Waiter[Any]]] = []
        keys: list[set[str]] = []
        for waiter in batch:  # a key seen twice waits for the next statement
            for group, seen in zip(rounds, keys, strict=True):
                if waiter.item.key not in seen:
                    group.append(waiter)
                    seen.add(waiter.item.key)
                    break
            else:
                rounds.append([waiter])
                keys.append({waiter.item.key})
        try:
            for group in rounds:
                self._write_group(group)
        except BaseException as exc:
            for waiter in batch:
                if waiter.result is None:
                    waiter.error = exc
        finally:
            for waiter in batch:
                waiter.done.set()

    def _write_group(self, group: list[Waiter[Any]]) -> None:
        self.store_commits += 1
        if len(group) == 1:
            params = self._upsert_params(group[0].item)
            group[0].result = self._run(
                "store", lambda conn: conn.execute(self._sql["upsert"], params).fetchone()
            )
            return
        rows_in = [self._upsert_params(waiter.item) for waiter in group]
        columns = [list(column) for column in zip(*rows_in, strict=True)]
        rows = self._run(
            "store", lambda conn: conn.execute(self._sql["upsert_many"], columns).fetchall()
        )
        by_key = {row[3]: row for row in rows}
        for waiter in group:
            waiter.result = by_key[waiter.item.key]

    def _async_connections(self) -> _AsyncConnections:
        loop = asyncio.get_running_loop()
        connections = self._apools.get(loop)
        if connections is None:
            with self._lock:
                connections = self._apools.setdefault(
                    loop, _AsyncConnections(self._kwargs(), self._pool_size, self._timeout)
                )
        return connections

    async def store_async(self, item: NewDelivery) -> Stored:
        """:meth:`store` on psycopg's async connections (never blocks the loop)."""
        if os.getpid() != self._pid:
            self._abandon_after_fork()
        if not self._migrated or _crash_armed("after_insert"):
            if not self._migrated:
                await asyncio.to_thread(self.migrate)  # once per process
            if _crash_armed("after_insert"):
                return await asyncio.to_thread(self.store, item)
        params = self._upsert_params(item)
        crash_point("before_insert")
        connections = self._async_connections()
        for attempt in (1, 2):
            try:
                row = await connections.fetchone(self._sql["upsert"], params)
            except TimeoutError:
                msg = (
                    f"PostgreSQL inbox: store failed: no connection within {self._timeout:g} s"
                    " (server unreachable, restarting or refusing us, or pool exhausted)"
                )
                raise InboxError(msg) from None
            except _ConnectionLostError:
                if attempt == 1:
                    logger.warning("PostgreSQL inbox: connection lost during store; retrying")
                    continue
                msg = "PostgreSQL inbox: store failed: the connection was lost twice"
                raise InboxError(msg) from None
            except psycopg.Error as exc:
                raise self._error("store", exc) from None
            return self._stored_after_commit(item, row)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- worker side ---------------------------------------------------------------

    def claim(
        self, *, worker: str, now: float, lease: float, max_attempts: int, limit: int = 1
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries with ``FOR UPDATE SKIP LOCKED``.

        Expired leases are looked for (and the ones out of attempts buried) when no
        pending delivery is due, and at least once a second while there are: a
        busy worker then pays for the lighter statement on most claims, and an
        expired lease waits at most about a second longer than its expiry.
        """
        moment = _moment(now)
        args = {
            "now": moment,
            "max": max_attempts,
            "limit": limit,
            "worker": worker,
            "until": _moment(now + lease),
        }

        rows: list[Any] = []
        if time.monotonic() - self._full_claim_at < _FULL_CLAIM_EVERY:
            rows = self._run(
                "claim", lambda conn: conn.execute(self._sql["claim_due"], args).fetchall()
            )
        if not rows:
            self._full_claim_at = time.monotonic()
            rows = self._run(
                "claim", lambda conn: conn.execute(self._sql["claim"], args).fetchall()
            )
        rows.sort(key=lambda row: (row[-2], row[-1] or moment, row[0]))
        return [
            Claim(delivery=_delivery(row), token=row[11], succeeded=frozenset(row[12]))
            for row in rows
        ]

    def claim_one(
        self, delivery_id: int, *, worker: str, now: float, lease: float, max_attempts: int
    ) -> Claim | None:
        """Lease this delivery if it is due, in one statement (see :meth:`Backend.claim_one`)."""
        args = {
            "id": delivery_id,
            "now": _moment(now),
            "max": max_attempts,
            "worker": worker,
            "until": _moment(now + lease),
        }
        rows = self._run(
            "claim", lambda conn: conn.execute(self._sql["claim_one"], args).fetchall()
        )
        return (
            Claim(delivery=_delivery(rows[0]), token=rows[0][11], succeeded=frozenset(rows[0][12]))
            if rows
            else None
        )

    def handoff_due(self, *, now: float, fresh_before: float, limit: int) -> list[int]:
        """Ids a relay should hand to a task queue again (see :meth:`Backend.handoff_due`)."""
        args = {"now": _moment(now), "fresh": _moment(fresh_before), "limit": limit}
        rows = self._run(
            "handoff_due", lambda conn: conn.execute(self._sql["handoff_due"], args).fetchall()
        )
        return [row[0] for row in rows]

    def _fenced(self, action: str, name: str, args: dict[str, Any]) -> bool:
        return self._run(action, lambda conn: conn.execute(self._sql[name], args).rowcount == 1)

    def renew(self, delivery_id: int, token: int, *, now: float, lease: float) -> bool:
        """Extend the lease if ``token`` still holds it."""
        args = {"id": delivery_id, "token": token, "until": _moment(now + lease)}
        return self._fenced("renew", "renew", args)

    def complete_handler(
        self,
        claim: Claim,
        handler: str,
        run: Callable[[Any], None],
        *,
        now: float,
        last: bool = False,
    ) -> None:
        """Run a handler and record its success in one fenced transaction.

        The handler gets a pooled connection in a transaction that begins at its
        first statement; a handler that runs none costs one statement (the mark)
        in autocommit mode.
        """
        if not self._migrated:
            self.migrate()
        args = {
            "id": claim.delivery.id,
            "token": claim.token,
            "handler": handler,
            "now": _moment(now),
            "attempt": claim.delivery.attempts,
            "last": last,
        }
        try:
            with self._sync_pool().connection() as conn:
                conn.autocommit = False
                try:
                    self._complete(conn, claim, handler, run, args)
                finally:
                    if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
                        conn.autocommit = True
        except psycopg_pool.PoolTimeout:
            msg = (
                "PostgreSQL inbox: running a handler failed: no connection within "
                f"{self._timeout:g} s (raise pool_size above the worker's concurrency)"
            )
            raise InboxError(msg) from None

    def _complete(
        self,
        conn: psycopg.Connection[Any],
        claim: Claim,
        handler: str,
        run: Callable[[Any], None],
        args: dict[str, Any],
    ) -> None:
        try:
            run(conn)
        except BaseException:
            _rollback(conn)
            raise
        try:
            if conn.info.transaction_status == TransactionStatus.IDLE:
                conn.autocommit = True  # the handler wrote nothing: one statement
            elif conn.info.transaction_status != TransactionStatus.INTRANS:
                # The handler swallowed an error of its own statement: its writes are lost.
                _rollback(conn)
                msg = f"handler {handler!r} left its transaction failed; its writes were undone"
                raise InboxError(msg)
            mark = self._sql["mark_last" if args["last"] else "mark"]
            held = conn.execute(mark, args).fetchone() is not None
            if not held:
                _rollback(conn)
                msg = f"lease on delivery {claim.delivery.id} lost; handler {handler!r} undone"
                raise LeaseLostError(msg)
            if not conn.autocommit:
                conn.commit()
        except psycopg.Error as exc:
            _rollback(conn)
            raise self._error("marking a handler's success", exc) from None
        except BaseException:
            _rollback(conn)
            raise

    def finish(self, claim: Claim, *, now: float) -> bool:
        """Mark the delivery done if the token holds."""
        args = {"id": claim.delivery.id, "token": claim.token, "now": _moment(now)}
        return self._fenced("finish", "finish", args)

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
        args = {
            "id": claim.delivery.id,
            "token": claim.token,
            "state": "dead" if dead else "pending",
            "next": _moment(next_attempt_at),
            "finished": _moment(now) if dead else None,
            "error": error,
            "traceback": traceback,
        }
        return self._fenced("fail", "fail", args)

    def release(self, claim: Claim, *, now: float) -> bool:
        """Give back a claimed delivery that was not run."""
        args = {"id": claim.delivery.id, "token": claim.token, "now": _moment(now)}
        return self._fenced("release", "release", args)

    def wait_for_work(self, timeout: float, wake: threading.Event) -> None:
        """Block until ``wake`` is set: by a store in this process, a ``NOTIFY``, or ``timeout``.

        ``wake`` stays registered: a notification that arrives while the worker is
        busy sets it, so the next wait returns at once (the worker clears it before
        it claims).
        """
        self._ensure_listener()
        self._wakes.add(wake)
        wake.wait(timeout)

    def _ensure_listener(self) -> None:
        if os.getpid() != self._pid:
            self._abandon_after_fork()
        if self._listener is not None:
            return
        with self._lock:
            if self._listener is None:
                thread = threading.Thread(
                    target=self._listen,
                    args=(self._stop,),
                    name="boltcall-inbox-listen",
                    daemon=True,
                )
                self._listener = thread
                thread.start()

    def _listen(self, stop: threading.Event) -> None:
        """The listening connection's loop: wake every waiting worker on each NOTIFY."""
        delay = 0.1
        listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.channel))
        while not stop.is_set():
            try:
                with psycopg.connect(**self._kwargs()) as conn:
                    conn.execute(listen)
                    self._listening.set()
                    self._wake_all()  # whatever was stored while nobody listened
                    delay = 0.1
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake_all()
            except psycopg.Error as exc:
                self._listening.clear()
                logger.warning("%s; workers poll until it is back", self._error("LISTEN", exc))
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self._listening.clear()

    def _wake_all(self) -> None:
        for event in list(self._wakes):
            event.set()

    # -- reading and repair --------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery with this id, or ``None``."""
        query = sql.SQL("SELECT {} FROM {} AS d WHERE d.id = %s").format(
            sql.SQL(_COLUMNS), self._t("deliveries")
        )
        row = self._run("get", lambda conn: conn.execute(query, (delivery_id,)).fetchone())
        return None if row is None else _delivery(row)

    def list(
        self, *, state: DeliveryState | None, event_type: str | None, limit: int
    ) -> list[Delivery]:
        """Deliveries, newest first."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        if state is not None:
            where.append(sql.SQL("d.state = %s"))
            params.append(str(state))
        if event_type is not None:
            where.append(sql.SQL("d.event_type = %s"))
            params.append(event_type)
        clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        query = sql.SQL("SELECT {} FROM {} AS d{} ORDER BY d.id DESC LIMIT %s").format(
            sql.SQL(_COLUMNS), self._t("deliveries"), clause
        )
        rows = self._run("list", lambda conn: conn.execute(query, (*params, limit)).fetchall())
        return [_delivery(row) for row in rows]

    def stats(self) -> dict[str, int]:
        """A count per state, zeros included."""
        query = sql.SQL("SELECT state, count(*) FROM {} GROUP BY state").format(
            self._t("deliveries")
        )
        counts = {state.value: 0 for state in DeliveryState}
        for state, count in self._run("stats", lambda conn: conn.execute(query).fetchall()):
            counts[state] = count
        return counts

    def replay(self, delivery_id: int, *, now: float) -> Delivery:
        """Back to pending with every handler to run again."""
        table, runs = self._t("deliveries"), self._t("handler_runs")

        def work(conn: psycopg.Connection[Any]) -> Any:
            with conn.transaction():
                row = conn.execute(
                    sql.SQL("SELECT body IS NULL FROM {} WHERE id = %s FOR UPDATE").format(table),
                    (delivery_id,),
                ).fetchone()
                if row is None:
                    msg = f"no delivery with id {delivery_id}"
                    raise DeliveryNotFoundError(msg)
                if row[0]:
                    msg = f"delivery {delivery_id} has no body any more (purged); it cannot run"
                    raise InboxError(msg)
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE delivery_id = %s").format(runs), (delivery_id,)
                )
                return conn.execute(
                    sql.SQL("UPDATE {} AS d SET {} WHERE d.id = %(id)s RETURNING {}").format(
                        table, sql.SQL(_REPLAY_SET), sql.SQL(_COLUMNS)
                    ),
                    {"now": _moment(now), "id": delivery_id},
                ).fetchone()

        return _delivery(self._run("replay", work))

    def replay_dead(self, *, now: float) -> int:
        """Replay every dead delivery that has a body."""
        table, runs = self._t("deliveries"), self._t("handler_runs")

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.transaction():
                ids = [
                    row[0]
                    for row in conn.execute(
                        sql.SQL(
                            "SELECT id FROM {} WHERE state = 'dead' AND body IS NOT NULL"
                            " FOR UPDATE"
                        ).format(table)
                    )
                ]
                if not ids:
                    return 0
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE delivery_id = ANY(%s)").format(runs), (ids,)
                )
                return conn.execute(
                    sql.SQL("UPDATE {} SET {} WHERE id = ANY(%(ids)s)").format(
                        table, sql.SQL(_REPLAY_SET)
                    ),
                    {"now": _moment(now), "ids": ids},
                ).rowcount

        return self._run("replay_dead", work)

    def purge(self, *, bodies_before: float, keys_before: float) -> int:
        """Remove old done bodies (keys stay), then delete rows past ``keys_before``."""
        bodies_before = max(bodies_before, keys_before)  # a deleted row loses its body too
        table = self._t("deliveries")
        strip = sql.SQL(
            "UPDATE {0} SET body = NULL, purged = true WHERE id IN (SELECT id FROM {0}"
            " WHERE state = 'done' AND finished_at < %s AND body IS NOT NULL LIMIT %s"
            " FOR UPDATE SKIP LOCKED)"
        ).format(table)
        delete = sql.SQL(
            "DELETE FROM {0} WHERE id IN (SELECT id FROM {0}"
            " WHERE state = 'done' AND finished_at < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
        ).format(table)
        removed = 0
        strip_args = (_moment(bodies_before), _PURGE_BATCH)
        delete_args = (_moment(keys_before), _PURGE_BATCH)
        while True:
            count = self._run("purge", lambda conn: conn.execute(strip, strip_args).rowcount)
            removed += count
            crash_point("during_purge")
            if count < _PURGE_BATCH:
                break
        while True:
            deleted = self._run("purge", lambda conn: conn.execute(delete, delete_args).rowcount)
            if deleted < _PURGE_BATCH:
                break
        return removed


def _close_at_exit(ref: weakref.ReferenceType[PostgresBackend]) -> None:
    backend = ref()
    if backend is not None:
        backend.close()


def _rollback(conn: psycopg.Connection[Any]) -> None:
    try:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()
    except psycopg.Error:
        logger.debug("PostgreSQL inbox: rollback failed", exc_info=True)


# A forked child must never close (or let the garbage collector close) the parent's
# connections: closing sends a Terminate message on the shared socket. It keeps them here.
_ABANDONED: list[object] = []
