"""Flask adapter: a ready webhook view, and a route decorator that verifies Boltcall webhooks.

The shortest way: a :class:`~boltcall_webhooks.Router` behind a ready view::

    app.add_url_rule(
        "/webhooks/boltcall", view_func=webhook_view(router=router), methods=["POST"]
    )

Your own view, with the decorator::

    from boltcall_webhooks.flask import verify_webhook

    @app.post("/webhooks/boltcall")
    @verify_webhook()
    def boltcall_webhook(event):
        ...
        return "", 204

The decorator goes *below* ``@app.route`` / ``@app.post``: the route decorator
must register the verifying wrapper, not the bare view.

Requests are refused before the view runs, with a JSON body
``{"error": ...}``:

======================================  ======
what                                    status
======================================  ======
missing, malformed or wrong signature   401
body larger than ``max_body_size``      413
signed body that is not an envelope     400
body the server cannot read             400 (``Invalid body``)
method other than ``POST``              405
no secret configured                    500 (logged)
======================================  ======
"""

from __future__ import annotations

import functools
import inspect
import io
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast, overload

try:
    from flask import current_app, g, request
    from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
except ImportError as _missing:  # pragma: no cover - exercised only without Flask
    msg = (
        "boltcall_webhooks.flask needs Flask; install it with "
        'pip install "boltcall-webhooks[flask]"'
    )
    raise ImportError(msg) from _missing

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
from boltcall_webhooks._errors import PayloadError, PayloadTooLargeError, WebhookError
from boltcall_webhooks._http import (
    CLIENT_DISCONNECTED,
    METHOD_NOT_ALLOWED,
    Rejection,
    ServerInput,
    UnreadableBodyError,
    VerifierSource,
    parse_content_length,
    rejection_for,
    rejection_for_unreadable,
)
from boltcall_webhooks._router import DispatchError
from boltcall_webhooks._signing import SIGNATURE_HEADER

if TYPE_CHECKING:
    from flask import Request
    from flask.typing import ResponseReturnValue
    from werkzeug.wrappers import Response

    from boltcall_webhooks._events import Event
    from boltcall_webhooks._router import Router
    from boltcall_webhooks._secrets import Secrets
    from boltcall_webhooks._verifier import Verifier
    from boltcall_webhooks.inbox import Inbox

__all__ = ["CONFIG_KEY", "verify_webhook", "webhook_view"]

CONFIG_KEY = "BOLTCALL_WEBHOOK_SECRET"
"""The ``app.config`` key read when the decorator is given no secrets."""

View = Callable[..., Any]

_SIGNATURE_KEY = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")


@overload
def verify_webhook(secrets: View, /) -> Callable[..., ResponseReturnValue]: ...


@overload
def verify_webhook(
    secrets: Secrets | None = None, **options: Any
) -> Callable[[View], Callable[..., ResponseReturnValue]]: ...


def verify_webhook(
    secrets: Secrets | View | None = None, **options: Any
) -> Callable[..., ResponseReturnValue] | Callable[[View], Callable[..., ResponseReturnValue]]:
    """Verify the Boltcall signature before a Flask view runs.

    The view receives the typed event as the ``event`` keyword argument (next
    to any URL variables); it is also stored as ``flask.g.boltcall_event``.
    Sync and ``async def`` views both work (async views need ``flask[async]``).
    ``@verify_webhook`` without parentheses is the same as ``@verify_webhook()``.

    Args:
        secrets: One secret, several (rotation), or a mapping
            ``event type -> secret(s)``. ``None`` reads
            ``app.config["BOLTCALL_WEBHOOK_SECRET"]`` at request time, else the
            ``BOLTCALL_WEBHOOK_SECRET`` environment variable.
        **options: ``max_body_size`` (default 1 MiB), ``tolerance``,
            ``strict`` and ``clock``, as for :class:`~boltcall_webhooks.Verifier`.

    Returns:
        A decorator for the view.

    Raises:
        ConfigurationError: The ``secrets`` given are unusable (at decoration time).
        TypeError: An unknown option, or a view that cannot take ``event=``.
    """
    if callable(secrets):
        if options:
            msg = "Pass options with parentheses: @verify_webhook(max_body_size=...)."
            raise TypeError(msg)
        return verify_webhook()(secrets)
    source = VerifierSource(secrets, options, _configured_secrets)

    def decorate(view: View) -> Callable[..., ResponseReturnValue]:
        _check_accepts_event(view)
        is_async = inspect.iscoroutinefunction(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            # One proxy lookup per request instead of one per attribute.
            req = cast("Request", request._get_current_object())  # type: ignore[attr-defined]
            outcome = _verify(req, source)
            if isinstance(outcome, Rejection):
                return _respond(outcome)
            g.boltcall_event = outcome
            kwargs["event"] = outcome
            if is_async:
                # Flask runs coroutine views through the app's ensure_sync.
                return current_app.ensure_sync(view)(*args, **kwargs)  # type: ignore[no-any-return]
            return view(*args, **kwargs)  # type: ignore[no-any-return]

        return wrapper

    return decorate


def _configured_secrets() -> Secrets | None:
    return cast("Secrets | None", _config().get(CONFIG_KEY))


def _config() -> Mapping[str, object]:
    return current_app.config


def _verify(
    req: Request, source: VerifierSource, genuine: list[PayloadError] | None = None
) -> Event | Rejection:
    """Check method, size and signature; return the event or the refusal.

    A signed body refused as not an envelope (its ``PayloadError``) is appended to
    ``genuine`` (if given).
    """
    if req.method != "POST":
        return METHOD_NOT_ALLOWED
    try:
        verifier = source.get()
        body = _read_body(req, verifier)
        if isinstance(body, Rejection):
            return body
        return verifier.construct_event(body, req.environ.get(_SIGNATURE_KEY))
    except WebhookError as error:
        kept = genuine_body(error) if genuine is not None else None
        if kept is not None and genuine is not None:
            genuine.append(kept)
        return rejection_for(error)
    except UnreadableBodyError as error:
        # The server's stream refused the body (gunicorn's InvalidChunkSize for a
        # malformed chunked encoding...): the client's fault, answered 400.
        return rejection_for_unreadable(error)
    except (OSError, ClientDisconnected):
        # The client left or cut its body short (a reset; gunicorn's NoMoreData
        # for a chunked body that ends early): there is nothing to verify.
        return CLIENT_DISCONNECTED
    except RequestEntityTooLarge:
        # Flask's own MAX_CONTENT_LENGTH is lower than ours.
        limit = _config().get("MAX_CONTENT_LENGTH")
        return rejection_for(_too_large(limit if isinstance(limit, int) else 0, None))


def _read_body(req: Request, verifier: Verifier) -> bytes | Rejection:
    """Read the raw body once, refusing it as soon as it exceeds the cap.

    An announced ``Content-Length`` above the cap is refused without reading.
    With no ``Content-Length`` (a chunked upload), the server's input stream
    is wrapped so that reading stops one byte past the cap. The body is read
    with ``get_data(cache=True)``, so the view can call ``request.get_data()``
    again and get the same bytes. Without ``Content-Length``, a body that
    reaches Flask's ``MAX_CONTENT_LENGTH`` is refused too (Werkzeug truncates
    streamed bodies there). The server's stream is wrapped first, so that any
    error it raises while reading (other than ``OSError``) is an
    :class:`UnreadableBodyError`.
    """
    environ = req.environ
    if environ.get("wsgi.input") is not None:
        environ["wsgi.input"] = ServerInput(environ["wsgi.input"])
    length = parse_content_length(environ.get("CONTENT_LENGTH"))
    if isinstance(length, Rejection):
        return length
    limit = verifier.max_body_size
    if length is not None:
        verifier.check_size(length)
        return req.get_data(cache=True)
    if limit is not None and environ.get("wsgi.input_terminated"):
        # Werkzeug reads a terminated stream to its end: put a cap in front.
        environ["wsgi.input"] = _CappedInput(environ["wsgi.input"], limit)
    body = req.get_data(cache=True)
    flask_limit = req.max_content_length
    if flask_limit is not None and len(body) >= flask_limit:
        # Werkzeug cuts a streamed body at MAX_CONTENT_LENGTH without an error;
        # a body that reached it was most likely cut.
        raise _too_large(flask_limit, len(body))
    return body


class _CappedInput(io.RawIOBase):
    """A read-only stream that raises once more than ``limit`` bytes came through."""

    def __init__(self, raw: Any, limit: int) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        # Never ask for more than one byte past the cap.
        wanted = min(len(view), self._limit + 1 - self._seen)
        data: bytes = self._raw.read(wanted)
        self._seen += len(data)
        if self._seen > self._limit:
            raise _too_large(self._limit, self._seen)
        view[: len(data)] = data
        return len(data)


def _too_large(limit: int, size: int | None) -> PayloadTooLargeError:
    msg = f"The body is larger than the limit of {limit} bytes."
    return PayloadTooLargeError(msg, max_body_size=limit, size=size)


def _respond(rejection: Rejection) -> Response:
    response: Response = current_app.response_class(
        rejection.body,
        status=rejection.status,
        headers=list(rejection.headers),
        content_type=rejection.content_type,
    )
    return response


def _check_accepts_event(view: View) -> None:
    """Fail at decoration time, not per request, when the view cannot take ``event=``."""
    try:
        parameters = inspect.signature(view).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins and odd callables
        return
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return
        if parameter.name == "event" and parameter.kind in {
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        }:
            return
    name = getattr(view, "__qualname__", repr(view))
    msg = f"{name} must accept an 'event' keyword argument to use @verify_webhook."
    raise TypeError(msg)


# --------------------------------------------------------------------------- ready view


def webhook_view(
    *,
    router: Router | None = None,
    inbox: Inbox | None = None,
    secrets: Secrets | None = None,
    **options: Any,
) -> Callable[..., ResponseReturnValue]:
    """Build a ready view that verifies each delivery, then runs the router or stores it.

    ::

        app.add_url_rule(
            "/webhooks/boltcall", view_func=webhook_view(router=router), methods=["POST"]
        )

    Verification is the decorator's (:func:`verify_webhook`): the same
    statuses, secrets lookup and options. A verified event goes to
    ``router.dispatch``; ``async def`` handlers are run to completion in the
    request. Answers: 200 ``{"received": true}`` once every handler returned;
    500 ``{"error": "Handler failed"}`` when one raised (the others still run;
    one ERROR record with the traceback per failed handler, on the
    ``boltcall_webhooks`` logger); the refusals of :func:`verify_webhook`
    otherwise.

    With ``inbox=``, a verified delivery is stored (``inbox.store``) and
    answered 200 ``{"received": true, "duplicate": false}`` once committed
    (``"duplicate": true`` for a delivery already stored); 503 ``{"error":
    "Inbox unavailable"}`` (logged) when storing failed, never a 200. A signed
    body that is not an envelope is stored too (``dead``), then refused 400.
    A worker (``inbox.work(router)``, ``boltcall-webhooks inbox work`` or
    ``inbox.start_worker(router)``) runs the handlers.

    The view's endpoint name is ``boltcall_webhook_view``: pass ``endpoint=``
    to ``add_url_rule`` to register a second one.

    Args:
        router: The :class:`~boltcall_webhooks.Router` whose handlers run.
        inbox: The :class:`~boltcall_webhooks.inbox.Inbox` that stores each
            delivery before the answer; exactly one of ``router`` and ``inbox``.
        secrets: As for :func:`verify_webhook` (``None``: ``app.config``, then
            the environment, at request time).
        **options: ``max_body_size``, ``tolerance``, ``strict``, ``clock``.

    Returns:
        The view function.

    Raises:
        TypeError: Both or neither of ``router`` and ``inbox``, a ``router``
            that is not a ``Router``, an ``inbox`` that is not an ``Inbox``,
            or an unknown option.
        ConfigurationError: The ``secrets`` given are unusable.
    """
    check_target(router, inbox)
    source = VerifierSource(secrets, options, _configured_secrets)
    if inbox is not None:
        return _inbox_view(inbox, source)
    return _router_view(cast("Router", router), source)


def _router_view(router: Router, source: VerifierSource) -> Callable[..., Response]:
    def boltcall_webhook_view(**_url_values: object) -> Response:
        req = cast("Request", request._get_current_object())  # type: ignore[attr-defined]
        outcome = _verify(req, source)
        if isinstance(outcome, Rejection):
            return _respond(outcome)
        g.boltcall_event = outcome
        try:
            router.dispatch(outcome)
        except DispatchError as error:
            log_failures(error, outcome)
            return _respond(HANDLER_FAILED)
        return _received()

    return boltcall_webhook_view


def _inbox_view(inbox: Inbox, source: VerifierSource) -> Callable[..., Response]:
    """The ``inbox=`` branch: store the verified body, then answer."""
    check_inbox(inbox)

    def boltcall_webhook_view(**_url_values: object) -> Response:
        req = cast("Request", request._get_current_object())  # type: ignore[attr-defined]
        genuine: list[PayloadError] = []
        outcome = _verify(req, source, genuine)
        if isinstance(outcome, Rejection):
            if genuine:  # signed, not an envelope: kept (dead) for a person to look at
                try:
                    inbox.store(
                        genuine[0].body, refused=refusal(genuine[0]), headers=dict(req.headers)
                    )
                except Exception as error:  # any failure: not stored
                    return _respond(log_store_failure(error))
            return _respond(outcome)
        g.boltcall_event = outcome
        try:
            stored = inbox.store(req.get_data(cache=True), headers=dict(req.headers))
        except Exception as error:  # any failure: not stored, never a 200
            return _respond(log_store_failure(error))
        response: Response = current_app.response_class(
            stored_body(stored), status=200, content_type=JSON_CONTENT_TYPE
        )
        return response

    return boltcall_webhook_view


def _received() -> Response:
    response: Response = current_app.response_class(
        RECEIVED_BODY, status=200, content_type=JSON_CONTENT_TYPE
    )
    return response
