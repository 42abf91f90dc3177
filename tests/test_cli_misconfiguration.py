"""Misconfiguration matrix for the command line: every bad secret fails closed, exit 2.

Each command that needs a secret is run (in a subprocess, as users run it) with
a missing, empty, blank or malformed secret, from the environment and from
``--secret``. It must exit 2 with a message on stderr that names the problem,
never print the secret, and never answer a request as if it were verified.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from boltcall_webhooks import SECRET_ENV_VAR, sign
from boltcall_webhooks.testing import encode_body, sample_payload

TIMEOUT = 60
BODY = encode_body(sample_payload("new_lead"))
# Values that must be refused; the last one holds a real-looking secret.
BAD_ENV_VALUES = ["", "   ", "\t\n", ",", "whsec_ok_secret_1,,whsec_ok_secret_2", "\u00a0"]
BAD_OPTION_VALUES = ["", "   ", "\t"]


def _run(
    args: list[str], env_secret: str | None, tmp_path: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV_VAR}
    env["PYTHONIOENCODING"] = "utf-8"
    if env_secret is not None:
        env[SECRET_ENV_VAR] = env_secret
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    completed = subprocess.run(
        [sys.executable, "-m", "boltcall_webhooks", *[a.replace("BODY", str(body)) for a in args]],
        capture_output=True,
        env=env,
        cwd=tmp_path,  # the installed package, not the checkout
        timeout=TIMEOUT,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
    )


COMMANDS = {
    "sign": ["sign", "BODY"],
    "verify": ["verify", "--signature", sign(BODY, "whsec_real"), "BODY"],
    "send": ["send", "http://127.0.0.1:9/never-reached", "--body", "BODY"],
    "listen": ["listen", "--port", "0", "--max-requests", "1"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", [None, *BAD_ENV_VALUES], ids=repr)
def test_bad_environment_secret_exits_2(
    command: str, value: str | None, tmp_path: pathlib.Path
) -> None:
    """Unset, empty, blank or with an empty entry: exit 2, a message, no secret echoed."""
    result = _run(COMMANDS[command], value, tmp_path)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert SECRET_ENV_VAR in result.stderr or "secret" in result.stderr.lower()
    assert "whsec_ok_secret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", BAD_OPTION_VALUES, ids=repr)
def test_bad_secret_option_exits_2(command: str, value: str, tmp_path: pathlib.Path) -> None:
    """--secret empty or blank is refused even when the environment holds a good one."""
    result = _run([*COMMANDS[command], "--secret", value], "whsec_env_is_fine", tmp_path)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "secret" in result.stderr.lower()
    assert "Traceback" not in result.stderr
