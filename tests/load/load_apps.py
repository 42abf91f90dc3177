"""The shipped examples, rebuilt so that the load driver can count what reached user code.

Servers load this module from ``tests/load`` (``load_apps:flask_app`` under
gunicorn, ``load_apps:starlette_app`` under uvicorn). The examples are loaded
from their files, so the checkout root never lands on ``sys.path`` and the
server imports the *installed* ``boltcall_webhooks``.

* Flask: the example's view, as written below ``@verify_webhook()``, is wrapped
  in a recorder and decorated again with ``verify_webhook()`` exactly as in
  ``examples/flask_app.py``; the result replaces the route's view.
* Starlette: a new app with the example's middleware list (the real
  ``BoltcallWebhookMiddleware`` on the example's path) and the example's
  endpoint behind a recorder.

The recorder appends the ``data.id`` of every event the handler receives, one
JSON string per line, to ``handled-<pid>.jsonl`` in the directory named by
``BOLTCALL_LOAD_RECORD_DIR`` (one file per worker process; a single
``os.write`` on an ``O_APPEND`` descriptor per event, so threads do not
interleave lines). Both apps also get ``POST /bare``, which only reads the body
and answers 200 with its length: the baseline for the overhead figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from flask import Flask, request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import boltcall_webhooks
from boltcall_webhooks import Event
from boltcall_webhooks.flask import verify_webhook
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["BARE_PATH", "RECORD_DIR_VAR", "WEBHOOK_PATH", "flask_app", "starlette_app"]

RECORD_DIR_VAR: Final = "BOLTCALL_LOAD_RECORD_DIR"
WEBHOOK_PATH: Final = "/webhooks/boltcall"
BARE_PATH: Final = "/bare"
EXAMPLES: Final = pathlib.Path(__file__).resolve().parents[2] / "examples"


class _Recorder:
    """Appends event ids to a per-process file; safe across threads and after fork."""

    def __init__(self, directory: str) -> None:
        self._directory = pathlib.Path(directory)
        if not self._directory.is_dir():
            msg = f"{RECORD_DIR_VAR} must name an existing directory."
            raise RuntimeError(msg)
        self._lock = threading.Lock()
        self._pid = -1
        self._fd = -1

    def record(self, event: Event) -> None:
        data: object = event.raw.get("data")
        event_id = cast("dict[str, object]", data).get("id") if isinstance(data, dict) else None
        line = (json.dumps(event_id) + "\n").encode("utf-8")
        pid = os.getpid()
        if pid != self._pid:  # first event in this worker (the app may load before a fork)
            with self._lock:
                if pid != self._pid:
                    path = self._directory / f"handled-{pid}.jsonl"
                    self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    self._pid = pid
        os.write(self._fd, line)


def _record_dir() -> str:
    directory = os.environ.get(RECORD_DIR_VAR)
    if not directory:
        msg = f"Set {RECORD_DIR_VAR} to a directory for the handled-event records."
        raise RuntimeError(msg)
    return directory


def _load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by path (the checkout stays off ``sys.path``)."""
    module_name = f"boltcall_example_{name}"
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with the repo
        msg = f"Cannot load examples/{name}.py."
        raise RuntimeError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # Flask finds its root path through sys.modules
    spec.loader.exec_module(module)
    return module


def _check_installed() -> None:
    """Under nox, refuse to serve a ``boltcall_webhooks`` imported from the checkout."""
    if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1":
        location = pathlib.Path(boltcall_webhooks.__file__).resolve()
        if "site-packages" not in location.parts:
            msg = f"boltcall_webhooks was imported from {location}, not from the installed package"
            raise RuntimeError(msg)


_check_installed()
RECORDER: Final = _Recorder(_record_dir())

# --- Flask (gunicorn) ---------------------------------------------------------

_flask_example = _load_example("flask_app")
flask_app: Flask = _flask_example.app
_FLASK_ENDPOINT: Final = "boltcall_webhook"
if _FLASK_ENDPOINT not in flask_app.view_functions:  # pragma: no cover - example changed
    msg = f"examples/flask_app.py no longer has the endpoint {_FLASK_ENDPOINT!r}."
    raise RuntimeError(msg)
# The view as the example wrote it, below its @verify_webhook() (functools.wraps keeps it).
_flask_view: Callable[..., Any] = _flask_example.boltcall_webhook.__wrapped__


def _recorded_flask_view(event: Event) -> Any:
    """Record the event, then run the example's own view."""
    RECORDER.record(event)
    return _flask_view(event=event)


# Verification goes through the real decorator, configured as in the example.
flask_app.view_functions[_FLASK_ENDPOINT] = verify_webhook()(_recorded_flask_view)


@flask_app.post(BARE_PATH)
def _flask_bare() -> dict[str, int]:
    """Read the body and answer 200: the same server and app, without verification."""
    return {"bytes": len(request.get_data())}


# --- Starlette (uvicorn) ------------------------------------------------------

_starlette_example = _load_example("starlette_app")
_example_middleware: list[Middleware] = list(_starlette_example.app.user_middleware)
_guards = (cast("object", m.cls) is BoltcallWebhookMiddleware for m in _example_middleware)
if not any(_guards):  # pragma: no cover - the example changed
    msg = "examples/starlette_app.py no longer uses BoltcallWebhookMiddleware."
    raise RuntimeError(msg)
_starlette_endpoint: Callable[[Request], Awaitable[Response]] = _starlette_example.boltcall_webhook


async def _recorded_starlette_endpoint(request: Request) -> Response:
    """Record the event the middleware verified, then run the example's endpoint."""
    event = request.state.boltcall_event
    assert isinstance(event, Event)
    RECORDER.record(event)
    return await _starlette_endpoint(request)


async def _starlette_bare(request: Request) -> Response:
    """Read the body and answer 200: the same server and app, without verification."""
    return JSONResponse({"bytes": len(await request.body())})


starlette_app = Starlette(
    routes=[
        Route(_starlette_example.WEBHOOK_PATH, _recorded_starlette_endpoint, methods=["POST"]),
        Route(BARE_PATH, _starlette_bare, methods=["POST"]),
    ],
    middleware=_example_middleware,
)
