"""examples/starlette_app.py (the ASGI middleware) under uvicorn on 127.0.0.1, driven by httpx."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx

from boltcall_webhooks import SECRET_ENV_VAR

from . import asgi_deliveries, deliveries
from .uvicorn_util import run_uvicorn

pytestmark = pytest.mark.servers

PATH = "/webhooks/boltcall-middleware"  # the ready endpoint: test_router_endpoints.py


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pathlib.Path]]:
    """The Starlette example served by uvicorn: (base URL, server log)."""
    log = tmp_path_factory.mktemp("uvicorn") / "starlette.log"
    env = {SECRET_ENV_VAR: deliveries.SECRET}
    with run_uvicorn("examples.starlette_app:app", env=env, log_path=log) as url:
        yield url, log


@pytest.fixture
def url(server: tuple[str, pathlib.Path]) -> str:
    """The webhook URL."""
    return server[0] + PATH


def test_genuine_delivery_reaches_the_handler(url: str) -> None:
    """A signed POST gets the handler's echo, including the replayed body's length."""
    echoed = deliveries.genuine(url, "call_completed", "call_7")
    body = deliveries.envelope("call_completed", "call_7")
    assert echoed["bytes"] == len(body)


def test_chunked_delivery_without_content_length(url: str) -> None:
    """A chunked upload with no Content-Length, under the cap, is verified and handled."""
    deliveries.genuine_chunked(url)


def test_forged_deliveries_are_401(url: str) -> None:
    """Wrong secret, no signature, malformed signature: 401 from the middleware."""
    deliveries.forged(url)


def test_oversize_with_content_length_is_413(url: str) -> None:
    """A body over the default 1 MiB cap, with its Content-Length: 413."""
    deliveries.oversize(url)


def test_announced_oversize_is_refused_before_the_body(url: str) -> None:
    """Headers announcing 10 MiB get a 413 without a byte of body sent."""
    deliveries.announced_oversize_is_refused_unread(url)


def test_chunked_oversize_is_413(url: str) -> None:
    """A chunked upload over the cap is cut off with 413."""
    deliveries.oversize_chunked(url)


def test_wrong_method_is_405(url: str) -> None:
    """GET on the guarded path: 405 from the middleware."""
    deliveries.wrong_method(url)
    assert httpx.get(url).headers["allow"] == "POST"


def test_other_paths_pass_through(server: tuple[str, pathlib.Path]) -> None:
    """An unguarded path reaches Starlette's router (404), not the middleware."""
    response = httpx.post(server[0] + "/elsewhere", content=b"{}")
    assert response.status_code == 404


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_disconnect_mid_body_does_not_break_the_server(
    server: tuple[str, pathlib.Path], chunked: bool
) -> None:
    """Clients that vanish half-way through the body leave the server healthy and quiet."""
    base, log = server
    for _ in range(3):
        asgi_deliveries.abort_mid_body(base + PATH, chunked=chunked)
    time.sleep(0.3)  # let the server notice the closed connections
    deliveries.genuine(base + PATH, "missed_call", "call_after_abort")
    assert asgi_deliveries.server_errors(log) == []
