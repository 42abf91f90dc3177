"""The relay and the task body without a broker: claim_one, handoff_due, run_delivery, Relay.

Every test runs against each inbox backend (SQLite, PostgreSQL) on a clock moved by
hand; the queue is a list (or a function that fails like a broker that is down).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from boltcall_webhooks import Router
from boltcall_webhooks.inbox import DeliveryState, Inbox, Relay, run_delivery
from boltcall_webhooks.testing import FixedClock

from .support import Setup, lead_body, python_env, wait_for

LEDGER = "CREATE TABLE IF NOT EXISTS ledger (key TEXT NOT NULL, handler TEXT NOT NULL)"


def ledger_router(setup: Setup, *, fail: set[str] | None = None) -> Router:
    """Two handlers that write (key, handler) through ``delivery.connection``."""
    setup.query(LEDGER)
    mark = "?" if setup.name == "sqlite" else "%s"
    failing = fail if fail is not None else set()
    router = Router()

    def record(name: str) -> Callable[[Any, Any], None]:
        def handler(event: Any, delivery: Any) -> None:
            del event
            delivery.connection.execute(
                f"INSERT INTO ledger (key, handler) VALUES ({mark}, {mark})", (delivery.key, name)
            )
            if name in failing:
                raise RuntimeError(f"{name} failed")

        return handler

    router.on_any(name="first")(record("first"))
    router.on_any(name="second")(record("second"))
    return router


def ledger(setup: Setup) -> list[tuple[str, str]]:
    return sorted(setup.query("SELECT key, handler FROM ledger"))


def test_claim_one_claims_a_due_delivery_once(make_inbox: Callable[..., Inbox]) -> None:
    """A pending delivery is leased to the first caller; a second message finds it leased."""
    inbox = make_inbox(lease=60)
    stored = inbox.store(lead_body(1))
    backend = inbox.backend
    args: dict[str, Any] = {"now": inbox.now(), "lease": 60.0, "max_attempts": 3}
    claim = backend.claim_one(stored.id, worker="w1", **args)
    assert claim is not None
    assert claim.delivery.id == stored.id
    assert claim.delivery.attempts == 1
    assert claim.delivery.state == DeliveryState.PROCESSING
    assert backend.claim_one(stored.id, worker="w2", **args) is None
    assert backend.claim_one(10_000, worker="w2", **args) is None  # unknown id


def test_claim_one_takes_over_an_expired_lease_and_buries_the_last_attempt(
    make_inbox: Callable[..., Inbox], clock: FixedClock
) -> None:
    """An expired lease is claimed again (attempt + 1); with no attempt left it ends dead."""
    inbox = make_inbox(lease=10, max_attempts=2)
    stored = inbox.store(lead_body(2))
    backend = inbox.backend

    def claim(worker: str) -> Any:
        return backend.claim_one(
            stored.id, worker=worker, now=inbox.now(), lease=10, max_attempts=2
        )

    first = claim("w1")
    assert first is not None
    clock.advance(5)
    assert claim("w2") is None  # still leased
    clock.advance(6)
    second = claim("w2")
    assert second is not None
    assert second.delivery.attempts == 2
    assert second.token > first.token  # fencing: the first worker can no longer complete
    assert not backend.finish(first, now=inbox.now())
    clock.advance(11)
    assert claim("w3") is None
    dead = inbox.get(stored.id)
    assert dead.state == DeliveryState.DEAD
    assert (dead.last_error or "").startswith("LeaseExpired")


def test_claim_one_leaves_done_and_not_yet_due_deliveries_alone(
    make_inbox: Callable[..., Inbox], backend: Setup, clock: FixedClock
) -> None:
    """A retry waits for its backoff; a done delivery is never run again."""
    router = ledger_router(backend, fail={"second"})
    inbox = make_inbox(backoff=lambda attempt: 30.0)
    stored = inbox.store(lead_body(3))
    assert run_delivery(inbox, router, stored.id)  # first ok, second failed
    assert inbox.get(stored.id).state == DeliveryState.PENDING
    assert not run_delivery(inbox, router, stored.id)  # not due: a stale message
    clock.advance(31)
    router2 = ledger_router(backend)
    assert run_delivery(inbox, router2, stored.id)  # only "second" runs again
    assert inbox.get(stored.id).state == DeliveryState.DONE
    assert not run_delivery(inbox, router2, stored.id)  # a duplicate message
    key = stored.key
    assert ledger(backend) == [(key, "first"), (key, "second")]  # the failed write rolled back


def test_handoff_due_lists_what_the_queue_lost(
    make_inbox: Callable[..., Inbox], clock: FixedClock
) -> None:
    """Fresh deliveries after the grace, due retries at once, expired leases; never done ones."""
    inbox = make_inbox(lease=20, backoff=lambda attempt: 5.0)
    backend = inbox.backend
    fresh = inbox.store(lead_body(10)).id

    def due(grace: float) -> list[int]:
        now = inbox.now()
        return backend.handoff_due(now=now, fresh_before=now - grace, limit=100)

    assert due(30) == []  # just handed off after its store
    clock.advance(31)
    assert due(30) == [fresh]
    retry = inbox.store(lead_body(11)).id
    claim = backend.claim_one(retry, worker="w", now=inbox.now(), lease=20, max_attempts=5)
    assert claim is not None
    backend.fail(claim, now=inbox.now(), error="E", traceback="", next_attempt_at=inbox.now() + 5)
    assert due(30) == [fresh]  # the retry is not due yet
    clock.advance(5)
    assert due(30) == [fresh, retry]  # due: handed off without waiting for the grace
    leased = backend.claim_one(fresh, worker="w", now=inbox.now(), lease=20, max_attempts=5)
    assert leased is not None
    assert due(30) == [retry]
    clock.advance(21)
    assert sorted(due(300)) == sorted([fresh, retry])  # the lease expired: its worker died
    assert backend.finish(leased, now=inbox.now())  # nobody claimed it again: still its lease
    assert due(300) == [retry]  # done is never listed


def test_relay_hands_off_after_each_store_and_survives_a_broker_outage(
    make_inbox: Callable[..., Inbox],
) -> None:
    """Stores never fail while the queue is down; the ids are sent once it answers."""
    inbox = make_inbox()
    sent: list[int] = []
    down = threading.Event()
    down.set()

    def send(delivery_id: int) -> None:
        if down.is_set():
            raise ConnectionRefusedError("broker down")
        sent.append(delivery_id)

    relay = Relay(inbox, send, name="a list")
    ids = [inbox.store(lead_body(20 + n)).id for n in range(5)]
    duplicate = inbox.store(lead_body(20))
    assert duplicate.duplicate
    assert not relay.flush(timeout=0.3)  # still waiting for the broker
    assert sent == []
    down.clear()
    assert relay.flush(timeout=10)
    assert sorted(set(sent)) == ids  # a pending duplicate is handed off again: harmless


def test_relay_loop_hands_off_lost_deliveries_once_per_grace(
    make_inbox: Callable[..., Inbox], backend: Setup, clock: FixedClock
) -> None:
    """What no hand-off reached is re-sent after the grace, not on every pass; then runs once."""
    router = ledger_router(backend)
    inbox = make_inbox()
    sent: list[int] = []
    relay = Relay(inbox, sent.append, grace=30, after_store=False)
    stored = inbox.store(lead_body(30))  # the web process died before handing it off
    assert relay.run_once() == 0
    clock.advance(31)
    assert relay.run_once() == 1
    assert relay.run_once() == 0  # already handed off; the message may still be queued
    assert sent == [stored.id]
    for delivery_id in [*sent, *sent]:  # a duplicate message does nothing
        run_delivery(inbox, router, delivery_id)
    assert ledger(backend) == [(stored.key, "first"), (stored.key, "second")]
    clock.advance(31)
    assert relay.run_once() == 0  # done: never handed off again


def test_a_failing_store_listener_never_fails_the_store(
    make_inbox: Callable[..., Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    """The delivery is committed before listeners run; their errors are logged only."""
    inbox = make_inbox()

    def broken(stored: Any) -> None:
        raise RuntimeError("listener bug")

    inbox.on_stored(broken)
    stored = inbox.store(lead_body(40))
    assert inbox.get(stored.id).state == DeliveryState.PENDING
    assert "store listener failed" in caplog.text


def test_wait_for_helper_times_out() -> None:
    """The polling helper fails loudly (a test that cannot fail would be a defect)."""
    with pytest.raises(AssertionError, match="timed out"):
        wait_for(lambda: False, 0.2, "nothing")


def test_cli_relay_once_hands_off_and_refuses_what_is_not_a_relay(
    tmp_path: pathlib.Path,
) -> None:
    """``inbox relay --to MODULE:ATTR --once`` runs one pass; a wrong target is exit 2."""
    module = tmp_path / "relay_target.py"
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    module.write_text(
        "from boltcall_webhooks.inbox import Inbox, Relay\n"
        f"inbox = Inbox({url!r})\n"
        "sent: list[int] = []\n"
        "relay = Relay(inbox, lambda i: print('sent', i), grace=0.01, after_store=False)\n"
        "class Holder:\n"
        "    pass\n"
        "holder = Holder()\n"
        "holder.relay = relay\n"
    )
    env = python_env({})
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    seed = (
        "import relay_target, time; relay_target.inbox.store(__import__('queues.support')"
        ".support.lead_body(1)); time.sleep(0.05)"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, cwd=tmp_path, timeout=60)

    def cli(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "boltcall_webhooks",
                "inbox",
                "relay",
                "--to",
                target,
                "--once",
            ],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for target in ("relay_target:relay", "relay_target:holder"):
        done = cli(target)
        assert done.returncode == 0, done.stderr
        assert "sent 1" in done.stdout
        assert "handed off 1" in done.stdout
    wrong = cli("relay_target:sent")
    assert wrong.returncode == 2
    assert "neither a boltcall_webhooks.inbox.Relay" in wrong.stderr
    assert cli("relay_target").returncode == 2  # not MODULE:ATTR
