"""Real processes sharing one inbox: several writers and workers, graceful SIGTERM."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import time
from collections.abc import Callable

from boltcall_webhooks.inbox import DeliveryState, Inbox

from .support import LEDGER_SQL, TIMEOUT, Setup, lead_body, start_proc

MakeInbox = Callable[..., Inbox]


def _wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def test_sigterm_lets_the_running_handler_finish_and_leaves_nothing_leased(
    make_inbox: MakeInbox, backend: Setup, tmp_path: pathlib.Path
) -> None:
    inbox = make_inbox(clock=None)
    inbox.migrate()
    marks = tmp_path / "marks"
    marks.mkdir()
    worker = start_proc("slow", backend.url, str(marks), env=backend.env())
    try:
        first = inbox.store(lead_body(1))
        _wait_for((marks / "started").exists)
        second = inbox.store(lead_body(2))  # queued behind the running one
        code, out, err = _stop(worker)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, err
    assert out.strip() == "1"
    assert (marks / "finished").exists()  # the running handler finished
    assert inbox.get(first.id).state is DeliveryState.DONE
    queued = inbox.get(second.id)
    assert (queued.state, queued.attempts) == (DeliveryState.PENDING, 0)
    assert inbox.stats()["processing"] == 0


def test_writers_and_workers_in_several_processes_process_each_delivery_once(
    make_inbox: MakeInbox, backend: Setup
) -> None:
    writers, per_writer, workers = 3, 60, 2
    backend.query(LEDGER_SQL)
    inbox = make_inbox(clock=None)
    inbox.migrate()
    procs = [start_proc("work", backend.url, "2", env=backend.env()) for _ in range(workers)]
    try:
        stores = [
            start_proc(
                "store", backend.url, str(n * per_writer), str(per_writer), env=backend.env()
            )
            for n in range(writers)
        ]
        for store in stores:
            _, err = store.communicate(timeout=TIMEOUT)
            assert store.returncode == 0, err
        total = writers * per_writer
        _wait_for(lambda: inbox.stats()["done"] == total)
        results = [_stop(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [code for code, _, _ in results] == [0] * workers, [err for _, _, err in results]
    assert sum(int(out) for _, out, _ in results) == total
    rows = backend.query("SELECT key FROM ledger")
    assert len(rows) == total
    assert len({row[0] for row in rows}) == total  # each delivery exactly once
    assert inbox.stats() == {"pending": 0, "processing": 0, "done": total, "dead": 0}
