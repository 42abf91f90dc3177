"""Run a real server in a child process on 127.0.0.1 for the length of a test.

The shared part of :mod:`gunicorn_util` and :mod:`uvicorn_util`: a free port,
a launcher whose watchdog thread ends the child after ``max_seconds`` or as
soon as the test process is gone, a readiness wait, and a stop that always
happens (SIGTERM, then SIGKILL after a bounded wait). Under nox the child
refuses to run the checkout instead of the installed package.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO

__all__ = ["ROOT", "ServerError", "run_server_process"]

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in the child: a watchdog thread, then the server's own entry point.
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
"""


class ServerError(RuntimeError):
    """The server did not start (its output is in the message)."""


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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
def run_server_process(
    name: str,
    app: str,
    *,
    entry_point: str,
    server_args: Callable[[int, pathlib.Path], Sequence[str]],
    ready: Callable[[int], bool] = accepts,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    startup_timeout: float = 30.0,
    stop_timeout: float = 10.0,
    max_seconds: float = 120.0,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Serve ``app`` with a server started by ``entry_point``; yield the base URL.

    Args:
        name: The server's name, for messages.
        app: The import string of the app ("module:attribute"), for messages.
        entry_point: Python code run in the child after the watchdog starts; it
            reads the server's command line from ``sys.argv[3:]``.
        server_args: Builds that command line from the port and the working directory.
        ready: Tells whether the server on that port is ready for requests.
        env: Extra environment variables for the server (added to ``os.environ``).
        cwd: The working directory of the server, from which ``app`` is imported.
            By default, a temporary directory holding only a link to the
            repository's ``examples/``: the examples resolve while
            ``boltcall_webhooks`` is the installed package, not the checkout.
        startup_timeout: Seconds to wait for ``ready``.
        stop_timeout: Seconds to wait after SIGTERM (then SIGKILL) and after SIGKILL.
        max_seconds: The child exits by itself after this long, whatever happens.
        log_path: When given, the server's output (stdout and stderr) goes to this file.

    Raises:
        ServerError: The server exited or was not ready in time (with its output).
    """
    with contextlib.ExitStack() as stack:
        if cwd is None:
            workdir = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
        else:
            workdir = pathlib.Path(cwd)
        child_env = dict(os.environ)
        child_env.update(env or {})
        # The app module is found from the working directory, as when run there.
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(workdir), child_env.get("PYTHONPATH", "")) if p
        )
        if log_path is not None:
            output: IO[bytes] = stack.enter_context(open(log_path, "w+b"))
        else:
            output = stack.enter_context(tempfile.TemporaryFile())
        launcher = _LAUNCHER + entry_point
        for _attempt in range(3):  # retried when the free port was taken meanwhile
            port = free_port()
            command = [
                sys.executable, "-c", launcher, str(max_seconds), str(os.getpid()),
                *server_args(port, workdir),
            ]  # fmt: skip
            output.seek(0)
            output.truncate()
            proc = subprocess.Popen(
                command, cwd=workdir, env=child_env, stdout=output, stderr=subprocess.STDOUT
            )
            try:
                deadline = time.monotonic() + startup_timeout
                up = False
                while not up and proc.poll() is None and time.monotonic() < deadline:
                    up = ready(port)
                    if not up:
                        time.sleep(0.05)
                if up and proc.poll() is None:
                    yield f"http://127.0.0.1:{port}"
                    return
            finally:
                _stop(proc, stop_timeout)
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
            if "address already in use" not in text.lower():
                msg = f"{name} did not start serving {app!r} (exit {proc.returncode}):\n{text}"
                raise ServerError(msg)
        msg = f"{name} could not bind a free port for {app!r} after 3 attempts."
        raise ServerError(msg)
