"""A fresh PostgreSQL schema per test, for the contract suite and the PostgreSQL tests.

The server is ``BOLTCALL_TEST_POSTGRES_URL`` (default: the local one,
``postgresql://postgres@127.0.0.1:5432/test``). Without psycopg or a server
answering, the tests that need it are skipped with the reason, unless
``BOLTCALL_REQUIRE_POSTGRES`` is set (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest

from .support import Setup

SERVER_ENV = "BOLTCALL_TEST_POSTGRES_URL"
REQUIRE_ENV = "BOLTCALL_REQUIRE_POSTGRES"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The PostgreSQL server the tests use (no schema in it)."""
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


def require_postgres() -> Any:
    """Import psycopg and check that the server answers; skip (or fail in CI) if not.

    Returns:
        The ``psycopg`` module.
    """
    reason = None
    try:
        import psycopg
    except ImportError:
        reason = 'psycopg is not installed (pip install "boltcall-webhooks[postgres]")'
    else:
        try:
            with psycopg.connect(server_url(), connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            reason = f"no PostgreSQL answers at ${SERVER_ENV} or the default: {type(exc).__name__}"
    if reason is None:
        return psycopg
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"PostgreSQL is required here ({REQUIRE_ENV} is set) but {reason}")
    pytest.skip(f"PostgreSQL inbox tests skipped: {reason}; set {SERVER_ENV} to run them")


def schema_url(schema: str) -> str:
    """The inbox URL for ``schema``; unqualified names (the tests' ledger) resolve there too."""
    base = server_url()
    joiner = "&" if "?" in base else "?"
    options = quote(f"-c search_path={schema},public", safe="")
    return f"{base}{joiner}schema={schema}&options={options}"


@contextmanager
def fresh_schema(prefix: str = "bt", *, create: bool = True) -> Iterator[tuple[str, str]]:
    """A schema name nobody uses, dropped afterwards: yields ``(schema, inbox URL)``.

    ``create``: create the (empty) schema first, so that tables a test makes before
    the inbox migrates (its ledger) land in it; ``migrate()`` then adds the inbox's.
    """
    psycopg = require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if create:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, schema_url(schema)
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def postgres_backend(_tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh PostgreSQL inbox (its own schema) for one contract test."""
    with fresh_schema() as (schema, url):
        psycopg = require_postgres()

        def query(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            with psycopg.connect(server_url(), autocommit=True) as conn:
                conn.execute(f'SET search_path = "{schema}", public')
                cursor = conn.execute(statement, params)
                return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        yield Setup(url=url, query=query, placeholder="%s")
