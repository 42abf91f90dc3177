"""Requests that only a real ASGI server exercises: aborted uploads, and the server log.

Used by the uvicorn tests of the Starlette and FastAPI examples, next to the
shared :mod:`tests.servers.deliveries`.
"""

from __future__ import annotations

import pathlib
import socket
import urllib.parse

from boltcall_webhooks import SIGNATURE_HEADER, sign

from .deliveries import SECRET, envelope

# What uvicorn logs when an app raises or misbehaves.
SERVER_ERRORS = ("Traceback", "Exception in ASGI application", "ASGI callable returned without")


def abort_mid_body(url: str, *, chunked: bool) -> None:
    """Send the headers and part of a signed body, then close the connection."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port is not None
    body = envelope("new_lead", "lead_aborted", padding=50_000)
    head = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: 127.0.0.1:{parts.port}",
        "Content-Type: application/json",
        f"{SIGNATURE_HEADER}: {sign(body, SECRET)}",
    ]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        sent = b"%x\r\n%s\r\n" % (10_000, body[:10_000])
    else:
        head.append(f"Content-Length: {len(body)}")
        sent = body[:10_000]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + sent)
    # Leaving the block closes the socket half-way through the body.


def server_errors(log_path: pathlib.Path) -> list[str]:
    """The lines of the server log that show an error in the app or the server."""
    text = log_path.read_text("utf-8", "replace")
    return [line for line in text.splitlines() if any(e in line for e in SERVER_ERRORS)]
