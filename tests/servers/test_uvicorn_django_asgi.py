"""examples/django_project (ASGI) under uvicorn on 127.0.0.1, driven by a real HTTP client.

Django's ASGI handler buffers the whole body before any middleware or view
runs, so a body cap here means "refuse to process", not "refuse to receive".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("django")
pytest.importorskip("uvicorn")

from boltcall_webhooks import SECRET_ENV_VAR

from . import deliveries
from .gunicorn_util import ROOT
from .uvicorn_util import run_uvicorn

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
    with run_uvicorn(
        "boltcall_demo.asgi:application",
        env=SERVER_ENV,
        cwd=PROJECT,
        args=["--lifespan", "off"],
    ) as url:
        yield url


@pytest.mark.parametrize("path", PATHS)
def test_genuine_delivery_reaches_the_view(base: str, path: str) -> None:
    """A signed POST gets 200 and the view's echo, on each entry point (async stack)."""
    deliveries.genuine(base + path, "review_received", "rev_3")


@pytest.mark.parametrize("path", PATHS)
def test_chunked_delivery_without_content_length_reaches_the_view(base: str, path: str) -> None:
    """A chunked upload with no Content-Length is verified."""
    deliveries.genuine_chunked(base + path)


@pytest.mark.parametrize("path", PATHS)
def test_forged_deliveries_are_401(base: str, path: str) -> None:
    """Wrong secret, no signature, malformed signature: 401."""
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
def test_get_is_405(base: str, path: str) -> None:
    """Other methods on a webhook path are 405."""
    deliveries.wrong_method(base + path)
