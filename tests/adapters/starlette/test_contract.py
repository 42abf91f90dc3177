"""The adapter contract for the middleware (Starlette, FastAPI) and the FastAPI dependency.

Every variant runs through Starlette's TestClient, with sync and async endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from boltcall_webhooks import Event

from ..contract import SECRET, AdapterContract, Harness, Reply  # noqa: TID252
from ._apps import (
    ClientHarness,
    fastapi_with_dependency,
    fastapi_with_middleware,
    starlette_with_middleware,
)

AppBuilder = Callable[..., Any]


class _TestClientContract(AdapterContract):
    builder: ClassVar[AppBuilder]
    use_async: ClassVar[bool]
    detail_as_error: ClassVar[bool] = False

    def make_harness(
        self, *, secrets: Any = SECRET, max_body_size: int | None = None
    ) -> ClientHarness:
        calls: list[Event] = []
        app = type(self).builder(
            calls, secrets=secrets, max_body_size=max_body_size, use_async=self.use_async
        )
        return ClientHarness(app, calls, detail_as_error=self.detail_as_error)

    def _post_raw_header(self, harness: Harness, body: bytes, headers: dict[str, str]) -> Reply:
        assert isinstance(harness, ClientHarness)
        raw = {name: value.encode("latin-1") for name, value in headers.items()}
        return harness.post_raw(body, raw)


class TestStarletteMiddlewareAsync(_TestClientContract):
    """Pure ASGI middleware in a Starlette app, async endpoint re-reading the body."""

    builder = staticmethod(starlette_with_middleware)
    use_async = True


class TestStarletteMiddlewareSync(_TestClientContract):
    """Pure ASGI middleware in a Starlette app, sync endpoint."""

    builder = staticmethod(starlette_with_middleware)
    use_async = False


class TestFastAPIMiddlewareAsync(_TestClientContract):
    """The middleware added to a FastAPI app, async endpoint."""

    builder = staticmethod(fastapi_with_middleware)
    use_async = True


class TestFastAPIMiddlewareSync(_TestClientContract):
    """The middleware added to a FastAPI app, sync endpoint."""

    builder = staticmethod(fastapi_with_middleware)
    use_async = False


class _DependencyContract(_TestClientContract):
    """The dependency answers ``{"detail": msg}``; the harness maps it to the contract's
    ``{"error": msg}`` and the override below checks the raw body had FastAPI's shape."""

    builder = staticmethod(fastapi_with_dependency)
    detail_as_error = True

    def _assert_refused(
        self, harness: Harness, reply: Reply, status: int, error: str | None = None
    ) -> None:
        super()._assert_refused(harness, reply, status, error)
        # Only FastAPI's {"detail": ...} convention can have been mapped to "error".
        assert isinstance(reply.json, dict)
        assert set(reply.json) == {"error"}
        assert isinstance(reply.json["error"], str)


class TestFastAPIDependencyAsync(_DependencyContract):
    """``Depends(verified_event(...))`` on an async FastAPI endpoint."""

    use_async = True


class TestFastAPIDependencySync(_DependencyContract):
    """``Depends(verified_event(...))`` on a sync FastAPI endpoint."""

    use_async = False


def test_dependency_contract_really_sees_detail_bodies() -> None:
    """The mapping in the dependency harness is needed: the raw reply is {"detail": ...}."""
    harness = TestFastAPIDependencyAsync().make_harness()
    raw = harness.client.post("/hook", content=b"{}", headers={"X-Boltcall-Signature": "0" * 64})
    assert raw.status_code == 401
    assert raw.json() == {"detail": "Invalid signature"}


@pytest.mark.parametrize(
    "contract",
    [TestStarletteMiddlewareAsync, TestFastAPIMiddlewareAsync],
    ids=["starlette", "fastapi"],
)
def test_middleware_contract_replies_are_error_bodies(contract: type[_TestClientContract]) -> None:
    """The middleware answers in the shared {"error": ...} shape even inside FastAPI."""
    harness = contract().make_harness()
    raw = harness.client.post("/hook", content=b"{}", headers={"X-Boltcall-Signature": "0" * 64})
    assert raw.status_code == 401
    assert raw.json() == {"error": "Invalid signature"}
