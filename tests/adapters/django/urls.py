"""The URLconf of the test settings; the views read their secret from settings."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("cbv/", views.SyncWebhook.as_view()),
    path("cbv-async/", views.AsyncWebhook.as_view()),
    path("cbv-none/", views.NoneWebhook.as_view()),
    path("cbv-dispatch/", views.DispatchOverridingWebhook.as_view()),
    path("cbv-failing/", views.FailingWebhook.as_view()),
    path("mixin/", views.MixinWebhook.as_view()),
    path("function/", views.function_webhook),
    path("function-async/", views.async_function_webhook),
    path("guarded/", views.plain_view),
    path("guarded-async/", views.async_plain_view),
    path("unguarded/", views.plain_view),
    path("hello/", views.hello),
]
