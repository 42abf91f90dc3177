"""``boltcall-webhooks inbox ...``: work, stats, list, show, replay, purge, migrate."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from boltcall_webhooks._cli import main
from boltcall_webhooks.inbox import DeliveryState, Inbox
from boltcall_webhooks.testing._samples import encode_body, sample_payload

ROUTER_MODULE = """
from boltcall_webhooks import NewLeadEvent, Router

router = Router()

@router.on(NewLeadEvent, name="crm")
def crm(event, delivery):
    if delivery.event.data.name == "Fails Always":
        raise RuntimeError("the CRM said no")
    delivery.connection.execute(
        "CREATE TABLE IF NOT EXISTS crm (key TEXT PRIMARY KEY)"
    )
    delivery.connection.execute("INSERT OR REPLACE INTO crm VALUES (?)", (delivery.key,))

not_a_router = 42
"""


def _body(number: int, **fields: object) -> bytes:
    return encode_body(sample_payload("new_lead", id=f"lead_{number:04d}", **fields))


@pytest.fixture
def url(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hooks_for_cli.py").write_text(textwrap.dedent(ROUTER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOLTCALL_INBOX_URL", raising=False)
    return f"sqlite:///{tmp_path / 'inbox.sqlite3'}"


def _cli(
    *args: str, cwd: pathlib.Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "boltcall_webhooks", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_migrate_stats_and_the_environment_variable(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["inbox", "migrate", "--inbox", url]) == 0
    assert "schema up to date" in capsys.readouterr().out
    monkeypatch.setenv("BOLTCALL_INBOX_URL", url)
    Inbox(url).store(_body(1))
    assert main(["inbox", "stats"]) == 0
    assert capsys.readouterr().out.split() == [
        "pending", "1", "processing", "0", "done", "0", "dead", "0"
    ]  # fmt: skip
    assert main(["inbox", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 1


def test_usage_and_configuration_errors_exit_2(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inbox", "stats"]) == 2  # no URL anywhere
    assert "BOLTCALL_INBOX_URL" in capsys.readouterr().err
    assert main(["inbox", "stats", "--inbox", "mysql://u:pw1234@h/db"]) == 2
    assert "pw1234" not in capsys.readouterr().err
    assert main(["inbox"]) == 2
    assert main(["inbox", "replay", "--inbox", url]) == 2  # neither IDs nor --dead
    assert main(["inbox", "replay", "1", "--dead", "--inbox", url]) == 2
    assert main(["inbox", "purge", "--older-than", "-3", "--inbox", url]) == 2
    assert main(["inbox", "list", "--state", "lost", "--inbox", url]) == 2
    for router in ("nomodule", "no_such_module_x:router", "hooks_for_cli:nothing",
                   "hooks_for_cli:not_a_router"):  # fmt: skip
        assert main(["inbox", "work", "--once", "--router", router, "--inbox", url]) == 2
    assert "not a boltcall_webhooks.Router" in capsys.readouterr().err


def test_work_once_list_show_replay_and_purge(  # noqa: PLR0915 (one story, step by step)
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    inbox = Inbox(url, max_attempts=1)
    ok = inbox.store(_body(1))
    failing = inbox.store(_body(2, name="Fails Always"))
    junk = inbox.store(b"\xff\xfe not json")
    base = ["--inbox", url]

    work = _cli("inbox", "work", "--router", "hooks_for_cli:router", "--once", *base, cwd=tmp_path)
    out, err = work.communicate(timeout=60)
    assert work.returncode == 0, err
    assert out.strip() == "processed 2"
    # max_attempts is the worker's option; the CLI worker keeps the default (8): retry later.
    assert inbox.get(ok.id).state is DeliveryState.DONE
    assert inbox.get(failing.id).state is DeliveryState.PENDING
    assert "the CRM said no" in err

    assert main(["inbox", "list", *base]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "TYPE"]
    assert [line.split()[0] for line in lines[1:]] == [str(junk.id), str(failing.id), str(ok.id)]

    assert main(["inbox", "list", "--state", "done", "--json", *base]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["id"] == ok.id
    assert item["state"] == "done"
    assert "body" not in item
    assert "connection" not in item
    assert (
        main(["inbox", "list", "--type", "new_lead", "--limit", "1", "--json", "--body", *base])
        == 0
    )
    (item,) = json.loads(capsys.readouterr().out)
    assert json.loads(item["body"])["data"]["name"] == "Fails Always"

    assert main(["inbox", "show", str(failing.id), *base]) == 0
    shown = capsys.readouterr().out
    assert "crm: RuntimeError: the CRM said no" in shown
    assert "Traceback" in shown
    assert "Fails Always" not in shown  # no body without --body
    assert main(["inbox", "show", str(junk.id), "--body", *base]) == 0
    shown = capsys.readouterr().out
    assert "PayloadError" in shown
    assert "(base64)" in shown
    control = inbox.store(b"\x1b[31m red \x00")
    assert main(["inbox", "show", str(control.id), "--body", *base]) == 0
    assert "\\x1b[31m red \\x00" in capsys.readouterr().out  # escaped for the terminal
    assert main(["inbox", "show", str(ok.id), "--json", "--body", *base]) == 0
    assert json.loads(capsys.readouterr().out)["body"] == _body(1).decode()
    assert main(["inbox", "show", "999", *base]) == 1

    assert main(["inbox", "replay", str(ok.id), "999", *base]) == 1  # 999: not there
    assert inbox.get(ok.id).state is DeliveryState.PENDING
    assert main(["inbox", "replay", "--dead", *base]) == 0
    assert "replayed 2 dead deliveries" in capsys.readouterr().out
    assert inbox.get(junk.id).state is DeliveryState.PENDING

    work = _cli("inbox", "work", "--router", "hooks_for_cli:router", "--once", *base, cwd=tmp_path)
    work.communicate(timeout=60)
    assert inbox.get(ok.id).state is DeliveryState.DONE
    time.sleep(0.1)  # --older-than 0.000001 days: finished more than 0.09 s ago
    assert main(["inbox", "purge", "--older-than", "0.000001", *base]) == 0
    assert capsys.readouterr().out.strip() == "removed 1 bodies"
    assert inbox.get(ok.id).body is None
    assert main(["inbox", "replay", str(ok.id), *base]) == 1  # purged: cannot run again


def test_work_stops_gracefully_on_sigterm(url: str, tmp_path: pathlib.Path) -> None:
    Inbox(url).migrate()
    work = _cli(
        "inbox", "work", "--router", "hooks_for_cli:router", "--concurrency", "2",
        "--inbox", url, cwd=tmp_path,
    )  # fmt: skip
    try:
        inbox = Inbox(url)
        stored = inbox.store(_body(5))
        deadline = time.monotonic() + 30
        while inbox.get(stored.id).state is not DeliveryState.DONE:
            assert time.monotonic() < deadline, "the worker did not process the delivery"
            time.sleep(0.05)
        work.send_signal(signal.SIGTERM)
        out, err = work.communicate(timeout=30)
    finally:
        if work.poll() is None:
            work.kill()
            work.wait()
    assert work.returncode == 0, err
    assert out.strip() == "processed 1"
    assert "SIGTERM received" in err
    assert inbox.stats()["processing"] == 0


@pytest.mark.parametrize(
    "command",
    [["stats"], ["list"], ["show", "1"], ["replay", "--dead"], ["purge", "--older-than", "1"]],
)
def test_read_and_repair_commands_refuse_a_missing_sqlite_file(
    url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """From the wrong directory, ``sqlite:///name`` is a missing file: exit 2, nothing created."""
    assert main(["inbox", *command, "--inbox", "sqlite:///typo.sqlite3"]) == 2
    err = capsys.readouterr().err
    assert f"no inbox at {tmp_path / 'typo.sqlite3'}" in err
    assert "inbox migrate" in err
    assert not (tmp_path / "typo.sqlite3").exists()


def test_work_says_which_inbox_and_router_it_works_on(url: str, tmp_path: pathlib.Path) -> None:
    """The worker's first log line names the inbox (absolute path) and the router."""
    worker = _cli(
        "inbox", "work", "--router", "hooks_for_cli:router", "--once",
        "--inbox", "sqlite:///relative.sqlite3", cwd=tmp_path,
    )  # fmt: skip
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "processed 0" in out
    assert (
        f"inbox worker on sqlite:///{tmp_path / 'relative.sqlite3'}, "
        "router hooks_for_cli:router, concurrency 1 (once)"
    ) in err
