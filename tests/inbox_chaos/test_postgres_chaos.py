"""Many machines simulated on one: web servers and workers sharing one PostgreSQL inbox.

Three web server processes (two gunicorn serving the Flask ``inbox=`` view, one
uvicorn serving the Starlette ``inbox=`` endpoint, each with several workers) and
four ``boltcall-webhooks inbox work`` processes share one schema. While 64
clients send genuine and forged deliveries, a chaos loop ``kill -9``s web
workers and worker processes (restarting the latter, as systemd would) and
another terminates the inbox's database backends (``pg_terminate_backend``).
Then every delivery that never got a 2xx is re-sent (a person re-sending from
the dashboard) and the database is checked against the sender's log: 0 lost,
0 processed twice (ledger through ``delivery.connection``), 0 forged stored,
nothing left ``processing``.

Quick by default (~2,000 deliveries); ``BOLTCALL_CHAOS_DELIVERIES=20000`` for the
full run. Needs PostgreSQL (skipped with the reason without it, failed when
``BOLTCALL_REQUIRE_POSTGRES`` is set) and flask, starlette, gunicorn, uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

pytest.importorskip("flask")
pytest.importorskip("starlette")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

from inbox_crash.chaos import QUICK, Chaos, Settings, _jobs, _load, _resend
from inbox_crash.harness import SenderLog, check_outcome, is_2xx

from .pg_cluster import PostgresCluster

pytestmark = pytest.mark.servers


class BackendKiller:
    """Terminates some of the inbox's database backends every ``interval`` seconds."""

    def __init__(self, cluster: PostgresCluster, interval: float, seed: int) -> None:
        self.cluster = cluster
        self.interval = interval
        self.terminated = 0
        self.rounds = 0
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-chaos", daemon=True)

    def __enter__(self) -> BackendKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval * self._random.uniform(0.5, 1.5)):
            self.terminated += self.cluster.terminate_backends(self._random, 0.3)
            self.rounds += 1


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[PostgresCluster]:
    """Servers and workers around a fresh schema, all stopped and the schema dropped after."""
    with PostgresCluster(tmp_path, lease=QUICK.lease) as found:
        yield found


def test_many_machines_chaos_loses_nothing_and_runs_nothing_twice(
    cluster: PostgresCluster,
) -> None:
    """0 lost, 0 processed twice, 0 forged stored, nothing left processing; chaos happened."""
    deliveries = int(os.environ.get("BOLTCALL_CHAOS_DELIVERIES") or 2000)
    settings = Settings(
        deliveries=deliveries,
        chaos_interval=0.4,  # each kind (gunicorn, uvicorn, worker) once per 3 kills
        settle_timeout=180.0 if deliveries <= 2000 else 900.0,
    )
    jobs, forged_keys = _jobs(settings)
    log = SenderLog()
    forged: dict[str, int | str] = {}
    sleep = {"BOLTCALL_TEST_HANDLER_SLEEP": str(settings.handler_sleep)}
    cluster.prepare()
    gunicorn = cluster.start_gunicorn(workers=2)
    uvicorn = cluster.start_uvicorn(workers=2)
    gthread = cluster.start_gunicorn(workers=2, threads=4)
    workers = [cluster.start_worker(sleep) for _ in range(4)]
    chaos = Chaos(cluster, gunicorn, uvicorn, workers, settings)
    ports = [gunicorn.port, uvicorn.port, gthread.port]
    started = time.monotonic()
    chaos.start()
    try:
        with BackendKiller(cluster, interval=0.5, seed=settings.seed) as killer:
            asyncio.run(_load(ports, jobs, settings.clients, log, forged))
    finally:
        chaos.stop()
    load_seconds = time.monotonic() - started
    first = Counter(str(seen[0]) for seen in log.statuses.values())
    time.sleep(2.0)  # let the servers respawn their workers
    resend_rounds = _resend(ports, log, forged, 16)
    stats = cluster.wait_settled(settings.deliveries, settings.settle_timeout)
    figures = check_outcome(cluster, log, forged_keys=forged_keys)
    assert not {name: s for name, s in forged.items() if is_2xx(s)}, "a forged delivery got a 2xx"
    figures.update(
        {
            "web_servers": 3,
            "worker_processes": len(chaos.workers),
            "kills": dict(chaos.kills),
            "backends_terminated": killer.terminated,
            "first_try_statuses": dict(first),
            "resend_rounds": resend_rounds,
            "load_seconds": round(load_seconds, 1),
            "final_states": dict(stats),
        }
    )
    print(f"\npostgres chaos: {json.dumps(figures)}")
    assert figures["done"] == settings.deliveries
    assert killer.terminated >= 3
    assert sum(chaos.kills.values()) >= 3  # the loop kills each kind once per 3
    kills = chaos.kills
    assert all(kills.get(kind, 0) >= 1 for kind in ("gunicorn", "uvicorn", "worker")), kills
