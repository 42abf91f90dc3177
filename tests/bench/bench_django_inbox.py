"""The Django inbox view against the plain verified view, under gunicorn, in one run.

``BoltcallWebhookView.as_view(inbox=Inbox("django"))`` (verify, store in the
project's database, answer) must serve >= 0.7x the requests/s of
``as_view(router=Router())`` (verify, answer) of the same app and server:
gunicorn, 2 gthread workers x 16 threads, 32 keep-alive clients on 127.0.0.1,
the two routes measured in alternating rounds (medians). The database is
PostgreSQL (a database of its own on ``$BOLTCALL_TEST_POSTGRES_URL`` or the
local server, created and dropped here; persistent connections) or, with
``--sqlite``, a SQLite file.

``--quick`` (nox, CI) sends 1,500 requests per route and round, 3 rounds (a
few seconds); the default 6,000 x 5. Exit status 1 if the ratio is missed.
``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

from boltcall_webhooks import SIGNATURE_HEADER, sign
from boltcall_webhooks.testing._samples import encode_body, sample_payload

HERE = pathlib.Path(__file__).resolve().parent
SECRET = "whsec_bench_secret_0123456789"
TARGET = 0.7
CLIENTS = 32
GUNICORN = [sys.executable, "-m", "gunicorn", "django_inbox_app:application", "--workers", "2"]
GUNICORN += ["--worker-class", "gthread", "--threads", "16", "--keep-alive", "30"]
GUNICORN += ["--log-level", "warning"]
SETUP = """
import django_inbox_app
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
kind = "BYTEA" if connection.vendor == "postgresql" else "BLOB"
connection.cursor().execute(f"CREATE TABLE bench_bare (body {kind})")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _requests(path: str, prefix: str, count: int) -> list[bytes]:
    built = []
    for number in range(count):
        body = encode_body(sample_payload("new_lead", id=f"{prefix}_{number:07d}"))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{SIGNATURE_HEADER}: {sign(body, SECRET)}\r\n\r\n"
        )
        built.append(head.encode("latin-1") + body)
    return built


async def _load(port: int, requests: list[bytes], clients: int) -> tuple[float, dict[str, int]]:
    """Send ``requests`` over ``clients`` keep-alive connections: requests/s and statuses."""
    statuses: dict[str, int] = {}
    pending = list(reversed(requests))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while pending:
                writer.write(pending.pop())
                status_line = await reader.readline()
                status = status_line.split()[1].decode() if status_line else "closed"
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(requests) / (time.perf_counter() - started), statuses


@contextlib.contextmanager
def _database(use_sqlite: bool, directory: pathlib.Path) -> Iterator[dict[str, str]]:
    """The app's database settings (environment), created here and dropped afterwards."""
    if use_sqlite:
        yield {"BENCH_DJANGO_SQLITE": str(directory / "bench.sqlite3")}
        return
    import psycopg

    server = os.environ.get("BOLTCALL_TEST_POSTGRES_URL") or (
        "postgresql://postgres@127.0.0.1:5432/test"
    )
    parts = urlsplit(server)
    name = f"bt_bench_django_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "BENCH_DJANGO_PGDB": name,
            "BENCH_DJANGO_PGUSER": parts.username or "postgres",
            "BENCH_DJANGO_PGHOST": parts.hostname or "127.0.0.1",
            "BENCH_DJANGO_PGPORT": str(parts.port or 5432),
        }
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], directory: pathlib.Path) -> Iterator[int]:
    port = _free_port()
    log = (directory / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}"],
        cwd=HERE,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                msg = f"gunicorn exited: {(directory / 'gunicorn.log').read_text()}"
                raise RuntimeError(msg)
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                msg = "gunicorn did not start"
                raise RuntimeError(msg)
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def main(argv: list[str] | None = None) -> int:
    """Measure, print, check the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (CI)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args(argv)
    count, rounds = (1500, 3) if args.quick else (6000, 5)
    with tempfile.TemporaryDirectory(prefix="bench-django-inbox-") as tmp:
        directory = pathlib.Path(tmp)
        with _database(args.sqlite, directory) as database:
            env = {
                **os.environ,
                **database,
                "BENCH_SECRET": SECRET,
                "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            }
            subprocess.run(
                [sys.executable, "-c", SETUP], cwd=HERE, env=env, check=True, timeout=120
            )
            with _gunicorn(env, directory) as port:
                rates: dict[str, list[float]] = {"/verify": [], "/bare": [], "/inbox": []}
                asyncio.run(_load(port, _requests("/verify", "warm", 300), CLIENTS))
                asyncio.run(_load(port, _requests("/inbox", "warm", 300), CLIENTS))
                for number in range(rounds):
                    for path in ("/verify", "/bare", "/inbox"):
                        requests = _requests(path, f"r{number}{path[1:]}", count)
                        rate, statuses = asyncio.run(_load(port, requests, CLIENTS))
                        if statuses != {"200": count}:
                            print(f"bench_django_inbox: {path}: statuses {statuses}")
                            return 1
                        rates[path].append(rate)
    verify = statistics.median(rates["/verify"])
    stored = statistics.median(rates["/inbox"])
    bare = statistics.median(rates["/bare"])
    ratio = stored / verify
    figures = {
        "mode": "quick" if args.quick else "full",
        "database": "sqlite" if args.sqlite else "postgresql",
        "verify_per_s": round(verify),
        "inbox_per_s": round(stored),
        "bare_insert_per_s": round(bare),
        "inbox_vs_verify": round(ratio, 2),
        "rounds": {path: [round(rate) for rate in values] for path, values in rates.items()},
    }
    print(
        f"bench_django_inbox ({figures['mode']}, {figures['database']}, gunicorn 2x16 gthread, "
        f"{CLIENTS} clients): verify-only {figures['verify_per_s']} req/s, "
        f"inbox= {figures['inbox_per_s']} req/s: {figures['inbox_vs_verify']}x "
        f"(a bare INSERT instead: {figures['bare_insert_per_s']} req/s) "
        f"(target >= {TARGET}) {'ok' if ratio >= TARGET else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
