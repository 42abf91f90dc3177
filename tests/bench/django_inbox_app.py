"""The Django app of ``bench_django_inbox.py``: one settings-less module, two routes.

``/verify`` is the plain verified view (``as_view(router=Router())``: verify, run
no handler, answer); ``/inbox`` stores each verified delivery with
``Inbox("django")`` before answering. The database comes from the environment:
``BENCH_DJANGO_PGDB`` (PostgreSQL, persistent connections, as a production
project would configure them) or ``BENCH_DJANGO_SQLITE`` (a file).
"""

from __future__ import annotations

import os

import django
from django.conf import settings

if os.environ.get("BENCH_DJANGO_PGDB"):
    DATABASE = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_DJANGO_PGDB"],
        "USER": os.environ.get("BENCH_DJANGO_PGUSER", "postgres"),
        "HOST": os.environ.get("BENCH_DJANGO_PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DJANGO_PGPORT", "5432"),
        "CONN_MAX_AGE": None,
    }
else:
    DATABASE = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_DJANGO_SQLITE"],
        "OPTIONS": {"timeout": 30},
    }

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        DATABASES={"default": DATABASE},
        INSTALLED_APPS=["boltcall_webhooks.django"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],  # sets Content-Length
        BOLTCALL_WEBHOOK_SECRET=os.environ.get("BENCH_SECRET", "whsec_bench_secret_0123456789"),
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from boltcall_webhooks import Event, Router
from boltcall_webhooks.django import BoltcallWebhookView
from boltcall_webhooks.inbox import Inbox


class BareInsert(BoltcallWebhookView):
    """Verify, then one bare INSERT of the body (the floor of any durable store)."""

    def handle_event(self, request: HttpRequest, event: Event) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_bare (body) VALUES (%s)", [request.body])
        return HttpResponse(b'{"received": true}', content_type="application/json")


urlpatterns = [
    path("verify", BoltcallWebhookView.as_view(router=Router())),
    path("bare", BareInsert.as_view()),
    path("inbox", BoltcallWebhookView.as_view(inbox=Inbox("django"))),
]

application = get_wsgi_application()
