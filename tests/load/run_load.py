"""Load and fault run on real servers: the Flask, Starlette and FastAPI examples.

Flask runs under gunicorn (gthread workers), Starlette and FastAPI under
uvicorn. Each serves a shipped example as written, its ready endpoint
(``webhook_view`` / ``webhook_endpoint`` with the example's ``Router``) at
``/webhooks/boltcall``; ``wsgi_apps.py`` / ``asgi_apps.py`` only add one
handler to the example's router that records every event by ``data.id``, and
``POST /bare``, the baseline: a route of the same app that parses the same
body with ``json.loads`` and answers the same JSON (``{"received": true}``)
without verifying. On 127.0.0.1, on a free port, the driver (asyncio with aiohttp, and
raw sockets where a client must misbehave) runs three phases per target:

1. warm-up: a few hundred requests of every kind, so that memory is measured
   from a steady state (lazy imports, allocator arenas, verifier built on first use);
2. throughput: blocks of genuine deliveries to the router endpoint and blocks of
   the same bodies to the baseline route, alternated (W B, B W, ...) so that the
   noise of a shared machine falls on both. Reported: requests/s of each and
   their ratio (the figure that matters; absolute numbers depend on the
   machine), latency p50/p99, and the server processes' CPU time per request
   (``/proc/<pid>/stat``), which other processes' load disturbs much less;
3. mix: tens of thousands of requests (a few thousand with ``--quick``), shuffled:
   genuine (unique ``data.id``; Content-Length or chunked), forged (another
   secret), tampered (body changed after signing), missing signature, malformed
   (signed, not an envelope), oversize (correctly signed, over
   ``max_body_size``; Content-Length or chunked), slow senders (a genuine body
   trickled in pieces with pauses), clients that leave mid-body (half the
   announced or chunked body, then close with FIN or RST) and clients that
   half-close mid-body and wait for an answer.

Checks, per target: every genuine delivery got 200 ``{"received": true}`` and
reached the handler exactly once (ids counted across the worker processes'
record files); nothing else reached it; each kind got only its expected
outcome (401, 413, 400, ...), so no 5xx and no client error; the server logged
no exception; the router endpoint's requests/s, median per round, reach
``Settings.min_ratio`` of the baseline's (0.85; 0.7 in the noisier quick
run); the server processes are the same at the end (no worker died)
and still answer; their summed RSS (``VmRSS``; the gunicorn master and workers)
grew by less than ``Settings.max_rss_growth_mib`` from the end of the warm-up
to the end of the run. It prints tables and exits 1 if any check failed.

Every loop is bounded in count and time; servers bind 127.0.0.1 and are always
stopped (they also stop by themselves, see ``tests/servers``). Linux only
(``/proc``).

Usage::

    python tests/load/run_load.py            # full: ~55k requests per target, a few minutes
    python tests/load/run_load.py --quick    # CI: ~12k requests per target, about a minute
    python tests/load/run_load.py --target starlette --json /tmp/load.json
    python tests/load/run_load.py --control  # the checks must catch an unguarded receiver
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import platform
import random
import sys
import tempfile
import time
from collections.abc import Coroutine, Generator, Sequence
from typing import Any, Final

from load_clients import run_block, run_jobs
from load_procs import rss_kib, server_processes
from load_results import Results, check, render, server_errors, summary
from load_traffic import (
    EVENT_TYPES,
    FULL,
    GENUINE_KINDS,
    QUICK,
    SECRET,
    Job,
    Settings,
    counts,
    plan,
)
from recording import RECORD_DIR_VAR, check_installed

import boltcall_webhooks
from boltcall_webhooks import SECRET_ENV_VAR

HERE: Final = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "servers"))  # the shared real-server helpers

from gunicorn_util import run_gunicorn  # noqa: E402
from uvicorn_util import run_uvicorn  # noqa: E402

# name: (server, "module:app" served from tests/load)
TARGETS: Final = {
    "flask": ("gunicorn", "wsgi_apps:flask_app"),
    "starlette": ("uvicorn", "asgi_apps:starlette_app"),
    "fastapi": ("uvicorn", "asgi_apps:fastapi_app"),
}
# The positive control: a receiver that never verifies; a run against it must fail.
CONTROL: Final = ("uvicorn", "asgi_apps:unguarded_app")
REFUSED_KINDS: Final = ("forged", "tampered", "missing", "oversize", "oversize_chunked")


@contextlib.contextmanager
def serve(
    target: str, record_dir: str, log_path: str, settings: Settings
) -> Generator[str, None, None]:
    """Start the target's server on 127.0.0.1 with its load app; yield the base URL."""
    env = {SECRET_ENV_VAR: SECRET, RECORD_DIR_VAR: record_dir, "PYTHONDONTWRITEBYTECODE": "1"}
    server, app = TARGETS.get(target, CONTROL)
    if server == "gunicorn":
        args = [
            "--worker-class", "gthread",
            "--workers", str(settings.gunicorn_workers),
            "--threads", str(settings.gunicorn_threads),
            "--error-logfile", log_path,
            "--keep-alive", "30",
        ]  # fmt: skip
        with run_gunicorn(
            app, env=env, cwd=HERE, args=args,
            max_seconds=settings.server_seconds, startup_timeout=60.0,
        ) as base:  # fmt: skip
            yield base
        return
    per_server = settings.warmup + 2 * settings.rounds * settings.block + settings.mix
    with run_uvicorn(
        app, env=env, cwd=HERE, args=uvicorn_args(),
        max_seconds=settings.server_seconds, max_requests=2 * per_server + 1000,
        log_path=log_path, startup_timeout=60.0,
    ) as base:  # fmt: skip
        yield base


def uvicorn_args() -> list[str]:
    """Use the fast HTTP parser and event loop when installed (as uvicorn[standard] does)."""
    import importlib.util

    args: list[str] = []
    if importlib.util.find_spec("httptools") is not None:
        args += ["--http", "httptools"]
    if importlib.util.find_spec("uvloop") is not None:
        args += ["--loop", "uvloop"]
    return args


# --- one target ---------------------------------------------------------------


def track(results: Results, jobs: Sequence[Job]) -> None:
    for job in jobs:
        (results.genuine_ids if job.kind in GENUINE_KINDS else results.other_ids).add(job.event_id)


async def exercise(base: str, results: Results, settings: Settings, rng: random.Random) -> None:
    """Warm-up, throughput blocks and the mixed phase, with memory samples between them."""
    port = int(base.rsplit(":", 1)[1])
    warm_counts = counts(settings.warmup)
    # Enough oversize bodies that every server thread has held one before memory
    # is first sampled (their buffers are what moves RSS most).
    threads = settings.gunicorn_workers * settings.gunicorn_threads
    for kind in ("oversize", "oversize_chunked"):
        warm_counts[kind] = max(warm_counts[kind], 2 * threads)
    warmup = plan(warm_counts, "warm", rng)
    track(results, warmup)
    await run_jobs(base, port, warmup, results, settings)
    gunicorn = results.server == "gunicorn"
    expected = 1 + settings.gunicorn_workers if gunicorn else 1
    deadline = time.monotonic() + 30.0
    pids = server_processes()
    while len(pids) < expected and time.monotonic() < deadline:  # a worker still booting
        await asyncio.sleep(0.2)
        pids = server_processes()
    if len(pids) != expected:
        results.failures.append(f"expected {expected} server processes, found {len(pids)}")
    results.rss.append(("after warm-up", rss_kib(pids)))
    results.phase = "throughput"

    for round_ in range(settings.rounds):
        order = ("tp_webhook", "bare") if round_ % 2 == 0 else ("bare", "tp_webhook")
        for kind in order:
            jobs = [
                Job(kind, f"tp{round_}-{kind}-{n:06d}", EVENT_TYPES[n % len(EVENT_TYPES)])
                for n in range(settings.block)
            ]
            track(results, jobs)
            await run_block(port, kind, jobs, results, settings, pids)
    results.rss.append(("after throughput", rss_kib(pids)))
    results.phase = "mix"

    mix = plan(counts(settings.mix), "mix", rng)
    track(results, mix)
    half = len(mix) // 2
    results.mix_seconds += await run_jobs(base, port, mix[:half], results, settings)
    results.rss.append(("mid-mix", rss_kib(pids)))
    results.mix_seconds += await run_jobs(base, port, mix[half:], results, settings)
    results.rss.append(("end", rss_kib(pids)))

    now = server_processes()
    if now != pids:
        results.failures.append(f"server processes changed during the run: {pids} -> {now}")
    results.phase = "after"
    liveness = [Job("liveness", "liveness-000000", "new_lead")]
    track(results, liveness)
    await run_jobs(base, port, liveness, results, settings)


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run the client on uvloop when it is installed (a faster client loads the server more)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def run_target(
    target: str, settings: Settings, seed: int, log_dir: pathlib.Path | None = None
) -> Results:
    """Run every phase against one target, stop its server, then check what its handler saw."""
    results = Results(target, TARGETS.get(target, CONTROL)[0])
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="boltcall-load-") as tmp:
        record_dir = os.path.join(tmp, "records")
        os.mkdir(record_dir)
        log_path = os.path.join(tmp, "server.log")
        with serve(target, record_dir, log_path, settings) as base:
            run_async(exercise(base, results, settings, rng))
        for path in pathlib.Path(record_dir).glob("handled-*.jsonl"):
            for line in path.read_text().splitlines():
                results.handled[json.loads(line)] += 1
        log = pathlib.Path(log_path).read_text(errors="replace")
    results.server_errors = server_errors(log)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{target}.log").write_text(log)
    check(results, settings)
    return results


def control(seed: int) -> int:
    """Run against a receiver that skips verification; succeed only if the checks catch it."""
    check_installed()
    settings = dataclasses.replace(QUICK, warmup=100, rounds=1, block=100, mix=600)
    results = run_target("control", settings, seed)
    caught = {kind: results.intruders[kind] for kind in REFUSED_KINDS}
    print(
        "positive control (a receiver that parses bodies without verifying them): "
        f"refused kinds that reached its handler: {caught}; "
        f"{len(results.failures)} failed checks"
    )
    if all(caught.values()):
        print("the load checks caught it")
        return 0
    print("FAILED: the load checks did not catch every forgery reaching an unguarded handler")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="the short CI run")
    parser.add_argument(
        "--target", choices=[*TARGETS, "all"], default="all", help="which example to serve"
    )
    parser.add_argument("--concurrency", type=int, help="requests in flight")
    parser.add_argument("--mix", type=int, help="requests in the mixed phase")
    parser.add_argument("--block", type=int, help="requests per throughput block")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    parser.add_argument("--log-dir", type=pathlib.Path, help="keep the server logs here")
    parser.add_argument(
        "--control",
        action="store_true",
        help="positive control: a short run against a receiver that never verifies must fail",
    )
    args = parser.parse_args(argv)
    if args.control:
        return control(args.seed)
    settings = QUICK if args.quick else FULL
    overrides = {
        name: getattr(args, name)
        for name in ("concurrency", "mix", "block")
        if getattr(args, name) is not None
    }
    settings = dataclasses.replace(settings, **overrides)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    check_installed()
    print(
        f"boltcall-webhooks {boltcall_webhooks.__version__} from "
        f"{pathlib.Path(boltcall_webhooks.__file__).parent}; Python {platform.python_version()}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
        f"{'quick' if args.quick else 'full'} run",
        flush=True,
    )
    report: list[dict[str, Any]] = []
    for number, target in enumerate(targets):
        started = time.monotonic()
        results = run_target(target, settings, args.seed + number, args.log_dir)
        data = summary(results, settings)
        data["seconds"] = time.monotonic() - started
        data["load_average_after"] = os.getloadavg()[0]
        report.append(data)
        print(render(data, settings), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = [d["target"] for d in report if d["failures"]]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
