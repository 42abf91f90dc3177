"""Real processes around one SQLite inbox: gunicorn, uvicorn, workers, a sender, the checks.

A :class:`Cluster` owns a directory with the inbox file, the outside-effects file
and the logs of every process it started. Servers and workers run in their own
process groups (a kill reaches gunicorn's and uvicorn's workers too) and are
always stopped when the cluster closes. Processes import ``tests.inbox_crash``
through a directory that holds only a link to ``tests`` (under nox, the
installed package is imported, never the checkout).

:func:`check_outcome` is the verdict every crash scenario and the chaos run share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import pathlib
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from boltcall_webhooks import SIGNATURE_HEADER, parse_event, sign
from boltcall_webhooks._delivery import event_key

from .handlers import LEDGER_HANDLERS, LEDGER_SCHEMA, LEDGER_TABLE

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "whsec_inbox_crash_tests_0123456789"
FORGED_SECRET = "whsec_not_the_receivers_secret_42"
TIMESTAMP = "2026-03-20T09:17:22Z"
_DELIVERIES = "boltcall_inbox_deliveries"


def envelope(event_id: str, event_type: str = "new_lead") -> bytes:
    """A compact envelope with its own ``data.id`` (its own dedupe key)."""
    payload = {"event": event_type, "timestamp": TIMESTAMP, "data": {"id": event_id}}
    return json.dumps(payload, separators=(",", ":")).encode()


def key_of(body: bytes) -> str:
    """The inbox's ``"event"`` dedupe key of ``body``."""
    return event_key(body, parse_event(body))


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Headers of a delivery signed with ``secret``."""
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}


def post(
    port: int, path: str, body: bytes, headers: Mapping[str, str], timeout: float = 10.0
) -> int | str:
    """POST on a fresh connection; the status, or the name of the error (a killed server)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_2xx(status: int | str) -> bool:
    """Whether a sender's logged status is a 2xx."""
    return isinstance(status, int) and 200 <= status < 300


@dataclasses.dataclass
class Proc:
    """A started process group, its log, and its port for servers."""

    name: str
    popen: subprocess.Popen[bytes]
    log: pathlib.Path
    port: int = 0

    def alive(self) -> bool:
        """Whether the group leader still runs."""
        return self.popen.poll() is None


class Cluster:
    """Servers and workers around one inbox file in ``directory``."""

    def __init__(self, directory: pathlib.Path, *, lease: float = 2.0) -> None:
        self.dir = directory
        self.db = directory / "inbox.sqlite3"
        self.url = f"sqlite:///{self.db}"
        self.effects = directory / "effects.tsv"
        self.lease = lease
        self.procs: list[Proc] = []
        self._count = 0
        self._import_dir = directory / "import"
        self._import_dir.mkdir(exist_ok=True)
        link = self._import_dir / "tests"
        if not link.exists():
            link.symlink_to(ROOT / "tests", target_is_directory=True)

    # -- database ----------------------------------------------------------------

    def prepare(self) -> None:
        """Create the inbox schema and the ledger table in the one file."""
        from boltcall_webhooks.inbox import Inbox

        inbox = Inbox(self.url)
        inbox.migrate()
        inbox.close()
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            conn.execute(LEDGER_SCHEMA)
            conn.commit()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Read the inbox file (a short-lived connection)."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def rows(self) -> dict[str, tuple[int, str, int, bool]]:
        """Key -> (id, state, duplicates, has body) of every stored delivery."""
        return {
            key: (delivery_id, state, duplicates, has_body)
            for delivery_id, key, state, duplicates, has_body in self.query(
                f"SELECT id, key, state, duplicates, body IS NOT NULL FROM {_DELIVERIES}"
            )
        }

    def stats(self) -> Counter[str]:
        """Rows per state."""
        return Counter(
            dict(self.query(f"SELECT state, count(*) FROM {_DELIVERIES} GROUP BY state"))
        )

    def wait_settled(self, expected: int, timeout: float) -> Counter[str]:
        """Wait until ``expected`` rows exist and none is pending or processing."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            settled = sum(stats.values()) >= expected and not (
                stats["pending"] or stats["processing"]
            )
            if settled or time.monotonic() > deadline:
                return stats
            time.sleep(0.2)

    # -- processes -----------------------------------------------------------------

    def _env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("BOLTCALL_INBOX_CRASH_AT", "BOLTCALL_TEST_"))
        }
        env.update(
            {
                "BOLTCALL_INBOX_URL": self.url,
                "BOLTCALL_WEBHOOK_SECRET": SECRET,
                "BOLTCALL_TEST_EFFECTS": str(self.effects),
                "PYTHONPATH": str(self._import_dir),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        env.update(extra)
        return env

    def _start(self, name: str, argv: list[str], extra: Mapping[str, str], port: int = 0) -> Proc:
        self._count += 1
        log = self.dir / f"{self._count:03d}-{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self._import_dir,
                env=self._env(extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def start_gunicorn(
        self, extra: Mapping[str, str] = {}, *, workers: int = 2, threads: int = 1
    ) -> Proc:
        """gunicorn serving the Flask app (sync workers, or gthread with ``threads``)."""
        port = free_port()
        argv = [
            sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "--graceful-timeout", "3", "--timeout", "60", "--log-level", "warning",
            *(["-k", "gthread", "--threads", str(threads)] if threads > 1 else []),
            "tests.inbox_crash.apps_flask:app",
        ]  # fmt: skip
        proc = self._start("gunicorn", argv, extra, port)
        self._wait_answers(proc)
        return proc

    def start_uvicorn(self, extra: Mapping[str, str] = {}, *, workers: int = 2) -> Proc:
        """uvicorn (``--workers``) serving the Starlette app; returns once it answers."""
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", "--workers", str(workers), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "3",
            "tests.inbox_crash.apps_starlette:app",
        ]  # fmt: skip
        proc = self._start("uvicorn", argv, extra, port)
        self._wait_answers(proc)
        return proc

    def start_worker(self, extra: Mapping[str, str] = {}, *, concurrency: int = 2) -> Proc:
        """A worker process: ``boltcall-webhooks inbox work`` with a short lease."""
        argv = [
            sys.executable, "-m", "boltcall_webhooks", "inbox", "work",
            "--router", "tests.inbox_crash.handlers:router",
            "--concurrency", str(concurrency), "--lease", str(self.lease),
        ]  # fmt: skip
        return self._start("worker", argv, extra)

    def run_purge(self, extra: Mapping[str, str] = {}) -> int:
        """Purge every done body in a process of its own; its exit status (-9: killed)."""
        code = (
            "import time; from boltcall_webhooks.inbox import Inbox; time.sleep(0.01); "
            "print(Inbox().purge(older_than=0.001))"
        )
        proc = self._start("purge", [sys.executable, "-c", code], extra)
        return proc.popen.wait(timeout=60)

    def _wait_answers(self, proc: Proc, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                msg = f"{proc.name} exited: {proc.log.read_text(errors='replace')[-2000:]}"
                raise RuntimeError(msg)
            status = post(proc.port, "/nowhere", b"", {}, timeout=2.0)
            if isinstance(status, int):
                return
            time.sleep(0.1)
        msg = f"{proc.name} did not answer in {timeout} s"
        raise RuntimeError(msg)

    def kill(self, proc: Proc, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (a server and its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, sig)

    def stop(self, proc: Proc, timeout: float = 10.0) -> int:
        """SIGTERM the group, SIGKILL after ``timeout``; the leader's exit status."""
        if proc.alive():
            self.kill(proc, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(proc)
                proc.popen.wait(10)
        self.kill(proc)  # stragglers of the group
        return proc.popen.returncode

    def close(self) -> None:
        """Kill every process still running."""
        for proc in self.procs:
            self.kill(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(10)

    def logs(self) -> str:
        """The tail of every log (for a failure message)."""
        return "\n".join(
            f"--- {proc.log.name}\n{proc.log.read_text(errors='replace')[-1500:]}"
            for proc in self.procs
        )

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass
class SenderLog:
    """Every attempt of the sender: delivery name -> statuses in order; forged names apart."""

    bodies: dict[str, bytes] = dataclasses.field(default_factory=dict)
    statuses: defaultdict[str, list[int | str]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    forged: dict[str, list[int | str]] = dataclasses.field(default_factory=dict)

    def record(self, name: str, body: bytes, status: int | str) -> None:
        """Log one attempt of genuine delivery ``name``."""
        self.bodies[name] = body
        self.statuses[name].append(status)

    def acknowledged(self) -> set[str]:
        """Deliveries that got a 2xx at least once."""
        return {name for name, seen in self.statuses.items() if any(map(is_2xx, seen))}

    def unacknowledged(self) -> set[str]:
        """Deliveries that never got a 2xx (to re-send)."""
        return set(self.statuses) - self.acknowledged()

    def counts(self) -> Counter[str]:
        """Statuses of the first attempts (for the figures)."""
        return Counter(str(seen[0]) for seen in self.statuses.values())


def check_outcome(
    cluster: Cluster,
    log: SenderLog,
    *,
    forged_keys: Iterable[str] = (),
    effects_required: bool = True,
) -> dict[str, int]:
    """The verdict after a run: raise ``AssertionError`` naming what is wrong; else figures.

    * every delivery that got a 2xx is stored, exactly once (one row per key), and ``done``;
    * every delivery the sender logged ended with a 2xx (the re-sends were accepted);
    * nothing forged is stored;
    * the ledger holds exactly one row per (delivery, ledger handler), with its key;
    * the outside effect ran at least once per delivery, always with the inbox's key;
    * no row is left ``processing`` or ``pending``.
    """
    rows = cluster.rows()
    problems: list[str] = []
    acknowledged = log.acknowledged()
    never = log.unacknowledged()
    if never:
        problems.append(f"{len(never)} deliveries never got a 2xx, e.g. {sorted(never)[:3]}")
    expected_keys = {key_of(log.bodies[name]): name for name in log.statuses}
    lost = [
        name for key, name in expected_keys.items() if name in acknowledged and key not in rows
    ]
    if lost:
        problems.append(f"{len(lost)} deliveries got a 2xx and are not stored: {lost[:5]}")
    not_done = {
        name: rows[key][1]
        for key, name in expected_keys.items()
        if key in rows and rows[key][1] != "done"
    }
    if not_done:
        problems.append(f"{len(not_done)} deliveries not done: {dict(list(not_done.items())[:5])}")
    forged_stored = [key for key in forged_keys if key in rows]
    if forged_stored:
        problems.append(f"{len(forged_stored)} forged deliveries were stored")
    strangers = set(rows) - set(expected_keys)
    if strangers:
        problems.append(f"{len(strangers)} stored rows nobody sent: {sorted(strangers)[:3]}")
    stats = cluster.stats()
    if stats["processing"] or stats["pending"]:
        problems.append(f"rows left pending/processing: {dict(stats)}")
    ids = {rows[key][0]: key for key in expected_keys if key in rows}
    ledger = Counter(
        (delivery_id, handler)
        for delivery_id, handler, key in cluster.query(
            f"SELECT delivery_id, handler, key FROM {LEDGER_TABLE}"
        )
        if ids.get(delivery_id) == key
    )
    bad_keys = cluster.query(f"SELECT count(*) FROM {LEDGER_TABLE}")[0][0] - sum(ledger.values())
    if bad_keys:
        problems.append(f"{bad_keys} ledger rows with a key that is not their delivery's")
    twice = {pair: n for pair, n in ledger.items() if n > 1}
    if twice:
        problems.append(
            f"{len(twice)} (delivery, handler) ledger pairs more than once: "
            f"{list(twice.items())[:5]}"
        )
    missing = [
        (delivery_id, handler)
        for delivery_id in ids
        for handler in LEDGER_HANDLERS
        if ledger[(delivery_id, handler)] == 0
    ]
    if missing:
        problems.append(f"{len(missing)} ledger rows missing: {missing[:5]}")
    effects: defaultdict[int, set[str]] = defaultdict(set)
    effect_runs = 0
    if cluster.effects.exists():
        for line in cluster.effects.read_text().splitlines():
            delivery_id, key, _pid = line.split("\t")
            effects[int(delivery_id)].add(key)
            effect_runs += 1
    wrong_key = {i: keys for i, keys in effects.items() if keys != {ids.get(i)}}
    if wrong_key:
        problems.append(
            f"outside effects with another key than the delivery's: {list(wrong_key.items())[:3]}"
        )
    if effects_required:
        no_effect = [i for i in ids if i not in effects]
        if no_effect:
            problems.append(
                f"{len(no_effect)} deliveries without their outside effect: {no_effect[:5]}"
            )
    if problems:
        raise AssertionError("; ".join(problems) + "\n" + cluster.logs())
    return {
        "deliveries": len(log.statuses),
        "acknowledged_first_try": sum(1 for seen in log.statuses.values() if is_2xx(seen[0])),
        "resent": sum(1 for seen in log.statuses.values() if len(seen) > 1),
        "stored": len(rows),
        "done": stats["done"],
        "duplicates_counted": sum(row[2] for row in rows.values()),
        "ledger_rows": sum(ledger.values()),
        "outside_effect_runs": effect_runs,
        "outside_effects_repeated": effect_runs - len(effects),
        "forged_sent": len(list(forged_keys)),
    }
