"""``boltcall-webhooks demo``: what a receiver accepts and refuses, run on 127.0.0.1.

Standard library only, so that ``python3 -m boltcall_webhooks demo`` runs from
a fresh clone with nothing installed.

The demo is a list of sections (:data:`SECTIONS`), each a function
``(options, out) -> SectionResult`` that prints its own heading and lines and
reports how many of its checks did not have the expected outcome. To add a
section, write such a function and append it to :data:`SECTIONS`: ``run_demo``
numbers the sections, and exits 0 only when every check of every section is
as expected.

It shows what the documentation recommends: no timestamp tolerance, because a
dashboard re-send keeps the event's original timestamp. ``demo --tolerance
SECONDS`` opts into the check and adds a stale event to the deliveries.
"""

from __future__ import annotations

import json
import queue
import secrets
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final, TextIO

from boltcall_webhooks._cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    describe_event,
    post,
    subcommand_parser,
)
from boltcall_webhooks._cli.receiver import Delivery, Receiver
from boltcall_webhooks._cli.tools import non_negative_seconds
from boltcall_webhooks._events import EventType
from boltcall_webhooks._signing import sign
from boltcall_webhooks._verifier import Verifier
from boltcall_webhooks.testing._samples import encode_body, sample_payload

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["SECTIONS", "DemoOptions", "SectionResult", "add_parser", "run_demo"]

_MAX_BODY: Final = 64 * 1024
_TIMEOUT: Final = 5.0
_LABEL_WIDTH: Final = 33
_RESEND_AGE: Final = timedelta(days=3)
_STALE_AGE: Final = timedelta(hours=1)

_EXAMPLES: Final = """\
  boltcall-webhooks demo
  python3 -m boltcall_webhooks demo      # from a fresh clone, nothing installed
  boltcall-webhooks demo --tolerance 300 # opt into the timestamp check (not advised)

exit status: 0 when every delivery has the expected outcome, 1 otherwise
"""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the command line asked of the demo.

    Attributes:
        tolerance: The timestamp tolerance in seconds, or ``None`` (the default: off).
    """

    tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class SectionResult:
    """The outcome of one demo section.

    Attributes:
        checks: How many outcomes the section checked.
        failures: How many of them were not the expected one.
    """

    checks: int
    failures: int


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
            "this package. Finishes in about a second.\n\n"
            "Like the library, the receiver has no timestamp tolerance by default: a\n"
            "re-send from the Boltcall dashboard keeps the event's original timestamp,\n"
            "and a tolerance would refuse it. --tolerance turns the check on, to see a\n"
            "stale event refused."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument(
        "--tolerance",
        type=non_negative_seconds,
        metavar="SECONDS",
        help="refuse events whose timestamp is further than this from now (default: off)",
    )
    parser.set_defaults(func=run_demo)


def _cases(old: str, new: str, wrong: str, now: datetime, tolerance: float | None) -> list[_Case]:
    def body(event_type: EventType | str, when: datetime = now, **fields: object) -> bytes:
        return encode_body(sample_payload(event_type, timestamp=when, **fields))

    def dated(label: str, event_type: EventType, age: timedelta, handler_gets: str) -> _Case:
        """A genuine event ``age`` old: accepted unless a tolerance shorter than that is on."""
        dated_body = body(event_type, when=now - age)
        stale = tolerance is not None and age.total_seconds() > tolerance
        status, gets = (401, None) if stale else (200, handler_gets)
        return _Case(label, dated_body, sign(dated_body, old), status, gets)

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
        dated(
            "dashboard re-send, 3 days old",
            EventType.MISSED_CALL,
            _RESEND_AGE,
            "MissedCallEvent",
        ),
    ]
    if tolerance is not None:  # opt-in only: the stale event the tolerance exists for
        cases.append(
            dated(
                "stale event (timestamp 1 h old)",
                EventType.CALL_COMPLETED,
                _STALE_AGE,
                "CallCompletedEvent",
            )
        )
    cases += [
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
    """Run every section of the demo; return 0 when every outcome was the expected one."""
    options = DemoOptions(tolerance=args.tolerance)
    out = sys.stdout
    print("Boltcall webhooks demo", file=out)
    checks = failures = 0
    for number, section in enumerate(SECTIONS, start=1):
        print(f"\n{number}. ", end="", file=out)
        result = section(options, out)
        checks += result.checks
        failures += result.failures
    print(file=out)
    if failures:
        print(f"{failures} of {checks} outcomes were NOT the expected ones (FAIL).", file=out)
        return EXIT_INVALID
    print(f"Every outcome ({checks} of {checks}) was the expected one.", file=out)
    return EXIT_OK


def verification_section(options: DemoOptions, out: TextIO) -> SectionResult:
    """Genuine and hostile deliveries to a verifying receiver; prints one line each."""
    old, new, wrong = (f"whsec_{secrets.token_hex(16)}" for _ in range(3))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cases = _cases(old, new, wrong, now, options.tolerance)
    deliveries: queue.Queue[Delivery] = queue.Queue()
    verifier = Verifier([old, new], tolerance=options.tolerance, max_body_size=_MAX_BODY)
    try:
        receiver = Receiver(verifier, deliveries.put)
    except OSError as exc:
        msg = f"cannot start the receiver on 127.0.0.1: {exc.strerror or exc}."
        raise CliError(msg) from None
    server = threading.Thread(
        target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    server.start()
    try:
        print("Verification: genuine and hostile deliveries", file=out)
        print(f"Receiver on {receiver.url} (http.server + boltcall_webhooks.Verifier):", file=out)
        print(f"  2 secrets (old + rotated in), max body {_MAX_BODY:,} bytes,", file=out)
        if options.tolerance is None:
            print(
                "  no timestamp tolerance (as advised: a re-send keeps its timestamp).", file=out
            )
        else:
            print(
                f"  tolerance {options.tolerance:g} s (opted in: older re-sends are refused).",
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
        else:
            print(
                f"All {total} deliveries behaved as expected: {handled} verified events reached "
                f"the handler;\n{total - handled} requests were refused before it, with the "
                "status an adapter would send.",
                file=out,
            )
        return SectionResult(checks=total, failures=failures)
    finally:
        receiver.shutdown()
        receiver.server_close()
        server.join(timeout=_TIMEOUT)


def inbox_section(options: DemoOptions, out: TextIO) -> SectionResult:
    """The inbox: store then answer, a retry, a duplicate, a worker killed mid-handler."""
    del options
    from boltcall_webhooks._cli.demo_inbox import run_inbox_demo  # noqa: PLC0415

    checks, failures = run_inbox_demo(out)
    return SectionResult(checks=checks, failures=failures)


SECTIONS: Final[tuple[Callable[[DemoOptions, TextIO], SectionResult], ...]] = (
    verification_section,
    inbox_section,
)
"""The demo's sections, run and numbered in this order."""


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
