"""Which request paths a path-guarding middleware must treat as a guarded path.

A middleware that guards ``/webhooks/boltcall`` runs before the framework's
router, so it must guard every spelling that a router could send to the same
endpoint, not just the exact string. Routers and servers differ: Starlette
matches with a regex anchored by ``$``, which also matches before one trailing
``"\\n"`` (and uvicorn decodes ``%0A`` into the path); other routers fold case,
merge slashes, drop a trailing slash or ``;params``, resolve ``..``, or decode
the path again. :class:`PathGuard` therefore compares *keys*: a coarse
canonical form under which all those spellings are equal. It errs on the side
of guarding: a spelling that no router would send to the endpoint, but has the
same key, is guarded too (a forged request there gets a 401 instead of a 404).

A path holding a control or other invisible character (``"\\n"``, ``"\\x00"``,
``"\\t"``, a zero-width space...) is never a Boltcall delivery, and routers
disagree on what it means: if the path comes near a guarded path (its key with
those characters removed, or cut at the first one, is a guarded key), it is
refused outright with 400 ``{"error": "Invalid path"}``, whatever the method
and the signature. Other paths holding such characters pass untouched.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Collection, Iterable
from typing import Final
from urllib.parse import unquote

from boltcall_webhooks._http import Rejection

__all__ = ["INVALID_PATH", "PathGuard", "PathVerdict", "path_key"]

INVALID_PATH: Final = Rejection(400, "Invalid path")
"""The answer to a path with control characters that comes near a guarded path."""

_MAX_DECODES: Final = 4  # "%25250A" and deeper: a router decodes once, maybe twice


class PathVerdict(enum.Enum):
    """What a path-guarding middleware does with one request path."""

    PASS = "pass"  # noqa: S105 - not a password
    """Not a guarded path: hand the request on untouched."""
    GUARD = "guard"
    """A spelling of a guarded path: verify the request."""
    REFUSE = "refuse"
    """A guarded path with control characters: answer :data:`INVALID_PATH`."""


def _decoded(path: str) -> str:
    """Percent-decode until nothing changes (bounded)."""
    for _ in range(_MAX_DECODES):
        if "%" not in path:
            break
        decoded = unquote(path, errors="replace")
        if decoded == path:
            break
        path = decoded
    return path


def _is_invisible(char: str) -> bool:
    """A control, format, separator (other than the space) or unassigned character."""
    return not char.isprintable()  # the space is printable


def _key_of_decoded(text: str) -> str:
    segments: list[str] = []
    folded = unicodedata.normalize("NFKC", text).casefold()
    for raw in folded.replace("\\", "/").split("/"):
        segment = raw.split(";", 1)[0].strip()
        if segment in {"", "."}:
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def path_key(path: str) -> str:
    """The canonical key of ``path``: equal for every spelling a router may equate.

    Percent-decoded (repeatedly), NFKC-normalised and case-folded; ``\\``
    counts as ``/``; empty and ``.`` segments are dropped, ``..`` removes the
    segment before it; each segment loses its ``;parameters`` and surrounding
    whitespace; no trailing slash. ``path_key("/Webhooks//boltcall/;x")`` is
    ``"/webhooks/boltcall"``.
    """
    return _key_of_decoded(_decoded(path))


class PathGuard:
    """Decide whether a request path is one of the guarded paths, in any spelling.

    Args:
        paths: The guarded paths, as the application routes them.
    """

    __slots__ = ("_exact", "_keys")

    def __init__(self, paths: Collection[str]) -> None:
        self._exact = frozenset(paths)
        self._keys = frozenset(path_key(path) for path in self._exact)

    def verdict(self, paths: Iterable[str], roots: Iterable[str] = ()) -> PathVerdict:
        """Judge one request seen through its ``paths``.

        Args:
            paths: Every form of the request path the application could route
                on (``scope["path"]``, the decoded ``raw_path``, Django's
                ``path_info`` and ``path``).
            roots: Prefixes the application strips before routing (an ASGI
                ``root_path``, a ``SCRIPT_NAME``); a path under one of them is
                also compared without it.

        Returns:
            :attr:`PathVerdict.REFUSE` if a form holds control characters and
            comes near a guarded path; else :attr:`PathVerdict.GUARD` if a form
            is a spelling of a guarded path; else :attr:`PathVerdict.PASS`.
        """
        forms = list(paths)
        if any(form in self._exact for form in forms) and all(
            form.isprintable() and "%" not in form for form in forms
        ):
            return PathVerdict.GUARD  # the usual delivery: no work beyond a set lookup
        root_keys = [key for key in (path_key(root) for root in roots if root) if key != "/"]
        verdict = PathVerdict.PASS
        for form in forms:
            text = _decoded(form)
            if text.isprintable():  # one C-level scan: the common case, even for long paths
                if self._matches(_key_of_decoded(text), root_keys):
                    verdict = PathVerdict.GUARD
                continue
            first = next(i for i, char in enumerate(text) if _is_invisible(char))
            visible = "".join(char for char in text if not _is_invisible(char))
            if self._matches(_key_of_decoded(visible), root_keys) or self._matches(
                _key_of_decoded(text[:first]), root_keys
            ):
                return PathVerdict.REFUSE
        return verdict

    def _matches(self, key: str, root_keys: Iterable[str]) -> bool:
        if key in self._keys:
            return True
        for root in root_keys:
            if key == root or key.startswith(root + "/"):
                rest = key[len(root) :] or "/"
                if rest in self._keys:
                    return True
        return False
