"""The crash matrix: each step of a delivery's life ends in ``kill -9``; nothing is lost.

Real gunicorn (Flask, 2 workers) and uvicorn (Starlette, 2 workers) serve the
``inbox=`` endpoint on one SQLite file; real ``boltcall-webhooks inbox work``
processes (lease 2 s) run :mod:`tests.inbox_crash.handlers`. For each crash
point the victim process gets ``BOLTCALL_INBOX_CRASH_AT`` (or, for the handler
itself, ``BOLTCALL_TEST_KILL_IN_HANDLER``) and SIGKILLs itself; the test checks
that it really died, restarts it without the switch, re-sends every delivery
that did not get a 2xx, and then checks the outcome against the sender's log
(:func:`~tests.inbox_crash.harness.check_outcome`): every 2xx stored and
``done``, every re-send stored once, one ledger row per (delivery, handler),
outside effects at least once and always with the same key, nothing left
``processing``.
"""

from __future__ import annotations

import json
import pathlib
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("flask")
pytest.importorskip("starlette")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

from .harness import Cluster, Proc, SenderLog, check_outcome, envelope, post, signed

pytestmark = pytest.mark.servers

PER_SERVER = 12  # deliveries sent to each server per scenario
LEASE = 2.0
SETTLE_SECONDS = 30.0


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[Cluster]:
    """An inbox file with its ledger table; every process it starts is killed at the end."""
    with Cluster(tmp_path, lease=LEASE) as running:
        running.prepare()
        yield running


def _send(servers: list[Proc], log: SenderLog, names: list[str], *, timeout: float = 5.0) -> None:
    """Send each named delivery to one server (alternating), 8 at a time; log each status."""

    def one(index_name: tuple[int, str]) -> None:
        index, name = index_name
        body = envelope(name)
        server = servers[index % len(servers)]
        log.record(name, body, post(server.port, "/inbox", body, signed(body), timeout=timeout))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, enumerate(names)))


def _resend(servers: list[Proc], log: SenderLog) -> None:
    """Re-send every delivery that never got a 2xx, until it does (bounded)."""
    for _ in range(5):
        pending = sorted(log.unacknowledged())
        if not pending:
            return
        _send(servers, log, pending)


def _wait_dead(proc: Proc, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proc.alive(), f"{proc.name} did not kill itself within {timeout} s"
    return proc.popen.returncode


def _names(tag: str) -> list[str]:
    return [f"{tag}_{number:03d}" for number in range(2 * PER_SERVER)]


@pytest.mark.parametrize("point", ["before_insert", "after_insert", "after_commit"])
def test_web_worker_killed_while_storing(cluster: Cluster, point: str) -> None:
    """gunicorn and uvicorn workers die at ``point`` on every 3rd store; re-sends recover."""
    crash = {"BOLTCALL_INBOX_CRASH_AT": f"{point}:3"}
    worker = cluster.start_worker()
    servers = [cluster.start_gunicorn(crash), cluster.start_uvicorn(crash)]
    log = SenderLog()
    _send(servers, log, _names(point))
    failed = {name: log.statuses[name] for name in log.unacknowledged()}
    by_server = [
        sum(1 for index, name in enumerate(_names(point)) if name in failed and index % 2 == side)
        for side in (0, 1)
    ]
    # Each server's workers really died: some deliveries got no answer at all.
    assert all(by_server), f"no delivery failed on one server: {by_server}\n{cluster.logs()}"
    assert all(isinstance(seen[0], str) for seen in failed.values()), (failed, cluster.logs())
    for server in servers:
        cluster.stop(server)
    servers = [cluster.start_gunicorn(), cluster.start_uvicorn()]
    _resend(servers, log)
    stats = cluster.wait_settled(len(log.statuses), SETTLE_SECONDS)
    figures = check_outcome(cluster, log)
    if point == "after_commit":
        # Committed, then killed before the 200: the re-send is recognised as a duplicate.
        # (At the other points, requests of the same process that had committed but not
        # yet answered die with it too: their re-sends are duplicates as well.)
        assert figures["duplicates_counted"] >= 1, figures
    assert worker.alive()
    _report(point, figures, stats)


@pytest.mark.parametrize("point", ["after_claim", "in_handler", "after_handler"])
def test_worker_process_killed_while_processing(cluster: Cluster, point: str) -> None:
    """A worker dies at ``point``; the next one takes the delivery once its lease expired."""
    if point == "in_handler":
        crash = {"BOLTCALL_TEST_KILL_IN_HANDLER": "3"}  # after the 3rd outside effect
    else:
        crash = {"BOLTCALL_INBOX_CRASH_AT": f"{point}:3"}
    servers = [cluster.start_gunicorn(), cluster.start_uvicorn()]
    log = SenderLog()
    _send(servers, log, _names(point))
    assert not log.unacknowledged(), dict(log.statuses)
    victim = cluster.start_worker(crash)
    assert _wait_dead(victim) == -signal.SIGKILL
    started = time.monotonic()
    cluster.start_worker()
    stats = cluster.wait_settled(len(log.statuses), SETTLE_SECONDS)
    figures = check_outcome(cluster, log)
    figures["settled_after_restart_ms"] = int((time.monotonic() - started) * 1000)
    attempts = dict(
        cluster.query("SELECT attempts, count(*) FROM boltcall_inbox_deliveries GROUP BY attempts")
    )
    # The victim's claimed deliveries were claimed again after their lease: a 2nd attempt.
    assert attempts.get(2, 0) >= 1, attempts
    if point == "in_handler":
        assert figures["outside_effects_repeated"] >= 1, figures  # at least once, same key
    _report(point, figures, stats)


def test_killed_during_purge(cluster: Cluster) -> None:
    """A purge killed midway, then run again: bodies gone, keys kept, re-sends duplicates."""
    servers = [cluster.start_gunicorn(), cluster.start_uvicorn()]
    cluster.start_worker()
    log = SenderLog()
    names = _names("purge")
    _send(servers, log, names)
    cluster.wait_settled(len(names), SETTLE_SECONDS)
    check_outcome(cluster, log)
    assert cluster.run_purge({"BOLTCALL_INBOX_CRASH_AT": "during_purge"}) == -signal.SIGKILL
    assert cluster.run_purge() == 0
    rows = cluster.rows()
    assert all(state == "done" and not has_body for _, state, _, has_body in rows.values())
    # A late dashboard re-send of a purged delivery: still a duplicate, nothing runs again.
    for server in servers:
        body = envelope(names[0])
        status = post(server.port, "/inbox", body, signed(body))
        assert status == 200
        log.record(names[0], body, status)
    time.sleep(LEASE)
    stats = cluster.wait_settled(len(names), SETTLE_SECONDS)
    figures = check_outcome(cluster, log)
    assert cluster.rows()[next(iter(k for k in rows if names[0] in k))][2] == 2
    _report("during_purge", figures, stats)


def _report(point: str, figures: dict[str, int], stats: object) -> None:
    """One line per scenario in the test output (``-s``) for docs/inbox-evidence.md."""
    print(f"\ncrash matrix {point}: {json.dumps(figures)} stats={dict(stats)}")  # type: ignore[call-overload]
