"""RQ as the place where handlers run: a private redis-server, real ``rq worker`` processes.

Two ``rq worker`` processes (each forks a work horse per job) on a private
``redis-server`` with ``appendonly yes``; the web side is a producer storing through
``inbox.store``; the relay runs as ``boltcall-webhooks inbox relay``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from .chaos import broker_outage, exactly_once, kill_chaos
from .support import Harness, RedisServer


@pytest.fixture
def redis_server(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """A private redis-server (appendonly yes), stopped afterwards."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def harness(tmp_path: pathlib.Path, redis_server: RedisServer) -> Iterator[Harness]:
    made = Harness(tmp_path, "rq", redis_server.url)
    yield made
    made.close()


def test_every_delivery_runs_its_handlers_exactly_once(harness: Harness) -> None:
    """Stored, enqueued after the commit, run once per handler in the ledger."""
    figures = exactly_once(harness)
    assert figures["ledger_rows"] == 2 * figures["deliveries"]


def test_redis_down_stores_still_succeed_and_nothing_is_lost(
    harness: Harness, redis_server: RedisServer
) -> None:
    """Redis stopped under load: stores go on; when it returns, everything runs once."""
    figures = broker_outage(harness, redis_server.stop, redis_server.start, count=400)
    assert figures["stored_while_broker_down"] > 0


def test_workers_killed_at_random_lose_nothing_and_run_nothing_twice(harness: Harness) -> None:
    """kill -9 of work horses and whole workers under load: 0 lost, 0 twice."""
    kill_chaos(harness)
