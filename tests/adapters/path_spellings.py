"""Hypothesis strategies: other spellings of a guarded path, as raw request targets.

A spelling is what a client puts on the request line (ASCII, percent-encoded
where needed): the guarded path with letters in another case, characters
percent-encoded (``%2F`` too, in upper- or lower-case hex, sometimes twice),
duplicate slashes, ``.`` and ``x/..`` segments, ``;params``, a trailing
slash, and control or invisible characters inside a segment or at the end
(``%0A``, ``%0D%0A``, ``%00``, ``%09``, ``%C2%85``, ``%E2%80%8B``...).

Servers decode the target into ``scope["path"]`` / ``PATH_INFO``
(:func:`urllib.parse.unquote`), which is what the routers then see.
"""

from __future__ import annotations

from hypothesis import strategies as st

CONTROL = [chr(code) for code in range(0x20)] + ["\x7f"]
"""The C0 controls and DEL: never part of a Boltcall delivery's path."""

INVISIBLE = [*CONTROL, "\x85", "\xa0", "\u2028", "\u2029", "\u200b", "\ufeff"]
"""Controls plus Unicode line breaks and invisible characters."""

# Kept as-is on the request line unless drawn for encoding; everything else is encoded.
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/;=")

# What the end of a path most often gets in attacks: Python's `$` matches before one "\n".
TRAILERS = ["", "\n", "\r\n", "\r", "\x00", "\t", " ", "\n\n", "\x0b", "\x0c", "\x1f", "\x7f"]


def percent(char: str, *, lower: bool = False) -> str:
    """``char`` percent-encoded as UTF-8 (``"\\n"`` -> ``"%0A"``)."""
    encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return encoded.lower() if lower else encoded


@st.composite
def _raw_char(draw: st.DrawFn, char: str) -> str:
    """One path character as sent: itself (if safe), or percent-encoded (maybe twice)."""
    if char in _SAFE and draw(st.integers(0, 5)) != 0:
        return char
    encoded = percent(char, lower=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:
        encoded = encoded.replace("%", "%25")  # double-encoded: a second decode would see it
    return encoded


def _encoded(text: str) -> str:
    """``text`` as a request target, encoding only what cannot be sent as is."""
    return "".join(char if char in _SAFE else percent(char) for char in text)


@st.composite
def _one_change(draw: st.DrawFn, path: str, *, invisible: bool) -> str:
    """``path`` with one small change: where a bypass is likeliest (the router is strict)."""
    changes = ["slash", "double", "dot", "param", "case", "encode"]
    if invisible:
        changes += ["trailer", "trailer", "trailer", "insert"]
    change = draw(st.sampled_from(changes))
    if change == "trailer":
        return _encoded(path + draw(st.sampled_from(TRAILERS[1:])))
    if change == "insert":
        position = draw(st.integers(1, len(path)))
        return _encoded(path[:position] + draw(st.sampled_from(INVISIBLE)) + path[position:])
    if change == "case":
        position = draw(st.integers(1, len(path) - 1))
        return path[:position] + path[position].swapcase() + path[position + 1 :]
    if change == "encode":
        position = draw(st.integers(1, len(path) - 1))
        encoded = percent(path[position], lower=draw(st.booleans()))
        return path[:position] + encoded + path[position + 1 :]
    suffix = {"slash": "/", "double": "//", "dot": "/.", "param": ";x"}[change]
    return path + suffix


def spellings(path: str, *, invisible: bool = True) -> st.SearchStrategy[str]:
    """Raw request targets that spell ``path`` (a ``/``-separated absolute path).

    Half of them change one thing (a trailing ``%0A``...), the others mix many.

    Args:
        path: The guarded path, such as ``"/webhooks/boltcall"``.
        invisible: Whether control and invisible characters may be added.
    """
    return st.one_of(
        _one_change(path, invisible=invisible), _many_changes(path, invisible=invisible)
    )


@st.composite
def _many_changes(draw: st.DrawFn, path: str, *, invisible: bool) -> str:
    pieces: list[str] = []
    for segment in path.strip("/").split("/"):
        for junk in draw(st.lists(st.sampled_from(["", ".", "..pair"]), max_size=2)):
            if junk == "..pair":
                pieces.extend([draw(st.sampled_from(["x", "X", "webhooks"])), ".."])
            else:
                pieces.append(junk)
        chars = [
            char.upper() if char.isalpha() and draw(st.integers(0, 3)) == 0 else char
            for char in segment
        ]
        if invisible:
            for _ in range(draw(st.integers(0, 2))):
                position = draw(st.integers(0, len(chars)))
                chars.insert(position, draw(st.sampled_from(INVISIBLE)))
        text = "".join(chars)
        if draw(st.integers(0, 5)) == 0:
            text += ";" + draw(st.sampled_from(["", "x", "v=1", "jsessionid=0"]))
        pieces.append(text)
    spelled = "/" + "/".join(pieces)
    spelled += draw(st.sampled_from(["", "", "", "/", "//", "/.", "/./"]))
    if invisible:
        spelled += draw(st.sampled_from(TRAILERS))
    if draw(st.integers(0, 4)) == 0:
        spelled = "/" + spelled  # a leading double slash
    # The target keeps its leading "/" as is (origin form); any other character may be encoded.
    return "/" + "".join(draw(_raw_char(char)) for char in spelled[1:])


REGRESSIONS = [
    "{path}%0A",  # the reported bypass: Starlette's `$` matches before a final "\n"
    "{path}%0a",
    "{path}%0D%0A",
    "{path}%0D",
    "{path}%00",
    "{path}%09",
    "{path}%20",
    "{path}%0A%0A",
    "{path}/%0A",
    "{path}%C2%85",
    "{path}%E2%80%A8",
    "{path}%E2%80%8B",
    "{path}%250A",
    "{path}/",
    "{path}//",
    "{path};x",
    "/{path}",
    "{path}/.",
    "{path}/x/..",
]
"""Hand-picked spellings (``{path}`` is the guarded path), checked by name in every suite."""
