"""``Inbox("django://other")``: the inbox in another database of the project."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connections
from inbox.support import lead_body

from boltcall_webhooks import NewLeadEvent, Router
from boltcall_webhooks.django.models import Delivery as DeliveryRow
from boltcall_webhooks.inbox import Delivery, DeliveryState, Inbox

from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures


@pytest.fixture
def other(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django://other")`` on the migrated, emptied second database."""
    call_command("migrate", database="other", verbosity=0)
    DeliveryRow.objects.using("other").all().delete()
    with connections["other"].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS ledger")
        cursor.execute("CREATE TABLE ledger (key TEXT NOT NULL, handler TEXT NOT NULL)")
    inbox = Inbox("django://other")
    yield inbox
    inbox.close()
    with connections["other"].cursor() as cursor:
        cursor.execute("DROP TABLE ledger")
    connections["other"].close()


def test_an_alias_stores_and_works_in_its_own_database(other: Inbox) -> None:
    """Rows go to ``other`` only; ``delivery.connection`` is that database's connection."""
    router = Router()

    @router.on(NewLeadEvent, name="ledger")
    def ledger(event: NewLeadEvent, delivery: Delivery) -> None:
        assert delivery.connection is connections["other"]
        with delivery.connection.cursor() as cursor:
            cursor.execute("INSERT INTO ledger VALUES (%s, %s)", [delivery.key, "ledger"])

    stored = other.store(lead_body(1))
    assert DeliveryRow.objects.using("other").count() == 1
    assert DeliveryRow.objects.using("default").count() == 0
    assert Inbox("django").stats()["pending"] == 0
    assert other.work(router, once=True) == 1
    assert other.get(stored.id).state is DeliveryState.DONE
    with connections["other"].cursor() as cursor:
        cursor.execute("SELECT key, handler FROM ledger")
        assert cursor.fetchall() == [(stored.key, "ledger")]
