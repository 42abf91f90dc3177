"""Django adapter: a class-based view, a middleware and a function-view decorator.

Pick one entry point per webhook URL::

    # 0. the ready view: verifies, then runs a Router's handlers
    path("webhooks/boltcall/", BoltcallWebhookView.as_view(router=router))

    # 1. class-based view (CSRF-exempt, login not required, POST only)
    class BoltcallWebhook(BoltcallWebhookView):
        def handle_event(self, request, event):
            ...  # return an HttpResponse, or None for an empty 200

    # 2. function view
    @verify_webhook()
    def boltcall_webhook(request, event):
        ...

    # 3. middleware guarding settings.BOLTCALL_WEBHOOK_PATHS; the view reads
    #    request.boltcall_event

Secrets come from the argument (``boltcall_secrets`` on the view), else
``settings.BOLTCALL_WEBHOOK_SECRET``, else the ``BOLTCALL_WEBHOOK_SECRET``
environment variable. Requests are refused before user code runs, with a JSON
body ``{"error": ...}``: 401 for a missing, malformed or wrong signature; 413
for a body above ``max_body_size`` (or Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``);
400 for a signed body that is not an event envelope, or for a body the server
cannot read (``Invalid body``: a malformed chunked encoding); 405 for a method
other than ``POST``; 500 (logged) when no secret is configured.
"""

from __future__ import annotations

import functools
import inspect
import io
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar, cast, overload

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
    from django.http import HttpRequest, HttpResponse
    from django.http.request import RawPostDataException
    from django.http.response import HttpResponseBase
    from django.urls import Resolver404, ResolverMatch, get_resolver
    from django.utils.decorators import classonlymethod
    from django.utils.functional import classproperty
    from django.utils.translation import get_language
    from django.views import View
except ImportError as _missing:  # pragma: no cover - exercised only without Django
    msg = (
        "boltcall_webhooks.django needs Django; install it with "
        'pip install "boltcall-webhooks[django]"'
    )
    raise ImportError(msg, name=_missing.name) from _missing

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
    PayloadError,
    PayloadTooLargeError,
    WebhookError,
)
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
    unreadable_body,
)
from boltcall_webhooks._paths import INVALID_PATH, PathGuard, PathVerdict
from boltcall_webhooks._router import DispatchError, Router
from boltcall_webhooks._signing import SIGNATURE_HEADER

if TYPE_CHECKING:
    from boltcall_webhooks._events import Event
    from boltcall_webhooks._secrets import Secrets
    from boltcall_webhooks._verifier import Verifier
    from boltcall_webhooks.inbox import Inbox

    _ViewBase = View
else:
    _ViewBase = object

__all__ = [
    "BoltcallWebhookMiddleware",
    "BoltcallWebhookMixin",
    "BoltcallWebhookView",
    "verify_webhook",
]

P = ParamSpec("P")
R = TypeVar("R")

_SECRET_SETTING = "BOLTCALL_WEBHOOK_SECRET"  # noqa: S105 - a setting name
_PATHS_SETTING = "BOLTCALL_WEBHOOK_PATHS"
_PATH_CHECKED = "_boltcall_path_checked"  # set on a request the middleware judged guarded
_MAX_RESOLVERS = 64  # URL resolvers (URLconfs x languages) whose guarded matches are cached
_SIGNATURE_KEY = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_CHUNK = 64 * 1024
_OPTION_SETTINGS: Mapping[str, str] = {
    "max_body_size": "BOLTCALL_WEBHOOK_MAX_BODY_SIZE",
    "tolerance": "BOLTCALL_WEBHOOK_TOLERANCE",
    "strict": "BOLTCALL_WEBHOOK_STRICT",
}


# --------------------------------------------------------------------------- shared


def _configured_secrets() -> Secrets | None:
    secrets: Secrets | None = getattr(settings, _SECRET_SETTING, None)
    return secrets


def _verify(
    request: HttpRequest, source: VerifierSource, genuine: list[PayloadError] | None = None
) -> Event | HttpResponse:
    """Check method, size and signature; return the event or the refusal.

    On success the event is also stored as ``request.boltcall_event``. A signed
    body refused as not an envelope (its ``PayloadError``) is appended to
    ``genuine`` (if given).
    """
    if request.method != "POST":
        return _respond(METHOD_NOT_ALLOWED)
    try:
        verifier = source.get()
        body = _read_body(request, verifier)
        if isinstance(body, Rejection):
            return _respond(body)
        event = verifier.construct_event(body, request.META.get(_SIGNATURE_KEY))
    except WebhookError as error:
        kept = genuine_body(error) if genuine is not None else None
        if kept is not None and genuine is not None:
            genuine.append(kept)
        return _respond(rejection_for(error))
    except UnreadableBodyError as error:
        # The server's stream refused the body (gunicorn's InvalidChunkSize for a
        # malformed chunked encoding...): the client's fault, answered 400.
        return _respond(rejection_for_unreadable(error))
    except OSError:
        # The client left or cut its body short (Django's UnreadablePostError,
        # gunicorn's NoMoreData): there is nothing to verify.
        return _respond(CLIENT_DISCONNECTED)
    request.boltcall_event = event  # type: ignore[attr-defined]
    return event


def _read_body(request: HttpRequest, verifier: Verifier) -> bytes | Rejection:
    """Read ``request.body`` once, refusing it above the cap.

    An announced ``Content-Length`` above the cap is refused unread. Django
    reads nothing from a WSGI request without ``Content-Length``; when the
    server says it terminates the input itself (``wsgi.input_terminated``, as
    gunicorn does for chunked uploads), the adapter reads it itself, up to one
    byte past the cap, so a genuine chunked delivery is not lost. With no cap,
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds that read. An error that the
    server's WSGI input raises while it is read (other than ``OSError``) is an
    :class:`UnreadableBodyError`.
    """
    length = parse_content_length(request.META.get("CONTENT_LENGTH"))
    if isinstance(length, Rejection):
        return length
    limit = verifier.max_body_size
    if length is not None:
        verifier.check_size(length)
    elif request.META.get("wsgi.input_terminated") and not hasattr(request, "_body"):
        if limit is None:
            limit = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None)
        data = _read_terminated(ServerInput(request.META["wsgi.input"]), limit)
        # Hand Django the bytes read, as if they had come with a Content-Length.
        cast("Any", request)._stream = io.BytesIO(data)
    try:
        return request.body
    except RequestDataTooBig:
        size = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) or 0
        msg = "The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."
        raise PayloadTooLargeError(msg, max_body_size=int(size)) from None
    except RawPostDataException:
        msg = (
            "The request body was read before the webhook check (a middleware above it "
            "touched request.POST?); it cannot be verified."
        )
        raise ConfigurationError(msg) from None
    except Exception as error:
        # Django reads the server's WSGI input here and turns only OSError into
        # UnreadablePostError; anything else came from the server's stream.
        unreadable = unreadable_body(error) if "wsgi.input" in request.META else None
        if unreadable is None:
            raise
        raise unreadable from error


def _read_terminated(stream: Any, limit: int | None) -> bytes:
    """Read a server-terminated input to its end, stopping one byte past ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        wanted = _CHUNK if limit is None else min(_CHUNK, limit + 1 - total)
        chunk: bytes = stream.read(wanted)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            msg = f"The streamed body is larger than the limit of {limit} bytes."
            raise PayloadTooLargeError(msg, max_body_size=limit, size=total)


def _respond(rejection: Rejection) -> HttpResponse:
    response = HttpResponse(
        rejection.body, status=rejection.status, content_type=rejection.content_type
    )
    for name, value in rejection.headers:
        response[name] = value
    return response


async def _ready(response: HttpResponseBase) -> HttpResponseBase:
    return response


def _exempt(view: Callable[..., Any]) -> None:
    """Mark a view CSRF-exempt and login-not-required (Django 5.1+), on every version."""
    marked = cast("Any", view)
    marked.csrf_exempt = True
    marked.login_required = False


# --------------------------------------------------------------------------- class-based views


class BoltcallWebhookMixin(_ViewBase):
    """Verify the webhook in ``dispatch``, before the ``post`` handler runs.

    Mix it into a :class:`django.views.View` subclass ahead of the view class.
    The handler then finds the typed event in ``self.event`` (and
    ``request.boltcall_event``). Only ``POST`` is served (405 otherwise). The
    view returned by ``as_view()`` is CSRF-exempt and exempt from
    ``LoginRequiredMiddleware``, even when a subclass overrides ``dispatch``.

    Attributes:
        boltcall_secrets: The secrets (``None``: settings, then environment).
            Can also be given as ``as_view(boltcall_secrets=...)``.
        boltcall_options: ``max_body_size``, ``tolerance``, ``strict``, ``clock``.
    """

    boltcall_secrets: ClassVar[Secrets | None] = None
    boltcall_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    _boltcall_source: VerifierSource | None = None
    event: Event

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:  # noqa: N805
        """Build the view; the verifier is configured once here."""
        secrets = initkwargs.get("boltcall_secrets", cls.boltcall_secrets)
        options = initkwargs.get("boltcall_options", cls.boltcall_options)
        initkwargs["_boltcall_source"] = VerifierSource(secrets, options, _configured_secrets)
        view = super().as_view(**initkwargs)
        _exempt(view)
        return view

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Verify, then hand over to the HTTP method handler."""
        source = self._boltcall_source
        if source is None:  # instantiated without as_view()
            source = VerifierSource(
                self.boltcall_secrets, self.boltcall_options, _configured_secrets
            )
            self._boltcall_source = source
        outcome = _verify(request, source)
        if isinstance(outcome, HttpResponseBase):
            if self.view_is_async:
                return _ready(outcome)  # type: ignore[return-value]
            return outcome
        self.event = outcome
        return super().dispatch(request, *args, **kwargs)


class BoltcallWebhookView(BoltcallWebhookMixin, View):
    """A ready webhook view: ``as_view(router=router)``, or implement ``handle_event``.

    With ``as_view(router=router)`` (and ``handle_event`` not overridden) each
    verified event goes to the :class:`~boltcall_webhooks.Router`: 200
    ``{"received": true}`` once every handler returned, 500 ``{"error":
    "Handler failed"}`` when one raised (the others still run; one ERROR record
    with the traceback per failed handler, on the ``boltcall_webhooks``
    logger). The view is sync (``router.dispatch``: ``async def`` handlers run
    to completion in the request); ``as_view(router=router, boltcall_async=True)``
    makes it async for ASGI (``router.dispatch_async``: sync handlers run in a
    worker thread, never blocking the event loop). ``boltcall_secrets=`` and
    ``boltcall_options=`` work as for any subclass.

    With ``as_view(inbox=inbox)`` each verified delivery is stored
    (``inbox.store``; ``await inbox.store_async`` in the async view, with
    ``boltcall_async=True``) and answered 200 ``{"received": true,
    "duplicate": false}`` once committed (``"duplicate": true`` for one already
    stored); 503 ``{"error": "Inbox unavailable"}`` (logged) when storing
    failed, never a 200. A signed body that is not an envelope is stored too
    (``dead``), then refused 400. A worker runs the router's handlers.

    Otherwise subclass it and implement ``handle_event(self, request, event)``,
    a plain or an ``async def`` method (the view is async when it is). It
    returns an ``HttpResponse``, or ``None`` for an empty 200. An exception it
    raises is Django's usual 500, never a 401.

    Attributes:
        router: The router whose handlers run (``as_view(router=...)``).
        inbox: The :class:`~boltcall_webhooks.inbox.Inbox` that stores each
            delivery before the answer (``as_view(inbox=...)``); exactly one of
            ``router`` and ``inbox``.
        boltcall_async: Serve the ready view as an async view (ASGI).
    """

    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]
    router: ClassVar[Router | None] = None
    inbox: ClassVar[Inbox | None] = None
    boltcall_async: ClassVar[bool] = False

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:  # noqa: N805
        """Build the view: ``router=`` (or ``inbox=``) when ``handle_event`` is not overridden.

        Raises:
            TypeError: ``router=``/``inbox=`` with an overridden ``handle_event``,
                both of them, neither of them without ``handle_event``, a
                ``router`` that is not a ``Router`` or an ``inbox`` that is not
                an ``Inbox``.
            ConfigurationError: Unusable secrets.
        """
        router = initkwargs.get("router", cls.router)
        inbox = initkwargs.get("inbox", cls.inbox)
        if _implements_handle_event(cls):
            if router is not None or inbox is not None:
                msg = (
                    f"{cls.__name__} implements handle_event: it handles events itself; "
                    "pass router= or inbox= to BoltcallWebhookView.as_view() instead."
                )
                raise TypeError(msg)
            return super().as_view(**initkwargs)
        if router is None and inbox is None:
            msg = (
                f"{cls.__name__}.as_view() needs router= or inbox=, or a subclass that "
                "implements handle_event(self, request, event)."
            )
            raise TypeError(msg)
        check_target(router, inbox)
        if inbox is not None:
            check_inbox(inbox)
        view_class = cls
        asynchronous = bool(initkwargs.get("boltcall_async", cls.boltcall_async))
        if asynchronous != cls.boltcall_async:
            # Django reads view_is_async from the class: one subclass per choice.
            view_class = type(
                cls.__name__,
                (cls,),
                {"boltcall_async": asynchronous, "__module__": cls.__module__},
            )
        as_view = super(BoltcallWebhookView, view_class).as_view
        return as_view(**initkwargs)

    @classproperty
    def view_is_async(cls) -> bool:  # noqa: N805
        """Whether ``handle_event`` is a coroutine function (ready view: ``boltcall_async``)."""
        if not _implements_handle_event(cast("type[BoltcallWebhookView]", cls)):
            return cls.boltcall_async
        return iscoroutinefunction(cls.handle_event)

    def handle_event(
        self, request: HttpRequest, event: Event
    ) -> HttpResponseBase | Awaitable[HttpResponseBase | None] | None:
        """Handle a verified event (override this)."""
        msg = f"{type(self).__name__} must implement handle_event(self, request, event)."
        raise NotImplementedError(msg)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Run the router's handlers, or call ``handle_event``, with the verified event."""
        if self.router is not None:
            # The ready view (as_view checked that handle_event is not overridden):
            # view_is_async is boltcall_async, read directly on this hot path.
            if self.boltcall_async:
                return self._dispatch_async(self.router, self.event)  # type: ignore[return-value]
            return _dispatch(self.router, self.event)
        result = self.handle_event(request, self.event)
        if result is None:
            return HttpResponse()
        if isinstance(result, HttpResponseBase) or not inspect.isawaitable(result):
            return result  # anything else: Django reports the wrong return type
        return self._finish(result)  # type: ignore[return-value]

    async def _finish(self, pending: Awaitable[HttpResponseBase | None]) -> HttpResponseBase:
        result = await pending
        return HttpResponse() if result is None else result

    async def _dispatch_async(self, router: Router, event: Event) -> HttpResponse:
        try:
            await router.dispatch_async(event)
        except DispatchError as error:
            log_failures(error, event)
            return _respond(HANDLER_FAILED)
        return HttpResponse(RECEIVED_BODY, content_type=JSON_CONTENT_TYPE)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Verify, then store into the inbox (``inbox=``) or hand over to ``post``."""
        inbox = self.inbox
        if inbox is None:
            return super().dispatch(request, *args, **kwargs)
        source = self._boltcall_source
        if source is None:  # instantiated without as_view()
            source = VerifierSource(
                self.boltcall_secrets, self.boltcall_options, _configured_secrets
            )
            self._boltcall_source = source
        genuine: list[PayloadError] = []
        outcome = _verify(request, source, genuine)
        if self.view_is_async:
            return self._store_async(inbox, request, outcome, genuine)  # type: ignore[return-value]
        if isinstance(outcome, HttpResponseBase):
            if genuine:  # signed, not an envelope: kept (dead) for a person to look at
                try:
                    inbox.store(
                        genuine[0].body, refused=refusal(genuine[0]), headers=request.headers
                    )
                except Exception as error:  # any failure: not stored
                    return _respond(log_store_failure(error))
            return outcome
        self.event = outcome
        try:
            stored = inbox.store(request.body, headers=request.headers)
        except Exception as error:  # any failure: not stored, never a 200
            return _respond(log_store_failure(error))
        return HttpResponse(stored_body(stored), content_type=JSON_CONTENT_TYPE)

    async def _store_async(
        self,
        inbox: Inbox,
        request: HttpRequest,
        outcome: Event | HttpResponse,
        genuine: list[PayloadError],
    ) -> HttpResponseBase:
        """The async ``inbox=`` view: ``await inbox.store_async`` (the loop never blocks)."""
        if isinstance(outcome, HttpResponseBase):
            if genuine:
                try:
                    await inbox.store_async(
                        genuine[0].body, refused=refusal(genuine[0]), headers=request.headers
                    )
                except Exception as error:  # any failure: not stored
                    return _respond(log_store_failure(error))
            return outcome
        self.event = outcome
        try:
            stored = await inbox.store_async(request.body, headers=request.headers)
        except Exception as error:  # any failure: not stored, never a 200
            return _respond(log_store_failure(error))
        return HttpResponse(stored_body(stored), content_type=JSON_CONTENT_TYPE)


def _dispatch(router: Router, event: Event) -> HttpResponse:
    """Run every handler for the event in the request (sync view)."""
    try:
        router.dispatch(event)
    except DispatchError as error:
        log_failures(error, event)
        return _respond(HANDLER_FAILED)
    return HttpResponse(RECEIVED_BODY, content_type=JSON_CONTENT_TYPE)


def _implements_handle_event(cls: type[BoltcallWebhookView]) -> bool:
    handle_event: object = cls.handle_event
    return handle_event is not cast("object", BoltcallWebhookView.handle_event)


# --------------------------------------------------------------------------- middleware


class BoltcallWebhookMiddleware:
    """Verify webhooks on the paths listed in ``settings.BOLTCALL_WEBHOOK_PATHS``.

    A forged or unreadable request on a guarded path is answered here (the
    view never runs); a verified one carries ``request.boltcall_event`` and is
    exempt from the CSRF check wherever this middleware stands in
    ``MIDDLEWARE``. Other paths pass untouched. Works under WSGI and ASGI.

    A guarded path is guarded in every spelling: compared by a canonical key
    (percent-decoded, case-folded, without empty or dot segments, ``;params``
    or a trailing slash), and, after URL resolution, any request that resolves
    to the same view, URL pattern and arguments as a guarded path (a
    ``re_path`` such as ``r"^hook/?$"`` or one without ``$``) is verified too.
    A path with a control character that comes near a guarded path is refused
    with 400 ``{"error": "Invalid path"}``.

    Place it near the top of ``MIDDLEWARE`` so that nothing parses the body
    first. Options come from ``BOLTCALL_WEBHOOK_MAX_BODY_SIZE``,
    ``BOLTCALL_WEBHOOK_TOLERANCE`` and ``BOLTCALL_WEBHOOK_STRICT``. With
    ``LoginRequiredMiddleware`` (Django 5.1+), mark the view
    ``@login_not_required``.

    Raises:
        django.core.exceptions.ImproperlyConfigured: ``BOLTCALL_WEBHOOK_PATHS``
            is missing or not a collection of paths starting with ``/``.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
        self._paths = _guarded_paths()
        self._guard = PathGuard(self._paths)
        # (id of the URL resolver, language) -> (resolver, the guarded paths' matches)
        self._resolved: dict[tuple[int, str | None], tuple[object, tuple[ResolverMatch, ...]]] = {}
        options = {
            option: getattr(settings, name)
            for option, name in _OPTION_SETTINGS.items()
            if hasattr(settings, name)
        }
        self._source = VerifierSource(None, options, _configured_secrets)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self.__acall__(request)
        refusal = self._check(request)
        if refusal is not None:
            return refusal
        get_response = cast("Callable[[HttpRequest], HttpResponseBase]", self.get_response)
        return get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = self._check(request)
        if refusal is not None:
            return refusal
        get_response = cast(
            "Callable[[HttpRequest], Awaitable[HttpResponseBase]]", self.get_response
        )
        return await get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """Verify a request that the URL resolver sent where a guarded path goes.

        ``__call__`` judged the path by its spelling; this catches what only the
        resolver knows (a ``re_path`` without ``$``, an optional slash...).
        """
        if getattr(request, _PATH_CHECKED, False) or not self._resolves_like_guarded(request):
            return None
        return self._verify_guarded(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        script_name = request.META.get("SCRIPT_NAME")
        verdict = self._guard.verdict(
            (request.path_info, request.path),
            (script_name,) if isinstance(script_name, str) else (),
        )
        if verdict is PathVerdict.PASS:
            return None
        if verdict is PathVerdict.REFUSE:
            return _respond(INVALID_PATH)
        return self._verify_guarded(request)

    def _verify_guarded(self, request: HttpRequest) -> HttpResponse | None:
        setattr(request, _PATH_CHECKED, True)
        outcome = _verify(request, self._source)
        if isinstance(outcome, HttpResponse):
            return outcome
        # Every middleware's __call__ runs before any process_view, so this
        # reaches CsrfViewMiddleware whatever the order in MIDDLEWARE. The
        # signature already proves the request comes from Boltcall.
        cast("Any", request)._dont_enforce_csrf_checks = True
        return None

    def _resolves_like_guarded(self, request: HttpRequest) -> bool:
        """Whether the request resolved to the view, pattern and arguments of a guarded path."""
        match = getattr(request, "resolver_match", None)
        if not isinstance(match, ResolverMatch):
            return False
        return any(
            guarded.func is match.func
            and guarded.route == match.route
            and guarded.args == match.args
            and guarded.kwargs == match.kwargs
            for guarded in self._guarded_matches(request)
        )

    def _guarded_matches(self, request: HttpRequest) -> tuple[ResolverMatch, ...]:
        """How the guarded paths resolve in this request's URLconf (cached per resolver)."""
        resolver = get_resolver(getattr(request, "urlconf", None))
        key = (id(resolver), get_language())  # i18n patterns resolve per language
        cached = self._resolved.get(key)
        if cached is not None and cached[0] is resolver:
            return cached[1]
        matches: list[ResolverMatch] = []
        for path in self._paths:
            try:
                matches.append(resolver.resolve(path))
            except Resolver404:
                continue
        if len(self._resolved) >= _MAX_RESOLVERS:
            self._resolved.clear()
        self._resolved[key] = (resolver, tuple(matches))
        return tuple(matches)


def _guarded_paths() -> frozenset[str]:
    paths: object = getattr(settings, _PATHS_SETTING, None)
    if (
        isinstance(paths, (str, bytes))
        or not isinstance(paths, Collection)
        or not paths
        or not all(
            isinstance(p, str) and p.startswith("/") for p in cast("Collection[object]", paths)
        )
    ):
        msg = (
            f"BoltcallWebhookMiddleware needs settings.{_PATHS_SETTING}: a list of the URL "
            'paths it guards, such as ["/webhooks/boltcall/"].'
        )
        raise ImproperlyConfigured(msg)
    return frozenset(cast("Collection[str]", paths))


# --------------------------------------------------------------------------- function views

FunctionView = Callable[Concatenate[HttpRequest, "Event", P], R]
WrappedView = Callable[Concatenate[HttpRequest, P], R]


@overload
def verify_webhook(secrets: FunctionView[P, R], /) -> WrappedView[P, R]: ...


@overload
def verify_webhook(
    secrets: Secrets | None = None, **options: Any
) -> Callable[[FunctionView[P, R]], WrappedView[P, R]]: ...


def verify_webhook(
    secrets: Secrets | FunctionView[P, R] | None = None, **options: Any
) -> WrappedView[P, R] | Callable[[FunctionView[P, R]], WrappedView[P, R]]:
    """Verify the Boltcall signature before a function view runs.

    The view is called as ``view(request, event, *args, **kwargs)``; the event
    is also ``request.boltcall_event``. Plain and ``async def`` views both
    work. The wrapped view is CSRF-exempt and login-not-required.
    ``@verify_webhook`` without parentheses is the same as ``@verify_webhook()``.

    Args:
        secrets: One secret, several, or a mapping ``event type -> secret(s)``;
            ``None`` reads ``settings.BOLTCALL_WEBHOOK_SECRET``, else the
            environment variable, at request time.
        **options: ``max_body_size`` (default 1 MiB), ``tolerance``, ``strict``, ``clock``.

    Raises:
        ConfigurationError: The ``secrets`` given are unusable.
        TypeError: An unknown option.
    """
    if callable(secrets):
        if options:
            msg = "Pass options with parentheses: @verify_webhook(max_body_size=...)."
            raise TypeError(msg)
        return verify_webhook()(secrets)
    source = VerifierSource(secrets, options, _configured_secrets)

    def decorate(view: FunctionView[P, R]) -> WrappedView[P, R]:
        if iscoroutinefunction(view):
            async_view = cast("Callable[..., Awaitable[Any]]", view)

            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                outcome = _verify(request, source)
                if isinstance(outcome, HttpResponse):
                    return outcome
                return await async_view(request, outcome, *args, **kwargs)

            wrapper: Callable[..., Any] = async_wrapper
        else:

            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                outcome = _verify(request, source)
                if isinstance(outcome, HttpResponse):
                    return outcome
                return view(request, outcome, *args, **kwargs)

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, view)
        _exempt(wrapper)
        return cast("WrappedView[P, R]", wrapper)

    return decorate
