"""parse_event: envelopes, typed resources, lenient and strict modes, timestamps."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from boltcall_webhooks import (
    Appointment,
    AppointmentBookedEvent,
    Call,
    CallCompletedEvent,
    EventType,
    Lead,
    MissedCallEvent,
    NewLeadEvent,
    PayloadError,
    Review,
    ReviewReceivedEvent,
    UnknownEvent,
    parse_event,
)
from boltcall_webhooks._parsing import parse_timestamp

STAMP = "2025-03-20T09:17:22Z"
WHEN = datetime(2025, 3, 20, 9, 17, 22, tzinfo=timezone.utc)


def body_of(event: str, data: Any, timestamp: Any = STAMP) -> bytes:
    """Serialise an envelope."""
    return json.dumps({"event": event, "timestamp": timestamp, "data": data}).encode()


@pytest.mark.parametrize(
    ("event_type", "event_class", "resource_class"),
    [
        (EventType.NEW_LEAD, NewLeadEvent, Lead),
        (EventType.MISSED_CALL, MissedCallEvent, Call),
        (EventType.APPOINTMENT_BOOKED, AppointmentBookedEvent, Appointment),
        (EventType.CALL_COMPLETED, CallCompletedEvent, Call),
        (EventType.REVIEW_RECEIVED, ReviewReceivedEvent, Review),
    ],
)
def test_each_event_type_has_its_class(
    event_type: EventType, event_class: type, resource_class: type
) -> None:
    """Each of the five event types becomes its own class with its own resource."""
    event = parse_event(body_of(event_type.value, {"id": "r_1"}))
    assert type(event) is event_class
    assert type(event.data) is resource_class
    assert event.type == event_type
    assert event.timestamp == WHEN
    assert event.data.id == "r_1"  # type: ignore[union-attr]


def test_call_fields_are_typed() -> None:
    """Documented call fields are read with their types; times become aware UTC."""
    data = {
        "id": "c_1",
        "agent_id": "a_1",
        "direction": "inbound",
        "caller": "+15550100",
        "callee": "+15550199",
        "duration_seconds": 12.5,
        "status": "completed",
        "sentiment": "neutral",
        "summary": "Asked for prices.",
        "recording_url": "https://example.test/r.mp3",
        "transcript_url": "https://example.test/t.txt",
        "started_at": "2025-03-20T10:00:00+01:00",
        "ended_at": "2025-03-20T09:00:12.5Z",
    }
    event = parse_event(body_of("call_completed", data))
    assert isinstance(event, CallCompletedEvent)
    call = event.data
    assert call.duration_seconds == 12.5
    assert call.started_at == datetime(2025, 3, 20, 9, 0, tzinfo=timezone.utc)
    assert call.ended_at == datetime(2025, 3, 20, 9, 0, 12, 500000, tzinfo=timezone.utc)
    assert call.extra == {}
    for name, value in data.items():
        if not name.endswith("_at"):
            assert getattr(call, name) == value


def test_resources_model_plain_fields() -> None:
    """Lead, Appointment and Review read their best-effort fields."""
    lead = parse_event(body_of("new_lead", {"id": "l", "name": "Ann", "source": "sms"}))
    assert isinstance(lead, NewLeadEvent)
    assert (lead.data.name, lead.data.source) == ("Ann", "sms")
    appt = parse_event(
        body_of("appointment_booked", {"id": "a", "start_time": "2025-04-01T15:00:00Z"})
    )
    assert isinstance(appt, AppointmentBookedEvent)
    assert appt.data.start_time == datetime(2025, 4, 1, 15, tzinfo=timezone.utc)
    review = parse_event(body_of("review_received", {"id": "r", "rating": 5, "text": "Great"}))
    assert isinstance(review, ReviewReceivedEvent)
    assert (review.data.rating, review.data.text) == (5, "Great")


def test_unknown_fields_land_in_extra_and_raw() -> None:
    """Fields this version does not model are kept, read-only, in extra and raw."""
    body = body_of("new_lead", {"id": "l", "utm": {"campaign": "spring"}, "score": 7})
    event = parse_event(body)
    assert isinstance(event, NewLeadEvent)
    assert event.data.extra == {"utm": {"campaign": "spring"}, "score": 7}
    assert event.raw == json.loads(body)
    with pytest.raises(TypeError):
        event.data.extra["score"] = 8  # type: ignore[index]
    with pytest.raises(TypeError):
        event.raw["event"] = "x"  # type: ignore[index]


def test_events_and_resources_are_frozen() -> None:
    """Events and resources cannot be changed after parsing."""
    event = parse_event(body_of("new_lead", {"id": "l"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.timestamp = WHEN  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data.id = "x"  # type: ignore[misc,union-attr]


def test_unknown_event_type_is_delivered() -> None:
    """A type this version does not know arrives as UnknownEvent, type and data kept."""
    event = parse_event(body_of("lead_updated", {"id": "l", "x": [1]}))
    assert isinstance(event, UnknownEvent)
    assert event.type == "lead_updated"
    assert event.data == {"id": "l", "x": [1]}
    assert event.timestamp == WHEN


@pytest.mark.parametrize("data", [{}, {"id": 42}, {"id": None}, {"id": ["x"]}])
def test_known_event_without_string_id_is_unknown_with_warning(
    data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Lenient: a known type without a string data.id is UnknownEvent (type kept) + warning."""
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        event = parse_event(body_of("call_completed", data))
    assert isinstance(event, UnknownEvent)
    assert event.type == "call_completed"
    assert "data.id" in caplog.text


def test_strict_refuses_missing_id() -> None:
    """Strict: a known type without a string id is a PayloadError naming data.id."""
    with pytest.raises(PayloadError) as info:
        parse_event(body_of("call_completed", {"id": 1}), strict=True)
    assert info.value.path == "data.id"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_seconds", "184"),
        ("duration_seconds", True),
        ("caller", 15550100),
        ("summary", ["a"]),
        ("started_at", "yesterday"),
        ("started_at", 1700000000),
    ],
)
def test_wrong_typed_field_lenient_and_strict(
    field: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Lenient: None + warning, value kept in raw. Strict: PayloadError with the path."""
    body = body_of("call_completed", {"id": "c", field: value})
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        event = parse_event(body)
    assert isinstance(event, CallCompletedEvent)
    assert getattr(event.data, field) is None
    assert event.raw["data"][field] == value
    assert f"data.{field}" in caplog.text
    with pytest.raises(PayloadError) as info:
        parse_event(body, strict=True)
    assert info.value.path == f"data.{field}"
    assert f"data.{field}" in str(info.value)
    assert info.value.body == body


def test_null_fields_are_none_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    """An explicit null is simply an absent value."""
    with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
        event = parse_event(body_of("missed_call", {"id": "c", "caller": None}), strict=True)
    assert isinstance(event, MissedCallEvent)
    assert event.data.caller is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"not json", None),
        (b"\xff\xfe{}", None),
        (b'\xef\xbb\xbf{"event":"x"}', None),
        (b"[]", None),
        (b'"text"', None),
        (b"null", None),
        (b'{"event": 1, "timestamp": "2025-03-20T09:17:22Z", "data": {}}', "event"),
        (b'{"timestamp": "2025-03-20T09:17:22Z", "data": {}}', "event"),
        (b'{"event": "x", "timestamp": 1742462242, "data": {}}', "timestamp"),
        (b'{"event": "x", "timestamp": "20 March 2025", "data": {}}', "timestamp"),
        (b'{"event": "x", "data": {}}', "timestamp"),
        (b'{"event": "x", "timestamp": "2025-03-20T09:17:22Z", "data": []}', "data"),
        (b'{"event": "x", "timestamp": "2025-03-20T09:17:22Z"}', "data"),
        (b'{"event": "x", "timestamp": "2025-03-20T09:17:22Z", "data": {"n": NaN}}', None),
        (b'{"event": "x", "timestamp": "2025-03-20T09:17:22Z", "data": {"n": Infinity}}', None),
        (b"[" * 100_000 + b"]" * 100_000, None),
        (b'{"n": ' + b"9" * 5000 + b"}", None),
    ],
    ids=[
        "text",
        "not-utf8",
        "bom",
        "array",
        "string",
        "null",
        "event-int",
        "event-missing",
        "timestamp-int",
        "timestamp-prose",
        "timestamp-missing",
        "data-array",
        "data-missing",
        "nan",
        "infinity",
        "deep-nesting",
        "huge-int",
    ],
)
def test_non_envelopes_are_payload_errors(body: bytes, path: str | None) -> None:
    """Only a body that is not a JSON envelope is refused; the raw body is kept."""
    with pytest.raises(PayloadError) as info:
        parse_event(body)
    assert info.value.body == body
    assert info.value.path == path
    assert len(str(info.value)) < 200  # short, and never the body itself


def test_parse_accepts_text_and_mappings() -> None:
    """parse_event takes bytes, str or an already decoded mapping."""
    body = body_of("new_lead", {"id": "l"})
    from_bytes = parse_event(body)
    assert parse_event(body.decode()) == from_bytes
    assert parse_event(json.loads(body)) == from_bytes


def test_parse_refuses_other_types() -> None:
    """Anything else is a TypeError (a programming error)."""
    with pytest.raises(TypeError):
        parse_event(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-20T09:17:22Z", WHEN),
        ("2025-03-20t09:17:22z", WHEN),
        ("2025-03-20 09:17:22Z", WHEN),
        ("2025-03-20T09:17:22", WHEN),
        ("2025-03-20T09:17:22+00:00", WHEN),
        ("2025-03-20T10:17:22+01:00", WHEN),
        ("2025-03-20T14:47:22+05:30", WHEN),
        ("2025-03-20T14:47:22+0530", WHEN),
        ("2025-03-20T04:17:22-05", WHEN),
        ("2025-03-20T09:17Z", WHEN.replace(second=0)),
        ("2025-03-20T09:17:22.5Z", WHEN + timedelta(milliseconds=500)),
        ("2025-03-20T09:17:22,25Z", WHEN + timedelta(milliseconds=250)),
        ("2025-03-20T09:17:22.123456789Z", WHEN + timedelta(microseconds=123456)),
        ("2025-03-20T09:17:22.000001Z", WHEN + timedelta(microseconds=1)),
    ],
)
def test_timestamps_on_every_python(text: str, expected: datetime) -> None:
    """Z, offsets, missing zone (UTC) and fractions of any length, always aware UTC."""
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is timezone.utc


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-20",
        "2025-13-20T09:17:22Z",
        "2025-02-30T09:17:22Z",
        "2025-03-20T24:00:00Z",
        "2025-03-20T09:17:60Z",
        "2025-03-20T09:17:22+24:00",
        "2025-03-20T09:17:22Z ",
        "0001-01-01T00:00:00+01:00",
        "2025-W12-4T09:17:22Z",
        "\uff12\uff10\uff12\uff15-03-20T09:17:22Z",  # full-width digits
    ],
)
def test_invalid_timestamps(text: str) -> None:
    """Impossible or non-ISO dates are refused with ValueError (PayloadError in envelopes)."""
    with pytest.raises(ValueError, match=r"ISO-8601|range|must be|out of|offset|day|month"):
        parse_timestamp(text)
    with pytest.raises(PayloadError) as info:
        parse_event(body_of("new_lead", {"id": "l"}, timestamp=text))
    assert info.value.path == "timestamp"
