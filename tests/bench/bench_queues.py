"""Benchmark: latency from the 200 to the handler's start, built-in worker vs Celery vs RQ.

One run, the same inbox (a SQLite file), the same paced producer and the same two
ledger-writing handlers for each worker kind:

- ``builtin``: ``boltcall-webhooks inbox work`` in its own process (it polls the
  SQLite file every second when idle: a store in another process cannot wake it;
  ``inbox.start_worker`` in the web process, or PostgreSQL's ``NOTIFY``, can);
- ``celery-rabbitmq`` and ``celery-redis``: :func:`boltcall_webhooks.celery.register_task`,
  ``celery worker -P prefork -c 2``;
- ``rq``: :func:`boltcall_webhooks.rq.register_job`, two ``rq worker`` processes.

The producer stands in for the endpoint: ``inbox.store(body)`` returns (the 200
goes out), the hand-off follows in the relay's thread. Latency = the first
handler's start (``time.time()`` in the worker) minus the store's return. Also
printed: broker messages sent per delivery by the web side (the issue's bound:
at most one round trip per delivery).

``python tests/bench/bench_queues.py --quick`` (CI: 100 events per kind at 20/s)
or without ``--quick`` (1,000 at 50/s). ``--json FILE`` writes the figures. Exits
1 if a delivery was not processed, or the web side sent more than one message per
delivery.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from queues.support import (  # noqa: E402
    RABBITMQ_PORT,
    Harness,
    RedisServer,
    parse_stored,
    port_open,
)

KINDS = ("builtin", "celery-rabbitmq", "celery-redis", "rq")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(kind: str, events: int, rate: float, redis_url: str) -> dict[str, Any]:
    """Run one worker kind; its latency figures (milliseconds)."""
    queue, broker = {
        "builtin": ("none", ""),
        "celery-rabbitmq": ("celery", f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}//"),
        "celery-redis": ("celery", redis_url),
        "rq": ("rq", redis_url),
    }[kind]
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp_name:
        harness = Harness(pathlib.Path(tmp_name), queue, broker, lease=30.0, grace=30.0)
        try:
            harness.start_workers()
            if queue != "none":
                harness.start_relay()
            time.sleep(4)  # workers up and connected
            producer = harness.produce(0, events, threads=1, pace=1.0 / rate)
            out, _ = producer.communicate(timeout=600)
            assert producer.returncode == 0, out[-2000:]
            rows = parse_stored(out)
            sent = [int(line.split()[-1]) for line in out.splitlines() if "handed_off" in line]
            harness.wait_done(events, 300)
            started = dict(harness.query("SELECT key, started FROM ledger WHERE handler = 'crm'"))
        finally:
            harness.close()
    latencies = [(started[key] - stored_at) * 1000 for _, key, stored_at in rows]
    return {
        "kind": kind,
        "events": len(rows),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "messages_per_delivery": round(sent[0] / len(rows), 3) if sent else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 events per kind at 20/s")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args(argv)
    events, rate = (100, 20.0) if args.quick else (1000, 50.0)
    kinds = [kind for kind in args.kinds.split(",") if kind]
    if "celery-rabbitmq" in kinds and not port_open(RABBITMQ_PORT):
        print("RabbitMQ is not running on 127.0.0.1:5672", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as redis_dir:
        server = RedisServer(pathlib.Path(redis_dir))
        server.start()
        try:
            for kind in kinds:
                results.append(measure(kind, events, rate, server.url))
                print(json.dumps(results[-1]), flush=True)
        finally:
            server.stop()
    print(f"\nlatency from the 200 to the handler's start, {events} events at {rate:g}/s")
    print(f"{'worker':<16} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'msgs/delivery':>14}")
    for row in results:
        print(
            f"{row['kind']:<16} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}"
            f" {row['messages_per_delivery']:>14}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    too_many = [row["kind"] for row in results if row["messages_per_delivery"] > 1.0]
    if too_many:
        print(f"more than one message per delivery from the web side: {too_many}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
