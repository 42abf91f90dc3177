"""The adapter contract for the Flask decorator, with a sync view and with an async view."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from flask import Flask, g, jsonify
from flask.testing import FlaskClient

from boltcall_webhooks import Event
from boltcall_webhooks.flask import verify_webhook

from ..contract import SECRET, AdapterContract, Reply  # noqa: TID252

HOOK = "/hook"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@dataclass
class FlaskHarness:
    """A Flask app with one decorated route, driven by ``app.test_client()``."""

    client: FlaskClient
    calls: list[Event]

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        response = self.client.post(HOOK, data=body, headers=headers)
        return Reply(response.status_code, response.get_json(silent=True), dict(response.headers))

    def request(self, method: str) -> Reply:
        response = self.client.open(HOOK, method=method)
        return Reply(response.status_code, response.get_json(silent=True), dict(response.headers))


def _options(max_body_size: int | None) -> dict[str, Any]:
    return {} if max_body_size is None else {"max_body_size": max_body_size}


class TestSyncView(AdapterContract):
    """A plain ``def`` view; secrets passed to the decorator; the route takes every method.

    Non-POST methods therefore reach the decorator, which answers 405 itself.
    """

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        app = Flask(__name__)
        calls: list[Event] = []

        @app.route(HOOK, methods=ALL_METHODS)
        @verify_webhook(secrets, **_options(max_body_size))
        def hook(event: Event) -> Any:
            assert g.boltcall_event is event
            calls.append(event)
            return jsonify(id=event.raw["data"]["id"])

        return FlaskHarness(app.test_client(), calls)


class TestAsyncView(AdapterContract):
    """An ``async def`` view (``flask[async]``); secrets from ``app.config``; POST-only route."""

    def make_harness(self, *, secrets: Any = SECRET, max_body_size: int | None = None) -> Any:
        app = Flask(__name__)
        if secrets is not None:
            app.config["BOLTCALL_WEBHOOK_SECRET"] = secrets
        calls: list[Event] = []

        @app.post(HOOK)
        @verify_webhook(**_options(max_body_size))
        async def hook(event: Event) -> Any:
            await asyncio.sleep(0)
            calls.append(event)
            return {"id": event.raw["data"]["id"]}

        return FlaskHarness(app.test_client(), calls)
