"""Any other queue with the same relay, proved once: Dramatiq on Redis.

``queue_app`` plugs Dramatiq in with an actor (``max_retries=0``) that calls
:func:`boltcall_webhooks.inbox.run_delivery` and a :class:`~boltcall_webhooks.inbox.Relay`
that sends to it: the few lines ``docs/task-queues.md`` shows.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from .chaos import exactly_once, kill_chaos
from .support import Harness, RedisServer


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> Iterator[Harness]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    made = Harness(tmp_path, "dramatiq", server.url)
    yield made
    made.close()
    server.stop()


def test_every_delivery_runs_its_handlers_exactly_once(harness: Harness) -> None:
    """Stored, sent to the actor after the commit, run once per handler in the ledger."""
    figures = exactly_once(harness)
    assert figures["ledger_rows"] == 2 * figures["deliveries"]


def test_worker_killed_mid_task_loses_nothing(harness: Harness) -> None:
    """kill -9 of Dramatiq's worker processes under load: 0 lost, 0 twice."""
    kill_chaos(harness, count=300)
