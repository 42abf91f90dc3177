"""The adapter inside real Starlette and FastAPI apps: replay, streaming, errors, dependency."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from boltcall_webhooks import Event, NewLeadEvent, Verifier
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware, verified_event

from ..contract import OTHER_SECRET, SECRET, envelope, signed_headers  # noqa: TID252
from ._apps import HOOK, ClientHarness
from ._asgi import chunks, drive, signed_scope

# The documented way to write it once per module.
VerifiedEvent = Annotated[Event, Depends(verified_event(SECRET))]


def middleware_app(*routes: Route, **options: Any) -> Starlette:
    """A Starlette app with the middleware guarding /hook."""
    return Starlette(
        routes=list(routes),
        middleware=[
            Middleware(BoltcallWebhookMiddleware, paths=[HOOK], secrets=SECRET, **options)
        ],
    )


class TestReplayToEndpoint:
    """After verification the endpoint can still read the request body."""

    def test_endpoint_rereads_identical_bytes(self) -> None:
        """body(), json() and the event all describe the bytes that were sent."""
        seen: dict[str, Any] = {}

        async def hook(request: Request) -> Response:
            seen["body"] = await request.body()
            seen["json"] = await request.json()
            seen["event"] = request.state.boltcall_event
            return Response(status_code=204)

        client = ClientHarness(middleware_app(Route(HOOK, hook, methods=["POST"])), []).client
        body = b'{"event":"new_lead",  "timestamp":"2025-03-20T09:17:22Z","data":{"id":"l_7"}}'
        assert client.post(HOOK, content=body, headers=signed_headers(body)).status_code == 204
        assert seen["body"] == body
        assert seen["json"]["data"]["id"] == "l_7"
        assert seen["event"].data.id == "l_7"

    def test_endpoint_can_stream_the_body(self) -> None:
        """request.stream() yields the replayed body, in a chunked upload too."""
        streamed: list[bytes] = []

        async def hook(request: Request) -> Response:
            streamed.extend([chunk async for chunk in request.stream()])
            return Response(status_code=204)

        app = middleware_app(Route(HOOK, hook, methods=["POST"]))
        body = envelope("missed_call")
        conn = drive(app, signed_scope(body, content_length=False), chunks(body, 9))
        assert conn.status == 204
        assert b"".join(streamed) == body

    def test_streaming_response_after_replay(self) -> None:
        """A StreamingResponse (which listens for disconnects) completes normally."""

        async def parts() -> Any:
            for i in range(5):
                yield f"part{i};".encode()

        async def hook(request: Request) -> Response:
            await request.body()
            return StreamingResponse(parts(), media_type="text/plain")

        app = middleware_app(Route(HOOK, hook, methods=["POST"]))
        body = envelope("call_completed")
        conn = drive(app, signed_scope(body), chunks(body, 13))
        assert conn.status == 200
        assert conn.body == b"part0;part1;part2;part3;part4;"

    def test_streaming_response_through_test_client(self) -> None:
        """The same through TestClient, with FastAPI."""
        app = FastAPI()
        app.add_middleware(BoltcallWebhookMiddleware, paths=[HOOK], secrets=SECRET)

        @app.post(HOOK)
        async def hook() -> StreamingResponse:
            return StreamingResponse(iter([b"a", b"b", b"c"]))

        client = ClientHarness(app, []).client
        body = envelope("new_lead")
        reply = client.post(HOOK, content=body, headers=signed_headers(body))
        assert reply.status_code == 200
        assert reply.content == b"abc"


class TestUserErrors:
    """Exceptions raised by user code stay the framework's 500s."""

    @pytest.mark.parametrize("where", ["middleware", "dependency"])
    def test_user_exception_is_500_not_401(self, where: str) -> None:
        """A bug in the handler of a genuine webhook is a 500, never a signature error."""
        calls: list[Event] = []
        app = FastAPI()
        if where == "middleware":
            app.add_middleware(BoltcallWebhookMiddleware, paths=[HOOK], secrets=SECRET)

            @app.post(HOOK)
            async def hook_mw(request: Request) -> None:
                calls.append(request.state.boltcall_event)
                raise RuntimeError("handler bug")

        else:

            @app.post(HOOK)
            async def hook_dep(event: VerifiedEvent) -> None:
                calls.append(event)
                raise RuntimeError("handler bug")

        harness = ClientHarness(app, calls)
        harness.client = type(harness.client)(app, raise_server_exceptions=False)
        body = envelope("new_lead")
        reply = harness.client.post(HOOK, content=body, headers=signed_headers(body))
        assert reply.status_code == 500
        assert len(calls) == 1


class TestDependency:
    """verified_event() in FastAPI and Starlette."""

    def test_annotated_alias(self) -> None:
        """``event: VerifiedEvent`` (Annotated + Depends) receives the typed event."""
        app = FastAPI()

        @app.post(HOOK)
        async def hook(event: VerifiedEvent) -> dict[str, str]:
            assert isinstance(event, NewLeadEvent)
            return {"id": event.data.id}

        client = ClientHarness(app, []).client
        body = envelope("new_lead")
        reply = client.post(HOOK, content=body, headers=signed_headers(body))
        assert reply.json() == {"id": "new_lead_1"}
        forged = client.post(HOOK, content=body, headers=signed_headers(body, OTHER_SECRET))
        assert forged.status_code == 401
        assert forged.json() == {"detail": "Invalid signature"}

    def test_fastapi_refusals_use_detail(self) -> None:
        """Missing signature, bad payload and 405 come in FastAPI's {"detail": ...} shape."""
        app = FastAPI()

        @app.api_route(HOOK, methods=["GET", "POST"])
        async def hook(event: VerifiedEvent) -> None: ...

        client = ClientHarness(app, []).client
        missing = client.post(HOOK, content=envelope("new_lead"))
        assert (missing.status_code, missing.json()) == (401, {"detail": "Missing signature"})
        bad = client.post(HOOK, content=b"nope", headers=signed_headers(b"nope"))
        assert (bad.status_code, bad.json()) == (400, {"detail": "Invalid payload"})
        get = client.get(HOOK)
        assert (get.status_code, get.json()) == (405, {"detail": "Method not allowed"})
        assert get.headers["allow"] == "POST"

    def test_signature_check_beats_query_validation(self) -> None:
        """A forged request gets 401 even when the route also has a required query param."""
        app = FastAPI()

        @app.post(HOOK)
        async def hook(event: VerifiedEvent, tenant: int) -> None: ...

        client = ClientHarness(app, []).client
        body = envelope("new_lead")
        reply = client.post(HOOK, content=body, headers=signed_headers(body, OTHER_SECRET))
        assert reply.status_code == 401

    def test_endpoint_rereads_body_after_dependency(self) -> None:
        """The dependency caches the body: the endpoint's request.body() gets the same bytes."""
        app = FastAPI()
        seen: list[Any] = []

        @app.post(HOOK)
        async def hook(request: Request, event: VerifiedEvent) -> None:
            seen.extend([await request.body(), request.state.boltcall_event is event])

        client = ClientHarness(app, []).client
        body = envelope("review_received")
        client.post(HOOK, content=body, headers=signed_headers(body))
        assert seen == [body, True]

    def test_dependency_caps_a_chunked_body(self) -> None:
        """Without Content-Length the dependency stops reading past the cap: 413."""
        app = FastAPI()
        calls: list[Event] = []
        limited = verified_event(SECRET, max_body_size=100)

        @app.post(HOOK)
        async def hook(event: Event = Depends(limited)) -> None:  # noqa: B008
            calls.append(event)  # pragma: no cover - must not run

        body = envelope("new_lead", {"id": "l_1", "note": "x" * 500})
        conn = drive(app, signed_scope(body, content_length=False), chunks(body, 40))
        assert conn.status == 413
        assert conn.json() == {"detail": "Payload too large"}
        assert conn.receive_calls == 3
        assert calls == []

    def test_dependency_disconnect_is_400(self) -> None:
        """A client leaving mid-body ends as a 400 (FastAPI's own choice for unreadable bodies)."""
        app = FastAPI()
        calls: list[Event] = []

        @app.post(HOOK)
        async def hook(event: VerifiedEvent) -> None:
            calls.append(event)  # pragma: no cover - must not run

        body = envelope("new_lead")
        messages = [*chunks(body, 10)[:2], {"type": "http.disconnect"}]
        conn = drive(app, signed_scope(body), messages)
        assert conn.status == 400
        assert calls == []

    def test_dependency_reuses_the_middleware_event(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Behind the middleware, the dependency returns the same event: one verification."""
        verifications: list[bytes] = []
        real = Verifier.construct_event

        def counting(self: Verifier, body: bytes, signature: str | None) -> Event:
            verifications.append(body)
            return real(self, body, signature)

        monkeypatch.setattr(Verifier, "construct_event", counting)
        app = FastAPI()
        app.add_middleware(BoltcallWebhookMiddleware, paths=[HOOK], secrets=SECRET)
        same: list[bool] = []

        @app.post(HOOK)
        async def hook(request: Request, event: VerifiedEvent) -> None:
            same.append(event is request.state.boltcall_event)

        client = ClientHarness(app, []).client
        body = envelope("appointment_booked")
        assert client.post(HOOK, content=body, headers=signed_headers(body)).status_code == 200
        assert verifications == [body]
        assert same == [True]

    def test_without_middleware_the_dependency_verifies(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The counting spy above does see the dependency's own verification."""
        verifications: list[bytes] = []
        real = Verifier.construct_event

        def counting(self: Verifier, body: bytes, signature: str | None) -> Event:
            verifications.append(body)
            return real(self, body, signature)

        monkeypatch.setattr(Verifier, "construct_event", counting)
        app = FastAPI()

        @app.post(HOOK)
        async def hook(event: VerifiedEvent) -> None: ...

        body = envelope("appointment_booked")
        ClientHarness(app, []).client.post(HOOK, content=body, headers=signed_headers(body))
        assert verifications == [body]

    def test_plain_starlette_endpoint(self) -> None:
        """In Starlette, ``await verify(request)`` works and refusals are HTTPExceptions."""
        verify = verified_event(SECRET)

        async def hook(request: Request) -> Response:
            event = await verify(request)
            return JSONResponse({"type": event.type})

        app = Starlette(routes=[Route(HOOK, hook, methods=["POST"])])
        client = ClientHarness(app, []).client
        body = envelope("missed_call")
        assert client.post(HOOK, content=body, headers=signed_headers(body)).json() == {
            "type": "missed_call"
        }
        forged = client.post(HOOK, content=body, headers=signed_headers(body, OTHER_SECRET))
        assert forged.status_code == 401
        assert forged.text == "Invalid signature"

    def test_falls_back_to_starlette_exception_without_fastapi(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With FastAPI not importable, the dependency raises Starlette's HTTPException."""
        monkeypatch.setitem(sys.modules, "fastapi", None)
        verify = verified_event(SECRET)
        raised: list[BaseException] = []

        async def hook(request: Request) -> Response:
            try:
                await verify(request)
            except StarletteHTTPException as exc:
                raised.append(exc)
                raise
            return Response()  # pragma: no cover - must not run

        app = Starlette(routes=[Route(HOOK, hook, methods=["POST"])])
        client = ClientHarness(app, []).client
        assert client.post(HOOK, content=b"{}").status_code == 401
        assert [type(e) for e in raised] == [StarletteHTTPException]

    def test_uses_fastapi_exception_when_available(self) -> None:
        """With FastAPI installed, the exception is FastAPI's own HTTPException."""
        import fastapi

        verify = verified_event(SECRET)
        raised: list[BaseException] = []

        async def hook(request: Request) -> Response:
            try:
                await verify(request)
            except StarletteHTTPException as exc:
                raised.append(exc)
            return Response()

        app = Starlette(routes=[Route(HOOK, hook, methods=["POST"])])
        ClientHarness(app, []).client.post(HOOK, content=b"{}")
        assert [type(e) for e in raised] == [fastapi.HTTPException]

    def test_missing_starlette_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without Starlette, verified_event() says which extra to install."""
        monkeypatch.setitem(sys.modules, "starlette.requests", None)
        with pytest.raises(ImportError, match=r"boltcall-webhooks\[starlette\]"):
            verified_event(SECRET)

    def test_unknown_option_is_a_type_error(self) -> None:
        """A misspelt option fails when the dependency is built."""
        with pytest.raises(TypeError):
            verified_event(SECRET, tolerence=5)  # type: ignore[call-arg]
