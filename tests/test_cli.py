"""The boltcall-webhooks command line, run as users run it: ``python -m boltcall_webhooks``.

Every command runs in a subprocess (bounded by a timeout), from a scratch
directory so that the installed package is the one imported. Receivers bind
127.0.0.1 only and stop by themselves (``--max-requests``).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import queue
import re
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO

import pytest

from boltcall_webhooks import (
    SECRET_ENV_VAR,
    CallCompletedEvent,
    EventType,
    NewLeadEvent,
    parse_event,
    sign,
)
from boltcall_webhooks.testing import TEST_SECRET, encode_body, sample_payload

ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMEOUT = 60
COMMANDS = ["demo", "sign", "verify", "sample", "send", "listen"]
SECRET = "whsec_cli_test_4e1f0b7d9a2c"
OTHER_SECRET = "whsec_cli_other_81c3e5a7"


def _env(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV_VAR}
    env["PYTHONIOENCODING"] = "utf-8"
    if secret is not None:
        env[SECRET_ENV_VAR] = secret
    return env


def cli(
    *args: str,
    stdin: bytes = b"",
    secret: str | None = SECRET,
    cwd: pathlib.Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m boltcall_webhooks ARGS`` with the secret in the environment."""
    completed = subprocess.run(
        [sys.executable, "-m", "boltcall_webhooks", *args],
        input=stdin,
        capture_output=True,
        env=_env(secret),
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
    )


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `python -m` puts the working directory first on sys.path: run from an
    # empty directory so the subprocess imports the installed package.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def body_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "body.json"
    path.write_bytes(encode_body(sample_payload("new_lead")))
    return path


# demo --------------------------------------------------------------------------


_DEMO_EXPECTED = {
    "new_lead, signed": ("200", "NewLeadEvent lead_8f3k2m9x"),
    "missed_call, signed": ("200", "MissedCallEvent"),
    "appointment_booked, signed": ("200", "AppointmentBookedEvent"),
    "call_completed, signed": ("200", "CallCompletedEvent"),
    "review_received, signed": ("200", "ReviewReceivedEvent"),
    "unknown type invoice_paid": ("200", "UnknownEvent"),
    "wrong secret": ("401", "nothing (refused: Invalid signature)"),
    "no signature header": ("401", "nothing (refused: Missing signature)"),
    "tampered": ("401", "nothing (refused: Invalid signature)"),
    "re-serialised": ("401", "nothing (refused: Invalid signature)"),
    "oversize body": ("413", "nothing (refused: Payload too large)"),
    "dashboard re-send, 3 days old": ("200", "MissedCallEvent"),
    "rotation: signed with new secret": ("200", "AppointmentBookedEvent"),
    "not JSON": ("400", "nothing (refused: Invalid payload)"),
}


def _check_demo_output(
    result: subprocess.CompletedProcess[str], expected: dict[str, tuple[str, str]] | None = None
) -> None:
    expected = _DEMO_EXPECTED if expected is None else expected
    assert result.returncode == 0, result.stdout + result.stderr
    verification, inbox = result.stdout.split("\n2. Inbox: ")
    lines = verification.splitlines()
    deliveries = [line for line in lines if re.match(r"^(ok  |FAIL) +\d+ ", line)]
    assert len(deliveries) == len(expected)
    assert all(line.startswith("ok ") for line in deliveries)
    for label, (status, received) in expected.items():
        (line,) = [line for line in deliveries if label in line]
        assert re.search(rf"\s{status}\s+{status}\s+{re.escape(received)}", line), line
    steps = [line for line in inbox.splitlines() if re.match(r"^(ok  |FAIL) +\d+ ", line)]
    assert len(steps) == len(_DEMO_INBOX_STEPS)
    for line, (label, outcome) in zip(steps, _DEMO_INBOX_STEPS, strict=True):
        assert line.startswith("ok "), line
        assert label in line, line
        assert re.search(rf"\s{re.escape(outcome)}\s+{re.escape(outcome)}", line), line
    total = len(expected) + len(_DEMO_INBOX_STEPS)
    assert f"All {len(expected)} deliveries behaved as expected" in result.stdout
    assert f"All {len(_DEMO_INBOX_STEPS)} inbox steps as expected" in result.stdout
    assert f"Every outcome ({total} of {total}) was the expected one." in result.stdout
    assert result.stderr == ""


_DEMO_INBOX_STEPS = [
    ("new_lead, signed: stored, then answered", "200 duplicate=false"),
    ("worker runs handler crm", "done, 1 attempt"),
    ("calendar fails once", "done, 2 attempts"),
    ("dashboard re-send of step 1", "200 duplicate=true"),
    ("worker process killed (SIGKILL)", "processing, 1 attempt"),
    ("next worker, once the lease expired", "done, 2 attempts"),
]
"""The demo's inbox section: (step, expected and actual outcome), in order."""


def test_demo_exits_zero_with_every_delivery_as_expected() -> None:
    """The demo sends 14 deliveries; each line shows the expected and actual outcome."""
    _check_demo_output(cli("demo", secret=None))


def test_demo_shows_the_advice_no_tolerance_and_accepts_an_old_re_send() -> None:
    """By default, as the docs advise: no tolerance; a 3-day-old re-send reaches the handler."""
    result = cli("demo", secret=None)
    _check_demo_output(result)
    assert "no timestamp tolerance" in result.stdout
    assert "Stale event" not in result.stdout
    assert "tolerance 300 s" not in result.stdout


def test_demo_tolerance_is_an_explicit_opt_in_that_refuses_stale_events() -> None:
    """demo --tolerance 300: the stale event and the old re-send are refused, as expected."""
    result = cli("demo", "--tolerance", "300", secret=None)
    expected = {
        **_DEMO_EXPECTED,
        "dashboard re-send, 3 days old": ("401", "nothing (refused: Stale event)"),
        "stale event (timestamp 1 h old)": ("401", "nothing (refused: Stale event)"),
    }
    _check_demo_output(result, expected)
    assert "tolerance 300 s (opted in" in result.stdout
    long_window = cli("demo", "--tolerance", str(7 * 86400), secret=None)
    _check_demo_output(
        long_window,
        {**_DEMO_EXPECTED, "stale event (timestamp 1 h old)": ("200", "CallCompletedEvent")},
    )
    assert cli("demo", "--tolerance", "-1", secret=None).returncode == 2


def test_demo_exits_one_when_any_section_has_an_unexpected_outcome(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sections are appended to demo.SECTIONS; one failed check in any of them is exit 1."""
    from boltcall_webhooks._cli import demo, main

    def failing(options: demo.DemoOptions, out: IO[str]) -> demo.SectionResult:
        print("Extra section", file=out)
        return demo.SectionResult(checks=2, failures=1)

    monkeypatch.setattr(demo, "SECTIONS", (*demo.SECTIONS, failing))
    assert main(["demo"]) == 1
    text = capsys.readouterr().out
    assert "\n3. Extra section\n" in text
    assert "All 14 deliveries behaved as expected" in text
    assert "All 6 inbox steps as expected" in text
    assert "1 of 22 outcomes were NOT the expected ones (FAIL)." in text


def test_demo_runs_from_the_source_tree_with_nothing_installed() -> None:
    """``python3 -m boltcall_webhooks demo`` in a fresh clone: no site-packages at all (-S)."""
    completed = subprocess.run(
        [sys.executable, "-S", "-m", "boltcall_webhooks", "demo"],
        capture_output=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"},
        timeout=TIMEOUT,
        check=False,
        text=True,
    )
    _check_demo_output(completed)


# help and usage ------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    """``COMMAND --help`` exits 0 and shows a usage line and examples."""
    result = cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: boltcall-webhooks {command}")
    _, examples = result.stdout.split("\nexamples:\n", 1)
    assert f"  boltcall-webhooks {command}" in examples


def test_top_level_help_lists_the_commands_and_version_prints() -> None:
    """``--help`` lists every command; ``--version`` prints the package version."""
    result = cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"    {command}" in result.stdout
    version = cli("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"boltcall-webhooks \d+\.\d+\.\d+\S*\n", version.stdout)


def test_no_command_or_an_unknown_one_is_a_usage_error() -> None:
    """Exit status 2 with the message on stderr and nothing on stdout."""
    for args in ([], ["frobnicate"], ["sign", "--no-such-option"]):
        result = cli(*args)
        assert result.returncode == 2, args
        assert result.stdout == ""
        assert "error:" in result.stderr


# sign ------------------------------------------------------------------------------


def test_sign_prints_the_signature_of_a_file_or_stdin(body_file: pathlib.Path) -> None:
    """FILE and stdin give the same signature, the one sign() computes for the exact bytes."""
    body = body_file.read_bytes()
    expected = sign(body, SECRET) + "\n"
    assert cli("sign", str(body_file)).stdout == expected
    from_stdin = cli("sign", stdin=body)
    assert (from_stdin.returncode, from_stdin.stdout) == (0, expected)
    with_newline = cli("sign", "--secret", OTHER_SECRET, stdin=body + b"\n")
    assert with_newline.stdout == sign(body + b"\n", OTHER_SECRET) + "\n"


def test_sign_without_a_secret_is_a_configuration_error(body_file: pathlib.Path) -> None:
    """No --secret and no BOLTCALL_WEBHOOK_SECRET: exit 2, and nothing is signed."""
    result = cli("sign", str(body_file), secret=None)
    assert result.returncode == 2
    assert result.stdout == ""
    assert SECRET_ENV_VAR in result.stderr
    blank = cli("sign", str(body_file), secret="  ")
    assert blank.returncode == 2


def test_sign_refuses_several_secrets_and_unreadable_files(body_file: pathlib.Path) -> None:
    """Signing needs exactly one secret; a missing file is reported without a traceback."""
    several = cli("sign", str(body_file), secret=f"{SECRET},{OTHER_SECRET}")
    assert several.returncode == 2
    assert "exactly one secret" in several.stderr
    missing = cli("sign", "no-such-file.json")
    assert missing.returncode == 2
    assert "no-such-file.json" in missing.stderr
    assert "Traceback" not in missing.stderr


# verify --------------------------------------------------------------------------------


def test_verify_accepts_a_valid_signature_from_any_configured_secret(
    body_file: pathlib.Path,
) -> None:
    """Exit 0 for a signature made with any of the secrets (rotation), upper-case hex too."""
    signature = sign(body_file.read_bytes(), OTHER_SECRET)
    result = cli(
        "verify", str(body_file), "--signature", signature.upper(),
        "--secret", SECRET, "--secret", OTHER_SECRET,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Signature valid (new_lead event")


def test_verify_rejects_wrong_and_malformed_signatures_with_the_reason(
    body_file: pathlib.Path,
) -> None:
    """Exit 1 with the reason on stderr; the secret never appears in any output."""
    good = sign(body_file.read_bytes(), SECRET)
    wrong = cli("verify", str(body_file), "--signature", sign(b"other", SECRET))
    assert wrong.returncode == 1
    assert "does not match" in wrong.stderr
    malformed = cli("verify", "--signature", good[:-1], stdin=body_file.read_bytes())
    assert malformed.returncode == 1
    assert "malformed" in malformed.stderr
    empty = cli("verify", str(body_file), "--signature", "")
    assert empty.returncode == 1
    assert "empty" in empty.stderr
    for result in (wrong, malformed, empty):
        assert result.stdout == ""
        assert SECRET not in result.stderr


def test_verify_tolerance_refuses_a_stale_event(tmp_path: pathlib.Path) -> None:
    """With --tolerance, a genuine but old event exits 1 and says it is stale."""
    old = datetime.now(timezone.utc) - timedelta(hours=2)
    body = encode_body(sample_payload("missed_call", timestamp=old))
    path = tmp_path / "old.json"
    path.write_bytes(body)
    signature = sign(body, SECRET)
    assert cli("verify", str(path), "--signature", signature).returncode == 0
    stale = cli("verify", str(path), "--signature", signature, "--tolerance", "300")
    assert stale.returncode == 1
    assert "old" in stale.stderr
    bad = cli("verify", str(path), "--signature", signature, "--tolerance", "soon")
    assert bad.returncode == 2


def test_verify_reports_a_valid_signature_on_a_body_that_is_no_envelope() -> None:
    """The signature check stands on its own: a valid signature on any bytes exits 0."""
    result = cli("verify", "--signature", sign(b"hello", SECRET), stdin=b"hello")
    assert result.returncode == 0
    assert "not a Boltcall event envelope" in result.stdout


def test_verify_usage_and_configuration_errors_exit_2(body_file: pathlib.Path) -> None:
    """No --signature, no secret, or a stray comma in the variable: exit 2."""
    assert cli("verify", str(body_file)).returncode == 2
    signature = sign(body_file.read_bytes(), SECRET)
    no_secret = cli("verify", str(body_file), "--signature", signature, secret=None)
    assert no_secret.returncode == 2
    stray = cli("verify", str(body_file), "--signature", signature, secret=f"{SECRET},")
    assert stray.returncode == 2
    assert "empty entry" in stray.stderr


# sample --------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", [member.value for member in EventType])
def test_sample_prints_a_valid_envelope_of_each_type(event_type: str) -> None:
    """The sample parses strictly into its event type, timestamped about now."""
    result = cli("sample", event_type, secret=None)
    assert result.returncode == 0
    event = parse_event(result.stdout, strict=True)
    assert event.type == event_type
    assert abs(datetime.now(timezone.utc) - event.timestamp) < timedelta(minutes=5)


def test_sample_compact_and_timestamp_options() -> None:
    """--compact prints one line; --timestamp sets the envelope time (normalised to UTC)."""
    result = cli(
        "sample", "call_completed", "--compact", "--timestamp", "2025-03-20T10:17:22+01:00"
    )
    assert result.returncode == 0
    assert result.stdout.count("\n") == 1
    payload = json.loads(result.stdout)
    assert payload["timestamp"] == "2025-03-20T09:17:22Z"
    assert isinstance(parse_event(result.stdout), CallCompletedEvent)


def test_sample_rejects_unknown_event_types_and_bad_timestamps() -> None:
    """An unknown event type or a timestamp that is not ISO-8601 exits 2."""
    unknown = cli("sample", "invoice_paid")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr
    bad_time = cli("sample", "new_lead", "--timestamp", "yesterday")
    assert bad_time.returncode == 2
    assert "ISO-8601" in bad_time.stderr


# send and listen --------------------------------------------------------------------------------


class _Collector:
    """Reads a child's pipe to the end in a thread, line by line."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for raw in self._stream:
            self.lines.put(raw.decode())

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Return the first match of ``pattern`` in the lines read so far or next."""
        while True:
            match = re.search(pattern, self.lines.get(timeout=TIMEOUT))
            if match:
                return match

    def text(self) -> str:
        """Everything read, once the pipe is closed (the child has exited)."""
        self._thread.join(timeout=TIMEOUT)
        return "".join(self.lines.get() for _ in range(self.lines.qsize()))


@dataclass
class Listener:
    process: subprocess.Popen[bytes]
    url: str
    stdout: _Collector
    stderr: _Collector

    def finish(self) -> tuple[int, str, str]:
        """Wait for the listener to stop by itself; return its status, stdout and stderr."""
        status = self.process.wait(timeout=TIMEOUT)
        return status, self.stdout.text(), self.stderr.text()


@contextmanager
def listening(*args: str, secret: str | None = SECRET) -> Iterator[Listener]:
    """Start ``listen --port 0 ARGS`` and wait for its address; always stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "boltcall_webhooks", "listen", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(secret),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        stdout, stderr = _Collector(process.stdout), _Collector(process.stderr)
        url = stderr.wait_for(r"http://127\.0\.0\.1:\d+/").group(0)
        yield Listener(process, url, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        process.stdout.close()
        process.stderr.close()


def test_listen_and_send_against_each_other(tmp_path: pathlib.Path) -> None:
    """Genuine sends are printed as JSON lines; a forged one is refused with 401 and exit 1."""
    body = encode_body(sample_payload("review_received"))
    (tmp_path / "review.json").write_bytes(body)
    with listening("--json", "--max-requests", "3") as listener:
        sent = cli("send", listener.url + "hooks", "--event", "new_lead")
        assert (sent.returncode, sent.stdout) == (0, 'HTTP 200 OK\n{"received":true}\n')
        forged = cli("send", listener.url, "--event", "new_lead", "--secret", OTHER_SECRET)
        assert forged.returncode == 1
        assert forged.stdout == 'HTTP 401 Unauthorized\n{"error": "Invalid signature"}\n'
        from_file = cli("send", listener.url, "--body", str(tmp_path / "review.json"))
        assert from_file.returncode == 0
        status, stdout, stderr = listener.finish()
    assert status == 0
    first, second = (json.loads(line) for line in stdout.splitlines())
    assert first["event"] == "new_lead"
    assert isinstance(parse_event(json.dumps(first)), NewLeadEvent)
    assert second == json.loads(body)
    assert "refused POST /: 401 Invalid signature" in stderr
    assert OTHER_SECRET not in stderr
    assert SECRET not in stderr


def test_listen_prints_readable_lines_and_refuses_what_does_not_verify() -> None:
    """Readable mode shows time, type and key fields; GET and HEAD are 405, oversize is 413."""
    with listening("--max-requests", "4", "--max-body-size", "2000") as listener:
        sent = cli("send", listener.url, "--event", "call_completed")
        assert sent.returncode == 0
        big = encode_body(sample_payload("new_lead", message="x" * 3000))
        too_big = cli("send", listener.url, "--body", "-", stdin=big)
        assert too_big.returncode == 1
        assert too_big.stdout.startswith("HTTP 413 ")
        port = int(listener.url.rsplit(":", 1)[1].strip("/"))
        for method in ("GET", "HEAD"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            connection.request(method, "/")
            response = connection.getresponse()
            assert (response.status, response.getheader("Allow")) == (405, "POST")
            assert (response.read() == b"") == (method == "HEAD")
            connection.close()
        status, stdout, stderr = listener.finish()
    assert status == 0
    (line,) = stdout.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  call_completed +CallCompletedEvent", line)
    assert "caller=+15125550147" in line
    assert "413 Payload too large" in stderr
    assert "refused GET /: 405 Method not allowed" in stderr
    assert "refused HEAD /: 405 Method not allowed" in stderr


def test_listen_escapes_control_characters_from_the_network() -> None:
    """Event fields cannot drive the terminal: escape sequences are printed escaped."""
    body = encode_body(sample_payload("new_lead", name="\x1b[2J\x1b[31mEvil\r"))
    with listening("--max-requests", "1") as listener:
        assert cli("send", listener.url, "--body", "-", stdin=body).returncode == 0
        status, stdout, _ = listener.finish()
    assert status == 0
    assert "\x1b" not in stdout
    assert "\r" not in stdout
    assert 'name="\\u001b[2J\\u001b[31mEvil\\r"' in stdout


def test_listen_forwards_verified_bodies_with_their_signature() -> None:
    """A second verifying listener receives the forwarded body: the signature came along."""
    with (
        listening("--max-requests", "1") as target,
        listening("--max-requests", "1", "--forward-to", target.url + "app/webhooks") as relay,
    ):
        sent = cli("send", relay.url, "--event", "appointment_booked")
        assert sent.returncode == 0
        relay_status, _, relay_err = relay.finish()
        target_status, target_out, _ = target.finish()
    assert relay_status == 0
    assert f"forwarded to {target.url}app/webhooks: 200 OK" in relay_err
    assert target_status == 0
    assert "AppointmentBookedEvent apt_5n1r6t2w" in target_out


def test_listen_usage_and_configuration_errors_exit_2() -> None:
    """No secret, a bad port, a non-HTTP or self-pointing forward URL: exit 2 before serving."""
    no_secret = cli("listen", "--port", "0", secret=None)
    assert no_secret.returncode == 2
    assert SECRET_ENV_VAR in no_secret.stderr
    assert cli("listen", "--port", "70000").returncode == 2
    assert cli("listen", "--port", "0", "--forward-to", "ftp://example.com/").returncode == 2
    assert cli("listen", "--port", "0", "--max-requests", "0").returncode == 2
    port = str(_unused_port())
    loop = cli("listen", "--port", port, "--forward-to", f"http://localhost:{port}/hooks")
    assert loop.returncode == 2
    assert "loop" in loop.stderr


def test_send_failures_exit_1_and_usage_errors_exit_2(body_file: pathlib.Path) -> None:
    """An unreachable receiver exits 1; a non-HTTP URL or no --event/--body exits 2."""
    unreachable = _unused_port()
    refused = cli("send", f"http://127.0.0.1:{unreachable}/", "--event", "new_lead")
    assert refused.returncode == 1
    assert "could not deliver" in refused.stderr
    assert cli("send", "ftp://127.0.0.1/", "--event", "new_lead").returncode == 2
    assert cli("send", "http://127.0.0.1:1/").returncode == 2
    both = cli("send", "http://127.0.0.1:1/", "--event", "new_lead", "--body", str(body_file))
    assert both.returncode == 2
    assert cli("send", "http://127.0.0.1:1/", "--event", "new_lead", secret=None).returncode == 2
    no_wait = cli("send", "http://127.0.0.1:1/", "--event", "new_lead", "--timeout", "0")
    assert no_wait.returncode == 2
    assert "above zero" in no_wait.stderr


def test_send_refuses_an_empty_body_with_exit_2(tmp_path: pathlib.Path) -> None:
    """``sample ... | send --body -`` after ``sample`` failed: nothing is sent, exit 2."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    with listener:
        piped = cli("send", f"http://127.0.0.1:{port}/", "--body", "-", stdin=b"")
        assert piped.returncode == 2
        assert "the body is empty" in piped.stderr
        empty = tmp_path / "empty.json"
        empty.write_bytes(b"")
        from_file = cli("send", f"http://127.0.0.1:{port}/", "--body", str(empty))
        assert from_file.returncode == 2
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):  # no connection was ever made
            listener.accept()


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# in-process entry point ------------------------------------------------------------------------


def test_main_returns_the_exit_status_instead_of_exiting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """main(argv) returns 0/1/2 (for embedding and the console script), even for --help."""
    from boltcall_webhooks._cli import main

    monkeypatch.setenv(SECRET_ENV_VAR, TEST_SECRET)
    assert main(["sample", "new_lead", "--compact"]) == 0
    assert json.loads(capsys.readouterr().out)["event"] == "new_lead"
    assert main(["--help"]) == 0
    assert main(["sample"]) == 2
    assert main([]) == 2
    signature = sign(b"abc", TEST_SECRET)
    path = pathlib.Path("abc.txt")
    path.write_bytes(b"abc")
    assert main(["verify", "--signature", signature, str(path)]) == 0
    assert main(["verify", "--signature", signature[::-1], str(path)]) == 1


def test_each_command_group_module_adds_its_commands() -> None:
    """_cli.COMMAND_GROUPS lists modules of the _cli package, each with add_parser()."""
    import argparse
    import importlib

    from boltcall_webhooks._cli import COMMAND_GROUPS, build_parser

    added: list[str] = []
    for group in COMMAND_GROUPS:
        module = importlib.import_module(f"boltcall_webhooks._cli.{group}")
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        module.add_parser(subparsers)
        added.extend(subparsers.choices)
    assert added == [*COMMANDS, "webhooks", "inbox"]
    top = build_parser()
    (subparsers_action,) = (
        action for action in top._actions if isinstance(action, argparse._SubParsersAction)
    )
    assert list(subparsers_action.choices) == added


def test_a_command_group_that_cannot_be_imported_reports_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group whose dependencies are missing is offered and explains; the others still work."""
    from boltcall_webhooks import _cli

    monkeypatch.setattr(_cli, "COMMAND_GROUPS", (*_cli.COMMAND_GROUPS, "nosuchgroup"))
    assert _cli.main(["nosuchgroup", "anything"]) == 2
    err = capsys.readouterr().err
    assert "boltcall-webhooks nosuchgroup: unavailable: ModuleNotFoundError" in err
    assert _cli.main(["sample", "new_lead", "--compact"]) == 0


# a closed stdout (``... | head -c1``) ---------------------------------------------------------


def _with_stdout_closed(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout a real pipe whose reading end is already closed.

    The reader is gone before the child writes a byte, so every write gets
    EPIPE: the deterministic form of ``... | head -c1`` with a fast ``head``.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "boltcall_webhooks", *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_env(SECRET),
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    return subprocess.CompletedProcess(
        completed.args, completed.returncode, "", completed.stderr.decode("utf-8")
    )


def test_sample_into_a_closed_pipe_stops_quietly_with_141() -> None:
    """No BrokenPipeError traceback: exit 141 (128 + SIGPIPE) and nothing on stderr."""
    result = _with_stdout_closed("sample", "new_lead")
    assert (result.returncode, result.stderr) == (141, "")


def test_send_into_a_closed_pipe_stops_quietly_with_141() -> None:
    """send delivers, then finds stdout gone: 141, never 1 (the delivery did not fail)."""
    with listening("--max-requests", "1") as listener:
        result = _with_stdout_closed("send", listener.url, "--event", "new_lead")
        status, _, stderr = listener.finish()
    assert (result.returncode, result.stderr) == (141, "")
    assert status == 0
    assert "refused" not in stderr


def _into_head(args: list[str]) -> subprocess.CompletedProcess[str]:
    quoted = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "boltcall_webhooks"))
    pipeline = f"set -o pipefail; {quoted} {shlex.join(args)} | head -c1"
    return subprocess.run(
        ["bash", "-c", pipeline],
        capture_output=True,
        text=True,
        env=_env(SECRET),
        timeout=TIMEOUT,
        check=False,
    )


def test_piped_into_head_prints_no_traceback() -> None:
    """The user's pipelines through a shell: ``... | head -c1`` prints one byte, no error."""
    sample = _into_head(["sample", "new_lead"])
    with listening("--max-requests", "1") as listener:
        send = _into_head(["send", listener.url, "--event", "new_lead"])
        assert listener.finish()[0] == 0
    for result, first in ((sample, "{"), (send, "H")):
        assert (result.stdout, result.stderr) == (first, "")
        assert result.returncode in {0, 141}  # 141 only if head left before the write
