"""Shared pieces of the command line: errors, secrets, bodies, event summaries, HTTP posts.

Standard library only: ``python -m boltcall_webhooks demo`` must run from a
fresh clone with nothing installed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

from boltcall_webhooks import __version__
from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks._events import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    EventType,
    MissedCallEvent,
    NewLeadEvent,
    UnknownEvent,
)
from boltcall_webhooks._secrets import SECRET_ENV_VAR, secrets_from_env
from boltcall_webhooks._signing import SIGNATURE_HEADER
from boltcall_webhooks.testing._samples import format_timestamp

if TYPE_CHECKING:
    from collections.abc import Mapping

    from boltcall_webhooks._events import Event

    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]  # pyright: ignore[reportPrivateUsage]
    """The object ``add_subparsers()`` returns."""

__all__ = [
    "EVENT_TYPES",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "HttpResult",
    "add_secret_option",
    "describe_event",
    "post",
    "read_body",
    "secrets_from_args",
    "subcommand_parser",
]

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
"""Verification failed, or a receiver refused or could not be reached."""
EXIT_USAGE: Final = 2
"""Bad usage or configuration (a missing secret, an unreadable file...)."""

EVENT_TYPES: Final = tuple(member.value for member in EventType)
_SUMMARY_LIMIT: Final = 48


class CliError(Exception):
    """A failure to report on stderr (without a traceback) with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def subcommand_parser(
    subparsers: SubParsers,
    name: str,
    *,
    summary: str,
    description: str,
    examples: str,
) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` shows the description and an examples epilog."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_secret_option(parser: argparse.ArgumentParser, *, several: bool = True) -> None:
    """Add ``--secret`` (repeatable when ``several``), defaulting to the environment."""
    if several:
        default = (
            f"Default: ${SECRET_ENV_VAR}, comma-separated for several. Repeat the option "
            "to accept several (rotation)."
        )
    else:
        default = f"Default: ${SECRET_ENV_VAR}."
    parser.add_argument(
        "--secret",
        action="append",
        metavar="SECRET",
        help=(
            f"webhook secret (whsec_...). {default} Prefer the variable: options show up "
            "in the process list."
        ),
    )


def secrets_from_args(args: argparse.Namespace, *, several: bool = True) -> tuple[str, ...]:
    """The secrets given with ``--secret``, else those in ``BOLTCALL_WEBHOOK_SECRET``.

    Raises:
        CliError: No secret, an empty one, or several where one is needed (exit 2).
    """
    given: list[str] | None = args.secret
    if not given and not os.environ.get(SECRET_ENV_VAR, "").strip():
        raise CliError(
            f"no webhook secret: pass --secret SECRET or set {SECRET_ENV_VAR} "
            "(comma-separated for several)."
        )
    try:
        secrets = tuple(given) if given else secrets_from_env()
    except ConfigurationError as exc:
        raise CliError(str(exc)) from None
    if any(not secret.strip() for secret in secrets):
        raise CliError("--secret must not be empty.")
    if not several and len(secrets) != 1:
        raise CliError("give exactly one secret to sign with.")
    return secrets


def read_body(path: str | None) -> bytes:
    """Read a body from ``path``, or from stdin when ``path`` is ``None`` or ``-``.

    The bytes are used exactly as read: a trailing newline is part of the body.

    Raises:
        CliError: The file cannot be read (exit 2).
    """
    if path is None or path == "-":
        if sys.stdin is None:  # pragma: no cover - no stdin at all (pythonw)
            raise CliError("no FILE given and no standard input to read the body from.")
        if sys.stdin.isatty():
            print("Reading the body from stdin; end it with Ctrl-D.", file=sys.stderr)
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CliError(f"cannot read {path!r}: {exc.strerror or exc}.") from None


def describe_event(event: Event, *, brief: bool = False) -> str:
    """One line naming the event's class, id and key fields (terminal-safe, ASCII).

    ``brief`` keeps only the first key field.
    """
    ident: object
    pairs: list[tuple[str, object]]
    if isinstance(event, UnknownEvent):
        ident = event.data.get("id", "-")
        pairs = [("type", event.type), ("fields", len(event.data))]
    elif isinstance(event, NewLeadEvent):
        lead = event.data
        ident = lead.id
        pairs = [("name", lead.name), ("phone", lead.phone), ("source", lead.source)]
    elif isinstance(event, (MissedCallEvent, CallCompletedEvent)):
        call = event.data
        ident = call.id
        pairs = [("caller", call.caller), ("status", call.status)]
        if isinstance(event, CallCompletedEvent):
            pairs += [("duration_seconds", call.duration_seconds), ("sentiment", call.sentiment)]
    elif isinstance(event, AppointmentBookedEvent):
        booking = event.data
        ident = booking.id
        start = format_timestamp(booking.start_time) if booking.start_time else None
        pairs = [("name", booking.name), ("service", booking.service), ("start_time", start)]
    else:
        review = event.data
        ident = review.id
        pairs = [("rating", review.rating), ("author", review.author), ("source", review.source)]
    present = [(key, value) for key, value in pairs if value is not None]
    shown = " ".join(f"{key}={_safe(value)}" for key, value in present[: 1 if brief else None])
    return f"{type(event).__name__} {_safe(ident)} {shown}".rstrip()


def _safe(value: object) -> str:
    """Render a value from the network on one ASCII line, escaping control characters."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        if len(value) > _SUMMARY_LIMIT:
            value = value[: _SUMMARY_LIMIT - 3] + "..."
        plain = value.isascii() and value.isprintable() and " " not in value and value != ""
        return value if plain else json.dumps(value)
    return json.dumps(value) if value is not None else "null"


@dataclass(frozen=True, slots=True)
class HttpResult:
    """The answer to a POST: status line and body."""

    status: int
    reason: str
    body: bytes


def post(
    url: str,
    body: bytes,
    signature: str | None,
    *,
    timeout: float,
    extra_headers: Mapping[str, str] | None = None,
) -> HttpResult:
    """POST ``body`` as JSON with its signature; never follows redirects nor uses proxies.

    Raises:
        CliError: The URL is not http(s) (exit 2).
        OSError: The connection failed or timed out.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CliError(f"not an http(s) URL: {url!r}.")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"boltcall-webhooks-cli/{__version__}",
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    headers.update(extra_headers or {})
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        return HttpResult(response.status, response.reason, response.read())
    finally:
        connection.close()
