"""Run an ASGI app under a real uvicorn server on 127.0.0.1 for the length of a test.

:func:`run_uvicorn` starts ``uvicorn <module:attr>`` in a child process on a
free port, waits until the port accepts connections, yields the base URL and
always stops the server when the ``with`` block ends (SIGTERM, then SIGKILL).

The child is bounded on its own too, so it can never outlive a crashed test
run: uvicorn exits after ``max_requests`` requests, and a watchdog thread in
the child ends it after ``max_seconds`` or as soon as its parent process is
gone.

Example::

    with run_uvicorn("examples.fastapi_app:app", env={"BOLTCALL_WEBHOOK_SECRET": s}) as url:
        httpx.post(f"{url}/webhooks/boltcall", content=body, headers=headers)
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
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

__all__ = ["ServerError", "run_uvicorn"]

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in the child: a watchdog thread, then uvicorn's own command line.
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
import uvicorn
uvicorn.main(sys.argv[3:], prog_name="uvicorn")
"""


class ServerError(RuntimeError):
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
def run_uvicorn(
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    args: Sequence[str] = (),
    startup_timeout: float = 30.0,
    stop_timeout: float = 10.0,
    max_seconds: float = 120.0,
    max_requests: int = 200,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Serve the ASGI app ``app`` ("module:attribute") with uvicorn; yield its base URL.

    Args:
        app: The import string uvicorn loads, resolved from ``cwd``.
        env: Extra environment variables for the server (added to ``os.environ``).
        cwd: The working directory of the server, from which ``app`` is imported.
            By default, a temporary directory holding only a link to the
            repository's ``examples/``, so ``examples.fastapi_app:app`` resolves
            while ``boltcall_webhooks`` is the installed package, not the checkout.
        args: Extra uvicorn options (``["--factory"]``, ``["--lifespan", "off"]``...).
        startup_timeout: Seconds to wait for the port to accept connections.
        stop_timeout: Seconds to wait after SIGTERM (then SIGKILL) and after SIGKILL.
        max_seconds: The child exits by itself after this long, whatever happens.
        max_requests: uvicorn exits by itself after serving this many requests.
        log_path: When given, the server's output (stdout and stderr) is written
            to this file, so a test can check that nothing was logged as an error.

    Raises:
        ServerError: The server exited or did not listen in time (with its output).
    """
    with contextlib.ExitStack() as stack:
        if cwd is None:
            workdir = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
        else:
            workdir = pathlib.Path(cwd)
        child_env = dict(os.environ)
        child_env.update(env or {})
        # The app module is found from the working directory, like `uvicorn` run there.
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(workdir), child_env.get("PYTHONPATH", "")) if p
        )
        if log_path is not None:
            output = stack.enter_context(open(log_path, "w+b"))
        else:
            output = stack.enter_context(tempfile.TemporaryFile())
        yield from _serve(
            app,
            workdir,
            child_env,
            output,
            args,
            startup_timeout,
            stop_timeout,
            max_seconds,
            max_requests,
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
    max_requests: int,
) -> Iterator[str]:
    """Start uvicorn (retrying on a port taken meanwhile), yield its URL, stop it."""
    for _attempt in range(3):
        port = _free_port()
        command = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(max_seconds),
            str(os.getpid()),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--limit-max-requests",
            str(max_requests),
            "--timeout-graceful-shutdown",
            "3",
            "--log-level",
            "warning",
            "--no-access-log",
            *args,
        ]
        output.seek(0)
        output.truncate()
        proc = subprocess.Popen(
            command, cwd=workdir, env=child_env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _accepts(port):
                    break
                time.sleep(0.05)
            if proc.poll() is None and _accepts(port):
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            _stop(proc, stop_timeout)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
        if "address already in use" not in text.lower():
            msg = f"uvicorn did not start serving {app!r} (exit {proc.returncode}):\n{text}"
            raise ServerError(msg)
    msg = f"uvicorn could not bind a free port for {app!r} after 3 attempts."
    raise ServerError(msg)
