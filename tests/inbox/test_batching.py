"""The SQLite backend's store_async batcher: one writer thread per process, batches of stores.

``store_async`` queues each delivery with a future of its event loop; one writer
thread takes everything queued, writes it in one transaction (multi-row
statements), commits once and settles the batch's futures on their loops.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import pytest

from boltcall_webhooks.inbox import DeliveryState, Inbox, InboxError
from boltcall_webhooks.inbox import _sqlite as sqlite_module
from boltcall_webhooks.inbox._backend import NewDelivery, Stored
from boltcall_webhooks.inbox._sqlite import SQLiteBackend, _Slot

from .support import lead_body


def _inbox(tmp_path: pathlib.Path) -> Inbox:
    inbox = Inbox(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    inbox.migrate()
    return inbox


def _backend(inbox: Inbox) -> SQLiteBackend:
    backend = inbox.backend
    assert isinstance(backend, SQLiteBackend)
    return backend


def _writer_of(backend: SQLiteBackend) -> threading.Thread | None:
    return backend._writer


def _item(key: Any, *, error: str | None = None, body: bytes = b"{}") -> NewDelivery:
    return NewDelivery(
        key=key, event_type=None if error else "new_lead", body=body, received_at=1.0, error=error
    )


def _slow_commits(
    monkeypatch: pytest.MonkeyPatch, backend: SQLiteBackend, seconds: float
) -> list[int]:
    """Make every batch commit take ``seconds`` longer; returns the batch sizes seen."""
    sizes: list[int] = []
    original = backend._commit_batch

    def slow(batch: Sequence[_Slot]) -> None:
        sizes.append(len(batch))
        time.sleep(seconds)
        original(batch)

    monkeypatch.setattr(backend, "_commit_batch", slow)
    return sizes


def test_concurrent_store_async_calls_share_commits_and_each_gets_its_own_row(
    tmp_path: pathlib.Path,
) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    bodies = [lead_body(number) for number in range(200)]

    async def main() -> list[Stored]:
        return await asyncio.gather(*(inbox.store_async(body) for body in bodies))

    results = asyncio.run(main())
    assert len({stored.id for stored in results}) == 200
    assert not any(stored.duplicate for stored in results)
    for body, stored in zip(bodies, results, strict=True):  # each result is its own row
        delivery = inbox.get(stored.id)
        assert delivery.key == stored.key
        assert delivery.body == body
        assert delivery.state is DeliveryState.PENDING
    assert backend.store_commits <= 20, backend.store_commits  # batched, not one per store
    inbox.close()


def test_rows_are_written_in_queue_order(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    bodies = [lead_body(number) for number in range(50)]

    async def main() -> list[Stored]:
        return await asyncio.gather(*(inbox.store_async(body) for body in bodies))

    ids = [stored.id for stored in asyncio.run(main())]
    assert ids == sorted(ids)  # the order store_async was called in
    inbox.close()


def test_one_key_stored_several_times_in_one_batch(tmp_path: pathlib.Path) -> None:
    """First store of the key: duplicate=False; the others: True; one row, duplicates counted."""
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    backend.store(_item("old", error="PayloadError: x"))  # dead, no event type: not re-armed
    dead_body = lead_body(7)
    stored = inbox.store(dead_body)
    with backend._write("test") as conn:  # a dead envelope: a duplicate store re-arms it
        conn.execute(
            "UPDATE boltcall_inbox_deliveries SET state = 'dead' WHERE id = ?", (stored.id,)
        )
    slots = [
        _Slot(_item("new")),
        _Slot(_item("old")),
        _Slot(_item("new")),
        _Slot(_item(stored.key, body=dead_body)),
        _Slot(_item("other")),
        _Slot(_item("new")),
        _Slot(_item(stored.key, body=dead_body)),
    ]
    backend._commit_batch(slots)
    results = [slot.result for slot in slots]
    assert all(slot.error is None for slot in slots)
    assert all(result is not None for result in results)
    news = [result for result in results if result is not None and result.key == "new"]
    assert [result.duplicate for result in news] == [False, True, True]
    assert len({result.id for result in news}) == 1
    assert results[1] is not None
    assert results[1].duplicate
    assert results[1].state is DeliveryState.DEAD
    rearmed = [slots[3].result, slots[6].result]
    assert [(r.duplicate, r.state, r.id) for r in rearmed if r is not None] == [
        (True, DeliveryState.PENDING, stored.id)
    ] * 2
    assert results[4] is not None
    assert not results[4].duplicate
    counts = dict(backend._read("test", "SELECT key, duplicates FROM boltcall_inbox_deliveries"))
    assert counts["new"] == 2
    assert counts["old"] == 1
    assert counts[stored.key] == 2
    assert counts["other"] == 0
    inbox.close()


def test_a_bad_row_fails_alone_in_a_multi_row_batch(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    slots = [_Slot(_item(f"good-{number}")) for number in range(9)]
    slots.insert(4, _Slot(_item(None)))  # NOT NULL key: the statement fails
    backend._commit_batch(slots)
    assert isinstance(slots[4].error, InboxError)
    assert slots[4].result is None
    good = [slot for index, slot in enumerate(slots) if index != 4]
    assert all(slot.error is None and slot.result is not None for slot in good)
    assert inbox.stats()["pending"] == 9
    assert backend.store_commits == 1
    inbox.close()


def test_a_bad_row_fails_alone_through_store_async(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    sizes: list[int] = []
    release = threading.Event()
    original = backend._commit_batch

    def held(batch: Sequence[_Slot]) -> None:
        sizes.append(len(batch))
        release.wait(10)  # the first commit waits until every call below is queued
        original(batch)

    monkeypatch.setattr(backend, "_commit_batch", held)

    async def main() -> list[Stored | BaseException]:
        first = asyncio.ensure_future(backend.store_async(_item("first")))
        while not sizes:  # the writer holds the first store's batch
            await asyncio.sleep(0.001)
        calls = [asyncio.ensure_future(backend.store_async(_item(f"good-{n}"))) for n in range(5)]
        calls.insert(2, asyncio.ensure_future(backend.store_async(_item(None))))
        await asyncio.sleep(0.01)  # all six queued
        release.set()
        await first
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert sizes == [1, 6]  # the bad row shared its batch with five good ones
    assert isinstance(results[2], InboxError)
    assert all(isinstance(result, Stored) for index, result in enumerate(results) if index != 2)
    assert inbox.stats()["pending"] == 6
    inbox.close()


def test_a_cancelled_caller_leaves_the_rest_of_its_batch_alone(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    _slow_commits(monkeypatch, backend, 0.2)
    errors: list[dict[str, Any]] = []

    async def main() -> tuple[list[Stored], bool]:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        doomed = asyncio.ensure_future(inbox.store_async(lead_body(0)))
        others = [asyncio.ensure_future(inbox.store_async(lead_body(n))) for n in range(1, 6)]
        await asyncio.sleep(0.05)  # all queued, the commit under way
        doomed.cancel()
        results = await asyncio.gather(*others)
        cancelled = doomed.cancelled()
        # The writer goes on: the next store is answered too.
        results.append(await inbox.store_async(lead_body(6)))
        return results, cancelled

    results, cancelled = asyncio.run(main())
    assert cancelled
    assert len({stored.id for stored in results}) == 6
    assert errors == []
    # The cancelled caller's row was in the batch being committed: it is stored.
    assert inbox.stats()["pending"] == 7
    inbox.close()


def test_a_closed_loop_does_not_stop_the_writer(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    sizes = _slow_commits(monkeypatch, backend, 0.2)
    loop = asyncio.new_event_loop()
    task = loop.create_task(inbox.store_async(lead_body(0)))
    loop.run_until_complete(asyncio.sleep(0.05))  # queued; the commit takes 0.2 s more
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()  # the writer will find this loop closed when it settles the batch
    time.sleep(0.3)
    writer = backend._writer
    assert writer is not None
    assert writer.is_alive()
    stored = asyncio.run(inbox.store_async(lead_body(1)))  # another loop: still served
    assert not stored.duplicate
    assert sizes == [1, 1]
    assert inbox.stats()["pending"] == 2
    inbox.close()


def test_store_async_never_blocks_the_loop(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = _inbox(tmp_path)
    _slow_commits(monkeypatch, _backend(inbox), 0.3)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.ensure_future(ticker())
        await asyncio.gather(*(inbox.store_async(lead_body(n)) for n in range(10)))
        ticking.cancel()
        return ticks

    assert asyncio.run(main()) >= 10  # the loop ran on during the 0.3 s commit
    inbox.close()


def test_the_writer_thread_ends_when_idle_and_a_new_one_starts(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_WRITER_IDLE", 0.05)
    monkeypatch.setattr(sqlite_module, "_POLL_IDLE", 0.05)
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    asyncio.run(inbox.store_async(lead_body(0)))
    first = backend._writer
    assert first is not None
    first.join(5)
    assert not first.is_alive()
    assert _writer_of(backend) is None
    asyncio.run(inbox.store_async(lead_body(1)))
    second = _writer_of(backend)
    assert second is not None
    assert second is not first
    assert inbox.stats()["pending"] == 2
    inbox.close()


def test_sync_and_async_stores_at_once(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    done: list[Stored] = []

    def threads() -> None:
        for n in range(100, 140):
            done.append(inbox.store(lead_body(n)))

    thread = threading.Thread(target=threads)

    async def main() -> list[Stored]:
        thread.start()
        return await asyncio.gather(*(inbox.store_async(lead_body(n)) for n in range(40)))

    results = asyncio.run(main())
    thread.join(30)
    assert len({stored.id for stored in [*results, *done]}) == 80
    assert inbox.stats()["pending"] == 80
    inbox.close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_store_async_works_in_a_forked_child(tmp_path: pathlib.Path) -> None:
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    asyncio.run(inbox.store_async(lead_body(0)))  # the parent's writer thread runs
    assert backend._writer is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        pid = os.fork()
    if pid == 0:  # the child: the parent's writer thread does not exist here
        status = 1
        try:
            stored = asyncio.run(asyncio.wait_for(inbox.store_async(lead_body(1)), 20))
            status = 0 if not stored.duplicate and backend._writer is not None else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    stored = asyncio.run(inbox.store_async(lead_body(2)))  # the parent goes on
    assert not stored.duplicate
    assert inbox.stats()["pending"] == 3
    inbox.close()


class _InterruptedError(Exception):
    pass


class _InterruptedLock:
    """A waiter's lock whose waiting thread is interrupted (as ``KeyboardInterrupt`` would)."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise _InterruptedError

    def release(self) -> None:
        self.lock.release()


def test_a_thread_that_stops_waiting_does_not_strand_the_rest_of_its_batch(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader wakes one waiter, each wakes the next; a missing link costs a timeout only."""
    inbox = _inbox(tmp_path)
    backend = _backend(inbox)
    release = threading.Event()
    original = backend._commit_batch
    sizes: list[int] = []

    def held(batch: Sequence[_Slot]) -> None:
        sizes.append(len(batch))
        if len(sizes) == 1:
            release.wait(10)  # the first batch: until the others have queued
        original(batch)

    monkeypatch.setattr(backend, "_commit_batch", held)
    made: list[sqlite_module._Waiter] = []
    waiter_class = sqlite_module._Waiter

    def waiter(item: NewDelivery) -> sqlite_module._Waiter:
        made.append(waiter_class(item))
        if len(made) == 3:  # the second follower of the second batch
            made[-1].done = _InterruptedLock(made[-1].done)  # type: ignore[assignment]
        return made[-1]

    monkeypatch.setattr(sqlite_module, "_Waiter", waiter)
    results: dict[int, Stored | BaseException] = {}

    def store(number: int) -> None:
        try:
            results[number] = inbox.store(lead_body(number))
        except BaseException as exc:  # recorded for the asserts
            results[number] = exc

    threads = [threading.Thread(target=store, args=(n,)) for n in range(6)]
    threads[0].start()
    while not sizes:  # the first store leads and holds its commit
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
        while len(made) < threads.index(thread) + 1:  # queued in this order
            time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert sizes == [1, 5]
    assert isinstance(results.pop(2), _InterruptedError)
    assert all(isinstance(result, Stored) for result in results.values())
    assert inbox.stats()["pending"] == 6  # the interrupted one's row was committed too
    inbox.close()
