"""The Django ORM inbox backend: ``Inbox("django")`` or ``Inbox("django://ALIAS")``.

Deliveries live in the app's models (:mod:`boltcall_webhooks.django.models`) in
the project's database; ``manage.py migrate`` creates the tables. Every write
is one short transaction on the alias's connection of the calling thread
(Django keeps one per thread). A handler runs inside ``transaction.atomic()``
with its success mark: ``delivery.connection`` is ``django.db.connections[ALIAS]``,
and the ORM writes a sync handler makes on that alias commit or roll back with
the mark (exactly once). Stores are one upsert statement on PostgreSQL and
SQLite, and concurrent stores of one process share it (group commit: one
transaction, one flush, for every store that queued while the previous batch
was being written). Claims lock with ``SELECT ... FOR UPDATE SKIP LOCKED``
where the database has it (PostgreSQL); elsewhere (SQLite) a claim is a
conditional ``UPDATE`` of one due row, which the database's write lock makes
atomic. Every later write of an attempt names the fencing token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Generator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, cast

from django.db import DatabaseError, connections, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest

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
from boltcall_webhooks.inbox._rules import InboxError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


__all__ = ["DjangoBackend", "open_backend"]

logger = logging.getLogger("boltcall_webhooks.inbox")

_PURGE_BATCH = 500
_BATCH_ROWS = 100  # deliveries per upsert statement (a batch may take several)
# Tests only: a store must stop between its insert and its commit (see _crash.py).
_CRASH_AFTER_INSERT = os.environ.get("BOLTCALL_INBOX_CRASH_AT", "").startswith("after_insert")
_PENDING = DeliveryState.PENDING.value
_PROCESSING = DeliveryState.PROCESSING.value
_DONE = DeliveryState.DONE.value
_DEAD = DeliveryState.DEAD.value
_FIELDS = (
    "id",
    "key",
    "state",
    "event_type",
    "received_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "last_traceback",
    "duplicates",
    "body",
)


def open_backend(url: str, options: dict[str, Any]) -> DjangoBackend:
    """The backend for ``django`` (the ``default`` database) or ``django://ALIAS``.

    Raises:
        ConfigurationError: Another spelling, or backend options (the database's
            own settings live in ``DATABASES``).
    """
    if options:
        msg = f"unknown Django inbox option(s): {', '.join(sorted(options))} (see DATABASES)"
        raise ConfigurationError(msg)
    if url == "django":
        alias = "default"
    elif url.startswith("django://") and url[len("django://") :].isidentifier():
        alias = url[len("django://") :]
    else:
        msg = 'a Django inbox URL is "django" (the default database) or "django://ALIAS"'
        raise ConfigurationError(msg)
    return DjangoBackend(alias)


def _moment(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # USE_TZ = False: naive datetimes are UTC here
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


_MISSING_TABLE_SIGNS: Final = ("no such table", "does not exist", "doesn't exist")


def _error(action: str, exc: BaseException) -> InboxError:
    # The driver's message can quote values (a key, a body): only its class is shown,
    # plus a hint when it says the tables are missing (SQLite, PostgreSQL, MySQL wording).
    text = str(exc).lower()
    hint = ""
    if "boltcall_webhooks_" in text and any(sign in text for sign in _MISSING_TABLE_SIGNS):
        hint = " (the inbox's tables are missing: run `manage.py migrate`)"
    return InboxError(f"Django inbox: {action} failed: {type(exc).__name__}{hint}")


def _resource_id(item: NewDelivery) -> str | None:
    """The envelope's ``data.id`` (for the admin's search), if it has one."""
    if item.event_type is None:
        return None
    try:
        data = json.loads(item.body).get("data")
    except (ValueError, AttributeError):
        return None
    value = cast("dict[str, object]", data).get("id") if isinstance(data, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)[:255]
        try:  # a lone surrogate or a NUL (valid JSON escapes) cannot be stored as text
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return None if "\x00" in text else text
    return None


class _Holder:
    """Lives in a thread-local: when the thread ends, its connection is closed."""

    __slots__ = ("__weakref__",)


def _close_connection(wrapper: Any) -> None:
    # Runs when the thread that used ``wrapper`` has ended (possibly in another
    # thread): close the driver's connection itself, which Django would refuse to
    # do from another thread; otherwise it would linger until garbage collection.
    raw = getattr(wrapper, "connection", None)
    if raw is not None:
        try:
            raw.close()
        except Exception:
            logger.debug("Django inbox: closing a finished thread's connection failed")


class DjangoBackend(Backend):
    """Stores deliveries with the Django ORM in the database ``alias`` (see the module)."""

    name = "django"
    # Each store_async thread holds its own connection (Django's are per thread): a few
    # threads, not dozens, and each releases it as a request would (release_thread).
    store_threads = 4

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._models: Any = None
        self._use_tz = True
        self._local = threading.local()
        self._wal = False
        #: Store with one upsert statement on PostgreSQL and SQLite (tests turn it off
        #: to check the ORM path other databases take).
        self.raw_upsert = True
        self._upsert_parts: tuple[str, str, str] | None = None
        # Group commit (see _upsert): concurrent stores of this process share a statement.
        self._group: GroupCommit[Stored] = GroupCommit()

    def __repr__(self) -> str:
        return f"DjangoBackend({self.alias!r})"

    # -- setup ---------------------------------------------------------------------

    def _app(self) -> Any:
        """The app's models module (Django set up on first use if it was not)."""
        if self._models is not None:
            return self._models
        from django.apps import apps
        from django.conf import settings

        if not apps.ready:
            if not os.environ.get("DJANGO_SETTINGS_MODULE") and not settings.configured:
                msg = 'Inbox("django") needs Django settings (DJANGO_SETTINGS_MODULE)'
                raise ConfigurationError(msg)
            import django

            django.setup()
        if not apps.is_installed("boltcall_webhooks.django"):
            msg = (
                'Inbox("django") needs the app: INSTALLED_APPS += ["boltcall_webhooks.django"], '
                "then manage.py migrate"
            )
            raise ConfigurationError(msg)
        if self.alias not in settings.DATABASES:
            msg = f"no database {self.alias!r} in settings.DATABASES"
            raise ConfigurationError(msg)
        from boltcall_webhooks.django import models

        self._use_tz = bool(settings.USE_TZ)
        self._models = models
        return models

    # Querysets are typed Any: without django-stubs' mypy plugin their methods
    # (filter, update, values_list...) cannot be checked strictly anyway.
    @property
    def deliveries(self) -> Any:
        """The delivery rows (a ``QuerySet``), on this backend's database."""
        return self._app().Delivery.objects.using(self.alias)

    @property
    def runs(self) -> Any:
        """The handler success rows (a ``QuerySet``), on this backend's database."""
        return self._app().HandlerRun.objects.using(self.alias)

    def _at(self, seconds: float) -> datetime:
        moment = datetime.fromtimestamp(seconds, timezone.utc)
        return moment if self._use_tz else moment.replace(tzinfo=None)

    def _opt(self, seconds: float | None) -> datetime | None:
        return None if seconds is None else self._at(seconds)

    @property
    def connection(self) -> Any:
        """This thread's connection to the alias (what ``delivery.connection`` is)."""
        return connections[self.alias]

    def release_thread(self) -> None:
        """Close this store thread's connection if ``CONN_MAX_AGE`` says so, or if unusable."""
        connections[self.alias].close_if_unusable_or_obsolete()

    @contextmanager
    def _guard(self, action: str) -> Generator[None]:
        """Database failures become :class:`InboxError` (a handler's own exceptions do not)."""
        self._app()
        connection = self.connection
        if getattr(self._local, "holder", None) is None and (
            threading.current_thread() is not threading.main_thread()
        ):  # a worker or store thread: its connection is closed when it ends
            self._local.holder = holder = _Holder()
            weakref.finalize(holder, _close_connection, connection)
        try:
            if not connection.in_atomic_block:
                self._recover(connection)
                if connection.vendor == "sqlite" and not self._wal:
                    self._use_wal(connection)
            yield
        except DatabaseError as exc:
            if getattr(exc, "_boltcall_handler", False):
                raise
            raise _error(action, exc) from None

    @staticmethod
    def _recover(connection: BaseDatabaseWrapper) -> None:
        """Drop a connection that broke (a restarted server): the next query reconnects.

        Unlike ``close_if_unusable_or_obsolete`` this ignores ``CONN_MAX_AGE``: a
        worker thread has no request cycle, and must not reconnect for every
        statement when the project keeps the default of 0.
        """
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()

    def _use_wal(self, connection: Any) -> None:
        """SQLite: switch the file to WAL (kept by the file), so that a handler's open
        transaction does not block the lease renewals and stores of other threads."""
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            mode = cursor.fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            logger.warning("Django inbox: the SQLite database is not in WAL mode")
        self._wal = True

    def _atomic(self) -> Any:
        return transaction.atomic(using=self.alias)

    def _delivery(self, row: Any) -> Delivery:
        received = _moment(row.received_at)
        assert received is not None  # NOT NULL
        body = row.body
        return Delivery(
            id=row.id,
            key=row.key,
            state=DeliveryState(row.state),
            event_type=row.event_type,
            received_at=received,
            attempts=row.attempts,
            next_attempt_at=_moment(row.next_attempt_at),
            last_error=row.last_error,
            last_traceback=row.last_traceback,
            duplicates=row.duplicates,
            body=None if body is None else bytes(body),
        )

    # -- schema --------------------------------------------------------------------

    def migrate(self) -> None:
        """Run the app's migrations on this database (``manage.py migrate boltcall_webhooks``).

        ``store`` and ``work`` do not migrate by themselves: the project's
        ``manage.py migrate`` owns the schema.
        """
        self._app()
        from django.core.management import call_command

        try:
            call_command("migrate", "boltcall_webhooks", database=self.alias, verbosity=0)
        except DatabaseError as exc:
            raise _error("migrate", exc) from None

    # -- store ---------------------------------------------------------------------

    def store(self, item: NewDelivery) -> Stored:
        """Insert ``item``, or count a duplicate (re-arming a dead one); committed on return.

        Called inside a transaction (``ATOMIC_REQUESTS``, a handler), it writes in a
        savepoint and commits with that transaction: Django commits a view's
        transaction before it sends the response, and a handler's with its success.
        """
        with self._guard("store"):
            crash_point("before_insert")
            if self._upsert_sql() is not None:
                return self._upsert(item)
            for _ in range(3):  # a purge may delete the row between the two statements
                stored = self._insert(item) or self._count_duplicate(item)
                if stored is not None:
                    crash_point("after_commit")
                    return stored
        msg = "Django inbox: store failed: the key kept vanishing"
        raise InboxError(msg)

    def _upsert_sql(self, rows: int = 1) -> str | None:
        """PostgreSQL and SQLite: the store of ``rows`` deliveries as ONE upsert, else ``None``.

        One round trip, and in autocommit mode one transaction; other databases
        take the ORM path (an insert, else a conditional update of the duplicate).
        """
        if not self.raw_upsert or self.connection.vendor not in ("postgresql", "sqlite"):
            return None
        if self._upsert_parts is None:
            quote = self.connection.ops.quote_name
            table = quote(self._app().Delivery._meta.db_table)
            rearm = "d.state = 'dead' AND d.event_type IS NOT NULL AND d.body IS NOT NULL"
            # The table name comes from the model; every value is a bound parameter.
            self._upsert_parts = (
                f"INSERT INTO {table} AS d (key, state, event_type, resource_id, body,"  # noqa: S608
                " received_at, next_attempt_at, last_error, finished_at, attempts,"
                " duplicates, lease_token, purged) VALUES ",
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, %s)",
                " ON CONFLICT (key) DO UPDATE SET duplicates = d.duplicates + 1,"
                f" state = CASE WHEN {rearm} THEN 'pending' ELSE d.state END,"
                f" attempts = CASE WHEN {rearm} THEN 0 ELSE d.attempts END,"
                f" next_attempt_at = CASE WHEN {rearm} THEN excluded.received_at"
                " ELSE d.next_attempt_at END,"
                f" finished_at = CASE WHEN {rearm} THEN NULL ELSE d.finished_at END"
                " RETURNING key, id, state, duplicates",
            )
        head, row, tail = self._upsert_parts
        return head + ", ".join([row] * rows) + tail

    def _params(self, item: NewDelivery) -> list[Any]:
        dead = item.error is not None
        received = self.connection.ops.adapt_datetimefield_value(self._at(item.received_at))
        return [
            item.key,
            _DEAD if dead else _PENDING,
            item.event_type,
            _resource_id(item),
            item.body,
            received,
            None if dead else received,
            item.error,
            received if dead else None,
            False,
        ]

    def _execute_upsert(self, items: list[NewDelivery]) -> dict[str, Stored]:
        """One upsert statement for ``items`` (distinct keys): what each became, by key."""
        sql = self._upsert_sql(len(items))
        assert sql is not None  # only called where the database has the statement
        params = [value for item in items for value in self._params(item)]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return {
            key: Stored(id=row_id, key=key, duplicate=duplicates > 0, state=DeliveryState(state))
            for key, row_id, state, duplicates in rows
        }

    def _upsert(self, item: NewDelivery) -> Stored:
        """Store one delivery; concurrent calls of this process share one statement."""
        if self.connection.in_atomic_block:  # joins the caller's transaction
            return self._execute_upsert([item])[item.key]
        result = self._group.submit(item, self._commit_batch)
        assert result is not None  # set by the batch's leader
        crash_point("after_commit")
        return result

    def _commit_batch(self, batch: list[Waiter[Stored]]) -> None:
        """Store a batch in ONE transaction (one commit, one flush); a bad row fails alone."""
        first: dict[str, Waiter[Stored]] = {}
        repeats: list[Waiter[Stored]] = []  # a key twice in one batch: upserted after the first
        for waiter in batch:
            if waiter.item.key in first:
                repeats.append(waiter)
            else:
                first[waiter.item.key] = waiter
        unique = list(first.values())
        chunks = [unique[i : i + _BATCH_ROWS] for i in range(0, len(unique), _BATCH_ROWS)]
        try:
            try:
                several = len(chunks) > 1 or bool(repeats) or _CRASH_AFTER_INSERT
                with self._atomic() if several else contextlib.nullcontext():
                    for chunk in chunks:
                        stored = self._execute_upsert([waiter.item for waiter in chunk])
                        for waiter in chunk:
                            waiter.result = stored[waiter.item.key]
                    for waiter in repeats:
                        waiter.result = self._execute_upsert([waiter.item])[waiter.item.key]
                    crash_point("after_insert")
            except DatabaseError as exc:
                if len(batch) == 1:
                    raise
                logger.warning(
                    "Django inbox: a batch of %d stores failed (%s); storing them one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for waiter in batch:  # each in its own statement: a bad row fails alone
                    waiter.result = None
                    try:
                        waiter.result = self._execute_upsert([waiter.item])[waiter.item.key]
                    except DatabaseError as each:
                        waiter.error = _error("store", each)
        except BaseException as exc:
            error = _error("store", exc) if isinstance(exc, DatabaseError) else exc
            for waiter in batch:
                waiter.result = None
                waiter.error = error
        finally:
            for waiter in batch:
                waiter.done.set()

    def _insert(self, item: NewDelivery) -> Stored | None:
        from django.db import IntegrityError

        dead = item.error is not None
        model = self._app().Delivery
        try:
            with self._atomic():
                row = model(
                    key=item.key,
                    state=_DEAD if dead else _PENDING,
                    event_type=item.event_type,
                    resource_id=_resource_id(item),
                    body=item.body,
                    received_at=self._at(item.received_at),
                    next_attempt_at=None if dead else self._at(item.received_at),
                    last_error=item.error,
                    finished_at=self._at(item.received_at) if dead else None,
                )
                row.save(using=self.alias, force_insert=True)
                crash_point("after_insert")
        except IntegrityError:
            return None  # the key is stored already
        return Stored(id=row.id, key=item.key, duplicate=False, state=DeliveryState(row.state))

    def _count_duplicate(self, item: NewDelivery) -> Stored | None:
        rearm = Q(state=_DEAD, event_type__isnull=False, body__isnull=False)
        with self._atomic():
            changed = self.deliveries.filter(key=item.key).update(
                duplicates=F("duplicates") + 1,
                state=Case(When(rearm, then=Value(_PENDING)), default=F("state")),
                attempts=Case(When(rearm, then=Value(0)), default=F("attempts")),
                next_attempt_at=Case(
                    When(rearm, then=Value(self._at(item.received_at))),
                    default=F("next_attempt_at"),
                ),
                finished_at=Case(When(rearm, then=Value(None)), default=F("finished_at")),
            )
            if not changed:
                return None
            delivery_id, state = self.deliveries.filter(key=item.key).values_list("id", "state")[0]
            crash_point("after_insert")
        return Stored(id=delivery_id, key=item.key, duplicate=True, state=DeliveryState(state))

    # -- worker side ---------------------------------------------------------------

    def claim(
        self, *, worker: str, now: float, lease: float, max_attempts: int, limit: int = 1
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries (see :meth:`Backend.claim`)."""
        at = self._at(now)
        expired = Q(state=_PROCESSING, lease_expires_at__lte=at)
        due = Q(state=_PENDING, next_attempt_at__lte=at) | expired
        with self._guard("claim"):
            if not self.deliveries.filter(due).exists():
                return []  # idle workers poll without taking a lock
            self.deliveries.filter(expired, attempts__gte=max_attempts).update(
                state=_DEAD,
                finished_at=at,
                lease_owner=None,
                lease_expires_at=None,
                lease_token=F("lease_token") + 1,
                last_traceback=None,
                last_error=(
                    "LeaseExpired: the worker running its last attempt stopped renewing "
                    "its lease (killed or hung); no attempts left"
                ),
            )
            until = self._at(now + lease)
            if self.connection.features.has_select_for_update_skip_locked:
                ids = self._claim_locked(worker, until, due, limit)
            else:
                ids = self._claim_conditional(worker, at, until, limit)
            return self._claims(ids)

    @staticmethod
    def _take(worker: str, until: datetime) -> dict[str, Any]:
        return {
            "state": _PROCESSING,
            "attempts": F("attempts") + 1,
            "lease_owner": worker[:255],
            "lease_token": F("lease_token") + 1,
            "lease_expires_at": until,
            "next_attempt_at": None,
        }

    def _claim_locked(self, worker: str, until: datetime, due: Q, limit: int) -> list[int]:
        with self._atomic():
            ids = list(
                self.deliveries.filter(due)
                .select_for_update(skip_locked=True)
                .order_by("next_attempt_at", "id")
                .values_list("id", flat=True)[:limit]
            )
            if ids:
                self.deliveries.filter(id__in=ids).update(**self._take(worker, until))
        return ids

    def _claim_conditional(
        self, worker: str, at: datetime, until: datetime, limit: int
    ) -> list[int]:
        candidates = list(
            self.deliveries.filter(state=_PROCESSING, lease_expires_at__lte=at)
            .order_by("lease_expires_at")
            .values_list("id", "lease_token")[: limit * 4]
        ) + list(
            self.deliveries.filter(state=_PENDING, next_attempt_at__lte=at)
            .order_by("next_attempt_at", "id")
            .values_list("id", "lease_token")[: limit * 4]
        )
        ids: list[int] = []
        for delivery_id, token in candidates:
            if len(ids) >= limit:
                break
            still_due = Q(state=_PENDING, next_attempt_at__lte=at) | Q(
                state=_PROCESSING, lease_expires_at__lte=at
            )
            taken = (
                self.deliveries.filter(still_due, id=delivery_id, lease_token=token).update(
                    **self._take(worker, until)
                )
                == 1
            )  # one statement: the write lock makes it atomic; the token fences it
            if taken:
                ids.append(delivery_id)
        return ids

    def _claims(self, ids: list[int]) -> list[Claim]:
        if not ids:
            return []
        rows = {row.id: row for row in self.deliveries.filter(id__in=ids)}
        done: dict[int, set[str]] = {}
        for delivery_id, handler in self.runs.filter(delivery_id__in=ids).values_list(
            "delivery_id", "handler"
        ):
            done.setdefault(delivery_id, set()).add(handler)
        return [
            Claim(
                delivery=self._delivery(rows[delivery_id]),
                token=rows[delivery_id].lease_token,
                succeeded=frozenset(done.get(delivery_id, ())),
            )
            for delivery_id in ids
            if delivery_id in rows
        ]

    def _held(self, claim: Claim) -> Any:
        return self.deliveries.filter(
            id=claim.delivery.id, lease_token=claim.token, state=_PROCESSING
        )

    def renew(self, delivery_id: int, token: int, *, now: float, lease: float) -> bool:
        """Extend the lease if ``token`` still holds it."""
        with self._guard("renew"):
            return bool(
                self.deliveries.filter(
                    id=delivery_id, lease_token=token, state=_PROCESSING
                ).update(lease_expires_at=self._at(now + lease))
                == 1
            )

    def complete_handler(
        self,
        claim: Claim,
        handler: str,
        run: Callable[[Any], None],
        *,
        now: float,
        last: bool = False,
    ) -> None:
        """Run a handler inside ``transaction.atomic()`` with its fenced success mark."""
        with self._guard("marking a handler's success"), self._atomic():
            try:
                run(self.connection)
            except BaseException as exc:  # re-raised unchanged (not an inbox error)
                if isinstance(exc, DatabaseError):
                    exc._boltcall_handler = True  # type: ignore[attr-defined]
                raise
            # The fence: an UPDATE of the row that holds its lock until the commit.
            if last:
                held = self._held(claim).update(
                    state=_DONE,
                    finished_at=self._at(now),
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None,
                )
            else:
                held = self._held(claim).update(lease_token=F("lease_token"))
            if held != 1:
                msg = f"lease on delivery {claim.delivery.id} lost; handler {handler!r} undone"
                raise LeaseLostError(msg)
            self._app().HandlerRun(
                delivery_id=claim.delivery.id,
                handler=handler,
                succeeded_at=self._at(now),
                attempt=claim.delivery.attempts,
            ).save(using=self.alias, force_insert=True)

    def finish(self, claim: Claim, *, now: float) -> bool:
        """Mark the delivery done if the token holds."""
        with self._guard("finish"):
            return bool(
                self._held(claim).update(
                    state=_DONE,
                    finished_at=self._at(now),
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None,
                )
                == 1
            )

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
        with self._guard("fail"):
            return bool(
                self._held(claim).update(
                    state=_DEAD if dead else _PENDING,
                    next_attempt_at=self._opt(next_attempt_at),
                    finished_at=self._at(now) if dead else None,
                    last_error=error,
                    last_traceback=traceback,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                == 1
            )

    def release(self, claim: Claim, *, now: float) -> bool:
        """Give back a claimed delivery that was not run."""
        with self._guard("release"):
            return bool(
                self._held(claim).update(
                    state=_PENDING,
                    next_attempt_at=self._at(now),
                    attempts=Greatest(F("attempts") - 1, Value(0)),
                    lease_owner=None,
                    lease_expires_at=None,
                )
                == 1
            )

    # -- reading and repair --------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery with this id, or ``None``."""
        with self._guard("get"):
            row = self.deliveries.filter(id=delivery_id).only(*_FIELDS).first()
            return None if row is None else self._delivery(row)

    def list(
        self, *, state: DeliveryState | None, event_type: str | None, limit: int
    ) -> list[Delivery]:
        """Deliveries, newest first."""
        rows = self.deliveries.only(*_FIELDS).order_by("-id")
        if state is not None:
            rows = rows.filter(state=state.value)
        if event_type is not None:
            rows = rows.filter(event_type=event_type)
        with self._guard("list"):
            return [self._delivery(row) for row in rows[:limit]]

    def stats(self) -> dict[str, int]:
        """A count per state, zeros included."""
        from django.db.models import Count

        counts = {state.value: 0 for state in DeliveryState}
        with self._guard("stats"):
            for state, count in (
                self.deliveries.order_by().values_list("state").annotate(n=Count("id"))
            ):
                counts[state] = count
        return counts

    def replay(self, delivery_id: int, *, now: float) -> Delivery:
        """Back to pending with every handler to run again."""
        with self._guard("replay"), self._atomic():
            # The write comes first: it takes the row's lock (SQLite: the write lock).
            changed = self.deliveries.filter(id=delivery_id, body__isnull=False).update(
                state=_PENDING,
                attempts=0,
                next_attempt_at=self._at(now),
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
                lease_token=F("lease_token") + 1,
            )
            if not changed:
                if not self.deliveries.filter(id=delivery_id).exists():
                    msg = f"no delivery with id {delivery_id}"
                    raise DeliveryNotFoundError(msg)
                msg = f"delivery {delivery_id} has no body any more (purged); it cannot run"
                raise InboxError(msg)
            self.runs.filter(delivery_id=delivery_id).delete()
            row = self.deliveries.only(*_FIELDS).get(id=delivery_id)
            return self._delivery(row)

    def replay_dead(self, *, now: float) -> int:
        """Replay every dead delivery that has a body."""
        with self._guard("replay_dead"), self._atomic():
            self.runs.filter(delivery__state=_DEAD, delivery__body__isnull=False).delete()
            return int(
                self.deliveries.filter(state=_DEAD, body__isnull=False).update(
                    state=_PENDING,
                    attempts=0,
                    next_attempt_at=self._at(now),
                    finished_at=None,
                    lease_token=F("lease_token") + 1,
                )
            )

    def purge(self, *, bodies_before: float, keys_before: float) -> int:
        """Remove old done bodies (keys stay), then delete rows past ``keys_before``."""
        bodies_before = max(bodies_before, keys_before)
        removed = 0
        with self._guard("purge"):
            while True:
                ids = list(
                    self.deliveries.filter(
                        state=_DONE, finished_at__lt=self._at(bodies_before), body__isnull=False
                    ).values_list("id", flat=True)[:_PURGE_BATCH]
                )
                if ids:
                    removed += self.deliveries.filter(id__in=ids, state=_DONE).update(
                        body=None, purged=True
                    )
                crash_point("during_purge")
                if len(ids) < _PURGE_BATCH:
                    break
            while True:
                ids = list(
                    self.deliveries.filter(
                        state=_DONE, finished_at__lt=self._at(keys_before)
                    ).values_list("id", flat=True)[:_PURGE_BATCH]
                )
                if ids:
                    with self._atomic():
                        self.runs.filter(delivery_id__in=ids).delete()
                        self.deliveries.filter(id__in=ids, state=_DONE).delete()
                if len(ids) < _PURGE_BATCH:
                    break
        return removed

    def close(self) -> None:
        """Close this thread's connection to the alias (Django reopens it on next use)."""
        if self._models is not None:
            self.connection.close()
