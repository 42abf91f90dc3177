"""The router of the PostgreSQL chaos run's workers (``%s`` placeholders, psycopg).

The same three handlers as :mod:`tests.inbox_crash.handlers`: ``ledger`` and
``ledger_after`` write ``(delivery id, handler, key)`` through
``delivery.connection`` (committed with the success mark: exactly once each),
``outside`` appends ``id<TAB>key<TAB>pid`` to ``BOLTCALL_TEST_EFFECTS`` (at least
once, always with the delivery's key) after sleeping ``BOLTCALL_TEST_HANDLER_SLEEP``;
with ``BOLTCALL_TEST_KILL_IN_HANDLER=N`` the process SIGKILLs itself right after its
N-th outside effect (the crash matrix's "in a handler" point).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from boltcall_webhooks import Event, Router
from boltcall_webhooks.inbox import Delivery

LEDGER_TABLE = "crash_ledger"
LEDGER_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} "
    "(delivery_id bigint NOT NULL, handler text NOT NULL, key text NOT NULL, pid integer)"
)

_sleep = float(os.environ.get("BOLTCALL_TEST_HANDLER_SLEEP", "0") or 0)
_kill_after = int(os.environ.get("BOLTCALL_TEST_KILL_IN_HANDLER", "0") or 0)
_effects = 0
_lock = threading.Lock()

router = Router()


def _write_ledger(name: str, delivery: Delivery) -> None:
    delivery.connection.execute(
        f"INSERT INTO {LEDGER_TABLE} (delivery_id, handler, key, pid) VALUES (%s, %s, %s, %s)",
        (delivery.id, name, delivery.key, os.getpid()),
    )


@router.on_any(name="ledger")
def ledger(event: Event, delivery: Delivery) -> None:
    """A database effect, through the inbox's connection."""
    del event
    _write_ledger("ledger", delivery)


@router.on_any(name="outside")
def outside(event: Event, delivery: Delivery) -> None:
    """An outside effect: a line in a file, then maybe the process dies."""
    global _effects  # noqa: PLW0603
    del event
    if _sleep:
        time.sleep(_sleep)
    path = os.environ.get("BOLTCALL_TEST_EFFECTS")
    if path:
        line = f"{delivery.id}\t{delivery.key}\t{os.getpid()}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    if _kill_after:
        with _lock:
            _effects += 1
            if _effects >= _kill_after:
                os.kill(os.getpid(), signal.SIGKILL)


@router.on_any(name="ledger_after")
def ledger_after(event: Event, delivery: Delivery) -> None:
    """A second database effect, after the outside one."""
    del event
    _write_ledger("ledger_after", delivery)
