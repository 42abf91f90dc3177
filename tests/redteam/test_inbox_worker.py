"""Red team: a handler that raises a ``BaseException`` must not stop the inbox's workers.

Before the fix, ``process_claim`` caught only ``Exception``: a handler raising
``asyncio.CancelledError`` (an ``async def`` handler whose HTTP call was
cancelled), ``SystemExit`` (a library calling ``sys.exit``) or any other
``BaseException`` ended the worker thread silently, with the lease held. A
``start_worker`` handle then stopped processing every later delivery while the
web process kept answering 200; ``inbox work`` returned as if it had finished
(exit 0), and each restart died again on the same delivery (expired leases are
claimed first). Now it is the handler's failure: recorded, retried with the
backoff, the worker goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import threading
import time

import pytest

from boltcall_webhooks import NewLeadEvent, Router
from boltcall_webhooks.inbox import Delivery, DeliveryState, Inbox, InboxError


class _Custom(BaseException):
    """A BaseException of a library's own (gevent.Timeout, trio.Cancelled...)."""


def _body(lead: str) -> bytes:
    envelope = {"event": "new_lead", "timestamp": "2025-03-20T09:17:22Z", "data": {"id": lead}}
    return json.dumps(envelope).encode()


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


RAISED: dict[str, BaseException] = {
    "SystemExit": SystemExit(3),
    "KeyboardInterrupt": KeyboardInterrupt(),
    "custom": _Custom("library-specific"),
}


@pytest.mark.parametrize("kind", [*RAISED, "CancelledError (async handler)"])
def test_a_base_exception_in_a_handler_is_a_failure_and_the_worker_goes_on(
    tmp_path: pathlib.Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="boltcall_webhooks.inbox")
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3", backoff=lambda _attempt: 3600.0)
    router = Router()
    ran: list[str] = []

    if kind in RAISED:

        @router.on(NewLeadEvent)
        def handler(event: NewLeadEvent) -> None:
            ran.append(event.data.id)
            if event.data.id == "lead_poison":
                raise RAISED[kind]

    else:

        @router.on(NewLeadEvent)
        async def async_handler(event: NewLeadEvent) -> None:
            ran.append(event.data.id)
            if event.data.id == "lead_poison":
                raise asyncio.CancelledError

    poison = inbox.store(_body("lead_poison"))
    handle = inbox.start_worker(router)
    try:
        assert _wait_for(lambda: "lead_poison" in ran)
        genuine = inbox.store(_body("lead_genuine"))  # stored after the poison ran
        assert _wait_for(lambda: inbox.get(genuine.id).state is DeliveryState.DONE), (
            f"the worker stopped processing: {inbox.stats()}, running={handle.running}"
        )
        assert handle.running
        failed = inbox.get(poison.id)
        assert failed.state is DeliveryState.PENDING  # retried later, with the backoff
        assert failed.attempts == 1
        assert failed.last_error is not None
        assert failed.last_error.split(": ")[1] in {
            "SystemExit",
            "KeyboardInterrupt",
            "_Custom",
            "CancelledError",
        }
    finally:
        assert handle.stop(timeout=10)
        inbox.close()
    assert ran.count("lead_poison") == 1


def test_work_once_keeps_going_after_a_base_exception(tmp_path: pathlib.Path) -> None:
    """``inbox.work(once=True)`` (and ``inbox work``) processes the rest, not 0 of them."""
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3", backoff=lambda _attempt: 3600.0)
    router = Router()

    @router.on(NewLeadEvent)
    def handler(event: NewLeadEvent) -> None:
        if event.data.id == "lead_poison":
            raise SystemExit(1)

    poison = inbox.store(_body("lead_poison"))
    others = [inbox.store(_body(f"lead_{number}")) for number in range(3)]
    try:
        assert threading.current_thread() is threading.main_thread()
        assert inbox.work(router, once=True) == 4
        assert [inbox.get(s.id).state for s in others] == [DeliveryState.DONE] * 3
        assert inbox.get(poison.id).state is DeliveryState.PENDING
        assert inbox.stats()["processing"] == 0  # nothing left leased
    finally:
        inbox.close()


def test_a_failure_message_quoting_a_lone_surrogate_is_recorded(tmp_path: pathlib.Path) -> None:
    """The error and traceback of a failed attempt are stored even when they quote odd data."""
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3", max_attempts=1)
    body = (
        b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22Z",'
        b'"data":{"id":"lead_\\ud800\\u0000"}}'
    )
    router = Router()

    @router.on(NewLeadEvent)
    def handler(event: NewLeadEvent) -> None:
        raise ValueError("no such lead: " + event.data.id)

    try:
        stored = inbox.store(body)
        inbox.work(router, once=True)
        dead = inbox.get(stored.id)
        assert dead.state is DeliveryState.DEAD
        assert dead.last_error is not None
        assert dead.last_error.endswith("ValueError: no such lead: lead_\\ud800\\x00")
        assert dead.last_traceback is not None
        assert "no such lead" in dead.last_traceback
    finally:
        inbox.close()


def test_an_async_handler_storing_after_its_first_write_is_refused_at_once(
    tmp_path: pathlib.Path,
) -> None:
    """``await inbox.store_async`` after a write through ``delivery.connection`` (SQLite).

    A sync ``inbox.store`` there is refused at once; ``store_async`` stored from
    another thread and waited ``busy_timeout`` for the write lock the handler
    itself held (every writer of the file stalled meanwhile), then failed with
    "database is locked". Now it is refused at once, like the sync call.
    """
    inbox = Inbox(f"sqlite:///{tmp_path}/inbox.sqlite3", busy_timeout=3, max_attempts=1)
    router = Router()
    outcome: list[tuple[str, float]] = []

    @router.on(NewLeadEvent)
    async def handler(event: NewLeadEvent, delivery: Delivery) -> None:
        delivery.connection.execute("CREATE TABLE IF NOT EXISTS side (x)")
        delivery.connection.execute("INSERT INTO side VALUES (1)")
        started = time.monotonic()
        try:
            await inbox.store_async(_body("lead_chained"))
        except InboxError as error:
            outcome.append((str(error), time.monotonic() - started))
            raise

    try:
        stored = inbox.store(_body("lead_first"))
        inbox.work(router, once=True)
        [(message, waited)] = outcome
        assert "inside a handler" in message
        assert waited < 1.0
        assert inbox.get(stored.id).state is DeliveryState.DEAD  # its failure, recorded
        assert [d.key for d in inbox.list()] == [stored.key]  # nothing else stored
    finally:
        inbox.close()
