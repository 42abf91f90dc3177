"""Group commit in ``Inbox("django")``: concurrent stores share a statement, each its answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError
from inbox.support import lead_body

from boltcall_webhooks.inbox import Inbox, InboxError, Stored

from .inbox_db import django_database, inbox_db

__all__ = ["django_database", "inbox_db"]  # fixtures

THREADS = 16


@pytest.fixture
def inbox(inbox_db: None) -> Iterator[Inbox]:
    """``Inbox("django")`` on empty tables."""
    inbox = Inbox("django")
    yield inbox
    inbox.close()


def _store_all(inbox: Inbox, bodies: list[bytes]) -> list[Stored | BaseException]:
    """Store each body from its own thread, all released at once."""
    results: list[Stored | BaseException] = [RuntimeError("not run")] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def store(index: int) -> None:
        barrier.wait()
        try:
            results[index] = inbox.store(bodies[index])
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=store, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_stores_batch_and_count_duplicates_once_each(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 threads, 8 deliveries twice each: 8 rows, one duplicate answer per pair."""
    backend: Any = inbox.backend
    batches: list[int] = []
    original = backend._commit_batch

    def counting(batch: list[Any]) -> None:
        batches.append(len(batch))
        original(batch)

    monkeypatch.setattr(backend, "_commit_batch", counting)
    inbox.store(lead_body(999))  # connection and tables warm
    bodies = [lead_body(n % (THREADS // 2)) for n in range(THREADS)]
    results = _store_all(inbox, bodies)
    assert all(isinstance(result, Stored) for result in results), results
    stored = [result for result in results if isinstance(result, Stored)]
    by_key: dict[str, list[Stored]] = {}
    for result in stored:
        by_key.setdefault(result.key, []).append(result)
    assert len(by_key) == THREADS // 2
    for pair in by_key.values():
        assert sorted(result.duplicate for result in pair) == [False, True]
        assert pair[0].id == pair[1].id
    assert {d.duplicates for d in inbox.list(limit=100) if "999" not in d.key} == {1}
    assert sum(batches) == THREADS + 1
    assert len(batches) < THREADS + 1  # some stores shared a statement


def test_a_failing_row_fails_alone(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose statement fails is stored row by row: only the bad row's store fails."""
    backend: Any = inbox.backend
    poisoned = inbox.store(lead_body(1)).key  # its key will make every statement fail
    original = backend._execute_upsert

    def failing(items: list[Any]) -> dict[str, Stored]:
        if any(item.key == poisoned for item in items):
            raise DatabaseError("poisoned row")
        result: dict[str, Stored] = original(items)
        return result

    monkeypatch.setattr(backend, "_execute_upsert", failing)
    batches: list[int] = []
    commit_batch = backend._commit_batch

    def counting(batch: list[Any]) -> None:
        batches.append(len(batch))
        commit_batch(batch)

    monkeypatch.setattr(backend, "_commit_batch", counting)
    bodies = [lead_body(1)] + [lead_body(n) for n in range(2, THREADS + 1)]
    results = _store_all(inbox, bodies)
    failed = [result for result in results if isinstance(result, BaseException)]
    assert len(failed) == 1
    assert isinstance(failed[0], InboxError)
    assert "poisoned" not in str(failed[0])  # the driver's message is not repeated
    assert inbox.stats()["pending"] == THREADS  # lead 1 (stored first) and the 15 others
    assert max(batches) > 1  # the bad row was in a batch with good ones
