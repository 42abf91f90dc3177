"""The HTTP face of verification, shared by every adapter.

One table maps each library error to a status and a JSON body, so the Flask,
Django and Starlette adapters cannot drift apart:

=============================  ======  ==============================
error                          status  body
=============================  ======  ==============================
MissingSignatureError          401     ``{"error": "Missing signature"}``
InvalidSignatureError          401     ``{"error": "Invalid signature"}``
StaleEventError                401     ``{"error": "Stale event"}``
PayloadTooLargeError           413     ``{"error": "Payload too large"}``
PayloadError                   400     ``{"error": "Invalid payload"}``
ConfigurationError             500     ``{"error": "Webhook receiver misconfigured"}``
(method other than POST)       405     ``{"error": "Method not allowed"}``
(body cut short by the client) 400     ``{"error": "Client disconnected"}``
(body the server cannot read)  400     ``{"error": "Invalid body"}``
=============================  ======  ==============================
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from boltcall_webhooks._errors import (
    ConfigurationError,
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    SignatureError,
    StaleEventError,
    WebhookError,
)
from boltcall_webhooks._secrets import SECRET_ENV_VAR
from boltcall_webhooks._verifier import Verifier, check_options

if TYPE_CHECKING:
    from boltcall_webhooks._secrets import Secrets

__all__ = [
    "BAD_CONTENT_LENGTH",
    "CLIENT_DISCONNECTED",
    "INVALID_BODY",
    "METHOD_NOT_ALLOWED",
    "Rejection",
    "ServerInput",
    "UnreadableBodyError",
    "VerifierSource",
    "parse_content_length",
    "rejection_for",
    "rejection_for_unreadable",
    "unreadable_body",
]

logger = logging.getLogger("boltcall_webhooks")


@dataclass(frozen=True, slots=True)
class Rejection:
    """An HTTP answer refusing a webhook request before user code runs.

    Attributes:
        status: The HTTP status code.
        message: The short, secret-free message sent as ``{"error": message}``.
        headers: Extra response headers (``Allow`` for 405).
    """

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def body(self) -> bytes:
        """The JSON response body, ``{"error": message}``."""
        return json.dumps({"error": self.message}).encode("utf-8")

    @property
    def content_type(self) -> str:
        """The response content type."""
        return "application/json"


METHOD_NOT_ALLOWED: Final = Rejection(405, "Method not allowed", (("Allow", "POST"),))
"""The answer to anything but ``POST`` on a guarded route or path."""

_MISSING: Final = Rejection(401, "Missing signature")
_INVALID: Final = Rejection(401, "Invalid signature")
_STALE: Final = Rejection(401, "Stale event")
_TOO_LARGE: Final = Rejection(413, "Payload too large")
_BAD_PAYLOAD: Final = Rejection(400, "Invalid payload")
_MISCONFIGURED: Final = Rejection(500, "Webhook receiver misconfigured")
BAD_CONTENT_LENGTH: Final = Rejection(400, "Invalid Content-Length")
"""The answer to a ``Content-Length`` header that is not a plain number."""
CLIENT_DISCONNECTED: Final = Rejection(400, "Client disconnected")
"""The answer (if the client still listens) to a body cut short: nothing to verify."""
INVALID_BODY: Final = Rejection(400, "Invalid body")
"""The answer to a body the server failed to read (a malformed chunked encoding...)."""
_HUGE: Final = 10**18  # any longer number is over every cap; int() of 4300+ digits raises


def rejection_for(error: WebhookError) -> Rejection:
    """Map a library error to its HTTP answer, logging it without secrets or body.

    A :class:`ConfigurationError` is logged at ERROR level (it needs a fix);
    request errors at INFO level.
    """
    if isinstance(error, ConfigurationError):
        logger.error("Webhook request refused with 500: %s", error)
        return _MISCONFIGURED
    logger.info("Webhook request refused: %s: %s", type(error).__name__, error)
    if isinstance(error, MissingSignatureError):
        return _MISSING
    if isinstance(error, StaleEventError):
        return _STALE
    if isinstance(error, SignatureError):
        return _INVALID
    if isinstance(error, PayloadTooLargeError):
        return _TOO_LARGE
    if isinstance(error, PayloadError):
        return _BAD_PAYLOAD
    return _MISCONFIGURED  # pragma: no cover - every WebhookError is handled above


class UnreadableBodyError(Exception):
    """The server's input stream raised while the body was read: the request's fault.

    Raised by :class:`ServerInput` (or :func:`unreadable_body`) with the
    server's exception chained as ``__cause__``; adapters answer it with
    :data:`INVALID_BODY` through :func:`rejection_for_unreadable`. The message
    names the exception type only: a server's message may quote the body.
    """


# Errors of the call itself, not of the request: a wrong argument is a bug in
# the code reading the stream, and a full memory is the process's state.
_NOT_THE_REQUESTS_FAULT: Final = (TypeError, MemoryError)


def unreadable_body(error: Exception) -> UnreadableBodyError | None:
    """Classify an exception raised by a server's input stream.

    ``OSError`` (the client left: gunicorn's ``NoMoreData``, a reset) is not
    converted (the adapters answer it with :data:`CLIENT_DISCONNECTED`), nor
    are ``TypeError`` and ``MemoryError`` (a bug or the process's state, not the
    request). Anything else the server raises while reading (gunicorn's
    ``InvalidChunkSize``, ``ChunkMissingTerminator``, ``InvalidChunkExtension``;
    cheroot's ``ValueError``) is the client's.

    Returns:
        The error to raise from the server's one (``raise ... from error``), or
        ``None`` when ``error`` must propagate unchanged.
    """
    if isinstance(error, (OSError, *_NOT_THE_REQUESTS_FAULT)):
        return None
    kind = type(error)
    return UnreadableBodyError(
        f"The server could not read the request body ({kind.__module__}.{kind.__qualname__})."
    )


def rejection_for_unreadable(error: UnreadableBodyError) -> Rejection:
    """Log an unreadable body on one line (no traceback, no body) and answer 400."""
    logger.info("Webhook request refused: %s: %s", type(error).__name__, error)
    return INVALID_BODY


class ServerInput:
    """A WSGI input stream whose read errors become :class:`UnreadableBodyError`.

    Wraps only the server's own stream (``wsgi.input``), so an error from the
    adapter's or the framework's code is never mistaken for the client's.
    Offers the WSGI input methods: ``read``, ``readline``, ``readlines`` and
    iteration.
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, *size: int | None) -> bytes:
        """Read from the server's stream (same arguments)."""
        data: bytes = self._call(self._stream.read, *size)
        return data

    def readline(self, *size: int | None) -> bytes:
        """Read a line from the server's stream (same arguments)."""
        line: bytes = self._call(self._stream.readline, *size)
        return line

    def readlines(self, *hint: int | None) -> list[bytes]:
        """Read the remaining lines from the server's stream (same arguments)."""
        lines: list[bytes] = self._call(self._stream.readlines, *hint)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    @staticmethod
    def _call(method: Callable[..., Any], *args: int | None) -> Any:
        try:
            return method(*args)
        except Exception as error:
            unreadable = unreadable_body(error)
            if unreadable is None:
                raise
            raise unreadable from error


def parse_content_length(value: str | None) -> int | Rejection | None:
    """Read a ``Content-Length`` header: ``None`` when absent, a 400 when invalid."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        return BAD_CONTENT_LENGTH
    return int(text) if len(text) < 19 else _HUGE


class VerifierSource:
    """Builds the adapter's :class:`Verifier` from its argument, settings or environment.

    Secrets come from the adapter's ``secrets`` argument, else from the
    framework's setting (``settings_lookup()``), else from
    ``BOLTCALL_WEBHOOK_SECRET``. The verifier is built on first use (settings
    may load after the adapter is created) and kept; a missing secret raises
    :class:`ConfigurationError` at every request until it is fixed, so the
    adapter answers 500 rather than accepting anything.
    """

    __slots__ = ("_cache_key", "_fixed", "_options", "_settings_lookup", "_verifier")

    def __init__(
        self,
        secrets: Secrets | None,
        options: Mapping[str, Any],
        settings_lookup: Callable[[], Secrets | None] | None = None,
    ) -> None:
        unknown = set(options) - {"tolerance", "max_body_size", "strict", "clock"}
        if unknown:
            msg = f"Unknown option(s): {', '.join(sorted(unknown))}."
            raise TypeError(msg)
        check_options(**options)  # a bad option fails at start-up, not at the first request
        self._options = dict(options)
        self._settings_lookup = settings_lookup
        self._verifier: Verifier | None = None
        self._cache_key: object = None
        self._fixed = secrets is not None
        if secrets is not None:
            # An explicit argument is checked now: a bad one fails at start-up.
            self._verifier = Verifier(secrets, **self._options)

    def get(self) -> Verifier:
        """Return the verifier for the current configuration.

        Settings and the environment are read on every call (a test or a
        deploy may change them); the verifier is rebuilt only when they change.

        Raises:
            ConfigurationError: No usable secret is configured anywhere.
        """
        if self._fixed and self._verifier is not None:
            return self._verifier
        configured = self._settings_lookup() if self._settings_lookup is not None else None
        # A snapshot, not the live object: a list or dict changed in place (a secret
        # revoked) must rebuild the verifier.
        if configured is None:
            key: object = ("env", os.environ.get(SECRET_ENV_VAR))
        else:
            key = ("settings", _snapshot(configured))
        if self._verifier is not None and key == self._cache_key:
            return self._verifier
        if configured is None:
            verifier = Verifier(None, **self._options)
        elif isinstance(configured, str) and not configured.strip():
            msg = f"The {SECRET_ENV_VAR} setting is empty."
            raise ConfigurationError(msg)
        else:
            verifier = Verifier(configured, **self._options)
        self._verifier, self._cache_key = verifier, key
        return verifier


def _snapshot(value: object) -> object:
    """An immutable copy of a secrets setting, to compare it with a later reading."""
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return ("mapping", tuple((key, _snapshot(item)) for key, item in items))
    if isinstance(value, (list, tuple)):
        return ("sequence", tuple(_snapshot(item) for item in cast("list[object]", value)))
    return value
