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


def parse_timestamp(value: str) -> datetime:
    """Read an ISO-8601 date and time as an aware UTC ``datetime``.

    Accepts ``Z`` or an offset (``+02:00``, ``+0200``, ``+02``), optional
    seconds, and fractions of any length (cut to microseconds), the same on
    every supported Python. A time without a zone is read as UTC.

    Raises:
        ValueError: ``value`` is not such a date and time.
    """
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


# Field checks ---------------------------------------------------------------
# A check returns the typed value, or raises TypeError/ValueError when the JSON
# value has the wrong type; the caller turns that into None + warning or an error.


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError("a string")


def _number(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise TypeError("a number")


def _moment(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    raise TypeError("an ISO-8601 date and time")


_CHECKS: Final[dict[object, Callable[[object], object]]] = {
    "str | None": _text,
    "float | None": _number,
    "datetime | None": _moment,
}


def _field_checks(resource: type) -> dict[str, Callable[[object], object]]:
    skip = {"id", "extra"}
    return {f.name: _CHECKS[f.type] for f in fields(resource) if f.name not in skip}


_Spec = tuple[Callable[..., Event], Callable[..., object], dict[str, Callable[[object], object]]]

_RESOURCES: Final[dict[str, _Spec]] = {
    "new_lead": (NewLeadEvent, Lead, _field_checks(Lead)),
    "missed_call": (MissedCallEvent, Call, _field_checks(Call)),
    "appointment_booked": (AppointmentBookedEvent, Appointment, _field_checks(Appointment)),
    "call_completed": (CallCompletedEvent, Call, _field_checks(Call)),
    "review_received": (ReviewReceivedEvent, Review, _field_checks(Review)),
}


# Parsing --------------------------------------------------------------------


def _refuse_constant(name: str) -> NoReturn:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def _decode(body: object) -> tuple[object, bytes]:
    """Decode ``body`` into a JSON value, returning it with the raw bytes."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(cast("bytes", body))
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
        return json.loads(text, parse_constant=_refuse_constant), raw
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
        The typed event: one of the five event classes, or :class:`UnknownEvent`.

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
        event_cls, resource_cls, checks = spec
        resource_id = data.get("id")
        if isinstance(resource_id, str):
            values = _check_fields(data, checks, strict, raw)
            resource = resource_cls(**values)
            return event_cls(timestamp=timestamp, data=resource, raw=frozen)
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


def _check_fields(
    data: dict[str, Any],
    checks: dict[str, Callable[[object], object]],
    strict: bool,
    raw: bytes,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in data.items():
        check = checks.get(name)
        if check is None:
            if name != "id":
                extra[name] = value
            continue
        if value is None:
            continue
        try:
            values[name] = check(value)
        except TypeError as exc:
            path = f"data.{name}"
            if strict:
                raise PayloadError(
                    f"Field {path} must be {exc.args[0]}; got {_json_type(value)}.",
                    body=raw,
                    path=path,
                ) from None
            logger.warning(
                "Field %s should be %s but is %s; it is set to None (the value stays in raw).",
                path,
                exc.args[0],
                _json_type(value),
            )
    values["id"] = data["id"]
    if extra:
        values["extra"] = MappingProxyType(extra)
    return values


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
