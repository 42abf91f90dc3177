"""Starlette and FastAPI: a pure ASGI middleware and a dependency that verify webhooks.

Two ways in, which can be combined:

* :class:`BoltcallWebhookMiddleware` guards exact paths of any ASGI app. It
  reads the body (capped), verifies it and answers a forged or unreadable
  request itself; a genuine one goes on to the app with the event in
  ``request.state.boltcall_event`` and the body replayed, so the endpoint can
  still ``await request.body()``. It needs nothing but the ASGI spec.
* :func:`verified_event` returns a FastAPI dependency (also callable by hand
  in a Starlette endpoint) giving the verified :data:`~boltcall_webhooks.Event`.
  It fails with an ``HTTPException`` (``{"detail": "Invalid signature"}`` in
  FastAPI). Behind the middleware it returns the middleware's event, so each
  request is verified once.

Statuses, from the shared mapping: 401 for a missing, malformed or wrong
signature, 413 for a body over ``max_body_size`` (1 MiB by default), 400 for a
body that is not an event envelope (or an invalid ``Content-Length``), 405 for
a method other than ``POST``, 500 (logged) when no secret is configured.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final, cast

from boltcall_webhooks._endpoint import (
    HANDLER_FAILED,
    JSON_CONTENT_TYPE,
    RECEIVED_BODY,
    check_inbox,
    check_target,
    genuine_body,
    log_failures,
    log_store_failure,
    refusal,
    stored_body,
)
from boltcall_webhooks._errors import (
    ConfigurationError,
    InvalidSignatureError,
    PayloadError,
    WebhookError,
)
from boltcall_webhooks._events import Event
from boltcall_webhooks._http import (
    BAD_CONTENT_LENGTH,
    CLIENT_DISCONNECTED,
    METHOD_NOT_ALLOWED,
    Rejection,
    VerifierSource,
    parse_content_length,
    rejection_for,
)
from boltcall_webhooks._paths import INVALID_PATH, PathGuard, PathVerdict
from boltcall_webhooks._router import DispatchError
from boltcall_webhooks._signing import SIGNATURE_HEADER
from boltcall_webhooks._verifier import DEFAULT_MAX_BODY_SIZE, Clock

if TYPE_CHECKING:
    from datetime import timedelta

    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    from boltcall_webhooks._router import Router
    from boltcall_webhooks._secrets import Secrets
    from boltcall_webhooks._verifier import Verifier
    from boltcall_webhooks.inbox import Inbox, Stored

__all__ = ["STATE_KEY", "BoltcallWebhookMiddleware", "verified_event", "webhook_endpoint"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY: Final = "boltcall_event"
"""The key of the verified event in ``scope["state"]`` (``request.state.boltcall_event``)."""

_INSTALL_HINT: Final = 'pip install "boltcall-webhooks[starlette]"'
_SIGNATURE_KEY: Final = SIGNATURE_HEADER.lower().encode("latin-1")
_MAX_LENGTH_DIGITS: Final = 18
_VERDICT_CACHE_SIZE: Final = 1024
_CACHED_PATH_SIZE: Final = 2048  # characters of path + raw_path + root_path a cached verdict keeps
_HUGE: Final = 10**18


class BoltcallWebhookMiddleware:
    """Pure ASGI middleware that verifies Boltcall webhooks on the given paths.

    On a guarded path, only a ``POST`` with a genuine signature reaches the app;
    everything else is answered here with a JSON ``{"error": ...}`` body:
    405 (other methods, with ``Allow: POST``), 400 (invalid ``Content-Length``
    or a body that is not an event envelope), 413 (body over ``max_body_size``,
    by ``Content-Length`` before anything is read, and by the bytes actually
    received), 401 (missing or wrong signature), 500 (no secret configured).
    If the client disconnects while the body is read, nothing is sent and the
    app is not called. Other paths and non-HTTP scopes (lifespan, websocket)
    pass through untouched.

    Add it with ``Starlette(middleware=[Middleware(BoltcallWebhookMiddleware,
    paths=["/webhooks/boltcall"])])`` or ``app.add_middleware(...)``.

    Args:
        app: The ASGI app to protect.
        paths: The exact request paths to guard (``"/webhooks/boltcall"``), as
            routed by the app (an ASGI ``root_path`` prefix is ignored).
        secrets: One secret, several, or a mapping ``event type -> secret(s)``;
            ``None`` reads ``BOLTCALL_WEBHOOK_SECRET`` at the first request.
        tolerance: Refuse events whose timestamp is further than this from now
            (seconds or ``timedelta``); ``None`` (default) is off.
        max_body_size: The largest body accepted, in bytes (413 above it);
            ``None`` removes the cap (not advised).
        strict: Refuse a known field of the wrong JSON type (400).
        clock: Returns "now" for the tolerance check (see
            :class:`~boltcall_webhooks.Verifier`).

    Raises:
        ConfigurationError: ``paths`` is empty or not a collection of paths, or
            an explicit ``secrets``/option is invalid.
    """

    __slots__ = ("_app_root", "_guard", "_paths", "_source", "_verdicts", "app")

    app: ASGIApp
    """The wrapped ASGI app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Collection[str],
        secrets: Secrets | None = None,
        tolerance: float | timedelta | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        strict: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self._paths = _check_paths(paths)
        self._guard = PathGuard(self._paths)
        # Verdicts by (path, raw_path, root_path): a pure function of them, and an
        # app's paths repeat, so each spelling is judged once (bounded: cleared when full).
        self._verdicts: dict[tuple[object, object, object], PathVerdict] = {}
        # An app that sets its own root path (FastAPI(root_path=...)) strips it
        # only when called, after this middleware, if it wraps the app from outside.
        app_root = getattr(app, "root_path", "")
        self._app_root: str = app_root if isinstance(app_root, str) else ""
        self._source = VerifierSource(
            secrets,
            {
                "tolerance": tolerance,
                "max_body_size": max_body_size,
                "strict": strict,
                "clock": clock,
            },
        )

    @property
    def paths(self) -> frozenset[str]:
        """The guarded paths."""
        return self._paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        verdict = self._verdict(scope) if scope["type"] == "http" else PathVerdict.PASS
        if verdict is PathVerdict.PASS:
            await self.app(scope, receive, send)
            return
        if verdict is PathVerdict.REFUSE:
            await _send_rejection(send, INVALID_PATH)
            return
        outcome = await _verify_scope(scope, receive, self._source)
        if outcome is None:
            return  # the client left: nobody to answer
        if isinstance(outcome, Rejection):
            await _send_rejection(send, outcome)
            return
        event, body = outcome
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = event
        await self.app(scope, _replay(body, receive), send)

    def _verdict(self, scope: Scope) -> PathVerdict:
        """Whether the router could send this request to a guarded path (see ``_paths``)."""
        path = scope.get("path")
        raw_path = scope.get("raw_path")
        root = scope.get("root_path")
        key = (path, raw_path, root)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value from a non-conforming server: judged each time
            return self._judge(path, raw_path, root)
        verdict = self._judge(path, raw_path, root)
        if _size(path) + _size(raw_path) + _size(root) > _CACHED_PATH_SIZE:
            # Not kept: 1024 unique ~64 KB paths (what a server accepts) held ~120 MB
            # per process until the next clear. An app's own paths are short.
            return verdict
        if len(self._verdicts) >= _VERDICT_CACHE_SIZE:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _judge(self, path: object, raw_path: object, root: object) -> PathVerdict:
        """Ask the path guard about every form of the request path."""
        forms: list[str] = []
        if isinstance(path, str):
            forms.append(path)
        if isinstance(raw_path, bytes):
            forms.append(raw_path.decode("latin-1"))  # percent-decoded by the guard
        # Starlette >= 0.33 keeps the root_path in "path" and routes on the rest:
        # the server's root path, or the app's own when it is wrapped from outside.
        roots = (root if isinstance(root, str) else "", self._app_root)
        return self._guard.verdict(forms, roots)


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 0


def verified_event(
    secrets: Secrets | None = None,
    *,
    tolerance: float | timedelta | None = None,
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    strict: bool = False,
    clock: Clock | None = None,
) -> Callable[[Request], Awaitable[Event]]:
    """Build a dependency that verifies the request and returns its event.

    In FastAPI::

        @app.post("/webhooks/boltcall")
        async def receive(event: Event = Depends(verified_event())) -> dict[str, str]: ...

    or, once per module, ``VerifiedEvent = Annotated[Event, Depends(verified_event())]``
    and ``event: VerifiedEvent``. Do not declare a body parameter on the webhook
    route: FastAPI would parse it before the signature is checked.

    In a plain Starlette endpoint, ``event = await verify(request)`` with
    ``verify = verified_event()`` built once.

    When :class:`BoltcallWebhookMiddleware` already verified the request, its
    event is returned as is. Otherwise the body is read (capped by
    ``Content-Length`` and by the bytes received) and verified; the endpoint
    can still ``await request.body()``. The event is also stored in
    ``request.state.boltcall_event``.

    Args:
        secrets: One secret, several, or a mapping ``event type -> secret(s)``;
            ``None`` reads ``BOLTCALL_WEBHOOK_SECRET`` at the first request.
        tolerance: Refuse events whose timestamp is further than this from now
            (seconds or ``timedelta``); ``None`` (default) is off.
        max_body_size: The largest body accepted, in bytes (413 above it);
            ``None`` removes the cap (not advised).
        strict: Refuse a known field of the wrong JSON type (400).
        clock: Returns "now" for the tolerance check (see
            :class:`~boltcall_webhooks.Verifier`).

    Returns:
        An async callable taking the ``Request``. It raises FastAPI's
        ``HTTPException`` (Starlette's when FastAPI is not installed) with the
        status of the shared mapping and the message as ``detail``: 401
        ``"Invalid signature"`` / ``"Missing signature"``, 413, 400, 405 (with
        ``Allow: POST``), 500 (logged) when no secret is configured.

    Raises:
        ImportError: Starlette is not installed.
        ConfigurationError: An explicit ``secrets``/option is invalid.
    """
    request_class, http_exception, client_disconnect = _framework()
    source = VerifierSource(
        secrets,
        {"tolerance": tolerance, "max_body_size": max_body_size, "strict": strict, "clock": clock},
    )

    def refuse(rejection: Rejection) -> HTTPException:
        headers = dict(rejection.headers) or None
        return http_exception(rejection.status, detail=rejection.message, headers=headers)

    async def boltcall_event(request: Request) -> Event:
        state: Mapping[str, object] = request.scope.get("state") or {}
        known = state.get(STATE_KEY)
        if isinstance(known, Event):
            return known  # verified by the middleware
        if request.method != "POST":
            raise refuse(METHOD_NOT_ALLOWED)
        try:
            verifier = source.get()
            length, signature = _read_headers(request.scope)
            if length is not None:
                verifier.check_size(length)
            body = await _read_request(request, verifier, client_disconnect)
            event = verifier.construct_event(body, signature)
        except WebhookError as exc:
            raise refuse(rejection_for(exc)) from exc
        except _Refused as refused:
            raise refuse(refused.rejection) from None
        request.scope.setdefault("state", {})[STATE_KEY] = event  # request.state.boltcall_event
        return event

    # FastAPI reads the signature to find the Request parameter; the annotation
    # must be the class itself (this module does not import Starlette eagerly).
    boltcall_event.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request_class
            )
        ],
        return_annotation=Event,
    )
    return boltcall_event


async def _verify_scope(
    scope: Scope,
    receive: Receive,
    source: VerifierSource,
    genuine: list[PayloadError] | None = None,
) -> tuple[Event, bytes] | Rejection | None:
    """The middleware's check: the event and its body, the refusal, or ``None`` if the client left.

    Shared by :class:`BoltcallWebhookMiddleware` and :func:`webhook_endpoint`:
    method, ``Content-Length`` (413 before a byte of the body is read), the
    body read from ``receive`` (capped), then the signature and the envelope.
    A signed body refused as not an envelope (its ``PayloadError``) is appended to
    ``genuine`` (if given).
    """
    if scope.get("method") != "POST":
        return METHOD_NOT_ALLOWED
    try:
        verifier = source.get()
        length, signature = _read_headers(scope)
        if length is not None:
            verifier.check_size(length)  # 413 before a byte of the body is read
        body = await _receive_body(receive, verifier)
        if body is None:
            return None
        return verifier.construct_event(body, signature), body
    except WebhookError as exc:
        kept = genuine_body(exc) if genuine is not None else None
        if kept is not None and genuine is not None:
            genuine.append(kept)
        return rejection_for(exc)
    except _Refused as refused:
        return refused.rejection


class _Refused(Exception):  # noqa: N818 - internal control flow, never escapes
    """Carries a rejection that is not a library error (bad length, disconnect)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def _check_paths(paths: Collection[str]) -> frozenset[str]:
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Collection):
        msg = 'paths must be a collection of exact paths, e.g. paths=["/webhooks/boltcall"].'
        raise ConfigurationError(msg)
    guarded = frozenset(paths)
    if not guarded:
        msg = "paths is empty: give the exact path(s) the middleware must guard."
        raise ConfigurationError(msg)
    for path in guarded:
        if not isinstance(path, str) or not path.startswith("/"):
            msg = f"Each guarded path must be a str starting with '/'; got {path!r}."
            raise ConfigurationError(msg)
    return guarded


def _read_headers(scope: Scope) -> tuple[int | None, str | None]:
    """Find Content-Length and the signature in the raw ASGI headers.

    A header repeated with the same value counts once; with different values
    it is refused (400 for the length, 401 for the signature).
    """
    length: bytes | None = None
    signature: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if length is not None and value != length:
                raise _Refused(BAD_CONTENT_LENGTH)
            length = value
        elif name == _SIGNATURE_KEY:
            if signature is not None and value != signature:
                msg = f"Several different {SIGNATURE_HEADER} headers were sent."
                raise InvalidSignatureError(msg)
            signature = value
    size: int | None = None
    if length is not None:
        digits = length.strip(b" \t")
        if digits.isdigit():  # bytes.isdigit(): ASCII digits only
            # More digits than any real body: over every cap (and beyond int()'s limit).
            size = int(digits) if len(digits) <= _MAX_LENGTH_DIGITS else _HUGE
        else:
            parsed = parse_content_length(length.decode("latin-1"))
            if isinstance(parsed, Rejection):
                raise _Refused(parsed)
            size = parsed
    return size, None if signature is None else signature.decode("latin-1")


async def _receive_body(receive: Receive, verifier: Verifier) -> bytes | None:
    """Read the whole body from ASGI messages, capped; ``None`` if the client left.

    A message may lack ``body`` or ``more_body`` (empty, and the last one).
    """
    message = await receive()
    if message.get("type") == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the usual small webhook: one message
        verifier.check_size(len(body))
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        kind = message.get("type")
        if kind == "http.disconnect":
            return None
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                verifier.check_size(size)  # counts what is streamed, whatever the headers said
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        message = await receive()


async def _read_request(
    request: Request, verifier: Verifier, disconnect: type[Exception]
) -> bytes:
    """Read the body through the Request, capped, and keep it for ``request.body()``."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            verifier.check_size(size)
            chunks.append(chunk)
    except disconnect:
        raise _Refused(CLIENT_DISCONNECTED) from None
    body = b"".join(chunks)
    # Starlette caches the body on the instance under this name; setting it lets
    # the endpoint (same Request in FastAPI) still read it after the stream is spent.
    request._body = body  # pyright: ignore[reportPrivateUsage, reportAttributeAccessIssue]
    return body


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the whole body once, then the real messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect, for streaming responses

    return replay


async def _send_rejection(send: Send, rejection: Rejection) -> None:
    body = rejection.body
    headers = [
        (b"content-type", rejection.content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers),
    ]
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _framework() -> tuple[type[Request], type[HTTPException], type[Exception]]:
    """Import Starlette's Request, the HTTPException to raise (FastAPI's if present)
    and the error a Request raises when the client leaves."""
    try:
        from starlette.exceptions import HTTPException
        from starlette.requests import ClientDisconnect, Request
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"verified_event() needs Starlette (or FastAPI): {_INSTALL_HINT}"
        raise ImportError(msg) from exc
    exception_class: type[HTTPException] = HTTPException
    try:
        from fastapi import HTTPException as FastAPIHTTPException
    except ImportError:
        pass
    else:
        exception_class = FastAPIHTTPException  # its handler answers {"detail": ...}
    return Request, exception_class, ClientDisconnect


# --------------------------------------------------------------------------- ready endpoint


def webhook_endpoint(
    *,
    router: Router | None = None,
    inbox: Inbox | None = None,
    secrets: Secrets | None = None,
    **options: Any,
) -> Callable[[Request], Awaitable[Response]]:
    """Build a ready endpoint that verifies each delivery, then runs the router or stores it.

    In Starlette, ``Route("/webhooks/boltcall", webhook_endpoint(router=router),
    methods=["POST"])``; in FastAPI, ``app.add_api_route("/webhooks/boltcall",
    webhook_endpoint(router=router), methods=["POST"])``.

    Verification is the middleware's (:class:`BoltcallWebhookMiddleware`): the
    same statuses and ``{"error": ...}`` bodies, secrets lookup and options;
    behind that middleware, its event is used as is (verified once). A
    verified event goes to ``await router.dispatch_async(event)``: ``async def``
    handlers are awaited, plain ones run in a worker thread, so the event loop
    never blocks. Answers: 200 ``{"received": true}`` once every handler
    returned; 500 ``{"error": "Handler failed"}`` when one raised (the others
    still run; one ERROR record with the traceback per failed handler, on the
    ``boltcall_webhooks`` logger).

    With ``inbox=``, a verified delivery is stored with ``await
    inbox.store_async`` (the event loop never blocks) and answered 200
    ``{"received": true, "duplicate": false}`` once committed (``"duplicate":
    true`` for one already stored); 503 ``{"error": "Inbox unavailable"}``
    (logged) when storing failed, never a 200. A signed body that is not an
    envelope is stored too (``dead``), then refused 400 (behind the middleware,
    the middleware refuses it before the endpoint runs). A worker runs the
    router's handlers.

    Args:
        router: The :class:`~boltcall_webhooks.Router` whose handlers run.
        inbox: The :class:`~boltcall_webhooks.inbox.Inbox` that stores each
            delivery before the answer; exactly one of ``router`` and ``inbox``.
        secrets: One secret, several, or a mapping ``event type -> secret(s)``;
            ``None`` reads ``BOLTCALL_WEBHOOK_SECRET`` at the first request.
        **options: ``max_body_size`` (default 1 MiB), ``tolerance``, ``strict``, ``clock``.

    Returns:
        ``async def endpoint(request) -> Response``.

    Raises:
        ImportError: Starlette is not installed.
        TypeError: Both or neither of ``router`` and ``inbox``, a ``router``
            that is not a ``Router``, an ``inbox`` that is not an ``Inbox``,
            or an unknown option.
        ConfigurationError: An explicit ``secrets``/option is invalid.
    """
    check_target(router, inbox)
    source = VerifierSource(secrets, options)
    if inbox is not None:
        return _inbox_endpoint(inbox, source)
    return _router_endpoint(cast("Router", router), source)


def _router_endpoint(
    router: Router, source: VerifierSource
) -> Callable[[Request], Awaitable[Response]]:
    request_class, response_class = _endpoint_classes()

    def answer(rejection: Rejection) -> Response:
        return response_class(
            rejection.body,
            status_code=rejection.status,
            headers=dict(rejection.headers),
            media_type=rejection.content_type,
        )

    async def boltcall_webhook_endpoint(request: Request) -> Response:
        scope = request.scope
        state = scope.get("state")
        known = state.get(STATE_KEY) if state else None
        if isinstance(known, Event):
            event: Event = known  # verified by the middleware
        else:
            outcome = await _verify_scope(scope, request.receive, source)
            if outcome is None:
                return answer(CLIENT_DISCONNECTED)  # nobody listens; Starlette needs a response
            if isinstance(outcome, Rejection):
                return answer(outcome)
            event = outcome[0]
        try:
            await router.dispatch_async(event)
        except DispatchError as error:
            log_failures(error, event)
            return answer(HANDLER_FAILED)
        return response_class(RECEIVED_BODY, media_type=JSON_CONTENT_TYPE)

    _declare_request(boltcall_webhook_endpoint, request_class, response_class)
    return boltcall_webhook_endpoint


def _inbox_endpoint(
    inbox: Inbox, source: VerifierSource
) -> Callable[[Request], Awaitable[Response]]:
    """The ``inbox=`` branch: store the verified body (off the loop), then answer."""
    check_inbox(inbox)
    store_verified = _verified_store(inbox)
    request_class, response_class = _endpoint_classes()

    def answer(rejection: Rejection) -> Response:
        return response_class(
            rejection.body,
            status_code=rejection.status,
            headers=dict(rejection.headers),
            media_type=rejection.content_type,
        )

    async def boltcall_webhook_endpoint(request: Request) -> Response:
        scope = request.scope
        state = scope.get("state")
        known = state.get(STATE_KEY) if state else None
        if isinstance(known, Event):
            event: Event = known
            body = await request.body()  # verified by the middleware, which replays the body
        else:
            genuine: list[PayloadError] = []
            outcome = await _verify_scope(scope, request.receive, source, genuine)
            if outcome is None:
                return answer(CLIENT_DISCONNECTED)  # nobody listens; Starlette needs a response
            if isinstance(outcome, Rejection):
                if genuine:  # signed, not an envelope: kept (dead) for a person to look at
                    try:
                        await inbox.store_async(
                            genuine[0].body, refused=refusal(genuine[0]), headers=request.headers
                        )
                    except Exception as error:  # any failure: not stored
                        return answer(log_store_failure(error))
                return answer(outcome)
            event, body = outcome
        try:
            if store_verified is not None:
                stored = await store_verified(body, event)
            else:
                stored = await inbox.store_async(body, headers=request.headers)
        except Exception as error:  # any failure: not stored, never a 200
            return answer(log_store_failure(error))
        return response_class(stored_body(stored), media_type=JSON_CONTENT_TYPE)

    _declare_request(boltcall_webhook_endpoint, request_class, response_class)
    return boltcall_webhook_endpoint


def _verified_store(inbox: Inbox) -> Callable[[bytes, Event], Awaitable[Stored]] | None:
    """``Inbox._store_verified_async`` (no second parse of the body), unless overridden.

    A subclass that overrides ``store_async`` gets its own method called.
    """
    from boltcall_webhooks.inbox import Inbox as InboxClass  # imported when first needed

    if type(inbox).store_async is not InboxClass.store_async:
        return None
    return inbox._store_verified_async  # pyright: ignore[reportPrivateUsage] - our own endpoint


def _endpoint_classes() -> tuple[type[Request], type[Response]]:
    try:
        from starlette.requests import Request
        from starlette.responses import Response
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"webhook_endpoint() needs Starlette (or FastAPI): {_INSTALL_HINT}"
        raise ImportError(msg) from exc
    return Request, Response


def _declare_request(
    endpoint: Callable[..., object], request_class: type[Request], response_class: type[Response]
) -> None:
    """Let FastAPI see the ``Request`` parameter (this module imports Starlette lazily)."""
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request_class
            )
        ],
        return_annotation=response_class,
    )
