"""``boltcall-webhooks webhooks ...`` end to end: a subprocess against the fake Boltcall API."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_boltcall_api import TEST_API_KEY, FakeBoltcallApi

from boltcall_webhooks._cli.webhooks import add_parser as add_webhooks_parser
from boltcall_webhooks.api import API_KEY_ENV_VAR

HOOK_URL = "https://receiver.example.com/boltcall"


@dataclass(frozen=True)
class Run:
    """The outcome of one command line run."""

    code: int
    out: str
    err: str


@pytest.fixture
def api() -> Iterator[FakeBoltcallApi]:
    with FakeBoltcallApi(max_requests=40, lifetime=60) as fake:
        yield fake


@pytest.fixture
def cli(api: FakeBoltcallApi, tmp_path: Path) -> Iterator[CliRunner]:
    runner = CliRunner(api, tmp_path)
    yield runner
    runner.check_no_credential_shown(api)


class CliRunner:
    """Runs ``python -m boltcall_webhooks webhooks ...`` against the fake API."""

    def __init__(self, api: FakeBoltcallApi, cwd: Path) -> None:
        self.api = api
        self.cwd = cwd  # not the checkout: the installed package is what runs
        self.runs: list[Run] = []

    def __call__(self, *args: str, key: str | None = TEST_API_KEY, base_url: bool = True) -> Run:
        env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV_VAR}
        env["PYTHONIOENCODING"] = "utf-8"
        if key is not None:
            env[API_KEY_ENV_VAR] = key
        action, *rest = args
        extra = ["--base-url", self.api.base_url] if base_url else []
        done = subprocess.run(
            [sys.executable, "-m", "boltcall_webhooks", "webhooks", action, *extra, *rest],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )
        run = Run(done.returncode, done.stdout, done.stderr)
        self.runs.append(run)
        return run

    def check_no_credential_shown(self, api: FakeBoltcallApi) -> None:
        """The API key never shows; a secret shows at most once, in the run that created it."""
        for run in self.runs:
            assert TEST_API_KEY not in run.out + run.err
        for hook in api.webhooks.values():
            shown = sum((run.out + run.err).count(hook["secret"]) for run in self.runs)
            assert shown <= 1


def _secret_line(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.strip().startswith("Secret:")]
    return line.split("Secret:", 1)[1].strip()


# create -------------------------------------------------------------------------------


def test_create_prints_the_secret_once_with_an_instruction(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """create registers the webhook and shows its secret once, telling the user to store it."""
    run = cli("create", "--url", HOOK_URL, "--event", "new_lead", "--name", "CRM")
    assert run.code == 0, run.err
    (hook,) = api.webhooks.values()
    assert (hook["url"], hook["trigger_event"], hook["name"]) == (HOOK_URL, "new_lead", "CRM")
    assert _secret_line(run.out) == hook["secret"]
    assert run.out.count(hook["secret"]) == 1
    assert "Store this secret now: Boltcall shows it only once" in run.out
    assert "BOLTCALL_WEBHOOK_SECRET" in run.out
    assert f"Created webhook {hook['id']}: new_lead -> {HOOK_URL}" in run.out


def test_create_json_holds_the_webhook_and_its_secret(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """create --json prints one JSON object (secret included) and nothing else."""
    run = cli("create", "--url", HOOK_URL, "--event", "call_completed", "--json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    (hook,) = api.webhooks.values()
    assert document == {
        "id": hook["id"],
        "name": None,
        "url": HOOK_URL,
        "trigger_event": "call_completed",
        "is_active": True,
        "created_at": hook["created_at"],
        "secret": hook["secret"],
    }


def test_create_refuses_plain_http_before_any_request(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """A non-HTTPS --url is a usage error (exit 2) and nothing is sent."""
    run = cli("create", "--url", "http://receiver.example.com/x", "--event", "new_lead")
    assert run.code == 2
    assert "url must be an absolute https:// URL" in run.err
    assert api.requests == []


def test_create_refuses_an_unknown_event(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """--event accepts only Boltcall's event types (exit 2, the choices are named)."""
    run = cli("create", "--url", HOOK_URL, "--event", "lead")
    assert run.code == 2
    assert "new_lead" in run.err
    assert api.requests == []


# list -------------------------------------------------------------------------------


def test_list_prints_a_table(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """list shows one aligned row per webhook under a header."""
    first = api.add_webhook(HOOK_URL, "new_lead", "Leads")
    second = api.add_webhook("https://other.example.com/h", "review_received", is_active=False)
    run = cli("list")
    assert run.code == 0, run.err
    header, row1, row2 = run.out.splitlines()
    assert header.split() == ["ID", "EVENT", "ACTIVE", "CREATED", "NAME", "URL"]
    assert row1.split() == [first["id"], "new_lead", "yes", first["created_at"], "Leads", HOOK_URL]
    assert row2.split()[1:3] == ["review_received", "no"]
    assert row2.split()[4] == "-"
    assert header.index("URL") == row1.index(HOOK_URL) == row2.index("https://other")
    assert second["secret"] not in run.out


def test_list_json_matches_the_api(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """list --json prints the webhooks as a JSON array, without secrets."""
    hook = api.add_webhook(HOOK_URL, "missed_call")
    run = cli("list", "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out) == [{k: v for k, v in hook.items() if k != "secret"}]


def test_list_of_nothing_says_so(cli: CliRunner) -> None:
    """An empty workspace gives a friendly line, and --json an empty array."""
    assert cli("list").out.startswith("No webhooks registered.")
    assert json.loads(cli("list", "--json").out) == []


def test_list_escapes_control_characters_from_the_api(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """A name holding terminal escape sequences is shown escaped, not interpreted."""
    api.add_webhook(HOOK_URL, "new_lead", "evil\x1b[2J\nname")
    run = cli("list")
    assert "\x1b" not in run.out
    assert "evil\\x1b[2J\\nname" in run.out
    assert len(run.out.splitlines()) == 2


# delete -----------------------------------------------------------------------------


def test_delete_removes_the_webhook(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """delete ID sends DELETE and confirms."""
    hook = api.add_webhook(HOOK_URL, "new_lead")
    run = cli("delete", hook["id"])
    assert run.code == 0, run.err
    assert api.webhooks == {}
    assert f"Deleted webhook {hook['id']}" in run.out


def test_delete_of_an_unknown_id_fails_with_exit_1(cli: CliRunner) -> None:
    """A 404 is an API failure (exit 1) with the API's message on stderr."""
    run = cli("delete", "wh_nope")
    assert run.code == 1
    assert run.out == ""
    assert "HTTP 404: Webhook not found" in run.err


# rotate -----------------------------------------------------------------------------


def test_rotate_creates_a_twin_and_keeps_the_old_one(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """rotate registers the same url/event/name, prints the new secret and the next steps."""
    old = api.add_webhook(HOOK_URL, "appointment_booked", "Bookings")
    run = cli("rotate", old["id"])
    assert run.code == 0, run.err
    assert old["id"] in api.webhooks
    (new,) = [hook for hook in api.webhooks.values() if hook["id"] != old["id"]]
    assert (new["url"], new["trigger_event"], new["name"]) == (
        HOOK_URL,
        "appointment_booked",
        "Bookings",
    )
    assert _secret_line(run.out) == new["secret"]
    assert old["secret"] not in run.out
    assert "BOLTCALL_WEBHOOK_SECRET=<current secret>,<new secret>" in run.out
    assert f"boltcall-webhooks webhooks delete {old['id']}" in run.out
    assert "delivered twice" in run.out


def test_rotate_delete_old_leaves_only_the_replacement(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """rotate --delete-old deletes the old webhook after the replacement exists."""
    old = api.add_webhook(HOOK_URL, "new_lead")
    run = cli("rotate", old["id"], "--delete-old")
    assert run.code == 0, run.err
    (new,) = api.webhooks.values()
    assert new["id"] != old["id"]
    assert _secret_line(run.out) == new["secret"]
    assert f"Deleted the old webhook {old['id']}" in run.out
    methods = [request.method for request in api.requests]
    assert methods == ["GET", "POST", "DELETE"]  # created before deleted


def test_rotate_json(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """rotate --json prints the old webhook, the new one with its secret, and old_deleted."""
    old = api.add_webhook(HOOK_URL, "missed_call", "Missed")
    run = cli("rotate", old["id"], "--delete-old", "--json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    (new,) = api.webhooks.values()
    assert document["old"]["id"] == old["id"]
    assert "secret" not in document["old"]
    assert document["new"]["id"] == new["id"]
    assert document["new"]["secret"] == new["secret"]
    assert document["old_deleted"] is True


def test_rotate_of_an_unknown_id_changes_nothing(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """An id that is not listed: exit 1, and no replacement is created."""
    api.add_webhook(HOOK_URL, "new_lead")
    run = cli("rotate", "wh_unknown")
    assert run.code == 1
    assert "there is no webhook wh_unknown" in run.err
    assert [request.method for request in api.requests] == ["GET"]


def test_rotate_keeps_the_new_secret_visible_when_the_delete_fails(
    api: FakeBoltcallApi, cli: CliRunner
) -> None:
    """If deleting the old webhook fails, the new secret is still printed and exit is 1."""
    old = api.add_webhook(HOOK_URL, "new_lead")
    api.script(500, {"error": "maintenance"}, method="DELETE")
    run = cli("rotate", old["id"], "--delete-old")
    assert run.code == 1
    assert len(api.webhooks) == 2
    (new,) = [hook for hook in api.webhooks.values() if hook["id"] != old["id"]]
    assert _secret_line(run.out) == new["secret"]
    assert f"the replacement {new['id']} exists, but deleting {old['id']} failed" in run.err
    assert "maintenance" in run.err


# configuration and failures -----------------------------------------------------------


def test_a_missing_key_is_a_configuration_error(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """Without BOLTCALL_API_KEY: exit 2, the variable is named, nothing is sent."""
    run = cli("list", key=None)
    assert run.code == 2
    assert "set BOLTCALL_API_KEY" in run.err
    assert api.requests == []


def test_a_refused_key_fails_with_exit_1(cli: CliRunner) -> None:
    """A wrong key is an API failure (exit 1) naming the cause; the key is not echoed."""
    run = cli("list", key="bc_wrong_key_1234")
    assert run.code == 1
    assert "HTTP 401: Invalid API key" in run.err
    assert "bc_wrong_key_1234" not in run.out + run.err


# A 40-character key cut in two by the 300-character message limit leaked 39 characters.
LONG_KEY = "bc_live_9f3Kq2Zr7Xw4Lm8Np1Tv6Yb0Hc5Jd2Gs"


@pytest.mark.parametrize("offset", sorted({247, *range(240, 311, 6)}))
def test_an_echoed_key_cut_by_the_message_limit_never_reaches_stderr(
    api: FakeBoltcallApi, cli: CliRunner, offset: int
) -> None:
    """``webhooks list`` prints the API's message, but no 8 characters of the key in a row."""
    message = "x" * offset + " Invalid key " + LONG_KEY + " (revoked)"  # 247: the report's case
    api.script(401, {"error": {"message": message}})
    run = cli("list", key=LONG_KEY)
    assert run.code == 1
    assert "HTTP 401: xxxx" in run.err
    pieces = {LONG_KEY[i : i + 8] for i in range(len(LONG_KEY) - 7)}
    assert [piece for piece in pieces if piece in run.out + run.err] == [], run.err


def test_plain_http_base_url_elsewhere_is_refused(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """--base-url http:// on a non-loopback host is a configuration error (exit 2)."""
    run = cli("list", "--base-url", "http://api.example.com/v1", base_url=False)
    assert run.code == 2
    assert "must use https://" in run.err


def test_rate_limits_and_timeouts_fail_with_exit_1(api: FakeBoltcallApi, cli: CliRunner) -> None:
    """429 reports when to retry; a slow API reports the timeout; both exit 1."""
    api.script(429, {"error": {"message": "Too many requests"}}, headers={"Retry-After": "30"})
    limited = cli("list")
    assert (limited.code, limited.out) == (1, "")
    assert "Too many requests" in limited.err
    assert "Retry after 30 s." in limited.err
    api.script(200, {"data": []}, delay=10)
    slow = cli("list", "--timeout", "0.5")
    assert slow.code == 1
    assert "did not answer GET /webhooks within 0.5 s" in slow.err


def test_no_action_is_a_usage_error(cli: CliRunner) -> None:
    """`webhooks` alone prints the usage and exits 2."""
    done = subprocess.run(
        [sys.executable, "-m", "boltcall_webhooks", "webhooks"],
        capture_output=True,
        text=True,
        cwd=cli.cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "an action is required" in done.stderr


def test_rotate_help_documents_the_steps(cli: CliRunner) -> None:
    """rotate --help explains the overlap procedure step by step."""
    run = cli("rotate", "--help", base_url=False)
    assert run.code == 0
    for step in (
        "1. boltcall-webhooks webhooks rotate OLD_ID",
        "2. Configure the receiver",
        "3.",
        "4.",
    ):
        assert step in run.out
    assert "--delete-old" in run.out


# The parser on its own (as any main CLI mounts it) --------------------------------------


def _local_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="local")
    add_webhooks_parser(parser.add_subparsers(dest="command"))
    return parser


def test_handlers_return_exit_codes_in_process(
    api: FakeBoltcallApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mounted on a plain parser, each action's func returns 0, 1 or 2 instead of exiting."""
    monkeypatch.setenv(API_KEY_ENV_VAR, TEST_API_KEY)
    parser = _local_parser()
    base = ["--base-url", api.base_url]

    args = parser.parse_args(
        ["webhooks", "create", *base, "--url", HOOK_URL, "--event", "new_lead"]
    )
    assert args.func(args) == 0
    (hook,) = api.webhooks.values()
    assert hook["secret"] in capsys.readouterr().out

    args = parser.parse_args(["webhooks", "delete", *base, "wh_missing"])
    assert args.func(args) == 1
    assert "404" in capsys.readouterr().err

    args = parser.parse_args(
        ["webhooks", "create", *base, "--url", "ftp://x", "--event", "new_lead"]
    )
    assert args.func(args) == 2

    monkeypatch.delenv(API_KEY_ENV_VAR)
    args = parser.parse_args(["webhooks", "list", *base])
    assert args.func(args) == 2
    assert "set BOLTCALL_API_KEY" in capsys.readouterr().err
