"""Helpers for testing code that receives Boltcall webhooks.

Everything here is deterministic and needs only the standard library:

- :func:`sample_payload` builds a realistic envelope for each event type;
- :func:`signed_request` gives the body bytes and headers Boltcall would send;
- :func:`make_event` and the typed factories (:func:`new_lead_event`, ...)
  build events through :func:`~boltcall_webhooks.parse_event`, so ``raw`` and
  the typed fields always agree;
- :class:`FixedClock` is a clock for the ``clock=`` option of
  :class:`~boltcall_webhooks.Verifier`.

Example::

    from boltcall_webhooks import Verifier
    from boltcall_webhooks.testing import TEST_SECRET, signed_request

    def test_my_receiver(client):
        request = signed_request("new_lead", name="Ada Lovelace")
        response = client.post("/webhooks", data=request.body, headers=request.headers)
        assert response.status_code == 200

Hypothesis strategies live in :mod:`boltcall_webhooks.testing.strategies`
(install ``boltcall-webhooks[hypothesis]``) and pytest fixtures in
:mod:`boltcall_webhooks.testing.pytest_plugin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from boltcall_webhooks._events import (
    AppointmentBookedEvent,
    CallCompletedEvent,
    Event,
    EventType,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
)
from boltcall_webhooks._parsing import parse_event, parse_timestamp
from boltcall_webhooks._signing import SIGNATURE_HEADER, sign
from boltcall_webhooks.testing._samples import (
    SAMPLE_TIMESTAMP,
    encode_body,
    format_timestamp,
    sample_payload,
)

if TYPE_CHECKING:
    from boltcall_webhooks._secrets import Secret

__all__ = [
    "SAMPLE_TIMESTAMP",
    "TEST_SECRET",
    "FixedClock",
    "SignedRequest",
    "appointment_booked_event",
    "call_completed_event",
    "encode_body",
    "make_event",
    "missed_call_event",
    "new_lead_event",
    "review_received_event",
    "sample_payload",
    "signed_request",
]

TEST_SECRET: Final = "whsec_test_3f9a1c7e5b2d8f4a6c0e1b9d7a5f3c2e"  # noqa: S105 - a test value
"""A secret for tests, shaped like the ones Boltcall issues. Never use it in production."""

_E = TypeVar(
    "_E",
    NewLeadEvent,
    MissedCallEvent,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ReviewReceivedEvent,
)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A webhook request as Boltcall would send it: body bytes and headers.

    Attributes:
        body: The exact body bytes (compact JSON for generated payloads).
        signature: The ``X-Boltcall-Signature`` value, or ``None`` to send none.
        secret: The secret the receiver should be configured with (hidden from ``repr``).
        content_type: The ``Content-Type`` header value.
    """

    body: bytes
    signature: str | None
    secret: Secret = field(repr=False)
    content_type: str = "application/json"

    @property
    def headers(self) -> dict[str, str]:
        """Request headers with ``Content-Type`` and, when signed, ``X-Boltcall-Signature``."""
        headers = {"Content-Type": self.content_type}
        if self.signature is not None:
            headers[SIGNATURE_HEADER] = self.signature
        return headers

    def with_body(self, body: bytes) -> SignedRequest:
        """Return the same request with another body and the OLD signature (a forgery)."""
        return SignedRequest(body, self.signature, self.secret, self.content_type)

    def with_signature(self, signature: str | None) -> SignedRequest:
        """Return the same request with another signature (``None``: no header)."""
        return SignedRequest(self.body, signature, self.secret, self.content_type)

    def event(self) -> Event:
        """Parse the body (without verifying it) into the event a receiver should get."""
        return parse_event(self.body)


def signed_request(
    payload: bytes | Mapping[str, Any] | EventType | str = EventType.NEW_LEAD,
    *,
    secret: Secret = TEST_SECRET,
    timestamp: datetime | str | None = None,
    **fields: Any,
) -> SignedRequest:
    """Build a correctly signed webhook request.

    Args:
        payload: An event type (a realistic sample of it is built, see
            :func:`sample_payload`), an envelope mapping (serialised as compact
            JSON), or the exact body bytes.
        secret: The secret to sign with (default :data:`TEST_SECRET`).
        timestamp: With an event type: the envelope timestamp.
        **fields: With an event type: fields of ``data`` to replace or add.

    Returns:
        The body and headers, ready for a test client.

    Raises:
        TypeError: ``timestamp`` or ``fields`` are given with a body or mapping.
        ConfigurationError: ``secret`` is empty.
    """
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = encode_body(sample_payload(payload, timestamp=timestamp, **fields))
    else:
        body = encode_body(payload)
    if not isinstance(payload, str) and (timestamp is not None or fields):
        msg = "timestamp and data fields can only be given with an event type"
        raise TypeError(msg)
    return SignedRequest(body, sign(body, secret), secret)


def make_event(
    event_type: EventType | str,
    *,
    timestamp: datetime | str | None = None,
    **fields: Any,
) -> Event:
    """Build the event a receiver gets for a realistic sample of ``event_type``.

    The sample is serialised and parsed with :func:`~boltcall_webhooks.parse_event`
    in strict mode, so a field override of the wrong type fails loudly.

    Args:
        event_type: Any event type; an unknown one gives an :class:`UnknownEvent`.
        timestamp: The envelope timestamp (default :data:`SAMPLE_TIMESTAMP`).
        **fields: Fields of ``data`` to replace or add.

    Raises:
        PayloadError: An override has the wrong JSON type (the error names it).
    """
    body = encode_body(sample_payload(event_type, timestamp=timestamp, **fields))
    return parse_event(body, strict=True)


def new_lead_event(*, timestamp: datetime | str | None = None, **fields: Any) -> NewLeadEvent:
    """Build a :class:`NewLeadEvent` from the sample lead, with ``fields`` overridden."""
    return _typed(NewLeadEvent, make_event(EventType.NEW_LEAD, timestamp=timestamp, **fields))


def missed_call_event(
    *, timestamp: datetime | str | None = None, **fields: Any
) -> MissedCallEvent:
    """Build a :class:`MissedCallEvent` from the sample call, with ``fields`` overridden."""
    return _typed(
        MissedCallEvent, make_event(EventType.MISSED_CALL, timestamp=timestamp, **fields)
    )


def appointment_booked_event(
    *, timestamp: datetime | str | None = None, **fields: Any
) -> AppointmentBookedEvent:
    """Build an :class:`AppointmentBookedEvent` from the sample appointment."""
    event = make_event(EventType.APPOINTMENT_BOOKED, timestamp=timestamp, **fields)
    return _typed(AppointmentBookedEvent, event)


def call_completed_event(
    *, timestamp: datetime | str | None = None, **fields: Any
) -> CallCompletedEvent:
    """Build a :class:`CallCompletedEvent` from the sample call, with ``fields`` overridden."""
    event = make_event(EventType.CALL_COMPLETED, timestamp=timestamp, **fields)
    return _typed(CallCompletedEvent, event)


def review_received_event(
    *, timestamp: datetime | str | None = None, **fields: Any
) -> ReviewReceivedEvent:
    """Build a :class:`ReviewReceivedEvent` from the sample review."""
    event = make_event(EventType.REVIEW_RECEIVED, timestamp=timestamp, **fields)
    return _typed(ReviewReceivedEvent, event)


def _typed(cls: type[_E], event: Event) -> _E:
    if not isinstance(event, cls):  # pragma: no cover - strict parsing raises first
        msg = f"the overrides did not produce a {cls.__name__}"
        raise TypeError(msg)
    return event


class FixedClock:
    """A clock that returns a fixed time until moved; pass it as ``clock=``.

    Example::

        clock = FixedClock()  # SAMPLE_TIMESTAMP, the time of every sample
        verifier = Verifier(TEST_SECRET, tolerance=300, clock=clock)
        clock.advance(301)    # now every sample is stale

    Args:
        now: The initial time: an aware ``datetime`` or an ISO-8601 string
            (default :data:`SAMPLE_TIMESTAMP`).

    Raises:
        ValueError: ``now`` is naive or not ISO-8601.
    """

    __slots__ = ("_now",)

    def __init__(self, now: datetime | str = SAMPLE_TIMESTAMP) -> None:
        self._now = _aware(now)

    def __call__(self) -> datetime:
        """Return the current fixed time."""
        return self._now

    def __repr__(self) -> str:
        return f"FixedClock({format_timestamp(self._now)!r})"

    @property
    def now(self) -> datetime:
        """The time the clock returns."""
        return self._now

    def set(self, now: datetime | str) -> None:
        """Move the clock to ``now`` (an aware ``datetime`` or ISO-8601 string)."""
        self._now = _aware(now)

    def advance(self, by: float | timedelta) -> None:
        """Move the clock forward by ``by`` seconds or ``timedelta`` (negative: back)."""
        self._now += by if isinstance(by, timedelta) else timedelta(seconds=by)


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        return parse_timestamp(moment)
    if moment.utcoffset() is None:
        msg = "FixedClock needs a timezone-aware datetime"
        raise ValueError(msg)
    return moment


# Helpers defined in private modules are documented under this public module.
for _name in ("encode_body", "sample_payload"):
    globals()[_name].__module__ = __name__
del _name
