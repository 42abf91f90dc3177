"""``listen``: a local verifying receiver that prints (and may forward) each event."""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import urllib.parse
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._cli.common import (
    EXIT_OK,
    CliError,
    add_secret_option,
    describe_event,
    post,
    secrets_from_args,
    subcommand_parser,
)
from boltcall_webhooks._cli.receiver import Receiver
from boltcall_webhooks._cli.send import printable
from boltcall_webhooks._cli.tools import non_negative_seconds, positive_int
from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks._verifier import DEFAULT_MAX_BODY_SIZE, Verifier
from boltcall_webhooks.testing._samples import format_timestamp

if TYPE_CHECKING:
    from boltcall_webhooks._cli.common import SubParsers
    from boltcall_webhooks._cli.receiver import Delivery

__all__ = ["add_parser"]

DEFAULT_PORT: Final = 8787
_FORWARD_TIMEOUT: Final = 10.0

_EXAMPLES: Final = """\
  export BOLTCALL_WEBHOOK_SECRET=whsec_...
  boltcall-webhooks listen                        # http://127.0.0.1:8787/
  boltcall-webhooks listen --port 9000 --json | jq .data
  boltcall-webhooks listen --forward-to http://127.0.0.1:8000/webhooks
  boltcall-webhooks listen --max-requests 1       # stop after one request

Every request is verified; there is no way to turn that off. Verified events
are printed on stdout (one line each, or the JSON envelope with --json);
refusals and forwarding results go to stderr. Answers: 200 for a verified
event, 401/413/400/405/411 otherwise, as the framework adapters answer.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        msg = f"expected a port number from 0 to 65535, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_parser(subparsers: SubParsers) -> None:
    """Register ``listen``."""
    parser = subcommand_parser(
        subparsers,
        "listen",
        summary="run a local receiver that verifies and prints each event",
        description=(
            "Receive webhooks on 127.0.0.1, verify each one with the configured secrets,\n"
            "answer at once, print the verified events, and optionally forward them\n"
            "(same body, same signature) to your app."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    add_secret_option(parser)
    parser.add_argument(
        "--tolerance",
        type=non_negative_seconds,
        metavar="SECONDS",
        help="refuse events whose timestamp is further than this from now (default: off)",
    )
    parser.add_argument(
        "--max-body-size",
        type=positive_int,
        default=DEFAULT_MAX_BODY_SIZE,
        metavar="BYTES",
        help=f"refuse larger bodies with 413 (default: {DEFAULT_MAX_BODY_SIZE})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print each verified envelope as one JSON line"
    )
    parser.add_argument(
        "--forward-to",
        metavar="URL",
        help="POST each verified body, with its signature, to this http(s) URL",
    )
    parser.add_argument(
        "--max-requests",
        type=positive_int,
        metavar="N",
        help="stop after answering N requests (default: run until Ctrl-C)",
    )
    parser.set_defaults(func=_run_listen)


class _Forwarder:
    """Forwards verified bodies one at a time from a background thread."""

    def __init__(self, url: str, output: _Output) -> None:
        self._url = url
        self._output = output
        self._queue: queue.Queue[tuple[bytes, str | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)
        self._thread.start()

    def submit(self, body: bytes, signature: str | None) -> None:
        self._queue.put((body, signature))

    def close(self) -> None:
        """Forward what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            body, signature = item
            try:
                result = post(self._url, body, signature, timeout=_FORWARD_TIMEOUT)
            except OSError as exc:
                self._output.error(f"  -> forwarding to {self._url} failed: {exc}")
            else:
                self._output.error(
                    f"  -> forwarded to {self._url}: {result.status} {printable(result.reason)}"
                )


class _Output:
    """Serialises the lines printed by the handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def event(self, line: str) -> None:
        with self._lock:
            print(line, flush=True)

    def error(self, line: str) -> None:
        with self._lock:
            print(line, file=sys.stderr, flush=True)


def _run_listen(args: argparse.Namespace) -> int:
    secrets = secrets_from_args(args)
    try:
        verifier = Verifier(secrets, tolerance=args.tolerance, max_body_size=args.max_body_size)
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    forward_to: str | None = args.forward_to
    if forward_to is not None:
        target = urllib.parse.urlsplit(forward_to)
        if target.scheme not in {"http", "https"} or not target.hostname:
            msg = f"--forward-to needs an http(s) URL, got {forward_to!r}."
            raise CliError(msg)
    try:
        receiver = Receiver(
            verifier, lambda _: None, port=args.port, max_requests=args.max_requests
        )
    except OSError as exc:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}.") from None
    if forward_to is not None and _is_self(forward_to, receiver.server_port):
        receiver.server_close()
        msg = "--forward-to points at this listener itself; that would loop forever."
        raise CliError(msg)
    output = _Output()
    forwarder = _Forwarder(forward_to, output) if forward_to is not None else None

    def report(delivery: Delivery) -> None:
        event = delivery.event
        if event is None:
            rejection = delivery.rejection
            detail = f": {delivery.error}" if delivery.error is not None else ""
            status = f"{rejection.status} {rejection.message}" if rejection else "?"
            output.error(f"refused {delivery.method} {printable(delivery.path)}: {status}{detail}")
            return
        if args.json:
            output.event(json.dumps(dict(event.raw), separators=(",", ":")))
        else:
            output.event(
                f"{format_timestamp(event.timestamp)}  {printable(event.type):<18}  "
                f"{describe_event(event)}"
            )
        if forwarder is not None:
            forwarder.submit(delivery.body, delivery.signature)

    receiver.on_delivery = report
    count = "1 secret" if len(secrets) == 1 else f"{len(secrets)} secrets"
    output.error(f"Listening on {receiver.url} ({count}; every request is verified).")
    if forwarder is not None:
        output.error(f"Forwarding verified events to {forward_to}.")
    output.error("Press Ctrl-C to stop.")
    try:
        receiver.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server_close()
        if forwarder is not None:
            forwarder.close()
    output.error("Stopped.")
    return EXIT_OK


def _is_self(url: str, port: int) -> bool:
    """Whether ``url`` names this listener (127.0.0.1 or localhost on its port)."""
    target = urllib.parse.urlsplit(url)
    local = {"127.0.0.1", "localhost", "::1"}
    try:
        target_port = target.port or (443 if target.scheme == "https" else 80)
    except ValueError:
        return False
    return (target.hostname or "") in local and target_port == port
