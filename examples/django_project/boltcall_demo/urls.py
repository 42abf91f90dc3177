"""URLs of the example project."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView

from . import views
from .hooks import inbox, router

urlpatterns = [
    # 0. The inbox: verify, store in the database, answer {"received": true, "duplicate": ...};
    #    `manage.py boltcall_inbox work` runs the handlers; the admin shows and replays them.
    path("webhooks/boltcall-inbox/", BoltcallWebhookView.as_view(inbox=inbox)),
    path("admin/", admin.site.urls),
    # 1. The ready view: verifies, runs the router's handlers, answers {"received": true}.
    path("webhooks/boltcall/", BoltcallWebhookView.as_view(router=router)),
    # The same, as an async view for ASGI servers (sync handlers run in worker threads).
    path(
        "webhooks/boltcall-async-router/",
        BoltcallWebhookView.as_view(router=router, boltcall_async=True),
    ),
    # 2. Your own views.
    path("webhooks/boltcall-view/", views.BoltcallWebhook.as_view()),
    path("webhooks/boltcall-mw/", views.middleware_guarded),
    path("webhooks/boltcall-async/", views.async_webhook),
]
