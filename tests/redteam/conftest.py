"""The inbox tests' fixtures (a fresh database per test, per backend) for the red-team tests."""

from __future__ import annotations

from inbox.conftest import backend, clock, make_inbox

__all__ = ["backend", "clock", "make_inbox"]
