"""The database of the Django inbox tests: created and migrated once, emptied around each test.

The tests need committed rows (worker threads, child processes), so they do not
use Django's per-test transactions: each test starts and ends with empty inbox
tables, no ledger and no users. On PostgreSQL (``settings_postgres``) the
session creates its own database on the local server and drops it at the end.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from inbox.support import OPTIONS_ENV, Setup

TESTS = pathlib.Path(__file__).resolve().parents[2]


def is_postgres() -> bool:
    """Whether the tests run on PostgreSQL (``settings_postgres``)."""
    return bool(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"))


def _server() -> tuple[Any, str]:
    from inbox.postgres_setup import require_postgres, server_url

    return require_postgres(), server_url()


def _create_database() -> None:
    if not is_postgres():
        return
    psycopg, url = _server()
    name = settings.DATABASES["default"]["NAME"]
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database() -> None:
    connections.close_all()
    if not is_postgres():
        return
    psycopg, url = _server()
    name = settings.DATABASES["default"]["NAME"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def django_database() -> Iterator[None]:
    """The test database, migrated (every app, the inbox's included)."""
    _create_database()
    call_command("migrate", verbosity=0)
    yield
    _drop_database()


def empty_tables() -> None:
    """Delete every inbox row, user and the ledger (autocommit)."""
    from django.contrib.auth.models import User

    from boltcall_webhooks.django.models import Delivery, HandlerRun

    HandlerRun.objects.all().delete()
    Delivery.objects.all().delete()
    User.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS ledger")


@pytest.fixture
def inbox_db(django_database: None) -> Iterator[None]:
    """Empty inbox tables before and after the test."""
    empty_tables()
    yield
    connections.close_all()  # a test's own connection (worker threads close theirs)
    empty_tables()
    connection.close()


class DjangoSetup(Setup):
    """The inbox contract's :class:`~inbox.support.Setup` for ``Inbox("django")``."""

    def ledger_insert(self, connection: Any, key: str, handler: str) -> None:
        """Write a ledger row through ``delivery.connection`` (a Django DatabaseWrapper)."""
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO ledger (key, handler) VALUES (%s, %s)", (key, handler))

    def env(self) -> dict[str, str]:
        """A child process opens the same database through the same settings."""
        return {
            OPTIONS_ENV: "{}",
            "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        }


def _query(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement.replace("?", "%s"), params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


@contextmanager
def django_setup(alias: str = "default") -> Iterator[DjangoSetup]:
    """The Setup of ``Inbox("django")`` (the tables must be empty: :func:`inbox_db`)."""
    url = "django" if alias == "default" else f"django://{alias}"
    yield DjangoSetup(url=url, query=_query, placeholder="%s")
