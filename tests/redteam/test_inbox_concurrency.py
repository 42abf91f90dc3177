"""Red team (held): one delivery stored at the same moment by several processes.

Two gunicorn workers can receive the same delivery at once (a dashboard re-send
while the first attempt is still in flight). Exactly one row must exist, exactly
one store answers ``duplicate: false`` and every other one ``duplicate: true``,
on every backend. Pinned here because every store meets the others at a barrier
(the upsert's conflict path under real contention), not one after another.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

from boltcall_webhooks.inbox import Inbox

BODY = b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22Z","data":{"id":"lead_same_moment"}}'
PROCESSES = 4
STORES_EACH = 5


def _store_same(url: str, options: dict[str, Any], barrier: Any, results: Any) -> None:
    inbox = Inbox(url, **options)
    try:
        inbox.migrate()
        barrier.wait(30)
        for _ in range(STORES_EACH):
            stored = inbox.store(BODY)
            results.put((stored.id, stored.duplicate))
    except BaseException as error:  # reported to the test, which fails on it
        results.put(("error", repr(error)))
    finally:
        inbox.close()


def test_the_same_delivery_stored_at_once_by_several_processes_is_one_row(
    make_inbox: Callable[..., Inbox], backend: Any
) -> None:
    inbox = make_inbox(clock=None)
    inbox.migrate()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    procs = [
        context.Process(target=_store_same, args=(backend.url, backend.options, barrier, results))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    answers: list[tuple[object, bool]] = []
    try:
        for _ in range(PROCESSES * STORES_EACH):
            answers.append(results.get(timeout=60))
    except queue.Empty:
        pass
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    assert len(answers) == PROCESSES * STORES_EACH, answers
    assert all(answer[0] != "error" for answer in answers), answers
    assert len({answer[0] for answer in answers}) == 1  # one row
    assert [answer[1] for answer in answers].count(False) == 1  # every other: duplicate
    [row] = inbox.list()
    assert row.duplicates == len(answers) - 1
