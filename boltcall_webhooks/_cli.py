"""The ``boltcall-webhooks`` command line (also ``python -m boltcall_webhooks``).

Every subcommand registers itself with ``set_defaults(func=...)``; ``func``
takes the parsed namespace and returns the exit status: 0 success, 1 a
verification or delivery failed, 2 bad usage or configuration.

The import chain of everything but ``webhooks`` is the standard library and
this package, so ``python3 -m boltcall_webhooks demo`` runs from a fresh clone.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from typing import TYPE_CHECKING, Final, cast

from boltcall_webhooks import __version__
from boltcall_webhooks._cli_common import EXIT_USAGE, CliError
from boltcall_webhooks._cli_demo import add_demo_parser
from boltcall_webhooks._cli_listen import add_listen_parser
from boltcall_webhooks._cli_send import add_send_parser
from boltcall_webhooks._cli_tools import add_sample_parser, add_sign_parser, add_verify_parser
from boltcall_webhooks._errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from boltcall_webhooks._cli_common import SubParsers

__all__ = ["build_parser", "main"]

PROG: Final = "boltcall-webhooks"

_DESCRIPTION: Final = """\
Sign, verify, send and receive Boltcall webhooks on your machine.

Secrets come from --secret (after the command) or $BOLTCALL_WEBHOOK_SECRET
(comma-separated for several). Bodies come from a FILE argument or stdin.
Run "boltcall-webhooks COMMAND --help" for the options and examples of each command."""

_EPILOG: Final = """\
examples:
  boltcall-webhooks demo
  boltcall-webhooks sample call_completed > body.json
  boltcall-webhooks sign body.json --secret whsec_...
  boltcall-webhooks listen --forward-to http://127.0.0.1:8000/webhooks
  boltcall-webhooks send http://127.0.0.1:8787/ --event new_lead

exit status: 0 success, 1 verification or delivery failed, 2 usage or configuration error
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    add_demo_parser(subparsers)
    add_sign_parser(subparsers)
    add_verify_parser(subparsers)
    add_sample_parser(subparsers)
    add_send_parser(subparsers)
    add_listen_parser(subparsers)
    _add_webhooks_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            # Event fields come from the network: never crash on a narrow terminal encoding.
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (see --help).", file=sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except CliError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except ConfigurationError as exc:
        print(f"{PROG} {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _add_webhooks_commands(subparsers: SubParsers) -> None:
    """Add ``webhooks`` (management API) when its module is available.

    The module is optional at import time: if it is absent the command is
    simply not offered, and if it fails to import, ``webhooks`` reports why
    while every other command keeps working.
    """
    try:
        module = importlib.import_module("boltcall_webhooks._cli_webhooks")
    except ImportError as exc:
        if exc.name == "boltcall_webhooks._cli_webhooks":
            return
        _add_unavailable(subparsers, f"{type(exc).__name__}: {exc}")
        return
    add_parser = cast("Callable[[SubParsers], None]", module.add_webhooks_parser)
    add_parser(subparsers)


def _add_unavailable(subparsers: SubParsers, reason: str) -> None:
    parser = subparsers.add_parser("webhooks", help="manage webhooks (unavailable here)")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def unavailable(args: argparse.Namespace) -> int:
        del args
        print(f"{PROG} webhooks: unavailable: {reason}", file=sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=unavailable)
