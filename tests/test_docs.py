"""Every Python code block in README.md and docs/*.md runs, so a snippet that rots fails CI.

Each Markdown file's ```python (or ```py) blocks run in order in one namespace,
in a fresh interpreter (so one page's Django settings or environment cannot
leak into another page or into the rest of the test suite). ```pycon blocks
run as doctests in the same namespace, so their printed output is checked.
Blocks that are deliberately not runnable use another fence: ```text,
```console, ```toml...

The interpreter runs with ``-W error``, in an empty temporary directory, with
``BOLTCALL_WEBHOOK_SECRET`` set to :data:`EXAMPLE_SECRET` (pages may rely on it
as a deployment would) and ``__name__`` not ``"__main__"`` (so an
``if __name__ == "__main__":`` server start is shown, not run). Functions named
``test_*`` that a page defines and that take no argument are called after the
page has run, so the examples of tests are tests themselves. A page that
imports Django without calling ``settings.configure`` gets minimal settings, as
a project's ``settings.py`` would provide.

A page that shows an optional framework (Flask, Django, Starlette, FastAPI,
httpx, Hypothesis) is skipped when that framework is not installed, with the
reason given. The ``docs`` nox session installs all of them and sets
``BOLTCALL_DOCS_NO_SKIP=1``, which turns any such skip into a failure.
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import http.client
import http.server
import importlib.util
import json
import logging
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from boltcall_webhooks import SIGNATURE_HEADER, parse_event, sign

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_SECRET = "whsec_docs_example_secret"
TIMEOUT_SECONDS = 120

PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
DOCTEST_LANGUAGES = frozenset({"pycon"})

# Importing any of these modules needs the named distribution. Anything else a
# snippet imports must be installed wherever the tests run: a typo fails.
OPTIONAL_MODULES = {
    "flask": "flask",
    "boltcall_webhooks.flask": "flask",
    "werkzeug": "flask",
    "django": "django",
    "boltcall_webhooks.django": "django",
    "starlette": "starlette",
    "boltcall_webhooks.starlette": "starlette",
    "fastapi": "fastapi",
    "httpx": "httpx",
    "hypothesis": "hypothesis",
    "boltcall_webhooks.testing.strategies": "hypothesis",
    "celery": "celery",
    "rq": "rq",
    "redis": "redis",
    "dramatiq": "dramatiq",
}

_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3}|\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?:code-block|code|sourcecode)\}\s*(?P<lang>\S+)")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, source and first source line (1-based)."""

    language: str
    source: str
    line: int

    @property
    def kind(self) -> str | None:
        """``"python"`` or ``"doctest"`` for blocks that run, else ``None``."""
        if self.language in PYTHON_LANGUAGES:
            return "python"
        if self.language in DOCTEST_LANGUAGES:
            return "doctest"
        return None


def extract_blocks(text: str) -> list[Block]:
    """Return the fenced code blocks of a Markdown text, in order.

    Follows CommonMark fences: backticks or tildes, three or more; a block
    closes at a fence of the same character at least as long; an indented
    fence (inside a list item) has that indentation removed from its lines.
    A MyST directive fence (```{code-block} python) counts as its language,
    its ``:option:`` lines dropped.
    """
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opened = _FENCE_OPEN.match(lines[index])
        if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
            index += 1
            continue
        indent = len(opened["indent"])
        fence = opened["fence"]
        info = opened["info"].strip()
        start = index + 1
        index = start
        body: list[str] = []
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(_dedent(lines[index], indent))
            index += 1
        index += 1  # past the closing fence (or the end of the text)
        language = info.split()[0].lower() if info else ""
        first = start + 1
        directive = _DIRECTIVE.match(info)
        if directive is not None:
            language = directive["lang"].lower()
            while body and re.match(r"^:[\w-]+:", body[0]):
                body.pop(0)
                first += 1
        blocks.append(Block(language, "\n".join(body) + "\n", first))
    return blocks


def _dedent(line: str, indent: int) -> str:
    removable = len(line) - len(line.lstrip(" "))
    return line[min(indent, removable) :]


def required_distributions(blocks: list[Block]) -> set[str]:
    """The optional distributions the runnable blocks import."""
    needed: set[str] = set()
    for block in blocks:
        if block.kind is None:
            continue
        source = block.source if block.kind == "python" else _doctest_source(block.source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # reported with its line when the page runs
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                for module, distribution in OPTIONAL_MODULES.items():
                    if name == module or name.startswith(module + "."):
                        needed.add(distribution)
    return needed


def _doctest_source(text: str) -> str:
    lines = [line[4:] for line in text.splitlines() if line.startswith((">>> ", "... "))]
    return "\n".join(lines) + "\n"


# The program each page runs in: reads the blocks as JSON on stdin.
RUNNER = r"""
import doctest, inspect, json, sys

page, blocks, configure_django = json.load(sys.stdin)
if configure_django:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="docs-only-not-secret",
        ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()

namespace = {"__name__": "docs_page", "__file__": page}
failed = 0
for block in blocks:
    if block["language"] == "pycon":
        parser = doctest.DocTestParser()
        test = parser.get_doctest(block["source"], namespace, page, page, block["line"] - 1)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        result = runner.run(test, clear_globs=False)
        failed += result.failed
        if result.failed:
            break
    else:
        padded = "\n" * (block["line"] - 1) + block["source"]
        exec(compile(padded, page, "exec"), namespace)
if not failed:
    # Tests a page defines and that need no fixture run too.
    for name, function in list(namespace.items()):
        if name.startswith("test_") and callable(function):
            if not inspect.signature(function).parameters:
                function()
sys.exit(1 if failed else 0)
"""


def _relative(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _runnable(path: pathlib.Path) -> list[Block]:
    return [block for block in extract_blocks(path.read_text("utf-8")) if block.kind]


PAGES_WITH_CODE = [path for path in DOC_FILES if _runnable(path)]


@pytest.mark.parametrize("path", PAGES_WITH_CODE, ids=_relative)
def test_code_blocks_run(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """Every runnable block of the page runs without an error, doctests print what they show."""
    blocks = _runnable(path)
    for distribution in sorted(required_distributions(blocks)):
        if importlib.util.find_spec(distribution) is None:
            reason = f"{_relative(path)} shows {distribution}, which is not installed here"
            if os.environ.get("BOLTCALL_DOCS_NO_SKIP") == "1":
                pytest.fail(f"{reason} (BOLTCALL_DOCS_NO_SKIP=1 forbids skipping)")
            pytest.skip(reason)
    sources = "".join(block.source for block in blocks)
    configure_django = "django" in required_distributions(blocks) and (
        "settings.configure(" not in sources
    )
    env = {**os.environ, "BOLTCALL_WEBHOOK_SECRET": EXAMPLE_SECRET, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    payload = json.dumps([str(path), [asdict(b) for b in blocks], configure_django])
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER],
        input=payload,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"a code block in {_relative(path)} failed:\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


JSON_BLOCKS = [
    pytest.param(block, id=f"{_relative(path)}:{block.line}")
    for path in DOC_FILES
    for block in extract_blocks(path.read_text("utf-8"))
    if block.language == "json"
]


@pytest.mark.parametrize("block", JSON_BLOCKS)
def test_json_blocks_are_valid_and_envelopes_parse_strictly(block: Block) -> None:
    """A ```json block is valid JSON; one shaped like an envelope is a valid event."""
    value = json.loads(block.source)
    if isinstance(value, dict) and {"event", "timestamp", "data"} <= value.keys():
        event = parse_event(block.source, strict=True)
        assert event.type == value["event"]


# docs/answer-fast.md: the SQLite receiver under a threaded server ---------------------------

ANSWER_FAST = ROOT / "docs" / "answer-fast.md"
DELIVERIES = 40
CLIENTS = 8


def _answer_fast_receiver(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Run the page's receiver block (the one defining ``receive``) in a fresh namespace."""
    monkeypatch.chdir(tmp_path)  # the page's database file lands here
    monkeypatch.setenv("BOLTCALL_WEBHOOK_SECRET", EXAMPLE_SECRET)
    blocks = [b for b in _runnable(ANSWER_FAST) if "def receive(" in b.source]
    assert len(blocks) == 1, "answer-fast.md must keep one block defining receive(body, headers)"
    (block,) = blocks
    namespace: dict[str, Any] = {"__name__": "docs_answer_fast"}
    padded = "\n" * (block.line - 1) + block.source
    exec(compile(padded, str(ANSWER_FAST), "exec"), namespace)
    return namespace


@contextlib.contextmanager
def _threaded_server(receive: Callable[[bytes, dict[str, str]], int]) -> Iterator[int]:
    """Serve ``receive`` on 127.0.0.1 with a thread per request, like ``flask run``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receive(body, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT_SECONDS)


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        headers = {SIGNATURE_HEADER: sign(body, EXAMPLE_SECRET)}
        connection.request("POST", "/webhooks/boltcall", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_answer_fast_sqlite_receiver_stores_every_delivery_under_a_threaded_server(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The page's receiver, served by a thread per request: every delivery is 200 and stored.

    A single ``sqlite3`` connection shared across threads fails here with
    ``ProgrammingError`` (500 on every delivery), which the page's first
    version did.
    """
    namespace = _answer_fast_receiver(tmp_path, monkeypatch)
    bodies = [
        json.dumps(
            {
                "event": "new_lead",
                "timestamp": "2025-03-20T09:17:22Z",
                "data": {"id": f"lead_{number}"},
            }
        ).encode()
        for number in range(DELIVERIES)
    ]
    with (
        caplog.at_level(logging.WARNING),
        _threaded_server(namespace["receive"]) as port,
        concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool,
    ):
        statuses = list(pool.map(lambda body: _post(port, body), bodies + bodies[:5]))
    assert statuses == [200] * (DELIVERIES + 5)
    assert caplog.records == []
    with contextlib.closing(sqlite3.connect(tmp_path / "webhooks.sqlite3")) as db:
        stored = {row[0] for row in db.execute("SELECT body FROM inbox")}
    assert stored == set(bodies)  # each once, re-sends included


def test_answer_fast_sqlite_receiver_logs_a_store_failure_and_answers_500(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery that cannot be stored is a 500 (so it can be re-sent) and an ERROR record."""
    namespace = _answer_fast_receiver(tmp_path, monkeypatch)
    namespace["DATABASE"] = str(tmp_path)  # a directory: sqlite3 cannot open it
    body = b'{"event":"new_lead","timestamp":"2025-03-20T09:17:22Z","data":{"id":"lead_1"}}'
    with caplog.at_level(logging.ERROR), _threaded_server(namespace["receive"]) as port:
        assert _post(port, body) == 500
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "not stored" in record.getMessage()
    assert record.exc_info is not None
    assert issubclass(record.exc_info[0], sqlite3.Error)  # type: ignore[arg-type]


def test_every_page_is_collected() -> None:
    """The README and the documentation pages are found, and the README has a snippet."""
    assert DOC_FILES[0].name == "README.md"
    assert len(DOC_FILES) > 1
    assert PAGES_WITH_CODE[0] == ROOT / "README.md"


# The extractor itself ---------------------------------------------------------


def test_extract_blocks_keeps_language_order_and_line() -> None:
    """Blocks come back in order, with their language and first source line."""
    text = (
        "# T\n\n```python\na = 1\n```\n\ntext\n\n"
        "```console\n$ ls\n```\n\n```pycon\n>>> a\n1\n```\n"
    )
    blocks = extract_blocks(text)
    assert [(b.language, b.line) for b in blocks] == [
        ("python", 4),
        ("console", 10),
        ("pycon", 14),
    ]
    assert blocks[0].source == "a = 1\n"
    assert [b.kind for b in blocks] == ["python", None, "doctest"]


def test_extract_blocks_ignores_fences_nested_in_a_longer_fence() -> None:
    """A ```python example inside a ````markdown block is text, not a runnable block."""
    text = "````markdown\n```python\nboom()\n```\n````\n\n~~~py\nok = True\n~~~\n"
    blocks = extract_blocks(text)
    assert [(b.language, b.source) for b in blocks] == [
        ("markdown", "```python\nboom()\n```\n"),
        ("py", "ok = True\n"),
    ]


def test_extract_blocks_dedents_a_fence_inside_a_list_item() -> None:
    """An indented fence in a numbered step loses that indentation, not more."""
    text = "1. Step:\n\n   ```python\n   if True:\n       x = 1\n   ```\n"
    (block,) = extract_blocks(text)
    assert block.source == "if True:\n    x = 1\n"
    assert block.line == 4


def test_extract_blocks_reads_myst_code_block_directives() -> None:
    """A ```{code-block} python fence is Python; its option lines are not source."""
    text = "```{code-block} python\n:caption: app.py\n\nx = 2\n```\n"
    (block,) = extract_blocks(text)
    assert block.kind == "python"
    assert block.source == "\nx = 2\n"
    assert block.line == 3


def test_required_distributions_follow_imports_of_optional_frameworks() -> None:
    """Imports of a framework or of its adapter module make that framework required."""
    blocks = [
        Block("python", "from boltcall_webhooks.flask import verify_webhook\n", 1),
        Block("pycon", ">>> import hypothesis.strategies as st\n", 5),
        Block("python", "import json\nfrom boltcall_webhooks import sign\n", 9),
        Block("console", "import django\n", 12),
    ]
    assert required_distributions(blocks) == {"flask", "hypothesis"}
