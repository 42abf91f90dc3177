"""Side by side under one kill schedule: plain Celery receivers against the inbox's hand-off.

Three receivers, each with a fresh ``celery worker`` (prefork -c 2) on a private
``redis-server`` (appendonly yes), each fed the same events at the same pace and
hit by the same ``kill -9`` schedule (the same times, the same choices):

- ``plain``: ``task.delay(body)`` then 200, Celery's defaults (the handler in the task);
- ``plain-acks-late``: the same with ``task_acks_late=True`` and a 5 s visibility timeout;
- ``inbox``: ``inbox.store`` then 200, the id handed to Celery by
  :func:`boltcall_webhooks.celery.register_task`, the relay running.

After the last kill the worker runs undisturbed until the queue is idle; then the
script counts, for each: events answered 200, handled 0 times (lost), handled
more than once (twice), and the messages left in the broker (``unacked`` hash and
queue) after ``--idle`` seconds.

``python tests/queues/compare_plain_celery.py`` is the full run (3,000 events,
13 kills in ~25 s); ``--quick`` a short one (300 events, 5 kills). Exit 1 if
the inbox receiver lost or doubled anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import random
import sys
import tempfile
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from queues.support import Harness, RedisServer, children  # noqa: E402


def schedule(seed: int, kills: int, seconds: float) -> list[tuple[float, str, float]]:
    """``(at, kind, choice)``: when to kill, a child or the whole worker, which child."""
    rng = random.Random(seed)
    times = sorted(rng.uniform(1.0, seconds) for _ in range(kills))
    return [(at, "whole" if n % 4 == 3 else "child", rng.random()) for n, at in enumerate(times)]


def apply(harness: Harness, plan: list[tuple[float, str, float]], start: float) -> int:
    """Run the kill plan against ``harness``'s worker; return the kills made."""
    made = 0
    for at, kind, choice in plan:
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if kind == "whole":
            harness.kill_workers()
            harness.start_workers()
            made += 1
            continue
        pids = sorted(pid for proc in harness.workers for pid in children(proc.pid))
        if pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pids[int(choice * len(pids))], 9)
                made += 1
    return made


def _lead(key: str) -> str:
    return key.split(":")[1] if ":" in key else key


def run_one(
    name: str, plan: list[tuple[float, str, float]], events: int, pace: float, idle: float
) -> dict[str, Any]:
    """One receiver under the plan; its figures."""
    import redis

    with tempfile.TemporaryDirectory(prefix=f"compare-{name}-") as tmp_name:
        tmp = pathlib.Path(tmp_name)
        (tmp / "redis").mkdir()
        server = RedisServer(tmp / "redis")
        server.start()
        queue = "celery" if name == "inbox" else "plain"
        harness = Harness(tmp, queue, server.url, lease=5.0, grace=5.0, sleep=0.01)
        if name == "plain-acks-late":
            harness.env.update(QA_ACKS_LATE="1", QA_VISIBILITY="5")
        try:
            harness.start_workers()
            if name == "inbox":
                harness.start_relay()
            time.sleep(3)  # the worker is up
            start = time.monotonic()
            producer = harness.produce(0, events, threads=2, pace=pace)
            kills = apply(harness, plan, start)
            out, _ = producer.communicate(timeout=600)
            # The lead id of every event answered 200 (inbox keys are type:id:timestamp).
            answered = [
                _lead(line.split()[2] if name == "inbox" else line.split()[1])
                for line in out.splitlines()
                if line.startswith(("stored ", "accepted "))
            ]
            # Undisturbed now: wait until the ledger stops growing for `idle` seconds.
            last, still = -1, time.monotonic()
            while time.monotonic() - still < idle:
                count = harness.query("SELECT count(*) FROM ledger")[0][0]
                if count != last:
                    last, still = count, time.monotonic()
                time.sleep(1)
            client = redis.Redis.from_url(server.url)
            stranded = int(client.hlen("unacked")) + int(client.llen(harness.queue_name))
            client.close()
            handled = {
                _lead(key): runs
                for key, runs in harness.query(
                    "SELECT key, count(*) FROM ledger WHERE handler = 'crm' GROUP BY key"
                )
            }
            lost = [key for key in answered if handled.get(key, 0) == 0]
            twice = [key for key, runs in handled.items() if runs > 1]
            figures = {
                "receiver": name,
                "answered_200": len(answered),
                "lost": len(lost),
                "twice": len(twice),
                "stranded_in_broker": stranded,
                "kills": kills,
            }
            if name == "inbox":
                figures["states"] = harness.states()
            return figures
        finally:
            harness.close()
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 events, 5 kills")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--idle", type=float, default=None, help="idle seconds before counting")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args(argv)
    events, kills, seconds = (300, 5, 10.0) if args.quick else (3000, 13, 25.0)
    idle = args.idle if args.idle is not None else (10.0 if args.quick else 40.0)
    pace = 2 * seconds / events  # two producer threads: the events spread over the schedule
    plan = schedule(args.seed, kills, seconds)
    print(f"{events} events, {kills} kill -9 in {seconds:g} s, seed {args.seed}", flush=True)
    results = []
    for name in ("plain", "plain-acks-late", "inbox"):
        figures = run_one(name, plan, events, pace, idle)
        results.append(figures)
        print(json.dumps(figures), flush=True)
    print(f"\n{'receiver':<17} {'200s':>6} {'lost':>6} {'twice':>6} {'stranded':>9}")
    for row in results:
        print(
            f"{row['receiver']:<17} {row['answered_200']:>6} {row['lost']:>6} {row['twice']:>6}"
            f" {row['stranded_in_broker']:>9}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    ours = results[-1]
    ok = ours["lost"] == 0 and ours["twice"] == 0
    print("inbox receiver: " + ("0 lost, 0 twice" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
