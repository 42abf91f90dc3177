"""Benchmark: the PostgreSQL inbox against bare SQL doing the same work, as ratios of one run.

Run by ``nox -s bench_inbox_postgres`` (``--quick`` by default there; ``-- --full``
for the long run). Needs a PostgreSQL server: ``BOLTCALL_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``); without one it says so and
exits 0, unless ``BOLTCALL_REQUIRE_POSTGRES`` is set (CI), then 1.

Both sides use one table shape (two schemas migrated by the inbox), the same
connection settings and the server's own ``synchronous_commit``:

- store: ``inbox.store(body)`` (parse, key, one upsert round trip with its
  ``pg_notify``) vs a bare ``INSERT ... ON CONFLICT ... RETURNING`` of a precomputed
  key on a plain psycopg connection, at 1 client and at 16 (threads; the inbox's
  pool holds 16 connections, the bare side one connection per thread).
  Target >= 0.8x the bare rate at both.
- worker: ``inbox.work(router, once=True)`` with one no-op handler (claim with
  ``FOR UPDATE SKIP LOCKED``, parse, dispatch, success mark + done in one
  statement) vs a bare loop of a ``SKIP LOCKED`` claim ``UPDATE`` and a ``done``
  ``UPDATE``. Target <= 2x the bare time per delivery.
- concurrency: ``inbox.work(router, concurrency=4, once=True)`` vs concurrency 1
  with handlers that sleep 10 ms (I/O-bound, the common case). Target >= 2.5x.

Rates are the best of several interleaved rounds (noise only slows a round).
The process exits 1 if a target is missed (quick mode: 0.6x for the one-client
store, see ``QUICK_STORE_TARGET_ONE_CLIENT``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import psycopg

from boltcall_webhooks import Event, Router
from boltcall_webhooks.inbox import Inbox
from boltcall_webhooks.testing._samples import encode_body, sample_payload

SERVER = (
    os.environ.get("BOLTCALL_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)
STORE_TARGET = 0.8
# Quick mode (CI, a shared machine) at one client: the store's fixed cost (~70 µs of
# CPU: parsing the body for its key, the pool, the hand-offs) against a commit that
# takes ~0.2 ms on a fast disk puts the ratio at 0.65-0.9x from run to run; below
# 0.6x something regressed. The full run holds the 0.8x target.
QUICK_STORE_TARGET_ONE_CLIENT = 0.6
WORKER_TARGET = 2.0
CONCURRENCY_TARGET = 2.5

_BARE_UPSERT = (
    'INSERT INTO "{s}".deliveries AS d (key, state, event_type, body, received_at,'
    " next_attempt_at) VALUES (%s, 'pending', 'new_lead', %s, now(), now())"
    " ON CONFLICT (key) DO UPDATE SET duplicates = d.duplicates + 1"
    " RETURNING d.id, (d.xmax = 0), d.state"
)
_BARE_CLAIM = (
    "UPDATE \"{s}\".deliveries AS d SET state = 'processing', attempts = d.attempts + 1,"
    " lease_token = d.lease_token + 1, lease_owner = 'bare',"
    " lease_expires_at = now() + interval '5 minutes', next_attempt_at = NULL"
    " WHERE d.id = (SELECT id FROM \"{s}\".deliveries WHERE state = 'pending'"
    " AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT 1"
    " FOR UPDATE SKIP LOCKED) RETURNING d.id, d.lease_token, d.body"
)
_BARE_DONE = (
    "UPDATE \"{s}\".deliveries SET state = 'done', finished_at = now(),"
    " lease_owner = NULL, lease_expires_at = NULL WHERE id = %s AND lease_token = %s"
)


def _bodies(prefix: str, count: int) -> list[bytes]:
    return [
        encode_body(sample_payload("new_lead", id=f"{prefix}_{number:07d}"))
        for number in range(count)
    ]


def _schema_url(schema: str) -> str:
    return f"{SERVER}{'&' if '?' in SERVER else '?'}schema={schema}"


def _in_threads(clients: int, work: Callable[[int], None]) -> float:
    """Run ``work(client)`` in ``clients`` threads started together; seconds elapsed."""
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(client: int) -> None:
        barrier.wait()
        try:
            work(client)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(client,)) for client in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


class Bench:
    """Two schemas on one server: ``inbox`` for the inbox, ``bare`` for plain SQL."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        tag = uuid.uuid4().hex[:8]
        self.inbox_schema, self.bare_schema = f"bench_inbox_{tag}", f"bench_bare_{tag}"
        self.inbox = Inbox(_schema_url(self.inbox_schema), pool_size=16)
        self.inbox.migrate()
        bare_inbox = Inbox(_schema_url(self.bare_schema))  # the same table shape
        bare_inbox.migrate()
        # The bare store runs the inbox's own upsert statement, on the bare schema.
        self.bare_upsert: bytes = bare_inbox.backend._sql["upsert"]  # type: ignore[attr-defined]
        bare_inbox.close()
        # The bare side connects exactly as the inbox does (its libpq parameters).
        self.params: dict[str, Any] = dict(self.inbox.backend._params)  # type: ignore[attr-defined]
        self.rounds = 8 if quick else 15
        self.serial = 0

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.params, autocommit=True)

    def close(self) -> None:
        self.inbox.close()
        with psycopg.connect(SERVER, autocommit=True) as conn:
            for schema in (self.inbox_schema, self.bare_schema):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def drain(self) -> None:
        """Mark every delivery of both schemas done (what earlier phases left pending)."""
        with self.connect() as conn:
            for schema in (self.inbox_schema, self.bare_schema):
                conn.execute(
                    f"UPDATE \"{schema}\".deliveries SET state = 'done',"
                    " next_attempt_at = NULL WHERE state <> 'done'"
                )

    def fresh(self, count: int) -> list[bytes]:
        self.serial += 1
        return _bodies(f"b{self.serial}", count)

    # -- store -------------------------------------------------------------------------

    def store_rates(self, clients: int, per_client: int) -> tuple[float, float]:
        """Best deliveries/s of ``inbox.store`` and of the bare upsert, rounds interleaved."""
        upsert = self.bare_upsert
        connections = [self.connect() for _ in range(clients)]
        best_inbox = best_bare = 0.0
        try:
            for _ in range(self.rounds):
                batches = [self.fresh(per_client) for _ in range(clients)]

                def inbox_work(client: int, batches: list[list[bytes]] = batches) -> None:
                    for body in batches[client]:
                        self.inbox.store(body)

                elapsed = _in_threads(clients, inbox_work)
                best_inbox = max(best_inbox, clients * per_client / elapsed)
                now = datetime.now(timezone.utc)
                rows = [
                    [
                        (
                            f"k{self.serial}:{c}:{n}",
                            "pending",
                            "new_lead",
                            body,
                            now,
                            now,
                            None,
                            None,
                        )
                        for n, body in enumerate(batch)
                    ]
                    for c, batch in enumerate(batches)
                ]

                def bare_work(client: int, rows: list[list[tuple[Any, ...]]] = rows) -> None:
                    conn = connections[client]
                    for params in rows[client]:
                        conn.execute(upsert, params).fetchone()

                elapsed = _in_threads(clients, bare_work)
                best_bare = max(best_bare, clients * per_client / elapsed)
        finally:
            for conn in connections:
                conn.close()
        return best_inbox, best_bare

    # -- worker ------------------------------------------------------------------------

    def worker_times(self, count: int) -> tuple[float, float]:
        """Best seconds per delivery: the inbox's worker (no-op handler) and the bare loop."""
        router = Router()

        @router.on_any
        def noop(event: Event) -> None:
            return None

        claim, done = _BARE_CLAIM.format(s=self.bare_schema), _BARE_DONE.format(s=self.bare_schema)
        upsert = _BARE_UPSERT.format(s=self.bare_schema)
        best_inbox = best_bare = float("inf")
        with self.connect() as conn:
            for _ in range(self.rounds):
                self.drain()
                bodies = self.fresh(count)
                for body in bodies:
                    self.inbox.store(body)
                started = time.perf_counter()
                processed = self.inbox.work(router, once=True)
                elapsed = time.perf_counter() - started
                assert processed == count, (processed, count)
                best_inbox = min(best_inbox, elapsed / count)
                for number, body in enumerate(bodies):
                    conn.execute(upsert, (f"w{self.serial}:{number}", body))
                started = time.perf_counter()
                handled = 0
                while (row := conn.execute(claim).fetchone()) is not None:
                    conn.execute(done, (row[0], row[1]))
                    handled += 1
                elapsed = time.perf_counter() - started
                assert handled == count, (handled, count)
                best_bare = min(best_bare, elapsed / count)
        return best_inbox, best_bare

    # -- concurrency -------------------------------------------------------------------

    def concurrency_rates(self, count: int) -> tuple[float, float]:
        """Best deliveries/s with 4 worker threads and with 1, handlers sleeping 10 ms."""
        router = Router()

        @router.on_any
        def io_bound(event: Event) -> None:
            time.sleep(0.010)

        best = {1: 0.0, 4: 0.0}
        for _ in range(2 if self.quick else 4):
            for concurrency in (1, 4):
                self.drain()
                for body in self.fresh(count):
                    self.inbox.store(body)
                started = time.perf_counter()
                processed = self.inbox.work(router, concurrency=concurrency, once=True)
                elapsed = time.perf_counter() - started
                assert processed == count, (processed, count)
                best[concurrency] = max(best[concurrency], count / elapsed)
        return best[4], best[1]


def _server_answers() -> str | None:
    try:
        with psycopg.connect(SERVER, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI)")
    args = parser.parse_args(argv)
    problem = _server_answers()
    if problem is not None:
        print(f"bench_inbox_postgres: no PostgreSQL answers at {SERVER} ({problem})")
        if os.environ.get("BOLTCALL_REQUIRE_POSTGRES"):
            print("BOLTCALL_REQUIRE_POSTGRES is set: failing")
            return 1
        print("skipped (set BOLTCALL_TEST_POSTGRES_URL to run it)")
        return 0
    quick = args.quick
    bench = Bench(quick)
    failures: list[str] = []
    try:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            row = conn.execute(
                "SELECT current_setting('synchronous_commit'), current_setting('fsync'),"
                " current_setting('server_version')"
            ).fetchone()
        assert row is not None
        print(
            f"PostgreSQL {row[2]}, synchronous_commit={row[0]}, fsync={row[1]};"
            f" {'quick' if quick else 'full'} run, best of {bench.rounds} rounds"
        )
        for clients, per_client in ((1, 150 if quick else 500), (16, 20 if quick else 60)):
            ours, bare = bench.store_rates(clients, per_client)
            target = QUICK_STORE_TARGET_ONE_CLIENT if quick and clients == 1 else STORE_TARGET
            ratio = ours / bare
            print(
                f"store, {clients:2d} client(s): inbox {ours:8.0f}/s, bare upsert {bare:8.0f}/s"
                f" -> {ratio:.2f}x (target >= {target}x)"
            )
            if ratio < target:
                failures.append(f"store at {clients} clients: {ratio:.2f}x")
        ours_t, bare_t = bench.worker_times(100 if quick else 400)
        ratio = ours_t / bare_t
        print(
            f"worker per delivery: inbox {ours_t * 1e6:7.0f} µs, bare claim+update"
            f" {bare_t * 1e6:7.0f} µs -> {ratio:.2f}x (target <= {WORKER_TARGET}x)"
        )
        if ratio > WORKER_TARGET:
            failures.append(f"worker: {ratio:.2f}x")
        four, one = bench.concurrency_rates(60 if quick else 240)
        ratio = four / one
        print(
            f"10 ms handlers: 4 workers {four:6.1f}/s, 1 worker {one:6.1f}/s -> {ratio:.2f}x"
            f" (target >= {CONCURRENCY_TARGET}x)"
        )
        if ratio < CONCURRENCY_TARGET:
            failures.append(f"concurrency: {ratio:.2f}x")
    finally:
        bench.close()
    if failures:
        print("targets missed: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
