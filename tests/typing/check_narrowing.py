"""Type tests: checked by mypy --strict and pyright strict, never run.

They show what users get: narrowing of the Event union with isinstance and
match, precise Literal types, and typed resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from typing_extensions import assert_never, assert_type

from boltcall_webhooks import (
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
    Verifier,
    construct_event,
    parse_event,
)


def narrow_with_isinstance(body: bytes, signature: str | None) -> None:
    """isinstance narrows the union to one class with its resource type."""
    event = construct_event(body, signature, "whsec_x")
    assert_type(event, Event)
    assert_type(event.timestamp, datetime)
    assert_type(event.raw, Mapping[str, Any])
    if isinstance(event, CallCompletedEvent):
        assert_type(event.type, Literal["call_completed"])
        assert_type(event.data, Call)
        assert_type(event.data.duration_seconds, float | None)
        assert_type(event.data.recording_url, str | None)
        assert_type(event.data.extra, Mapping[str, Any])
    elif isinstance(event, NewLeadEvent):
        assert_type(event.data, Lead)
        assert_type(event.data.created_at, datetime | None)
    elif isinstance(event, UnknownEvent):
        assert_type(event.type, str)
        assert_type(event.data, Mapping[str, Any])


def narrow_with_match(verifier: Verifier, body: bytes, signature: str) -> str:
    """match with class patterns is exhaustive over the six classes."""
    event = verifier.construct_event(body, signature)
    match event:
        case NewLeadEvent(data=lead):
            assert_type(lead, Lead)
            return lead.id
        case MissedCallEvent(data=call) | CallCompletedEvent(data=call):
            assert_type(call, Call)
            return call.id
        case AppointmentBookedEvent(data=appointment):
            assert_type(appointment, Appointment)
            return appointment.id
        case ReviewReceivedEvent(data=review):
            assert_type(review, Review)
            assert_type(review.rating, float | None)
            return review.id
        case UnknownEvent():
            return event.type
        case _:
            assert_never(event)


def event_type_is_a_str(kind: EventType) -> str:
    """EventType members are strings."""
    text: str = kind
    return text


def parse_is_typed() -> None:
    """parse_event returns the same union."""
    assert_type(parse_event(b"{}"), Event)
    assert_type(parse_event({"event": "x"}, strict=True), Event)
