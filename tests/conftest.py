"""Shared test configuration."""

from __future__ import annotations

import os
import pathlib

import boltcall_webhooks

ROOT = pathlib.Path(__file__).resolve().parent.parent

if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1":
    # nox sessions must test the installed package, never the source tree.
    _location = pathlib.Path(boltcall_webhooks.__file__).resolve()
    if "site-packages" not in _location.parts:
        msg = f"boltcall_webhooks was imported from the checkout ({_location}), not installed"
        raise RuntimeError(msg)
