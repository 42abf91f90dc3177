"""``await inbox.store_async`` with ``Inbox("django")`` holds few database connections.

Django's connections are per thread: each thread ``store_async`` stores on opens
its own. A burst of concurrent stores must not leave dozens of idle connections
open (PostgreSQL's ``max_connections`` would then refuse the web workers').
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from django.db import connections
from inbox.support import lead_body

from boltcall_webhooks.inbox import Inbox

from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django")`` on empty tables."""
    inbox = Inbox("django")
    yield inbox
    inbox.close()


def test_a_burst_of_async_stores_leaves_no_idle_connection_behind(inbox: Inbox) -> None:
    """64 concurrent stores: at most 4 store threads, each closing its connection after use."""

    async def burst() -> None:
        stored = await asyncio.gather(*(inbox.store_async(lead_body(i)) for i in range(64)))
        assert len({s.id for s in stored}) == 64

    asyncio.run(burst())
    executor = inbox._store_executor()
    assert executor._max_workers == 4
    # Visit every store thread at once (a barrier as wide as the pool) and look at
    # its connection: closed after the store, as Django closes one after a request
    # (CONN_MAX_AGE is 0, Django's default).
    barrier = threading.Barrier(4)

    def connection_is_closed() -> bool:
        barrier.wait(10)
        return connections["default"].connection is None

    futures = [executor.submit(connection_is_closed) for _ in range(4)]
    assert [future.result(30) for future in futures] == [True] * 4
    assert inbox.stats()["pending"] == 64
