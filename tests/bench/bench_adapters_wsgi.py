"""Benchmark: what the Flask and Django adapters add per request, in-process.

Run with ``nox -s bench_adapters`` (``--quick`` for a short run), or directly::

    python tests/bench/bench_adapters_wsgi.py [--quick]

Each WSGI app is called directly with a prepared environ (no test client, no
server), so only the framework and the adapter are timed. For each framework a
*bare* route that only reads the body is the baseline; each adapter entry
point serves the same body on the same app. The overhead of an adapter is its
time minus the bare route's; it is compared with the cost of
``Verifier.construct_event`` on the same body (the work the adapter must do
anyway). Target: overhead <= construct_event + 20% (ratio <= 1.20).

``construct_event`` timed alone in a tight loop runs with warm caches; inside a
request it costs more. A *by hand* route (the bare route plus a direct
``Verifier.construct_event`` call) measures that in-request cost, so the table
also gives the ratio *in situ* and what each adapter adds to verifying by hand.

Times are CPU time of this process (``time.process_time``, so time spent
descheduled on a busy machine does not count), as medians of interleaved,
repeated runs (the cases are shuffled in every round, so noise hits them all
alike); the overhead is the median of per-round differences.

The ready endpoints (``flask.webhook_view(router=...)``,
``BoltcallWebhookView.as_view(router=...)``) are compared with what a user
writes today for the same job: the decorator (Flask) or a ``handle_event``
subclass (Django) calling the same no-op handler and answering the same
``{"received": true}``. Their overhead over the bare route may be at most 10%
above that reference's (``ENDPOINT_TARGET``), on the ~500-byte event. A full
run exits 1 when it is not; ``--quick`` (CI, few rounds on a shared machine)
only fails beyond ``QUICK_ENDPOINT_BOUND``. Apart from that, this is a report:
the other target never fails the run.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from boltcall_webhooks import SIGNATURE_HEADER, CallCompletedEvent, Event, Router, Verifier, sign

SECRET = "whsec_bench_adapters_0123456789abcdef"
TARGET_RATIO = 1.20
ENDPOINT_TARGET = 1.10  # the ready endpoint's overhead vs the decorator/view doing the same
QUICK_ENDPOINT_BOUND = 2.0
RECEIVED = b'{"received": true}'
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def small_event() -> bytes:
    """A realistic call_completed envelope of about 500 bytes."""
    data = {
        "id": "call_8f2k1q9z",
        "agent_id": "agt_42",
        "direction": "inbound",
        "caller": "+15551234567",
        "duration_seconds": 184,
        "status": "completed",
        "sentiment": "positive",
        "summary": "Caller asked about teeth whitening prices and booked a cleaning for Friday "
        "at 10am. Wants a reminder text the day before.",
        "recording_url": "https://cdn.boltcall.org/recordings/call_8f2k1q9z.mp3",
        "transcript_url": "https://cdn.boltcall.org/transcripts/call_8f2k1q9z.txt",
    }
    envelope = {"event": "call_completed", "timestamp": "2025-03-20T09:17:22Z", "data": data}
    return json.dumps(envelope, separators=(",", ":")).encode()


def large_event(size: int = 256 * 1024) -> bytes:
    """A call_completed envelope padded with a transcript to about ``size`` bytes."""
    line = {"speaker": "caller", "text": "I would like to book an appointment for next week."}
    turns = [line] * (size // (len(json.dumps(line)) + 1))
    envelope = {
        "event": "call_completed",
        "timestamp": "2025-03-20T09:17:22Z",
        "data": {"id": "call_big", "status": "completed", "transcript": turns},
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- the apps


def handle(event: CallCompletedEvent) -> None:
    """The no-op handler every endpoint case runs."""


def router() -> Router:
    """A router with the no-op handler on the benchmark's event type."""
    routes = Router()
    routes.on(CallCompletedEvent)(handle)
    return routes


def flask_app() -> WsgiApp:
    from flask import Flask, current_app, request
    from werkzeug.wrappers import Response

    from boltcall_webhooks.flask import verify_webhook, webhook_view

    app = Flask("bench")

    @app.post("/bare")
    def bare() -> str:
        request.get_data()
        return "ok"

    verifier = Verifier(SECRET)

    @app.post("/byhand")
    def by_hand() -> str:
        verifier.construct_event(request.get_data(), request.headers.get(SIGNATURE_HEADER))
        return "ok"

    @app.post("/hook")
    @verify_webhook(SECRET)
    def hook(event: Event) -> str:
        return "ok"

    @app.post("/own")
    @verify_webhook(SECRET)
    def own(event: Event) -> Response:
        """What a user writes for the ready view's job: handler, then the same answer."""
        if isinstance(event, CallCompletedEvent):
            handle(event)
        response: Response = current_app.response_class(RECEIVED, content_type="application/json")
        return response

    app.add_url_rule(
        "/router", view_func=webhook_view(router=router(), secrets=SECRET), methods=["POST"]
    )
    return app.wsgi_app


def django_apps() -> tuple[WsgiApp, WsgiApp]:
    """Two handlers on one URLconf: without middleware, and with BoltcallWebhookMiddleware."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    from boltcall_webhooks.django import BoltcallWebhookView, verify_webhook

    urls = ModuleType("bench_urls")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=urls,
        MIDDLEWARE=[],
        DATABASES={},
        INSTALLED_APPS=[],
        USE_TZ=True,
        BOLTCALL_WEBHOOK_SECRET=SECRET,
        BOLTCALL_WEBHOOK_PATHS=["/mw/"],
    )
    django.setup()

    def bare(request: HttpRequest) -> HttpResponse:
        request.body  # noqa: B018 - read the body, like the adapters
        return HttpResponse("ok")

    verifier = Verifier(SECRET)

    def by_hand(request: HttpRequest) -> HttpResponse:
        verifier.construct_event(request.body, request.headers.get(SIGNATURE_HEADER))
        return HttpResponse("ok")

    class Hook(BoltcallWebhookView):
        def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
            return HttpResponse("ok")

    class Own(BoltcallWebhookView):
        """What a user writes for the ready view's job: handler, then the same answer."""

        def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
            if isinstance(event, CallCompletedEvent):
                handle(event)
            return HttpResponse(RECEIVED, content_type="application/json")

    @verify_webhook(SECRET)
    def decorated(request: HttpRequest, event: Event) -> HttpResponse:
        return HttpResponse("ok")

    def behind_middleware(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("bare/", bare),
        path("byhand/", by_hand),
        path("cbv/", Hook.as_view(boltcall_secrets=SECRET)),
        path("own/", Own.as_view(boltcall_secrets=SECRET)),
        path("router/", BoltcallWebhookView.as_view(router=router(), boltcall_secrets=SECRET)),
        path("fn/", decorated),
        path("mw/", behind_middleware),
    ]
    plain = WSGIHandler()
    settings.MIDDLEWARE = ["boltcall_webhooks.django.BoltcallWebhookMiddleware"]
    guarded = WSGIHandler()
    return plain, guarded


# --------------------------------------------------------------------------- timing


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    if not status.startswith("200"):
        msg = f"benchmark request failed: {status}"
        raise RuntimeError(msg)
    return None


def caller(app: WsgiApp, url_path: str, body: bytes, signature: str) -> Callable[[], None]:
    """A callable sending one POST of ``body`` to ``app`` through a fresh environ."""
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": url_path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_"): signature,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def call() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        response = app(environ, _start_response)
        for _ in response:
            pass
        close = getattr(response, "close", None)
        if close is not None:
            close()

    return call


def per_call(fn: Callable[[], object], number: int) -> float:
    """CPU seconds per call: time this process was descheduled does not count."""
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number


def measure(
    cases: dict[str, Callable[[], object]], rounds: int, number: int
) -> dict[str, list[float]]:
    """Seconds per call of each case in every round; the order is shuffled per round."""
    for fn in cases.values():
        fn()  # warm up (imports, caches, URL resolver)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    rng = random.Random(1234)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            samples[name].append(per_call(cases[name], number))
    return samples


@dataclass(frozen=True)
class Row:
    """One adapter on one body: medians in seconds per request."""

    name: str
    body: str
    bare: float
    by_hand: float
    adapter: float
    overhead: float
    over_by_hand: float
    construct: float


def _paired(times: list[float], baseline: list[float]) -> float:
    return statistics.median(a - b for a, b in zip(times, baseline, strict=True))


def _print(rows: list[Row], rounds: int) -> None:
    print(f"Adapter overhead per request, CPU µs (medians of {rounds} interleaved rounds)")
    header = (
        f"{'adapter':<28}{'body':>8}{'bare':>8}{'by hand':>9}{'adapter':>9}{'overhead':>10}"
        f"{'construct':>11}{'ratio':>7}{'in situ':>9}{'vs hand':>9}  target <= {TARGET_RATIO:.2f}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.overhead / row.construct
        in_situ = row.overhead / (row.by_hand - row.bare)
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        verdict_in_situ = "met" if in_situ <= TARGET_RATIO else "MISSED"
        print(
            f"{row.name:<28}{row.body:>8}{row.bare * 1e6:>8.1f}{row.by_hand * 1e6:>9.1f}"
            f"{row.adapter * 1e6:>9.1f}{row.overhead * 1e6:>10.1f}{row.construct * 1e6:>11.1f}"
            f"{ratio:>7.2f}{in_situ:>9.2f}{row.over_by_hand * 1e6:>+9.1f}"
            f"  ratio {verdict}, in situ {verdict_in_situ}"
        )
    print(
        "bare: a route that only reads the body. by hand: the same route calling "
        "Verifier.construct_event itself.\n"
        "overhead = adapter - bare (median of per-round differences). construct = "
        "Verifier.construct_event alone, in a tight loop.\n"
        "ratio = overhead / construct. in situ = overhead / (by hand - bare), i.e. against "
        "what construct_event costs inside a request.\n"
        "vs hand = adapter - by hand: what the adapter adds to verifying by hand."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    args = parser.parse_args(argv)
    rounds = 12 if args.quick else 60

    flask_wsgi = flask_app()
    django_plain, django_guarded = django_apps()
    verifier = Verifier(SECRET)

    rows: list[Row] = []
    endpoint_samples: dict[str, list[float]] | None = None
    bodies = [("~500 B", small_event(), 50 if args.quick else 200)]
    bodies.append(("256 KiB", large_event(), 3 if args.quick else 10))
    for label, body, number in bodies:
        signature = sign(body, SECRET)
        cases: dict[str, Callable[[], object]] = {
            "construct_event": functools.partial(verifier.construct_event, body, signature),
            "flask bare": caller(flask_wsgi, "/bare", body, signature),
            "flask by-hand": caller(flask_wsgi, "/byhand", body, signature),
            "flask @verify_webhook": caller(flask_wsgi, "/hook", body, signature),
            "flask @verify_webhook + own": caller(flask_wsgi, "/own", body, signature),
            "flask webhook_view(router=)": caller(flask_wsgi, "/router", body, signature),
            "django bare": caller(django_plain, "/bare/", body, signature),
            "django by-hand": caller(django_plain, "/byhand/", body, signature),
            "django BoltcallWebhookView": caller(django_plain, "/cbv/", body, signature),
            "django handle_event + own": caller(django_plain, "/own/", body, signature),
            "django as_view(router=)": caller(django_plain, "/router/", body, signature),
            "django @verify_webhook": caller(django_plain, "/fn/", body, signature),
            "django middleware": caller(django_guarded, "/mw/", body, signature),
        }
        samples = measure(cases, rounds, number)
        if endpoint_samples is None:
            endpoint_samples = samples  # the ~500-byte body
        construct = statistics.median(samples["construct_event"])
        for name, times in samples.items():
            framework, _, kind = name.partition(" ")
            if framework == "construct_event" or kind in {"bare", "by-hand"}:
                continue
            bare = samples[f"{framework} bare"]
            by_hand = samples[f"{framework} by-hand"]
            rows.append(
                Row(
                    name,
                    label,
                    statistics.median(bare),
                    statistics.median(by_hand),
                    statistics.median(times),
                    # Paired within each round, so slow phases of a busy machine cancel out.
                    _paired(times, bare),
                    _paired(times, by_hand),
                    construct,
                )
            )
    _print(rows, rounds)
    assert endpoint_samples is not None
    failed = _endpoints(endpoint_samples, QUICK_ENDPOINT_BOUND if args.quick else ENDPOINT_TARGET)
    if failed:
        print("FAILED (ready endpoint overhead): " + "; ".join(failed))
        return 1
    return 0


ENDPOINT_PAIRS = (
    ("flask", "flask webhook_view(router=)", "flask @verify_webhook + own"),
    ("django", "django as_view(router=)", "django handle_event + own"),
)


def _endpoints(samples: dict[str, list[float]], bound: float) -> list[str]:
    """The ready views against the decorator/subclass doing the same job (~500-byte body)."""
    print("\nready view vs the decorator/handle_event doing the same job (~500 B body):")
    failed: list[str] = []
    for framework, endpoint, reference in ENDPOINT_PAIRS:
        bare = samples[f"{framework} bare"]
        ours = _paired(samples[endpoint], bare)
        theirs = _paired(samples[reference], bare)
        ratio = ours / theirs
        verdict = "ok" if ratio <= ENDPOINT_TARGET else "MISSED"
        print(
            f"  {framework}: overhead over the bare route {ours * 1e6:.1f} µs vs "
            f"{theirs * 1e6:.1f} µs = {ratio:.3f}x ({verdict} <= {ENDPOINT_TARGET}; "
            f"this run fails above {bound})"
        )
        if ratio > bound:
            failed.append(f"{endpoint} {ratio:.3f}x > {bound}x")
    return failed


if __name__ == "__main__":
    sys.exit(main())
