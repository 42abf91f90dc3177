"""Chaos under load: thousands of deliveries while web workers and worker processes are kill -9'd.

``python -m tests.inbox_crash.chaos`` (from the repository root) runs the quick
version (~2,000 genuine deliveries, under a minute); ``--full`` sends 20,000
genuine deliveries (plus ~5 % forged ones) at 64 concurrent clients.

One SQLite inbox file is shared by gunicorn (Flask ``inbox=`` view, 3 sync
workers), uvicorn (Starlette ``inbox=`` endpoint, 2 workers) and two
``boltcall-webhooks inbox work`` processes (2 threads each, lease 2 s). Clients
are raw asyncio sockets on 127.0.0.1, one connection per delivery, alternating
between the two servers. Meanwhile a chaos loop ``kill -9``s a random gunicorn
worker, uvicorn worker or worker process every ``--chaos-interval`` seconds
(gunicorn and uvicorn respawn their workers; the loop restarts a killed worker
process, as systemd would). When the load is over the chaos stops, every
delivery that never got a 2xx is re-sent (as a person re-sends from Boltcall's
dashboard), and the inbox is checked against the sender's log: 0 lost (every
2xx stored and ``done``), 0 processed twice (one ledger row per delivery and
handler), 0 forged stored, no row left ``processing`` once the leases expired.
Exit status 0 only when all of that holds; the figures are printed (``--json``
writes them to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from boltcall_webhooks import SIGNATURE_HEADER, sign

from .harness import (
    FORGED_SECRET,
    SECRET,
    Cluster,
    Proc,
    SenderLog,
    check_outcome,
    envelope,
    is_2xx,
    key_of,
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run's size."""

    deliveries: int = 2000
    forged_ratio: float = 0.05
    clients: int = 64
    chaos_interval: float = 0.7
    lease: float = 2.0
    handler_sleep: float = 0.001
    settle_timeout: float = 120.0
    seed: int = 12


# On a quiet machine the quick load lasts ~4 s: a kill every ~0.25 s gives each kind
# several kills (one every ~0.7 s gave some kinds a single one).
QUICK = Settings(chaos_interval=0.25)
FULL = Settings(deliveries=20000, settle_timeout=900.0)


def _children(pid: int, marker: str | None = None) -> list[int]:
    """Live children of ``pid`` (whose command line contains ``marker``, if given)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            if marker is not None:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if marker.encode() not in cmdline.read():
                        continue
        except (OSError, IndexError, ValueError):
            continue
        found.append(int(entry))
    return found


async def _post(port: int, body: bytes, signature: str, timeout: float) -> int | str:
    """One delivery on its own connection: the status, or the name of the error."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout
        )
        head = (
            f"POST /inbox HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{SIGNATURE_HEADER}: {signature}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            return "EmptyReply"
        status = int(line.split()[1])
        await asyncio.wait_for(reader.read(), timeout)  # the rest, until the server closes
        return status
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        return type(exc).__name__
    except (ValueError, IndexError):
        return "BadStatusLine"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _load(
    ports: list[int],
    jobs: list[tuple[str, bytes, str, bool]],
    clients: int,
    log: SenderLog,
    forged: dict[str, int | str],
    timeout: float = 15.0,
) -> None:
    """``clients`` concurrent senders working through ``jobs`` (name, body, signature, forged)."""
    queue: asyncio.Queue[tuple[int, tuple[str, bytes, str, bool]]] = asyncio.Queue()
    for item in enumerate(jobs):
        queue.put_nowait(item)

    async def client() -> None:
        while True:
            try:
                index, (name, body, signature, is_forged) = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            status = await _post(ports[index % len(ports)], body, signature, timeout)
            if is_forged:
                forged[name] = status
            else:
                log.record(name, body, status)

    await asyncio.gather(*(client() for _ in range(clients)))


class Chaos:
    """Kills a random web worker or worker process every ``interval`` seconds (a thread)."""

    def __init__(
        self,
        cluster: Cluster,
        gunicorn: Proc,
        uvicorn: Proc,
        workers: list[Proc],
        settings: Settings,
    ) -> None:
        self.cluster = cluster
        self.gunicorn = gunicorn
        self.uvicorn = uvicorn
        self.workers = workers
        self.interval = settings.chaos_interval
        self.kills: Counter[str] = Counter()
        self._worker_env = {"BOLTCALL_TEST_HANDLER_SLEEP": str(settings.handler_sleep)}
        self._random = random.Random(settings.seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> None:
        """Begin killing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop killing; wait for the loop to end."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        kinds: list[str] = []
        while not self._stop.wait(self.interval * self._random.uniform(0.5, 1.5)):
            if not kinds:  # each kind once per cycle, in a random order
                kinds = ["gunicorn", "uvicorn", "worker"]
                self._random.shuffle(kinds)
            kind = kinds.pop()
            if kind == "worker":
                index = self._random.randrange(len(self.workers))
                victim = self.workers[index]
                self.cluster.kill(victim)
                victim.popen.wait(10)
                self.kills["worker"] += 1
                self.workers[index] = self.cluster.start_worker(self._worker_env)
                continue
            server = self.gunicorn if kind == "gunicorn" else self.uvicorn
            marker = None if kind == "gunicorn" else "spawn_main"
            pids = _children(server.popen.pid, marker)
            if pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._random.choice(pids), signal.SIGKILL)
                self.kills[kind] += 1


def _jobs(settings: Settings) -> tuple[list[tuple[str, bytes, str, bool]], list[str]]:
    """Genuine and forged deliveries, shuffled; the forged ones' keys."""
    jobs: list[tuple[str, bytes, str, bool]] = []
    for number in range(settings.deliveries):
        name = f"chaos_{number:06d}"
        body = envelope(name)
        jobs.append((name, body, sign(body, SECRET), False))
    forged_keys = []
    for number in range(int(settings.deliveries * settings.forged_ratio)):
        name = f"forged_{number:06d}"
        body = envelope(name)
        forged_keys.append(key_of(body))
        jobs.append((name, body, sign(body, FORGED_SECRET), True))
    random.Random(settings.seed).shuffle(jobs)
    return jobs, forged_keys


def _resend(ports: list[int], log: SenderLog, forged: dict[str, int | str], clients: int) -> int:
    """Re-send every delivery that never got a 2xx, until each did (at most 10 rounds)."""
    rounds = 0
    while log.unacknowledged() and rounds < 10:
        rounds += 1
        retry = [
            (name, log.bodies[name], sign(log.bodies[name], SECRET), False)
            for name in sorted(log.unacknowledged())
        ]
        asyncio.run(_load(ports, retry, clients, log, forged))
        if log.unacknowledged():
            time.sleep(1.0)
    return rounds


def run(settings: Settings, directory: pathlib.Path, *, verbose: bool = True) -> dict[str, Any]:
    """One chaos run in ``directory``; the figures (raises ``AssertionError`` on a violation)."""
    jobs, forged_keys = _jobs(settings)
    forged_count = len(forged_keys)
    log = SenderLog()
    forged: dict[str, int | str] = {}
    sleep = {"BOLTCALL_TEST_HANDLER_SLEEP": str(settings.handler_sleep)}
    with Cluster(directory, lease=settings.lease) as cluster:
        cluster.prepare()
        gunicorn = cluster.start_gunicorn(workers=3)
        uvicorn = cluster.start_uvicorn(workers=2)
        workers = [cluster.start_worker(sleep), cluster.start_worker(sleep)]
        chaos = Chaos(cluster, gunicorn, uvicorn, workers, settings)
        ports = [gunicorn.port, uvicorn.port]
        started = time.monotonic()
        chaos.start()
        try:
            asyncio.run(_load(ports, jobs, settings.clients, log, forged))
        finally:
            chaos.stop()
        load_seconds = time.monotonic() - started
        first = Counter(str(seen[0]) for seen in log.statuses.values())
        # Let the servers respawn their workers, then re-send what never got a 2xx.
        time.sleep(2.0)
        resent_rounds = _resend(ports, log, forged, min(settings.clients, 16))
        settle_started = time.monotonic()
        stats = cluster.wait_settled(settings.deliveries, settings.settle_timeout)
        settle_seconds = time.monotonic() - settle_started
        forged_accepted = {name: status for name, status in forged.items() if is_2xx(status)}
        figures = check_outcome(cluster, log, forged_keys=forged_keys)
        if forged_accepted:
            msg = f"{len(forged_accepted)} forged deliveries were answered 2xx"
            raise AssertionError(msg)
        for proc in [gunicorn, uvicorn, *chaos.workers]:
            cluster.stop(proc)
    figures.update(
        {
            "clients": settings.clients,
            "forged_statuses": dict(Counter(str(s) for s in forged.values())),
            "first_try_statuses": dict(first),
            "kills": dict(chaos.kills),
            "load_seconds": round(load_seconds, 1),
            "requests_per_second": round((settings.deliveries + forged_count) / load_seconds),
            "resend_rounds": resent_rounds,
            "settle_seconds": round(settle_seconds, 1),
            "final_states": dict(stats),
            "lost": 0,
            "processed_twice": 0,
            "forged_stored": 0,
        }
    )
    if verbose:
        print(json.dumps(figures, indent=2))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="20,000 genuine deliveries")
    size.add_argument("--quick", action="store_true", help="~2,000 (the default)")
    parser.add_argument("--deliveries", type=int, help="genuine deliveries (overrides the size)")
    parser.add_argument("--clients", type=int, help="concurrent clients (64)")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures there too")
    parser.add_argument("--keep", type=pathlib.Path, help="run in this directory and keep it")
    args = parser.parse_args(argv)
    settings = FULL if args.full else QUICK
    if args.deliveries:
        settings = dataclasses.replace(settings, deliveries=args.deliveries)
    if args.clients:
        settings = dataclasses.replace(settings, clients=args.clients)
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            figures = run(settings, args.keep)
        else:
            with tempfile.TemporaryDirectory(prefix="boltcall-chaos-") as tmp:
                figures = run(settings, pathlib.Path(tmp))
    except AssertionError as exc:
        print(f"CHAOS RUN FAILED: {str(exc)[:4000]}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print("chaos run: 0 lost, 0 processed twice, 0 forged stored, nothing left processing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
