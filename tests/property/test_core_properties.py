"""Property tests of the security path: round trips, bit flips, hostile input."""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from boltcall_webhooks import (
    EventType,
    UnknownEvent,
    WebhookError,
    construct_event,
    is_valid_signature,
    parse_event,
    sign,
    verify_signature,
)
from boltcall_webhooks._parsing import _load_json, parse_timestamp
from boltcall_webhooks.testing import strategies

# The shipped strategies (boltcall_webhooks.testing.strategies) drive these
# tests, so the kit users get is exercised by our own suite.
secrets_text = strategies.secrets()


def reference_hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC from its definition (RFC 2104), independent of the hmac module."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


@given(body=st.binary(max_size=2048), secret=secrets_text)
def test_sign_verify_round_trip(body: bytes, secret: str) -> None:
    """Any body signed with any secret verifies, and matches the RFC 2104 definition."""
    signature = sign(body, secret)
    assert signature == reference_hmac_sha256(secret.encode(), body)
    verify_signature(body, signature, secret)
    assert is_valid_signature(body, signature, [secret])


@given(body=st.binary(min_size=1, max_size=512), secret=secrets_text, data=st.data())
def test_any_flipped_body_bit_is_rejected(body: bytes, secret: str, data: st.DataObject) -> None:
    """Changing any single bit of the body invalidates the signature."""
    signature = sign(body, secret)
    bit = data.draw(st.integers(0, len(body) * 8 - 1))
    tampered = bytearray(body)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert not is_valid_signature(bytes(tampered), signature, secret)


@given(body=st.binary(max_size=256), secret=secrets_text, bit=st.integers(0, 255))
def test_any_flipped_signature_bit_is_rejected(body: bytes, secret: str, bit: int) -> None:
    """Changing any single bit of the digest invalidates it (whatever the hex case)."""
    digest = bytearray(bytes.fromhex(sign(body, secret)))
    digest[bit // 8] ^= 1 << (bit % 8)
    assert not is_valid_signature(body, digest.hex(), secret)
    assert not is_valid_signature(body, digest.hex().upper(), secret)


header_values = st.one_of(
    strategies.hostile_signatures(),
    st.none(),
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdefABCDEF \t", min_size=60, max_size=70),
    st.binary(max_size=70),
    st.lists(st.text(max_size=70), max_size=3),
    st.integers(),
)


@settings(max_examples=300)
@given(body=strategies.hostile_bodies() | st.binary(max_size=512), header=header_values)
def test_hostile_input_raises_only_our_errors(body: bytes, header: object) -> None:
    """Arbitrary bytes and header values raise WebhookError subclasses only, never accepted."""
    try:
        construct_event(body, header, "whsec_property")  # type: ignore[arg-type]
    except WebhookError:
        pass
    else:  # pragma: no cover - would be a forgery
        raise AssertionError("accepted a body that was not signed with the secret")


@settings(max_examples=300)
@given(body=strategies.hostile_bodies())
def test_signed_garbage_raises_only_payload_errors(body: bytes) -> None:
    """Correctly signed arbitrary bytes: an event or a WebhookError, nothing else."""
    with contextlib.suppress(WebhookError):
        construct_event(body, sign(body, "whsec_property"), "whsec_property")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
event_names = st.sampled_from(
    ["new_lead", "missed_call", "appointment_booked", "call_completed", "review_received"]
) | st.text(max_size=20)
field_names = st.sampled_from(
    [
        "id",
        "name",
        "phone",
        "caller",
        "duration_seconds",
        "rating",
        "started_at",
        "start_time",
        "created_at",
        "summary",
        "extra",
    ]
) | st.text(max_size=12)


@settings(max_examples=300)
@given(
    event=event_names,
    data=st.dictionaries(field_names, json_values, max_size=8),
    secret=secrets_text,
)
def test_any_signed_envelope_is_delivered_in_lenient_mode(
    event: str, data: dict[str, Any], secret: str
) -> None:
    """A signed envelope with arbitrary data fields always reaches user code (lenient)."""
    body = json.dumps({"event": event, "timestamp": "2025-03-20T09:17:22Z", "data": data}).encode()
    delivered = construct_event(body, sign(body, secret), secret)
    assert delivered.type == event
    assert delivered.raw["data"] == data
    if isinstance(delivered, UnknownEvent):
        assert delivered.data == data
    else:
        assert delivered.data.id == data["id"]


@given(text=st.text(max_size=40))
def test_timestamp_parser_raises_only_value_error(text: str) -> None:
    """The timestamp parser returns aware UTC datetimes or raises ValueError."""
    try:
        parsed = parse_timestamp(text)
    except ValueError:
        return
    assert parsed.utcoffset() is not None
    assert parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@given(st.datetimes(timezones=st.timezones()))
def test_timestamp_round_trip(moment: datetime) -> None:
    """isoformat() of any aware datetime with a whole-minute offset parses back exactly."""
    offset = moment.utcoffset()
    assert offset is not None
    assume(offset.total_seconds() % 60 == 0)  # ISO-8601 offsets have no seconds
    try:
        expected = moment.astimezone(timezone.utc)
    except OverflowError:  # near year 1 or 9999
        return
    assert parse_timestamp(moment.isoformat()) == expected


@settings(max_examples=200)
@given(body=st.binary(max_size=256) | st.text(max_size=256))
def test_parse_event_raises_only_payload_errors(body: bytes | str) -> None:
    """parse_event on arbitrary bytes/text gives an event or a PayloadError."""
    with contextlib.suppress(WebhookError):
        parse_event(body)


@settings(max_examples=200)
@given(envelope=strategies.envelopes(), secret=secrets_text)
def test_generated_envelopes_are_delivered_strictly(envelope: dict[str, Any], secret: str) -> None:
    """Valid envelopes from the kit verify and parse even in strict mode, raw kept whole."""
    body = json.dumps(envelope).encode()
    known = envelope["event"] in {member.value for member in EventType}
    configured = {envelope["event"]: secret} if known else secret  # bound when it can be
    event = construct_event(body, sign(body, secret), configured, strict=True)
    assert event.type == envelope["event"]
    assert dict(event.raw) == envelope


def _reference_loads(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


@settings(max_examples=300)
@given(
    text=st.text(max_size=60)
    | strategies.json_values().map(json.dumps)
    | st.builds(lambda a, b: a + b, strategies.json_values().map(json.dumps), st.text(max_size=4))
)
def test_fast_json_path_agrees_with_json_loads(text: str) -> None:
    """The parser's fast JSON path returns what json.loads returns, and fails when it fails."""
    try:
        expected = _reference_loads(text)
    except (ValueError, RecursionError):
        with pytest.raises((ValueError, RecursionError)):
            _load_json(text)
        return
    assert _load_json(text) == expected
