"""What ``Inbox("django")`` says when the database fails: the class, never the values."""

from __future__ import annotations

import pytest
from django.db import OperationalError, ProgrammingError

from boltcall_webhooks.django._backend import _error  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("no such table: boltcall_webhooks_delivery"),
        ProgrammingError('relation "boltcall_webhooks_delivery" does not exist\nLINE 1: ...'),
        ProgrammingError("Table 'app.boltcall_webhooks_handlerrun' doesn't exist"),
    ],
)
def test_missing_tables_say_run_migrate(exc: Exception) -> None:
    """SQLite, PostgreSQL and MySQL wordings of a missing table give the migrate hint."""
    message = str(_error("store", exc))
    assert message == (
        f"Django inbox: store failed: {type(exc).__name__} "
        "(the inbox's tables are missing: run `manage.py migrate`)"
    )


def test_other_failures_show_only_the_class() -> None:
    """A driver message may quote a key or a body: only its class reaches the error."""
    exc = OperationalError("value 'lead_secret_thing' violates something")
    assert str(_error("store", exc)) == "Django inbox: store failed: OperationalError"
