"""Sphinx configuration for the boltcall-webhooks documentation.

Build (what ``nox -s docs`` runs, warnings are errors)::

    sphinx-build -W -n --keep-going -b html docs docs/_build/html

Cross-references to other projects (intersphinx) need their ``objects.inv``
inventories, which are fetched over the network. The build works offline by
default: set ``BOLTCALL_DOCS_INTERSPHINX=1`` to fetch the inventories of Python,
Flask, Werkzeug and Django, or set it to a directory holding ``python.inv``,
``flask.inv``, ``werkzeug.inv`` and ``django.inv`` (downloaded copies) to link
without a network.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pathlib
import pkgutil
import re
from typing import TYPE_CHECKING, Any, cast

from docutils import nodes
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging as sphinx_logging
from sphinx.util.docutils import SphinxDirective

import boltcall_webhooks

if TYPE_CHECKING:
    from docutils.nodes import Element, Node
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

DOCS = pathlib.Path(__file__).resolve().parent
_LOCATION = pathlib.Path(boltcall_webhooks.__file__).resolve()
if os.environ.get("BOLTCALL_EXPECT_INSTALLED") == "1" and "site-packages" not in _LOCATION.parts:
    # nox documents the installed package, as users get it, never the checkout.
    msg = f"boltcall_webhooks was imported from the checkout ({_LOCATION}), not installed"
    raise RuntimeError(msg)
logger = sphinx_logging.getLogger(__name__)

project = "boltcall-webhooks"
author = "boltcall-webhooks developers"
copyright = "boltcall-webhooks developers"
release = boltcall_webhooks.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
nitpicky = True

# -- MyST ---------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc and napoleon -----------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Keep the aliases readable in signatures (and linked) instead of expanding them.
autodoc_type_aliases = {
    "Secret": "boltcall_webhooks.Secret",
    "Secrets": "boltcall_webhooks.Secrets",
    "Event": "boltcall_webhooks.Event",
    "Clock": "boltcall_webhooks.Clock",
    "Delivery": "boltcall_webhooks.inbox.Delivery",
    "Backoff": "boltcall_webhooks.inbox.Backoff",
    "Dedupe": "boltcall_webhooks.inbox.Dedupe",
    "RouterLike": "boltcall_webhooks.Router",
    "Inbox": "boltcall_webhooks.inbox.Inbox",
    # Framework types the adapters import for type checking only.
    "ResponseReturnValue": "flask.typing.ResponseReturnValue",
    "Request": "starlette.requests.Request",
    "HttpRequest": "django.http.HttpRequest",
    "HttpResponse": "django.http.HttpResponse",
    "HttpResponseBase": "django.http.HttpResponseBase",
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections become field lists, so a dataclass field is not
# described twice (once by napoleon, once by autodoc).
napoleon_use_ivar = True

# -- intersphinx --------------------------------------------------------------

_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "flask": "https://flask.palletsprojects.com/en/stable/",
    "werkzeug": "https://werkzeug.palletsprojects.com/en/stable/",
    "django": "https://docs.djangoproject.com/en/stable/",
}
# Django serves its inventory from a separate path.
_INVENTORY_PATHS = {"django": "https://docs.djangoproject.com/en/stable/_objects/"}


def _intersphinx_mapping(setting: str) -> dict[str, tuple[str, str | None]]:
    if not setting or setting == "0":
        return {}
    folder = pathlib.Path(setting)
    if setting != "1" and not folder.is_dir():
        msg = f"BOLTCALL_DOCS_INTERSPHINX must be 1 or a directory of inventories; got {setting!r}"
        raise ValueError(msg)
    mapping: dict[str, tuple[str, str | None]] = {}
    for name, url in _INVENTORIES.items():
        if setting == "1":
            mapping[name] = (url, _INVENTORY_PATHS.get(name))
        elif (folder / f"{name}.inv").is_file():
            mapping[name] = (url, str(folder / f"{name}.inv"))
    return mapping


intersphinx_mapping = _intersphinx_mapping(os.environ.get("BOLTCALL_DOCS_INTERSPHINX", ""))

# Names nitpicky mode cannot resolve, and why. Nothing of this package is
# ignored: every boltcall_webhooks name must resolve.
#
# 1. Projects without an intersphinx inventory: Starlette and FastAPI publish
#    MkDocs sites (no objects.inv); typing_extensions, Hypothesis (imported as
#    ``st`` in the strategies' signatures), pytest and httpx are not mapped.
_NO_INVENTORY = [
    "starlette",
    "fastapi",
    "typing_extensions",
    "hypothesis",
    "st",
    "pytest",
    "_pytest",
    "httpx",
]
# 2. Projects with an inventory: resolved when intersphinx is on, else ignored.
_STDLIB_MODULES = [
    "datetime",
    "collections",
    "typing",
    "types",
    "enum",
    "logging",
    "argparse",
    "io",
    "pathlib",
    "re",
    "urllib",
    "http",
    "email",
    "os",
    "concurrent",
    "asyncio",
    "wsgiref",
    "json",
    "hashlib",
    "hmac",
    "threading",
    "queue",
    "sqlite3",
    "inspect",
]
_WITH_INVENTORY = {
    "python": _STDLIB_MODULES,
    "flask": ["flask"],
    "werkzeug": ["werkzeug"],
    "django": ["django"],
}
_unresolvable = list(_NO_INVENTORY)
for _project, _modules in _WITH_INVENTORY.items():
    if _project not in intersphinx_mapping:
        _unresolvable.extend(_modules)
nitpick_ignore_regex = [(r"py:.*", rf"({'|'.join(sorted(_unresolvable))})(\..*)?")]
# Standard-library names that autodoc writes unqualified into signatures (they
# are imported for type checking only), which no inventory can resolve.
_BARE_STDLIB = "datetime|timedelta|Mapping|Sequence|Callable|Awaitable|Any|Literal|TypeAlias"
nitpick_ignore_regex += [(r"py:.*", rf"({_BARE_STDLIB})")]
# 3. Framework types the adapters import for type checking only: autodoc
#    writes them unqualified, so no inventory can resolve them.
_BARE_FRAMEWORK_TYPES = [
    "ResponseReturnValue",
    "Request",
    "Response",
    "ASGIApp",
    "Scope",
    "Receive",
    "Send",
    "HttpRequest",
    "HttpResponse",
    "HttpResponseBase",
]
nitpick_ignore = [("py:class", name) for name in _BARE_FRAMEWORK_TYPES]
# 4. The adapters' private typing helpers (type variables and view aliases):
#    they appear in signatures but are not public names.
nitpick_ignore += [("py:class", name) for name in ("View", "FunctionView", "WrappedView")]
nitpick_ignore += [("py:class", name) for name in ("P", "R", "boltcall_webhooks.django.R")]
# 5. The router's private typing helpers: the type variables of Router.on's
#    overloads and the decorator types they return.
nitpick_ignore_regex += [(r"py:class", r"boltcall_webhooks\._router\._\w+")]

# -- doctest ------------------------------------------------------------------

doctest_global_setup = "import boltcall_webhooks"

# -- HTML ---------------------------------------------------------------------

html_theme = "furo"
html_title = f"boltcall-webhooks {release}"
html_static_path: list[str] = []
html_theme_options: dict[str, Any] = {"navigation_with_keys": True}


# -- Docstrings of public aliases and constants -------------------------------
#
# boltcall_webhooks re-exports names defined in private modules. For classes and
# functions autodoc reads the object's own docstring; a constant or a type alias
# has no docstring of its own, only a documentation comment beside its
# definition in the private module. This hook finds that comment.


@functools.cache
def _attribute_docs(module_name: str) -> dict[str, list[str]]:
    """Documentation comments of a public module's names, also from its private modules."""
    module = importlib.import_module(module_name)
    public: set[str] = set(getattr(module, "__all__", ()))
    sources = [module_name]
    if hasattr(module, "__path__"):  # a package: its private modules define names
        sources += [
            f"{module_name}.{info.name}"
            for info in pkgutil.iter_modules(module.__path__)
            # __main__ would run the CLI on import.
            if info.name.startswith("_") and not info.name.startswith("__")
        ]
    docs: dict[str, list[str]] = {}
    for source in sources:
        try:
            importlib.import_module(source)
        except ImportError:  # a backend whose extra is not installed ([postgres])
            continue
        for (scope, attr), lines in ModuleAnalyzer.for_module(source).find_attr_docs().items():
            if scope == "" and attr in public and attr not in docs:
                docs[attr] = list(lines)
    return docs


def _fill_alias_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    del app, obj, options
    module, _, attr = name.rpartition(".")
    if what != "data" or not module.startswith(boltcall_webhooks.__name__):
        return
    # Keep only the documentation comment: without one, autodoc falls back to
    # the docstring of the value's type (str, int, types.UnionType), which
    # says nothing about this name.
    lines[:] = _attribute_docs(module).get(attr, [])


def _resolve_public_name(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    # A docstring in a submodule may name a public object of the package
    # unqualified (``:class:`NewLeadEvent``` in boltcall_webhooks.testing);
    # link it to the object that boltcall_webhooks exports under that name.
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target or "." in target:
        return None
    if target not in boltcall_webhooks.__all__:
        return None
    domain = env.get_domain("py")
    qualified = f"{boltcall_webhooks.__name__}.{target}"
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], qualified, node, contnode
    )


_FORWARD_REF = re.compile(r"TypeAliasForwardRef\('([\w.]+)'\)")


def _tidy_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    # Sphinx writes an alias inside a union (``Secrets | None``) as the repr of
    # its internal forward reference; show the alias name instead.
    del app, what, name, obj, options
    if signature is not None:
        signature = _FORWARD_REF.sub(r"\1", signature)
        # A dataclass field with a default_factory shows as ``=<factory>``,
        # which is not Python: Sphinx then cannot parse the signature at all.
        signature = re.sub(r"=\s*<factory>", "= ...", signature)
    if return_annotation is not None:
        return_annotation = _FORWARD_REF.sub(r"\1", return_annotation)
    return signature, return_annotation


PUBLIC_MODULES = [
    "boltcall_webhooks",
    "boltcall_webhooks.flask",
    "boltcall_webhooks.django",
    "boltcall_webhooks.starlette",
    "boltcall_webhooks.testing",
    "boltcall_webhooks.testing.strategies",
    "boltcall_webhooks.testing.pytest_plugin",
    "boltcall_webhooks.api",
    "boltcall_webhooks.inbox",
]


def _check_reference_is_complete(app: Sphinx, env: BuildEnvironment) -> None:
    # Every name a public module exports must be described somewhere in the
    # docs: a new public name without a reference entry fails the build.
    del app
    described = env.get_domain("py").objects  # type: ignore[attr-defined]
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            logger.warning("public module %s cannot be imported", module_name)
            continue
        if module_name not in described:
            logger.warning("public module %s is not in the reference", module_name)
        for name in getattr(module, "__all__", ()):
            if f"{module_name}.{name}" not in described:
                logger.warning("%s.%s is public but not in the reference", module_name, name)


# -- CLI reference ------------------------------------------------------------
#
# ``{cli-help} webhooks rotate`` shows the --help text of that command, taken
# from the real argument parser at build time, so the page cannot drift from
# the program. The build fails if a command has no such block.


def _cli_parsers() -> dict[str, argparse.ArgumentParser]:
    from boltcall_webhooks._cli import build_parser  # noqa: PLC0415 - the CLI is optional here

    found: dict[str, argparse.ArgumentParser] = {}

    def walk(path: str, parser: argparse.ArgumentParser) -> None:
        found[path] = parser
        for action in parser._actions:  # argparse has no public walker
            if isinstance(action, argparse._SubParsersAction):  # pyright: ignore[reportPrivateUsage]
                choices: object = action.choices  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                children = cast("dict[str, argparse.ArgumentParser]", choices)
                for name, child in children.items():
                    walk(f"{path} {name}".strip(), child)

    walk("", build_parser())
    return found


class CliHelp(SphinxDirective):
    """Insert the ``--help`` output of a ``boltcall-webhooks`` command."""

    optional_arguments = 2
    has_content = False

    def run(self) -> list[Node]:
        command = " ".join(self.arguments)
        parsers = _cli_parsers()
        if command not in parsers:
            logger.warning(
                "unknown boltcall-webhooks command %r", command, location=self.get_location()
            )
            return []
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
        try:
            text = parsers[command].format_help()
        finally:
            if previous is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = previous
        _cli_shown(self.env).setdefault(self.env.docname, set()).add(command)
        return [nodes.literal_block(text, text, language="text")]


def _cli_shown(env: BuildEnvironment) -> dict[str, set[str]]:
    if not hasattr(env, "boltcall_cli_shown"):
        env.boltcall_cli_shown = {}  # type: ignore[attr-defined]
    return cast("dict[str, set[str]]", env.boltcall_cli_shown)  # type: ignore[attr-defined]


def _purge_cli(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    del app
    _cli_shown(env).pop(docname, None)


def _merge_cli(
    app: Sphinx, env: BuildEnvironment, docnames: object, other: BuildEnvironment
) -> None:
    del app, docnames
    _cli_shown(env).update(_cli_shown(other))


def _check_cli_is_complete(app: Sphinx, env: BuildEnvironment) -> None:
    del app
    shown: set[str] = set()
    for commands in _cli_shown(env).values():
        shown |= commands
    for command in sorted(set(_cli_parsers()) - shown):
        logger.warning("the CLI command %r has no cli-help block in the docs", command or "(top)")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the hooks above."""
    app.connect("autodoc-process-docstring", _fill_alias_docstring)
    app.connect("autodoc-process-signature", _tidy_signature)
    app.connect("missing-reference", _resolve_public_name)
    app.connect("env-check-consistency", _check_reference_is_complete)
    app.connect("env-check-consistency", _check_cli_is_complete)
    app.add_directive("cli-help", CliHelp)
    app.connect("env-purge-doc", _purge_cli)
    app.connect("env-merge-info", _merge_cli)
    return {"parallel_read_safe": True}
