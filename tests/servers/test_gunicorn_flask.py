"""examples/flask_app.py (its decorated view) under gunicorn on 127.0.0.1, driven by HTTP.

The example's ready view (``webhook_view``) is tested in test_router_endpoints.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("flask")
pytest.importorskip("gunicorn")

from boltcall_webhooks import SECRET_ENV_VAR

from . import deliveries
from .gunicorn_util import run_gunicorn

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    env = {SECRET_ENV_VAR: deliveries.SECRET}
    with run_gunicorn("examples.flask_app:app", env=env) as base:
        yield f"{base}/webhooks/boltcall-decorator"


def test_genuine_delivery_reaches_the_view(url: str) -> None:
    """A signed POST gets 200 and the view's echo of the event."""
    deliveries.genuine(url)


def test_chunked_delivery_without_content_length_reaches_the_view(url: str) -> None:
    """gunicorn terminates chunked input; the decorator reads it and verifies it."""
    deliveries.genuine_chunked(url)


def test_forged_deliveries_are_401(url: str) -> None:
    """Wrong secret, no signature, malformed signature: 401, no echo."""
    deliveries.forged(url)


def test_oversize_body_is_413(url: str) -> None:
    """A body over 1 MiB with Content-Length: 413."""
    deliveries.oversize(url)


def test_oversize_chunked_body_is_413(url: str) -> None:
    """A body over 1 MiB streamed with no Content-Length: 413."""
    deliveries.oversize_chunked(url)


def test_announced_oversize_is_refused_before_the_body(url: str) -> None:
    """Headers announcing 10 MiB get a 413 without the body being sent."""
    deliveries.announced_oversize_is_refused_unread(url)


def test_get_is_405(url: str) -> None:
    """Flask refuses other methods on the POST route."""
    deliveries.wrong_method(url)
