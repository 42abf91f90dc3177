"""The router of the Django inbox tests' workers (``--router adapters.django.inbox_hooks.router``).

* ``orm`` writes one ``LogEntry`` row per delivery with the ORM (``object_id`` = the
  delivery id, ``object_repr`` = the handler): committed with the handler's success
  mark, so exactly one row per delivery whatever was killed. With
  ``BOLTCALL_TEST_KILL_AFTER_ORM_WRITE=N`` the process kills itself (SIGKILL) right
  after its N-th write, inside the handler's open transaction.
* ``slow`` (only with ``BOLTCALL_TEST_SLOW_MARKS=DIR``) writes ``DIR/started``,
  sleeps 1.5 s, writes ``DIR/finished``: a handler running when SIGTERM comes.
"""

from __future__ import annotations

import os
import pathlib
import signal
import time

from boltcall_webhooks import Event, Router
from boltcall_webhooks.inbox import Delivery

router = Router()
_writes = 0


@router.on_any(name="orm")
def orm(event: Event, delivery: Delivery) -> None:
    """An ORM write in the handler's transaction."""
    global _writes  # noqa: PLW0603
    from django.contrib.admin.models import ADDITION, LogEntry

    LogEntry.objects.create(
        user_id=int(os.environ["BOLTCALL_TEST_LEDGER_USER"]),
        object_id=str(delivery.id),
        object_repr="orm",
        action_flag=ADDITION,
        change_message=delivery.key,
    )
    _writes += 1
    if _writes == int(os.environ.get("BOLTCALL_TEST_KILL_AFTER_ORM_WRITE", "0") or 0):
        os.kill(os.getpid(), signal.SIGKILL)


@router.on_any(name="slow")
def slow(event: Event) -> None:
    """A long handler (SIGTERM tests); does nothing without BOLTCALL_TEST_SLOW_MARKS."""
    marks = os.environ.get("BOLTCALL_TEST_SLOW_MARKS")
    if not marks:
        return
    (pathlib.Path(marks) / "started").write_text(str(os.getpid()))
    time.sleep(1.5)
    (pathlib.Path(marks) / "finished").write_text(str(os.getpid()))
