"""Run a WSGI app under a real gunicorn server on 127.0.0.1 for the length of a test.

:func:`run_gunicorn` starts ``gunicorn <module:attr>`` in a child process on a
free port with one sync worker, waits until the worker answers HTTP,
yields the base URL and always stops the server when the ``with`` block ends
(SIGTERM, then SIGKILL after a bounded wait).

The child is bounded on its own too: a watchdog thread in the gunicorn master
ends it after ``max_seconds`` or as soon as the test process is gone (the
worker exits when its master does).

Example::

    with run_gunicorn("examples.flask_app:app", env={"BOLTCALL_WEBHOOK_SECRET": s}) as url:
        httpx.post(f"{url}/webhooks/boltcall", content=body, headers=headers)
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

__all__ = ["GunicornError", "run_gunicorn"]

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in the child: a watchdog thread in the master, then gunicorn's command line.
_LAUNCHER = """
import os, sys, threading, time

def _watchdog(limit, parent):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.2)
    os._exit(4)

threading.Thread(
    target=_watchdog, args=(float(sys.argv[1]), int(sys.argv[2])), daemon=True
).start()
if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1":
    # Under nox the server, like the tests, must run the installed package.
    import boltcall_webhooks
    if "site-packages" not in os.path.realpath(boltcall_webhooks.__file__).split(os.sep):
        print("boltcall_webhooks was imported from the checkout, not installed", flush=True)
        os._exit(5)
sys.argv = ["gunicorn", *sys.argv[3:]]
from gunicorn.app.wsgiapp import run
run()
"""


class GunicornError(RuntimeError):
    """The server did not start (its output is in the message)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _answers(port: int) -> bool:
    """Whether a worker answers HTTP (any status), not just the master's socket."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except OSError:
        return False
    else:
        return True
    finally:
        connection.close()


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def run_gunicorn(
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    args: Sequence[str] = (),
    startup_timeout: float = 30.0,
    stop_timeout: float = 10.0,
    max_seconds: float = 120.0,
) -> Iterator[str]:
    """Serve the WSGI app ``app`` ("module:attribute") with gunicorn; yield its base URL.

    Args:
        app: The import string gunicorn loads, resolved from ``cwd``.
        env: Extra environment variables for the server (added to ``os.environ``).
        cwd: The working directory of the server, from which ``app`` is imported.
            By default, a temporary directory holding only a link to the
            repository's ``examples/``, so ``examples.flask_app:app`` resolves
            while ``boltcall_webhooks`` is the installed package, not the checkout.
        args: Extra gunicorn options.
        startup_timeout: Seconds to wait for the server to answer an HTTP request.
        stop_timeout: Seconds to wait after SIGTERM (then SIGKILL) and after SIGKILL.
        max_seconds: The server exits by itself after this long, whatever happens.

    Raises:
        GunicornError: The server exited or did not listen in time (with its output).
    """
    with contextlib.ExitStack() as stack:
        if cwd is None:
            # Only examples/ is importable from here: boltcall_webhooks comes from
            # the installed package, never from the checkout next to it.
            workdir = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
        else:
            workdir = pathlib.Path(cwd)
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(workdir), child_env.get("PYTHONPATH", "")) if p
        )
        output = stack.enter_context(tempfile.TemporaryFile())
        yield from _serve(
            app, workdir, child_env, output, args, startup_timeout, stop_timeout, max_seconds
        )


def _serve(
    app: str,
    workdir: pathlib.Path,
    child_env: dict[str, str],
    output: IO[bytes],
    args: Sequence[str],
    startup_timeout: float,
    stop_timeout: float,
    max_seconds: float,
) -> Iterator[str]:
    """Start gunicorn (retrying on a port taken meanwhile), yield its URL, stop it."""
    for _attempt in range(3):
        port = _free_port()
        command = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(max_seconds),
            str(os.getpid()),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "30",
            "--graceful-timeout",
            "3",
            "--log-level",
            "warning",
            "--chdir",
            str(workdir),
            *args,
            app,
        ]
        output.seek(0)
        output.truncate()
        proc = subprocess.Popen(
            command, cwd=workdir, env=child_env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + startup_timeout
            ready = False
            while not ready and proc.poll() is None and time.monotonic() < deadline:
                ready = _accepts(port) and _answers(port)
                if not ready:
                    time.sleep(0.05)
            if ready and proc.poll() is None:
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            _stop(proc, stop_timeout)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
        if "address already in use" not in text.lower():
            msg = f"gunicorn did not start serving {app!r} (exit {proc.returncode}):\n{text}"
            raise GunicornError(msg)
    msg = f"gunicorn could not bind a free port for {app!r} after 3 attempts."
    raise GunicornError(msg)
