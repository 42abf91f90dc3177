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
from collections.abc import Iterator, Mapping, Sequence

try:
    from .server_process import ROOT, ServerError, accepts, run_server_process
except ImportError:  # imported as a top-level module (tests/load puts this folder on sys.path)
    from server_process import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        ROOT,
        ServerError,
        accepts,
        run_server_process,
    )

__all__ = ["ROOT", "GunicornError", "run_gunicorn"]

GunicornError = ServerError
"""The server did not start (its output is in the message)."""

_ENTRY_POINT = """
sys.argv = ["gunicorn", *sys.argv[3:]]
from gunicorn.app.wsgiapp import run
run()
"""


def _answers(port: int) -> bool:
    """Whether a worker answers HTTP (any status), not just the master's socket."""
    if not accepts(port):
        return False
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
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Serve the WSGI app ``app`` ("module:attribute") with gunicorn; yield its base URL.

    One sync worker unless ``args`` says otherwise; ready once a worker answers
    HTTP. ``log_path`` keeps the server's output so a test can check it. See
    :func:`server_process.run_server_process` for ``env``, ``cwd`` and the time limits.

    Raises:
        GunicornError: The server exited or did not answer in time (with its output).
    """

    def command(port: int, workdir: os.PathLike[str]) -> list[str]:
        return [
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "30",
            "--graceful-timeout", "3", "--log-level", "warning", "--chdir", str(workdir),
            *args, app,
        ]  # fmt: skip

    with run_server_process(
        "gunicorn",
        app,
        entry_point=_ENTRY_POINT,
        server_args=command,
        ready=_answers,
        env=env,
        cwd=cwd,
        startup_timeout=startup_timeout,
        stop_timeout=stop_timeout,
        max_seconds=max_seconds,
        log_path=log_path,
    ) as url:
        yield url
