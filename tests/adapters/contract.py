"""The adapter contract: one test class that every framework adapter must pass.

Each framework's test module subclasses :class:`AdapterContract` and implements
:meth:`AdapterContract.make_harness`, which builds an app through the
framework's own test client with a handler that records every event it gets.
The tests below then check, the same way for every adapter, that a forged or
unreadable request never reaches the handler and a genuine one always does,
exactly once, with the right class and the right HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pytest

from boltcall_webhooks import (
    SECRET_ENV_VAR,
    SIGNATURE_HEADER,
    AppointmentBookedEvent,
    CallCompletedEvent,
    ConfigurationError,
    Event,
    MissedCallEvent,
    NewLeadEvent,
    ReviewReceivedEvent,
    UnknownEvent,
    sign,
)

SECRET = "whsec_contract_secret_0123456789"
OTHER_SECRET = "whsec_some_other_subscription_42"
SMALL_LIMIT = 4096


def envelope(event_type: str, data: dict[str, Any] | None = None) -> bytes:
    """A compact JSON envelope for ``event_type`` with ``data`` (default: an id only)."""
    payload = {
        "event": event_type,
        "timestamp": "2025-03-20T09:17:22Z",
        "data": data if data is not None else {"id": f"{event_type}_1"},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Headers Boltcall would send with ``body``."""
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}


@dataclass
class Reply:
    """What the client saw: the status, the decoded JSON body (or None) and headers."""

    status: int
    json: Any
    headers: dict[str, str] = field(default_factory=dict)


class Harness(Protocol):
    """A framework app behind its own test client, with a recording handler."""

    calls: list[Event]

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        """POST ``body`` with ``headers`` to the guarded route."""
        ...

    def request(self, method: str) -> Reply:
        """Send ``method`` (GET, PUT...) with no body to the guarded route."""
        ...


HarnessFactory = Callable[..., Harness]

EVENT_CLASSES: list[tuple[str, type]] = [
    ("new_lead", NewLeadEvent),
    ("missed_call", MissedCallEvent),
    ("appointment_booked", AppointmentBookedEvent),
    ("call_completed", CallCompletedEvent),
    ("review_received", ReviewReceivedEvent),
    ("lead_updated", UnknownEvent),
]


class AdapterContract:
    """Behaviour every adapter shares; subclasses provide :meth:`make_harness`.

    ``make_harness(secrets=..., max_body_size=...)`` must build a fresh app whose
    guarded route passes events to a handler recording them in ``harness.calls``.
    ``secrets=None`` means "configure no secret at all" (the test clears the
    environment variable too), so the adapter must answer 500.
    """

    #: Status a successful delivery gets from the test app's handler.
    ok_status: ClassVar[int] = 200

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Harness:
        """Build the app under test (implemented per framework)."""
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _no_env_secret(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(SECRET_ENV_VAR, raising=False)

    @pytest.mark.parametrize(("event_type", "event_class"), EVENT_CLASSES)
    def test_genuine_event_reaches_handler_once(self, event_type: str, event_class: type) -> None:
        """Each event type (and an unknown one) reaches the handler exactly once, typed."""
        harness = self.make_harness()
        body = envelope(event_type)
        reply = harness.post(body, signed_headers(body))
        assert reply.status == self.ok_status
        assert len(harness.calls) == 1
        event = harness.calls[0]
        assert type(event) is event_class
        assert event.type == event_type
        assert event.raw["data"]["id"] == f"{event_type}_1"

    def test_pretty_printed_body_is_verified_as_sent(self) -> None:
        """The adapter hashes the raw bytes: non-compact, non-ASCII JSON still verifies."""
        harness = self.make_harness()
        body = json.dumps(
            {
                "data": {"name": "Zoë Ågren", "id": "l_9"},
                "event": "new_lead",
                "timestamp": "2025-03-20T09:17:22+01:00",
            },
            indent=4,
            ensure_ascii=False,
        ).encode()
        reply = harness.post(body, signed_headers(body))
        assert reply.status == self.ok_status
        assert [type(e) for e in harness.calls] == [NewLeadEvent]
        assert harness.calls[0].data.name == "Zoë Ågren"  # type: ignore[union-attr]

    def test_several_secrets_accept_either(self) -> None:
        """With two secrets (rotation), a body signed with the second one is accepted."""
        harness = self.make_harness(secrets=[OTHER_SECRET, SECRET])
        body = envelope("missed_call")
        assert harness.post(body, signed_headers(body)).status == self.ok_status
        assert len(harness.calls) == 1

    def _assert_refused(
        self, harness: Harness, reply: Reply, status: int, error: str | None = None
    ) -> None:
        assert reply.status == status, reply
        assert harness.calls == []
        if error is not None:
            assert reply.json == {"error": error}

    def test_wrong_secret_is_401(self) -> None:
        """A body signed with another subscription's secret never reaches the handler."""
        harness = self.make_harness()
        body = envelope("new_lead")
        reply = harness.post(body, signed_headers(body, OTHER_SECRET))
        self._assert_refused(harness, reply, 401, "Invalid signature")

    def test_missing_signature_is_401(self) -> None:
        """No signature header: 401 Missing signature."""
        harness = self.make_harness()
        body = envelope("new_lead")
        reply = harness.post(body, {"Content-Type": "application/json"})
        self._assert_refused(harness, reply, 401, "Missing signature")

    def test_empty_signature_is_401(self) -> None:
        """An empty signature header: 401 Missing signature."""
        harness = self.make_harness()
        body = envelope("new_lead")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: ""}
        self._assert_refused(harness, harness.post(body, headers), 401, "Missing signature")

    @pytest.mark.parametrize(
        "value",
        [
            "abc",
            "z" * 64,
            "sha256=" + "0" * 64,
            "0" * 63,
            "0" * 65,
            "é" * 64,
        ],
        ids=["short", "non-hex", "prefixed", "odd", "long", "non-ascii"],
    )
    def test_malformed_signature_is_401(self, value: str) -> None:
        """A malformed signature header is a 401, never a 500."""
        harness = self.make_harness()
        body = envelope("new_lead")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: value}
        self._assert_refused(harness, self._post_raw_header(harness, body, headers), 401)

    def _post_raw_header(self, harness: Harness, body: bytes, headers: dict[str, str]) -> Reply:
        """Send headers that may hold latin-1 text (overridable per client)."""
        return harness.post(body, headers)

    def test_tampered_body_is_401(self) -> None:
        """One byte changed after signing: 401."""
        harness = self.make_harness()
        body = envelope("call_completed", {"id": "c_1", "duration_seconds": 60})
        headers = signed_headers(body)
        tampered = body.replace(b"60", b"61")
        self._assert_refused(harness, harness.post(tampered, headers), 401, "Invalid signature")

    def test_reserialised_body_is_401(self) -> None:
        """A signature over re-serialised JSON does not verify the bytes sent."""
        harness = self.make_harness()
        body = envelope("new_lead")
        reserialised = json.dumps(json.loads(body), indent=2).encode()
        reply = harness.post(body, signed_headers(reserialised))
        self._assert_refused(harness, reply, 401, "Invalid signature")

    @pytest.mark.parametrize(
        "body",
        [b"not json", b"[1, 2, 3]", b"\xff\xfe\x00", b'{"event": "new_lead"}'],
        ids=["text", "array", "not-utf8", "no-timestamp"],
    )
    def test_signed_non_envelope_is_400(self, body: bytes) -> None:
        """A correctly signed body that is not an envelope: 400, handler not called."""
        harness = self.make_harness()
        reply = harness.post(body, signed_headers(body))
        self._assert_refused(harness, reply, 400)
        assert isinstance(reply.json, dict)
        assert "error" in reply.json

    def test_oversize_body_is_413(self) -> None:
        """A body above max_body_size: 413 before verification, handler not called."""
        harness = self.make_harness(max_body_size=SMALL_LIMIT)
        body = envelope("new_lead", {"id": "l_1", "message": "x" * (SMALL_LIMIT * 2)})
        self._assert_refused(harness, harness.post(body, signed_headers(body)), 413)

    def test_body_at_the_limit_is_accepted(self) -> None:
        """A body of exactly max_body_size bytes is accepted."""
        padding = SMALL_LIMIT - len(envelope("new_lead", {"id": "l_1", "message": ""}))
        body = envelope("new_lead", {"id": "l_1", "message": "x" * padding})
        assert len(body) == SMALL_LIMIT
        harness = self.make_harness(max_body_size=SMALL_LIMIT)
        assert harness.post(body, signed_headers(body)).status == self.ok_status
        assert len(harness.calls) == 1

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
    def test_other_methods_are_405(self, method: str) -> None:
        """Anything but POST on the guarded route is a 405 and never reaches the handler."""
        harness = self.make_harness()
        reply = harness.request(method)
        self._assert_refused(harness, reply, 405)

    def test_missing_configuration_is_500(self) -> None:
        """No secret anywhere: 500 (logged), never acceptance, even with a 'valid' signature."""
        harness = self.make_harness(secrets=None)
        body = envelope("new_lead")
        reply = harness.post(body, signed_headers(body))
        self._assert_refused(harness, reply, 500)

    def test_secret_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no argument and no setting, BOLTCALL_WEBHOOK_SECRET is used."""
        monkeypatch.setenv(SECRET_ENV_VAR, f"{OTHER_SECRET},{SECRET}")
        harness = self.make_harness(secrets=None)
        body = envelope("review_received")
        assert harness.post(body, signed_headers(body)).status == self.ok_status
        assert [type(e) for e in harness.calls] == [ReviewReceivedEvent]

    def test_header_name_is_case_insensitive(self) -> None:
        """The signature header is found whatever the case of its name."""
        harness = self.make_harness()
        body = envelope("new_lead")
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER.lower(): sign(body, SECRET),
        }
        assert harness.post(body, headers).status == self.ok_status
        assert len(harness.calls) == 1

    def test_empty_body_is_refused(self) -> None:
        """An empty body: 401 unsigned, 400 when its (empty) signature verifies."""
        harness = self.make_harness()
        self._assert_refused(harness, harness.post(b"", {}), 401, "Missing signature")
        self._assert_refused(harness, harness.post(b"", signed_headers(b"")), 400)

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "   ",
            "\t\n",
            "\u00a0",
            42,
            [],
            [SECRET, ""],
            {"new_lead": ""},
            {SECRET: "new_lead"},
        ],
        ids=repr,
    )
    def test_bad_secret_argument_fails_closed(self, bad: object) -> None:
        """A bad secret is refused when the app starts, or every request gets a 500.

        (Starlette builds its middleware when the app gets its first request, so
        the start-up error may surface there.)
        """
        body = envelope("new_lead")
        calls: list[Event] = []
        try:
            harness = self.make_harness(secrets=bad)
            calls = harness.calls
            reply = harness.post(body, signed_headers(body))
        except ConfigurationError as error:
            message = str(error)
        else:
            self._assert_refused(harness, reply, 500)
            return
        assert SECRET not in message  # refused at start-up: nothing got in
        assert calls == []

    @pytest.mark.parametrize("value", ["", "   ", ",", f"{SECRET},,{OTHER_SECRET}"], ids=repr)
    def test_bad_environment_secret_is_500(
        self, value: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BOLTCALL_WEBHOOK_SECRET empty, blank or with an empty entry: 500, never a pass."""
        monkeypatch.setenv(SECRET_ENV_VAR, value)
        harness = self.make_harness(secrets=None)
        body = envelope("new_lead")
        self._assert_refused(harness, harness.post(body, signed_headers(body)), 500)
