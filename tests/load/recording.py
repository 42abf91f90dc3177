"""What the load apps share with the driver: paths, the event recorder, example loading.

Framework-free, so the driver can import it. The recorder appends the
``data.id`` of every event a handler receives, one JSON string per line, to
``handled-<pid>.jsonl`` in the directory named by ``BOLTCALL_LOAD_RECORD_DIR``:
one file per worker process, one ``os.write`` on an ``O_APPEND`` descriptor per
event (threads never interleave a line), so the driver can count, after the
server stopped, how many times each event reached user code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    from boltcall_webhooks import Event

__all__ = [
    "BARE_PATH",
    "RECORD_DIR_VAR",
    "WEBHOOK_PATH",
    "Recorder",
    "check_installed",
    "load_example",
]

RECORD_DIR_VAR: Final = "BOLTCALL_LOAD_RECORD_DIR"
WEBHOOK_PATH: Final = "/webhooks/boltcall"
"""The webhook path of every shipped example."""
BARE_PATH: Final = "/bare"
"""The baseline route added to each app: ``json.loads`` of the body, the ready endpoint's
answer, no verification."""
EXAMPLES: Final = pathlib.Path(__file__).resolve().parents[2] / "examples"


class Recorder:
    """Appends event ids to a per-process file; safe across threads and after fork.

    The driver counts the ``handled-*`` files; the baseline route writes the same
    lines to ``baseline-*`` files (the same work, not counted).
    """

    def __init__(self, directory: str | None = None, *, prefix: str = "handled") -> None:
        directory = directory if directory is not None else os.environ.get(RECORD_DIR_VAR)
        if not directory or not pathlib.Path(directory).is_dir():
            msg = f"Set {RECORD_DIR_VAR} to an existing directory for the handled-event records."
            raise RuntimeError(msg)
        self._directory = pathlib.Path(directory)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._pid = -1
        self._fd = -1

    def record(self, event: Event) -> None:
        """Append the event's ``data.id`` (``null`` when it has none)."""
        data: object = event.raw.get("data")
        self.record_id(
            cast("dict[str, object]", data).get("id") if isinstance(data, dict) else None
        )

    def record_id(self, event_id: object) -> None:
        """Append one id (any JSON value) as a line."""
        line = (json.dumps(event_id) + "\n").encode("utf-8")
        pid = os.getpid()
        if pid != self._pid:  # first event in this process (apps may load before a fork)
            with self._lock:
                if pid != self._pid:
                    path = self._directory / f"{self._prefix}-{pid}.jsonl"
                    self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    self._pid = pid
        os.write(self._fd, line)


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by path, so the checkout root stays off ``sys.path``."""
    module_name = f"boltcall_example_{name}"
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with the repo
        msg = f"Cannot load examples/{name}.py."
        raise RuntimeError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # Flask finds its root path through sys.modules
    spec.loader.exec_module(module)
    return module


def check_installed() -> None:
    """Under nox, refuse to run with a ``boltcall_webhooks`` imported from the checkout."""
    import boltcall_webhooks

    if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1":
        location = pathlib.Path(boltcall_webhooks.__file__).resolve()
        if "site-packages" not in location.parts:
            msg = f"boltcall_webhooks was imported from {location}, not from the installed package"
            raise RuntimeError(msg)
