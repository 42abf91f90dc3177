"""The opt-in pytest plugin, enabled the way users enable it, in a separate pytest run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_CONFTEST = 'pytest_plugins = ["boltcall_webhooks.testing.pytest_plugin"]\n'


def test_fixtures_verify_sign_and_clock_together(pytester: pytest.Pytester) -> None:
    """A user's suite gets a verifier, a request factory and a clock that agree with each other."""
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(
        """
        import pytest
        from boltcall_webhooks import NewLeadEvent, StaleEventError, Verifier
        from boltcall_webhooks.testing import TEST_SECRET

        def test_request_verifies(boltcall_verifier, boltcall_request, boltcall_secret):
            assert boltcall_secret == TEST_SECRET
            request = boltcall_request("new_lead", name="Ada")
            event = boltcall_verifier.construct_event_from_headers(request.headers, request.body)
            assert isinstance(event, NewLeadEvent)
            assert event.data.name == "Ada"

        def test_clock_moves(boltcall_clock, boltcall_request, boltcall_secret):
            verifier = Verifier(boltcall_secret, tolerance=60, clock=boltcall_clock)
            request = boltcall_request("missed_call")
            verifier.construct_event(request.body, request.signature)
            boltcall_clock.advance(61)
            with pytest.raises(StaleEventError):
                verifier.construct_event(request.body, request.signature)

        def test_clock_is_fresh_for_each_test(boltcall_clock):
            from boltcall_webhooks.testing import SAMPLE_TIMESTAMP
            assert boltcall_clock() == SAMPLE_TIMESTAMP
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_overriding_the_secret_fixture_changes_every_fixture(pytester: pytest.Pytester) -> None:
    """Users override boltcall_secret once; the env, verifier and request factory follow."""
    pytester.makeconftest(
        USER_CONFTEST
        + """
import pytest

@pytest.fixture
def boltcall_secret():
    return "whsec_users_own_secret"
"""
    )
    pytester.makepyfile(
        """
        import os
        from boltcall_webhooks import Verifier, sign

        def test_own_secret(boltcall_secret_env, boltcall_request, boltcall_verifier):
            assert os.environ["BOLTCALL_WEBHOOK_SECRET"] == "whsec_users_own_secret"
            request = boltcall_request("review_received")
            assert request.signature == sign(request.body, "whsec_users_own_secret")
            Verifier().construct_event(request.body, request.signature)  # reads the variable
            boltcall_verifier.construct_event(request.body, request.signature)

        def test_env_is_restored():
            assert os.environ.get("BOLTCALL_WEBHOOK_SECRET") != "whsec_users_own_secret"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    """Without the pytest_plugins line, the fixtures do not exist (nothing is auto-loaded)."""
    pytester.makepyfile(
        """
        def test_needs_fixture(boltcall_verifier):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'boltcall_verifier' not found*"])
