"""Typed Boltcall events: the event types, the resources and the event classes.

Every class here is a frozen dataclass. Resources model the fields Boltcall
documents, plus the fields a lead, booking or review plainly carries; this
part is best effort: every field but ``id`` is optional and anything else
Boltcall sends is kept in ``extra`` (and in the event's ``raw``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "Appointment",
    "AppointmentBookedEvent",
    "Call",
    "CallCompletedEvent",
    "Event",
    "EventType",
    "Lead",
    "MissedCallEvent",
    "NewLeadEvent",
    "Review",
    "ReviewReceivedEvent",
    "UnknownEvent",
]

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def _no_extra() -> Mapping[str, Any]:
    return _EMPTY


class EventType(str, enum.Enum):
    """The event types Boltcall sends (the envelope's ``event``).

    Members are strings, so ``EventType.NEW_LEAD == "new_lead"``.
    """

    NEW_LEAD = "new_lead"
    MISSED_CALL = "missed_call"
    APPOINTMENT_BOOKED = "appointment_booked"
    CALL_COMPLETED = "call_completed"
    REVIEW_RECEIVED = "review_received"

    def __str__(self) -> str:
        return self.value


# Resources ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Call:
    """A phone call handled by a Boltcall agent.

    The fields Boltcall documents for ``call_completed``, plus ``transcript_url``,
    ``callee`` and the start and end times.

    Attributes:
        id: The call id.
        agent_id: The voice agent that handled the call.
        direction: ``"inbound"`` or ``"outbound"``.
        caller: The caller's phone number.
        callee: The number that was called.
        status: The call status, such as ``"completed"`` or ``"missed"``.
        duration_seconds: How long the call lasted.
        sentiment: The caller's sentiment, such as ``"positive"``.
        summary: A summary of the conversation.
        recording_url: Where the recording can be fetched.
        transcript_url: Where the transcript can be fetched.
        started_at: When the call started (UTC).
        ended_at: When the call ended (UTC).
        extra: Every other field of the resource, as sent.
    """

    id: str
    agent_id: str | None = None
    direction: str | None = None
    caller: str | None = None
    callee: str | None = None
    status: str | None = None
    duration_seconds: float | None = None
    sentiment: str | None = None
    summary: str | None = None
    recording_url: str | None = None
    transcript_url: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_no_extra, repr=False)


@dataclass(frozen=True, kw_only=True)
class Lead:
    """A lead captured from a call, an SMS or a web form (fields best effort).

    Attributes:
        id: The lead id.
        name: The contact's name.
        phone: The contact's phone number.
        email: The contact's email address.
        source: Where the lead came from: ``"call"``, ``"sms"`` or ``"form"``.
        agent_id: The agent that captured the lead.
        call_id: The call the lead came from, if any.
        message: What the contact asked for.
        created_at: When the lead was captured (UTC).
        extra: Every other field of the resource, as sent.
    """

    id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    source: str | None = None
    agent_id: str | None = None
    call_id: str | None = None
    message: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_no_extra, repr=False)


@dataclass(frozen=True, kw_only=True)
class Appointment:
    """An appointment booked by an agent (fields best effort).

    Attributes:
        id: The appointment id.
        name: The customer's name.
        phone: The customer's phone number.
        email: The customer's email address.
        service: What was booked.
        status: The booking status, such as ``"confirmed"``.
        start_time: When the appointment starts (UTC).
        end_time: When it ends (UTC).
        agent_id: The agent that booked it.
        lead_id: The lead it belongs to.
        call_id: The call it was booked in.
        notes: Free-text notes.
        created_at: When it was booked (UTC).
        extra: Every other field of the resource, as sent.
    """

    id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    service: str | None = None
    status: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    agent_id: str | None = None
    lead_id: str | None = None
    call_id: str | None = None
    notes: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_no_extra, repr=False)


@dataclass(frozen=True, kw_only=True)
class Review:
    """A customer review received by the business (fields best effort).

    Attributes:
        id: The review id.
        rating: The star rating, such as ``1`` to ``5``.
        text: The review text.
        author: Who wrote it.
        source: Where it was posted, such as ``"google"``.
        url: A link to the review.
        created_at: When it was posted (UTC).
        extra: Every other field of the resource, as sent.
    """

    id: str
    rating: float | None = None
    text: str | None = None
    author: str | None = None
    source: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_no_extra, repr=False)


# Events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLeadEvent:
    """A new lead was captured (``new_lead``).

    Attributes:
        type: Always ``"new_lead"``.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The lead.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: Literal["new_lead"] = field(default="new_lead", init=False)
    timestamp: datetime
    data: Lead
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedCallEvent:
    """A call was missed (``missed_call``).

    Attributes:
        type: Always ``"missed_call"``.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The call.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: Literal["missed_call"] = field(default="missed_call", init=False)
    timestamp: datetime
    data: Call
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentBookedEvent:
    """An appointment was booked (``appointment_booked``).

    Attributes:
        type: Always ``"appointment_booked"``.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The appointment.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: Literal["appointment_booked"] = field(default="appointment_booked", init=False)
    timestamp: datetime
    data: Appointment
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCompletedEvent:
    """A call ended normally (``call_completed``); ``data`` has summary and recording.

    Attributes:
        type: Always ``"call_completed"``.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The call.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: Literal["call_completed"] = field(default="call_completed", init=False)
    timestamp: datetime
    data: Call
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewReceivedEvent:
    """A review was received (``review_received``).

    Attributes:
        type: Always ``"review_received"``.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The review.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: Literal["review_received"] = field(default="review_received", init=False)
    timestamp: datetime
    data: Review
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent:
    """A verified event this version cannot type; delivered rather than dropped.

    Used for event types this version does not know, and for a known type whose
    ``data.id`` is missing or not a string (lenient mode).

    Attributes:
        type: The envelope's ``event``, as sent.
        timestamp: When Boltcall emitted the event (aware, UTC).
        data: The envelope's ``data`` object, read-only at the top level.
        raw: The whole decoded envelope, read-only at the top level.
    """

    type: str
    timestamp: datetime
    data: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)


Event: TypeAlias = (
    NewLeadEvent
    | MissedCallEvent
    | AppointmentBookedEvent
    | CallCompletedEvent
    | ReviewReceivedEvent
    | UnknownEvent
)
"""Any event :func:`construct_event` can return; narrow it with ``isinstance`` or ``match``."""
