"""pytest fixtures for testing Boltcall webhook receivers (opt-in).

Enable it in your top-level ``conftest.py``::

    pytest_plugins = ["boltcall_webhooks.testing.pytest_plugin"]

Fixtures:

- ``boltcall_secret`` - the secret your receiver is configured with in tests
  (default :data:`~boltcall_webhooks.testing.TEST_SECRET`; override the fixture
  to use your own);
- ``boltcall_secret_env`` - the same secret, also set in ``BOLTCALL_WEBHOOK_SECRET``
  for the duration of the test (for adapters configured from the environment);
- ``boltcall_clock`` - a :class:`~boltcall_webhooks.testing.FixedClock` at
  :data:`~boltcall_webhooks.testing.SAMPLE_TIMESTAMP`, the time of every sample;
- ``boltcall_verifier`` - a :class:`~boltcall_webhooks.Verifier` with that
  secret and clock (tolerance off);
- ``boltcall_request`` - a factory of signed requests: ``boltcall_request("new_lead",
  name="Ada")`` returns a :class:`~boltcall_webhooks.testing.SignedRequest`
  signed with ``boltcall_secret``.

Example::

    def test_lead_is_stored(client, boltcall_request):
        request = boltcall_request("new_lead", email="ada@example.com")
        response = client.post("/webhooks", data=request.body, headers=request.headers)
        assert response.status_code == 200
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pytest

from boltcall_webhooks._secrets import SECRET_ENV_VAR
from boltcall_webhooks._verifier import Verifier
from boltcall_webhooks.testing import TEST_SECRET, FixedClock, SignedRequest, signed_request

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from boltcall_webhooks._events import EventType

__all__ = [
    "SignedRequestFactory",
    "boltcall_clock",
    "boltcall_request",
    "boltcall_secret",
    "boltcall_secret_env",
    "boltcall_verifier",
]


class SignedRequestFactory(Protocol):
    """The type of the ``boltcall_request`` fixture: ``signed_request`` with a bound secret."""

    def __call__(
        self,
        payload: bytes | Mapping[str, Any] | EventType | str = ...,
        *,
        timestamp: datetime | str | None = None,
        **fields: Any,
    ) -> SignedRequest:
        """Build a request signed with ``boltcall_secret``."""
        ...


@pytest.fixture
def boltcall_secret() -> str:
    """The webhook secret used by the other fixtures; override it to use your own."""
    return TEST_SECRET


@pytest.fixture
def boltcall_secret_env(boltcall_secret: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Set ``BOLTCALL_WEBHOOK_SECRET`` to ``boltcall_secret`` for this test."""
    monkeypatch.setenv(SECRET_ENV_VAR, boltcall_secret)
    return boltcall_secret


@pytest.fixture
def boltcall_clock() -> FixedClock:
    """A fixed clock at the time of every sample; move it with ``advance()``."""
    return FixedClock()


@pytest.fixture
def boltcall_verifier(boltcall_secret: str, boltcall_clock: FixedClock) -> Verifier:
    """A verifier with ``boltcall_secret`` and ``boltcall_clock`` (tolerance off)."""
    return Verifier(boltcall_secret, clock=boltcall_clock)


@pytest.fixture
def boltcall_request(boltcall_secret: str) -> SignedRequestFactory:
    """A factory of requests signed with ``boltcall_secret``."""

    def make(
        payload: bytes | Mapping[str, Any] | EventType | str = "new_lead",
        *,
        timestamp: datetime | str | None = None,
        **fields: Any,
    ) -> SignedRequest:
        return signed_request(payload, secret=boltcall_secret, timestamp=timestamp, **fields)

    return make
