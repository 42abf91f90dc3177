"""The demo's inbox section: store, answer 200, process with retries; a worker killed mid-handler.

Standard library only (``http.server``, ``sqlite3`` through the SQLite inbox,
``subprocess``). Everything lives in a temporary directory removed at the end.
The steps, each checked:

1. a signed ``new_lead`` is stored before the 200 (``"duplicate": false``);
2. a worker runs its handler: ``done`` after one attempt;
3. a handler that fails once (``appointment_booked``) is retried after a tiny
   backoff and succeeds: ``done`` after two attempts, the first error kept;
4. a dashboard re-send of step 1 is answered 200 ``"duplicate": true`` and runs
   nothing again;
5. a worker **process** is killed with SIGKILL in the middle of a handler
   (``missed_call``): the delivery stays leased...
6. ...until its lease (1 s) expires; the next worker claims it and finishes it
   (``done`` after two attempts, the handler's side effect once).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, TextIO, cast
from urllib.request import Request, urlopen

import boltcall_webhooks
from boltcall_webhooks._delivery import Delivery, DeliveryState
from boltcall_webhooks._errors import PayloadError, WebhookError
from boltcall_webhooks._events import Event
from boltcall_webhooks._router import Router
from boltcall_webhooks._signing import SIGNATURE_HEADER, sign
from boltcall_webhooks._verifier import Verifier
from boltcall_webhooks.inbox import Inbox, InboxError
from boltcall_webhooks.testing._samples import encode_body, sample_payload

__all__ = ["run_inbox_demo"]

_LEASE: Final = 1.0
_BACKOFF: Final = 0.1
_WAIT: Final = 15.0
_STEP_WIDTH: Final = 44

# The worker process of step 5: its handler writes a marker, then hangs until killed.
_VICTIM: Final = """
import pathlib, sys, time
from boltcall_webhooks import Router
from boltcall_webhooks.inbox import Inbox

url, marker = sys.argv[1], pathlib.Path(sys.argv[2])
router = Router()

@router.on("missed_call", name="callback")
def callback(event, delivery):
    marker.write_text(f"{delivery.id} {delivery.key} attempt {delivery.attempts}")
    time.sleep(60)  # killed here

Inbox(url, lease=float(sys.argv[3]), poll_interval=0.05).work(router)
"""


class _Inboxed(ThreadingHTTPServer):
    """An ``inbox=`` endpoint on 127.0.0.1 with the standard library: verify, store, answer."""

    daemon_threads = True

    def __init__(self, verifier: Verifier, inbox: Inbox) -> None:
        self.verifier = verifier
        self.inbox = inbox
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does."""
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    @property
    def _inboxed(self) -> _Inboxed:
        return cast("_Inboxed", self.server)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the demo prints its own lines."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self._inboxed.verifier.construct_event(body, self.headers.get(SIGNATURE_HEADER))
        except WebhookError as exc:
            if isinstance(exc, PayloadError):
                self._store(exc.body, HTTPStatus.BAD_REQUEST, {"error": "Invalid payload"})
            else:
                self._answer(HTTPStatus.UNAUTHORIZED, {"error": "Invalid signature"})
            return
        self._store(body, HTTPStatus.OK, None)

    def _store(self, body: bytes, status: HTTPStatus, answer: dict[str, object] | None) -> None:
        try:
            stored = self._inboxed.inbox.store(body)
        except InboxError:
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "Inbox unavailable"})
            return
        self._answer(status, answer or {"received": True, "duplicate": stored.duplicate})

    def _answer(self, status: HTTPStatus, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _post(url: str, body: bytes, secret: str) -> tuple[int, dict[str, object]]:
    request = Request(  # noqa: S310 - http://127.0.0.1 only
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)},
    )
    with urlopen(request, timeout=_WAIT) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _wait_for(condition: Callable[[], bool], timeout: float = _WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.checks = 0
        self.failures = 0

    def step(self, label: str, expect: str, got: str, ok: bool, note: str = "") -> None:
        self.checks += 1
        self.failures += not ok
        mark = "ok  " if ok else "FAIL"
        tail = f"  ({note})" if note else ""
        print(
            f"{mark} {self.checks:>3}  {label:<{_STEP_WIDTH}}  {expect:<22}  {got}{tail}",
            file=self.out,
        )


def _id(delivery: Delivery) -> int:
    if delivery.id is None:  # pragma: no cover - stored deliveries have ids
        msg = "a stored delivery without an id"
        raise RuntimeError(msg)
    return delivery.id


def _state(delivery: Delivery) -> str:
    plural = "" if delivery.attempts == 1 else "s"
    return f"{delivery.state.value}, {delivery.attempts} attempt{plural}"


def _router(calls: dict[str, list[int]], keys: list[str]) -> Router:
    """The demo's handlers: each records the attempt it ran in; calendar fails on the 1st."""
    router = Router()

    @router.on("new_lead", name="crm")
    def crm(event: Event, delivery: Delivery) -> None:
        del event
        calls["crm"].append(delivery.attempts)

    @router.on("appointment_booked", name="calendar")
    def calendar(event: Event, delivery: Delivery) -> None:
        del event
        calls["calendar"].append(delivery.attempts)
        if delivery.attempts == 1:
            msg = "calendar API down"
            raise RuntimeError(msg)

    @router.on("missed_call", name="callback")
    def callback(event: Event, delivery: Delivery) -> None:
        del event
        calls["callback"].append(delivery.attempts)
        keys.append(delivery.key)

    return router


def run_inbox_demo(out: TextIO) -> tuple[int, int]:
    """Run the inbox section; return (checks, failures)."""
    secret = f"whsec_{secrets.token_hex(16)}"
    calls: dict[str, list[int]] = {"crm": [], "calendar": [], "callback": []}
    keys: list[str] = []
    router = _router(calls, keys)
    with tempfile.TemporaryDirectory(prefix="boltcall-demo-inbox-") as tmp:
        url = f"sqlite:///{pathlib.Path(tmp) / 'inbox.sqlite3'}"
        inbox = Inbox(url, lease=_LEASE, backoff=lambda _attempt: _BACKOFF, poll_interval=0.05)
        server = _Inboxed(Verifier(secret), inbox)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        endpoint = f"http://127.0.0.1:{server.server_port}/"
        printer = _Printer(out)
        try:
            print("Inbox: store, answer 200, process with retries (SQLite)", file=out)
            print(f"Receiver on {endpoint} (verify, then inbox.store, then answer);", file=out)
            print(
                f"  a temporary SQLite inbox, lease {_LEASE:g} s, retry after {_BACKOFF:g} s;",
                file=out,
            )
            print("  workers run the handlers crm, calendar and callback.", file=out)
            print(file=out)
            print(f"       #  {'step':<{_STEP_WIDTH}}  {'expect':<22}  got", file=out)
            quiet = logging.NullHandler()  # the worker's warnings are shown as steps
            logger = logging.getLogger("boltcall_webhooks.inbox")
            logger.addHandler(quiet)
            try:
                _steps(printer, inbox, router, endpoint, secret, (calls, keys), url, tmp)
            finally:
                logger.removeHandler(quiet)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=_WAIT)
            inbox.close()
    print(file=out)
    if printer.failures:
        print(f"{printer.failures} of {printer.checks} inbox steps FAILED.", file=out)
    else:
        print(
            f"All {printer.checks} inbox steps as expected: stored before the 200, retried, "
            "deduplicated,\nand finished by the next worker after a kill -9.",
            file=out,
        )
    return printer.checks, printer.failures


def _steps(
    printer: _Printer,
    inbox: Inbox,
    router: Router,
    endpoint: str,
    secret: str,
    seen: tuple[dict[str, list[int]], list[str]],
    url: str,
    tmp: str,
) -> None:
    calls = seen[0]
    lead = encode_body(sample_payload("new_lead"))
    status, answer = _post(endpoint, lead, secret)
    [stored] = inbox.list(type="new_lead")
    got = f"{status} duplicate={str(answer.get('duplicate')).lower()}"
    printer.step(
        "new_lead, signed: stored, then answered",
        "200 duplicate=false",
        got,
        got == "200 duplicate=false" and stored.state is DeliveryState.PENDING,
        f"delivery {stored.id} {stored.state.value}",
    )
    worker = inbox.start_worker(router)
    try:
        _wait_for(lambda: inbox.get(_id(stored)).state is DeliveryState.DONE)
        lead_done = inbox.get(_id(stored))
        printer.step(
            "worker runs handler crm",
            "done, 1 attempt",
            _state(lead_done),
            _state(lead_done) == "done, 1 attempt" and calls["crm"] == [1],
        )
        booked = encode_body(sample_payload("appointment_booked"))
        _post(endpoint, booked, secret)
        [flaky] = inbox.list(type="appointment_booked")
        _wait_for(lambda: inbox.get(_id(flaky)).state is DeliveryState.DONE)
        flaky_done = inbox.get(_id(flaky))
        printer.step(
            "appointment_booked: calendar fails once",
            "done, 2 attempts",
            _state(flaky_done),
            _state(flaky_done) == "done, 2 attempts" and calls["calendar"] == [1, 2],
            f"1st attempt: {flaky_done.last_error}",
        )
        status, answer = _post(endpoint, lead, secret)
        again = inbox.get(_id(stored))
        got = f"{status} duplicate={str(answer.get('duplicate')).lower()}"
        time.sleep(0.2)  # a worker would have picked it up by now, were it new
        printer.step(
            "dashboard re-send of step 1",
            "200 duplicate=true",
            got,
            got == "200 duplicate=true" and again.duplicates == 1 and calls["crm"] == [1],
            "crm not run again",
        )
    finally:
        worker.stop(timeout=_WAIT)
    _killed_worker(printer, inbox, router, endpoint, secret, seen, url, tmp)


def _killed_worker(
    printer: _Printer,
    inbox: Inbox,
    router: Router,
    endpoint: str,
    secret: str,
    seen: tuple[dict[str, list[int]], list[str]],
    url: str,
    tmp: str,
) -> None:
    calls, keys = seen
    missed = encode_body(sample_payload("missed_call"))
    _post(endpoint, missed, secret)
    [delivery] = inbox.list(type="missed_call")
    marker = pathlib.Path(tmp) / "handler-started"
    package_root = str(pathlib.Path(boltcall_webhooks.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    victim = subprocess.Popen(  # noqa: S603 - this interpreter, the demo's own code
        [sys.executable, "-c", _VICTIM, url, str(marker), str(_LEASE)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = _wait_for(marker.exists)
        victim.kill()  # SIGKILL, mid-handler
        victim.wait(timeout=_WAIT)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(timeout=_WAIT)
    leased = inbox.get(_id(delivery))
    printer.step(
        "missed_call: worker process killed (SIGKILL)",
        "processing, 1 attempt",
        _state(leased),
        started and victim.returncode != 0 and _state(leased) == "processing, 1 attempt",
        f"pid {victim.pid} died mid-handler, exit {victim.returncode}",
    )
    worker = inbox.start_worker(router)
    try:
        began = time.monotonic()
        _wait_for(lambda: inbox.get(_id(delivery)).state is DeliveryState.DONE)
        waited = time.monotonic() - began
    finally:
        worker.stop(timeout=_WAIT)
    finished = inbox.get(_id(delivery))
    killed_key = marker.read_text().split(" ")[1] if started else None
    same_key = keys == [finished.key] and killed_key == finished.key
    printer.step(
        "next worker, once the lease expired",
        "done, 2 attempts",
        _state(finished),
        _state(finished) == "done, 2 attempts" and calls["callback"] == [2] and same_key,
        f"claimed again after {waited:.1f} s, same delivery.key",
    )
