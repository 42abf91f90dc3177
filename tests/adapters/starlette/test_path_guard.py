"""A forged body never reaches an endpoint through another spelling of a guarded path.

Regression for the 0.1.0 bypass: the middleware compared ``scope["path"]`` with
the guarded paths as exact strings, while Starlette's router matches
``^/webhooks/boltcall$``, whose ``$`` also matches before a final ``"\\n"``;
uvicorn decodes ``%0A`` into the path, so ``POST /webhooks/boltcall%0A`` with a
forged signature reached the endpoint (200).

The apps are real Starlette and FastAPI apps (plain routes, a ``Mount``, a
path parameter, a sub-app with the middleware inside a ``Mount``, an app with
its own ``root_path``), driven with ASGI scopes built the way uvicorn builds
them from a raw request target (``path`` percent-decoded, ``raw_path`` as
sent, ``root_path`` from ``--root-path``), and through Starlette's TestClient.
Every endpoint records its invocations; the property is that a forged POST,
whatever the spelling, leaves them empty.
"""

from __future__ import annotations

import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route

from boltcall_webhooks import SIGNATURE_HEADER
from boltcall_webhooks.starlette import BoltcallWebhookMiddleware

from ..contract import SECRET, envelope, signed_headers  # noqa: TID252
from ..path_spellings import REGRESSIONS, spellings  # noqa: TID252
from ._apps import TestClient
from ._asgi import drive, http_scope

FORGED_BODY = envelope("new_lead", {"id": "lead_FORGED"})
FORGED_HEADERS = [
    ("Content-Type", "application/json"),
    (SIGNATURE_HEADER, "0" * 64),
    ("Content-Length", str(len(FORGED_BODY))),
]
ROOT_PATHS = ["", "/r", "/api/v1"]
OWN_ROOT = "fastapi-root-path"  # FastAPI(root_path=...) replaces the server's root_path


@dataclass
class Site:
    """An app, the path it guards (as a client requests it) and its endpoints' invocations."""

    name: str
    guarded: str
    build: Callable[[list[str], bool], Any]
    calls: list[str] = field(default_factory=list)

    def app(self, *, guard: bool = True) -> Any:
        """The app; ``guard=False`` builds it without the middleware (positive control)."""
        return self.build(self.calls, guard)


def _recorder(calls: list[str]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        calls.append(request.scope["path"])
        return JSONResponse({"reached": True})

    return endpoint


def _middleware(paths: list[str], guard: bool) -> list[Middleware]:
    return [Middleware(BoltcallWebhookMiddleware, paths=paths, secrets=SECRET)] if guard else []


def _starlette(calls: list[str], guard: bool) -> Any:
    route = Route("/webhooks/boltcall", _recorder(calls), methods=["POST"])
    return Starlette(routes=[route], middleware=_middleware(["/webhooks/boltcall"], guard))


def _fastapi(calls: list[str], guard: bool) -> Any:
    app = FastAPI()
    if guard:
        app.add_middleware(BoltcallWebhookMiddleware, paths=["/webhooks/boltcall"], secrets=SECRET)

    @app.post("/webhooks/boltcall")
    async def hook(request: Request) -> dict[str, bool]:
        calls.append(request.scope["path"])
        return {"reached": True}

    return app


def _mounted(calls: list[str], guard: bool) -> Any:
    """A route inside Mount("/api"); the middleware on the outer app guards /api/hook."""
    inner = [Route("/hook", _recorder(calls), methods=["POST"])]
    return Starlette(
        routes=[Mount("/api", routes=inner)], middleware=_middleware(["/api/hook"], guard)
    )


def _path_param(calls: list[str], guard: bool) -> Any:
    """A route with a path parameter whose endpoint is lenient about the value's spelling."""

    async def endpoint(request: Request) -> Response:
        if str(request.path_params["provider"]).strip().casefold() == "boltcall":
            calls.append(request.scope["path"])
        return JSONResponse({"reached": True})

    route = Route("/hooks/{provider}", endpoint, methods=["POST"])
    return Starlette(routes=[route], middleware=_middleware(["/hooks/boltcall"], guard))


def _sub_app(calls: list[str], guard: bool) -> Any:
    """The middleware inside a mounted sub-app: it sees root_path "/api" and guards /hook."""
    inner: Any = Starlette(routes=[Route("/hook", _recorder(calls), methods=["POST"])])
    if guard:
        inner = BoltcallWebhookMiddleware(inner, paths=["/hook"], secrets=SECRET)
    return Starlette(routes=[Mount("/api", app=inner)])


def _fastapi_own_root(calls: list[str], guard: bool) -> Any:
    """FastAPI(root_path="/api") wrapped by the middleware from outside."""
    with warnings.catch_warnings():
        # Recent FastAPI deprecates FastAPI(root_path=...) but still honours it; apps use it.
        warnings.filterwarnings("ignore", message="The `root_path` parameter is deprecated")
        app = FastAPI(root_path="/api")

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        calls.append(request.scope["path"])
        return {"reached": True}

    return BoltcallWebhookMiddleware(app, paths=["/hook"], secrets=SECRET) if guard else app


SITES = {
    site.name: site
    for site in (
        Site("starlette", "/webhooks/boltcall", _starlette),
        Site("fastapi", "/webhooks/boltcall", _fastapi),
        Site("mount", "/api/hook", _mounted),
        Site("path-param", "/hooks/boltcall", _path_param),
        Site("sub-app", "/api/hook", _sub_app),
        Site("fastapi-root-path", "/api/hook", _fastapi_own_root),
    )
}
APPS = {name: site.app() for name, site in SITES.items()}
UNGUARDED = {name: site.app(guard=False) for name, site in SITES.items()}


def uvicorn_scope(target: str, *, root_path: str = "", method: str = "POST") -> dict[str, Any]:
    """The scope uvicorn builds for a request line ``METHOD target`` under ``--root-path``."""
    raw_path, _, query = target.partition("?")
    scope = http_scope(method=method, headers=FORGED_HEADERS, root_path=root_path)
    scope["path"] = root_path + urllib.parse.unquote(raw_path)
    scope["raw_path"] = (root_path + raw_path).encode("ascii")
    scope["query_string"] = query.encode("ascii")
    return scope


def post_forged(app: Any, target: str, *, root_path: str = "") -> int | None:
    """POST the forged body to ``target`` in-process; the status (None: nothing sent)."""
    incoming = [{"type": "http.request", "body": FORGED_BODY, "more_body": False}]
    return drive(app, uvicorn_scope(target, root_path=root_path), incoming).status


def _assert_never_reached(name: str, target: str, root_path: str) -> None:
    site = SITES[name]
    site.calls.clear()
    status = post_forged(APPS[name], target, root_path=root_path)
    assert site.calls == [], (
        f"{name}: forged POST {target!r} (root_path {root_path!r}) -> {status}"
    )
    assert status is not None, (name, target)
    assert not 200 <= status < 300, (name, target, status)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, str]:
    name = draw(st.sampled_from(sorted(SITES)))
    root_path = "" if name == OWN_ROOT else draw(st.sampled_from(ROOT_PATHS))
    return name, draw(spellings(SITES[name].guarded)), root_path


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
@example(("starlette", "/webhooks/boltcall%0A", ""))
@example(("fastapi", "/webhooks/boltcall%0A", ""))
@example(("starlette", "/webhooks/boltcall%0A", "/r"))
@example(("fastapi", "/webhooks/boltcall%0A", "/api/v1"))
@example(("path-param", "/hooks/boltcall%0A", ""))
@example(("sub-app", "/api/hook%0A", ""))
def test_a_forged_body_never_reaches_an_endpoint(request_: tuple[str, str, str]) -> None:
    """Any spelling of a guarded path, under any root_path: the endpoint never runs."""
    _assert_never_reached(*request_)


def _outer_mount_matches(target: str, root_path: str) -> bool:
    """Whether the outer app's Mount("/api") hands this request to the sub-app."""
    mount = APPS["sub-app"].router.routes[0]
    match, _ = mount.matches(uvicorn_scope(target, root_path=root_path))
    return bool(match is not Match.NONE)


@settings(max_examples=300, deadline=None)
@given(_requests())
def test_the_middleware_answers_every_spelling_itself(request_: tuple[str, str, str]) -> None:
    """Stronger than the property above: every drawn spelling (even one the router would
    answer with 404) is refused by the middleware itself: 400 Invalid path when it holds a
    control or invisible character, else verified (401 for the forged signature)."""
    name, target, root_path = request_
    if name == "sub-app" and not _outer_mount_matches(target, root_path):
        return  # the outer router answers 404 before the mounted middleware runs
    status = post_forged(APPS[name], target, root_path=root_path)
    assert status in {400, 401}, (name, target, root_path, status)


@pytest.mark.parametrize("name", sorted(SITES))
@pytest.mark.parametrize("template", REGRESSIONS)
def test_regression_spellings_never_reach_an_endpoint(name: str, template: str) -> None:
    """The hand-picked spellings (%0A first), on every app, with and without a root_path."""
    for root_path in [""] if name == OWN_ROOT else ROOT_PATHS:
        _assert_never_reached(name, template.format(path=SITES[name].guarded), root_path)


@pytest.mark.parametrize(
    ("name", "root_path"),
    [
        (n, r)
        for n in ("starlette", "fastapi", "path-param", OWN_ROOT)
        for r in ROOT_PATHS
        if n != OWN_ROOT or not r
    ],
)
def test_the_router_does_route_a_trailing_newline_to_the_endpoint(
    name: str, root_path: str
) -> None:
    """Positive control: without the middleware, the forged %0A POST reaches the endpoint.

    This is why the property above can fail: the router really sends this spelling
    to the guarded endpoint.
    """
    site = SITES[name]
    site.calls.clear()
    status = post_forged(UNGUARDED[name], site.guarded + "%0A", root_path=root_path)
    assert status == 200
    assert site.calls == [root_path + site.guarded + "\n"]


@pytest.mark.parametrize("name", sorted(SITES))
def test_a_trailing_newline_is_refused_as_an_invalid_path(name: str) -> None:
    """The reported request gets 400 {"error": "Invalid path"}, signed or not."""
    SITES[name].calls.clear()
    target = SITES[name].guarded + "%0A"
    incoming = [{"type": "http.request", "body": FORGED_BODY, "more_body": False}]
    connection = drive(APPS[name], uvicorn_scope(target), incoming)
    assert connection.status == 400
    assert connection.json() == {"error": "Invalid path"}
    genuine = envelope("new_lead")
    scope = uvicorn_scope(target)
    scope["headers"] = [
        (k.lower().encode(), v.encode()) for k, v in signed_headers(genuine).items()
    ]
    connection = drive(APPS[name], scope, [{"type": "http.request", "body": genuine}])
    assert connection.status == 400
    assert SITES[name].calls == []


@pytest.mark.parametrize(
    ("name", "root_path"),
    [(n, r) for n in sorted(SITES) for r in ROOT_PATHS if n != OWN_ROOT or not r],
)
def test_a_genuine_delivery_on_the_exact_path_still_reaches_the_endpoint(
    name: str, root_path: str
) -> None:
    """The guard is not closed shut: the real path with a good signature gets through."""
    site = SITES[name]
    site.calls.clear()
    body = envelope("new_lead")
    scope = uvicorn_scope(site.guarded, root_path=root_path)
    scope["headers"] = [(k.lower().encode(), v.encode()) for k, v in signed_headers(body).items()]
    connection = drive(APPS[name], scope, [{"type": "http.request", "body": body}])
    assert connection.status == 200
    assert len(site.calls) == 1


@pytest.mark.parametrize("name", ["starlette", "fastapi", "mount", "path-param"])
@pytest.mark.parametrize("template", REGRESSIONS)
def test_testclient_spellings_never_reach_an_endpoint(name: str, template: str) -> None:
    """The same spellings through Starlette's TestClient (httpx), redirects followed."""
    site = SITES[name]
    site.calls.clear()
    client = TestClient(APPS[name])
    headers = {k: v for k, v in FORGED_HEADERS if k != "Content-Length"}
    response = client.post(
        template.format(path=site.guarded), content=FORGED_BODY, headers=headers
    )
    assert site.calls == [], (template, response.status_code)
    assert not 200 <= response.status_code < 300


@pytest.mark.parametrize(
    "path", ["/webhooks/boltcallx", "/webhooks", "/webhooks/boltcall/x", "/other%0A"]
)
def test_other_paths_still_pass_through(path: str) -> None:
    """Paths that are not spellings of a guarded path reach the router untouched (404)."""
    assert post_forged(APPS["starlette"], path) == 404
