"""URLs of the example project."""

from __future__ import annotations

from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView

from . import views

urlpatterns = [
    # 1. The ready view: verifies, runs the router's handlers, answers {"received": true}.
    path("webhooks/boltcall/", BoltcallWebhookView.as_view(router=views.router)),
    # The same, as an async view for ASGI servers (sync handlers run in worker threads).
    path(
        "webhooks/boltcall-async-router/",
        BoltcallWebhookView.as_view(router=views.router, boltcall_async=True),
    ),
    # 2. Your own views.
    path("webhooks/boltcall-view/", views.BoltcallWebhook.as_view()),
    path("webhooks/boltcall-mw/", views.middleware_guarded),
    path("webhooks/boltcall-async/", views.async_webhook),
]
