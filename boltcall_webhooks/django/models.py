"""The inbox as Django models: one row per delivery, one per handler success.

The fields mirror the SQLite schema (``boltcall_webhooks/inbox/sql``); the
state machine and its rules are the inbox's (:mod:`boltcall_webhooks.inbox`),
applied by the ORM backend (:mod:`boltcall_webhooks.django._backend`). Rows are
written by the inbox only: the admin shows them read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.db import models

from boltcall_webhooks._delivery import DeliveryState

__all__ = ["STATES", "Delivery", "HandlerRun"]

#: The states of :class:`boltcall_webhooks.inbox.DeliveryState`, as field choices.
STATES: list[tuple[str, str]] = [(state.value, state.value) for state in DeliveryState]


class Delivery(models.Model):
    """A verified delivery kept by the inbox (its body until purged, its key longer)."""

    key: models.TextField[str, str] = models.TextField(
        unique=True, help_text="The dedupe key (the same on every re-send)."
    )
    state: models.CharField[str, str] = models.CharField(
        max_length=16, choices=STATES, default="pending"
    )
    event_type: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True, blank=True, help_text="Empty: the body is not an envelope."
    )
    resource_id: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True, blank=True, help_text="The envelope's data.id."
    )
    body: models.BinaryField[bytes | None, bytes | memoryview | None] = models.BinaryField(
        null=True, help_text="The raw body; empty once purged."
    )
    received_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    attempts: models.IntegerField[int, int] = models.IntegerField(default=0)
    next_attempt_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    lease_owner: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True, blank=True
    )
    lease_token: models.BigIntegerField[int, int] = models.BigIntegerField(
        default=0, help_text="Fencing: bumped by claims."
    )
    lease_expires_at: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(null=True, blank=True)
    )
    last_error: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    last_traceback: models.TextField[str | None, str | None] = models.TextField(
        null=True, blank=True
    )
    duplicates: models.IntegerField[int, int] = models.IntegerField(default=0)
    finished_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    purged: models.BooleanField[bool, bool] = models.BooleanField(default=False)

    class Meta:
        verbose_name = "delivery"
        verbose_name_plural = "deliveries"
        ordering: ClassVar[list[str]] = ["-id"]
        permissions: ClassVar[list[tuple[str, str]]] = [
            ("replay_delivery", "Can replay deliveries"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["next_attempt_at"],
                name="boltcall_inbox_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="boltcall_inbox_leases",
                condition=models.Q(state="processing"),
            ),
            models.Index(
                fields=["finished_at"],
                name="boltcall_inbox_finished",
                condition=models.Q(state="done"),
            ),
            models.Index(fields=["state", "event_type"], name="boltcall_inbox_state_type"),
            models.Index(fields=["resource_id"], name="boltcall_inbox_resource"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event_type or 'not an envelope'}, {self.state})"


class HandlerRun(models.Model):
    """A handler's recorded success for a delivery (a retry skips it)."""

    id: int
    delivery_id: int
    delivery: models.ForeignKey[Delivery, Delivery] = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="handler_runs"
    )
    handler: models.CharField[str, str] = models.CharField(max_length=255)
    succeeded_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    attempt: models.IntegerField[int, int] = models.IntegerField()

    class Meta:
        verbose_name = "handler run"
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["delivery", "handler"], name="boltcall_inbox_one_success"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.handler} on delivery {self.delivery_id}"
