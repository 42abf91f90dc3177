"""The inbox in the Django admin: deliveries read-only, replayed by an action.

The change list shows when each delivery was received, its event type, state,
attempts, duplicates and key, filtered by state and type and searched by key
or resource id (the envelope's ``data.id``). A delivery's page shows its body
pretty-printed, its last error and traceback and its handlers' successes, all
read-only: nobody edits a body or a key, adds or deletes a delivery here.

Two actions need the ``boltcall_webhooks.replay_delivery`` permission ("Can
replay deliveries"; superusers have it): *Replay* runs the selected deliveries
again from scratch (every handler), *Replay dead* every ``dead`` delivery.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.utils.html import format_html

from boltcall_webhooks.django.models import Delivery, HandlerRun
from boltcall_webhooks.inbox import Inbox, InboxError

if TYPE_CHECKING:
    from collections.abc import Sequence

    # django-stubs' own aliases: a subclass must repeat the declared types exactly.
    from django.contrib.admin.options import (  # pyright: ignore[reportPrivateUsage]
        InlineModelAdmin,
        _ActionCallable,  # pyright: ignore[reportPrivateUsage]
        _FieldGroups,  # pyright: ignore[reportPrivateUsage]
        _ListDisplayT,  # pyright: ignore[reportPrivateUsage]
        _ListFilterT,  # pyright: ignore[reportPrivateUsage]
    )
    from django.db.models import QuerySet
    from django.db.models.query import _OrderByFieldName  # pyright: ignore[reportPrivateUsage]
    from django.http import HttpRequest
    from django.utils.datastructures import _ListOrTuple  # pyright: ignore[reportPrivateUsage]
    from typing_extensions import Self

    _DeliveryAdmin = admin.ModelAdmin[Delivery]
    _HandlerRunInline = admin.TabularInline[HandlerRun, Delivery]
else:  # Django's admin classes are not subscriptable at run time
    _DeliveryAdmin = admin.ModelAdmin
    _HandlerRunInline = admin.TabularInline

__all__ = ["DeliveryAdmin"]

REPLAY_PERMISSION = "boltcall_webhooks.replay_delivery"
# The fields of a delivery's page, all read-only.
_DETAIL_FIELDS = (
    "key",
    "state",
    "event_type",
    "resource_id",
    "received_at",
    "attempts",
    "next_attempt_at",
    "duplicates",
    "finished_at",
    "lease_owner",
    "lease_expires_at",
    "error",
    "traceback",
    "pretty_body",
)


def _inbox(database: str) -> Inbox:
    return Inbox("django" if database == "default" else f"django://{database}")


def _pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


class HandlerRunInline(_HandlerRunInline):
    """The handlers that succeeded for a delivery (a retry skips them)."""

    model = HandlerRun
    fields: ClassVar[_FieldGroups | None] = ("handler", "attempt", "succeeded_at")
    readonly_fields: ClassVar[_ListOrTuple[str]] = ("handler", "attempt", "succeeded_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Successes are recorded by the worker only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Read-only."""
        return False


@admin.register(Delivery)
class DeliveryAdmin(_DeliveryAdmin):
    """Deliveries, read-only, with the *Replay* and *Replay dead* actions."""

    list_display: _ListDisplayT[Delivery] = (
        "id",
        "received_at",
        "event_type",
        "state",
        "attempts",
        "duplicates",
        "key",
    )
    list_display_links: _ListDisplayT[Delivery] | None = ("id", "received_at")
    list_filter: ClassVar[_ListOrTuple[_ListFilterT]] = ("state", "event_type")
    search_fields: ClassVar[_ListOrTuple[str]] = ("=key", "=resource_id")
    ordering: ClassVar[_ListOrTuple[_OrderByFieldName] | None] = ("-id",)
    actions: Sequence[_ActionCallable[Self, Delivery] | str] | None = ("replay", "replay_dead")
    inlines: ClassVar[_ListOrTuple[type[InlineModelAdmin[Any, Any]]]] = (HandlerRunInline,)
    fields: ClassVar[_FieldGroups | None] = _DETAIL_FIELDS
    readonly_fields: ClassVar[_ListOrTuple[str]] = _DETAIL_FIELDS

    # -- read-only -----------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Deliveries come from Boltcall only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Nobody edits a delivery (its body, key or state) here."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Keys are tombstones that recognise late re-sends; ``purge`` removes them."""
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """``boltcall_webhooks.replay_delivery`` (superusers have it)."""
        user: Any = request.user
        return bool(user.has_perm(REPLAY_PERMISSION))

    # -- detail ----------------------------------------------------------------------

    @admin.display(description="body")
    def pretty_body(self, obj: Delivery) -> str:
        """The body, indented if it is JSON; ``(purged)`` once removed."""
        if obj.body is None:
            return "(purged)"
        raw = bytes(obj.body)
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
        return _pre(text)

    @admin.display(description="last error")
    def error(self, obj: Delivery) -> str:
        """The last attempt's error (one line per failed handler)."""
        return _pre(obj.last_error) if obj.last_error else "-"

    @admin.display(description="last traceback")
    def traceback(self, obj: Delivery) -> str:
        """The last attempt's tracebacks."""
        return _pre(obj.last_traceback) if obj.last_traceback else "-"

    # -- actions ---------------------------------------------------------------------

    @admin.action(description="Replay (run every handler again)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Replay each selected delivery that still has its body."""
        inbox = _inbox(queryset.db)
        done, skipped = 0, 0
        for delivery_id in queryset.values_list("id", flat=True):
            try:
                inbox.replay(delivery_id)
            except InboxError:  # its body was purged (or it is gone): the rest go on
                skipped += 1
            else:
                done += 1
        self.message_user(request, f"Replayed {done} deliveries.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} could not be replayed (their bodies were purged).",
                messages.WARNING,
            )

    @admin.action(
        description="Replay dead (every dead delivery, not only the selected)",
        permissions=["replay"],
    )
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Replay every ``dead`` delivery that still has its body."""
        count = _inbox(queryset.db).replay_dead()
        self.message_user(request, f"Replayed {count} dead deliveries.", messages.SUCCESS)
