"""examples/fastapi_app.py (the ``verified_event`` dependency) under uvicorn, driven by httpx.

Refusals follow FastAPI's convention, ``{"detail": ...}``.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx

from boltcall_webhooks import DEFAULT_MAX_BODY_SIZE, SECRET_ENV_VAR, SIGNATURE_HEADER

from . import asgi_deliveries, deliveries
from .uvicorn_util import run_uvicorn

pytestmark = pytest.mark.servers

PATH = "/webhooks/boltcall-dependency"  # the ready endpoint: test_router_endpoints.py
TIMEOUT = deliveries.TIMEOUT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pathlib.Path]]:
    """The FastAPI example served by uvicorn: (base URL, server log)."""
    log = tmp_path_factory.mktemp("uvicorn") / "fastapi.log"
    env = {SECRET_ENV_VAR: deliveries.SECRET}
    with run_uvicorn("examples.fastapi_app:app", env=env, log_path=log) as url:
        yield url, log


@pytest.fixture
def url(server: tuple[str, pathlib.Path]) -> str:
    """The webhook URL."""
    return server[0] + PATH


def test_genuine_delivery_reaches_the_handler(url: str) -> None:
    """A signed POST gets the handler's echo."""
    deliveries.genuine(url, "appointment_booked", "appt_5")


def test_chunked_delivery_without_content_length(url: str) -> None:
    """A chunked upload with no Content-Length, under the cap, is verified and handled."""
    deliveries.genuine_chunked(url)


def test_forged_deliveries_are_401_with_detail(url: str) -> None:
    """Wrong secret, no signature, malformed signature: 401 in FastAPI's shape."""
    body = deliveries.envelope("new_lead", "lead_forged")
    forged = httpx.post(url, content=body, headers=deliveries.headers_for(body, "whsec_x"))
    assert (forged.status_code, forged.json()) == (401, {"detail": "Invalid signature"})
    missing = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    assert (missing.status_code, missing.json()) == (401, {"detail": "Missing signature"})
    malformed = httpx.post(url, content=body, headers={SIGNATURE_HEADER: "nothex"})
    assert malformed.status_code == 401


def test_oversize_with_content_length_is_413(url: str) -> None:
    """A body over the default cap, with its Content-Length: 413."""
    body = deliveries.envelope("new_lead", "big", padding=DEFAULT_MAX_BODY_SIZE + 1024)
    response = httpx.post(url, content=body, headers=deliveries.headers_for(body), timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (413, {"detail": "Payload too large"})


def test_announced_oversize_is_refused_before_the_body(url: str) -> None:
    """Headers announcing 10 MiB get a 413 from the dependency without a byte of body sent."""
    deliveries.announced_oversize_is_refused_unread(url, error_key="detail")


def test_chunked_oversize_is_413(url: str) -> None:
    """A chunked upload over the cap is cut off with 413 by the dependency."""
    body = deliveries.envelope("new_lead", "big", padding=DEFAULT_MAX_BODY_SIZE + 1024)
    parts = (body[i : i + 16384] for i in range(0, len(body), 16384))
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(url, content=parts, headers=deliveries.headers_for(body))
    assert (response.status_code, response.json()) == (413, {"detail": "Payload too large"})


def test_wrong_method_is_405(url: str) -> None:
    """GET on the POST route: FastAPI's router answers 405."""
    assert httpx.get(url, timeout=TIMEOUT).status_code == 405


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
