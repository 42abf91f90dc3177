"""The ``boltcall-webhooks`` command line (also ``python -m boltcall_webhooks``).

One module of this package per command group, each exposing
``add_parser(subparsers)``, which adds its commands to the top-level parser:

- ``demo``: ``demo``
- ``tools``: ``sign``, ``verify`` and ``sample``
- ``send``: ``send``
- ``listen``: ``listen`` (its HTTP server lives in ``receiver``)
- ``webhooks``: ``webhooks`` (the management API)
- ``inbox``: ``inbox work|stats|list|show|replay|purge|migrate`` (the durable inbox)

``common`` holds what they share (exit codes, ``CliError``, ``--secret``, body
reading, HTTP posting).

To add a command group, write ``_cli/<group>.py`` with ``add_parser`` and append
``"<group>"`` to :data:`COMMAND_GROUPS` (its position is its place in
``--help``). Name the module after its command: if the module cannot be
imported (something it needs is missing), a command of that name is still
offered and reports why, while every other command keeps working.

Every command registers itself with ``set_defaults(func=...)``; ``func``
takes the parsed namespace and returns the exit status: 0 success, 1 a
verification or delivery failed, 2 bad usage or configuration. When the
reader of stdout goes away (``... | head -c1``) the command stops quietly with
141, as a Unix tool killed by ``SIGPIPE`` does.

The import chain of everything but ``webhooks`` is the standard library and
this package, so ``python3 -m boltcall_webhooks demo`` runs from a fresh clone.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from typing import TYPE_CHECKING, Final, cast

from boltcall_webhooks import __version__
from boltcall_webhooks._cli.common import EXIT_USAGE, CliError
from boltcall_webhooks._errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

COMMAND_GROUPS: Final[tuple[str, ...]] = ("demo", "tools", "send", "listen", "webhooks", "inbox")
"""The modules of this package that add commands, in ``--help`` order."""

PROG: Final = "boltcall-webhooks"
EXIT_STDOUT_CLOSED: Final = 141
"""The reader of stdout went away (128 + SIGPIPE, as the shell reports for ``cat``)."""

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
    for group in COMMAND_GROUPS:
        _add_group(subparsers, group)
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
        status = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
    except BrokenPipeError:
        return _stdout_closed()
    except CliError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except ConfigurationError as exc:
        print(f"{PROG} {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status


def _stdout_closed() -> int:
    """Stop quietly when the reader of stdout has gone (``... | head -c1``).

    Like a Unix tool killed by ``SIGPIPE``, exit with 141 (128 + 13), whatever
    the command was doing, so that ``set -o pipefail`` sees the same status as
    for ``cat``. Output still buffered is dropped: stdout is pointed at
    ``/dev/null`` so that flushing it at exit cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (embedded use)
        pass
    return EXIT_STDOUT_CLOSED


def _add_group(subparsers: SubParsers, group: str) -> None:
    """Add the commands of the module ``group`` of this package.

    A module that fails to import (something it needs is missing) is offered
    as the command ``group``, which reports why; the other groups are not
    affected.
    """
    try:
        module = importlib.import_module(f"{__name__}.{group}")
    except ImportError as exc:
        _add_unavailable(subparsers, group, f"{type(exc).__name__}: {exc}")
        return
    add_parser = cast("Callable[[SubParsers], None]", module.add_parser)
    add_parser(subparsers)


def _add_unavailable(subparsers: SubParsers, command: str, reason: str) -> None:
    parser = subparsers.add_parser(command, help=f"{command} (unavailable here)")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def unavailable(args: argparse.Namespace) -> int:
        del args
        print(f"{PROG} {command}: unavailable: {reason}", file=sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=unavailable)
