"""The URLconf of the inbox app tests: the admin, and the inbox view on ``Inbox("django")``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from boltcall_webhooks.django import BoltcallWebhookView
from boltcall_webhooks.inbox import Inbox

INBOX = Inbox("django")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("hook/", BoltcallWebhookView.as_view(inbox=INBOX)),
    path("hook-async/", BoltcallWebhookView.as_view(inbox=INBOX, boltcall_async=True)),
]
