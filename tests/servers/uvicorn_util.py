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
from collections.abc import Iterator, Mapping, Sequence

try:
    from .server_process import ServerError, run_server_process
except ImportError:  # imported as a top-level module (tests/load puts this folder on sys.path)
    from server_process import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        ServerError,
        run_server_process,
    )

__all__ = ["ServerError", "run_uvicorn"]

_ENTRY_POINT = """
import uvicorn
uvicorn.main(sys.argv[3:], prog_name="uvicorn")
"""


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

    Ready once the port accepts connections; uvicorn exits by itself after
    ``max_requests`` requests. ``args`` adds uvicorn options (``["--factory"]``...);
    ``log_path`` keeps the server's output so a test can check it. See
    :func:`server_process.run_server_process` for ``env``, ``cwd`` and the time limits.

    Raises:
        ServerError: The server exited or did not listen in time (with its output).
    """

    def command(port: int, workdir: os.PathLike[str]) -> list[str]:
        del workdir  # uvicorn imports the app from its working directory
        return [
            app, "--host", "127.0.0.1", "--port", str(port),
            "--limit-max-requests", str(max_requests), "--timeout-graceful-shutdown", "3",
            "--log-level", "warning", "--no-access-log", *args,
        ]  # fmt: skip

    with run_server_process(
        "uvicorn",
        app,
        entry_point=_ENTRY_POINT,
        server_args=command,
        env=env,
        cwd=cwd,
        startup_timeout=startup_timeout,
        stop_timeout=stop_timeout,
        max_seconds=max_seconds,
        log_path=log_path,
    ) as url:
        yield url
