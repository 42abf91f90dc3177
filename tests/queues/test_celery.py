"""Celery as the place where handlers run: real brokers, a real ``celery worker`` (prefork -c 2).

Each scenario runs on RabbitMQ (127.0.0.1:5672, guest/guest) and on a private
``redis-server`` with ``appendonly yes``. The web side is a producer process
storing through ``inbox.store`` (what the ``inbox=`` endpoints call before their
200); the relay runs as ``boltcall-webhooks inbox relay``. The ledger is written
by the handlers through ``delivery.connection``.
"""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Iterator

import pytest

from .chaos import broker_outage, exactly_once, kill_chaos
from .support import RABBITMQ_PORT, Harness, RedisServer, port_open

RABBITMQ = f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}//"


@pytest.fixture
def redis_server(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """A private redis-server (appendonly yes), stopped afterwards."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[tuple[str, str]]:
    """``(kind, url)`` of a running broker: RabbitMQ, or a private Redis."""
    if request.param == "rabbitmq":
        assert port_open(RABBITMQ_PORT), "RabbitMQ must run on 127.0.0.1:5672 (.ci/run starts it)"
        yield "rabbitmq", RABBITMQ
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    yield "redis", server.url


@pytest.fixture
def harness(tmp_path: pathlib.Path, broker: tuple[str, str]) -> Iterator[Harness]:
    made = Harness(tmp_path, "celery", broker[1])
    yield made
    made.close()


def test_every_delivery_runs_its_handlers_exactly_once(harness: Harness) -> None:
    """Stored, handed to Celery after the commit, run once per handler in the ledger."""
    figures = exactly_once(harness)
    assert figures["ledger_rows"] == 2 * figures["deliveries"]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, timeout=120, capture_output=True)


def test_broker_down_stores_still_succeed_and_nothing_is_lost(
    harness: Harness, broker: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    """The broker stopped under load: stores go on; when it returns, everything runs once."""
    if broker[0] == "rabbitmq":

        def stop() -> None:
            _rabbitmqctl("stop_app")

        def start() -> None:
            _rabbitmqctl("start_app")
            _rabbitmqctl("await_startup")

    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        stop, start = server.stop, server.start
    try:
        figures = broker_outage(harness, stop, start)
    finally:
        if broker[0] == "rabbitmq" and not port_open(RABBITMQ_PORT):
            start()
    assert figures["stored_while_broker_down"] > 0


def test_workers_killed_at_random_lose_nothing_and_run_nothing_twice(harness: Harness) -> None:
    """kill -9 of prefork children and whole workers under load: 0 lost, 0 twice."""
    kill_chaos(harness)
