"""``boltcall-webhooks webhooks``: list, create, delete and rotate webhooks.

A thin layer over :class:`boltcall_webhooks.api.WebhooksClient`. The API key
comes from ``BOLTCALL_API_KEY`` only: a ``--api-key`` option would leave the
key in shell history and in the process list. Each action returns the exit
status: 0 done, 1 the API call failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Final

from boltcall_webhooks._errors import ConfigurationError
from boltcall_webhooks._events import EventType
from boltcall_webhooks._secrets import SECRET_ENV_VAR
from boltcall_webhooks.api import (
    API_KEY_ENV_VAR,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ApiError,
    CreatedWebhook,
    Webhook,
    WebhooksClient,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from boltcall_webhooks._cli.common import SubParsers

__all__ = ["add_parser"]

EXIT_OK: Final = 0
EXIT_API: Final = 1
EXIT_USAGE: Final = 2
_PROG: Final = "boltcall-webhooks webhooks"
_EVENTS: Final = tuple(member.value for member in EventType)

_DESCRIPTION: Final = f"""\
Manage the webhook subscriptions of your Boltcall workspace through the
management API: list them, register one (its secret is shown only once),
delete one, or rotate a secret with an overlap period.

The API key is read from ${API_KEY_ENV_VAR} (there is deliberately no option
for it: options end up in shell history and in the process list)."""

_EPILOG: Final = f"""\
examples:
  export {API_KEY_ENV_VAR}=...            # your workspace API key
  boltcall-webhooks webhooks list
  boltcall-webhooks webhooks create --url https://example.com/boltcall --event new_lead
  boltcall-webhooks webhooks delete wh_123
  boltcall-webhooks webhooks rotate wh_123

exit status: 0 done, 1 the API call failed, 2 usage or configuration error
"""

_ROTATE_DESCRIPTION: Final = """\
Replace a webhook's secret without losing events. Boltcall never shows a
secret twice and cannot change one, so rotating means registering a second
webhook with the same URL, event and name, running both for a while, then
deleting the old one."""

_ROTATE_EPILOG: Final = f"""\
rotation, step by step:
  1. boltcall-webhooks webhooks rotate OLD_ID
       Registers the replacement and prints its id and new secret (once).
       Both webhooks are now active: each event is delivered twice, once
       signed with the old secret and once with the new one.
  2. Configure the receiver with both secrets, the current one first:
       {SECRET_ENV_VAR}=<current secret>,<new secret>
     and deploy it. A receiver that verifies with several secrets accepts
     both deliveries, so it must treat events idempotently (for example by
     their event type and data.id) during the overlap.
  3. Once the new webhook's deliveries are accepted (Boltcall dashboard):
       boltcall-webhooks webhooks delete OLD_ID
  4. Remove the old secret: {SECRET_ENV_VAR}=<new secret>.

A leaked secret: in step 2, give the receiver the new secret only. Requests
signed with the leaked one are refused from then on, and no event is lost:
the new webhook delivers each of them too. Then go on with step 3.

--delete-old does step 3 at once, right after creating the replacement. Until
the receiver has the new secret, its deliveries are then refused: they show as
failed in the Boltcall dashboard and must be re-sent from there by hand.
"""


def add_parser(subparsers: SubParsers) -> None:
    """Add ``webhooks`` with its actions ``list``, ``create``, ``delete`` and ``rotate``."""
    group = subparsers.add_parser(
        "webhooks",
        help="list, create, delete and rotate webhooks (management API)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group.set_defaults(func=_needs_action(group))
    actions = group.add_subparsers(title="actions", dest="webhooks_action", metavar="ACTION")

    connection = argparse.ArgumentParser(add_help=False)
    options = connection.add_argument_group("API options")
    options.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help="API root (default: %(default)s); must be https:// except on 127.0.0.1/localhost",
    )
    options.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="network timeout in seconds (default: %(default)s)",
    )

    listing = _action(actions, connection, "list", "list the workspace's webhooks as a table")
    _add_json_flag(listing)
    listing.set_defaults(func=_run_list)

    create = _action(actions, connection, "create", "register a webhook and print its secret")
    create.add_argument("--url", required=True, help="the https:// URL Boltcall will post to")
    create.add_argument(
        "--event",
        required=True,
        choices=_EVENTS,
        metavar="EVENT",
        help=f"the event it listens to: {', '.join(_EVENTS)}",
    )
    create.add_argument("--name", help="an optional label")
    _add_json_flag(create)
    create.set_defaults(func=_run_create)

    delete = _action(actions, connection, "delete", "delete a webhook (deliveries stop)")
    delete.add_argument("webhook_id", metavar="ID", help="the webhook's id, as listed")
    delete.set_defaults(func=_run_delete)

    rotate = _action(
        actions,
        connection,
        "rotate",
        "replace a webhook by one with a new secret (overlap, then delete)",
        description=_ROTATE_DESCRIPTION,
        epilog=_ROTATE_EPILOG,
    )
    rotate.add_argument("webhook_id", metavar="ID", help="the id of the webhook to replace")
    rotate.add_argument(
        "--delete-old",
        action="store_true",
        help="delete the old webhook right after creating the replacement (deliveries fail "
        "until the receiver has the new secret)",
    )
    _add_json_flag(rotate)
    rotate.set_defaults(func=_run_rotate)


def _action(
    actions: SubParsers,
    parent: argparse.ArgumentParser,
    name: str,
    summary: str,
    *,
    description: str | None = None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    return actions.add_parser(
        name,
        parents=[parent],
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _needs_action(group: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def needs_action(args: argparse.Namespace) -> int:
        del args
        group.print_usage(sys.stderr)
        msg = "an action is required: list, create, delete or rotate."
        print(f"{_PROG}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE

    return needs_action


# Actions ----------------------------------------------------------------------


def _run_list(args: argparse.Namespace) -> int:
    return _guarded(args, "list", _list)


def _run_create(args: argparse.Namespace) -> int:
    return _guarded(args, "create", _create)


def _run_delete(args: argparse.Namespace) -> int:
    return _guarded(args, "delete", _delete)


def _run_rotate(args: argparse.Namespace) -> int:
    return _guarded(args, "rotate", _rotate)


def _guarded(
    args: argparse.Namespace,
    action: str,
    run: Callable[[WebhooksClient, argparse.Namespace], int],
) -> int:
    """Build the client and run the action, turning errors into messages and exit codes."""
    where = f"{_PROG} {action}"
    try:
        if not os.environ.get(API_KEY_ENV_VAR, "").strip():
            msg = f"set {API_KEY_ENV_VAR} to your Boltcall API key."
            raise ConfigurationError(msg)
        client = WebhooksClient(base_url=args.base_url, timeout=args.timeout)
        return run(client, args)
    except ConfigurationError as exc:
        print(f"{where}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError) as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_API


def _list(client: WebhooksClient, args: argparse.Namespace) -> int:
    webhooks = client.list_webhooks()
    if args.json:
        _print_json([_as_json(webhook) for webhook in webhooks])
    elif not webhooks:
        print("No webhooks registered. Create one with: boltcall-webhooks webhooks create")
    else:
        print(_table(webhooks))
    return EXIT_OK


def _create(client: WebhooksClient, args: argparse.Namespace) -> int:
    created = client.create_webhook(args.url, args.event, name=args.name)
    if args.json:
        _print_json(_as_json(created))
        return EXIT_OK
    print(f"Created webhook {_clean(created.id)}: {_describe(created)}.")
    _print_secret(created)
    return EXIT_OK


def _delete(client: WebhooksClient, args: argparse.Namespace) -> int:
    client.delete_webhook(args.webhook_id)
    print(f"Deleted webhook {_clean(args.webhook_id)}: Boltcall no longer delivers to it.")
    return EXIT_OK


def _rotate(client: WebhooksClient, args: argparse.Namespace) -> int:
    old = next((hook for hook in client.list_webhooks() if hook.id == args.webhook_id), None)
    if old is None:
        print(
            f"{_PROG} rotate: error: there is no webhook {_clean(args.webhook_id)} in this "
            "workspace (see: boltcall-webhooks webhooks list).",
            file=sys.stderr,
        )
        return EXIT_API
    new = client.create_webhook(old.url, old.trigger_event, name=old.name)
    old_id, new_id = _clean(old.id), _clean(new.id)
    if not args.json:
        # The secret is printed before anything else can fail: it is never shown again.
        print(f"Created webhook {new_id} to replace {old_id}: {_describe(new)}.")
        _print_secret(new)
    deleted, failure = False, None
    if args.delete_old:
        try:
            client.delete_webhook(old.id)
            deleted = True
        except ApiError as exc:
            failure = exc
    if args.json:
        _print_json({"old": _as_json(old), "new": _as_json(new), "old_deleted": deleted})
    elif deleted:
        print(
            f"\nDeleted the old webhook {old_id}. Until the receiver has the new secret, "
            "deliveries are refused;\nthey show as failed in the Boltcall dashboard, from "
            "where they can be re-sent."
        )
    elif failure is None:
        print(
            f"\nBoth webhooks are active now: each {_clean(old.trigger_event)} event is "
            f"delivered twice,\nsigned once with the old secret ({old_id}) and once with the "
            f"new one ({new_id}).\n\nNext:\n"
            f"  1. Give the receiver both secrets, current first, and deploy it:\n"
            f"       {SECRET_ENV_VAR}=<current secret>,<new secret>\n"
            "     (the current secret cannot be shown: Boltcall never returns it again)\n"
            f"  2. Once {new_id}'s deliveries are accepted, delete the old webhook:\n"
            f"       boltcall-webhooks webhooks delete {old_id}\n"
            f"  3. Keep only the new secret in {SECRET_ENV_VAR}."
        )
    if failure is not None:
        print(
            f"{_PROG} rotate: error: the replacement {new_id} exists, but deleting {old_id} "
            f"failed: {failure} Delete it later with: boltcall-webhooks webhooks delete "
            f"{old_id}",
            file=sys.stderr,
        )
        return EXIT_API
    return EXIT_OK


# Output ---------------------------------------------------------------------


def _clean(value: str) -> str:
    """A value from the network made safe for a terminal: control characters escaped."""
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in value)


def _describe(webhook: Webhook) -> str:
    named = f' "{_clean(webhook.name)}"' if webhook.name else ""
    return f"{_clean(webhook.trigger_event)} -> {_clean(webhook.url)}{named}"


def _print_secret(created: CreatedWebhook) -> None:
    print(
        f"\n  Secret: {created.secret}\n\n"
        "Store this secret now: Boltcall shows it only once. Give it to the receiver, for\n"
        f"example as {SECRET_ENV_VAR} (comma-separated with the secrets of other webhooks)."
    )


def _timestamp(webhook: Webhook) -> str:
    return webhook.created_at.isoformat().replace("+00:00", "Z")


def _as_json(webhook: Webhook) -> dict[str, object]:
    document: dict[str, object] = {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "trigger_event": webhook.trigger_event,
        "is_active": webhook.is_active,
        "created_at": _timestamp(webhook),
    }
    if isinstance(webhook, CreatedWebhook):
        document["secret"] = webhook.secret
    return document


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2))


def _table(webhooks: list[Webhook]) -> str:
    header = ("ID", "EVENT", "ACTIVE", "CREATED", "NAME", "URL")
    rows = [header] + [
        (
            _clean(hook.id),
            _clean(hook.trigger_event),
            "yes" if hook.is_active else "no",
            _timestamp(hook),
            _clean(hook.name) if hook.name else "-",
            _clean(hook.url),
        )
        for hook in webhooks
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    )
