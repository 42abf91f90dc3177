"""``manage.py boltcall_inbox work|stats|list|show|replay|purge``: the inbox CLI for Django.

The same commands, options, output and exit statuses as ``boltcall-webhooks
inbox`` (0 success, 1 a delivery asked for is not there, 2 usage, configuration
or database error), on ``Inbox("django")``: the project's database (another one
with ``--database ALIAS``). ``work`` takes the router as a dotted path
(``--router myapp.hooks.router``) or from the ``BOLTCALL_ROUTER`` setting;
SIGTERM or SIGINT stops it gracefully (running handlers finish, nothing is left
leased).
"""

# The command reuses the CLI's private implementation (same parsing, output, statuses).
# pyright: reportPrivateUsage=false

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from boltcall_webhooks._cli import inbox as cli
from boltcall_webhooks._cli.common import EXIT_USAGE, CliError
from boltcall_webhooks._cli.tools import positive_int, positive_seconds
from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks.inbox import DeliveryState, Inbox, InboxError

ROUTER_SETTING = "BOLTCALL_ROUTER"


def load_router(spec: str | None) -> Any:
    """The router at ``spec`` (``pkg.module.router`` or ``pkg.module:router``) or the setting.

    Raises:
        CommandError: None given, not importable, or not a router (exit status 2).
    """
    spec = spec or getattr(settings, ROUTER_SETTING, None)
    if not spec:
        msg = f"give --router myapp.hooks.router or set {ROUTER_SETTING} in the settings"
        raise CommandError(msg, returncode=EXIT_USAGE)
    if not isinstance(spec, str):  # the setting holds the router itself
        router: Any = spec
    else:
        try:
            router = import_string(spec.replace(":", "."))
        except ImportError as exc:
            msg = f"cannot import the router {spec!r}: {exc}"
            raise CommandError(msg, returncode=EXIT_USAGE) from None
    if not callable(getattr(router, "handlers_for", None)):
        msg = f"{spec!r} is not a boltcall_webhooks.Router"
        raise CommandError(msg, returncode=EXIT_USAGE)
    return router


class Command(BaseCommand):
    """Run the inbox worker, or look at and repair the inbox, from ``manage.py``."""

    help = (
        "Run the Boltcall inbox worker (work) or operate the inbox: stats, list, show, "
        "replay, purge. The router comes from --router or settings.BOLTCALL_ROUTER."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The subcommands of ``boltcall-webhooks inbox``; ``--database`` replaces ``--inbox``."""
        common = CommandParser(add_help=False)
        common.add_argument(
            "--database", default="default", metavar="ALIAS", help="the database (default)"
        )
        commands = parser.add_subparsers(
            title="commands", dest="inbox_command", metavar="CMD", required=True
        )
        # Django < 5.1 does not pass this on to subparsers (usage errors: exit status 2).
        extra: dict[str, Any] = {
            "called_from_command_line": getattr(parser, "called_from_command_line", None)
        }

        def add(name: str, summary: str) -> Any:
            return commands.add_parser(
                name, parents=[common], help=summary, description=summary, **extra
            )

        work = add("work", "run the worker loop until SIGTERM/SIGINT (or until idle: --once)")
        work.add_argument("--router", metavar="DOTTED.PATH", help="e.g. myapp.hooks.router")
        work.add_argument("--concurrency", type=positive_int, default=1, metavar="N")
        work.add_argument("--lease", type=positive_seconds, default=None, metavar="SECONDS")
        work.add_argument("--once", action="store_true", help="process what is due, then exit")

        stats = add("stats", "count the deliveries in each state")
        stats.add_argument("--json", action="store_true", help="print a JSON object")

        listing = add("list", "list deliveries, newest first")
        listing.add_argument("--state", choices=[state.value for state in DeliveryState])
        listing.add_argument("--type", metavar="T", help="only this event type")
        listing.add_argument("--limit", type=positive_int, default=50, metavar="N")
        listing.add_argument("--json", action="store_true", help="print a JSON array")
        listing.add_argument("--body", action="store_true", help="with --json: include bodies")

        show = add("show", "show one delivery (error and traceback included)")
        show.add_argument("id", type=positive_int, metavar="ID")
        show.add_argument("--body", action="store_true", help="print the body too")
        show.add_argument("--json", action="store_true", help="print a JSON object")

        replay = add("replay", "run deliveries again from scratch (every handler)")
        replay.add_argument("ids", nargs="*", type=positive_int, metavar="ID")
        replay.add_argument("--dead", action="store_true", help="replay every dead delivery")

        purge = add("purge", "remove the bodies of old done deliveries (keys stay)")
        purge.add_argument("--older-than", required=True, type=cli._days, metavar="DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the subcommand; a failure becomes a ``CommandError`` with the CLI's status."""
        command = options.pop("inbox_command")
        database = options.pop("database")
        url = "django" if database == "default" else f"django://{database}"
        runs: dict[str, Callable[[argparse.Namespace], int]] = {
            "stats": cli._stats,
            "list": cli._list,
            "show": cli._show,
            "replay": cli._replay,
            "purge": cli._purge,
        }
        try:
            if command == "work":
                status = self._work(url, options)
            else:
                status = runs[command](argparse.Namespace(inbox=url, **options))
        except CliError as exc:
            raise CommandError(str(exc), returncode=exc.code) from None
        except (InboxError, ConfigurationError) as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        if status:  # replay: some deliveries were not there (each reported)
            msg = "some deliveries could not be replayed"
            raise CommandError(msg, returncode=status)

    def _work(self, url: str, options: dict[str, Any]) -> int:
        router = load_router(options["router"])
        lease = options["lease"]
        inbox = Inbox(url) if lease is None else Inbox(url, lease=lease)
        logger = logging.getLogger("boltcall_webhooks.inbox")
        if not logger.handlers and not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        count = inbox.work(router, concurrency=options["concurrency"], once=options["once"])
        self.stdout.write(f"processed {count}")
        inbox.close()
        return 0
