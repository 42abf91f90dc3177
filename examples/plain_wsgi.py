"""A Boltcall webhook receiver with the standard library only (no framework).

It uses :class:`boltcall_webhooks.Verifier` directly, which is what the
framework adapters do for you. Run it::

    export BOLTCALL_WEBHOOK_SECRET=whsec_...
    python examples/plain_wsgi.py            # serves http://127.0.0.1:8000/webhooks/boltcall
    python examples/plain_wsgi.py --port 0   # any free port (printed on start)

``make_app(verifier)`` returns the WSGI callable, for any WSGI server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

from boltcall_webhooks import (
    ConfigurationError,
    Event,
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    SignatureError,
    Verifier,
)

PATH = "/webhooks/boltcall"
StartResponse = Callable[..., Any]


def handle_event(event: Event) -> dict[str, Any]:
    """Your code: runs only for verified events. Keep it fast (Boltcall does not retry)."""
    return {"received": event.type, "id": event.raw["data"].get("id")}


def make_app(verifier: Verifier) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Build the WSGI app answering POSTs to ``/webhooks/boltcall``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return _reply(start_response, 404, {"error": "Not found"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _reply(
                start_response, 405, {"error": "Method not allowed"}, [("Allow", "POST")]
            )
        length_header = (environ.get("CONTENT_LENGTH") or "").strip()
        if not length_header:
            # wsgiref does not decode chunked uploads: ask for a length instead.
            return _reply(start_response, 411, {"error": "Length required"})
        if not (length_header.isascii() and length_header.isdigit()):
            return _reply(start_response, 400, {"error": "Invalid Content-Length"})
        try:
            # Refuse an announced size over the cap before reading a byte.
            verifier.check_size(int(length_header))
            body = environ["wsgi.input"].read(int(length_header))
            # The raw bytes, exactly as received: never re-serialised JSON.
            event = verifier.construct_event(body, environ.get("HTTP_X_BOLTCALL_SIGNATURE"))
        except PayloadTooLargeError:
            return _reply(start_response, 413, {"error": "Payload too large"})
        except MissingSignatureError:
            return _reply(start_response, 401, {"error": "Missing signature"})
        except SignatureError:  # wrong, malformed, or (with a tolerance) stale
            return _reply(start_response, 401, {"error": "Invalid signature"})
        except PayloadError:
            return _reply(start_response, 400, {"error": "Invalid payload"})
        return _reply(start_response, 200, handle_event(event))

    return app


def _reply(
    start_response: StartResponse,
    status: int,
    payload: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    reasons = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        411: "Length Required",
        413: "Content Too Large",
    }
    start_response(
        f"{status} {reasons[status]}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [body]


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        verifier = Verifier()  # reads BOLTCALL_WEBHOOK_SECRET
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with make_server("127.0.0.1", args.port, make_app(verifier)) as server:
        print(f"Serving on http://127.0.0.1:{server.server_port}{PATH}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
