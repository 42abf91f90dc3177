"""URLs of the example project."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/boltcall/", views.BoltcallWebhook.as_view()),
    path("webhooks/boltcall-mw/", views.middleware_guarded),
    path("webhooks/boltcall-async/", views.async_webhook),
]
