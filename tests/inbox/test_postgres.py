"""What only the PostgreSQL backend has to prove: failures, wake-ups, URLs, migrations.

The contract (the same rules as SQLite) runs in ``test_contract.py``; these tests
need a server (``postgres_setup``: skipped with the reason when there is none,
failed when ``BOLTCALL_REQUIRE_POSTGRES`` is set).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from boltcall_webhooks import NewLeadEvent, Router
from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks.inbox import Delivery, DeliveryState, Inbox, InboxError

from .postgres_setup import fresh_schema, require_postgres, server_url
from .support import TIMEOUT, lead_body

PASSWORD = "Pw-d0-not-leak-7f3a"


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    """``(schema, url)``: a fresh schema on the test server, dropped afterwards."""
    with fresh_schema("bp") as found:
        yield found


def _admin(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    psycopg = require_postgres()
    with psycopg.connect(server_url(), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@", 1)


def _unreachable_url() -> str:
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/test?schema=nowhere"


def _terminate(where: str, params: tuple[Any, ...] = ()) -> int:
    """Terminate the server backends matching ``where`` (SQL on pg_stat_activity)."""
    rows = _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE pid <> pg_backend_pid() AND {where}",
        params,
    )
    return len(rows)


# -- URLs, options, secrets ------------------------------------------------------------


def test_the_password_never_reaches_a_repr_an_error_or_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_postgres()
    caplog.set_level(logging.DEBUG)
    inbox = Inbox(_unreachable_url(), timeout=0.5)
    try:
        assert PASSWORD not in repr(inbox)
        assert PASSWORD not in repr(inbox.backend)
        assert "***" in inbox.url
        with pytest.raises(InboxError) as raised:
            inbox.store(lead_body(1))
        assert PASSWORD not in str(raised.value)
        assert PASSWORD not in repr(raised.value)
        assert raised.value.__cause__ is None  # no driver exception chained with the DSN
    finally:
        inbox.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the pool did log its failed connection attempts...
    assert PASSWORD not in logged  # ...without the password
    assert PASSWORD not in caplog.text


def test_a_working_inbox_with_a_password_in_its_url_never_shows_it(
    pg: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    inbox = Inbox(_with_password(pg[1]))  # trust auth on the test server: accepted
    try:
        stored = inbox.store(lead_body(1))
        assert inbox.get(stored.id).state is DeliveryState.PENDING
        assert PASSWORD not in repr(inbox) + inbox.url + repr(inbox.backend)
    finally:
        inbox.close()
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("postgresql://postgres@127.0.0.1/test?schema=bad-name", {}),
        ("postgresql://postgres@127.0.0.1/test?schema=", {}),
        ("postgresql://postgres@127.0.0.1/test", {"pool_size": 0}),
        ("postgresql://postgres@127.0.0.1/test", {"timeout": "5"}),
        ("postgresql://postgres@127.0.0.1/test", {"statement_timeout": -1}),
        ("postgresql://postgres@127.0.0.1/test", {"prepare_threshold": "no"}),
        ("postgresql://postgres@127.0.0.1/test", {"synchronous": "FULL"}),
    ],
)
def test_bad_urls_and_options_are_configuration_errors(url: str, options: dict[str, Any]) -> None:
    require_postgres()
    with pytest.raises(ConfigurationError):
        Inbox(url, **options)


def test_sqlalchemy_style_urls_are_accepted() -> None:
    require_postgres()
    inbox = Inbox(f"postgresql+psycopg://postgres:{PASSWORD}@db.invalid/app?schema=hooks")
    assert inbox.url == "postgresql+psycopg://postgres:***@db.invalid/app?schema=hooks"
    assert inbox.backend.schema == "hooks"  # type: ignore[attr-defined]
    inbox.close()  # never connected: nothing to close, no error


# -- failures: bounded, and nothing reported stored that is not -----------------------


def test_an_unreachable_server_is_an_inbox_error_within_the_timeout() -> None:
    require_postgres()
    inbox = Inbox(_unreachable_url(), timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(InboxError, match="no connection within 1 s"):
            inbox.store(lead_body(1))
        assert time.monotonic() - started < 5.0
        started = time.monotonic()
        with pytest.raises(InboxError):
            asyncio.run(inbox.store_async(lead_body(2)))
        assert time.monotonic() - started < 5.0
    finally:
        inbox.close()


def test_a_backend_terminated_mid_store_is_an_inbox_error_quickly_and_nothing_is_stored(
    pg: tuple[str, str],
) -> None:
    schema, url = pg
    inbox = Inbox(url, statement_timeout=1.0)
    inbox.migrate()
    body = lead_body(1)
    psycopg = require_postgres()
    # Another transaction inserts the same key and holds it: the store blocks on it.
    blocker = psycopg.connect(server_url())
    outcome: list[Any] = []
    try:
        blocker.execute(
            f'INSERT INTO "{schema}".deliveries (key, state, received_at)'
            " VALUES (%s, 'pending', now())",
            (_key(body),),
        )

        def store() -> None:
            started = time.monotonic()
            try:
                outcome.append(inbox.store(body))
            except InboxError as exc:
                outcome.append(exc)
            outcome.append(time.monotonic() - started)

        thread = threading.Thread(target=store)
        thread.start()
        waiting = "wait_event_type = 'Lock' AND query LIKE %s"
        pattern = (f'%INSERT INTO "{schema}".deliveries%',)
        deadline = time.monotonic() + 10
        killed = 0
        while not killed and time.monotonic() < deadline:
            killed = _terminate(waiting, pattern)
            time.sleep(0.02)
        assert killed == 1, "the store never blocked on the held key"
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    finally:
        blocker.rollback()  # the held key goes away: nothing may remain
        blocker.close()
    error, elapsed = outcome
    assert isinstance(error, InboxError)  # 503, never a 200
    assert elapsed < 4.0  # the kill, one retry, then the 1 s statement timeout
    assert inbox.stats() == {"pending": 0, "processing": 0, "done": 0, "dead": 0}
    # Reconnection is automatic: the next store works and is not a duplicate.
    stored = inbox.store(body)
    assert stored.duplicate is False
    inbox.close()


def _key(body: bytes) -> str:
    from boltcall_webhooks._delivery import event_key
    from boltcall_webhooks._parsing import parse_event

    return event_key(body, parse_event(body))


def test_every_pooled_connection_killed_costs_no_failed_store(pg: tuple[str, str]) -> None:
    """A server restart or a DBA's pg_terminate_backend: the next stores reconnect."""
    name = f"t_{pg[0]}"  # only this test's backends are terminated
    inbox = Inbox(f"{pg[1]}&application_name={name}", pool_size=4)
    ours = f"application_name = '{name}'"
    try:
        inbox.store(lead_body(1))

        async def async_side() -> bool:
            await inbox.store_async(lead_body(2))
            await asyncio.to_thread(_terminate, ours)
            await asyncio.sleep(0.1)
            return (await inbox.store_async(lead_body(4))).duplicate  # same loop, dead connection

        assert asyncio.run(async_side()) is False
        assert _terminate(ours) >= 1
        time.sleep(0.1)
        assert inbox.store(lead_body(3)).duplicate is False
        assert inbox.stats()["pending"] == 4
    finally:
        inbox.close()


def test_a_backend_terminated_mid_handler_leaves_the_delivery_to_be_retried(
    pg: tuple[str, str],
) -> None:
    schema, url = pg
    _admin(f'CREATE TABLE IF NOT EXISTS "{schema}".ledger (key text NOT NULL, handler text)')
    inbox = Inbox(url, backoff=lambda attempt: 0.0, poll_interval=0.05)
    router = Router()

    @router.on(NewLeadEvent, name="ledger")
    def ledger(event: NewLeadEvent, delivery: Delivery) -> None:
        delivery.connection.execute(
            f'INSERT INTO "{schema}".ledger VALUES (%s, %s)', (delivery.key, "ledger")
        )
        if delivery.attempts == 1:  # the server loses this backend mid-transaction
            pid = delivery.connection.info.backend_pid
            _admin("SELECT pg_terminate_backend(%s)", (pid,))
            delivery.connection.execute("SELECT 1")

    try:
        stored = inbox.store(lead_body(1))
        assert inbox.work(router, once=True) == 1
        first = inbox.get(stored.id)
        assert first.state is DeliveryState.PENDING  # retried, by the backoff
        assert "AdminShutdown" in (first.last_error or "")
        assert _admin(f'SELECT count(*) FROM "{schema}".ledger') == [(0,)]
        assert inbox.work(router, once=True) == 1
        assert inbox.get(stored.id).state is DeliveryState.DONE
        assert _admin(f'SELECT count(*) FROM "{schema}".ledger') == [(1,)]
    finally:
        inbox.close()


# -- group commit ----------------------------------------------------------------------


def test_concurrent_stores_share_statements_and_each_gets_its_own_answer(
    pg: tuple[str, str],
) -> None:
    inbox = Inbox(pg[1], pool_size=4)
    inbox.migrate()
    threads_count, per_thread = 16, 10
    barrier = threading.Barrier(threads_count)
    results: list[Any] = []

    def store(number: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            body = lead_body(number * per_thread + n)
            results.append(inbox.store(body))
            results.append(inbox.store(lead_body(999)))  # the same key from every thread

    threads = [threading.Thread(target=store, args=(n,)) for n in range(threads_count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        stores = threads_count * per_thread * 2
        assert len(results) == stores
        commits = inbox.backend.store_commits  # type: ignore[attr-defined]
        print(f"{stores} concurrent stores in {commits} statements")
        assert commits < stores  # batched
        shared = [r for r in results if r.key == _key(lead_body(999))]
        assert len(shared) == threads_count * per_thread
        assert sum(not r.duplicate for r in shared) == 1  # stored once, then duplicates
        assert len({r.id for r in shared}) == 1
        assert inbox.get(shared[0].id).duplicates == len(shared) - 1
        assert len({r.id for r in results}) == threads_count * per_thread + 1
        assert inbox.stats()["pending"] == threads_count * per_thread + 1
    finally:
        inbox.close()


# -- async: no thread per request ------------------------------------------------------


def test_store_async_uses_async_connections_not_a_thread_per_request(
    pg: tuple[str, str],
) -> None:
    inbox = Inbox(pg[1])

    async def scenario() -> tuple[int, int, list[Any]]:
        await inbox.store_async(lead_body(0))  # first use: pool and migration
        before = threading.active_count()
        results = await asyncio.gather(*(inbox.store_async(lead_body(n)) for n in range(1, 41)))
        return before, threading.active_count(), results

    try:
        before, after, results = asyncio.run(scenario())
        assert after <= before  # no thread started per store
        assert [r.duplicate for r in results] == [False] * 40
        assert inbox.stats()["pending"] == 41
    finally:
        inbox.close()


# -- migrations ------------------------------------------------------------------------


def test_concurrent_migrations_of_a_new_schema_all_succeed_once() -> None:
    with fresh_schema("bm", create=False) as (schema, url):
        inboxes = [Inbox(url) for _ in range(6)]
        barrier = threading.Barrier(len(inboxes))
        errors: list[BaseException] = []

        def migrate(inbox: Inbox) -> None:
            barrier.wait()
            try:
                inbox.migrate()
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=migrate, args=(inbox,)) for inbox in inboxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        try:
            assert errors == []
            assert _admin(f'SELECT version FROM "{schema}".schema_version') == [(1,)]
            inboxes[0].migrate()  # idempotent
            assert _admin(f'SELECT count(*) FROM "{schema}".schema_version') == [(1,)]
        finally:
            for inbox in inboxes:
                inbox.close()


def test_a_newer_schema_version_is_refused(pg: tuple[str, str]) -> None:
    schema, url = pg
    Inbox(url).migrate()
    _admin(f'INSERT INTO "{schema}".schema_version (version) VALUES (99)')
    inbox = Inbox(url)
    with pytest.raises(InboxError, match="newer than this boltcall-webhooks"):
        inbox.store(lead_body(1))
    inbox.close()


# -- LISTEN/NOTIFY ---------------------------------------------------------------------

_LATENCY_WORKER = """
import sys, time
from boltcall_webhooks import Event, Router
from boltcall_webhooks.inbox import Delivery, Inbox

schema, url = sys.argv[1], sys.argv[2]
router = Router()

@router.on_any
def started(event: Event, delivery: Delivery) -> None:
    delivery.connection.execute(
        f'INSERT INTO "{schema}".started VALUES (%s, %s)', (delivery.key, time.time())
    )

# A long poll: only a NOTIFY can wake this worker quickly.
Inbox(url, poll_interval=30).work(router)
"""


def test_a_worker_in_another_process_starts_the_handler_well_under_100_ms_after_store(
    pg: tuple[str, str], tmp_path: pathlib.Path
) -> None:
    schema, url = pg
    _admin(f'CREATE TABLE "{schema}".started (key text PRIMARY KEY, at double precision)')
    inbox = Inbox(url)
    inbox.migrate()
    script = tmp_path / "latency_worker.py"
    script.write_text(textwrap.dedent(_LATENCY_WORKER))
    worker = subprocess.Popen(
        [sys.executable, str(script), schema, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    latencies: list[float] = []
    try:
        # Wait for the worker's LISTEN (and its first idle claim) before measuring.
        deadline = time.monotonic() + TIMEOUT
        while not _admin(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE %s",
            (f'LISTEN "boltcall_inbox_{schema}"%',),
        ):
            assert time.monotonic() < deadline, "the worker never listened"
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        for number in range(12):
            body = lead_body(number)
            sent = time.time()
            key = inbox.store(body).key
            while not (row := _admin(f'SELECT at FROM "{schema}".started WHERE key = %s', (key,))):
                assert time.time() - sent < 10, "the worker was not woken"
                time.sleep(0.002)
            latencies.append(row[0][0] - sent)
            time.sleep(0.15)  # idle again before the next one
    finally:
        worker.terminate()
        worker.communicate(timeout=TIMEOUT)
        inbox.close()
    median = statistics.median(latencies)
    print(
        f"store -> handler start, idle worker in another process: median {median * 1000:.1f} ms,"
        f" max {max(latencies) * 1000:.1f} ms over {len(latencies)}"
    )
    assert median < 0.1
    assert sorted(latencies)[len(latencies) * 3 // 4] < 0.25  # polling alone would take 30 s
