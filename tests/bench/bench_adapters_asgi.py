"""Benchmark: what the Starlette middleware and the FastAPI dependency add per request.

Run with ``python tests/bench/bench_adapters_asgi.py`` (``--quick`` for a short
run). Each app is driven in-process, by calling ``await app(scope, receive,
send)`` directly (no test client, no server, no sockets), on one event loop,
with the garbage collector off while timing (as ``timeit`` does).

For each framework the same route is timed in three forms:

- *bare*: it only reads the body;
- *by hand*: it reads the body and calls ``Verifier.construct_event`` itself,
  which is what any receiver must pay; *by hand* minus *bare* is the cost of
  ``construct_event`` in that app (``C``);
- *with the adapter*: the bare route behind the middleware or with the
  dependency; minus *bare*, this is the adapter's overhead.

The target is an overhead of at most ``C`` plus 20% (ratio ≤ 1.2). ``C`` is
measured inside the app because the same call is slower there than in a tight
loop (caches are shared with the framework's code); the tight-loop cost is
shown too, and the ratio to it. Cases are interleaved in random order over
repeated rounds and the median is kept, so machine noise hits all of them alike.

The ready endpoint, ``webhook_endpoint(router=...)``, is compared with what a
user writes today for the same job: the middleware (Starlette) or the
``verified_event`` dependency (FastAPI) in front of an endpoint that calls the
same no-op handler and answers the same ``{"received": true}``. Its overhead
over the bare route may be at most 10% above that reference's
(``ENDPOINT_TARGET``), on the ~500-byte event (on the 1 MiB one both are
``construct_event`` and the comparison is printed for information). A full run
exits 1 when it is not; ``--quick`` (CI, few rounds on a shared machine) only
fails beyond ``QUICK_ENDPOINT_BOUND``.

Apart from that, this is a report: the other targets never fail the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bench_core import large_event, small_event
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import boltcall_webhooks
from boltcall_webhooks import SIGNATURE_HEADER, CallCompletedEvent, Event, Router, Verifier, sign
from boltcall_webhooks.starlette import (
    BoltcallWebhookMiddleware,
    verified_event,
    webhook_endpoint,
)

SECRET = "whsec_bench_0123456789abcdef0123456789"
PATH = "/webhooks/boltcall"
CHUNK = 64 * 1024  # what a server typically hands over per http.request message
TARGET = 1.2
MAX_BODY = 2 * 1024 * 1024  # room for the 1 MiB event
EMPTY_DEPENDENCY = "fastapi: + empty dependency (FastAPI)"
ENDPOINT_TARGET = 1.10  # the ready endpoint's overhead vs the middleware/dependency doing the same
QUICK_ENDPOINT_BOUND = 2.0
RECEIVED = b'{"received": true}'

Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]


VERIFIER = Verifier(SECRET, max_body_size=MAX_BODY)


async def read_body(request: Request) -> Response:
    """The bare route: read the body, answer 204."""
    await request.body()
    return Response(status_code=204)


async def verify_by_hand(request: Request) -> Response:
    """The route verifying by hand: read the body, construct the event, answer 204."""
    body = await request.body()
    VERIFIER.construct_event(body, request.headers.get(SIGNATURE_HEADER))
    return Response(status_code=204)


def starlette_app(*, guarded: bool = False, by_hand: bool = False) -> Starlette:
    """Starlette with the bare route, behind the middleware when ``guarded``."""
    middleware = [
        Middleware(BoltcallWebhookMiddleware, paths=[PATH], secrets=SECRET, max_body_size=MAX_BODY)
    ]
    return Starlette(
        routes=[Route(PATH, verify_by_hand if by_hand else read_body, methods=["POST"])],
        middleware=middleware if guarded else [],
    )


async def empty_dependency(request: Request) -> None:
    """A dependency that does nothing: what FastAPI's injection costs by itself."""


def fastapi_app(
    *,
    dependency: bool = False,
    middleware: bool = False,
    empty: bool = False,
    by_hand: bool = False,
) -> FastAPI:
    """FastAPI with the bare route; optionally the dependency and/or the middleware."""
    app = FastAPI()
    if middleware:
        app.add_middleware(
            BoltcallWebhookMiddleware, paths=[PATH], secrets=SECRET, max_body_size=MAX_BODY
        )
    if dependency or empty:
        verified = empty_dependency if empty else verified_event(SECRET, max_body_size=MAX_BODY)

        @app.post(PATH)
        async def with_dependency(
            request: Request,
            event: Event = Depends(verified),  # noqa: B008
        ) -> Response:
            return await read_body(request)

    else:

        @app.post(PATH)
        async def bare(request: Request) -> Response:
            return await (verify_by_hand if by_hand else read_body)(request)

    return app


async def handle(event: CallCompletedEvent) -> None:
    """The no-op handler every endpoint case runs (async, as an ASGI app's would be)."""


def router() -> Router:
    """A router with the no-op handler on the benchmark's event type."""
    routes = Router()
    routes.on(CallCompletedEvent)(handle)
    return routes


async def answer_like_the_endpoint(event: Event) -> Response:
    """What a hand-written endpoint does with a verified event: the same work and answer."""
    if isinstance(event, CallCompletedEvent):
        await handle(event)
    return Response(RECEIVED, media_type="application/json")


def starlette_endpoint_app(*, ready: bool) -> Starlette:
    """The ready endpoint, or the middleware in front of an endpoint doing the same job."""
    if ready:
        return Starlette(
            routes=[
                Route(
                    PATH,
                    webhook_endpoint(router=router(), secrets=SECRET, max_body_size=MAX_BODY),
                    methods=["POST"],
                )
            ]
        )

    async def own(request: Request) -> Response:
        return await answer_like_the_endpoint(request.state.boltcall_event)

    return Starlette(
        routes=[Route(PATH, own, methods=["POST"])],
        middleware=[
            Middleware(
                BoltcallWebhookMiddleware, paths=[PATH], secrets=SECRET, max_body_size=MAX_BODY
            )
        ],
    )


def fastapi_endpoint_app(*, ready: bool) -> FastAPI:
    """The ready endpoint, or the dependency with an endpoint doing the same job."""
    app = FastAPI()
    if ready:
        app.add_api_route(
            PATH,
            webhook_endpoint(router=router(), secrets=SECRET, max_body_size=MAX_BODY),
            methods=["POST"],
        )
        return app
    verified = verified_event(SECRET, max_body_size=MAX_BODY)

    @app.post(PATH)
    async def own(event: Event = Depends(verified)) -> Response:  # noqa: B008
        return await answer_like_the_endpoint(event)

    return app


def request_driver(
    app: ASGIApp, body: bytes, expected: int = 204
) -> Callable[[], Awaitable[None]]:
    """One POST of ``body`` (signed, in CHUNK-sized messages) through ``app``, checked."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (SIGNATURE_HEADER.lower().encode(), sign(body, SECRET).encode()),
    ]
    parts = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    disconnect = {"type": "http.disconnect"}

    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        pending = iter(messages)
        status: list[int] = []

        async def receive() -> Message:
            return next(pending, disconnect)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [expected]:
            raise AssertionError(f"unexpected status {status}")

    return one


def construct_driver(body: bytes) -> Callable[[], Awaitable[None]]:
    """Verifier.construct_event on the same body, in a tight loop (for information)."""
    signature = sign(body, SECRET)

    async def one() -> None:
        VERIFIER.construct_event(body, signature)

    return one


@dataclass
class Case:
    """One timed per-request coroutine, measured against ``bare`` and ``by_hand``."""

    name: str
    run: Callable[[], Awaitable[None]]
    bare: str | None = None
    by_hand: str | None = None
    samples: list[float] = field(default_factory=list)


TIGHT = "construct_event alone (tight loop)"


def cases_for(body: bytes) -> list[Case]:
    """The three forms of the route per framework, and construct_event alone."""
    s_bare, s_hand = "starlette: bare route", "starlette: by hand (construct_event)"
    f_bare, f_hand = "fastapi: bare route", "fastapi: by hand (construct_event)"
    return [
        Case(TIGHT, construct_driver(body)),
        Case(s_bare, request_driver(starlette_app(), body)),
        Case(s_hand, request_driver(starlette_app(by_hand=True), body), s_bare),
        Case(
            "starlette: + middleware",
            request_driver(starlette_app(guarded=True), body),
            s_bare,
            s_hand,
        ),
        Case(f_bare, request_driver(fastapi_app(), body)),
        Case(f_hand, request_driver(fastapi_app(by_hand=True), body), f_bare),
        Case(EMPTY_DEPENDENCY, request_driver(fastapi_app(empty=True), body), f_bare),
        Case(
            "fastapi: + verified_event dependency",
            request_driver(fastapi_app(dependency=True), body),
            f_bare,
            f_hand,
        ),
        Case(
            "fastapi: + middleware",
            request_driver(fastapi_app(middleware=True), body),
            f_bare,
            f_hand,
        ),
        Case(
            "fastapi: + middleware + dependency",
            request_driver(fastapi_app(dependency=True, middleware=True), body),
            f_bare,
            f_hand,
        ),
        Case(
            S_REFERENCE,
            request_driver(starlette_endpoint_app(ready=False), body, 200),
            s_bare,
            s_hand,
        ),
        Case(
            S_ENDPOINT,
            request_driver(starlette_endpoint_app(ready=True), body, 200),
            s_bare,
            s_hand,
        ),
        Case(
            F_REFERENCE,
            request_driver(fastapi_endpoint_app(ready=False), body, 200),
            f_bare,
            f_hand,
        ),
        Case(
            F_ENDPOINT,
            request_driver(fastapi_endpoint_app(ready=True), body, 200),
            f_bare,
            f_hand,
        ),
    ]


S_REFERENCE = "starlette: middleware + own endpoint"
S_ENDPOINT = "starlette: webhook_endpoint(router=)"
F_REFERENCE = "fastapi: dependency + own endpoint"
F_ENDPOINT = "fastapi: webhook_endpoint(router=)"
ENDPOINT_PAIRS = (("starlette", S_ENDPOINT, S_REFERENCE), ("fastapi", F_ENDPOINT, F_REFERENCE))


def endpoint_report(title: str, cases: list[Case], bound: float | None) -> list[str]:
    """The ready endpoints against the middleware/dependency doing the same job."""
    by_name = {case.name: case for case in cases}
    missed: list[str] = []
    print(f"\nready endpoint vs the middleware/dependency doing the same job ({title}):")
    for framework, endpoint, reference in ENDPOINT_PAIRS:
        bare = by_name[f"{framework}: bare route"].samples
        # Paired per round, so a slow phase of a busy machine falls on both.
        ours = statistics.median(
            e - b for e, b in zip(by_name[endpoint].samples, bare, strict=True)
        )
        theirs = statistics.median(
            r - b for r, b in zip(by_name[reference].samples, bare, strict=True)
        )
        ratio = ours / theirs
        verdict = "ok" if ratio <= ENDPOINT_TARGET else "MISSED"
        checked = f"this run fails above {bound}" if bound is not None else "for information"
        print(
            f"  {framework}: overhead over the bare route {ours * 1e6:.2f} µs vs "
            f"{theirs * 1e6:.2f} µs = {ratio:.3f}x ({verdict} ≤{ENDPOINT_TARGET}; {checked})"
        )
        if bound is not None and ratio > bound:
            missed.append(f"{title}: {endpoint} {ratio:.3f}x > {bound}x")
    return missed


async def per_call(run: Callable[[], Awaitable[None]], number: int) -> float:
    """Seconds per call over ``number`` sequential calls (garbage collector off, as timeit)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            await run()
        return (time.perf_counter() - start) / number
    finally:
        gc.enable()


async def calibrate(run: Callable[[], Awaitable[None]], budget: float) -> int:
    """How many calls fit in about ``budget`` seconds."""
    number = 1
    while True:
        elapsed = await per_call(run, number) * number
        if elapsed >= budget / 4 or number >= 1_000_000:
            return max(1, int(number * budget / max(elapsed, 1e-9)))
        number *= 4


async def measure(cases: list[Case], rounds: int, budget: float) -> None:
    """Interleave the cases for ``rounds`` rounds, shuffled each round."""
    for case in cases:
        await case.run()  # warm up (middleware stacks are built on first call)
    numbers = {case.name: await calibrate(case.run, budget) for case in cases}
    for _ in range(rounds):
        order = cases[:]
        random.shuffle(order)
        for case in order:
            case.samples.append(await per_call(case.run, numbers[case.name]))


def report(title: str, cases: list[Case]) -> list[str]:
    """Print one table; return the targets missed."""
    medians = {case.name: statistics.median(case.samples) for case in cases}
    tight = medians[TIGHT]
    print(f"\n### {title}\n")
    print(
        f"| {'case':<38} | {'per request':>11} | {'vs bare':>11} "
        f"| {'overhead / C':>12} | {'/ tight loop':>12} | target |"
    )
    print(f"|{'-' * 40}|{'-' * 13}|{'-' * 13}|{'-' * 14}|{'-' * 14}|--------|")
    missed: list[str] = []
    for case in cases:
        median = medians[case.name]
        extra = ratio = versus_tight = verdict = ""
        if case.bare is not None:
            overhead = median - medians[case.bare]
            extra = f"{overhead * 1e6:+8.2f} µs"
            versus_tight = f"{overhead / tight:.2f}x"
            if case.by_hand is not None:
                in_app = medians[case.by_hand] - medians[case.bare]
                value = overhead / in_app
                ratio = f"{value:.2f}x"
                ok = value <= TARGET
                verdict = f"{'ok' if ok else 'MISSED'} ≤{TARGET}"
                if not ok:
                    missed.append(f"{title}: {case.name} {value:.2f}x > {TARGET}x")
        print(
            f"| {case.name:<38} | {median * 1e6:8.2f} µs | {extra:>11} "
            f"| {ratio:>12} | {versus_tight:>12} | {verdict} |"
        )
    hand = medians["fastapi: by hand (construct_event)"] - medians["fastapi: bare route"]
    s_hand = medians["starlette: by hand (construct_event)"] - medians["starlette: bare route"]
    own = medians["fastapi: + verified_event dependency"] - medians[EMPTY_DEPENDENCY]
    print(
        f"\nC (construct_event inside the app): Starlette "
        f"{s_hand * 1e6:.2f} µs, "
        f"FastAPI {hand * 1e6:.2f} µs; tight loop {tight * 1e6:.2f} µs.\n"
        f"verified_event beyond FastAPI's own injection cost (vs the empty dependency): "
        f"{own * 1e6:.2f} µs = {own / hand:.2f}x C."
    )
    return missed


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (7 if args.quick else 31)
    budget = 0.01 if args.quick else 0.05
    import fastapi
    import starlette

    print(
        f"boltcall-webhooks {boltcall_webhooks.__version__}, Python {sys.version.split()[0]}, "
        f"Starlette {starlette.__version__}, FastAPI {fastapi.__version__}; "
        f"{rounds} interleaved rounds, median per request, apps driven in-process"
    )
    payloads = [(f"~500-byte event ({len(small_event())} bytes)", small_event(), budget)]
    payloads.append(("1 MiB event, in 64 KiB messages", large_event(), budget * 4))
    missed: list[str] = []
    failed: list[str] = []
    bound = QUICK_ENDPOINT_BOUND if args.quick else ENDPOINT_TARGET
    loop = asyncio.new_event_loop()
    try:
        for title, body, case_budget in payloads:
            cases = cases_for(body)
            loop.run_until_complete(measure(cases, rounds, case_budget))
            missed += report(title, cases)
            failed += endpoint_report(title, cases, bound if body is payloads[0][1] else None)
    finally:
        loop.close()
    print("\ntargets: " + ("all met" if not missed else "missed: " + "; ".join(missed)))
    if failed:
        print("FAILED (ready endpoint overhead): " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
