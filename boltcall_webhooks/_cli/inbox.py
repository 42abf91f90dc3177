"""``inbox``: run workers and operate a durable inbox from the command line.

``inbox work --router MODULE:ATTR [--concurrency N] [--once]``, ``inbox stats``,
``inbox list``, ``inbox show ID``, ``inbox replay ID... | --dead``,
``inbox purge --older-than DAYS``, ``inbox migrate`` and ``inbox relay --to
MODULE:ATTR`` (the task-queue relay loop); each takes
``--inbox URL`` (else ``BOLTCALL_INBOX_URL``). Exit status: 0 success, 1 the
delivery asked for is not there, 2 usage, configuration or database error.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from boltcall_webhooks._cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, CliError
from boltcall_webhooks._cli.tools import positive_int, positive_seconds
from boltcall_webhooks.inbox import (
    URL_ENV_VAR,
    Delivery,
    DeliveryNotFoundError,
    DeliveryState,
    Inbox,
    InboxError,
    Relay,
)
from boltcall_webhooks.inbox._rules import sqlite_path

if TYPE_CHECKING:
    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["add_parser", "delivery_json", "load_router"]

_EXAMPLES: Final = f"""\
  export {URL_ENV_VAR}=sqlite:////var/lib/myapp/boltcall-inbox.sqlite3
  boltcall-webhooks inbox work --router myapp.webhooks:router --concurrency 4
  boltcall-webhooks inbox stats
  boltcall-webhooks inbox list --state dead --limit 20
  boltcall-webhooks inbox show 42 --body
  boltcall-webhooks inbox replay 42 43
  boltcall-webhooks inbox replay --dead
  boltcall-webhooks inbox purge --older-than 30
  boltcall-webhooks inbox migrate --inbox sqlite:///inbox.sqlite3
  boltcall-webhooks inbox relay --to myapp.webhooks:process_delivery

exit status: 0 success, 1 a delivery asked for is not there, 2 usage, configuration
or database error
"""


def add_parser(subparsers: SubParsers) -> None:
    """Register ``inbox`` and its subcommands."""
    parser = subparsers.add_parser(
        "inbox",
        help="run workers and operate the durable inbox",
        description=(
            "Run the worker loop of a durable inbox, look at what it holds and repair it.\n"
            f"The inbox URL comes from --inbox or ${URL_ENV_VAR}."
        ),
        epilog="examples:\n" + _EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--inbox",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${URL_ENV_VAR})",
    )
    commands = parser.add_subparsers(title="inbox commands", dest="inbox_command", metavar="CMD")

    def add(name: str, summary: str, run: Callable[[argparse.Namespace], int]) -> Any:
        sub = commands.add_parser(name, parents=[common], help=summary, description=summary)
        sub.set_defaults(func=run)
        return sub

    work = add("work", "run the worker loop until SIGTERM/SIGINT (or until idle: --once)", _work)
    work.add_argument(
        "--router",
        required=True,
        metavar="MODULE:ATTR",
        help="the Router, e.g. myapp.hooks:router",
    )
    work.add_argument("--concurrency", type=positive_int, default=1, metavar="N")
    work.add_argument(
        "--lease",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how long a claimed delivery is held without renewal (default 300); a killed "
        "worker's delivery is claimed again once its lease expired",
    )
    work.add_argument("--once", action="store_true", help="process what is due now, then exit")

    stats = add("stats", "count the deliveries in each state", _stats)
    stats.add_argument("--json", action="store_true", help="print a JSON object")

    listing = add("list", "list deliveries, newest first", _list)
    listing.add_argument("--state", choices=[state.value for state in DeliveryState])
    listing.add_argument("--type", metavar="T", help="only this event type")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--body", action="store_true", help="with --json: include bodies")

    show = add("show", "show one delivery (error and traceback included)", _show)
    show.add_argument("id", type=positive_int, metavar="ID")
    show.add_argument("--body", action="store_true", help="print the body too")
    show.add_argument("--json", action="store_true", help="print a JSON object")

    replay = add("replay", "run deliveries again from scratch (every handler)", _replay)
    replay.add_argument("ids", nargs="*", type=positive_int, metavar="ID")
    replay.add_argument("--dead", action="store_true", help="replay every dead delivery")

    purge = add("purge", "remove the bodies of old done deliveries (keys stay)", _purge)
    purge.add_argument("--older-than", required=True, type=_days, metavar="DAYS")

    add("migrate", "create or upgrade the inbox schema", _migrate)

    relay = add(
        "relay",
        "hand deliveries that a task queue lost to it again, until SIGTERM/SIGINT (--once: "
        "one pass)",
        _relay,
    )
    relay.add_argument(
        "--to",
        required=True,
        metavar="MODULE:ATTR",
        help="what boltcall_webhooks.celery.register_task or boltcall_webhooks.rq.register_job "
        "returned, or a boltcall_webhooks.inbox.Relay (its inbox is used; --inbox is ignored)",
    )
    relay.add_argument("--once", action="store_true", help="one pass, then exit")

    def usage(args: argparse.Namespace) -> int:
        del args
        parser.print_usage(sys.stderr)
        print(
            "boltcall-webhooks inbox: error: a command is required (see --help).", file=sys.stderr
        )
        return EXIT_USAGE

    parser.set_defaults(func=usage)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        msg = f"expected a positive number of days, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _open(args: argparse.Namespace, *, create: bool = False, **options: Any) -> Inbox:
    """The inbox of ``--inbox`` (else the environment).

    Only ``migrate`` and ``work`` (which may start before the web server's first
    store) create a missing SQLite file: a read or repair command run from the
    wrong directory against a relative ``sqlite:///`` path must not report an
    empty inbox it has just created.
    """
    url = args.inbox or os.environ.get(URL_ENV_VAR, "")
    if not create and url.startswith("sqlite:///"):
        path = sqlite_path(url)
        if not os.path.exists(path):
            msg = (
                f"no inbox at {os.path.abspath(path)} (the file does not exist): check "
                f"--inbox / ${URL_ENV_VAR} and the working directory (sqlite:///name is "
                f"relative to it), or create it with `boltcall-webhooks inbox migrate`"
            )
            raise CliError(msg, EXIT_USAGE)
    return Inbox(args.inbox, **options)


def _guard(run: Callable[[], int]) -> int:
    try:
        return run()
    except DeliveryNotFoundError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    except InboxError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def load_router(spec: str) -> Any:
    """Import ``MODULE:ATTR`` (as gunicorn does: the working directory is importable).

    Raises:
        CliError: Not ``MODULE:ATTR``, not importable, or not a router.
    """
    target = _import(spec, "--router")
    if not callable(getattr(target, "handlers_for", None)):
        msg = f"{spec} is not a boltcall_webhooks.Router"
        raise CliError(msg)
    return target


def _import(spec: str, option: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        msg = f"{option} must look like MODULE:ATTR, got {spec!r}"
        raise CliError(msg)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import {module_name!r}: {exc}"
        raise CliError(msg) from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            msg = f"{module_name!r} has no attribute {attr!r}"
            raise CliError(msg) from None
    return target


def _work(args: argparse.Namespace) -> int:
    router = load_router(args.router)
    options = {} if args.lease is None else {"lease": args.lease}
    inbox = _open(args, create=True, **options)
    logger = logging.getLogger("boltcall_webhooks.inbox")
    if not logger.handlers and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def run() -> int:
        # Say what this worker works on: a relative sqlite:/// path opened from the
        # wrong directory is otherwise a silent, empty inbox.
        logger.info(
            "inbox worker on %s, router %s, concurrency %d%s",
            _where(inbox.url),
            args.router,
            args.concurrency,
            " (once)" if args.once else "",
        )
        count = inbox.work(router, concurrency=args.concurrency, once=args.once)
        print(f"processed {count}")
        return EXIT_OK

    return _guard(run)


def _where(url: str) -> str:
    """``url`` (passwords already redacted), a SQLite file shown with its absolute path."""
    if url.startswith("sqlite:///"):
        return "sqlite:///" + os.path.abspath(sqlite_path(url))
    return url


def _relay(args: argparse.Namespace) -> int:
    target = _import(args.to, "--to")
    relay = target if isinstance(target, Relay) else getattr(target, "relay", None)
    if not isinstance(relay, Relay):
        msg = f"{args.to} is neither a boltcall_webhooks.inbox.Relay nor has one (.relay)"
        raise CliError(msg)
    logger = logging.getLogger("boltcall_webhooks.inbox")
    if not logger.handlers and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def run() -> int:
        if args.once:
            print(f"handed off {relay.run_once()}")
        else:
            relay.run()
        return EXIT_OK

    return _guard(run)


def _stats(args: argparse.Namespace) -> int:
    def run() -> int:
        counts = _open(args).stats()
        if args.json:
            print(json.dumps(counts))
        else:
            for state, count in counts.items():
                print(f"{state:<11} {count}")
        return EXIT_OK

    return _guard(run)


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def delivery_json(delivery: Delivery, *, body: bool = False) -> dict[str, Any]:
    """The fields of ``delivery`` as JSON values (``body`` only if asked, never ``connection``).

    A body that is not UTF-8 is given as ``body_base64`` instead.
    """
    data: dict[str, Any] = {
        "id": delivery.id,
        "key": delivery.key,
        "state": str(delivery.state),
        "event_type": delivery.event_type,
        "received_at": _moment(delivery.received_at),
        "attempts": delivery.attempts,
        "next_attempt_at": _moment(delivery.next_attempt_at),
        "last_error": delivery.last_error,
        "last_traceback": delivery.last_traceback,
        "duplicates": delivery.duplicates,
    }
    if body:
        if delivery.body is None:
            data["body"] = None
        else:
            try:
                data["body"] = delivery.body.decode("utf-8")
            except UnicodeDecodeError:
                data["body_base64"] = base64.b64encode(delivery.body).decode("ascii")
    return data


def _printable(value: object) -> str:
    """One line, control characters escaped (keys and errors come from the network)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in text)


def _list(args: argparse.Namespace) -> int:
    def run() -> int:
        deliveries = _open(args).list(state=args.state, type=args.type, limit=args.limit)
        if args.json:
            print(json.dumps([delivery_json(d, body=args.body) for d in deliveries], indent=2))
            return EXIT_OK
        print(f"{'ID':>8}  {'STATE':<10}  {'TYPE':<20}  {'TRIES':>5}  {'DUPS':>4}  RECEIVED")
        for d in deliveries:
            print(
                f"{d.id:>8}  {d.state.value:<10}  {_printable(d.event_type or '-'):<20}  "
                f"{d.attempts:>5}  {d.duplicates:>4}  {_moment(d.received_at)}"
            )
        return EXIT_OK

    return _guard(run)


def _show(args: argparse.Namespace) -> int:
    def run() -> int:
        delivery = _open(args).get(args.id)
        data = delivery_json(delivery, body=args.body)
        if args.json:
            print(json.dumps(data, indent=2))
            return EXIT_OK
        traceback = data.pop("last_traceback")
        text = data.pop("body", None)
        encoded = data.pop("body_base64", None)
        for name, value in data.items():
            print(f"{name + ':':<17} {_printable('-' if value is None else value)}")
        if delivery.body is None:
            print(f"{'body:':<17} (purged)")
        if traceback:
            print("last_traceback:")
            print(traceback.rstrip("\n"))
        if args.body and delivery.body is not None:
            print("body:")
            if encoded is not None:
                print(f"(base64) {encoded}")
            else:
                print("\n".join(_printable(line) for line in str(text).split("\n")))
        return EXIT_OK

    return _guard(run)


def _replay(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.dead):
        msg = "give delivery IDs or --dead (not both)"
        raise CliError(msg)

    def run() -> int:
        inbox = _open(args)
        if args.dead:
            print(f"replayed {inbox.replay_dead()} dead deliveries")
            return EXIT_OK
        status = EXIT_OK
        for delivery_id in args.ids:
            try:
                inbox.replay(delivery_id)
            except InboxError as exc:  # not there, or its body was purged
                print(f"boltcall-webhooks inbox replay: {exc}", file=sys.stderr)
                status = EXIT_INVALID
            else:
                print(f"replayed {delivery_id}")
        return status

    return _guard(run)


def _purge(args: argparse.Namespace) -> int:
    def run() -> int:
        removed = _open(args).purge(older_than=timedelta(days=args.older_than))
        print(f"removed {removed} bodies")
        return EXIT_OK

    return _guard(run)


def _migrate(args: argparse.Namespace) -> int:
    def run() -> int:
        inbox = _open(args, create=True)
        inbox.migrate()
        print(f"schema up to date: {inbox.url}")
        return EXIT_OK

    return _guard(run)
