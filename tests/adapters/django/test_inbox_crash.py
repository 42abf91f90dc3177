"""Exactly once for ORM writes: a worker killed (SIGKILL) inside a handler, then restarted.

A handler's ORM writes commit in one transaction with its success mark. Killed
after its write, or after it returned but before the commit, the transaction
dies with the process; the lease expires, the next worker runs the handler
again, and the database holds exactly one row per (delivery, handler). Run on
SQLite and, with ``settings_postgres``, on PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import LogEntry
from inbox.support import lead_body

from boltcall_webhooks.django.models import HandlerRun
from boltcall_webhooks.inbox import DeliveryState, Inbox

from .inbox_db import django_database, inbox_db
from .test_inbox_command import ROUTER, TIMEOUT, command_env

__all__ = ["django_database", "inbox_db"]  # fixtures

COUNT = 5
WORK = [sys.executable, "-m", "django", "boltcall_inbox", "work", "--router", ROUTER]
LEASE = "1"


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django")`` holding five deliveries."""
    inbox = Inbox("django")
    for number in range(COUNT):
        inbox.store(lead_body(number))
    yield inbox
    inbox.close()


def _work(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WORK, "--lease", LEASE, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=command_env(**env),
        check=False,
    )


@pytest.mark.parametrize(
    "crash",
    [
        pytest.param({"BOLTCALL_TEST_KILL_AFTER_ORM_WRITE": "3"}, id="in-handler-after-orm-write"),
        pytest.param(
            {"BOLTCALL_INBOX_CRASH_AT": "after_handler:5"}, id="after-handler-before-commit"
        ),
    ],
)
def test_a_killed_worker_leaves_one_row_per_delivery_and_handler(
    inbox: Inbox, crash: dict[str, str]
) -> None:
    """Killed mid-way, restarted after the lease: every delivery done, each write once."""
    killed = _work(**crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stats = inbox.stats()
    assert stats["processing"] == 1  # the delivery it was running: leased to a dead worker
    assert stats["done"] == 2
    time.sleep(float(LEASE) + 0.2)  # the dead worker's lease expires
    finished = _work("--once")
    assert (finished.returncode, finished.stdout.strip()) == (0, "processed 3"), finished.stderr
    deliveries = inbox.list()
    assert {d.state for d in deliveries} == {DeliveryState.DONE}
    assert sorted(d.attempts for d in deliveries) == [1, 1, 1, 1, 2]  # the killed one: 2
    writes = list(LogEntry.objects.values_list("object_id", "object_repr"))
    assert sorted(writes) == sorted((str(d.id), "orm") for d in deliveries)
    runs = list(HandlerRun.objects.values_list("delivery_id", "handler"))
    assert sorted(runs) == sorted((d.id, h) for d in deliveries for h in ("orm", "slow"))
