"""Flask-specific behaviour: streamed limits, raw body access, errors, configuration."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask, request
from flask.views import MethodView

from boltcall_webhooks import SECRET_ENV_VAR, Event, NewLeadEvent
from boltcall_webhooks.flask import verify_webhook

from ..contract import OTHER_SECRET, SECRET, envelope, signed_headers  # noqa: TID252

LIMIT = 1000


def _app(**options: Any) -> tuple[Flask, list[Event], list[bytes]]:
    """An app whose /hook view records events and the body it can read itself."""
    app = Flask(__name__)
    calls: list[Event] = []
    bodies: list[bytes] = []

    @app.post("/hook")
    @verify_webhook(SECRET, **options)
    def hook(event: Event) -> Any:
        calls.append(event)
        bodies.append(request.get_data())
        return {"type": event.type}

    return app, calls, bodies


def _chunked(body: bytes) -> dict[str, Any]:
    """Environ of a chunked upload: no Content-Length, input terminated by the server."""
    return {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}


def test_chunked_upload_without_content_length_is_verified() -> None:
    """A genuine body with no Content-Length (server-terminated input) reaches the view."""
    app, calls, bodies = _app(max_body_size=LIMIT)
    body = envelope("new_lead")
    response = app.test_client().post(
        "/hook", headers=signed_headers(body), environ_overrides=_chunked(body)
    )
    assert response.status_code == 200
    assert [type(e) for e in calls] == [NewLeadEvent]
    assert bodies == [body]


def test_chunked_upload_over_the_cap_is_413_and_read_no_further() -> None:
    """With no Content-Length, reading stops one byte past the cap: 413, view not called."""
    app, calls, _ = _app(max_body_size=LIMIT)
    body = envelope("new_lead", {"id": "l_1", "message": "x" * 100_000})
    environ = _chunked(body)
    response = app.test_client().post(
        "/hook", headers=signed_headers(body), environ_overrides=environ
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": "Payload too large"}
    assert environ["wsgi.input"].tell() <= LIMIT + 1
    assert calls == []


def test_announced_length_over_the_cap_is_413_unread() -> None:
    """A Content-Length above the cap is refused before a single byte is read."""
    app, calls, _ = _app(max_body_size=LIMIT)
    body = envelope("new_lead", {"id": "l_1", "message": "x" * 5000})
    stream = io.BytesIO(body)
    response = app.test_client().post(
        "/hook",
        headers=signed_headers(body),
        environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(len(body))},
    )
    assert response.status_code == 413
    assert stream.tell() == 0
    assert calls == []


def test_unterminated_body_without_length_is_refused_not_accepted() -> None:
    """Without Content-Length or a terminated input, WSGI gives no body: 401, never a pass."""
    app, calls, _ = _app()
    body = envelope("new_lead")
    environ = {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body)}
    response = app.test_client().post(
        "/hook", headers=signed_headers(body), environ_overrides=environ
    )
    assert response.status_code == 401
    assert calls == []


def test_invalid_content_length_is_400() -> None:
    """A Content-Length that is not a number is a 400 before reading."""
    app, calls, _ = _app()
    body = envelope("new_lead")
    response = app.test_client().post(
        "/hook",
        data=body,
        headers=signed_headers(body),
        environ_overrides={"CONTENT_LENGTH": "1e3"},
    )
    assert response.status_code == 400
    assert calls == []


def test_flask_max_content_length_below_ours_is_json_413() -> None:
    """Flask's own MAX_CONTENT_LENGTH still answers with the adapter's JSON 413."""
    app, calls, _ = _app()
    app.config["MAX_CONTENT_LENGTH"] = 50
    body = envelope("new_lead", {"id": "l_1", "message": "x" * 100})
    environ = _chunked(body)
    response = app.test_client().post(
        "/hook", headers=signed_headers(body), environ_overrides=environ
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": "Payload too large"}
    assert calls == []


def test_body_read_by_a_before_request_hook_still_verifies() -> None:
    """A hook that called get_data(cache=True) first leaves the cached raw bytes for us."""
    app, calls, _ = _app()

    @app.before_request
    def peek() -> None:
        request.get_data(cache=True)

    body = envelope("missed_call")
    response = app.test_client().post("/hook", data=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert len(calls) == 1


def test_exception_in_view_is_500_not_401() -> None:
    """A bug in the receiver's view is Flask's 500, after the event was delivered."""
    app = Flask(__name__)
    calls: list[Event] = []

    @app.post("/hook")
    @verify_webhook(SECRET)
    def hook(event: Event) -> Any:
        calls.append(event)
        msg = "the receiver's own bug"
        raise RuntimeError(msg)

    body = envelope("new_lead")
    response = app.test_client().post("/hook", data=body, headers=signed_headers(body))
    assert response.status_code == 500
    assert len(calls) == 1
    app.testing = True  # now Flask propagates the exception instead
    with pytest.raises(RuntimeError, match="own bug"):
        app.test_client().post("/hook", data=body, headers=signed_headers(body))


def test_url_variables_arrive_next_to_event() -> None:
    """Route variables are still passed; event= is added as a keyword."""
    app = Flask(__name__)

    @app.post("/hook/<tenant>")
    @verify_webhook(SECRET)
    def hook(tenant: str, event: Event) -> Any:
        return {"tenant": tenant, "type": event.type}

    body = envelope("review_received")
    response = app.test_client().post("/hook/acme", data=body, headers=signed_headers(body))
    assert response.get_json() == {"tenant": "acme", "type": "review_received"}


def test_argument_wins_over_app_config_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets: argument first, then app.config, then the environment variable."""
    monkeypatch.setenv(SECRET_ENV_VAR, "whsec_from_the_environment")
    app = Flask(__name__)
    app.config["BOLTCALL_WEBHOOK_SECRET"] = OTHER_SECRET

    @app.post("/explicit")
    @verify_webhook(SECRET)
    def explicit(event: Event) -> Any:
        return {"ok": True}

    @app.post("/configured")
    @verify_webhook()
    def configured(event: Event) -> Any:
        return {"ok": True}

    body = envelope("new_lead")
    client = app.test_client()
    assert client.post("/explicit", data=body, headers=signed_headers(body)).status_code == 200
    assert client.post("/configured", data=body, headers=signed_headers(body)).status_code == 401
    with_config = signed_headers(body, OTHER_SECRET)
    assert client.post("/configured", data=body, headers=with_config).status_code == 200
    app.config.pop("BOLTCALL_WEBHOOK_SECRET")
    env_signed = signed_headers(body, "whsec_from_the_environment")
    assert client.post("/configured", data=body, headers=env_signed).status_code == 200


def test_empty_config_secret_is_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    """An empty app.config secret is a configuration error (500, logged), never acceptance."""
    app = Flask(__name__)
    app.config["BOLTCALL_WEBHOOK_SECRET"] = "  "

    @app.post("/hook")
    @verify_webhook()
    def hook(event: Event) -> Any:  # pragma: no cover - must not run
        raise AssertionError

    body = envelope("new_lead")
    response = app.test_client().post("/hook", data=body, headers=signed_headers(body))
    assert response.status_code == 500
    assert any(r.levelname == "ERROR" for r in caplog.records)
    assert "  " not in caplog.text.split("refused with 500:")[-1].strip()[:2]


def test_405_has_allow_header() -> None:
    """The decorator's own 405 names POST in Allow."""
    app = Flask(__name__)

    @app.route("/hook", methods=["GET", "POST"])
    @verify_webhook(SECRET)
    def hook(event: Event) -> Any:  # pragma: no cover - must not run
        raise AssertionError

    response = app.test_client().get("/hook")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_method_view_with_decorators_attribute() -> None:
    """Class-based views take the decorator through MethodView.decorators."""
    app = Flask(__name__)

    class Hook(MethodView):
        decorators = [verify_webhook(SECRET)]  # noqa: RUF012

        def post(self, event: Event) -> Any:
            return {"type": event.type}

    app.add_url_rule("/hook", view_func=Hook.as_view("hook"))
    body = envelope("appointment_booked")
    response = app.test_client().post("/hook", data=body, headers=signed_headers(body))
    assert response.get_json() == {"type": "appointment_booked"}


def test_view_without_event_parameter_fails_at_decoration() -> None:
    """A view that cannot take event= is a TypeError at import time, not a 500 per request."""

    def view() -> str:  # pragma: no cover - never called
        return ""

    with pytest.raises(TypeError, match="event"):
        verify_webhook(SECRET)(view)


def test_bare_decorator_and_bad_options() -> None:
    """@verify_webhook works without parentheses; unknown options are a TypeError."""
    app = Flask(__name__)
    app.config["BOLTCALL_WEBHOOK_SECRET"] = SECRET

    @app.post("/hook")
    @verify_webhook
    def hook(event: Event) -> Any:
        return {"type": event.type}

    body = envelope("new_lead")
    assert (
        app.test_client().post("/hook", data=body, headers=signed_headers(body)).status_code == 200
    )
    with pytest.raises(TypeError, match="max_size"):
        verify_webhook(SECRET, max_size=1)


def test_missing_flask_gives_an_install_hint() -> None:
    """Without Flask, importing the adapter names the extra to install."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['flask'] = None\n"
        "try:\n    import boltcall_webhooks.flask\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "boltcall-webhooks[flask]"' in result.stdout


def test_secrets_as_keyword_argument() -> None:
    """verify_webhook(secrets=...) works as documented."""
    app = Flask(__name__)

    @app.post("/hook")
    @verify_webhook(secrets=[OTHER_SECRET, SECRET], max_body_size=LIMIT)
    def hook(event: Event) -> Any:
        return {"type": event.type}

    body = envelope("new_lead")
    assert (
        app.test_client().post("/hook", data=body, headers=signed_headers(body)).status_code == 200
    )


class _BrokenInput(io.RawIOBase):
    """A request body whose client goes away after ``keep`` bytes."""

    def __init__(self, data: bytes, keep: int, error: BaseException) -> None:
        self._data = io.BytesIO(data[:keep])
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        if not chunk:
            raise self._error
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize(
    "error", [ConnectionResetError("reset by peer"), OSError("no more data")], ids=["reset", "eof"]
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_leaving_mid_body_is_400_not_500(error: BaseException, chunked: bool) -> None:
    """A body cut short by the client is a 400 'Client disconnected'; the view never runs."""
    app, calls, _ = _app(max_body_size=LIMIT * 100)
    body = envelope("new_lead", {"id": "l_1", "message": "x" * 2000})
    environ: dict[str, Any] = {"wsgi.input": io.BufferedReader(_BrokenInput(body, 700, error))}
    if chunked:
        environ.update({"CONTENT_LENGTH": "", "wsgi.input_terminated": True})
    else:
        environ["CONTENT_LENGTH"] = str(len(body))
    response = app.test_client().post(
        "/hook", headers=signed_headers(body), environ_overrides=environ
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "Client disconnected"}
    assert calls == []
