"""The application the task-queue tests run in real processes (web side, queue workers, relay).

Configured by the environment, so that every process of one test (the producer
standing in for the web endpoint, ``celery worker``, ``rq worker``, ``dramatiq``,
``boltcall-webhooks inbox relay``) builds the same inbox, router and task:

- ``QA_INBOX``: the inbox URL; ``QA_LEASE`` (s), ``QA_GRACE`` (s), ``QA_INTERVAL`` (s)
- ``QA_QUEUE``: ``celery``, ``rq``, ``dramatiq`` or ``none`` (no hand-off: the
  built-in worker); ``QA_BROKER``: the broker URL; ``QA_QUEUE_NAME``
- ``QA_SLEEP``: seconds each handler sleeps (so that kills land mid-task)
- ``QA_PACE``: seconds each producer thread waits after each store (a steady load)

The router's two handlers write ``(key, handler, pid, started)`` to the ``ledger``
table through ``delivery.connection``: committed with each handler's success mark,
so a row twice means a handler's success was recorded twice.

``python -c "import queue_app, sys; queue_app.main(sys.argv[1:])" produce FIRST COUNT [THREADS]``
stores COUNT deliveries
(numbers FIRST..) from THREADS threads as the web endpoint does (``inbox.store``,
then the hand-off after the commit), prints one ``stored <id> <key> <unix time>``
line per delivery, then waits for the hand-offs to be sent (up to ``QA_FLUSH`` s).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from typing import Any

from boltcall_webhooks import Router
from boltcall_webhooks.inbox import Inbox, Relay, run_delivery
from boltcall_webhooks.testing._samples import encode_body, sample_payload

LEDGER_SQL = (
    "CREATE TABLE IF NOT EXISTS ledger (key TEXT NOT NULL, handler TEXT NOT NULL,"
    " pid INTEGER NOT NULL, started REAL NOT NULL)"
)

QUEUE = os.environ.get("QA_QUEUE", "none")
BROKER = os.environ.get("QA_BROKER", "")
QUEUE_NAME = os.environ.get("QA_QUEUE_NAME", "boltcall-tests")
SLEEP = float(os.environ.get("QA_SLEEP", "0"))
PACE = float(os.environ.get("QA_PACE", "0"))  # seconds each producer thread waits between stores
GRACE = float(os.environ.get("QA_GRACE", "2"))
INTERVAL = float(os.environ.get("QA_INTERVAL", "0.5"))

inbox = Inbox(os.environ["QA_INBOX"], lease=float(os.environ.get("QA_LEASE", "3")))
router = Router()
_MARK = "?" if inbox.url.startswith("sqlite") else "%s"


def _record(name: str) -> Any:
    def handler(event: Any, delivery: Any) -> None:
        del event
        started = time.time()
        if SLEEP:
            time.sleep(SLEEP)
        delivery.connection.execute(
            f"INSERT INTO ledger (key, handler, pid, started) VALUES ({_MARK}, {_MARK},"
            f" {_MARK}, {_MARK})",
            (delivery.key, name, os.getpid(), started),
        )

    handler.__name__ = handler.__qualname__ = name
    return handler


router.on_any(name="crm")(_record("crm"))
router.on_any(name="audit")(_record("audit"))

process_delivery: Any = None
relay: Relay | None = None

if QUEUE == "celery":
    from celery import Celery

    from boltcall_webhooks.celery import register_task

    app = Celery("queue_app", broker=BROKER)
    app.conf.update(
        task_default_queue=QUEUE_NAME,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
    )
    process_delivery = register_task(
        app, inbox=inbox, router=router, grace=GRACE, interval=INTERVAL
    )
    relay = process_delivery.relay
elif QUEUE == "rq":
    from redis import Redis
    from rq import Queue

    from boltcall_webhooks.rq import register_job

    process_delivery = register_job(
        Queue(QUEUE_NAME, connection=Redis.from_url(BROKER)),
        inbox=inbox,
        router=router,
        grace=GRACE,
        interval=INTERVAL,
    )
    relay = process_delivery.relay
elif QUEUE == "plain":
    # The receiver the issue compares against (tests/queues/compare_plain_celery.py):
    # ``task.delay(body)`` then 200, the handler in the task; no inbox in the path.
    from celery import Celery

    app = Celery("queue_app", broker=BROKER)
    app.conf.update(
        task_default_queue=QUEUE_NAME,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_acks_late=os.environ.get("QA_ACKS_LATE") == "1",
        broker_transport_options={
            "visibility_timeout": float(os.environ.get("QA_VISIBILITY", "3600"))
        },
    )

    @app.task(name="plain.handle")
    def plain_handle(text: str) -> None:
        started = time.time()
        if SLEEP:
            time.sleep(SLEEP)
        key = text.split('"id":"', 1)[1].split('"', 1)[0]  # the lead id: unique per event
        with sqlite3.connect(inbox.url.removeprefix("sqlite:///"), timeout=60) as conn:
            conn.execute(
                "INSERT INTO ledger (key, handler, pid, started) VALUES (?, 'crm', ?, ?)",
                (key, os.getpid(), started),
            )

    process_delivery = plain_handle
elif QUEUE == "dramatiq":
    # Any other queue: an actor with the queue's retries off that calls run_delivery,
    # and a Relay that sends to it. That is the whole integration.
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    dramatiq.set_broker(RedisBroker(url=BROKER))

    @dramatiq.actor(queue_name=QUEUE_NAME, max_retries=0)
    def run_dramatiq_delivery(delivery_id: int) -> None:
        run_delivery(inbox, router, delivery_id)

    relay = Relay(inbox, run_dramatiq_delivery.send, grace=GRACE, interval=INTERVAL)
    process_delivery = relay


def create_ledger() -> None:
    """Create the ledger table in the inbox's SQLite file."""
    inbox.migrate()
    with sqlite3.connect(inbox.url.removeprefix("sqlite:///")) as conn:
        conn.execute(LEDGER_SQL)


def body(number: int) -> bytes:
    """A genuine-looking envelope, unique per ``number``."""
    return encode_body(sample_payload("new_lead", id=f"qa_{number:07d}"))


def produce(first: int, count: int, threads: int) -> None:
    """Store deliveries as the endpoint does; print each; then flush the hand-offs."""
    lock = threading.Lock()
    numbers = iter(range(first, first + count))
    out = sys.stdout

    def work() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            while True:
                try:
                    stored = inbox.store(body(number))
                except Exception as exc:  # the endpoint would answer 503; the sender re-sends
                    print(f"error {number} {type(exc).__name__}", file=sys.stderr, flush=True)
                    time.sleep(0.05)
                    continue
                break
            with lock:
                out.write(f"stored {stored.id} {stored.key} {time.time():.6f}\n")
                out.flush()
            if PACE:
                time.sleep(PACE)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if relay is not None:
        flushed = relay.flush(timeout=float(os.environ.get("QA_FLUSH", "60")))
        out.write(f"flushed {flushed} handed_off {relay.handed_off}\n")
    out.flush()


def produce_plain(first: int, count: int, threads: int) -> None:
    """The plain receiver's requests: ``task.delay(body)``, then 200 (or 500 if it raised)."""
    lock = threading.Lock()
    numbers = iter(range(first, first + count))

    def work() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            try:
                process_delivery.delay(body(number).decode())
            except Exception as exc:  # the receiver answers 500: the sender knows
                line = f"refused {number} {type(exc).__name__}\n"
            else:
                line = f"accepted qa_{number:07d} {time.time():.6f}\n"
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()
            if PACE:
                time.sleep(PACE)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def main(argv: list[str]) -> None:
    """``ledger`` or ``produce FIRST COUNT [THREADS]``.

    Run as ``python -c "import queue_app; ..."``: this module must be ``queue_app``
    (the name the workers import), never ``__main__``.
    """
    if argv[0] == "ledger":
        create_ledger()
    elif argv[0] == "produce":
        produce(int(argv[1]), int(argv[2]), int(argv[3]) if len(argv) > 3 else 4)
    elif argv[0] == "produce-plain":
        produce_plain(int(argv[1]), int(argv[2]), int(argv[3]) if len(argv) > 3 else 4)
