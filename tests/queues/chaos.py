"""Shared scenarios of the queue tests: exactly once, broker outage, kill -9 chaos."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable

from .support import QUICK, Harness, children, read_stored, wait_for

#: Deliveries per chaos run: the issue's >= 5,000 with BOLTCALL_QUEUES_FULL=1, ~500 in CI.
CHAOS_COUNT = 500 if QUICK else 5000


def exactly_once(harness: Harness, count: int = 200) -> dict[str, int]:
    """Store ``count`` deliveries through the hand-off; each handler runs once."""
    harness.start_workers()
    harness.start_relay()
    rows = read_stored(harness.produce(0, count))
    assert len(rows) == count
    harness.wait_done(count, 120)
    return harness.check_exactly_once([key for _, key, _ in rows])


def broker_outage(
    harness: Harness, stop: Callable[[], None], start: Callable[[], None], count: int = 600
) -> dict[str, int]:
    """Stop the broker while deliveries are stored, restart it: every store succeeded, 0 lost."""
    harness.start_workers()
    harness.start_relay()
    producer = harness.produce(0, count, threads=2, pace=0.05)  # ~40 stores/s for ~15 s
    wait_for(lambda: harness.states().get("done", 0) >= count // 10, 120, "the first deliveries")
    stop()
    stopped_at = harness.query("SELECT count(*) FROM boltcall_inbox_deliveries")[0][0]
    time.sleep(3)
    during = harness.query("SELECT count(*) FROM boltcall_inbox_deliveries")[0][0]
    start()
    rows = read_stored(producer)
    assert len(rows) == count  # every store answered: the broker is not in the request's path
    assert during > stopped_at, "nothing was stored while the broker was down"
    harness.wait_done(count, 180)
    figures = harness.check_exactly_once([key for _, key, _ in rows])
    figures["stored_while_broker_down"] = during - stopped_at
    # An RQ worker exits when Redis goes away; wait_done restarts it, as a supervisor would.
    figures["workers_restarted"] = harness.restarts
    print(f"\n{harness.queue} broker outage: {figures}")
    return figures


def kill_chaos(harness: Harness, count: int = CHAOS_COUNT, seed: int = 15) -> dict[str, int]:
    """SIGKILL queue worker processes at random while ``count`` deliveries flow: 0 lost, 0 twice.

    Most kills hit a process running tasks (a prefork child, an RQ work horse, a
    Dramatiq worker process); every fourth kills the whole worker (its process
    group), which is then restarted.
    """
    rng = random.Random(seed)
    harness.env.update(QA_GRACE="5", QA_SLEEP="0.005")  # kills land inside handlers
    harness.start_workers()
    harness.start_relay()
    # Paced so that the run lasts (~12 s quick, ~60 s full) and kills land under load.
    producer = harness.produce(0, count, threads=4, pace=4 * (12 if QUICK else 60) / count)
    done = threading.Event()
    kills = {"children": 0, "whole": 0}
    lock = threading.Lock()

    def chaos() -> None:
        number = 0
        while not done.wait(rng.uniform(0.5, 2.5)):
            number += 1
            with lock:
                if harness.revive():
                    # A worker that died by itself (Celery exits when a pool child is
                    # killed while it starts): restarted, as a supervisor would.
                    continue
                if number % 5 == 0:
                    harness.kill_workers()
                    kills["whole"] += 1
                    harness.start_workers()
                    continue
                victims = [pid for proc in harness.workers for pid in _tree(proc.pid)]
                if not victims:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(victims), 9)
                    kills["children"] += 1

    thread = threading.Thread(target=chaos)
    thread.start()
    try:
        rows = read_stored(producer)
        # Keep killing while most of it goes through the workers (at most 2 more minutes).
        deadline = time.monotonic() + 120

        def busy() -> bool:
            with lock:
                few = kills["children"] + kills["whole"] < 3
            return few or harness.states().get("done", 0) < count * 0.9

        while busy() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        done.set()
        thread.join()
    with lock:
        # Killed children are replaced by their worker; a worker whose process group
        # was killed by the last blow was restarted. Make sure one is running.
        if not harness.workers or any(proc.poll() is not None for proc in harness.workers):
            harness.kill_workers()
            harness.start_workers()
    harness.wait_done(count, 300)
    figures = harness.check_exactly_once([key for _, key, _ in rows])
    figures.update(kills_children=kills["children"], kills_whole=kills["whole"])
    assert kills["children"] + kills["whole"] >= 3, kills
    print(f"\n{harness.queue} chaos: {figures}")
    return figures


def _tree(pid: int) -> list[int]:
    """The children of a worker (the processes that run tasks)."""
    found = children(pid)
    return found or [pid]


def run(args: list[str]) -> None:
    """Tiny helper so that scenarios can shell out (kept for symmetry)."""
    subprocess.run(args, check=True, timeout=120, capture_output=True)
