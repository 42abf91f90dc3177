"""The framework-free path guard shared by the Starlette and Django middlewares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boltcall_webhooks._paths import INVALID_PATH, PathGuard, PathVerdict, path_key

GUARD = PathGuard(["/webhooks/boltcall", "/hooks/boltcall/"])
_FULLWIDTH_WEBHOOKS = "".join(chr(ord(char) + 0xFEE0) for char in "WEBHOOKS")  # NFKC: WEBHOOKS


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/webhooks/boltcall", "/webhooks/boltcall"),
        ("/Webhooks//boltcall/;x", "/webhooks/boltcall"),
        ("/webhooks/./x/../boltcall/.", "/webhooks/boltcall"),
        ("/webhooks%2Fboltcall", "/webhooks/boltcall"),
        ("/webhooks/boltcall%252F", "/webhooks/boltcall"),
        ("\\webhooks\\boltcall", "/webhooks/boltcall"),
        ("/" + _FULLWIDTH_WEBHOOKS + "/boltcall ", "/webhooks/boltcall"),
        ("/../..", "/"),
        ("", "/"),
    ],
)
def test_path_key_equates_the_spellings_routers_may_equate(path: str, key: str) -> None:
    """Decoding, case, slashes, dot segments, ;params, NFKC and whitespace are folded."""
    assert path_key(path) == key


@pytest.mark.parametrize(
    ("path", "verdict"),
    [
        ("/webhooks/boltcall", PathVerdict.GUARD),
        ("/WEBHOOKS/BOLTCALL/", PathVerdict.GUARD),
        ("/hooks/boltcall", PathVerdict.GUARD),
        ("/webhooks/boltcall\n", PathVerdict.REFUSE),
        ("/webhooks/boltcall%0A", PathVerdict.REFUSE),
        ("/webhooks/bolt\x00call", PathVerdict.REFUSE),
        ("/webhooks/boltcall\x00/anything", PathVerdict.REFUSE),
        ("/webhooks/boltcall\u200b", PathVerdict.REFUSE),
        ("/webhooks/boltcalls", PathVerdict.PASS),
        ("/webhooks/boltcall/x", PathVerdict.PASS),
        ("/other\n", PathVerdict.PASS),
        ("/", PathVerdict.PASS),
    ],
)
def test_verdicts(path: str, verdict: PathVerdict) -> None:
    """Spellings are guarded; control characters near a guarded path are refused."""
    assert GUARD.verdict([path]) is verdict


def test_root_prefixes_are_stripped_in_every_spelling() -> None:
    """Under a root path the rest is compared (the prefix itself may be spelled oddly)."""
    assert GUARD.verdict(["/api/webhooks/boltcall"], ["/api"]) is PathVerdict.GUARD
    assert GUARD.verdict(["/API//webhooks/boltcall"], ["/api"]) is PathVerdict.GUARD
    assert GUARD.verdict(["/api/webhooks/boltcall%0A"], ["/api"]) is PathVerdict.REFUSE
    assert GUARD.verdict(["/api/webhooks/boltcall"], ["/other"]) is PathVerdict.PASS
    assert GUARD.verdict(["/api/webhooks/boltcall"], ["", "/"]) is PathVerdict.PASS


def test_any_form_decides() -> None:
    """The raw path and the decoded path are both judged; the strictest verdict wins."""
    assert GUARD.verdict(["/x", "/webhooks/boltcall"]) is PathVerdict.GUARD
    assert GUARD.verdict(["/webhooks/boltcall", "/webhooks/boltcall%0A"]) is PathVerdict.REFUSE


def test_the_refusal_is_a_400_invalid_path() -> None:
    """The answer names the problem and nothing else."""
    assert (INVALID_PATH.status, INVALID_PATH.message) == (400, "Invalid path")


@given(
    st.text(st.characters(exclude_characters="%"), max_size=40),
    st.sampled_from(["/webhooks/boltcall", "/hooks/boltcall/"]),
)
def test_invisible_characters_near_a_guarded_path_are_refused(suffix: str, guarded: str) -> None:
    """A guarded path followed by anything holding an invisible character is refused
    whenever the rest, without those characters, still spells the guarded path."""
    assert GUARD.verdict([guarded]) is PathVerdict.GUARD
    spelled = guarded + suffix
    verdict = GUARD.verdict([spelled])
    if not spelled.isprintable() and path_key("".join(c for c in spelled if c.isprintable())) in {
        "/webhooks/boltcall",
        "/hooks/boltcall",
    }:
        assert verdict is PathVerdict.REFUSE


@given(st.text(max_size=60))
def test_the_guard_never_raises(path: str) -> None:
    """Any text is judged without an exception."""
    assert isinstance(GUARD.verdict([path], [path[:3]]), PathVerdict)
