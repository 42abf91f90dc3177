"""Hypothesis strategies for Boltcall webhooks (install ``boltcall-webhooks[hypothesis]``).

Valid by construction:

- :func:`lead_data`, :func:`call_data`, :func:`appointment_data`,
  :func:`review_data` - the ``data`` object of each resource, every modelled
  field present or not, ``null`` or of its right JSON type, plus unknown fields;
- :func:`envelopes` - whole envelopes, of any known or unknown event type;
- :func:`new_lead_events` ... :func:`unknown_events`, :func:`events` - the
  typed events a receiver gets (built with :func:`~boltcall_webhooks.parse_event`);
- :func:`signed_requests` - bodies signed with a secret, as Boltcall sends them.

Hostile, for robustness tests:

- :func:`hostile_bodies` - bytes that are not envelopes, or envelopes with
  wrong-typed fields, deep nesting, ``NaN``, a BOM...;
- :func:`hostile_signatures` - header values that are not 64 hex digits
  (including ``None``, ``bytes`` and lists, which a careless caller may pass);
- :func:`hostile_headers` - header mappings with odd spellings and conflicting
  signature headers.

Example::

    from hypothesis import given
    from boltcall_webhooks import Verifier
    from boltcall_webhooks.testing import strategies as bst

    @given(bst.signed_requests())
    def test_every_signed_request_verifies(request):
        verifier = Verifier(request.secret)
        assert verifier.construct_event_from_headers(request.headers, request.body)
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any, Final, TypeVar

from hypothesis import strategies as st

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
from boltcall_webhooks._signing import SIGNATURE_HEADER, sign
from boltcall_webhooks.testing import SignedRequest
from boltcall_webhooks.testing._samples import encode_body, format_timestamp

__all__ = [
    "appointment_booked_events",
    "appointment_data",
    "call_completed_events",
    "call_data",
    "envelopes",
    "event_types",
    "events",
    "hostile_bodies",
    "hostile_headers",
    "hostile_signatures",
    "iso_timestamps",
    "json_values",
    "lead_data",
    "missed_call_events",
    "new_lead_events",
    "resource_ids",
    "review_data",
    "review_received_events",
    "secrets",
    "signed_requests",
    "timestamps",
    "unknown_event_types",
    "unknown_events",
]

_E = TypeVar("_E")
_KNOWN_TYPES: Final = frozenset(member.value for member in EventType)
_ENVELOPE_KEYS: Final = frozenset({"event", "timestamp", "data"})
_MIN_TIME: Final = datetime(1971, 1, 1)  # naive bounds, as st.datetimes wants
_MAX_TIME: Final = datetime(9998, 12, 31)


# Building blocks -------------------------------------------------------------


def json_values(*, max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value: ``null``, booleans, numbers, strings, arrays and objects."""
    return _json_values(max_leaves)


# Strategies are built once and reused: Hypothesis validates each new strategy
# object, which costs more than drawing from it.
@functools.cache
def _json_values(max_leaves: int) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | _numbers() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def timestamps() -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes, as an event's ``timestamp`` holds."""
    return st.datetimes(min_value=_MIN_TIME, max_value=_MAX_TIME, timezones=st.just(timezone.utc))


@st.composite
def iso_timestamps(draw: st.DrawFn) -> str:
    """ISO-8601 texts the parser accepts: ``Z``, offsets in three spellings, no zone, fractions."""
    moment = draw(st.datetimes(min_value=_MIN_TIME, max_value=_MAX_TIME))
    separator = draw(st.sampled_from("Tt "))
    text = moment.strftime(f"%Y-%m-%d{separator}%H:%M")
    if draw(st.booleans()) or moment.second or moment.microsecond:
        text += moment.strftime(":%S")
        digits = draw(st.integers(min_value=0, max_value=9))
        if digits:
            text += "." + f"{moment.microsecond:06d}{'0' * 3}"[:digits]
    minutes = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    sign_char = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    zone = draw(
        st.sampled_from(
            [
                "Z",
                "z",
                "",
                f"{sign_char}{hours:02d}:{mins:02d}",
                f"{sign_char}{hours:02d}{mins:02d}",
            ]
        )
        | st.just(f"{sign_char}{hours:02d}")
    )
    return text + zone


def resource_ids() -> st.SearchStrategy[str]:
    """Resource ids: realistic ones (``call_7d2f9a1e``) and arbitrary strings."""
    realistic = st.from_regex(r"(call|lead|apt|rev|obj)_[0-9a-z]{6,12}", fullmatch=True)
    return realistic | st.text(max_size=24)


def secrets() -> st.SearchStrategy[str]:
    """Usable secrets: ``whsec_`` secrets and other text the library accepts without a warning."""
    issued = st.text(string.ascii_letters + string.digits, min_size=16, max_size=48).map(
        "whsec_".__add__
    )
    other = st.text(min_size=1, max_size=40).map(str.strip).filter(_is_usable_secret)
    return issued | other


def _is_usable_secret(text: str) -> bool:
    # Refused by the library: nothing but whitespace and NULs (HMAC pads keys
    # with NULs, so such a key is the empty key), or an event type name.
    return bool(text.replace("\x00", "").strip()) and text not in _KNOWN_TYPES


def event_types() -> st.SearchStrategy[str]:
    """The five event types this version knows, as plain strings."""
    return st.sampled_from([member.value for member in EventType])


def unknown_event_types() -> st.SearchStrategy[str]:
    """Event type names this version does not know (``invoice_paid``, any text...)."""
    names = st.from_regex(r"[a-z]{1,12}(_[a-z]{1,12}){0,2}", fullmatch=True) | st.text(max_size=20)
    return names.filter(lambda name: name not in _KNOWN_TYPES)


# Resources -------------------------------------------------------------------


def _numbers() -> st.SearchStrategy[float]:
    whole = st.integers(min_value=-(2**53), max_value=2**53)
    return whole | st.floats(allow_nan=False, allow_infinity=False)


def _value_strategy(annotation: object) -> st.SearchStrategy[Any]:
    if annotation == "float | None":
        return st.integers(min_value=0, max_value=100_000) | _numbers()
    if annotation == "datetime | None":
        return iso_timestamps()
    return st.text(max_size=40)


@functools.cache
def _resource_data(resource: type, *, extra: bool) -> st.SearchStrategy[dict[str, Any]]:
    known = {f.name: f.type for f in fields(resource) if f.name not in {"id", "extra"}}
    optional = {name: _value_strategy(kind) | st.none() for name, kind in known.items()}
    base = st.fixed_dictionaries({"id": resource_ids()}, optional=optional)
    if not extra:
        return base
    names = st.text(max_size=12).filter(lambda name: name not in known and name != "id")
    extras = st.dictionaries(names, json_values(max_leaves=4), max_size=3)
    return st.builds(_merge, extras, base)


def _merge(extras: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {**extras, **data}


def lead_data(*, extra: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """The ``data`` of a ``new_lead`` event; ``extra`` adds unmodelled fields."""
    return _resource_data(Lead, extra=extra)


def call_data(*, extra: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """The ``data`` of a ``missed_call`` or ``call_completed`` event."""
    return _resource_data(Call, extra=extra)


def appointment_data(*, extra: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """The ``data`` of an ``appointment_booked`` event."""
    return _resource_data(Appointment, extra=extra)


def review_data(*, extra: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """The ``data`` of a ``review_received`` event."""
    return _resource_data(Review, extra=extra)


_DATA: Final[Mapping[str, Callable[..., st.SearchStrategy[dict[str, Any]]]]] = {
    EventType.NEW_LEAD.value: lead_data,
    EventType.MISSED_CALL.value: call_data,
    EventType.APPOINTMENT_BOOKED.value: appointment_data,
    EventType.CALL_COMPLETED.value: call_data,
    EventType.REVIEW_RECEIVED.value: review_data,
}


# Envelopes and events ----------------------------------------------------------


@st.composite
def envelopes(
    draw: st.DrawFn, event_type: EventType | str | None = None, *, extra: bool = True
) -> dict[str, Any]:
    """Valid envelopes ``{"event", "timestamp", "data"}`` (plus unknown top-level keys).

    Args:
        event_type: Fix the event type; by default any known or unknown type.
        extra: Allow fields and top-level keys the library does not model.
    """
    if event_type is None:
        name = draw(_any_event_type())
    else:
        name = event_type.value if isinstance(event_type, EventType) else str(event_type)
    make_data = _DATA.get(name)
    data = draw(_unknown_data() if make_data is None else make_data(extra=extra))
    envelope: dict[str, Any] = {}
    if extra:
        envelope.update(draw(_top_level_extras()))
    stamp = draw(_envelope_timestamps())
    envelope.update({"event": name, "timestamp": stamp, "data": data})
    return envelope


@functools.cache
def _any_event_type() -> st.SearchStrategy[str]:
    return event_types() | unknown_event_types()


@functools.cache
def _unknown_data() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.text(max_size=12), json_values(max_leaves=4), max_size=4)


@functools.cache
def _top_level_extras() -> st.SearchStrategy[dict[str, Any]]:
    keys = st.text(max_size=12).filter(lambda key: key not in _ENVELOPE_KEYS)
    return st.dictionaries(keys, json_values(max_leaves=3), max_size=2)


@functools.cache
def _envelope_timestamps() -> st.SearchStrategy[str]:
    return iso_timestamps() | timestamps().map(format_timestamp)


def _events_of(cls: type[_E], event_type: EventType) -> st.SearchStrategy[_E]:
    def build(envelope: dict[str, Any]) -> _E:
        event = parse_event(encode_body(envelope))
        if not isinstance(event, cls):  # pragma: no cover - valid by construction
            msg = f"expected {cls.__name__}, parsed {type(event).__name__}"
            raise TypeError(msg)
        return event

    return envelopes(event_type).map(build)


def new_lead_events() -> st.SearchStrategy[NewLeadEvent]:
    """:class:`~boltcall_webhooks.NewLeadEvent` instances, as a receiver gets them."""
    return _events_of(NewLeadEvent, EventType.NEW_LEAD)


def missed_call_events() -> st.SearchStrategy[MissedCallEvent]:
    """:class:`~boltcall_webhooks.MissedCallEvent` instances."""
    return _events_of(MissedCallEvent, EventType.MISSED_CALL)


def appointment_booked_events() -> st.SearchStrategy[AppointmentBookedEvent]:
    """:class:`~boltcall_webhooks.AppointmentBookedEvent` instances."""
    return _events_of(AppointmentBookedEvent, EventType.APPOINTMENT_BOOKED)


def call_completed_events() -> st.SearchStrategy[CallCompletedEvent]:
    """:class:`~boltcall_webhooks.CallCompletedEvent` instances."""
    return _events_of(CallCompletedEvent, EventType.CALL_COMPLETED)


def review_received_events() -> st.SearchStrategy[ReviewReceivedEvent]:
    """:class:`~boltcall_webhooks.ReviewReceivedEvent` instances."""
    return _events_of(ReviewReceivedEvent, EventType.REVIEW_RECEIVED)


def unknown_events() -> st.SearchStrategy[UnknownEvent]:
    """:class:`~boltcall_webhooks.UnknownEvent` instances, of event types this version lacks."""
    return unknown_event_types().flatmap(lambda name: envelopes(name).map(_parse_unknown))


def _parse_unknown(envelope: dict[str, Any]) -> UnknownEvent:
    event = parse_event(encode_body(envelope))
    if not isinstance(event, UnknownEvent):  # pragma: no cover - valid by construction
        msg = f"expected UnknownEvent, parsed {type(event).__name__}"
        raise TypeError(msg)
    return event


def events() -> st.SearchStrategy[Event]:
    """Any event: one of the five typed classes or :class:`~boltcall_webhooks.UnknownEvent`."""
    return st.one_of(
        new_lead_events(),
        missed_call_events(),
        appointment_booked_events(),
        call_completed_events(),
        review_received_events(),
        unknown_events(),
    )


@st.composite
def signed_requests(
    draw: st.DrawFn,
    *,
    secret: str | bytes | st.SearchStrategy[str] | None = None,
    payloads: st.SearchStrategy[Mapping[str, Any]] | None = None,
) -> SignedRequest:
    """Correctly signed requests; ``request.secret`` is the secret to verify them with.

    Args:
        secret: A fixed secret, a strategy of secrets, or ``None`` for :func:`secrets`.
        payloads: The envelopes to sign (default: :func:`envelopes`).
    """
    if secret is None or isinstance(secret, st.SearchStrategy):
        key: str | bytes = draw(secrets() if secret is None else secret)
    else:
        key = secret
    payload = draw(envelopes() if payloads is None else payloads)
    body = encode_body(payload)
    return SignedRequest(body, sign(body, key), key)


# Hostile input -------------------------------------------------------------------


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


@st.composite
def _broken_envelopes(draw: st.DrawFn) -> bytes:
    """A valid envelope with one envelope or resource field removed or of a wrong type."""
    envelope = draw(envelopes(draw(event_types()), extra=False))
    data: dict[str, Any] = envelope["data"]
    targets = ["event", "timestamp", "data", "data.id", *(f"data.{key}" for key in data)]
    target = draw(st.sampled_from(targets))
    choices: list[object] = ["<remove>", None, True, 12, 1.5, "", "not a date", [], {}]
    replacement = draw(st.sampled_from(choices))
    holder: dict[str, Any] = data if target.startswith("data.") else envelope
    key = target.removeprefix("data.")
    if replacement == "<remove>":
        holder.pop(key, None)
    else:
        holder[key] = replacement
    return _json_bytes(envelope)


def hostile_bodies() -> st.SearchStrategy[bytes]:
    """Bodies an attacker or a broken sender could produce (some are valid envelopes).

    A receiver must answer each with an event or a library error, never a crash.
    """
    valid = envelopes().map(encode_body)
    return st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=50).map(lambda tail: b"\xff\xfe" + tail),  # not UTF-8
        json_values().map(_json_bytes),  # any JSON, mostly not an object envelope
        _broken_envelopes(),
        valid.map(lambda body: b"\xef\xbb\xbf" + body),  # a UTF-8 byte-order mark
        valid.map(lambda body: body.replace(b'"timestamp":', b'"timestamp":NaN,"x":', 1)),
        st.sampled_from([10, 1_000, 100_000]).map(lambda depth: b"[" * depth + b"]" * depth),
        st.sampled_from([10, 1_000, 100_000]).map(
            lambda depth: (
                b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22Z","data":'
                + b'{"a":' * depth
                + b"1"
                + b"}" * depth
                + b"}"
            )
        ),
        st.just(
            b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22Z","data":{"id":'
            + b"9" * 5000
            + b"}}"
        ),
        st.just(
            b'{"event":"new_lead","event":"review_received","timestamp":"2025-03-20T09:17:22Z","data":{"id":"x"}}'
        ),
        st.sampled_from(
            [
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59-23:59",
                "2025-02-30T00:00:00Z",
                "2025-03-20T24:00:00Z",
            ]
        ).map(
            lambda stamp: _json_bytes(
                {"event": "new_lead", "timestamp": stamp, "data": {"id": "x"}}
            )
        ),
        valid,
    )


def hostile_signatures() -> st.SearchStrategy[Any]:
    """Signature header values that are not a valid signature of any body.

    Includes ``None``, empty and blank strings, hex of the wrong length, 64
    non-hex or non-ASCII characters, hex with inner spaces, and values of the
    wrong type (``bytes``, lists, numbers) that a careless caller might pass.
    """
    hex_digits = "0123456789abcdefABCDEF"
    return st.one_of(
        st.none(),
        st.sampled_from(["", " ", "\t\r\n", "sha256=", "null"]),
        st.text(max_size=80),
        st.text(hex_digits, max_size=130).filter(lambda text: len(text) != 64),
        st.text(min_size=64, max_size=64).filter(lambda text: not _is_hex(text)),
        st.text("\u0660\u0661\u0662\uff10\uff11\uff41\u00b2", min_size=64, max_size=64),
        st.binary(min_size=32, max_size=32).map(lambda raw: " ".join(f"{b:02x}" for b in raw)),
        st.binary(min_size=32, max_size=32).map(lambda raw: "sha256=" + raw.hex()),
        st.binary(max_size=64),
        st.lists(st.text(max_size=64), max_size=3),
        st.integers(),
    )


def _is_hex(text: str) -> bool:
    return all(char in string.hexdigits for char in text)


@st.composite
def hostile_headers(draw: st.DrawFn, signature: str | None = None) -> dict[str, str]:
    """Header mappings with the signature header spelt in any case, absent, or repeated.

    Args:
        signature: A genuine signature to mix in, so that some mappings carry
            it next to a conflicting value under another spelling.
    """
    values = _header_values()
    if signature is not None:
        values = values | st.just(signature)
    headers = draw(st.dictionaries(_signature_spellings(), values, max_size=3))
    headers.update(draw(_other_headers()))
    return headers


@functools.cache
def _signature_spellings() -> st.SearchStrategy[str]:
    lower, upper = SIGNATURE_HEADER.lower(), SIGNATURE_HEADER.upper()
    return st.sampled_from([SIGNATURE_HEADER, lower, upper, "x-Boltcall-signature"])


@functools.cache
def _header_values() -> st.SearchStrategy[str]:
    return st.text(max_size=70) | st.text("0123456789abcdef", min_size=64, max_size=64)


@functools.cache
def _other_headers() -> st.SearchStrategy[dict[str, str]]:
    names = st.text(string.ascii_letters + "-", min_size=1, max_size=20).filter(
        lambda name: name.lower() != SIGNATURE_HEADER.lower()
    )
    return st.dictionaries(names, st.text(max_size=30), max_size=3)
