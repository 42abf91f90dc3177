"""The chaos run's quick version (~2,000 deliveries at 64 clients, kill -9 all along).

See :mod:`tests.inbox_crash.chaos` (``python -m tests.inbox_crash.chaos --full``
for 20,000 deliveries).
"""

from __future__ import annotations

import json
import pathlib

import pytest

pytest.importorskip("flask")
pytest.importorskip("starlette")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

from .chaos import QUICK, run

pytestmark = pytest.mark.servers


def test_chaos_quick(tmp_path: pathlib.Path) -> None:
    """0 lost, 0 processed twice, 0 forged stored, nothing left processing; kills happened."""
    figures = run(QUICK, tmp_path, verbose=False)
    print(f"\nchaos quick: {json.dumps(figures)}")
    assert figures["deliveries"] == QUICK.deliveries
    assert figures["done"] == QUICK.deliveries
    assert figures["forged_sent"] >= 1
    assert figures["forged_statuses"].get("401", 0) >= 1
    kills = figures["kills"]
    assert all(kills.get(kind, 0) >= 2 for kind in ("gunicorn", "uvicorn", "worker")), kills
