"""examples/django_project (WSGI) under gunicorn on 127.0.0.1, driven by a real HTTP client.

Each entry point is exercised: the class-based view, the middleware in front
of a plain view (with CsrfViewMiddleware on), and an async function view.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("django")
pytest.importorskip("gunicorn")

from boltcall_webhooks import SECRET_ENV_VAR

from . import deliveries
from .gunicorn_util import ROOT, run_gunicorn

pytestmark = pytest.mark.servers

PROJECT = ROOT / "examples" / "django_project"
# The ready views (BoltcallWebhookView.as_view(router=...)): test_router_endpoints.py.
PATHS = ["/webhooks/boltcall-view/", "/webhooks/boltcall-mw/", "/webhooks/boltcall-async/"]
SERVER_ENV = {
    SECRET_ENV_VAR: deliveries.SECRET,
    "DJANGO_SETTINGS_MODULE": "boltcall_demo.settings",
    "DJANGO_DEBUG": "0",
}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with run_gunicorn("boltcall_demo.wsgi:application", env=SERVER_ENV, cwd=PROJECT) as url:
        yield url


@pytest.mark.parametrize("path", PATHS)
def test_genuine_delivery_reaches_the_view(base: str, path: str) -> None:
    """A signed POST gets 200 and the view's echo, on each entry point."""
    deliveries.genuine(base + path, "appointment_booked", "appt_7")


@pytest.mark.parametrize("path", PATHS)
def test_chunked_delivery_without_content_length_reaches_the_view(base: str, path: str) -> None:
    """Django reads nothing without Content-Length; the adapter reads gunicorn's input."""
    deliveries.genuine_chunked(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_forged_deliveries_are_401(base: str, path: str) -> None:
    """Wrong secret, no signature, malformed signature: 401, never a CSRF 403."""
    deliveries.forged(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_oversize_body_is_413(base: str, path: str) -> None:
    """A body over 1 MiB with Content-Length: 413."""
    deliveries.oversize(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_oversize_chunked_body_is_413(base: str, path: str) -> None:
    """A body over 1 MiB streamed with no Content-Length: 413."""
    deliveries.oversize_chunked(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_announced_oversize_is_refused_before_the_body(base: str, path: str) -> None:
    """Headers announcing 10 MiB get a 413 without the body being sent."""
    deliveries.announced_oversize_is_refused_unread(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_get_is_405(base: str, path: str) -> None:
    """Other methods on a webhook path are 405."""
    deliveries.wrong_method(base + path)
