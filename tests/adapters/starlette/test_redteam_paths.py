"""Red team: long request paths through the ASGI middleware (memory and time stay bounded).

The middleware caches its path verdicts per (path, raw_path, root_path), up to
1024 entries. Before the fix every path was kept, whatever its length: uvicorn
(httptools) accepts request targets up to ~64 KB, so 1024 requests with unique
long paths (to any route, no signature needed) made each server process hold
~120 MB (measured: RSS 33 MB -> 152 MB) until the next clear. Long paths are now
judged without being cached. The judging itself is linear: a deeply
percent-encoded path is decoded a bounded number of times.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

from ._asgi import http_scope

SECRET = "whsec_redteam_paths"


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(middleware: BoltcallWebhookMiddleware, path: str, raw_path: bytes) -> int:
    scope = http_scope(path, method="GET")
    scope["raw_path"] = raw_path
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    asyncio.run(middleware(scope, receive, send))
    return statuses[0]


def _cached_characters(middleware: BoltcallWebhookMiddleware) -> int:
    total = 0
    for key in middleware._verdicts:  # the cache is under test
        total += sum(len(part) for part in key if isinstance(part, (str, bytes)))
    return total


def test_unique_long_paths_are_not_kept_by_the_verdict_cache() -> None:
    middleware = BoltcallWebhookMiddleware(_ok_app, paths=["/webhooks/boltcall"], secrets=SECRET)
    for number in range(200):
        tail = f"{number}-" + "a" * 20_000
        assert _call(middleware, "/" + tail, b"/" + tail.encode()) == 200
    # Before the fix: 200 x 40,000 characters; the bound leaves room for short paths only.
    assert _cached_characters(middleware) <= 1024 * 2048
    assert _cached_characters(middleware) < 200 * 2048
    # Short paths are still cached, and a long spelling of the guarded path is still guarded.
    assert _call(middleware, "/open", b"/open") == 200
    assert ("/open", b"/open", "") in middleware._verdicts
    long_spelling = "/" * 30_000 + "webhooks/boltcall"
    assert _call(middleware, long_spelling, long_spelling.encode()) == 405
    assert _call(middleware, long_spelling, long_spelling.encode()) == 405


def test_deep_percent_encoding_is_judged_in_bounded_time() -> None:
    middleware = BoltcallWebhookMiddleware(_ok_app, paths=["/webhooks/boltcall"], secrets=SECRET)
    raw = "/" + "%25" * 20_000 + "/webhooks/boltcall%25252525252525250A"
    started = time.perf_counter()
    for _ in range(5):
        _call(middleware, raw.replace("%25", "%"), raw.encode())
    # Linear work (a few ms per call on this machine): no quadratic decode loop.
    assert time.perf_counter() - started < 5.0
