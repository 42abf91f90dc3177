"""From body to typed event: envelope checks, field checks, lenient or strict.

The parser never drops a genuine event. An unknown event type becomes an
:class:`UnknownEvent`; an unknown field lands in ``extra``; a known field of the
wrong JSON type becomes ``None`` with a warning (or a :class:`PayloadError`
naming the field path with ``strict=True``). Only a body that is not a JSON
envelope at all is refused.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Final, NoReturn, cast

from boltcall_webhooks._errors import PayloadError
from boltcall_webhooks._events import (
    Appointment,
    AppointmentBookedEvent,
    Call,
    CallCompletedEvent,
    Event,
    Lead,
    MissedCallEvent,
    NewLeadEvent,
    Review,
    ReviewReceivedEvent,
    UnknownEvent,
)

__all__ = ["parse_event", "parse_timestamp"]

logger = logging.getLogger("boltcall_webhooks")

_ISO_8601: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?",
    re.ASCII,
)


# Python 3.11+ reads a trailing "Z" natively (and returns timezone.utc).
_NATIVE_Z: Final = sys.version_info >= (3, 11)


def parse_timestamp(value: str) -> datetime:
    """Read an ISO-8601 date and time as an aware UTC ``datetime``.

    Accepts ``Z`` or an offset (``+02:00``, ``+0200``, ``+02``), optional
    seconds, and fractions of any length (cut to microseconds), the same on
    every supported Python. A time without a zone is read as UTC.

    Raises:
        ValueError: ``value`` is not such a date and time.
    """
    if (  # Fast path for the usual "2025-03-20T09:17:22Z"; the same result as below.
        len(value) == 20
        and value[19] in "Zz"
        and value[10] in "Tt "
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
        and value.isascii()
        and value[:4].isdigit()
    ):
        try:
            if _NATIVE_Z and value[10] == "T" and value[19] == "Z":
                return datetime.fromisoformat(value)  # tzinfo is timezone.utc itself
            # (datetime.replace() would cost four times as much as this.)
            return datetime.fromisoformat(f"{value[:10]}T{value[11:19]}+00:00")
        except ValueError:
            pass  # the full parser below gives the error
    match = _ISO_8601.fullmatch(value)
    if match is None:
        msg = "not an ISO-8601 date and time"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    zone = timezone.utc
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)  # ValueError past 24 h
    micro = int((fraction + "00000")[:6]) if fraction else 0
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micro,
        tzinfo=zone,
    )
    if zone is timezone.utc:
        return moment
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        msg = "date out of range"
        raise ValueError(msg) from None


# Resource building ---------------------------------------------------------


def _compile_builder(cls: type) -> Callable[[dict[str, Any], bool, bytes], Any]:
    """Generate a function building a frozen resource ``cls`` from a JSON object.

    Like the ``__init__`` that dataclasses generate, the code is written out
    field by field. It fills the instance's ``__dict__`` in one assignment: the
    result is the same as calling the class (every field set, frozen), at a
    fraction of the cost, which matters because parsing is on the request path.
    Known fields of the wrong JSON type go through ``_wrong_type``.
    """
    names = [f.name for f in fields(cls)]
    defaults = dict.fromkeys(names)
    defaults["extra"] = _NO_EXTRA
    known = frozenset(names) - {"extra"}
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "set_attr": object.__setattr__,
        "cls": cls,
        "proxy": MappingProxyType,
        "defaults": defaults,
        "known": known,
        "wrong": _wrong_type,
        "moment": _moment_or_wrong,
        "numbers": frozenset({int, float}),
    }
    lines = [
        "def build(data, strict, raw):",
        "    values = defaults.copy()",
        "    values.update(data)",
        "    if not known.issuperset(data):",
        "        extra = {k: x for k, x in data.items() if k not in known}",
        "        for k in extra:",
        "            del values[k]",
        "        values['extra'] = proxy(extra)",
    ]
    for f in fields(cls):
        name = f.name
        if name in {"id", "extra"}:
            continue
        wrong = f"values[{name!r}] = wrong({name!r}, v, {{}}, strict, raw)"
        check = {
            "str | None": "if v is not None and v.__class__ is not str: "
            + wrong.format("'a string'"),
            "float | None": "if v is not None and v.__class__ not in numbers: "
            + wrong.format("'a number'"),
            "datetime | None": f"if v is not None: values[{name!r}] = moment({name!r}, v, "
            "strict, raw)",
        }[str(f.type)]
        lines += [f"    v = values[{name!r}]", f"    {check}"]
    lines += [
        "    obj = new(cls)",
        "    set_attr(obj, '__dict__', values)",
        "    return obj",
    ]
    exec("\n".join(lines), namespace)  # noqa: S102 - our own generated code, as in dataclasses
    return cast("Callable[[dict[str, Any], bool, bytes], Any]", namespace["build"])


def _moment_or_wrong(name: str, value: object, strict: bool, raw: bytes) -> datetime | None:
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    _wrong_type(name, value, "an ISO-8601 date and time", strict, raw)
    return None


def _event_setters(cls: type) -> tuple[Any, Any, Any, Any]:
    slots = cls.__dict__
    return (
        slots["type"].__set__,
        slots["timestamp"].__set__,
        slots["data"].__set__,
        slots["raw"].__set__,
    )


def _wrong_type(name: str, value: object, expected: str, strict: bool, raw: bytes) -> None:
    path = f"data.{name}"
    if strict:
        msg = f"Field {path} must be {expected}; got {_json_type(value)}."
        raise PayloadError(msg, body=raw, path=path)
    logger.warning(
        "Field %s should be %s but is %s; it is set to None (the value stays in raw).",
        path,
        expected,
        _json_type(value),
    )


_NO_EXTRA: Final[Mapping[str, Any]] = MappingProxyType({})

_BUILDERS: Final = {cls: _compile_builder(cls) for cls in (Call, Lead, Appointment, Review)}

_RESOURCES: Final[dict[str, tuple[type, Any, Callable[[dict[str, Any], bool, bytes], Any]]]] = {
    event_type: (event_cls, _event_setters(event_cls), _BUILDERS[resource_cls])
    for event_type, event_cls, resource_cls in (
        ("new_lead", NewLeadEvent, Lead),
        ("missed_call", MissedCallEvent, Call),
        ("appointment_booked", AppointmentBookedEvent, Appointment),
        ("call_completed", CallCompletedEvent, Call),
        ("review_received", ReviewReceivedEvent, Review),
    )
}


# Parsing --------------------------------------------------------------------


def _refuse_constant(name: str) -> NoReturn:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


# One decoder, built once: json.loads() with options builds a new one per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
# The decoder's scanner (an instance attribute of JSONDecoder, in C on CPython).
_SCAN_ONCE: Final = cast("Callable[[str, int], tuple[object, int]]", vars(_DECODER)["scan_once"])


def _load_json(text: str) -> object:
    """``json.loads`` with NaN/Infinity refused, minus its whitespace scans for ``{...}``.

    A body that starts with ``{`` and ends with ``}`` (what Boltcall sends) goes
    straight to the decoder's scanner; it must consume the whole text. Anything
    else, and any error, goes through the full decoder, whose errors are the
    ones raised.
    """
    if text[:1] == "{" and text[-1:] == "}":
        try:
            value, end = _SCAN_ONCE(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    return _DECODER.decode(text)


def _decode(body: object) -> tuple[object, bytes]:
    """Decode ``body`` into a JSON value, returning it with the raw bytes."""
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(cast("bytes", body))
    if type(body) is bytes:
        raw = body
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("The body is not UTF-8 text.", body=raw) from None
    elif isinstance(body, str):
        text = body
        raw = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, Mapping):
        return dict(cast("Mapping[str, Any]", body)), b""
    else:
        msg = f"parse_event() takes bytes, str or a mapping; got {type(body).__name__}."
        raise TypeError(msg)
    try:
        return _load_json(text), raw
    except (ValueError, RecursionError) as exc:
        raise PayloadError("The body is not valid JSON.", body=raw) from exc


def parse_event(body: bytes | str | Mapping[str, Any], *, strict: bool = False) -> Event:
    """Parse a Boltcall event WITHOUT verifying its signature.

    Use it for trusted input only: tests, or bodies verified earlier (for
    example by :meth:`Verifier.verify` before queueing). Anything from the
    network goes through :func:`construct_event`.

    Args:
        body: The JSON body (bytes or text) or an already decoded envelope.
        strict: Refuse a known field of the wrong type instead of setting it to
            ``None`` with a warning.

    Returns:
        One of the five event classes, or :class:`UnknownEvent`.

    Raises:
        PayloadError: ``body`` is not a JSON object envelope with a string
            ``event``, an ISO-8601 ``timestamp`` and an object ``data`` (or, in
            strict mode, a known field has the wrong type; ``path`` names it).
        TypeError: ``body`` is of none of the accepted types.
    """
    decoded, raw = _decode(body)
    if not isinstance(decoded, dict):
        raise PayloadError("The body is not a JSON object envelope.", body=raw)
    envelope = cast("dict[str, Any]", decoded)
    event_type = envelope.get("event")
    if not isinstance(event_type, str):
        raise PayloadError("The envelope has no string 'event'.", body=raw, path="event")
    stamp = envelope.get("timestamp")
    try:
        timestamp = parse_timestamp(stamp) if isinstance(stamp, str) else None
    except ValueError:
        timestamp = None
    if timestamp is None:
        raise PayloadError("The envelope has no ISO-8601 'timestamp'.", body=raw, path="timestamp")
    if not isinstance(envelope.get("data"), dict):
        raise PayloadError("The envelope has no object 'data'.", body=raw, path="data")
    data = cast("dict[str, Any]", envelope["data"])
    frozen: Mapping[str, Any] = MappingProxyType(envelope)
    spec = _RESOURCES.get(event_type)
    if spec is not None:
        if data.get("id").__class__ is str:
            event_cls, (set_type, set_timestamp, set_data, set_raw), builder = spec
            event = cast("Event", object.__new__(event_cls))
            set_type(event, event_type)
            set_timestamp(event, timestamp)
            set_data(event, builder(data, strict, raw))
            set_raw(event, frozen)
            return event
        if strict:
            raise PayloadError("The resource has no string 'id'.", body=raw, path="data.id")
        logger.warning(
            "A verified %r event has no string data.id; it is delivered as UnknownEvent.",
            event_type,
        )
    return UnknownEvent(
        type=event_type,
        timestamp=timestamp,
        data=MappingProxyType(data),
        raw=frozen,
    )


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__
