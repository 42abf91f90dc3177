"""Verify Boltcall webhooks and get typed events.

Quick start::

    from boltcall_webhooks import construct_event

    event = construct_event(raw_body, headers.get("X-Boltcall-Signature"), secret)

Framework adapters live in ``boltcall_webhooks.flask``, ``boltcall_webhooks.django``
and ``boltcall_webhooks.starlette``; this package imports none of them.
"""

from __future__ import annotations

from boltcall_webhooks._errors import (
    ConfigurationError,
    InvalidSignatureError,
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    SignatureError,
    StaleEventError,
    WebhookError,
)
from boltcall_webhooks._events import (
    Appointment,
    AppointmentBookedEvent,
    Call,
    CallCompletedEvent,
    Event,
    EventType,
    Lead,
    MissedCallEvent,
    NewLeadEvent,
    Review,
    ReviewReceivedEvent,
    UnknownEvent,
)
from boltcall_webhooks._parsing import parse_event
from boltcall_webhooks._router import DispatchError, Handler, Router
from boltcall_webhooks._secrets import SECRET_ENV_VAR, Secret, Secrets
from boltcall_webhooks._signing import (
    SIGNATURE_HEADER,
    is_valid_signature,
    sign,
    verify_signature,
)
from boltcall_webhooks._verifier import DEFAULT_MAX_BODY_SIZE, Clock, Verifier, construct_event

__version__ = "0.2.0.dev0"

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "SECRET_ENV_VAR",
    "SIGNATURE_HEADER",
    "Appointment",
    "AppointmentBookedEvent",
    "Call",
    "CallCompletedEvent",
    "Clock",
    "ConfigurationError",
    "DispatchError",
    "Event",
    "EventType",
    "Handler",
    "InvalidSignatureError",
    "Lead",
    "MissedCallEvent",
    "MissingSignatureError",
    "NewLeadEvent",
    "PayloadError",
    "PayloadTooLargeError",
    "Review",
    "ReviewReceivedEvent",
    "Router",
    "Secret",
    "Secrets",
    "SignatureError",
    "StaleEventError",
    "UnknownEvent",
    "Verifier",
    "WebhookError",
    "__version__",
    "construct_event",
    "is_valid_signature",
    "parse_event",
    "sign",
    "verify_signature",
]


def _publish() -> None:
    """Show public classes under the package, not the private module defining them."""
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if isinstance(obj, type) and obj.__module__.startswith(f"{__name__}._"):
            obj.__module__ = __name__


_publish()
del _publish
