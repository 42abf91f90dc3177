"""boltcall_webhooks.testing: samples, signed requests, event factories and the fixed clock."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from boltcall_webhooks import (
    SIGNATURE_HEADER,
    AppointmentBookedEvent,
    CallCompletedEvent,
    EventType,
    InvalidSignatureError,
    MissedCallEvent,
    MissingSignatureError,
    NewLeadEvent,
    PayloadError,
    ReviewReceivedEvent,
    StaleEventError,
    UnknownEvent,
    Verifier,
    parse_event,
    sign,
)
from boltcall_webhooks.testing import (
    SAMPLE_TIMESTAMP,
    TEST_SECRET,
    FixedClock,
    SignedRequest,
    appointment_booked_event,
    call_completed_event,
    encode_body,
    make_event,
    missed_call_event,
    new_lead_event,
    review_received_event,
    sample_payload,
    signed_request,
)

CLASSES = {
    EventType.NEW_LEAD: NewLeadEvent,
    EventType.MISSED_CALL: MissedCallEvent,
    EventType.APPOINTMENT_BOOKED: AppointmentBookedEvent,
    EventType.CALL_COMPLETED: CallCompletedEvent,
    EventType.REVIEW_RECEIVED: ReviewReceivedEvent,
}


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_each_sample_parses_strictly_into_its_class_with_every_field_modelled(
    event_type: EventType, caplog: pytest.LogCaptureFixture
) -> None:
    """A sample uses only modelled fields of the right type: nothing lands in extra, no warning."""
    caplog.set_level(logging.WARNING, logger="boltcall_webhooks")
    payload = sample_payload(event_type)
    event = parse_event(encode_body(payload), strict=True)
    assert isinstance(event, CLASSES[event_type])
    assert not isinstance(event, UnknownEvent)
    assert event.data.extra == {}
    assert event.timestamp == SAMPLE_TIMESTAMP
    assert payload["data"]["id"] == event.data.id
    assert caplog.records == []


def test_call_completed_sample_carries_the_documented_fields() -> None:
    """The call_completed sample has every field Boltcall documents, plus transcript_url."""
    data = sample_payload(EventType.CALL_COMPLETED)["data"]
    documented = {"id", "agent_id", "direction", "caller", "duration_seconds", "status"}
    documented |= {"sentiment", "summary", "recording_url", "transcript_url"}
    assert documented <= set(data)
    assert all(data[name] not in (None, "") for name in documented)


def test_sample_payload_returns_a_fresh_copy_each_time() -> None:
    """Mutating one sample never changes the next one."""
    first = sample_payload("new_lead")
    first["data"]["name"] = "changed"
    assert sample_payload("new_lead")["data"]["name"] == "Dana Whitfield"


def test_sample_payload_overrides_fields_and_timestamp() -> None:
    """Keyword fields replace or add data fields; datetimes are written as ISO-8601 with Z."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    payload = sample_payload("missed_call", timestamp=when, caller="+15125550100", ended_at=when)
    assert payload["timestamp"] == "2026-01-02T01:04:05Z"
    assert payload["data"]["caller"] == "+15125550100"
    assert payload["data"]["ended_at"] == "2026-01-02T01:04:05Z"
    assert sample_payload("new_lead", timestamp="2025-01-01T00:00:00+00:00")["timestamp"] == (
        "2025-01-01T00:00:00+00:00"
    )


def test_sample_payload_refuses_naive_datetimes_and_empty_types() -> None:
    """A naive datetime or an empty event type is a mistake in the test, reported at once."""
    with pytest.raises(ValueError, match="timezone-aware"):
        sample_payload("new_lead", timestamp=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="empty"):
        sample_payload("")


def test_unknown_event_type_sample_is_delivered_as_unknown_event() -> None:
    """A sample of an event type this version lacks parses as UnknownEvent, type kept."""
    event = make_event("invoice_paid", amount=12)
    assert isinstance(event, UnknownEvent)
    assert event.type == "invoice_paid"
    assert event.data["amount"] == 12


def test_signed_request_verifies_with_the_public_verifier() -> None:
    """The body and headers of signed_request pass Verifier.construct_event_from_headers."""
    request = signed_request("call_completed", sentiment="negative")
    assert request.headers == {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(request.body, TEST_SECRET),
    }
    event = Verifier(TEST_SECRET).construct_event_from_headers(request.headers, request.body)
    assert isinstance(event, CallCompletedEvent)
    assert event.data.sentiment == "negative"
    assert event == request.event()


def test_signed_request_signs_bytes_verbatim_and_mappings_compactly() -> None:
    """Bytes are signed as given; a mapping is serialised to compact JSON first."""
    raw = b'{"event": "x", "timestamp": "2025-03-20T09:17:22Z", "data": {}}\n'
    assert signed_request(raw, secret="whsec_other").signature == sign(raw, "whsec_other")
    from_mapping = signed_request({"event": "x", "data": {}})
    assert from_mapping.body == b'{"event":"x","data":{}}'
    assert from_mapping.signature == sign(from_mapping.body, TEST_SECRET)


def test_signed_request_refuses_fields_without_an_event_type() -> None:
    """Data fields only make sense with an event type; with a body they would be ignored."""
    with pytest.raises(TypeError, match="event type"):
        signed_request(b"{}", name="Ada")


def test_forged_variants_of_a_signed_request_are_refused() -> None:
    """with_body keeps the old signature (tampering); with_signature(None) drops the header."""
    request = signed_request("review_received")
    verifier = Verifier(request.secret)
    tampered = request.with_body(request.body.replace(b'"rating":5', b'"rating":1'))
    assert tampered.body != request.body
    with pytest.raises(InvalidSignatureError):
        verifier.construct_event_from_headers(tampered.headers, tampered.body)
    unsigned = request.with_signature(None)
    assert SIGNATURE_HEADER not in unsigned.headers
    with pytest.raises(MissingSignatureError):
        verifier.construct_event_from_headers(unsigned.headers, unsigned.body)


def test_signed_request_repr_hides_the_secret() -> None:
    """A failing assertion shows the request, never the secret."""
    request = signed_request("new_lead", secret="whsec_do_not_print_me")
    assert "whsec_do_not_print_me" not in repr(request)
    assert isinstance(request, SignedRequest)


def test_typed_factories_return_their_class_with_overrides_in_raw_too() -> None:
    """Each factory builds through parse_event: typed fields and raw always agree."""
    lead = new_lead_event(name="Ada Lovelace")
    assert lead.data.name == "Ada Lovelace" == lead.raw["data"]["name"]
    call = missed_call_event(caller="+15125550111")
    assert call.data.caller == "+15125550111" == call.raw["data"]["caller"]
    booking = appointment_booked_event(start_time=datetime(2025, 4, 1, 15, tzinfo=timezone.utc))
    assert booking.data.start_time == datetime(2025, 4, 1, 15, tzinfo=timezone.utc)
    completed = call_completed_event(duration_seconds=61.5, timestamp="2025-05-05T05:05:05Z")
    assert completed.data.duration_seconds == 61.5
    assert completed.timestamp == datetime(2025, 5, 5, 5, 5, 5, tzinfo=timezone.utc)
    review = review_received_event(rating=2, author=None)
    assert (review.data.rating, review.data.author) == (2, None)
    assert json.loads(json.dumps(dict(review.raw)))["data"]["author"] is None


def test_factory_override_of_the_wrong_type_fails_loudly() -> None:
    """Factories parse strictly: a wrong-typed override names the field instead of vanishing."""
    with pytest.raises(PayloadError) as info:
        call_completed_event(duration_seconds="three minutes")
    assert info.value.path == "data.duration_seconds"


def test_fixed_clock_drives_the_tolerance_check() -> None:
    """Samples are fresh at the clock's default time and stale once it moves past the tolerance."""
    clock = FixedClock()
    verifier = Verifier(TEST_SECRET, tolerance=300, clock=clock)
    request = signed_request("new_lead")
    assert verifier.construct_event(request.body, request.signature).type == "new_lead"
    clock.advance(301)
    with pytest.raises(StaleEventError, match="old"):
        verifier.construct_event(request.body, request.signature)
    clock.advance(timedelta(seconds=-602))
    with pytest.raises(StaleEventError, match="future"):
        verifier.construct_event(request.body, request.signature)
    clock.set("2025-03-20T09:20:00+00:00")
    assert clock() == clock.now == SAMPLE_TIMESTAMP + timedelta(seconds=158)
    assert verifier.construct_event(request.body, request.signature).type == "new_lead"


def test_fixed_clock_refuses_naive_times() -> None:
    """A naive datetime has no meaning as 'now'; the clock refuses it up front."""
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2025, 1, 1))
    assert repr(FixedClock("2025-01-01T00:00:00Z")) == "FixedClock('2025-01-01T00:00:00Z')"
