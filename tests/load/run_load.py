"""Load and fault run on real servers: the Flask, Starlette and FastAPI examples.

Flask runs under gunicorn (gthread workers), Starlette and FastAPI under
uvicorn. Each serves a shipped example rebuilt by ``wsgi_apps.py`` /
``asgi_apps.py`` so that every event its handler receives is recorded by
``data.id`` (verification still goes through the real adapter, configured as
in the example), plus ``POST /bare``, a route of the same app that only reads
the body. On 127.0.0.1, on a free port, the driver (asyncio with aiohttp, and
raw sockets where a client must misbehave) runs three phases per target:

1. warm-up: a few hundred requests of every kind, so that memory is measured
   from a steady state (lazy imports, allocator arenas, verifier built on first use);
2. throughput: blocks of genuine deliveries to the webhook route and blocks of
   the same bodies to the bare route, alternated (W B, B W, ...) so that the
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

Checks, per target: every genuine delivery got 200 with its own id echoed and
reached the handler exactly once (ids counted across the worker processes'
record files); nothing else reached it; each kind got only its expected
outcome (401, 413, 400, ...), so no 5xx and no client error; the server logged
no exception; the server processes are the same at the end (no worker died)
and still answer; their summed RSS (``VmRSS``; the gunicorn master and workers)
grew by less than ``Settings.max_rss_growth_mib`` from the end of the warm-up
to the end of the run. It prints tables and exits 1 if any check failed.

Every loop is bounded in count and time; servers bind 127.0.0.1 and are always
stopped (they also stop by themselves, see ``tests/servers``). Linux only
(``/proc``).

Usage::

    python tests/load/run_load.py            # full: ~55k requests per target, a few minutes
    python tests/load/run_load.py --quick    # CI: ~7k requests per target, under a minute
    python tests/load/run_load.py --target starlette --json /tmp/load.json
    python tests/load/run_load.py --control  # the checks must catch an unguarded receiver
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import pathlib
import platform
import random
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

import boltcall_webhooks
from boltcall_webhooks import DEFAULT_MAX_BODY_SIZE, SECRET_ENV_VAR, SIGNATURE_HEADER, sign
from boltcall_webhooks.testing import signed_request

HERE: Final = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "servers"))  # the shared real-server helpers

from gunicorn_util import run_gunicorn  # noqa: E402
from recording import BARE_PATH, RECORD_DIR_VAR, WEBHOOK_PATH, check_installed  # noqa: E402
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

SECRET: Final = "whsec_load_run_7f3a9c2e5b8d1f4a"
WRONG_SECRET: Final = "whsec_attacker_0000000000000000"
EVENT_TYPES: Final = (
    "new_lead",
    "call_completed",
    "missed_call",
    "appointment_booked",
    "review_received",
)
MiB: Final = 1024 * 1024

GENUINE_KINDS: Final = frozenset(
    {"genuine", "genuine_chunked", "slow", "slow_chunked", "tp_webhook", "liveness"}
)
LEFT: Final = "left mid-body"
RESET: Final = "reset while sending"
CLOSED: Final = "closed, no answer"
LEAVING_KINDS: Final = frozenset({"disconnect", "disconnect_chunked", "half_close"})
RAW_KINDS: Final = frozenset(
    {"slow", "slow_chunked", "oversize", "oversize_chunked", *LEAVING_KINDS}
)
OK: Final = frozenset({200})
EXPECTED: Final[dict[str, frozenset[int | str]]] = {
    "tp_webhook": OK,  # throughput phase: genuine deliveries to the webhook route
    "bare": OK,  # throughput phase: the same bodies to the bare route
    "liveness": OK,  # one genuine delivery after the run: the server still answers
    "genuine": OK,
    "genuine_chunked": OK,
    "slow": OK,
    "slow_chunked": OK,
    "forged": frozenset({401}),
    "tampered": frozenset({401}),
    "missing": frozenset({401}),
    "malformed": frozenset({400}),
    # Refused early: the server may close before taking the whole body, and the
    # reset can reach the client before the 413 does.
    "oversize": frozenset({413, RESET}),
    "oversize_chunked": frozenset({413, RESET}),
    # The client leaves mid-body (FIN or RST): no answer is read.
    "disconnect": frozenset({LEFT}),
    "disconnect_chunked": frozenset({LEFT}),
    # The client stops mid-body, half-closes and waits: a refusal or a close, never 5xx.
    "half_close": frozenset({400, 401, CLOSED}),
}
# Shares of the mixed phase (per 1000 requests).
WEIGHTS: Final = {
    "genuine": 500,
    "genuine_chunked": 60,
    "forged": 80,
    "tampered": 80,
    "missing": 60,
    "malformed": 80,
    "oversize": 10,
    "oversize_chunked": 10,
    "slow": 20,
    "slow_chunked": 20,
    "disconnect": 30,
    "disconnect_chunked": 30,
    "half_close": 20,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The size of one run."""

    warmup: int
    rounds: int
    block: int
    mix: int
    concurrency: int
    slow_parts: int
    slow_pause: float
    phase_timeout: float
    server_seconds: float
    gunicorn_workers: int
    gunicorn_threads: int
    max_rss_growth_mib: float
    per_connection: int = 25


FULL: Final = Settings(
    warmup=800, rounds=12, block=1000, mix=30_000, concurrency=100, slow_parts=6,
    slow_pause=0.04, phase_timeout=600.0, server_seconds=1500.0, gunicorn_workers=2,
    gunicorn_threads=8, max_rss_growth_mib=20.0,
)  # fmt: skip
QUICK: Final = Settings(
    warmup=400, rounds=8, block=200, mix=3_000, concurrency=64, slow_parts=4,
    slow_pause=0.03, phase_timeout=60.0, server_seconds=240.0, gunicorn_workers=2,
    gunicorn_threads=8, max_rss_growth_mib=20.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Job:
    """One request to make: its kind and the id in its body (unique in the run)."""

    kind: str
    event_id: str
    event_type: str


@dataclass(slots=True)
class Outcome:
    """What came back for every job of one kind."""

    statuses: Counter[int | str] = field(default_factory=Counter[int | str])
    latencies: list[float] = field(default_factory=list[float])
    wrong_echo: int = 0
    errors: Counter[str] = field(default_factory=Counter[str])


@dataclass(frozen=True, slots=True)
class Block:
    """One throughput block: wall time, and CPU time used by the server processes."""

    kind: str
    requests: int
    seconds: float
    server_cpu_seconds: float


@dataclass(slots=True)
class Results:
    """Everything measured against one target (an example app under its server)."""

    target: str
    phase: str = "warm-up"
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict[str, dict[str, Outcome]])
    genuine_ids: set[str] = field(default_factory=set[str])
    other_ids: set[str] = field(default_factory=set[str])
    blocks: list[Block] = field(default_factory=list["Block"])
    rss: list[tuple[str, dict[int, int]]] = field(default_factory=list[tuple[str, dict[int, int]]])
    handled: Counter[str] = field(default_factory=Counter[str])
    server_errors: Counter[str] = field(default_factory=Counter[str])
    intruders: Counter[str] = field(default_factory=Counter[str])
    mix_seconds: float = 0.0
    failures: list[str] = field(default_factory=list[str])

    def outcome(self, kind: str) -> Outcome:
        """The outcome of ``kind`` in the current phase."""
        return self.outcomes.setdefault(self.phase, {}).setdefault(kind, Outcome())

    def sent(self, kind: str) -> int:
        """How many requests of ``kind`` were made, over all phases."""
        return sum(
            sum(by_kind[kind].statuses.values())
            for by_kind in self.outcomes.values()
            if kind in by_kind
        )


# --- bodies -------------------------------------------------------------------


def _signed(job: Job, secret: str = SECRET, **fields: Any) -> tuple[bytes, str | None]:
    request = signed_request(job.event_type, secret=secret, id=job.event_id, **fields)
    return request.body, request.signature


def build(job: Job) -> tuple[bytes, dict[str, str]]:
    """The body and headers for a job (oversize bodies are built only when sent)."""
    kind = job.kind
    signature: str | None
    if kind == "forged":
        body, signature = _signed(job, WRONG_SECRET)
    elif kind == "tampered":
        body, signature = _signed(job)
        # Same length, another id: the signature was made for the original bytes.
        body = body.replace(job.event_id.encode(), job.event_id.upper().encode(), 1)
    elif kind == "missing":
        body, signature = _signed(job)[0], None
    elif kind == "malformed":
        variants = (
            b"not json at all " + job.event_id.encode(),
            json.dumps([job.event_id]).encode(),
            json.dumps(
                {"timestamp": "2025-03-20T09:17:22Z", "data": {"id": job.event_id}}
            ).encode(),
            b'{"event": "new_lead", "data": {"id": "' + job.event_id.encode(),
        )
        body = variants[int(job.event_id[-6:]) % len(variants)]
        signature = sign(body, SECRET)
    elif kind.startswith("oversize"):
        body, signature = _signed(job, note="x" * (DEFAULT_MAX_BODY_SIZE + 1024))
    else:  # genuine kinds, bare, disconnect: a correctly signed body
        body, signature = _signed(job)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return body, headers


def plan(kinds: dict[str, int], prefix: str, rng: random.Random) -> list[Job]:
    """Jobs with the given count per kind, shuffled, each with a unique id."""
    jobs: list[Job] = []
    for kind, count in kinds.items():
        for n in range(count):
            event_id = f"{prefix}-{kind}-{n:06d}"
            jobs.append(Job(kind, event_id, EVENT_TYPES[n % len(EVENT_TYPES)]))
    rng.shuffle(jobs)
    return jobs


# --- clients ------------------------------------------------------------------


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _stream(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for chunk in _chunks(body, size):
        yield chunk


async def http_job(
    session: aiohttp.ClientSession, base: str, job: Job, results: Results, *, check_echo: bool
) -> None:
    """Send one request with aiohttp and record its status and latency."""
    body, headers = build(job)
    path = BARE_PATH if job.kind == "bare" else WEBHOOK_PATH
    data: bytes | AsyncIterator[bytes] = _stream(body) if job.kind.endswith("_chunked") else body
    outcome = results.outcome(job.kind)
    started = time.perf_counter()
    try:
        async with session.post(base + path, data=data, headers=headers) as response:
            payload = await response.read()
            status = response.status
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        outcome.statuses[f"client error: {type(exc).__name__}"] += 1
        outcome.errors[f"{type(exc).__name__}: {exc}"] += 1
        return
    outcome.latencies.append(time.perf_counter() - started)
    outcome.statuses[status] += 1
    if check_echo and status == 200 and job.kind in GENUINE_KINDS:
        echoed = json.loads(payload)
        if echoed.get("id") != job.event_id:
            outcome.wrong_echo += 1


async def _read_status(reader: asyncio.StreamReader) -> int:
    """Read a response head (``Connection: close`` was asked) and drain; return the status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    with contextlib.suppress(OSError):  # a reset after the answer changes nothing
        await reader.read()
    return status


def _odd(job: Job) -> bool:
    return int(job.event_id[-1]) % 2 == 1


async def raw_job(port: int, job: Job, results: Results, settings: Settings) -> None:
    """A slow sender, a client that leaves mid-body, or an oversize body, on its own socket."""
    body, headers = build(job)
    # Half of the half-close clients stream their body chunked.
    chunked = job.kind.endswith("_chunked") or (job.kind == "half_close" and _odd(job))
    lines = [f"POST {WEBHOOK_PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    pause = 0.0
    complete = True
    if job.kind in LEAVING_KINDS:
        parts = [body[: len(body) // 2]]
        complete = False
    elif job.kind.startswith("oversize"):
        parts = list(_chunks(body, 64 * 1024))
    else:
        parts = list(_chunks(body, -(-len(body) // settings.slow_parts)))
        pause = settings.slow_pause
    if chunked:
        parts = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts]
        if complete:
            parts.append(b"0\r\n\r\n")
    outcome = results.outcome(job.kind)
    started = time.perf_counter()
    try:
        status = await asyncio.wait_for(_exchange(port, job, head, parts, pause), 30.0)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
        outcome.statuses[f"client error: {type(exc).__name__}"] += 1
        outcome.errors[f"{type(exc).__name__}: {exc}"] += 1
        return
    if isinstance(status, int):
        outcome.latencies.append(time.perf_counter() - started)
    outcome.statuses[status] += 1


async def _exchange(
    port: int, job: Job, head: bytes, parts: Sequence[bytes], pause: float
) -> int | str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(head)
            await writer.drain()
            for part in parts:
                if pause:
                    await asyncio.sleep(pause)
                writer.write(part)
                await writer.drain()
        except OSError:
            if not job.kind.startswith("oversize"):
                raise
            # The server answered early and closed without reading the rest: the
            # answer is read if it arrived before the reset.
            try:
                return await _read_status(reader)
            except (OSError, asyncio.IncompleteReadError):
                return RESET
        if job.kind in {"disconnect", "disconnect_chunked"}:
            if _odd(job):  # half of them leave with RST instead of FIN
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return LEFT
        if job.kind == "half_close":
            writer.write_eof()  # no more body will come; wait for the server's answer
            try:
                return await _read_status(reader)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                return CLOSED
        return await _read_status(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def run_jobs(
    base: str, port: int, jobs: Sequence[Job], results: Results, settings: Settings
) -> float:
    """Run ``jobs`` with ``settings.concurrency`` requests in flight; return the wall time."""
    pending = iter(jobs)
    connector = aiohttp.TCPConnector(limit=settings.concurrency)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        for job in pending:  # shared iterator: each job is taken once
            if job.kind in RAW_KINDS:
                await raw_job(port, job, results, settings)
            else:
                await http_job(session, base, job, results, check_echo=True)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        workers = [worker(session) for _ in range(settings.concurrency)]
        await asyncio.wait_for(asyncio.gather(*workers), settings.phase_timeout)
    return time.perf_counter() - started


async def run_block(
    port: int,
    kind: str,
    jobs: Sequence[Job],
    results: Results,
    settings: Settings,
    pids: Sequence[int],
) -> None:
    """A throughput block: one kind only, prebuilt requests on keep-alive connections.

    No HTTP library here: the client shares the machine with the server, and the
    less CPU it takes, the more the figures measure the server. Each connection
    carries ``settings.per_connection`` requests, then a new one is opened, so
    gunicorn's workers share the connections (a kept-alive connection stays with
    the worker that accepted it).
    """
    path = BARE_PATH if kind == "bare" else WEBHOOK_PATH
    prebuilt = [_request_bytes(port, path, job) for job in jobs]  # signed before the clock
    pending = iter(prebuilt)
    outcome = results.outcome(kind)

    async def worker() -> None:
        while True:
            batch = list(itertools.islice(pending, settings.per_connection))
            if not batch:
                return
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                for request in batch:
                    started = time.perf_counter()
                    writer.write(request)
                    await writer.drain()
                    status = await _read_response(reader)
                    outcome.latencies.append(time.perf_counter() - started)
                    outcome.statuses[status] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                outcome.statuses[f"client error: {type(exc).__name__}"] += 1
                outcome.errors[f"{type(exc).__name__}: {exc}"] += 1
            finally:
                writer.close()

    cpu = cpu_seconds(pids)
    started = time.perf_counter()
    workers = [worker() for _ in range(settings.concurrency)]
    await asyncio.wait_for(asyncio.gather(*workers), settings.phase_timeout)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pids) - cpu
    results.blocks.append(Block(kind, len(jobs), elapsed, cpu))


def _request_bytes(port: int, path: str, job: Job) -> bytes:
    body, headers = build(job)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one keep-alive response (these servers send a Content-Length); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length: int | None = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        msg = "an answer without Content-Length"
        raise ValueError(msg)
    await reader.readexactly(length)
    return status


# --- server processes and memory ---------------------------------------------


def server_processes() -> list[int]:
    """The pids of every descendant of this process (the server and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = pathlib.Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    queue = [os.getpid()]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return sorted(found)


def rss_kib(pids: Sequence[int]) -> dict[int, int]:
    """``VmRSS`` in KiB of each pid (0 for a process that is gone)."""
    sizes: dict[int, int] = {}
    for pid in pids:
        sizes[pid] = 0
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
    return sizes


CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by the processes (all their threads)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


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


# --- one server ---------------------------------------------------------------


def track(results: Results, jobs: Sequence[Job]) -> None:
    for job in jobs:
        (results.genuine_ids if job.kind in GENUINE_KINDS else results.other_ids).add(job.event_id)


def counts(total: int) -> dict[str, int]:
    """How many jobs of each kind in a mixed phase of ``total`` requests (at least 2 each)."""
    weight = sum(WEIGHTS.values())
    return {kind: max(2, round(total * share / weight)) for kind, share in WEIGHTS.items()}


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
    gunicorn = TARGETS.get(results.target, CONTROL)[0] == "gunicorn"
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
    results = Results(target)
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


def server_errors(log: str) -> Counter[str]:
    """The exceptions in the server's log, by their last line (``Type: message``)."""
    found: Counter[str] = Counter()
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("Traceback"):
            last = next(
                (ln for ln in lines[number + 1 :] if ln and not ln.startswith((" ", "\t"))),
                "(end of log)",
            )
            found[last] += 1
    return found


def check(results: Results, settings: Settings) -> None:
    """Append a message to ``results.failures`` for every broken promise."""
    fail = results.failures.append
    handled = results.handled
    missing = results.genuine_ids - handled.keys()
    if missing:
        fail(f"{len(missing)} genuine deliveries never reached the handler (e.g. {min(missing)})")
    twice = sorted(i for i in results.genuine_ids if handled[i] > 1)
    if twice:
        fail(f"{len(twice)} genuine deliveries reached the handler more than once")
    intruders = handled.keys() - results.genuine_ids
    if intruders:
        # A tampered body carries its id in upper case.
        known = (i if i in results.other_ids else i.lower() for i in intruders)
        results.intruders = Counter(
            i.split("-")[1] if i in results.other_ids else "unknown" for i in known
        )
        fail(f"requests that must be refused reached the handler: {dict(results.intruders)}")
    for phase, by_kind in results.outcomes.items():
        for kind, outcome in by_kind.items():
            wrong = {s: n for s, n in outcome.statuses.items() if s not in EXPECTED[kind]}
            if wrong:
                fail(f"{phase}, {kind}: expected {sorted(EXPECTED[kind], key=str)}, got {wrong}")
                fail(f"  client errors: {dict(outcome.errors.most_common(3))}")
            if outcome.wrong_echo:
                fail(f"{phase}, {kind}: {outcome.wrong_echo} answers echoed another event id")
    first, last = results.rss[0][1], results.rss[-1][1]
    growth = (sum(last.values()) - sum(first.values())) / 1024
    if growth > settings.max_rss_growth_mib:
        fail(f"server RSS grew by {growth:.1f} MiB (limit {settings.max_rss_growth_mib} MiB)")
    # Nothing a client sends may raise in the server (a raise is logged with a
    # traceback, and answered 500 when the client is still there).
    if results.server_errors:
        fail(f"the server logged exceptions: {dict(results.server_errors)}")


# --- report -------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def throughput(results: Results) -> dict[str, Any]:
    """Requests/second and server CPU per request of the webhook and bare blocks."""
    totals: dict[str, list[float]] = {"tp_webhook": [0, 0.0, 0.0], "bare": [0, 0.0, 0.0]}
    for block in results.blocks:
        total = totals[block.kind]
        total[0] += block.requests
        total[1] += block.seconds
        total[2] += block.server_cpu_seconds
    webhook_rps = totals["tp_webhook"][0] / totals["tp_webhook"][1]
    bare_rps = totals["bare"][0] / totals["bare"][1]
    webhook_cpu = totals["tp_webhook"][2] / totals["tp_webhook"][0]
    bare_cpu = totals["bare"][2] / totals["bare"][0]
    per_round: list[float] = []
    for i in range(0, len(results.blocks) - 1, 2):
        rps = {b.kind: b.requests / b.seconds for b in results.blocks[i : i + 2]}
        per_round.append(rps["tp_webhook"] / rps["bare"])
    return {
        "webhook_rps": webhook_rps,
        "bare_rps": bare_rps,
        "ratio": webhook_rps / bare_rps,
        "round_ratios": per_round,
        "median_round_ratio": statistics.median(per_round),
        "webhook_server_cpu_us": 1e6 * webhook_cpu,
        "bare_server_cpu_us": 1e6 * bare_cpu,
        "cpu_ratio": webhook_cpu / bare_cpu,
        # CPU cores the server kept busy: near its capacity, requests/s measure the
        # server; well below, they measure the client (on the same machine).
        "webhook_server_cores": totals["tp_webhook"][2] / totals["tp_webhook"][1],
        "bare_server_cores": totals["bare"][2] / totals["bare"][1],
    }


def summary(results: Results, settings: Settings) -> dict[str, Any]:
    """The figures of one server run, as JSON-ready data."""
    rss = [(label, sum(sizes.values()) / 1024) for label, sizes in results.rss]
    return {
        "target": results.target,
        "server": TARGETS.get(results.target, CONTROL)[0],
        "throughput": throughput(results),
        "phases": {
            phase: {
                kind: {
                    "outcomes": {str(s): n for s, n in sorted(o.statuses.items(), key=str)},
                    "p50_ms": 1000 * percentile(o.latencies, 0.50),
                    "p99_ms": 1000 * percentile(o.latencies, 0.99),
                }
                for kind, o in sorted(by_kind.items())
            }
            for phase, by_kind in results.outcomes.items()
        },
        "requests": sum(
            sum(o.statuses.values()) for by in results.outcomes.values() for o in by.values()
        ),
        "mix_requests": settings.mix,
        "mix_requests_per_second": settings.mix / results.mix_seconds,
        "genuine_sent": len(results.genuine_ids),
        "genuine_handled_once": sum(1 for i in results.genuine_ids if results.handled[i] == 1),
        "handled_total": sum(results.handled.values()),
        "server_exceptions": dict(results.server_errors),
        "rss_mib": rss,
        "rss_growth_mib": rss[-1][1] - rss[0][1],
        "processes": len(results.rss[0][1]),
        "failures": results.failures,
    }


def render(data: dict[str, Any], settings: Settings) -> str:
    """The human-readable tables for one server."""
    tp = data["throughput"]
    lat = data["phases"]["throughput"]
    out = [
        f"== {data['target']} example under {data['server']} "
        f"({data['processes']} server process(es), "
        f"{settings.concurrency} concurrent clients) ==",
        "",
        f"{'route':<22}{'requests':>9}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server CPU us/request':>23}{'server cores busy':>19}",
    ]
    for kind, label in (("tp_webhook", "webhook (verified)"), ("bare", "bare (reads body)")):
        row = lat[kind]
        n = sum(row["outcomes"].values())
        name = "webhook" if kind == "tp_webhook" else "bare"
        out.append(
            f"{label:<22}{n:>9}{tp[name + '_rps']:>12.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{tp[name + '_server_cpu_us']:>23.0f}"
            f"{tp[name + '_server_cores']:>19.2f}"
        )
    out += [
        f"webhook/bare requests/s: {tp['ratio']:.3f} over all blocks, median per round "
        f"{tp['median_round_ratio']:.3f} (rounds: "
        + ", ".join(f"{r:.2f}" for r in tp["round_ratios"])
        + ")",
        f"server CPU per request, webhook/bare: {tp['cpu_ratio']:.3f} "
        f"(+{tp['webhook_server_cpu_us'] - tp['bare_server_cpu_us']:.0f} us per delivery); "
        f"requests/s one busy server core sustains, webhook/bare: {1 / tp['cpu_ratio']:.3f}",
        "",
        f"mixed phase ({data['mix_requests']} requests, "
        f"{data['mix_requests_per_second']:.0f} requests/s):",
        f"{'kind':<20}{'expected':<27}{'outcomes':<40}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for kind, row in data["phases"]["mix"].items():
        expected = "/".join(str(e) for e in sorted(EXPECTED[kind], key=str))
        seen = ", ".join(f"{s}: {n}" for s, n in row["outcomes"].items())
        out.append(f"{kind:<20}{expected:<27}{seen:<40}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    warm = data["phases"]["warm-up"]
    out += [
        "",
        f"warm-up: {sum(sum(r['outcomes'].values()) for r in warm.values())} requests, "
        "every kind; one genuine delivery after the run: "
        + ", ".join(
            f"{s}: {n}" for s, n in data["phases"]["after"]["liveness"]["outcomes"].items()
        ),
        f"requests in total: {data['requests']}",
        f"genuine sent {data['genuine_sent']}, reached the handler exactly once "
        f"{data['genuine_handled_once']}; handler calls in total {data['handled_total']}",
        "server RSS (MiB, all processes): "
        + ", ".join(f"{label} {mib:.1f}" for label, mib in data["rss_mib"])
        + f"; growth {data['rss_growth_mib']:+.1f}",
        "server-side exceptions: "
        + (", ".join(f"{e} x{n}" for e, n in data["server_exceptions"].items()) or "none"),
        "checks: " + ("all passed" if not data["failures"] else "FAILED"),
        *(f"  - {failure}" for failure in data["failures"]),
        "",
    ]
    return "\n".join(out)


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
