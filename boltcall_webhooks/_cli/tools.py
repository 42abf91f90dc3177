"""``sign``, ``verify`` and ``sample``: offline helpers of the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._cli.common import (
    EVENT_TYPES,
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    add_secret_option,
    read_body,
    secrets_from_args,
    subcommand_parser,
)
from boltcall_webhooks._errors import PayloadError, WebhookError
from boltcall_webhooks._parsing import parse_timestamp
from boltcall_webhooks._signing import sign
from boltcall_webhooks._verifier import construct_event
from boltcall_webhooks.testing._samples import sample_payload

if TYPE_CHECKING:
    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["add_parser", "non_negative_seconds", "positive_int", "positive_seconds"]

_SIGN_EXAMPLES: Final = """\
  export BOLTCALL_WEBHOOK_SECRET=whsec_...
  boltcall-webhooks sign body.json
  boltcall-webhooks sample new_lead | boltcall-webhooks sign --secret whsec_...

The signature covers the exact bytes: a trailing newline in FILE is signed too.
"""

_VERIFY_EXAMPLES: Final = """\
  boltcall-webhooks verify --signature 5d41402abc4b2a76... body.json
  boltcall-webhooks verify --signature "$SIG" --secret whsec_old --secret whsec_new < body.json
  boltcall-webhooks verify --signature "$SIG" --tolerance 300 body.json

exit status: 0 valid, 1 not valid (the reason is on stderr), 2 usage or configuration error
"""

_SAMPLE_EXAMPLES: Final = """\
  boltcall-webhooks sample call_completed
  boltcall-webhooks sample new_lead --compact > body.json
  boltcall-webhooks sample review_received --timestamp 2025-03-20T09:17:22Z
"""


def non_negative_seconds(text: str) -> float:
    """argparse type: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        msg = f"expected a non-negative number of seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above zero."""
    value = non_negative_seconds(text)
    if value == 0:
        msg = f"expected a number of seconds above zero, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_parser(subparsers: SubParsers) -> None:
    """Register ``sign``, ``verify`` and ``sample``."""
    _add_sign_parser(subparsers)
    _add_verify_parser(subparsers)
    _add_sample_parser(subparsers)


def _add_sign_parser(subparsers: SubParsers) -> None:
    """Register ``sign``."""
    parser = subcommand_parser(
        subparsers,
        "sign",
        summary="print the signature of a body",
        description=(
            "Print the X-Boltcall-Signature value Boltcall would send for the body in\n"
            "FILE (or stdin): the hex HMAC-SHA256 of the exact bytes."
        ),
        examples=_SIGN_EXAMPLES,
    )
    parser.add_argument("file", nargs="?", metavar="FILE", help="the body (default: stdin)")
    add_secret_option(parser, several=False)
    parser.set_defaults(func=_run_sign)


def _add_verify_parser(subparsers: SubParsers) -> None:
    """Register ``verify``."""
    parser = subcommand_parser(
        subparsers,
        "verify",
        summary="check a signature against a body",
        description=(
            "Check that SIG is a valid X-Boltcall-Signature for the body in FILE (or\n"
            "stdin), with any of the secrets given."
        ),
        examples=_VERIFY_EXAMPLES,
    )
    parser.add_argument("file", nargs="?", metavar="FILE", help="the body (default: stdin)")
    parser.add_argument(
        "--signature", required=True, metavar="SIG", help="the X-Boltcall-Signature value"
    )
    add_secret_option(parser)
    parser.add_argument(
        "--tolerance",
        type=non_negative_seconds,
        metavar="SECONDS",
        help="also refuse an event whose timestamp is further than this from now",
    )
    parser.set_defaults(func=_run_verify)


def _add_sample_parser(subparsers: SubParsers) -> None:
    """Register ``sample``."""
    parser = subcommand_parser(
        subparsers,
        "sample",
        summary="print a realistic sample payload",
        description=(
            "Print a realistic JSON envelope of an event type, timestamped now.\n\n"
            f"Event types: {', '.join(EVENT_TYPES[:4])},\n{EVENT_TYPES[4]}."
        ),
        examples=_SAMPLE_EXAMPLES,
    )
    parser.add_argument("event", metavar="EVENT", choices=EVENT_TYPES, help="the event type")
    parser.add_argument(
        "--timestamp", metavar="ISO-8601", help="the envelope timestamp (default: now, UTC)"
    )
    parser.add_argument("--compact", action="store_true", help="print compact JSON on one line")
    parser.set_defaults(func=_run_sample)


def _run_sign(args: argparse.Namespace) -> int:
    (secret,) = secrets_from_args(args, several=False)
    body = read_body(args.file)
    print(sign(body, secret))
    return EXIT_OK


def _run_verify(args: argparse.Namespace) -> int:
    secrets = secrets_from_args(args)
    body = read_body(args.file)
    try:
        event = construct_event(body, args.signature, secrets, tolerance=args.tolerance)
    except PayloadError as exc:
        if args.tolerance is not None:
            print(f"invalid: {exc} (the timestamp cannot be checked)", file=sys.stderr)
            return EXIT_INVALID
        print("Signature valid (the body is not a Boltcall event envelope).")
        return EXIT_OK
    except WebhookError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"Signature valid ({event.type} event of {event.timestamp.isoformat()}).")
    return EXIT_OK


def _run_sample(args: argparse.Namespace) -> int:
    if args.timestamp is None:
        moment = datetime.now(timezone.utc).replace(microsecond=0)
    else:
        try:
            moment = parse_timestamp(args.timestamp)
        except ValueError:
            msg = f"--timestamp must be an ISO-8601 date and time, got {args.timestamp!r}."
            raise CliError(msg) from None
    payload = sample_payload(args.event, timestamp=moment)
    if args.compact:
        print(json.dumps(payload, separators=(",", ":")))
    else:
        print(json.dumps(payload, indent=2))
    return EXIT_OK
