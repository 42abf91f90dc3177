"""construct_event and Verifier: verify-then-parse, bindings, tolerance, size, headers."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import ClassVar

import pytest

from boltcall_webhooks import (
    DEFAULT_MAX_BODY_SIZE,
    SECRET_ENV_VAR,
    ConfigurationError,
    EventType,
    InvalidSignatureError,
    MissingSignatureError,
    NewLeadEvent,
    PayloadError,
    PayloadTooLargeError,
    StaleEventError,
    UnknownEvent,
    Verifier,
    construct_event,
    sign,
)

SECRET = "whsec_verifier_tests"
STAMP = datetime(2025, 3, 20, 9, 17, 22, tzinfo=timezone.utc)


def envelope(event: str = "new_lead", when: datetime = STAMP) -> bytes:
    """A compact envelope."""
    stamp = when.isoformat().replace("+00:00", "Z")
    return json.dumps({"event": event, "timestamp": stamp, "data": {"id": "x_1"}}).encode()


def clock_at(moment: datetime) -> Callable[[], datetime]:
    """A fixed clock."""
    return lambda: moment


def test_construct_event_verifies_then_parses() -> None:
    """A genuine body becomes its typed event."""
    body = envelope()
    event = construct_event(body, sign(body, SECRET), SECRET)
    assert isinstance(event, NewLeadEvent)


def test_forged_non_json_is_a_signature_error_not_a_payload_error() -> None:
    """Verification comes first: an unsigned garbage body is 401 material, not 400."""
    with pytest.raises(InvalidSignatureError):
        construct_event(b"garbage", sign(b"other", SECRET), SECRET)


def test_verified_garbage_is_a_payload_error_with_the_body() -> None:
    """A genuine but unreadable body is a PayloadError that keeps the raw bytes."""
    with pytest.raises(PayloadError) as info:
        construct_event(b"garbage", sign(b"garbage", SECRET), SECRET)
    assert info.value.body == b"garbage"


class TestMappingBinding:
    """A mapping binds each secret to the event types of its subscription."""

    secrets: ClassVar[dict[str, str | list[str]]] = {
        EventType.NEW_LEAD: "whsec_lead",
        "missed_call": ["whsec_missed", "whsec_new"],
    }

    def test_secret_used_for_its_own_type(self) -> None:
        """Each secret verifies the events of its own type."""
        for event_type, secret in [
            ("new_lead", "whsec_lead"),
            ("missed_call", "whsec_missed"),
            ("missed_call", "whsec_new"),
        ]:
            body = envelope(event_type)
            assert construct_event(body, sign(body, secret), self.secrets).type == event_type

    def test_leaked_secret_cannot_forge_another_type(self) -> None:
        """A valid signature made with another type's secret is InvalidSignatureError."""
        body = envelope("missed_call")
        with pytest.raises(InvalidSignatureError, match="not registered for 'missed_call'"):
            construct_event(body, sign(body, "whsec_lead"), self.secrets)

    def test_unknown_type_needs_its_own_secret(self) -> None:
        """An event type no secret is registered for is refused in mapping mode."""
        body = envelope("lead_updated")
        with pytest.raises(InvalidSignatureError):
            construct_event(body, sign(body, "whsec_lead"), self.secrets)

    def test_one_secret_for_several_types(self) -> None:
        """The same secret may be registered for several types."""
        secrets = {"new_lead": "whsec_shared", "missed_call": "whsec_shared"}
        for event_type in ("new_lead", "missed_call"):
            body = envelope(event_type)
            construct_event(body, sign(body, "whsec_shared"), secrets)
        body = envelope("call_completed")
        with pytest.raises(InvalidSignatureError):
            construct_event(body, sign(body, "whsec_shared"), secrets)

    def test_binding_holds_in_verifier(self) -> None:
        """Verifier applies the same binding."""
        verifier = Verifier(self.secrets)
        body = envelope("missed_call")
        with pytest.raises(InvalidSignatureError):
            verifier.construct_event(body, sign(body, "whsec_lead"))

    def test_unknown_key_in_mapping_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        """A mapping key naming no known event type is logged (a likely typo)."""
        with caplog.at_level(logging.WARNING, logger="boltcall_webhooks"):
            Verifier({"new_leads": "whsec_typo_check"})
        assert "new_leads" in caplog.text
        assert "whsec_typo_check" not in caplog.text


class TestTolerance:
    """The optional timestamp window: symmetric, explicit, testable."""

    def test_off_by_default(self) -> None:
        """Without tolerance, an old event (a dashboard re-send) is accepted."""
        body = envelope(when=datetime(2020, 1, 1, tzinfo=timezone.utc))
        construct_event(body, sign(body, SECRET), SECRET)

    def test_zero_means_zero_seconds(self) -> None:
        """tolerance=0 accepts only the exact instant; it never means 'off'."""
        body = envelope()
        signature = sign(body, SECRET)
        construct_event(body, signature, SECRET, tolerance=0, clock=clock_at(STAMP))
        with pytest.raises(StaleEventError):
            construct_event(
                body, signature, SECRET, tolerance=0, clock=clock_at(STAMP + timedelta(seconds=1))
            )

    def test_too_old(self) -> None:
        """An event older than the tolerance says it is old, with attributes."""
        body = envelope()
        now = STAMP + timedelta(seconds=301)
        with pytest.raises(StaleEventError, match="old") as info:
            construct_event(body, sign(body, SECRET), SECRET, tolerance=300, clock=clock_at(now))
        assert info.value.timestamp == STAMP
        assert info.value.now == now
        assert info.value.tolerance == timedelta(seconds=300)

    def test_in_the_future(self) -> None:
        """An event from too far in the future says so (clock skew hint)."""
        body = envelope()
        now = STAMP - timedelta(minutes=10)
        with pytest.raises(StaleEventError, match="10 minutes in the future"):
            construct_event(
                body,
                sign(body, SECRET),
                SECRET,
                tolerance=timedelta(minutes=5),
                clock=clock_at(now),
            )

    @pytest.mark.parametrize(
        ("age", "words"),
        [
            (timedelta(seconds=53493802), "619 days 3 hours old"),
            (timedelta(days=1, seconds=59), "1 day old"),
            (timedelta(hours=2, minutes=1), "2 hours 1 minute old"),
            (timedelta(seconds=301), "5 minutes 1 second old"),
            (timedelta(seconds=1), "1 second old"),
            (timedelta(milliseconds=250), "0.25 seconds old"),
            (-timedelta(minutes=5), "5 minutes in the future"),
            (-timedelta(days=2, hours=5), "2 days 5 hours in the future"),
        ],
    )
    def test_messages_say_the_age_in_days_hours_minutes(self, age: timedelta, words: str) -> None:
        """A stale event's message says how far off it is in words, not in raw seconds."""
        body = envelope()
        tolerance = timedelta(milliseconds=100) if age < timedelta(seconds=1) else 0
        with pytest.raises(StaleEventError) as info:
            construct_event(
                body, sign(body, SECRET), SECRET, tolerance=tolerance, clock=clock_at(STAMP + age)
            )
        limit = "0.1 seconds" if tolerance else "0 seconds"
        ahead = age < timedelta(0)
        assert str(info.value) == (
            f"The event timestamp 2025-03-20T09:17:22+00:00 is {words}, more than the "
            f"tolerance of {limit}" + ("; check this server's clock." if ahead else ".")
        )

    def test_message_says_the_tolerance_in_words(self) -> None:
        """The tolerance is in words too: 300 seconds is five minutes."""
        body = envelope()
        with pytest.raises(StaleEventError) as info:
            construct_event(
                body,
                sign(body, SECRET),
                SECRET,
                tolerance=300,
                clock=clock_at(STAMP + timedelta(days=619, hours=3, minutes=12)),
            )
        assert str(info.value) == (
            "The event timestamp 2025-03-20T09:17:22+00:00 is 619 days 3 hours old, "
            "more than the tolerance of 5 minutes."
        )

    def test_within_window_both_sides(self) -> None:
        """Inside the window on either side is accepted."""
        body = envelope()
        verifier = Verifier(SECRET, tolerance=60, clock=clock_at(STAMP + timedelta(seconds=60)))
        verifier.construct_event(body, sign(body, SECRET))
        verifier = Verifier(SECRET, tolerance=60, clock=clock_at(STAMP - timedelta(seconds=60)))
        verifier.construct_event(body, sign(body, SECRET))

    def test_default_clock_is_now(self) -> None:
        """Without a clock, 'now' is the current UTC time."""
        body = envelope(when=datetime.now(timezone.utc))
        construct_event(body, sign(body, SECRET), SECRET, tolerance=120)

    def test_stale_only_after_signature(self) -> None:
        """A forged old event is an InvalidSignatureError, not a StaleEventError."""
        body = envelope()
        with pytest.raises(InvalidSignatureError):
            construct_event(body, sign(body, "whsec_x"), SECRET, tolerance=1)

    @pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, "300", 1e300])
    def test_bad_tolerance(self, value: object) -> None:
        """Negative, non-finite or non-numeric tolerances are configuration errors."""
        with pytest.raises(ConfigurationError, match="tolerance"):
            Verifier(SECRET, tolerance=value)  # type: ignore[arg-type]

    def test_naive_clock_is_a_configuration_error(self) -> None:
        """A clock returning a naive datetime is refused loudly."""
        body = envelope()
        with pytest.raises(ConfigurationError, match="aware"):
            construct_event(
                body, sign(body, SECRET), SECRET, tolerance=1, clock=lambda: datetime(2025, 1, 1)
            )

    def test_non_callable_clock(self) -> None:
        """clock must be callable."""
        with pytest.raises(ConfigurationError, match="clock"):
            Verifier(SECRET, clock=STAMP)  # type: ignore[arg-type]


class TestBodySize:
    """max_body_size is enforced before any hashing."""

    def test_default_is_one_mebibyte(self) -> None:
        """The default cap is 1 MiB."""
        assert DEFAULT_MAX_BODY_SIZE == 1024 * 1024
        assert Verifier(SECRET).max_body_size == DEFAULT_MAX_BODY_SIZE

    def test_oversize_refused_before_hashing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An oversize body never reaches HMAC."""
        body = envelope()
        signature = sign(body, SECRET)

        def no_hashing(*args: object) -> bytes:
            raise AssertionError("hashed an oversize body")

        monkeypatch.setattr(hmac, "digest", no_hashing)
        verifier = Verifier(SECRET, max_body_size=len(body) - 1)
        with pytest.raises(PayloadTooLargeError) as info:
            verifier.construct_event(body, signature)
        assert info.value.max_body_size == len(body) - 1
        assert info.value.size == len(body)
        assert info.value.body == b""
        with pytest.raises(PayloadTooLargeError):
            verifier.verify(body, signature)

    def test_exactly_at_the_limit(self) -> None:
        """A body of exactly max_body_size bytes is accepted."""
        body = envelope()
        Verifier(SECRET, max_body_size=len(body)).construct_event(body, sign(body, SECRET))

    def test_none_disables_the_cap(self) -> None:
        """max_body_size=None accepts any size."""
        body = json.dumps(
            {"event": "x", "timestamp": "2025-03-20T09:17:22Z", "data": {"p": "x" * 2_000_000}}
        ).encode()
        Verifier(SECRET, max_body_size=None).construct_event(body, sign(body, SECRET))

    @pytest.mark.parametrize("value", [0, -1, 1.5, True, False, "10"])
    def test_bad_sizes(self, value: object) -> None:
        """Invalid caps are configuration errors."""
        with pytest.raises(ConfigurationError, match="max_body_size"):
            Verifier(SECRET, max_body_size=value)  # type: ignore[arg-type]


class TestHeaders:
    """construct_event_from_headers finds the signature case-insensitively."""

    @pytest.mark.parametrize(
        "name", ["X-Boltcall-Signature", "x-boltcall-signature", "X-BOLTCALL-SIGNATURE"]
    )
    def test_any_case(self, name: str) -> None:
        """The header name's case does not matter."""
        body = envelope()
        event = Verifier(SECRET).construct_event_from_headers({name: sign(body, SECRET)}, body)
        assert isinstance(event, NewLeadEvent)

    def test_absent(self) -> None:
        """No signature header at all: MissingSignatureError."""
        with pytest.raises(MissingSignatureError):
            Verifier(SECRET).construct_event_from_headers({"Content-Type": "x"}, envelope())

    def test_conflicting_spellings(self) -> None:
        """Two different values under two spellings are refused."""
        body = envelope()
        headers = {"X-Boltcall-Signature": sign(body, SECRET), "x-boltcall-signature": "0" * 64}
        with pytest.raises(InvalidSignatureError, match="Several"):
            Verifier(SECRET).construct_event_from_headers(headers, body)

    @pytest.mark.parametrize(
        ("headers", "body", "message"),
        [
            (b"{}", {"X-Boltcall-Signature": "0" * 64}, "swapped"),
            ("{}", {"X-Boltcall-Signature": "0" * 64}, "swapped"),
            (b"{}", b"{}", "headers must be a mapping"),
            (None, b"{}", "headers must be a mapping"),
        ],
    )
    def test_swapped_or_wrong_arguments_say_which_is_which(
        self, headers: object, body: object, message: str
    ) -> None:
        """Body first, headers second is a TypeError naming the order, not AttributeError."""
        with pytest.raises(TypeError, match=message) as info:
            Verifier(SECRET).construct_event_from_headers(headers, body)  # type: ignore[arg-type]
        assert "takes the headers first" in str(info.value) or "comes second" in str(info.value)

    def test_any_object_with_get_and_items_is_headers(self) -> None:
        """Header objects that are not a registered Mapping (Werkzeug's) still work."""

        class HeaderBag:
            def __init__(self, values: dict[str, str]) -> None:
                self._values = values

            def get(self, name: str, default: str | None = None) -> str | None:
                return self._values.get(name, default)

            def items(self) -> list[tuple[str, str]]:
                return list(self._values.items())

        body = envelope()
        bag = HeaderBag({"x-boltcall-signature": sign(body, SECRET)})
        event = Verifier(SECRET).construct_event_from_headers(bag, body)  # type: ignore[arg-type]
        assert isinstance(event, NewLeadEvent)


class TestEnvironment:
    """Verifier() with no secrets reads BOLTCALL_WEBHOOK_SECRET."""

    def test_comma_separated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Several secrets, comma-separated, all valid."""
        monkeypatch.setenv(SECRET_ENV_VAR, "whsec_one,whsec_two")
        verifier = Verifier()
        for secret in ("whsec_one", "whsec_two"):
            body = envelope()
            verifier.verify(body, sign(body, secret))

    @pytest.mark.parametrize("value", [None, "", "  ", "whsec_a,", ",whsec_a", "a,,b"])
    def test_unset_or_empty(self, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
        """Unset, empty or with an empty entry: ConfigurationError, never accept-all."""
        if value is None:
            monkeypatch.delenv(SECRET_ENV_VAR, raising=False)
        else:
            monkeypatch.setenv(SECRET_ENV_VAR, value)
        with pytest.raises(ConfigurationError, match=SECRET_ENV_VAR):
            Verifier()


def test_unknown_event_still_verified_and_delivered() -> None:
    """Verification then UnknownEvent: a genuine future event is not lost."""
    body = envelope("lead_scored")
    event = construct_event(body, sign(body, SECRET), SECRET)
    assert isinstance(event, UnknownEvent)


def test_repr_hides_secrets() -> None:
    """Neither the Verifier's repr nor its str shows a secret."""
    verifier = Verifier(["whsec_repr_one", "whsec_repr_two"], tolerance=5)
    text = repr(verifier) + str(verifier)
    assert "whsec_repr" not in text
    assert "2 secret(s) hidden" in text


def test_verifier_properties() -> None:
    """Configuration is readable back."""
    verifier = Verifier(SECRET, tolerance=5, strict=True, max_body_size=10)
    assert verifier.tolerance == timedelta(seconds=5)
    assert verifier.strict is True
    assert verifier.max_body_size == 10


def test_strict_verifier() -> None:
    """strict=True on the Verifier refuses wrong-typed known fields."""
    body = json.dumps(
        {"event": "new_lead", "timestamp": "2025-03-20T09:17:22Z", "data": {"id": "l", "name": 1}}
    ).encode()
    with pytest.raises(PayloadError) as info:
        Verifier(SECRET, strict=True).construct_event(body, sign(body, SECRET))
    assert info.value.path == "data.name"
