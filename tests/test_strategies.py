"""Property tests drawn from the shipped strategies (boltcall_webhooks.testing.strategies).

They check the library against the strategies and the strategies against the
library: what the strategies call valid parses strictly without a warning,
what they call hostile never crashes a receiver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boltcall_webhooks import (
    SIGNATURE_HEADER,
    AppointmentBookedEvent,
    CallCompletedEvent,
    EventType,
    InvalidSignatureError,
    MissedCallEvent,
    NewLeadEvent,
    PayloadError,
    ReviewReceivedEvent,
    SignatureError,
    UnknownEvent,
    Verifier,
    construct_event,
    is_valid_signature,
    parse_event,
    sign,
    verify_signature,
)
from boltcall_webhooks._parsing import parse_timestamp
from boltcall_webhooks.testing import TEST_SECRET, SignedRequest, encode_body
from boltcall_webhooks.testing import strategies as bst


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def library_warnings() -> Iterator[list[logging.LogRecord]]:
    """Collect the library's warnings in the block (caplog spans a test, not an example)."""
    handler = _Records()
    logger = logging.getLogger("boltcall_webhooks")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


# Parametrised tests run once per class: fewer examples each keep the total reasonable.
PER_CLASS = settings(max_examples=40)

EVENT_STRATEGIES: list[tuple[Callable[[], st.SearchStrategy[Any]], type[Any], str]] = [
    (bst.new_lead_events, NewLeadEvent, "new_lead"),
    (bst.missed_call_events, MissedCallEvent, "missed_call"),
    (bst.appointment_booked_events, AppointmentBookedEvent, "appointment_booked"),
    (bst.call_completed_events, CallCompletedEvent, "call_completed"),
    (bst.review_received_events, ReviewReceivedEvent, "review_received"),
]

DATA_STRATEGIES: list[tuple[Callable[..., st.SearchStrategy[dict[str, Any]]], EventType]] = [
    (bst.lead_data, EventType.NEW_LEAD),
    (bst.call_data, EventType.MISSED_CALL),
    (bst.call_data, EventType.CALL_COMPLETED),
    (bst.appointment_data, EventType.APPOINTMENT_BOOKED),
    (bst.review_data, EventType.REVIEW_RECEIVED),
]


@pytest.mark.parametrize(
    ("strategy", "cls", "event_type"), EVENT_STRATEGIES, ids=[e[2] for e in EVENT_STRATEGIES]
)
@given(data=st.data())
@PER_CLASS
def test_each_event_strategy_yields_its_class_and_survives_a_round_trip(
    strategy: Callable[[], st.SearchStrategy[Any]],
    cls: type[Any],
    event_type: str,
    data: st.DataObject,
) -> None:
    """A drawn event is of its class; re-parsing its raw envelope gives the same event."""
    event: Any = data.draw(strategy())
    assert isinstance(event, cls)
    assert event.type == event_type
    with library_warnings() as warnings:
        again = parse_event(encode_body(dict(event.raw)), strict=True)
    assert again == event
    assert warnings == []


@pytest.mark.parametrize(
    ("strategy", "event_type"), DATA_STRATEGIES, ids=[e[1].value for e in DATA_STRATEGIES]
)
@given(data=st.data())
@PER_CLASS
def test_resource_data_parses_strictly_with_unknown_fields_in_extra(
    strategy: Callable[..., st.SearchStrategy[dict[str, Any]]],
    event_type: EventType,
    data: st.DataObject,
) -> None:
    """Every modelled field keeps its value; every other field lands in extra, unchanged."""
    resource = data.draw(strategy())
    envelope = {"event": event_type.value, "timestamp": "2025-03-20T09:17:22Z", "data": resource}
    event = parse_event(encode_body(envelope), strict=True)
    assert not isinstance(event, UnknownEvent)
    modelled = {f.name for f in fields(type(event.data))} - {"extra"}
    assert dict(event.data.extra) == {k: v for k, v in resource.items() if k not in modelled}
    for name in modelled & set(resource):
        value = resource[name]
        got = getattr(event.data, name)
        if name.endswith(("_at", "_time")) and value is not None:
            assert got == parse_timestamp(value)
        else:
            assert got == value


@given(bst.envelopes())
def test_any_envelope_parses_strictly_into_a_typed_or_unknown_event(
    envelope: dict[str, Any],
) -> None:
    """Known types become their class, other types UnknownEvent; the timestamp is aware UTC."""
    event = parse_event(encode_body(envelope), strict=True)
    assert event.type == envelope["event"]
    assert isinstance(event, UnknownEvent) == (envelope["event"] not in set(EventType))
    assert event.timestamp.utcoffset() is not None
    assert event.timestamp == parse_timestamp(envelope["timestamp"])


@given(bst.events())
def test_events_strategy_covers_every_class(event: object) -> None:
    """events() draws from the six classes only."""
    assert isinstance(
        event,
        (
            NewLeadEvent,
            MissedCallEvent,
            AppointmentBookedEvent,
            CallCompletedEvent,
            ReviewReceivedEvent,
            UnknownEvent,
        ),
    )


@given(bst.unknown_events())
def test_unknown_events_never_use_a_known_type(event: UnknownEvent) -> None:
    """unknown_events() only draws types this version does not model."""
    assert event.type not in {member.value for member in EventType}


@given(bst.signed_requests())
def test_every_signed_request_verifies_with_its_own_secret(request: SignedRequest) -> None:
    """A drawn request passes the public Verifier and yields the event of its body."""
    verifier = Verifier(request.secret)
    event = verifier.construct_event_from_headers(request.headers, request.body)
    assert event == parse_event(request.body)


@given(bst.signed_requests(secret=TEST_SECRET), st.data())
def test_changing_one_byte_of_a_signed_body_breaks_the_signature(
    request: SignedRequest, data: st.DataObject
) -> None:
    """Any single-byte change to a signed body is refused."""
    index = data.draw(st.integers(min_value=0, max_value=len(request.body) - 1))
    delta = data.draw(st.integers(min_value=1, max_value=255))
    body = bytearray(request.body)
    body[index] = (body[index] + delta) % 256
    with pytest.raises(InvalidSignatureError):
        verify_signature(bytes(body), request.signature, TEST_SECRET)


@given(bst.hostile_bodies())
def test_hostile_bodies_give_an_event_or_a_payload_error_never_a_crash(body: bytes) -> None:
    """A correctly signed hostile body yields an event or a PayloadError that keeps the body."""
    error: PayloadError | None = None
    try:
        event = construct_event(body, sign(body, TEST_SECRET), TEST_SECRET)
    except PayloadError as exc:
        error = exc
    if error is not None:
        assert error.body == body
    else:
        assert event.timestamp.utcoffset() is not None


@given(bst.hostile_signatures(), st.binary(max_size=64))
def test_hostile_signatures_are_invalid_and_never_crash(signature: Any, body: bytes) -> None:
    """is_valid_signature says no; verify_signature raises a SignatureError, nothing else."""
    assert is_valid_signature(body, signature, TEST_SECRET) is False
    with pytest.raises(SignatureError):
        verify_signature(body, signature, TEST_SECRET)


@given(bst.signed_requests(secret=TEST_SECRET), st.data())
def test_hostile_headers_pass_only_when_every_signature_header_is_genuine(
    request: SignedRequest, data: st.DataObject
) -> None:
    """A mapping with conflicting or missing signature headers is refused, never crashes."""
    assert request.signature is not None
    headers = data.draw(bst.hostile_headers(signature=request.signature))
    values = [v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()]
    try:
        Verifier(TEST_SECRET).construct_event_from_headers(headers, request.body)
    except SignatureError:
        assert set(values) != {request.signature}
    else:
        assert set(values) == {request.signature}


@given(bst.iso_timestamps())
def test_iso_timestamps_are_all_accepted_as_aware_utc(text: str) -> None:
    """Every spelling the strategy produces is one the parser reads."""
    moment = parse_timestamp(text)
    assert moment.utcoffset() is not None
    assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@given(bst.secrets())
def test_secrets_are_usable_without_a_warning(secret: str) -> None:
    """Drawn secrets are non-empty with no surrounding whitespace: usable, no warning."""
    with library_warnings() as warnings:
        assert is_valid_signature(b"{}", sign(b"{}", secret), secret)
    assert warnings == []
