"""The router the crash tests' workers run: a ledger in the inbox's database, an outside effect.

* ``ledger`` and ``ledger_after`` insert a row ``(delivery id, handler, key)`` into
  :data:`LEDGER_TABLE` through ``delivery.connection``: committed with the handler's
  success mark, so each must appear exactly once per delivery, whatever was killed.
* ``outside`` appends ``id<TAB>key<TAB>pid`` to the file named by
  ``BOLTCALL_TEST_EFFECTS`` (an effect outside the database: at least once, always
  with the same ``delivery.key``). With ``BOLTCALL_TEST_KILL_IN_HANDLER=N`` the
  process kills itself (SIGKILL) right after its N-th such effect.
* ``BOLTCALL_TEST_HANDLER_SLEEP`` (seconds) makes ``outside`` slower (chaos runs:
  more deliveries are mid-handler when a worker is killed).
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
    "(delivery_id INTEGER NOT NULL, handler TEXT NOT NULL, key TEXT NOT NULL, pid INTEGER)"
)
LEDGER_HANDLERS = ("ledger", "ledger_after")

_kill_after = int(os.environ.get("BOLTCALL_TEST_KILL_IN_HANDLER", "0") or 0)
_sleep = float(os.environ.get("BOLTCALL_TEST_HANDLER_SLEEP", "0") or 0)
_effects = 0
_lock = threading.Lock()

router = Router()


def _write_ledger(name: str, delivery: Delivery) -> None:
    connection = delivery.connection
    assert connection is not None
    connection.execute(
        f"INSERT INTO {LEDGER_TABLE} (delivery_id, handler, key, pid) VALUES (?, ?, ?, ?)",
        (delivery.id, name, delivery.key, os.getpid()),
    )


@router.on_any(name="ledger")
def ledger(event: Event, delivery: Delivery) -> None:
    """A database effect, through the inbox's connection."""
    del event
    _write_ledger("ledger", delivery)


@router.on_any(name="outside")
def outside(event: Event, delivery: Delivery) -> None:
    """An outside effect (a line in a file), then maybe the process dies."""
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
