"""Shared pieces of the atheris harnesses: instrumented import, oracles, seeds, replay.

Import this module before anything else from ``boltcall_webhooks``: it imports the
package under atheris instrumentation (so libFuzzer sees coverage of our code), or
plainly in ``--replay`` mode (so coverage.py can measure a corpus replay).

Every harness follows one rule: the only exceptions allowed to leave the library
are our own (:class:`boltcall_webhooks.WebhookError` and its subclasses). Anything
else propagates out of the harness and libFuzzer records it as a crash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pathlib
import sys
from collections import Counter
from collections.abc import Callable, Iterable

import atheris  # type: ignore[import-untyped]
from _seeds import seed_envelopes

REPLAY = "--replay" in sys.argv

if REPLAY:
    import boltcall_webhooks as bw
else:
    with atheris.instrument_imports(include=["boltcall_webhooks"]):
        import boltcall_webhooks as bw

__all__ = [
    "ALL_KEYS",
    "FIXED_NOW",
    "LEAKS",
    "OUTCOMES",
    "SECRETS",
    "LeakCheck",
    "bw",
    "hex_signature",
    "main",
    "seed_envelopes",
]

if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1":
    # nox sessions must fuzz the installed package, never the source tree.
    _location = pathlib.Path(bw.__file__).resolve()
    if "site-packages" not in _location.parts:
        msg = f"boltcall_webhooks was imported from the checkout ({_location}), not installed"
        raise RuntimeError(msg)


def _fake_secret(label: str) -> str:
    """A deterministic stand-in for a Boltcall secret (never a real one)."""
    return "whsec_" + hashlib.sha256(f"boltcall-fuzz-{label}".encode()).hexdigest()[:32]


SECRETS: dict[str, str] = {
    name: _fake_secret(name)
    for name in (
        "new_lead",
        "missed_call",
        "appointment_booked",
        "call_completed",
        "review_received",
    )
}
"""One secret per event type, as a receiver of all five subscriptions holds them."""

ALL_KEYS: tuple[bytes, ...] = tuple(s.encode() for s in SECRETS.values())

FIXED_NOW = bw.parse_event(b'{"event":"x","timestamp":"2025-03-20T09:17:22Z","data":{}}').timestamp
"""The clock used with ``tolerance``: a fixed moment keeps runs reproducible."""


def hex_signature(key: bytes, body: bytes) -> str:
    """The signature Boltcall would send, computed independently of the library."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class LeakCheck(logging.Handler):
    """A log handler that formats every record and fails if it holds a secret or digest.

    It also replaces the default last-resort handler, so that the library's
    warnings neither flood the terminal nor slow the fuzzer down.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.forbidden: tuple[str, ...] = tuple(SECRETS.values())

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record and look for anything that must never be logged."""
        message = record.getMessage()
        for word in self.forbidden:
            if word in message:
                msg = "a secret or digest was written to the log"
                raise AssertionError(msg)

    def check_error(self, error: BaseException, *extra: str) -> None:
        """Fail if an error message holds a secret or one of the given digests."""
        text = str(error)
        for word in (*self.forbidden, *extra):
            if len(word) >= 8 and word in text:
                msg = f"{type(error).__name__} message leaks a secret or digest"
                raise AssertionError(msg)


def _install_leak_check() -> LeakCheck:
    handler = LeakCheck()
    logger = logging.getLogger("boltcall_webhooks")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return handler


LEAKS = _install_leak_check()

OUTCOMES: Counter[str] = Counter()
"""What each input led to (accepted, or the error class); printed after a replay."""


# Running --------------------------------------------------------------------


def _replay(paths: Iterable[str], test_one: Callable[[bytes], None]) -> None:
    count = 0
    for name in paths:
        path = pathlib.Path(name)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            test_one(file.read_bytes())
            count += 1
    print(f"replayed {count} inputs without a crash")
    for outcome, n in sorted(OUTCOMES.items()):
        print(f"  {outcome}: {n}")


def main(test_one: Callable[[bytes], None]) -> None:
    """Fuzz ``test_one`` with libFuzzer arguments, or replay files with ``--replay DIR...``."""
    if REPLAY:
        _replay([a for a in sys.argv[1:] if a != "--replay"], test_one)
        return
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
