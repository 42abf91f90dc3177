"""The crash tests' cluster (servers and worker processes) on a PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import sys
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pytest
from inbox_crash.harness import Cluster, Proc

from .pg_handlers import LEDGER_SCHEMA

SERVER_ENV = "BOLTCALL_TEST_POSTGRES_URL"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def _server() -> str:
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


def _psycopg() -> Any:
    reason = None
    try:
        import psycopg
    except ImportError:
        reason = 'psycopg is not installed (pip install "boltcall-webhooks[postgres]")'
    else:
        try:
            with psycopg.connect(_server(), connect_timeout=3, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            reason = f"no PostgreSQL answers at ${SERVER_ENV} or the default: {type(exc).__name__}"
    if reason is None:
        return psycopg
    if os.environ.get("BOLTCALL_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here (BOLTCALL_REQUIRE_POSTGRES is set) but {reason}")
    pytest.skip(f"PostgreSQL chaos run skipped: {reason}")


class PostgresCluster(Cluster):
    """The crash tests' cluster on a fresh PostgreSQL schema instead of a SQLite file."""

    def __init__(self, directory: pathlib.Path, *, lease: float) -> None:
        super().__init__(directory, lease=lease)
        self.psycopg = _psycopg()
        self.schema = f"chaos_{uuid.uuid4().hex[:10]}"
        #: The inbox's backends carry this name, so the chaos loop kills only ours.
        self.application = f"bt_{self.schema}"
        options = quote(f"-c search_path={self.schema},public", safe="")
        joiner = "&" if "?" in _server() else "?"
        self.url = (
            f"{_server()}{joiner}schema={self.schema}&options={options}"
            f"&application_name={self.application}"
        )

    def _sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self.psycopg.connect(_server(), autocommit=True) as conn:
            conn.execute(f'SET search_path = "{self.schema}", public')
            cursor = conn.execute(statement, params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def prepare(self) -> None:
        from boltcall_webhooks.inbox import Inbox

        self._sql(f'CREATE SCHEMA "{self.schema}"')
        inbox = Inbox(self.url)
        inbox.migrate()
        inbox.close()
        self._sql(LEDGER_SCHEMA)

    def query(self, sql: str, params: Any = ()) -> list[Any]:
        """SQL of the crash tests, with their SQLite table name mapped to the schema's."""
        return self._sql(sql.replace("boltcall_inbox_deliveries", "deliveries"), tuple(params))

    def rows(self) -> dict[str, tuple[int, str, int, bool]]:
        return {
            key: (delivery_id, state, duplicates, has_body)
            for delivery_id, key, state, duplicates, has_body in self._sql(
                "SELECT id, key, state, duplicates, body IS NOT NULL FROM deliveries"
            )
        }

    def stats(self) -> Counter[str]:
        return Counter(dict(self._sql("SELECT state, count(*) FROM deliveries GROUP BY state")))

    def start_worker(self, extra: Mapping[str, str] = {}, *, concurrency: int = 2) -> Proc:
        argv = [
            sys.executable, "-m", "boltcall_webhooks", "inbox", "work",
            "--router", "tests.inbox_chaos.pg_handlers:router",
            "--concurrency", str(concurrency), "--lease", str(self.lease),
        ]  # fmt: skip
        return self._start("worker", argv, extra)

    def terminate_backends(self, rng: random.Random, share: float) -> int:
        """``pg_terminate_backend`` on a random ``share`` of the inbox's live backends."""
        pids = [
            row[0]
            for row in self._sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (self.application,),
            )
        ]
        victims = rng.sample(pids, max(1, int(len(pids) * share))) if pids else []
        for pid in victims:
            self._sql("SELECT pg_terminate_backend(%s)", (pid,))
        return len(victims)

    def close(self) -> None:
        super().close()
        with (
            contextlib.suppress(self.psycopg.Error),
            self.psycopg.connect(_server(), autocommit=True) as conn,
        ):
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (self.application,),
            )
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
