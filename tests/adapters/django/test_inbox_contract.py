"""The inbox contract (``tests/inbox/test_contract.py``) against ``Inbox("django")``.

Every rule the SQLite and PostgreSQL backends keep, kept by the Django ORM
backend too, on the test settings' database (SQLite, or PostgreSQL with
``settings_postgres``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from inbox import test_contract
from inbox.support import LEDGER_SQL, lead_body

from boltcall_webhooks import NewLeadEvent, Router
from boltcall_webhooks.inbox import Delivery, DeliveryState, Inbox
from boltcall_webhooks.testing import FixedClock

from .inbox_db import DjangoSetup, django_database, django_setup, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures


@pytest.fixture
def backend(inbox_db: None) -> Iterator[DjangoSetup]:
    """``Inbox("django")`` on empty tables."""
    with django_setup() as setup:
        yield setup


@pytest.fixture
def clock() -> FixedClock:
    """A clock the test moves by hand (2030-01-01T00:00:00Z)."""
    return FixedClock("2030-01-01T00:00:00Z")


@pytest.fixture
def make_inbox(backend: DjangoSetup, clock: FixedClock) -> Iterator[Callable[..., Inbox]]:
    """``make_inbox(**options)``: a Django inbox on the fixed clock."""
    made: list[Inbox] = []

    def make(**options: Any) -> Inbox:
        options.setdefault("clock", clock)
        inbox = Inbox(backend.url, **backend.options, **options)
        made.append(inbox)
        return inbox

    yield make
    for inbox in made:
        inbox.close()


class TestDjangoInboxContract(test_contract.TestInboxContract):
    """The whole contract class, run on the Django backend."""

    def test_a_handler_may_store_before_writing_but_not_after(
        self, make_inbox: Callable[..., Inbox], backend: DjangoSetup, clock: FixedClock
    ) -> None:
        """Django: a store inside a handler joins the handler's transaction (savepoint).

        Unlike the SQLite backend (which refuses a store after the handler's first
        write), the stored delivery commits or rolls back with the handler's
        writes and its success mark: a handler that fails stores nothing.
        """
        backend.query(LEDGER_SQL)
        inbox = make_inbox(backoff=lambda attempt: 1.0)
        router = Router()

        @router.on(NewLeadEvent, name="chain")
        def chain(event: NewLeadEvent, delivery: Delivery) -> None:
            backend.ledger_insert(delivery.connection, delivery.key, "chain")
            if event.raw["data"]["id"] == "lead_000001":
                inbox.store(lead_body(200 + delivery.attempts))
                if delivery.attempts == 1:
                    raise RuntimeError("after the writes")

        stored = inbox.store(lead_body(1))
        assert inbox.work(router, once=True) == 1
        assert backend.query("SELECT * FROM ledger") == []  # rolled back, store included
        assert inbox.stats()["pending"] == 1
        clock.advance(1)
        assert inbox.work(router, once=True) == 2  # lead 1, then lead 202 it stored
        rows = backend.query("SELECT key FROM ledger ORDER BY key")
        assert [row[0].split(":")[1] for row in rows] == ["lead_000001", "lead_000202"]
        assert inbox.get(stored.id).state is DeliveryState.DONE
        assert inbox.stats() == {"pending": 0, "processing": 0, "done": 2, "dead": 0}

    def test_the_lease_is_renewed_while_a_long_handler_runs(
        self, make_inbox: Callable[..., Inbox]
    ) -> None:
        """The contract's test with the thief in a thread of its own.

        Django gives each thread one connection: a thief running inside the
        handler would run inside the handler's transaction (and, on SQLite, on
        its snapshot), which is not what another worker sees.
        """
        inbox = make_inbox(lease=0.6, clock=None)  # real time
        other = make_inbox(lease=0.6, clock=None)
        router = Router()
        inside = threading.Event()
        stolen: list[int] = []

        def thief() -> None:
            deadline = time.monotonic() + 2.0  # more than three leases
            while time.monotonic() < deadline:
                stolen.extend(
                    claim.delivery.attempts
                    for claim in other.backend.claim(
                        worker="thief", now=other.now(), lease=0.6, max_attempts=8
                    )
                )
                time.sleep(0.1)

        @router.on(NewLeadEvent, name="long")
        def long(event: NewLeadEvent) -> None:
            inside.set()
            thread = threading.Thread(target=thief)
            thread.start()
            thread.join()

        stored = inbox.store(lead_body(1))
        assert inbox.work(router, once=True) == 1
        assert inside.is_set()
        assert stolen == []
        delivery = inbox.get(stored.id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.DONE, 1)


class TestDjangoInboxContractOrmStore(TestDjangoInboxContract):
    """The contract again with the ORM store path (databases without an upsert statement)."""

    @pytest.fixture
    def make_inbox(
        self, backend: DjangoSetup, clock: FixedClock
    ) -> Iterator[Callable[..., Inbox]]:
        """Django inboxes whose backend stores through the ORM (insert, else update)."""
        made: list[Inbox] = []

        def make(**options: Any) -> Inbox:
            options.setdefault("clock", clock)
            inbox = Inbox(backend.url, **backend.options, **options)
            inbox.backend.raw_upsert = False  # type: ignore[attr-defined]
            made.append(inbox)
            return inbox

        yield make
        for inbox in made:
            inbox.close()
