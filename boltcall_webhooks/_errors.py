"""The exceptions raised by boltcall_webhooks.

Every error the library raises on purpose derives from :class:`WebhookError`::

    WebhookError
    ├── SignatureError              the request is not proven to come from Boltcall (401)
    │   ├── MissingSignatureError   no X-Boltcall-Signature header, or an empty one
    │   ├── InvalidSignatureError   a malformed signature, or one that does not match
    │   └── StaleEventError         a genuine signature on an event outside the tolerance
    ├── PayloadError                a verified body that is not a JSON event envelope (400)
    │   └── PayloadTooLargeError    a body larger than the configured maximum (413)
    └── ConfigurationError          no usable secret, or a bad option (500)

Messages say what is wrong and how to fix it; they never contain a secret, a
computed digest or the request body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime, timedelta

__all__ = [
    "ConfigurationError",
    "InvalidSignatureError",
    "MissingSignatureError",
    "PayloadError",
    "PayloadTooLargeError",
    "SignatureError",
    "StaleEventError",
    "WebhookError",
]


class WebhookError(Exception):
    """Base class of every error raised by boltcall_webhooks."""


class SignatureError(WebhookError):
    """The request could not be proven to come from Boltcall.

    Adapters answer every signature error with HTTP 401.
    """


class MissingSignatureError(SignatureError):
    """The ``X-Boltcall-Signature`` header is absent or empty (HTTP 401)."""


class InvalidSignatureError(SignatureError):
    """The signature is malformed or does not match the body (HTTP 401)."""


class StaleEventError(SignatureError):
    """A correctly signed event whose timestamp is outside the tolerance (HTTP 401).

    Attributes:
        timestamp: The envelope's timestamp (authenticated, since it is signed).
        now: The time the event was checked against.
        tolerance: The allowed distance between the two.
    """

    timestamp: datetime
    now: datetime
    tolerance: timedelta

    def __init__(
        self, message: str, *, timestamp: datetime, now: datetime, tolerance: timedelta
    ) -> None:
        super().__init__(message)
        self.timestamp = timestamp
        self.now = now
        self.tolerance = tolerance


class PayloadError(WebhookError):
    """The body is not a Boltcall JSON event envelope (HTTP 400).

    Raised only after the signature holds (or by :func:`parse_event`, which does
    not verify), so the body is genuine: it is kept on the error so that nothing
    Boltcall sent is lost.

    Attributes:
        body: The raw body as received (empty for :class:`PayloadTooLargeError`).
        path: The envelope or field path that is wrong, such as ``"timestamp"`` or
            ``"data.duration_seconds"``, or ``None`` when the whole body is unreadable.
    """

    body: bytes
    path: str | None

    def __init__(self, message: str, *, body: bytes = b"", path: str | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.path = path


class PayloadTooLargeError(PayloadError):
    """The body is larger than ``max_body_size`` (HTTP 413).

    Raised before any hashing. The body is not kept (``body`` is empty).

    Attributes:
        max_body_size: The configured limit in bytes.
        size: The size seen or announced, when known.
    """

    max_body_size: int
    size: int | None

    def __init__(self, message: str, *, max_body_size: int, size: int | None = None) -> None:
        super().__init__(message)
        self.max_body_size = max_body_size
        self.size = size


class ConfigurationError(WebhookError):
    """No usable secret is configured, or an option is invalid (HTTP 500 in adapters)."""
