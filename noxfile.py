"""Development tasks: ``nox`` runs the default set (what CI runs), ``nox -l`` lists them.

Every session installs the package from this checkout into a fresh virtual
environment (not an editable install), so the tests exercise the package as
users install it.

The long reports (``bench``, ``bench_adapters``, ``fuzz``, ``timing``, ``load``)
run their short versions by default, in ``nox`` as in CI; ``--full`` after
``--`` selects the long run: ``nox -s fuzz -- --full``. A supported Python that
is not installed is an error, never downloaded.
"""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import sys

import nox

ROOT = pathlib.Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)
LATEST = PYTHONS[-1]
FULL_FLAG = "--full"

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "no"
# What CI runs (`nox` with no arguments); long checks run their short versions unless
# `-- --full` is given.
nox.options.sessions = [
    "tests",
    "lint",
    "typing",
    "adapters",
    "servers",
    "docs",
    "bench",
    "bench_adapters",
    "fuzz",
    "timing",
    "load",
    "inbox_proofs",
    "bench_inbox",
    "queues",
    "bench_inbox_postgres",
]


def _expose_pyenv_interpreters() -> None:
    """Put pyenv-installed interpreters of the supported versions on PATH (appended)."""
    root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    extra = []
    for version in PYTHONS:
        for candidate in sorted(glob.glob(str(root / "versions" / f"{version}.*" / "bin"))):
            if pathlib.Path(candidate, f"python{version}").exists():
                extra.append(candidate)
                break
    if extra:
        os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *extra])


_expose_pyenv_interpreters()

TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "pytest-timeout>=2.3", "pytest-xdist>=3.6"]
# The long pytest sessions spread their tests over the machine's cores (xdist).
PARALLEL = ["-n", "auto"]
# A test that hangs (a lost wake-up, a server that never answers) fails after this many
# seconds instead of holding the whole run; pytest-timeout reads it from the environment.
os.environ.setdefault("PYTEST_TIMEOUT", "600")


def _install_package(session: nox.Session, extras: str = "") -> None:
    session.install(f".{extras}")


def _run_length(session: nox.Session) -> tuple[bool, list[str]]:
    """Whether ``--full`` is in the posargs (a long session's long run), and the other posargs."""
    args = list(session.posargs)
    return FULL_FLAG in args, [arg for arg in args if arg != FULL_FLAG]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Core test suite on every supported Python, with no web framework installed.

    The inbox tests run on SQLite and on PostgreSQL (the ``[postgres]`` extra; the
    server at ``BOLTCALL_TEST_POSTGRES_URL``, 127.0.0.1:5432 by default). Without a
    server they are skipped with the reason, or fail if ``BOLTCALL_REQUIRE_POSTGRES``
    is set (``.ci/run`` sets it, after starting the server if it was down).
    """
    _install_package(session, "[hypothesis,postgres]")
    session.install(*TEST_DEPS)
    session.run(
        "pytest",
        "tests",
        *PARALLEL,
        "--ignore=tests/adapters",
        "--ignore=tests/servers",
        "--ignore=tests/typing",
        # Real brokers and queue workers: the queues session.
        "--ignore=tests/queues",
        "--ignore=tests/inbox_crash",  # real servers and processes: the inbox_proofs session
        "--ignore=tests/inbox_chaos",  # the same, on PostgreSQL
        # Snippets run in the docs session, with every framework they show installed.
        "--ignore=tests/test_docs.py",
        *session.posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format; build the sdist and wheel and check them with twine."""
    session.install("ruff>=0.17.6,<0.18", "build", "twine")  # pinned: new rules land in minors
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    dist = session.create_tmp()
    session.run("python", "-m", "build", "--outdir", dist, silent=True)
    session.run("twine", "check", "--strict", *glob.glob(os.path.join(dist, "*")))


@nox.session(python=LATEST)
def typing(session: nox.Session) -> None:
    """mypy --strict, pyright (strict) and pyright --verifytypes on the package and type tests."""
    _install_package(session, "[flask,django,starlette,hypothesis,postgres]")
    session.install(
        "mypy>=2.4,<3", "pyright[nodejs]>=1.1.414,<1.2", "django-stubs>=6.1", "fastapi", *TEST_DEPS
    )
    session.run("mypy", "boltcall_webhooks", "tests/typing")
    session.run("pyright")
    session.run("pyright", "--verifytypes", "boltcall_webhooks", "--ignoreexternal")


@nox.session(python=LATEST)
def bench(session: nox.Session) -> None:
    """Benchmarks against the HMAC floor and the peers (short; ``-- --full`` for the long run)."""
    _install_package(session)
    session.install(
        "stripe", "standardwebhooks", "svix", "slack_sdk", "gidgethub", "typing-extensions"
    )
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run("python", "tests/bench/bench_core.py", *args, *posargs)
    # Router dispatch overhead and look-up (fails the session if a target is missed).
    session.run("python", "tests/bench/bench_router.py", *args)


ADAPTER_DEPS = {
    "flask": ["flask[async]"],
    "django": ["django", "psycopg[binary]>=3.2"],
    "starlette": ["starlette", "fastapi", "httpx"],
}
# The Django inbox app's tests, run a second time on PostgreSQL (127.0.0.1:5432, or
# $BOLTCALL_TEST_POSTGRES_URL): a database of their own, created and dropped by them.
DJANGO_POSTGRES_TESTS = [
    f"tests/adapters/django/test_inbox_{name}.py"
    for name in ("app", "contract", "admin", "command", "crash", "group_commit", "alias")
] + ["tests/adapters/django/test_redteam_inbox.py"]  # NUL in data.id: PostgreSQL refuses it
DJANGO_POSTGRES_ENV = {
    "DJANGO_SETTINGS_MODULE": "adapters.django.settings_postgres",
    "BOLTCALL_REQUIRE_POSTGRES": "1",
}


@nox.session(python=LATEST)
@nox.parametrize("framework", list(ADAPTER_DEPS))
def adapters(session: nox.Session, framework: str) -> None:
    """One adapter's tests on the newest framework release, with its own test client."""
    _install_package(session, f"[{framework}]")
    session.install(*ADAPTER_DEPS[framework], *TEST_DEPS)
    session.run(
        "pytest",
        f"tests/adapters/{framework}",
        # Not spread over workers: the Django tests share one database per run.
        *session.posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )
    if framework == "django":
        session.run(
            "pytest",
            *DJANGO_POSTGRES_TESTS,
            *session.posargs,
            env={"BOLTCALL_EXPECT_INSTALLED": "1", **DJANGO_POSTGRES_ENV},
        )


MATRIX = [
    # (python, framework, requirement)
    ("3.10", "flask", "flask[async]>=2.3,<2.4"),
    (LATEST, "flask", "flask[async]>=3,<4"),
    ("3.10", "django", "django>=4.2,<5"),
    (LATEST, "django", "django>=5.2,<5.3"),
    (LATEST, "django", "django>=6,<7"),
    ("3.10", "starlette", "fastapi==0.115.*"),
    (LATEST, "starlette", "starlette>=1,<2"),
]


@nox.session(python=False, default=False)
@nox.parametrize(
    ("python", "framework", "requirement"),
    MATRIX,
    ids=[f"{fw}-{req.split(',')[0].replace('[async]', '')}-py{py}" for py, fw, req in MATRIX],
)
def matrix(session: nox.Session, python: str, framework: str, requirement: str) -> None:
    """Adapter tests over the supported framework versions (not run by default)."""
    uv = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")
    env_dir = os.path.join(session.create_tmp(), f"venv-{framework}-{python}")
    session.run(uv, "venv", "--quiet", "--clear", "--python", python, env_dir, external=True)
    bindir = os.path.join(env_dir, "bin")
    extra = ["httpx"] if framework == "starlette" else []
    if framework == "starlette" and requirement.startswith("starlette"):
        extra.append("fastapi")
    if framework == "django":
        extra.append("psycopg[binary]>=3.2")
    session.run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        os.path.join(bindir, "python"),
        ".",
        requirement,
        *extra,
        *TEST_DEPS,
        external=True,
    )
    session.run(
        os.path.join(bindir, "pytest"),
        f"tests/adapters/{framework}",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        external=True,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )
    if framework == "django":
        session.run(
            os.path.join(bindir, "pytest"),
            *DJANGO_POSTGRES_TESTS,
            "-p",
            "no:cacheprovider",
            *session.posargs,
            external=True,
            env={"BOLTCALL_EXPECT_INSTALLED": "1", **DJANGO_POSTGRES_ENV},
        )


@nox.session(python=LATEST)
def servers(session: nox.Session) -> None:
    """Real servers on 127.0.0.1: gunicorn for Flask and Django, uvicorn for the ASGI apps."""
    _install_package(session, "[flask,django,starlette]")
    # httptools: uvicorn's other HTTP parser (tests run with h11 and with httptools).
    session.install("fastapi", "httpx", "gunicorn", "uvicorn", "httptools", *TEST_DEPS)
    session.run(
        "pytest",
        "tests/servers",
        *PARALLEL,
        "-m",
        "servers",
        *session.posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def fuzz(session: nox.Session) -> None:
    """atheris fuzzing of header parsing, construct_event, parse_event and forgeries (~30 s).

    Prints executions and coverage per harness; fails only if a harness crashes.
    By default (and in CI) ~30 s; ``nox -s fuzz -- --full`` is the ~4 min run.
    atheris ships wheels for 3.11-3.13 but none for 3.10 (building it needs
    clang's libFuzzer), hence one Python. Any budget in seconds:
    ``nox -s fuzz -- --total-seconds 600``.
    """
    _install_package(session)
    session.install("atheris>=2.3", "coverage>=7")
    full, posargs = _run_length(session)
    budget = [] if full else ["--total-seconds", "32"]
    session.run(
        "python",
        "tests/fuzz/run_fuzz.py",
        *budget,
        *posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def timing(session: nox.Session) -> None:
    """Timing-leak report: dudect-style Welch t-tests on verification time (a report, never fails).

    The short version (~20-40 s) by default and in CI; ``-- --full`` for the
    full report (a few minutes).
    """
    _install_package(session)
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run("python", "tests/timing/timing_check.py", *args, *posargs)


DOCS_DEPS = ["sphinx>=8.1", "furo>=2024.8.6", "myst-parser>=4"]


@nox.session(python=LATEST)
def docs(session: nox.Session) -> None:
    """Build the docs (warnings fail), run their doctests and every snippet, nothing skipped.

    Cross-references to Python, Flask and Django are offline by default; set
    BOLTCALL_DOCS_INTERSPHINX=1 (network) or to a folder of inventories to link them.
    """
    _install_package(session, "[flask,django,starlette,hypothesis,celery,rq]")
    session.install(*DOCS_DEPS, "flask[async]", "fastapi", "httpx", "dramatiq[redis]", *TEST_DEPS)
    out = session.create_tmp()
    env = {"BOLTCALL_EXPECT_INSTALLED": "1"}
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-W",
            "-n",
            "--keep-going",
            "-E",
            "-q",
            "-b",
            builder,
            "docs",
            os.path.join(out, builder),
            env=env,
        )
    session.run(
        "pytest",
        "tests/test_docs.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={**env, "BOLTCALL_DOCS_NO_SKIP": "1"},
    )


@nox.session(python=LATEST)
def bench_adapters(session: nox.Session) -> None:
    """Per-request overhead of each adapter against a bare route, in-process (``-- --full``)."""
    _install_package(session, "[flask,django,starlette]")
    session.install("flask", "django", "starlette", "fastapi")
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run("python", "tests/bench/bench_adapters_wsgi.py", *args, *posargs)
    if (ROOT / "tests" / "bench" / "bench_adapters_asgi.py").exists():
        session.run("python", "tests/bench/bench_adapters_asgi.py", *args, *posargs)


@nox.session(python=LATEST, default=False)
def bench_django_inbox(session: nox.Session) -> None:
    """The Django inbox view vs the plain verified view under gunicorn (target >= 0.7x req/s).

    ``as_view(inbox=Inbox("django"))`` against ``as_view(router=Router())`` of one
    app (gunicorn, 2 gthread workers x 16 threads, 32 keep-alive clients, alternating
    rounds), on a PostgreSQL database of its own; a bare INSERT route is measured
    too. Not in the default set: on a 2-core machine it measures 0.4-0.5x (a bare
    INSERT: ~0.6x), so it fails its target (see docs/django.md). ``-- --sqlite``
    for a SQLite file, ``-- --full`` for the long run.
    """
    _install_package(session, "[django,postgres]")
    session.install("gunicorn")
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run(
        "python",
        "tests/bench/bench_django_inbox.py",
        *args,
        *posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def load(session: nox.Session) -> None:
    """Load and fault run on real servers: the Flask, Starlette and FastAPI examples.

    Genuine, forged, tampered, missing-signature, malformed and oversize
    deliveries, slow senders and clients that leave mid-body, at high
    concurrency on 127.0.0.1 (Flask under gunicorn, the others under uvicorn).
    Fails if a genuine event is lost or handled twice, a refused one reaches
    the handler, a status is wrong, the server logs an exception, its memory
    grows or the examples' ready endpoint (a Router behind ``webhook_view`` /
    ``webhook_endpoint``) serves less than 0.85x the requests/s of a baseline
    route of the same app that parses the same JSON and answers the same body
    (0.7x in the short run); prints requests/s and server CPU per request of
    both. By default (and in CI) ~12k requests per example (about a minute);
    ``nox -s load -- --full`` sends ~55k per
    example (a few minutes). A positive control runs first: the same checks
    against a receiver that never verifies must fail.
    ``nox -s load -- --full --target starlette --json out.json``.
    """
    _install_package(session, "[flask,starlette]")
    session.install("gunicorn", "uvicorn", "httptools", "uvloop", "fastapi", "aiohttp")
    env = {"BOLTCALL_EXPECT_INSTALLED": "1"}
    # Positive control first (a few seconds): the checks must catch a receiver that skips
    # verification.
    session.run("python", "tests/load/run_load.py", "--control", env=env)
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run("python", "tests/load/run_load.py", *args, *posargs, env=env)


@nox.session(python=LATEST)
def inbox_proofs(session: nox.Session) -> None:
    """The inbox's crash matrix and chaos run: real gunicorn, uvicorn and worker processes.

    Every crash point (before/after insert, after commit, after claim, in a handler,
    after a handler, during purge) kills its process with SIGKILL; then the sender's
    log is checked against the inbox (~70 s). Then the chaos run under load in its
    quick version (~2,000 deliveries, under a minute); ``-- --full`` for >= 20,000.
    Then tests/inbox_chaos on PostgreSQL (needs the server as the ``tests`` session
    does): the same crash matrix, and the chaos run with 3 web servers, 4 workers,
    kill -9 and pg_terminate_backend (~2,000 deliveries, ~25 s; ``-- --full``: 20,000).
    """
    _install_package(session, "[flask,starlette,postgres]")
    session.install("flask", "starlette", "gunicorn", "uvicorn", *TEST_DEPS)
    full, posargs = _run_length(session)
    env = {"BOLTCALL_EXPECT_INSTALLED": "1"}
    session.run(
        "pytest", "tests/inbox_crash", "-m", "servers", "-p", "no:cacheprovider", *posargs, env=env
    )
    if full:
        session.run("python", "-m", "tests.inbox_crash.chaos", "--full", env=env)
    chaos_env = {**env, "BOLTCALL_CHAOS_DELIVERIES": "20000"} if full else env
    session.run(
        "pytest", "tests/inbox_chaos", "-m", "servers", "-p", "no:cacheprovider", *posargs,
        env=chaos_env,
    )  # fmt: skip


@nox.session(python=LATEST)
def bench_inbox(session: nox.Session) -> None:
    """The SQLite inbox's costs as ratios of one run (quick; ``-- --full`` for the long run).

    (a) store vs a bare INSERT+COMMIT loop (>= 0.8x) and group commit at 32 writers
    (>= 5x one writer); (b) the inbox= endpoint vs the verify-only one under gunicorn
    and uvicorn (>= 0.7x requests/s); (c) worker overhead vs a bare claim+update loop
    (<= 2x); gunicorn and uvicorn served as docs/inbox.md recommends (one process),
    the same for both endpoints. Prints this disk's fsync cost. The full run fails if a
    target is missed; the quick run (CI, noisy shared cores) only below looser floors:
    (a) 0.6x and 1.5x, (b) 0.5x, (c) 3x (it prints "below target" in between).
    """
    _install_package(session, "[flask,starlette]")
    session.install("flask", "starlette", "gunicorn", "uvicorn")
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run(
        "python",
        "tests/bench/bench_inbox_sqlite.py",
        *args,
        *posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def bench_inbox_postgres(session: nox.Session) -> None:
    """The PostgreSQL inbox's costs as ratios of one run (quick; ``-- --full`` for the long run).

    store vs the same bare INSERT ... ON CONFLICT round trip at 1 and 16 clients
    (>= 0.8x); worker claim+dispatch+mark vs a bare SKIP LOCKED claim+update loop
    (<= 2x per delivery); 4 workers vs 1 with 10 ms handlers (>= 2.5x). Needs the
    server (see ``tests``); fails if a target is missed.
    """
    _install_package(session, "[postgres]")
    full, posargs = _run_length(session)
    args = [] if full else ["--quick"]
    session.run(
        "python",
        "tests/bench/bench_inbox_postgres.py",
        *args,
        *posargs,
        env={"BOLTCALL_EXPECT_INSTALLED": "1"},
    )


@nox.session(python=LATEST)
def queues(session: nox.Session) -> None:
    """Handlers in Celery, RQ and Dramatiq, the inbox as the outbox: real brokers and workers.

    Needs RabbitMQ on 127.0.0.1:5672 and ``redis-server`` (the tests start private
    durable ones; ``.ci/run`` starts RabbitMQ if it is down). Exactly once, broker
    stopped under load, ``kill -9`` of queue workers (500 deliveries per run), then
    the latency report (built-in worker vs Celery vs RQ). ``-- --full``: 5,000
    deliveries per kill run, the long latency run and the comparison with plain
    Celery receivers (``tests/queues/compare_plain_celery.py``).
    """
    _install_package(session, "[celery,rq,postgres]")
    session.install("dramatiq[redis]", "redis", *TEST_DEPS)
    full, posargs = _run_length(session)
    env = {"BOLTCALL_EXPECT_INSTALLED": "1", "BOLTCALL_QUEUES_FULL": "1" if full else ""}
    session.run("pytest", "tests/queues", "-p", "no:cacheprovider", *posargs, env=env)
    session.run("python", "tests/bench/bench_queues.py", *([] if full else ["--quick"]), env=env)
    if full:
        session.run("python", "tests/queues/compare_plain_celery.py", env=env)
