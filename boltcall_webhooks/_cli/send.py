"""``send``: POST a signed sample (or a body) to a receiver and print its answer."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._cli.common import (
    EVENT_TYPES,
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    add_secret_option,
    post,
    read_body,
    secrets_from_args,
    subcommand_parser,
)
from boltcall_webhooks._cli.tools import positive_seconds
from boltcall_webhooks._signing import sign
from boltcall_webhooks.testing._samples import encode_body, sample_payload

if TYPE_CHECKING:
    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["add_parser", "printable"]

_EXAMPLES: Final = """\
  export BOLTCALL_WEBHOOK_SECRET=whsec_...
  boltcall-webhooks send http://127.0.0.1:8000/webhooks --event call_completed
  boltcall-webhooks send http://127.0.0.1:8000/webhooks --body body.json
  boltcall-webhooks sample new_lead | boltcall-webhooks send http://127.0.0.1:8787/ --body -

exit status: 0 when the receiver answers 2xx, 1 when it answers anything else or
cannot be reached, 2 for a usage or configuration error
"""
_SHOWN_LIMIT: Final = 4000


def add_parser(subparsers: SubParsers) -> None:
    """Register ``send``."""
    parser = subcommand_parser(
        subparsers,
        "send",
        summary="POST a signed event to a receiver",
        description=(
            "POST a signed request to URL, as Boltcall would: a realistic sample of\n"
            "EVENT timestamped now (--event), or the exact bytes of FILE (--body).\n"
            "Prints the answer's status line and body."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("url", metavar="URL", help="the receiver's http(s) URL")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--event",
        metavar="EVENT",
        choices=EVENT_TYPES,
        help=f"send a sample of this event type: {', '.join(EVENT_TYPES)}",
    )
    what.add_argument("--body", metavar="FILE", help="send this body ('-' for stdin)")
    add_secret_option(parser, several=False)
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the answer (default: 10)",
    )
    parser.set_defaults(func=_run_send)


def printable(text: str) -> str:
    """Replace control characters (other than newlines and tabs) so a terminal stays sane."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def _run_send(args: argparse.Namespace) -> int:
    (secret,) = secrets_from_args(args, several=False)
    if args.event is not None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        body = encode_body(sample_payload(args.event, timestamp=now))
    else:
        body = read_body(args.body)
        if not body:  # e.g. `sample ... | send` after `sample` failed: nothing to deliver
            msg = "the body is empty (nothing was read): nothing sent."
            raise CliError(msg)
    try:
        result = post(args.url, body, sign(body, secret), timeout=args.timeout)
    except OSError as exc:
        print(f"error: could not deliver to {args.url}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"HTTP {result.status} {printable(result.reason)}")
    text = result.body.decode("utf-8", "replace")
    if len(text) > _SHOWN_LIMIT:
        text = text[:_SHOWN_LIMIT] + f"... ({len(result.body)} bytes in all)"
    if text:
        print(printable(text))
    return EXIT_OK if 200 <= result.status < 300 else EXIT_INVALID
