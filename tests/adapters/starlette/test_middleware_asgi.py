"""The middleware driven by hand-written ASGI messages: chunks, caps, lies and disconnects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from boltcall_webhooks import (
    SIGNATURE_HEADER,
    ConfigurationError,
    NewLeadEvent,
    sign,
)
from boltcall_webhooks.starlette import STATE_KEY, BoltcallWebhookMiddleware

from ..contract import OTHER_SECRET, SECRET, envelope, signed_headers  # noqa: TID252
from ._asgi import (
    RecordingApp,
    chunks,
    drive,
    http_scope,
    signed_scope,
)

LIMIT = 1000


def guard(app: Any, **options: Any) -> BoltcallWebhookMiddleware:
    """The middleware on /hook with the test secret and a small cap."""
    options.setdefault("max_body_size", LIMIT)
    return BoltcallWebhookMiddleware(app, paths=["/hook"], secrets=SECRET, **options)


def padded(size: int) -> bytes:
    """A new_lead envelope of exactly ``size`` bytes."""
    base = len(envelope("new_lead", {"id": "l_1", "note": ""}))
    return envelope("new_lead", {"id": "l_1", "note": "x" * (size - base)})


class TestBodyReading:
    """How the body is read from ASGI messages."""

    def test_multi_chunk_body_is_joined_and_verified(self) -> None:
        """A body sent in many chunks is verified whole and replayed whole to the app."""
        inner = RecordingApp()
        body = padded(900)
        conn = drive(guard(inner), signed_scope(body), chunks(body, 7))
        assert conn.status == 200
        assert conn.body == body
        scope = inner.calls[0][0]
        assert isinstance(scope["state"][STATE_KEY], NewLeadEvent)

    def test_replay_is_one_final_message(self) -> None:
        """The app's first receive() returns the whole body with more_body False."""
        inner = RecordingApp()
        body = padded(300)
        drive(guard(inner), signed_scope(body), chunks(body, 10))
        assert inner.received == [{"type": "http.request", "body": body, "more_body": False}]

    def test_missing_more_body_means_last_message(self) -> None:
        """A message without ``more_body`` ends the body (the key defaults to False)."""
        inner = RecordingApp()
        body = envelope("missed_call")
        messages = [{"type": "http.request", "body": body}]
        conn = drive(guard(inner), signed_scope(body), messages)
        assert conn.status == 200
        assert len(inner.calls) == 1

    def test_missing_body_key_is_an_empty_chunk(self) -> None:
        """A message without ``body`` counts as empty, not as an error."""
        inner = RecordingApp()
        body = envelope("missed_call")
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "more_body": True},
            {"type": "http.request", "body": body, "more_body": True},
            {"type": "http.request"},
        ]
        conn = drive(guard(inner), signed_scope(body), messages)
        assert conn.status == 200
        assert conn.body == body

    def test_later_receive_calls_reach_the_server(self) -> None:
        """After the replayed body, receive() is the server's again (here: the disconnect)."""
        seen: list[Any] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(await receive())
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            seen.append(await receive())

        body = envelope("new_lead")
        conn = drive(guard(app), signed_scope(body), chunks(body, 50))
        assert conn.status == 204
        assert seen[0]["body"] == body
        assert seen[1] == {"type": "http.disconnect"}

    def test_state_is_created_and_existing_state_kept(self) -> None:
        """The event joins any state already in the scope (lifespan state); else a new dict."""
        body = envelope("new_lead")
        inner = RecordingApp()
        scope = signed_scope(body)
        scope["state"] = {"db": "pool"}
        drive(guard(inner), scope, chunks(body, 100))
        state = inner.calls[0][0]["state"]
        assert state["db"] == "pool"
        assert isinstance(state[STATE_KEY], NewLeadEvent)


class TestCaps:
    """The body cap, by the header and by the bytes received."""

    def test_content_length_over_cap_is_413_before_reading(self) -> None:
        """An announced length over the cap is refused without calling receive()."""
        inner = RecordingApp()
        body = padded(LIMIT + 1)
        conn = drive(guard(inner), signed_scope(body), chunks(body, 100))
        assert conn.status == 413
        assert conn.json() == {"error": "Payload too large"}
        assert conn.receive_calls == 0
        assert inner.calls == []

    def test_streamed_body_over_cap_without_length_is_413(self) -> None:
        """A chunked upload with no Content-Length is cut off once it passes the cap."""
        inner = RecordingApp()
        body = padded(5 * LIMIT)
        messages = chunks(body, 100)
        conn = drive(guard(inner), signed_scope(body, content_length=False), messages)
        assert conn.status == 413
        assert inner.calls == []
        assert conn.receive_calls == LIMIT // 100 + 1  # stopped at the first chunk over

    def test_streamed_body_at_cap_without_length_is_accepted(self) -> None:
        """Exactly max_body_size bytes with no Content-Length is accepted."""
        inner = RecordingApp()
        body = padded(LIMIT)
        conn = drive(guard(inner), signed_scope(body, content_length=False), chunks(body, 64))
        assert conn.status == 200
        assert conn.body == body

    def test_lying_small_content_length_is_still_capped(self) -> None:
        """A Content-Length under the cap does not let a larger stream through."""
        inner = RecordingApp()
        body = padded(3 * LIMIT)
        scope = signed_scope(body, content_length=False)
        scope["headers"].append((b"content-length", b"10"))
        conn = drive(guard(inner), scope, chunks(body, 200))
        assert conn.status == 413
        assert inner.calls == []

    def test_lying_length_does_not_change_what_is_verified(self) -> None:
        """The signature is checked on the bytes received, whatever the header said."""
        inner = RecordingApp()
        body = envelope("new_lead")
        scope = signed_scope(body, content_length=False)
        scope["headers"].append((b"content-length", b"5"))
        conn = drive(guard(inner), scope, chunks(body, 16))
        assert conn.status == 200
        assert conn.body == body

    @pytest.mark.parametrize("value", ["abc", "-1", "1e3", "12 34", "١٢"])
    def test_invalid_content_length_is_400_before_reading(self, value: str) -> None:
        """A Content-Length that is not a plain decimal number is a 400."""
        inner = RecordingApp()
        body = envelope("new_lead")
        scope = signed_scope(body, content_length=False)
        scope["headers"].append((b"content-length", value.encode()))
        conn = drive(guard(inner), scope, chunks(body, 100))
        assert conn.status == 400
        assert conn.receive_calls == 0
        assert inner.calls == []

    @pytest.mark.parametrize("value", ["9" * 19, "9" * 5000, " 12345678901234567890 "])
    def test_absurd_content_length_is_413_not_a_crash(self, value: str) -> None:
        """A length with more digits than any body (even past int()'s limit) is a 413."""
        inner = RecordingApp()
        body = envelope("new_lead")
        scope = signed_scope(body, content_length=False)
        scope["headers"].append((b"content-length", value.encode()))
        conn = drive(guard(inner), scope, chunks(body, 100))
        assert conn.status == 413
        assert conn.receive_calls == 0
        assert inner.calls == []

    def test_conflicting_content_lengths_are_400(self) -> None:
        """Two different Content-Length headers are refused."""
        body = envelope("new_lead")
        scope = signed_scope(body)
        scope["headers"].append((b"content-length", str(len(body) + 1).encode()))
        inner = RecordingApp()
        assert drive(guard(inner), scope, chunks(body, 100)).status == 400
        assert inner.calls == []

    def test_no_cap_when_max_body_size_is_none(self) -> None:
        """max_body_size=None turns the cap off (the body is still verified)."""
        inner = RecordingApp()
        body = padded(10 * LIMIT)
        conn = drive(guard(inner, max_body_size=None), signed_scope(body), chunks(body, 999))
        assert conn.status == 200


class TestDisconnect:
    """A client that leaves while the body is read."""

    @pytest.mark.parametrize("after", [0, 1, 3])
    def test_disconnect_mid_body_sends_nothing_and_skips_the_app(self, after: int) -> None:
        """On http.disconnect the middleware stops: no response, app never called."""
        inner = RecordingApp()
        body = padded(600)
        messages = [*chunks(body, 100)[:after], {"type": "http.disconnect"}]
        conn = drive(guard(inner), signed_scope(body), messages)
        assert conn.sent == []
        assert inner.calls == []
        assert conn.receive_calls == after + 1


class TestPassThrough:
    """What the middleware leaves alone."""

    @pytest.mark.parametrize("kind", ["lifespan", "websocket"])
    def test_non_http_scopes_are_untouched(self, kind: str) -> None:
        """Lifespan and websocket scopes reach the app with the same objects, unread."""
        inner = RecordingApp()
        scope: dict[str, Any] = {"type": kind, "path": "/hook", "asgi": {"version": "3.0"}}
        received: list[Any] = []

        async def receive() -> Any:
            received.append(1)
            return {"type": f"{kind}.disconnect"}

        async def send(message: Any) -> None:
            raise AssertionError(message)

        asyncio.run(guard(inner)(scope, receive, send))
        assert inner.calls == [(scope, receive)]
        assert received == []
        assert "state" not in scope

    def test_other_paths_are_untouched_and_receive_not_consumed(self) -> None:
        """An unguarded path gets the original receive; nothing is read before the app."""
        inner = RecordingApp(read_body=False)
        scope = http_scope("/other", headers=[("Content-Length", str(10 * LIMIT))])
        conn = drive(guard(inner), scope, chunks(b"x" * 10 * LIMIT, 100))
        assert conn.status == 200
        assert conn.receive_calls == 0
        assert inner.calls[0][1] == conn.receive
        assert "state" not in scope

    def test_other_paths_pass_through(self) -> None:
        """/hook/x and /hoo are not /hook: they pass through (the router decides)."""
        inner = RecordingApp(read_body=False)
        for path in ("/hook/x", "/hoo", "/hooks", "/x/hook"):
            conn = drive(guard(inner), http_scope(path), [])
            assert conn.status == 200
        assert len(inner.calls) == 4

    def test_other_spellings_of_the_path_are_guarded(self) -> None:
        """/hook/, /HOOK, //hook are spellings a router may send to /hook: guarded
        (tests/adapters/starlette/test_path_guard.py covers the spellings at length)."""
        inner = RecordingApp(read_body=False)
        for path in ("/hook/", "/HOOK", "//hook", "/hook;x"):
            conn = drive(guard(inner), http_scope(path, method="GET"), [])
            assert conn.status == 405, path
        assert inner.calls == []

    def test_root_path_prefix_is_ignored(self) -> None:
        """Under a root_path (app mounted at /api), /api/hook is the guarded /hook."""
        inner = RecordingApp()
        body = envelope("new_lead")
        headers = list(signed_headers(body, OTHER_SECRET).items())
        scope = http_scope("/api/hook", headers=headers, root_path="/api")
        conn = drive(guard(inner), scope, chunks(body, 100))
        assert conn.status == 401
        assert inner.calls == []


class TestRefusals:
    """Refusals are answered by the middleware, in the shared JSON shape."""

    @pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT"])
    def test_other_methods_are_405_with_allow(self, method: str) -> None:
        """Any method but POST is a 405 with Allow: POST, without reading the body."""
        inner = RecordingApp()
        conn = drive(guard(inner), http_scope(method=method), chunks(b"x", 10))
        assert conn.status == 405
        assert conn.headers["allow"] == "POST"
        assert conn.receive_calls == 0
        assert inner.calls == []

    def test_refusal_is_json_with_length(self) -> None:
        """A 401 carries a JSON body and a matching Content-Length."""
        body = envelope("new_lead")
        scope = http_scope(headers=[(SIGNATURE_HEADER, "0" * 64)])
        conn = drive(guard(RecordingApp()), scope, chunks(body, 100))
        assert conn.status == 401
        assert conn.headers["content-type"] == "application/json"
        assert int(conn.headers["content-length"]) == len(conn.body)
        assert json.loads(conn.body) == {"error": "Invalid signature"}

    def test_two_different_signature_headers_are_401(self) -> None:
        """Two different signatures are refused, even if one of them is right."""
        body = envelope("new_lead")
        scope = http_scope(
            headers=[(SIGNATURE_HEADER, sign(body, SECRET)), (SIGNATURE_HEADER, "0" * 64)]
        )
        inner = RecordingApp()
        assert drive(guard(inner), scope, chunks(body, 100)).status == 401
        assert inner.calls == []

    def test_repeated_identical_signature_headers_are_fine(self) -> None:
        """The same signature sent twice (a proxy duplicating it) is still accepted."""
        body = envelope("new_lead")
        good = sign(body, SECRET)
        scope = http_scope(headers=[(SIGNATURE_HEADER, good), (SIGNATURE_HEADER, good)])
        assert drive(guard(RecordingApp()), scope, chunks(body, 100)).status == 200

    def test_missing_secret_is_500_and_logged(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No secret anywhere: 500 with the error logged, the app never called."""
        monkeypatch.delenv("BOLTCALL_WEBHOOK_SECRET", raising=False)
        inner = RecordingApp()
        app = BoltcallWebhookMiddleware(inner, paths=["/hook"])
        body = envelope("new_lead")
        conn = drive(app, signed_scope(body), chunks(body, 100))
        assert conn.status == 500
        assert inner.calls == []
        assert any(r.levelname == "ERROR" for r in caplog.records)
        assert SECRET not in caplog.text


class TestConstruction:
    """Configuration mistakes fail when the middleware is built."""

    @pytest.mark.parametrize("paths", [[], (), set(), "/hook", b"/hook", ["hook"], [None]])
    def test_bad_paths_are_refused(self, paths: Any) -> None:
        """paths must be a non-empty collection of str paths starting with '/'."""
        with pytest.raises(ConfigurationError):
            BoltcallWebhookMiddleware(RecordingApp(), paths=paths, secrets=SECRET)

    def test_unknown_option_is_a_type_error(self) -> None:
        """A misspelt option is reported, not ignored."""
        with pytest.raises(TypeError, match="max_body"):
            BoltcallWebhookMiddleware(  # type: ignore[call-arg]
                RecordingApp(), paths=["/hook"], secrets=SECRET, max_body=10
            )

    def test_bad_explicit_secret_fails_at_start(self) -> None:
        """An explicitly empty secret is a ConfigurationError at construction."""
        with pytest.raises(ConfigurationError):
            BoltcallWebhookMiddleware(RecordingApp(), paths=["/hook"], secrets="")

    def test_paths_are_exposed(self) -> None:
        """The guarded paths are readable (for logs and debugging)."""
        middleware = BoltcallWebhookMiddleware(
            RecordingApp(), paths=["/a", "/b", "/a"], secrets=SECRET
        )
        assert middleware.paths == frozenset({"/a", "/b"})
