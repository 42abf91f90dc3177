"""The SQLite crash matrix, run against PostgreSQL: kill -9 at every step, nothing lost.

The scenarios are :mod:`tests.inbox_crash.test_crash_matrix`'s own test functions
(imported, so they are collected here once more), with this module's ``cluster``
fixture: the same gunicorn and uvicorn servers and ``inbox work`` processes on a
fresh PostgreSQL schema (:class:`~.pg_cluster.PostgresCluster`). Each crash point
(before/after insert, after commit, after claim, in a handler, after a handler,
during purge) kills its process; re-sends and the lease rules must recover every
delivery exactly as on SQLite.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

pytest.importorskip("flask")
pytest.importorskip("starlette")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

from inbox_crash.test_crash_matrix import (
    LEASE,
    test_killed_during_purge,
    test_web_worker_killed_while_storing,
    test_worker_process_killed_while_processing,
)

from .pg_cluster import PostgresCluster

pytestmark = pytest.mark.servers

__all__ = [
    "test_killed_during_purge",
    "test_web_worker_killed_while_storing",
    "test_worker_process_killed_while_processing",
]


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[PostgresCluster]:
    """A fresh schema with its ledger table; every process it starts is killed at the end."""
    with PostgresCluster(tmp_path, lease=LEASE) as running:
        running.prepare()
        yield running
