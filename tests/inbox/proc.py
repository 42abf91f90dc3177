"""Child processes for the inbox tests: ``python proc.py COMMAND URL ...``.

Commands: ``get URL ID`` (print the delivery as JSON), ``store URL START COUNT``,
``work URL CONCURRENCY`` (a ledger handler; runs until SIGTERM), ``slow URL MARKS``
(a handler that writes MARKS/started, sleeps, writes MARKS/finished; runs until SIGTERM).
Backend options come as JSON in BOLTCALL_TEST_INBOX_OPTIONS.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from typing import Any

from boltcall_webhooks import Event, Router
from boltcall_webhooks.inbox import Delivery, Inbox
from boltcall_webhooks.testing._samples import encode_body, sample_payload


def _inbox(url: str, **extra: Any) -> Inbox:
    options = json.loads(os.environ.get("BOLTCALL_TEST_INBOX_OPTIONS") or "{}")
    return Inbox(url, **options, **extra)


def main(argv: list[str]) -> int:
    command, url, *rest = argv
    if command == "get":
        delivery = _inbox(url).get(int(rest[0]))
        print(
            json.dumps(
                {
                    "key": delivery.key,
                    "state": str(delivery.state),
                    "body": (delivery.body or b"").decode(),
                }
            )
        )
        return 0
    if command == "store":
        start, count = int(rest[0]), int(rest[1])
        inbox = _inbox(url)
        for number in range(start, start + count):
            body = encode_body(sample_payload("new_lead", id=f"lead_{number:06d}"))
            inbox.store(body)
        return 0
    router = Router()
    if command == "work":
        placeholder = "%s" if url.startswith("postgres") else "?"

        @router.on_any
        def ledger(event: Event, delivery: Delivery) -> None:
            delivery.connection.execute(
                f"INSERT INTO ledger (key, handler) VALUES ({placeholder}, {placeholder})",
                (delivery.key, "ledger"),
            )

        print(_inbox(url, poll_interval=0.05).work(router, concurrency=int(rest[0])), flush=True)
        return 0
    if command == "slow":
        marks = pathlib.Path(rest[0])

        @router.on_any
        def slow(event: Event) -> None:
            (marks / "started").write_text(str(os.getpid()))
            time.sleep(1.5)
            (marks / "finished").write_text(str(os.getpid()))

        print(_inbox(url, poll_interval=0.05).work(router), flush=True)
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
