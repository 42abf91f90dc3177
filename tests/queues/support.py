"""Helpers of the task-queue tests: backends, bodies, brokers and worker processes."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from boltcall_webhooks.testing._samples import encode_body, sample_payload

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REDIS_PORT = 6379
RABBITMQ_PORT = 5672
QUICK = os.environ.get("BOLTCALL_QUEUES_FULL", "") == ""


def lead_body(number: int) -> bytes:
    """A genuine-looking envelope whose dedupe key is unique per ``number``."""
    return encode_body(sample_payload("new_lead", id=f"lead_{number:06d}"))


@dataclass
class Setup:
    """One backend's database for one test: the inbox URL and a query function."""

    url: str
    query: Callable[..., list[tuple[Any, ...]]]
    name: str


@contextmanager
def sqlite_backend(tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh SQLite inbox file."""
    path = tmp / "inbox.sqlite3"

    def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
            return conn.execute(sql, params).fetchall()

    yield Setup(url=f"sqlite:///{path}", query=query, name="sqlite")


@contextmanager
def postgres_backend(_tmp: pathlib.Path) -> Iterator[Setup]:
    """A fresh PostgreSQL schema (the inbox suite's helper: skipped, or failed in CI)."""
    from inbox.postgres_setup import fresh_schema, require_postgres, server_url

    with fresh_schema("bq") as (schema, url):
        psycopg = require_postgres()

        def query(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            with psycopg.connect(server_url(), autocommit=True) as conn:
                conn.execute(f'SET search_path = "{schema}", public')
                cursor = conn.execute(statement.replace("?", "%s"), params)
                return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        yield Setup(url=url, query=query, name="postgresql")


BACKENDS: dict[str, Callable[[pathlib.Path], Any]] = {
    "sqlite": sqlite_backend,
    "postgresql": postgres_backend,
}


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def python_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a child process: this Python's path plus tests/queues."""
    env = dict(os.environ)
    paths = [str(HERE), str(HERE.parent)]
    if "BOLTCALL_EXPECT_INSTALLED" not in env:
        paths.append(str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def bin_path(name: str) -> str:
    """A console script installed beside this Python (celery, rq, dramatiq)."""
    candidate = pathlib.Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found: list[int] = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` with ``appendonly yes`` (writes survive a restart)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--dir", str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), 20, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


class Harness:
    """The processes of one test: producer (the web side), queue workers, relay.

    Every process imports ``queue_app`` with the same environment (see its
    docstring). The inbox is a SQLite file in ``tmp``.
    """

    def __init__(
        self,
        tmp: pathlib.Path,
        queue: str,
        broker: str,
        *,
        lease: float = 3.0,
        grace: float = 2.0,
        sleep: float = 0.0,
        concurrency: int = 2,
    ) -> None:
        self.tmp = tmp
        self.queue = queue
        self.concurrency = concurrency
        self.db = tmp / "inbox.sqlite3"
        self.queue_name = f"bq-{os.getpid()}-{time.monotonic_ns()}"
        self.env = python_env(
            {
                "QA_INBOX": f"sqlite:///{self.db}",
                "QA_QUEUE": queue,
                "QA_BROKER": broker,
                "QA_QUEUE_NAME": self.queue_name,
                "QA_LEASE": str(lease),
                "QA_GRACE": str(grace),
                "QA_INTERVAL": "0.5",
                "QA_SLEEP": str(sleep),
            }
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        self.restarts = 0  # workers that exited by themselves and were restarted
        self.relay: subprocess.Popen[bytes] | None = None
        self.logs: list[pathlib.Path] = []
        self.python("ledger")

    def python(self, *args: str) -> str:
        """Run ``queue_app.main(args)`` in a child process; return its stdout."""
        return subprocess.run(
            [sys.executable, "-c", "import sys, queue_app; queue_app.main(sys.argv[1:])", *args],
            env=self.env,
            cwd=self.tmp,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout

    def _popen(self, name: str, command: list[str], **options: Any) -> subprocess.Popen[Any]:
        """Start ``command``; its output (stdout unless piped, and stderr) goes to a log."""
        path = self.tmp / f"{name}-{len(self.logs)}.log"
        self.logs.append(path)
        with path.open("wb") as log:
            options.setdefault("stdout", log)
            return subprocess.Popen(
                command,
                env=self.env,
                cwd=self.tmp,
                stderr=log if options["stdout"] is not log else subprocess.STDOUT,
                **options,
            )

    def worker_command(self) -> list[str]:
        if self.queue in {"celery", "plain"}:
            return [
                bin_path("celery"), "-A", "queue_app:app", "worker", "-P", "prefork",
                "-c", str(self.concurrency), "-Q", self.queue_name, "--without-gossip",
                "--without-mingle", "--without-heartbeat", "-l", "WARNING",
                "-n", f"w{len(self.logs)}@%h",
            ]  # fmt: skip
        if self.queue == "rq":
            # -c queue_app: the worker imports the app once (its forked work horses inherit it).
            return [
                bin_path("rq"), "worker", "-u", self.env["QA_BROKER"], "-c", "queue_app",
                self.queue_name,
            ]  # fmt: skip
        if self.queue == "dramatiq":
            return [
                bin_path("dramatiq"), "queue_app", "--processes", "1",
                "--threads", str(self.concurrency), "--queues", self.queue_name,
            ]  # fmt: skip
        if self.queue == "none":
            return [
                sys.executable, "-m", "boltcall_webhooks", "inbox", "work", "--router",
                "queue_app:router", "--concurrency", str(self.concurrency),
                "--inbox", self.env["QA_INBOX"], "--lease", self.env["QA_LEASE"],
            ]  # fmt: skip
        raise AssertionError(self.queue)

    def start_workers(self) -> None:
        """Start the queue workers (one celery/dramatiq worker; one rq worker per slot)."""
        count = self.concurrency if self.queue == "rq" else 1
        for _ in range(count):
            self.workers.append(
                self._popen("worker", self.worker_command(), start_new_session=True)
            )

    def kill_workers(self) -> None:
        """SIGKILL every worker process and its children (process groups)."""
        for proc in self.workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)
            proc.wait(30)
        self.workers = []

    def stop_workers(self) -> None:
        for proc in self.workers:
            stop_process(proc, 30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
        self.workers = []

    def start_relay(self) -> None:
        """``boltcall-webhooks inbox relay --to queue_app:process_delivery`` (the CLI)."""
        self.relay = self._popen(
            "relay",
            [sys.executable, "-m", "boltcall_webhooks", "inbox", "relay", "--to",
             "queue_app:process_delivery"],
        )  # fmt: skip

    def produce(
        self, first: int, count: int, threads: int = 4, pace: float = 0.0
    ) -> subprocess.Popen[str]:
        """Start a producer (stores, then hands off after each commit; ``pace``: see queue_app).

        The plain receiver (``QA_QUEUE=plain``) sends ``task.delay(body)`` instead.
        """
        self.env["QA_PACE"] = str(pace)
        command = "produce-plain" if self.queue == "plain" else "produce"
        return self._popen(
            "producer",
            [sys.executable, "-c", "import sys, queue_app; queue_app.main(sys.argv[1:])",
             command, str(first), str(count), str(threads)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db, timeout=30)) as conn:
            return conn.execute(sql).fetchall()

    def states(self) -> dict[str, int]:
        return dict(self.query("SELECT state, count(*) FROM boltcall_inbox_deliveries GROUP BY 1"))

    def revive(self) -> int:
        """Restart the workers if one exited by itself, as a supervisor would; how many."""
        dead = sum(proc.poll() is not None for proc in self.workers)
        if dead:
            self.kill_workers()
            self.start_workers()
            self.restarts += dead
        return dead

    def wait_done(self, count: int, timeout: float) -> None:
        """Wait until ``count`` deliveries are ``done`` (reviving workers); fail with logs."""

        def finished() -> bool:
            self.revive()
            return self.states().get("done", 0) >= count

        try:
            wait_for(finished, timeout, f"{count} done")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; states {self.states()}\n{self.tail_logs()}") from None

    def tail_logs(self, lines: int = 15) -> str:
        out = []
        for path in self.logs:
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def check_exactly_once(self, keys: list[str]) -> dict[str, int]:
        """Every key done, each handler's ledger row once; return the figures."""
        ledger = self.query("SELECT key, handler, count(*) FROM ledger GROUP BY key, handler")
        twice = [row for row in ledger if row[2] != 1]
        have = {(key, handler) for key, handler, _ in ledger}
        missing = [k for k in keys for h in ("crm", "audit") if (k, h) not in have]
        states = self.states()
        assert twice == [], f"processed twice: {twice[:10]}"
        assert missing == [], f"lost: {len(missing)} handler runs, e.g. {missing[:5]}"
        assert states.get("done", 0) == len(keys), states
        assert states.get("processing", 0) == 0, states
        assert states.get("pending", 0) == 0, states
        return {"deliveries": len(keys), "ledger_rows": sum(row[2] for row in ledger)}

    def close(self) -> None:
        self.stop_workers()
        if self.relay is not None:
            stop_process(self.relay)


def read_stored(proc: subprocess.Popen[str], timeout: float = 600) -> list[tuple[int, str, float]]:
    """Wait for a producer; return its ``(id, key, stored_at)`` lines (every store succeeded)."""
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-2000:]
    return parse_stored(out)


def parse_stored(out: str) -> list[tuple[int, str, float]]:
    """The ``(id, key, stored_at)`` of a producer's ``stored`` lines."""
    rows = []
    for line in out.splitlines():
        if line.startswith("stored "):
            _, ident, key, when = line.split()
            rows.append((int(ident), key, float(when)))
    return rows
