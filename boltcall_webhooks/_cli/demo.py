"""``boltcall-webhooks demo``: genuine and forged deliveries against a local receiver.

Standard library only, so that ``python3 -m boltcall_webhooks demo`` runs from
a fresh clone with nothing installed.
"""

from __future__ import annotations

import json
import queue
import secrets
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    describe_event,
    post,
    subcommand_parser,
)
from boltcall_webhooks._cli.receiver import Delivery, Receiver
from boltcall_webhooks._events import EventType
from boltcall_webhooks._signing import sign
from boltcall_webhooks._verifier import Verifier
from boltcall_webhooks.testing._samples import encode_body, sample_payload

if TYPE_CHECKING:
    import argparse

    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["add_parser", "run_demo"]

_TOLERANCE: Final = 300
_MAX_BODY: Final = 64 * 1024
_TIMEOUT: Final = 5.0
_LABEL_WIDTH: Final = 33

_EXAMPLES: Final = """\
  boltcall-webhooks demo
  python3 -m boltcall_webhooks demo      # from a fresh clone, nothing installed

exit status: 0 when every delivery has the expected outcome, 1 otherwise
"""


@dataclass(frozen=True, slots=True)
class _Case:
    label: str
    body: bytes
    signature: str | None
    status: int
    handler_gets: str | None  # the event class the handler must receive, or nothing


def add_parser(subparsers: SubParsers) -> None:
    """Register ``demo``."""
    parser = subcommand_parser(
        subparsers,
        "demo",
        summary="show, on 127.0.0.1, what the receiver accepts and refuses",
        description=(
            "Start a receiver on 127.0.0.1 (http.server + the public Verifier), send it\n"
            "genuine and forged deliveries, and print what each got. Needs nothing but\n"
            "this package. Finishes in about a second."
        ),
        examples=_EXAMPLES,
    )
    parser.set_defaults(func=run_demo)


def _cases(old: str, new: str, wrong: str, now: datetime) -> list[_Case]:
    def body(event_type: EventType | str, when: datetime = now, **fields: object) -> bytes:
        return encode_body(sample_payload(event_type, timestamp=when, **fields))

    classes = {
        EventType.NEW_LEAD: "NewLeadEvent",
        EventType.MISSED_CALL: "MissedCallEvent",
        EventType.APPOINTMENT_BOOKED: "AppointmentBookedEvent",
        EventType.CALL_COMPLETED: "CallCompletedEvent",
        EventType.REVIEW_RECEIVED: "ReviewReceivedEvent",
    }
    cases = [
        _Case(f"{kind.value}, signed", body(kind), sign(body(kind), old), 200, name)
        for kind, name in classes.items()
    ]
    unknown = body("invoice_paid")
    lead = body(EventType.NEW_LEAD)
    review = body(EventType.REVIEW_RECEIVED)
    call = body(EventType.CALL_COMPLETED)
    big = body(EventType.NEW_LEAD, message="x" * _MAX_BODY)
    stale = body(EventType.MISSED_CALL, when=now - timedelta(hours=1))
    booking = body(EventType.APPOINTMENT_BOOKED)
    reserialised = json.dumps(json.loads(call), indent=2).encode()
    cases += [
        _Case(
            "unknown type invoice_paid, signed", unknown, sign(unknown, old), 200, "UnknownEvent"
        ),
        _Case("signed with a wrong secret", lead, sign(lead, wrong), 401, None),
        _Case("no signature header", lead, None, 401, None),
        _Case(
            "body tampered after signing",
            review.replace(b'"rating":5', b'"rating":1'),
            sign(review, old),
            401,
            None,
        ),
        _Case("body re-serialised after signing", reserialised, sign(call, old), 401, None),
        _Case(f"oversize body ({len(big):,} bytes)", big, sign(big, old), 413, None),
        _Case("stale event (timestamp 1 h old)", stale, sign(stale, old), 401, None),
        _Case(
            "rotation: signed with new secret",
            booking,
            sign(booking, new),
            200,
            "AppointmentBookedEvent",
        ),
        _Case("signed, but not JSON", b"hello", sign(b"hello", old), 400, None),
    ]
    return cases


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when every delivery had the expected outcome."""
    del args
    old, new, wrong = (f"whsec_{secrets.token_hex(16)}" for _ in range(3))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cases = _cases(old, new, wrong, now)
    deliveries: queue.Queue[Delivery] = queue.Queue()
    verifier = Verifier([old, new], tolerance=_TOLERANCE, max_body_size=_MAX_BODY)
    try:
        receiver = Receiver(verifier, deliveries.put)
    except OSError as exc:
        msg = f"cannot start the receiver on 127.0.0.1: {exc.strerror or exc}."
        raise CliError(msg) from None
    server = threading.Thread(
        target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    server.start()
    out = sys.stdout
    try:
        print("Boltcall webhooks demo", file=out)
        print(f"Receiver on {receiver.url} (http.server + boltcall_webhooks.Verifier):", file=out)
        print(
            f"  2 secrets (old + rotated in), tolerance {_TOLERANCE} s, "
            f"max body {_MAX_BODY:,} bytes.",
            file=out,
        )
        print(file=out)
        print(f"       #  {'sent':<{_LABEL_WIDTH}}  expect  got  handler received", file=out)
        failures = 0
        handled = 0
        for number, case in enumerate(cases, start=1):
            got, received, handler_got, ok = _deliver(receiver.url, case, deliveries)
            failures += not ok
            handled += handler_got is not None
            mark = "ok  " if ok else "FAIL"
            print(
                f"{mark} {number:>3}  {case.label:<{_LABEL_WIDTH}}  {case.status:>6}  "
                f"{got:>3}  {received}",
                file=out,
            )
        print(file=out)
        total = len(cases)
        if failures:
            print(f"{failures} of {total} deliveries did NOT behave as expected (FAIL).", file=out)
            return EXIT_INVALID
        refused = total - handled
        print(
            f"All {total} deliveries behaved as expected: {handled} verified events reached "
            f"the handler;\n{refused} requests were refused before it, with the status an "
            "adapter would send.",
            file=out,
        )
        return EXIT_OK
    finally:
        receiver.shutdown()
        receiver.server_close()
        server.join(timeout=_TIMEOUT)


def _deliver(
    url: str, case: _Case, deliveries: queue.Queue[Delivery]
) -> tuple[str, str, str | None, bool]:
    """Send one case: the status seen, what the handler got (text, class), whether as expected."""
    try:
        result = post(url, case.body, case.signature, timeout=_TIMEOUT)
        delivery = deliveries.get(timeout=_TIMEOUT)
    except (OSError, queue.Empty) as exc:
        return "---", f"no answer ({type(exc).__name__})", None, False
    if delivery.event is not None:
        received = describe_event(delivery.event, brief=True)
        got_class: str | None = type(delivery.event).__name__
    else:
        reason = delivery.rejection.message if delivery.rejection else "?"
        received = f"nothing (refused: {reason})"
        got_class = None
    ok = result.status == case.status and got_class == case.handler_gets
    return str(result.status), received, got_class, ok
