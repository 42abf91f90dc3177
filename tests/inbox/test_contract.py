"""Every rule of the inbox contract, run against every backend (``support.BACKENDS``)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from boltcall_webhooks import Event, NewLeadEvent, Router
from boltcall_webhooks.inbox import (
    Delivery,
    DeliveryNotFoundError,
    DeliveryState,
    Inbox,
    InboxError,
    LeaseLostError,
)
from boltcall_webhooks.testing import FixedClock

from .support import LEDGER_SQL, Setup, lead_body, run_proc

MakeInbox = Callable[..., Inbox]


def _router(
    *names: str, fail: dict[str, int] | None = None
) -> tuple[Router, list[tuple[str, int]]]:
    """A router with one on_any handler per name; ``fail[name]`` = attempts that raise."""
    router = Router()
    calls: list[tuple[str, int]] = []
    fail = fail or {}

    def make(name: str) -> None:
        def handler(event: Event, delivery: Delivery) -> None:
            calls.append((name, delivery.attempts))
            if fail.get(name, 0) >= delivery.attempts:
                raise RuntimeError(f"{name} fails on attempt {delivery.attempts}")

        router.on(NewLeadEvent, "other", name=name)(handler)

    for name in names:
        make(name)
    return router, calls


class TestInboxContract:
    # -- store ---------------------------------------------------------------------

    def test_store_keeps_the_delivery_pending_with_its_body(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        body = lead_body(1)
        stored = inbox.store(body)
        assert stored.duplicate is False
        assert stored.state is DeliveryState.PENDING
        assert stored.key == "new_lead:lead_000001:2025-03-20T09:17:22Z"
        delivery = inbox.get(stored.id)
        assert (delivery.state, delivery.body, delivery.event_type) == (
            "pending",
            body,
            "new_lead",
        )
        assert delivery.attempts == 0
        assert delivery.duplicates == 0
        assert delivery.next_attempt_at == delivery.received_at
        assert isinstance(delivery.event, NewLeadEvent)

    def test_a_stored_delivery_is_seen_by_a_fresh_process(
        self, make_inbox: MakeInbox, backend: Setup
    ) -> None:
        stored = make_inbox().store(lead_body(7))
        seen = json.loads(run_proc("get", backend.url, str(stored.id), env=backend.env()))
        assert seen == {"key": stored.key, "state": "pending", "body": lead_body(7).decode()}

    def test_a_duplicate_is_counted_and_changes_nothing_else(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        first = inbox.store(lead_body(1))
        again = inbox.store(lead_body(1, spaced=True))  # a re-send, serialised differently
        third = inbox.store(lead_body(1))
        assert (again.duplicate, third.duplicate) == (True, True)
        assert again.id == third.id == first.id
        delivery = inbox.get(first.id)
        assert delivery.duplicates == 2
        assert delivery.body == lead_body(1)  # the first body stays
        assert inbox.stats()["pending"] == 1

    def test_dedupe_body_keys_on_the_exact_bytes(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox(dedupe="body")
        first = inbox.store(lead_body(1))
        assert first.key.startswith("sha256:")
        assert inbox.store(lead_body(1)).duplicate is True
        assert inbox.store(lead_body(1, spaced=True)).duplicate is False

    def test_dedupe_callable(self, make_inbox: MakeInbox) -> None:
        seen: list[Event | None] = []

        def by_lead(body: bytes, event: Event | None) -> str:
            seen.append(event)
            return "x:" + (event.raw["data"]["id"] if event is not None else "none")

        inbox = make_inbox(dedupe=by_lead)
        assert inbox.store(lead_body(3)).key == "x:lead_000003"
        assert inbox.store(b"not json").key == "x:none"
        assert isinstance(seen[0], NewLeadEvent)
        assert seen[1] is None

    def test_a_failing_dedupe_callable_is_an_inbox_error(self, make_inbox: MakeInbox) -> None:
        def broken(body: bytes, event: Event | None) -> str:
            raise KeyError("secret-looking detail")

        with pytest.raises(InboxError, match="dedupe callable failed: KeyError") as info:
            make_inbox(dedupe=broken).store(lead_body(1))
        assert "secret-looking" not in str(info.value)

    def test_the_event_key_falls_back_to_the_body_hash(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        body = json.dumps(
            {"event": "custom", "timestamp": "2025-03-20T09:17:22Z", "data": {}}
        ).encode()
        assert inbox.store(body).key.startswith("sha256:")

    def test_a_non_envelope_is_stored_dead_with_its_error(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        stored = inbox.store(b'{"hello": "world"}')
        assert stored.state is DeliveryState.DEAD
        delivery = inbox.get(stored.id)
        assert delivery.event_type is None
        assert delivery.body == b'{"hello": "world"}'
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("PayloadError: ")
        again = inbox.store(b'{"hello": "world"}')  # cannot ever run: not re-armed
        assert (again.duplicate, again.state) == (True, DeliveryState.DEAD)

    def test_store_async_does_not_block_the_loop(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()

        async def main() -> tuple[list[Any], int]:
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.ensure_future(ticker())
            results = await asyncio.gather(*(inbox.store_async(lead_body(n)) for n in range(20)))
            stop.set()
            await task
            return list(results), ticks

        results, ticks = asyncio.run(main())
        assert len({stored.id for stored in results}) == 20
        assert ticks > 0
        assert inbox.stats()["pending"] == 20

    # -- processing ----------------------------------------------------------------

    def test_work_once_runs_every_handler_and_marks_done(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        router, calls = _router("a", "b")
        stored = inbox.store(lead_body(1))
        inbox.store(lead_body(2, event="call_completed"))  # no handler matches: done at once
        assert inbox.work(router, once=True) == 2
        assert calls == [("a", 1), ("b", 1)]
        assert inbox.get(stored.id).state is DeliveryState.DONE
        assert inbox.stats() == {"pending": 0, "processing": 0, "done": 2, "dead": 0}

    def test_a_failure_goes_back_to_pending_with_backoff(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox()
        router, _ = _router("a", fail={"a": 1})
        stored = inbox.store(lead_body(1))
        assert inbox.work(router, once=True) == 1
        delivery = inbox.get(stored.id)
        assert delivery.state is DeliveryState.PENDING
        assert delivery.attempts == 1
        assert delivery.last_error == "a: RuntimeError: a fails on attempt 1"
        assert delivery.last_traceback is not None
        assert "RuntimeError: a fails on attempt 1" in delivery.last_traceback
        assert delivery.next_attempt_at is not None
        delay = (delivery.next_attempt_at - clock.now).total_seconds()
        assert 0 <= delay <= 10  # full jitter: first retry within 10 s
        assert inbox.work(router, once=True) == (1 if delay == 0 else 0)  # not yet due

    def test_max_attempts_makes_it_dead_with_error_and_traceback(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox(max_attempts=3, backoff=lambda attempt: 60.0 * attempt)
        router, calls = _router("a", fail={"a": 99})
        stored = inbox.store(lead_body(1))
        for expected_delay in (60, 120):
            inbox.work(router, once=True)
            delivery = inbox.get(stored.id)
            assert delivery.state is DeliveryState.PENDING
            assert delivery.next_attempt_at is not None
            assert (delivery.next_attempt_at - clock.now).total_seconds() == expected_delay
            clock.advance(expected_delay)
        inbox.work(router, once=True)
        delivery = inbox.get(stored.id)
        assert delivery.state is DeliveryState.DEAD
        assert delivery.attempts == 3
        assert delivery.last_error == "a: RuntimeError: a fails on attempt 3"
        assert delivery.last_traceback is not None
        assert "Traceback" in delivery.last_traceback
        assert [attempt for _, attempt in calls] == [1, 2, 3]
        clock.advance(10_000)
        assert inbox.work(router, once=True) == 0

    def test_a_duplicate_of_a_dead_delivery_re_arms_it(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox(max_attempts=1)
        router, _ = _router("a", fail={"a": 1})
        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        assert inbox.get(stored.id).state is DeliveryState.DEAD
        again = inbox.store(lead_body(1))
        assert (again.duplicate, again.state) == (True, DeliveryState.PENDING)
        delivery = inbox.get(stored.id)
        assert (delivery.attempts, delivery.duplicates) == (0, 1)
        router_ok, calls_ok = _router("a")
        assert inbox.work(router_ok, once=True) == 1
        assert calls_ok == [("a", 1)]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_a_duplicate_of_a_done_delivery_changes_only_the_count(
        self, make_inbox: MakeInbox
    ) -> None:
        inbox = make_inbox()
        router, calls = _router("a")
        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        again = inbox.store(lead_body(1))
        assert (again.duplicate, again.state) == (True, DeliveryState.DONE)
        assert inbox.work(router, once=True) == 0
        assert len(calls) == 1
        assert inbox.get(stored.id).duplicates == 1

    def test_a_retry_reruns_only_the_handlers_that_failed(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox(backoff=lambda attempt: 5.0)
        router, calls = _router("a", "b", "c", fail={"b": 1})
        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        assert calls == [("a", 1), ("b", 1), ("c", 1)]  # c runs although b failed
        clock.advance(5)
        inbox.work(router, once=True)
        assert calls[3:] == [("b", 2)]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_connection_writes_commit_with_the_success_mark_and_roll_back_on_failure(
        self, make_inbox: MakeInbox, backend: Setup, clock: FixedClock
    ) -> None:
        backend.query(LEDGER_SQL)
        inbox = make_inbox(backoff=lambda attempt: 1.0)
        router = Router()

        @router.on(NewLeadEvent, name="writer")
        def writer(event: NewLeadEvent, delivery: Delivery) -> None:
            backend.ledger_insert(
                delivery.connection, delivery.key, f"attempt {delivery.attempts}"
            )
            if delivery.attempts == 1:
                raise RuntimeError("after the write")

        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        assert backend.query("SELECT key, handler FROM ledger") == []
        clock.advance(1)
        inbox.work(router, once=True)
        assert backend.query("SELECT key, handler FROM ledger") == [(stored.key, "attempt 2")]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_a_handler_may_store_before_writing_but_not_after(
        self, make_inbox: MakeInbox, backend: Setup, clock: FixedClock
    ) -> None:
        backend.query(LEDGER_SQL)
        inbox = make_inbox(backoff=lambda attempt: 1.0)
        router = Router()
        errors: list[BaseException] = []

        @router.on(NewLeadEvent, name="chain")
        def chain(event: NewLeadEvent, delivery: Delivery) -> None:
            inbox.store(lead_body(100 + delivery.attempts, event="missed_call"))  # fine first
            backend.ledger_insert(delivery.connection, delivery.key, "chain")
            if delivery.attempts == 1:
                try:
                    inbox.store(lead_body(200))  # inside its own open transaction
                except InboxError as exc:
                    errors.append(exc)
                    raise

        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        # SQLite refuses (one connection per thread); a backend whose handler
        # transaction has a connection of its own may accept it.
        assert len(errors) == (1 if backend.url.startswith("sqlite") else len(errors))
        if errors:
            assert backend.query("SELECT * FROM ledger") == []  # rolled back, nothing lost
            clock.advance(1)
            inbox.work(router, once=True)
        # Exactly one ledger row for this delivery (a backend that accepted the inner
        # store also ran the new lead_200 delivery in the same pass: its own row).
        mark = backend.placeholder
        rows = backend.query(f"SELECT handler FROM ledger WHERE key = {mark}", (stored.key,))
        assert rows == [("chain",)]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_an_unparsable_stored_body_is_dead_at_once(self, make_inbox: MakeInbox) -> None:
        # A dead non-envelope replayed by a person cannot run: dead again, no retries.
        inbox = make_inbox()
        stored = inbox.store(b"[1, 2]")
        inbox.replay(stored.id)
        router, calls = _router("a")
        assert inbox.work(router, once=True) == 1
        delivery = inbox.get(stored.id)
        assert (delivery.state, delivery.attempts, calls) == (DeliveryState.DEAD, 1, [])
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("PayloadError")

    # -- leases and fencing --------------------------------------------------------

    def test_an_expired_lease_is_claimed_again_and_counts_an_attempt(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox(lease=30)
        stored = inbox.store(lead_body(1))
        first = inbox.backend.claim(
            worker="w1", now=inbox.now(), lease=30, max_attempts=8, limit=5
        )
        assert [claim.delivery.attempts for claim in first] == [1]
        assert (
            inbox.backend.claim(worker="w2", now=inbox.now(), lease=30, max_attempts=8, limit=5)
            == []
        )  # leased
        clock.advance(31)  # the first worker was killed: its lease expires
        router, calls = _router("a")
        assert inbox.work(router, once=True) == 1
        assert calls == [("a", 2)]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_an_expired_lease_at_max_attempts_is_dead(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox(lease=30, max_attempts=1)
        stored = inbox.store(lead_body(1))
        inbox.backend.claim(worker="w1", now=inbox.now(), lease=30, max_attempts=1)
        clock.advance(31)
        router, calls = _router("a")
        assert inbox.work(router, once=True) == 0
        delivery = inbox.get(stored.id)
        assert delivery.state is DeliveryState.DEAD
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("LeaseExpired:")
        assert calls == []

    def test_a_worker_that_lost_its_lease_cannot_complete(
        self, make_inbox: MakeInbox, backend: Setup, clock: FixedClock
    ) -> None:
        backend.query(LEDGER_SQL)
        inbox = make_inbox(lease=30)
        stored = inbox.store(lead_body(1))
        (stale,) = inbox.backend.claim(worker="w1", now=inbox.now(), lease=30, max_attempts=8)
        clock.advance(31)
        (fresh,) = inbox.backend.claim(worker="w2", now=inbox.now(), lease=30, max_attempts=8)
        assert fresh.token != stale.token
        assert fresh.delivery.attempts == 2

        def effects(connection: Any) -> None:
            backend.ledger_insert(connection, stored.key, "stale")

        with pytest.raises(LeaseLostError):
            inbox.backend.complete_handler(stale, "a", effects, now=inbox.now(), last=True)
        assert backend.query("SELECT * FROM ledger") == []  # its writes were rolled back
        assert (
            inbox.backend.renew(stale.delivery.id or 0, stale.token, now=inbox.now(), lease=30)
            is False
        )
        assert inbox.backend.finish(stale, now=inbox.now()) is False
        assert (
            inbox.backend.fail(
                stale, now=inbox.now(), error="x", traceback="", next_attempt_at=None
            )
            is False
        )
        assert inbox.get(stored.id).state is DeliveryState.PROCESSING
        inbox.backend.complete_handler(
            fresh,
            "a",
            lambda connection: backend.ledger_insert(connection, stored.key, "fresh"),
            now=inbox.now(),
            last=True,
        )
        assert backend.query("SELECT handler FROM ledger") == [("fresh",)]
        assert inbox.get(stored.id).state is DeliveryState.DONE

    def test_the_lease_is_renewed_while_a_long_handler_runs(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox(lease=0.6, clock=None)  # real time
        other = make_inbox(lease=0.6, clock=None)
        router = Router()
        inside = threading.Event()
        stolen: list[int] = []

        @router.on(NewLeadEvent, name="long")
        def long(event: NewLeadEvent) -> None:
            inside.set()
            deadline = time.monotonic() + 2.0  # more than three leases
            while time.monotonic() < deadline:
                stolen.extend(
                    claim.delivery.attempts
                    for claim in other.backend.claim(
                        worker="thief", now=other.now(), lease=0.6, max_attempts=8
                    )
                )
                time.sleep(0.1)

        stored = inbox.store(lead_body(1))
        assert inbox.work(router, once=True) == 1
        assert inside.is_set()
        assert stolen == []
        delivery = inbox.get(stored.id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.DONE, 1)

    def test_release_gives_a_claim_back_without_counting_it(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        stored = inbox.store(lead_body(1))
        (claim,) = inbox.backend.claim(worker="w", now=inbox.now(), lease=30, max_attempts=8)
        assert inbox.backend.release(claim, now=inbox.now()) is True
        delivery = inbox.get(stored.id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)

    # -- reading and repair --------------------------------------------------------

    def test_list_is_newest_first_and_filters(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        ids = [inbox.store(lead_body(n)).id for n in range(3)]
        other = inbox.store(lead_body(9, event="missed_call")).id
        dead = inbox.store(b"junk").id
        assert [d.id for d in inbox.list()] == [dead, other, *reversed(ids)]
        assert [d.id for d in inbox.list(limit=2)] == [dead, other]
        assert [d.id for d in inbox.list(state="dead")] == [dead]
        assert [d.id for d in inbox.list(type="new_lead")] == list(reversed(ids))
        assert [d.id for d in inbox.list(state=DeliveryState.PENDING, type="missed_call")] == [
            other
        ]
        assert inbox.stats() == {"pending": 4, "processing": 0, "done": 0, "dead": 1}

    def test_get_of_an_unknown_id(self, make_inbox: MakeInbox) -> None:
        with pytest.raises(DeliveryNotFoundError):
            make_inbox().get(12345)
        with pytest.raises(LookupError):
            make_inbox().replay(12345)

    def test_replay_runs_every_handler_again(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        router, calls = _router("a", "b")
        stored = inbox.store(lead_body(1))
        inbox.work(router, once=True)
        replayed = inbox.replay(stored.id)
        assert (replayed.state, replayed.attempts) == (DeliveryState.PENDING, 0)
        inbox.work(router, once=True)
        assert calls == [("a", 1), ("b", 1), ("a", 1), ("b", 1)]

    def test_replay_fences_a_running_worker(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        stored = inbox.store(lead_body(1))
        (claim,) = inbox.backend.claim(worker="w", now=inbox.now(), lease=30, max_attempts=8)
        inbox.replay(stored.id)
        assert inbox.backend.finish(claim, now=inbox.now()) is False
        assert inbox.get(stored.id).state is DeliveryState.PENDING

    def test_replay_dead(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox(max_attempts=1)
        router, _ = _router("a", fail={"a": 1})
        for number in range(3):
            inbox.store(lead_body(number))
        inbox.work(router, once=True)
        assert inbox.stats()["dead"] == 3
        assert inbox.replay_dead() == 3
        assert inbox.stats() == {"pending": 3, "processing": 0, "done": 0, "dead": 0}

    def test_purge_keeps_keys_as_tombstones_then_forgets_them(
        self, make_inbox: MakeInbox, clock: FixedClock
    ) -> None:
        inbox = make_inbox(keep_bodies=timedelta(days=30), keep_keys=timedelta(days=90))
        router, calls = _router("a")
        done = inbox.store(lead_body(1))
        dead = inbox.store(b"junk")
        inbox.store(lead_body(2, event="missed_call"))  # no handler: done at once
        inbox.work(router, once=True)
        pending = inbox.store(lead_body(3))  # stays pending: stored after the work
        clock.advance(timedelta(days=10))
        assert inbox.purge() == 0  # younger than keep_bodies
        assert inbox.purge(older_than=timedelta(days=5)) == 2  # the two done ones
        tombstone = inbox.get(done.id)
        assert (tombstone.state, tombstone.body) == (DeliveryState.DONE, None)
        assert inbox.get(dead.id).body == b"junk"  # dead ones are never purged
        again = inbox.store(lead_body(1))  # a late dashboard re-send: still a duplicate
        assert (again.duplicate, again.id) == (True, done.id)
        with pytest.raises(InboxError, match="purged"):
            inbox.replay(done.id)
        clock.advance(timedelta(days=85))
        assert inbox.purge() == 0
        with pytest.raises(DeliveryNotFoundError):
            inbox.get(done.id)
        assert inbox.get(pending.id).body == lead_body(3)  # pending: never purged
        assert inbox.get(dead.id).body == b"junk"
        fresh = inbox.store(lead_body(1))  # past keep_keys: a new delivery
        assert fresh.duplicate is False
        assert fresh.id != done.id
        assert len(calls) == 1

    # -- worker loop ---------------------------------------------------------------

    def test_start_worker_runs_in_the_background_and_wakes_on_store(
        self, make_inbox: MakeInbox
    ) -> None:
        inbox = make_inbox(clock=None, poll_interval=30)
        router = Router()
        started = threading.Event()
        latency: list[float] = []

        @router.on(NewLeadEvent, name="mark")
        def mark(event: NewLeadEvent) -> None:
            latency.append(time.monotonic())
            started.set()

        handle = inbox.start_worker(router, concurrency=2)
        try:
            time.sleep(0.2)  # both threads idle, waiting
            begin = time.monotonic()
            inbox.store(lead_body(1))
            assert started.wait(5)
            assert latency[0] - begin < 0.5  # woken, not polled (poll_interval=30)
        finally:
            assert handle.stop(timeout=10) is True
        assert handle.running is False
        assert inbox.stats()["done"] == 1
        assert inbox.stats()["processing"] == 0

    def test_concurrency_processes_each_delivery_once(
        self, make_inbox: MakeInbox, backend: Setup
    ) -> None:
        backend.query(LEDGER_SQL)
        inbox = make_inbox()
        router = Router()

        @router.on(NewLeadEvent, name="ledger")
        def ledger(event: NewLeadEvent, delivery: Delivery) -> None:
            backend.ledger_insert(delivery.connection, delivery.key, "ledger")

        keys = {inbox.store(lead_body(n)).key for n in range(40)}
        assert inbox.work(router, concurrency=4, once=True) == 40
        rows = backend.query("SELECT key FROM ledger")
        assert sorted(row[0] for row in rows) == sorted(keys)

    def test_repr_shows_no_password_or_body(self, make_inbox: MakeInbox) -> None:
        inbox = make_inbox()
        stored = inbox.store(lead_body(1))
        assert "lead_000001" not in repr(inbox.get(stored.id)).split("key=")[0]
        assert "body" not in repr(inbox.get(stored.id))
        assert repr(inbox).startswith("Inbox(")
