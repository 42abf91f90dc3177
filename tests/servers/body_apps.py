"""Apps served by ``test_malformed_bodies``: every adapter, with handlers that say they ran.

Imported by the server process from this folder (``module:factory()``), not by
pytest. Each handler prints :data:`HANDLER_MARK` to stderr (the server log) and
echoes ``{"received": type, "id": id}`` like the examples, so a test can tell
from the log whether any handler was reached. The library's logger writes to
stderr at INFO level, so the log also shows each refusal it logs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from boltcall_webhooks import Event

HANDLER_MARK = "HANDLER-RAN"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
FLASK_PATH = "/hook"
STARLETTE_PATH = "/hook"
DJANGO_PATHS = {
    "view": "/view/",
    "middleware": "/mw/",
    "decorator": "/fn/",
    "async-decorator": "/async-fn/",
}


def _handler_ran(where: str) -> None:
    print(f"{HANDLER_MARK} {where}", file=sys.stderr, flush=True)


def _echo(event: Any) -> dict[str, Any]:
    return {"received": event.type, "id": event.raw["data"].get("id")}


def _log_library_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    library = logging.getLogger("boltcall_webhooks")
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False


def flask_app() -> Any:
    """A Flask app with one ``@verify_webhook`` view at :data:`FLASK_PATH`."""
    from flask import Flask

    from boltcall_webhooks.flask import verify_webhook

    _log_library_to_stderr()
    app = Flask(__name__)

    @app.post(FLASK_PATH)
    @verify_webhook()
    def hook(event: Any) -> dict[str, Any]:
        _handler_ran("flask")
        return _echo(event)

    return app


def django_app() -> Any:
    """A Django WSGI app: the class-based view, the middleware and both decorators."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    from boltcall_webhooks.django import BoltcallWebhookView, verify_webhook

    class View(BoltcallWebhookView):
        def handle_event(self, request: HttpRequest, event: Any) -> JsonResponse:
            _handler_ran("django view")
            return JsonResponse(_echo(event))

    def guarded(request: HttpRequest) -> JsonResponse:
        _handler_ran("django middleware")
        return JsonResponse(_echo(request.boltcall_event))  # type: ignore[attr-defined]

    @verify_webhook()
    def decorated(request: HttpRequest, event: Any) -> JsonResponse:
        _handler_ran("django decorator")
        return JsonResponse(_echo(event))

    @verify_webhook()
    async def async_decorated(request: HttpRequest, event: Any) -> JsonResponse:
        _handler_ran("django async decorator")
        return JsonResponse(_echo(event))

    globals()["urlpatterns"] = [
        path(DJANGO_PATHS["view"].strip("/") + "/", View.as_view()),
        path(DJANGO_PATHS["middleware"].strip("/") + "/", guarded),
        path(DJANGO_PATHS["decorator"].strip("/") + "/", decorated),
        path(DJANGO_PATHS["async-decorator"].strip("/") + "/", async_decorated),
    ]
    stderr = {"class": "logging.StreamHandler", "formatter": "plain"}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="body-apps-" + "k" * 50,
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[
            "boltcall_webhooks.django.BoltcallWebhookMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        BOLTCALL_WEBHOOK_PATHS=[DJANGO_PATHS["middleware"]],
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": LOG_FORMAT}},
            "handlers": {"stderr": stderr},
            "loggers": {
                # Django's 500s ("Internal Server Error" and the traceback) go to the log.
                "django": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                "boltcall_webhooks": {
                    "handlers": ["stderr"],
                    "level": "INFO",
                    "propagate": False,
                },
            },
        },
    )
    django.setup()
    return get_wsgi_application()


def starlette_app() -> Any:
    """A Starlette app behind :class:`BoltcallWebhookMiddleware` at :data:`STARLETTE_PATH`."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

    _log_library_to_stderr()

    async def hook(request: Request) -> JSONResponse:
        _handler_ran("starlette middleware")
        return JSONResponse(_echo(request.state.boltcall_event))

    return Starlette(
        routes=[Route(STARLETTE_PATH, hook, methods=["POST"])],
        middleware=[Middleware(BoltcallWebhookMiddleware, paths=[STARLETTE_PATH])],
    )


def fastapi_app() -> Any:
    """A FastAPI app whose route takes the ``verified_event()`` dependency."""
    from fastapi import Depends, FastAPI

    from boltcall_webhooks.starlette import verified_event

    _log_library_to_stderr()
    app = FastAPI()
    verify = verified_event()

    @app.post(STARLETTE_PATH)
    async def hook(event: Event = Depends(verify)) -> dict[str, Any]:  # noqa: B008
        _handler_ran("fastapi dependency")
        return _echo(event)

    return app
