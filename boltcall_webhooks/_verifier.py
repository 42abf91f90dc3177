"""Verify, then parse: :func:`construct_event` and the :class:`Verifier`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final, cast

from boltcall_webhooks._errors import (
    ConfigurationError,
    InvalidSignatureError,
    PayloadTooLargeError,
    StaleEventError,
)
from boltcall_webhooks._parsing import parse_event
from boltcall_webhooks._secrets import resolve_secrets, secrets_from_env
from boltcall_webhooks._signing import (
    SIGNATURE_HEADER,
    any_key_matches,
    check_body,
    decode_signature,
    matching_keys,
    mismatch_error,
)

if TYPE_CHECKING:
    from boltcall_webhooks._events import Event
    from boltcall_webhooks._secrets import KeyRing, Secrets

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Clock", "Verifier", "check_options", "construct_event"]

DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
"""The default largest body accepted: 1 MiB."""

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware ``datetime``."""

_HEADER_KEY: Final = SIGNATURE_HEADER.lower()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def construct_event(
    body: bytes,
    signature: str | None,
    secrets: Secrets,
    *,
    tolerance: float | timedelta | None = None,
    strict: bool = False,
    clock: Clock | None = None,
) -> Event:
    """Verify the signature of a webhook request, then parse its event.

    Args:
        body: The raw request body, exactly as received.
        signature: The ``X-Boltcall-Signature`` header value (``None`` when absent).
        secrets: One secret, a sequence of secrets (rotation), or a mapping
            ``event type -> secret(s)``. With a mapping, the event type in the
            verified body must be one that the matching secret is registered for.
        tolerance: When set, refuse an event whose envelope timestamp is further
            than this from now, in the past or the future (seconds or
            ``timedelta``; ``0`` means zero seconds). ``None`` (default) is off,
            because dashboard re-sends keep the original timestamp.
        strict: Refuse a known field of the wrong JSON type instead of setting
            it to ``None`` with a warning.
        clock: Returns "now" for the tolerance check (default: the current UTC time).

    Returns:
        The typed event.

    Raises:
        MissingSignatureError: No signature (HTTP 401 in adapters).
        InvalidSignatureError: A malformed or wrong signature, or a secret used
            for an event type it is not registered for (401).
        StaleEventError: The timestamp is outside ``tolerance`` (401).
        PayloadError: The verified body is not a JSON event envelope (400).
        ConfigurationError: The secrets or options are invalid (500).
        TypeError: ``body`` is not bytes.
    """
    return _construct(resolve_secrets(secrets), body, signature, _window(tolerance), strict, clock)


class Verifier:
    """Holds the webhook configuration and checks requests against it.

    Build one at start-up and share it: it is immutable and thread-safe.

    Args:
        secrets: One secret, a sequence of secrets, or a mapping
            ``event type -> secret(s)``. ``None`` reads ``BOLTCALL_WEBHOOK_SECRET``
            (comma-separated for several).
        tolerance: See :func:`construct_event`; ``None`` (default) is off.
        max_body_size: Bodies larger than this many bytes are refused with
            :class:`PayloadTooLargeError` before any hashing: a positive
            ``int``; ``None`` disables the cap (not advised).
        strict: See :func:`construct_event`.
        clock: See :func:`construct_event`.

    Raises:
        ConfigurationError: No secret is configured, or an option is invalid.
    """

    __slots__ = ("_clock", "_max_body_size", "_ring", "_strict", "_tolerance")

    def __init__(
        self,
        secrets: Secrets | None = None,
        *,
        tolerance: float | timedelta | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        strict: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._ring: KeyRing = resolve_secrets(secrets_from_env() if secrets is None else secrets)
        self._tolerance, self._max_body_size, self._strict, self._clock = check_options(
            tolerance=tolerance, max_body_size=max_body_size, strict=strict, clock=clock
        )

    @property
    def tolerance(self) -> timedelta | None:
        """The timestamp tolerance, or ``None`` when the check is off."""
        return self._tolerance

    @property
    def max_body_size(self) -> int | None:
        """The largest body accepted, in bytes, or ``None`` for no cap."""
        return self._max_body_size

    @property
    def strict(self) -> bool:
        """Whether a known field of the wrong type is refused."""
        return self._strict

    def __repr__(self) -> str:
        return (
            f"Verifier(<{len(self._ring.keys)} secret(s) hidden>, tolerance={self._tolerance!r}, "
            f"max_body_size={self._max_body_size!r}, strict={self._strict!r})"
        )

    def check_size(self, size: int) -> None:
        """Refuse a body of ``size`` bytes (read or announced) above the cap.

        Raises:
            PayloadTooLargeError: ``size`` exceeds ``max_body_size``.
        """
        limit = self._max_body_size
        if limit is not None and size > limit:
            msg = f"The body is {size} bytes; the limit is {limit} bytes (max_body_size)."
            raise PayloadTooLargeError(msg, max_body_size=limit, size=size)

    def verify(self, body: bytes, signature: str | None) -> None:
        """Check the signature only (no parsing); see :func:`verify_signature`.

        Raises:
            PayloadTooLargeError: The body is larger than ``max_body_size``.
            MissingSignatureError: No signature.
            InvalidSignatureError: A malformed or wrong signature.
        """
        check_body(body)
        self.check_size(len(body))
        expected = decode_signature(signature)
        if not any_key_matches(self._ring.keys, body, expected):
            raise mismatch_error()

    def construct_event(self, body: bytes, signature: str | None) -> Event:
        """Verify, then parse; see :func:`construct_event` for the errors.

        Raises:
            PayloadTooLargeError: The body is larger than ``max_body_size`` (413).
        """
        check_body(body)
        self.check_size(len(body))
        return _construct(self._ring, body, signature, self._tolerance, self._strict, self._clock)

    def construct_event_from_headers(self, headers: Mapping[str, str], body: bytes) -> Event:
        """Like :meth:`construct_event`, finding ``X-Boltcall-Signature`` in ``headers``.

        The header name is matched case-insensitively. Two different values
        under spellings of the name are refused as :class:`InvalidSignatureError`.

        Raises:
            TypeError: ``headers`` is not a mapping (the arguments are swapped?)
                or ``body`` is not bytes.
        """
        _check_header_arguments(headers, body)
        return self.construct_event(body, find_signature(headers))


def _check_header_arguments(headers: object, body: object) -> None:
    """Refuse swapped or wrong arguments of ``construct_event_from_headers`` clearly.

    Any object with ``get`` and ``items`` is accepted as headers (Werkzeug's
    ``Headers`` is not a registered ``Mapping``).

    Raises:
        TypeError: ``headers`` is not a mapping (for example the body passed first).
    """
    headers_type: str = type(headers).__name__
    body_type: str = type(body).__name__
    if (
        not isinstance(headers, (bytes, bytearray, memoryview, str))
        and callable(getattr(headers, "get", None))
        and callable(getattr(headers, "items", None))
    ):
        return
    if isinstance(headers, (bytes, bytearray, memoryview, str)) and hasattr(body, "items"):
        msg = (
            "construct_event_from_headers(headers, body) takes the headers first, then the "
            f"body: the arguments are swapped (got {headers_type} as headers and "
            f"{body_type} as body)."
        )
    else:
        msg = (
            "construct_event_from_headers(headers, body): headers must be a mapping of "
            f"header names to values (request.headers); got {headers_type}. "
            "The raw body, as bytes, comes second."
        )
    raise TypeError(msg)


def find_signature(headers: Mapping[str, str]) -> str | None:
    """Find the signature header in a mapping, ignoring the case of the name.

    Raises:
        InvalidSignatureError: Several different values are present.
    """
    direct = headers.get(SIGNATURE_HEADER)
    found: list[str] = [] if direct is None else [direct]
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == _HEADER_KEY and name != SIGNATURE_HEADER:
            found.append(value)
    if len(set(map(repr, found))) > 1:
        msg = f"Several different {SIGNATURE_HEADER} headers were sent."
        raise InvalidSignatureError(msg)
    return found[0] if found else None


def _construct(
    ring: KeyRing,
    body: bytes,
    signature: str | None,
    window: timedelta | None,
    strict: bool,
    clock: Clock | None,
) -> Event:
    expected = decode_signature(signature)
    if body.__class__ is not bytes:
        check_body(body)
    scopes = ring.scopes
    if scopes is None:
        if not any_key_matches(ring.keys, body, expected):
            raise mismatch_error()
        event = parse_event(body, strict=strict)
    else:
        matches = matching_keys(ring.keys, body, expected)
        if not matches.count(True):  # walks every entry, unlike `in`
            raise mismatch_error()
        event = parse_event(body, strict=strict)
        allowed = [scope for matched, scope in zip(matches, scopes, strict=True) if matched]
        if not any(event.type in scope for scope in allowed):
            raise _unbound_error(event.type)
    if window is not None:
        _check_fresh(event.timestamp, window, clock)
    return event


def _unbound_error(event_type: str) -> InvalidSignatureError:
    msg = (
        f"The signature was made with a secret that is not registered for {event_type!r} "
        "events. Each webhook subscription has its own secret: map each event type to "
        "the secret of its own subscription."
    )
    return InvalidSignatureError(msg)


def check_options(
    *,
    tolerance: float | timedelta | None = None,
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    strict: bool = False,
    clock: Clock | None = None,
) -> tuple[timedelta | None, int | None, bool, Clock | None]:
    """Validate the :class:`Verifier` options, returning them normalised.

    Raises:
        ConfigurationError: An option has a wrong type or value.
    """
    if max_body_size is not None and (
        isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1
    ):
        shown = max_body_size if isinstance(max_body_size, int) else type(max_body_size).__name__
        msg = (
            "max_body_size must be a positive number of bytes (int), or None for no cap; "
            f"got {shown!r}."
        )
        raise ConfigurationError(msg)
    return _window(tolerance), max_body_size, bool(strict), _checked_clock(clock)


def _checked_clock(clock: object) -> Clock | None:
    if clock is None or callable(clock):
        return cast("Clock | None", clock)
    msg = "clock must be a callable returning an aware datetime."
    raise ConfigurationError(msg)


def _window(tolerance: float | timedelta | None) -> timedelta | None:
    if tolerance is None:
        return None
    if isinstance(tolerance, timedelta):
        window = tolerance
    elif isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool):
        if not math.isfinite(tolerance):
            msg = "tolerance must be a finite number of seconds, a timedelta or None."
            raise ConfigurationError(msg)
        try:
            window = timedelta(seconds=tolerance)
        except OverflowError:
            msg = "tolerance is too large; use None to turn the check off."
            raise ConfigurationError(msg) from None
    else:
        msg = f"tolerance must be seconds, a timedelta or None; got {type(tolerance).__name__}."
        raise ConfigurationError(msg)
    if window < timedelta(0):
        msg = "tolerance must not be negative."
        raise ConfigurationError(msg)
    return window


def _check_fresh(timestamp: datetime, window: timedelta, clock: Clock | None) -> None:
    now = _utc_now() if clock is None else clock()
    if not isinstance(now, datetime) or now.utcoffset() is None:
        msg = "clock must return an aware datetime (for example datetime.now(timezone.utc))."
        raise ConfigurationError(msg)
    age = now - timestamp
    if age > window:
        msg = (
            f"The event timestamp {timestamp.isoformat()} is {_describe_duration(age)} old, "
            f"more than the tolerance of {_describe_duration(window)}."
        )
        raise StaleEventError(msg, timestamp=timestamp, now=now, tolerance=window)
    if -age > window:
        msg = (
            f"The event timestamp {timestamp.isoformat()} is {_describe_duration(-age)} in "
            f"the future, more than the tolerance of {_describe_duration(window)}; "
            "check this server's clock."
        )
        raise StaleEventError(msg, timestamp=timestamp, now=now, tolerance=window)


_UNITS: Final = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def _describe_duration(duration: timedelta) -> str:
    """Say a non-negative duration in words, to the two largest adjacent units.

    ``timedelta(seconds=53493802)`` is ``"619 days 3 hours"``, 300 seconds is
    ``"5 minutes"``, 90 seconds ``"1 minute 30 seconds"``. Below one second it
    is the seconds as a decimal (``"0.25 seconds"``); above, fractions are dropped.
    """
    seconds = duration.total_seconds()
    if seconds < 1:
        return f"{max(seconds, 0):.3g} seconds"
    total = int(seconds)
    for index, (unit, size) in enumerate(_UNITS):
        count, rest = divmod(total, size)
        if count:
            words = [_plural(count, unit)]
            if index + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[index + 1]
                if rest // next_size:
                    words.append(_plural(rest // next_size, next_unit))
            return " ".join(words)
    raise AssertionError  # pragma: no cover - total >= 1 has a count of seconds


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
