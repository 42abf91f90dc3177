"""The Django app of the inbox: ``INSTALLED_APPS += ["boltcall_webhooks.django"]``.

Installing the app adds the inbox's two tables (through its migrations), the
admin pages of the deliveries and ``manage.py boltcall_inbox``; ``Inbox("django")``
then stores into the project's database. The adapter (views, middleware,
decorator) works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    # django-stubs' own aliases: a subclass must repeat the declared types exactly.
    from django.utils.functional import (  # pyright: ignore[reportPrivateUsage]
        _Getter,  # pyright: ignore[reportPrivateUsage]
        _StrOrPromise,  # pyright: ignore[reportPrivateUsage]
    )

__all__ = ["BoltcallWebhooksConfig"]


class BoltcallWebhooksConfig(AppConfig):
    """The app: label ``boltcall_webhooks``, tables ``boltcall_webhooks_*``."""

    name = "boltcall_webhooks.django"
    label = "boltcall_webhooks"
    verbose_name: _StrOrPromise = "Boltcall webhooks"
    default_auto_field: str | _Getter[str] = "django.db.models.BigAutoField"
