"""Deliveries sent to a real server by the WSGI and Django server tests, with their checks.

Each function sends one kind of request to ``url`` with a real HTTP client and
asserts the outcome. The example apps echo ``{"received": type, "id": id}``
from inside the handler, so a 200 with that body proves the handler ran.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx

from boltcall_webhooks import DEFAULT_MAX_BODY_SIZE, SIGNATURE_HEADER, sign

SECRET = "whsec_real_server_tests_0123456789"
TIMEOUT = httpx.Timeout(20.0)


def envelope(event_type: str, event_id: str, padding: int = 0) -> bytes:
    """A compact envelope; ``padding`` adds that many bytes of note text."""
    data: dict[str, Any] = {"id": event_id}
    if padding:
        data["note"] = "x" * padding
    payload = {"event": event_type, "timestamp": "2025-03-20T09:17:22Z", "data": data}
    return json.dumps(payload, separators=(",", ":")).encode()


def headers_for(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def genuine(url: str, event_type: str = "new_lead", event_id: str = "lead_42") -> dict[str, Any]:
    """A signed delivery with Content-Length: 200 and the handler's echo."""
    body = envelope(event_type, event_id)
    response = httpx.post(url, content=body, headers=headers_for(body), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    echoed: dict[str, Any] = response.json()
    assert echoed["received"] == event_type
    assert echoed["id"] == event_id
    return echoed


def genuine_chunked(url: str) -> dict[str, Any]:
    """A signed delivery streamed with Transfer-Encoding: chunked and no Content-Length."""
    body = envelope("call_completed", "call_chunked", padding=40_000)
    request = httpx.Request("POST", url, content=_chunks(body), headers=headers_for(body))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.send(request)
    assert response.status_code == 200, response.text
    echoed: dict[str, Any] = response.json()
    assert (echoed["received"], echoed["id"]) == ("call_completed", "call_chunked")
    return echoed


def forged(url: str) -> None:
    """Signed with another secret, then missing and malformed signatures: 401 each."""
    body = envelope("new_lead", "lead_forged")
    response = httpx.post(url, content=body, headers=headers_for(body, "whsec_attacker"))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid signature"}
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json() == {"error": "Missing signature"}
    response = httpx.post(url, content=body, headers={SIGNATURE_HEADER: "nothex"})
    assert response.status_code == 401


def oversize(url: str) -> None:
    """A genuine-looking body over the default cap, sent with Content-Length: 413."""
    body = envelope("new_lead", "lead_big", padding=DEFAULT_MAX_BODY_SIZE + 1024)
    response = httpx.post(url, content=body, headers=headers_for(body), timeout=TIMEOUT)
    assert response.status_code == 413
    assert response.json() == {"error": "Payload too large"}


def oversize_chunked(url: str) -> None:
    """A body over the cap, streamed with no Content-Length: 413."""
    body = envelope("new_lead", "lead_big", padding=DEFAULT_MAX_BODY_SIZE + 1024)
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(url, content=_chunks(body), headers=headers_for(body))
    assert response.status_code == 413
    assert response.json() == {"error": "Payload too large"}


def announced_oversize_is_refused_unread(url: str, *, error_key: str = "error") -> None:
    """Only headers announcing 10 MiB are sent: the 413 comes back without the body.

    ``error_key`` is where the message is in the JSON answer (FastAPI: ``"detail"``).
    """
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", parts.path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10 * 1024 * 1024))
        connection.putheader(SIGNATURE_HEADER, "0" * 64)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {error_key: "Payload too large"}
    finally:
        connection.close()


def wrong_method(url: str) -> None:
    """A GET on the webhook route is a 405."""
    assert httpx.get(url, timeout=TIMEOUT).status_code == 405
