"""How the load run sends: aiohttp for well-behaved requests, raw sockets for the rest.

The throughput rounds use a lean client of their own (prebuilt requests on
keep-alive sockets), so that the server, not the client, sets the pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import aiohttp
from load_procs import cpu_seconds
from load_results import Block, Results
from load_traffic import (
    CLOSED,
    GENUINE_KINDS,
    LEAVING_KINDS,
    LEFT,
    RAW_KINDS,
    RESET,
    Job,
    Settings,
    build,
)
from recording import BARE_PATH, WEBHOOK_PATH

RECEIVED = {"received": True}
"""What the ready endpoint answers to a genuine delivery."""


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
    # The ready endpoint's answer once every handler ran; the handler's own
    # records (by data.id) tell which event reached it.
    if (
        check_echo
        and status == 200
        and job.kind in GENUINE_KINDS
        and json.loads(payload) != RECEIVED
    ):
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
