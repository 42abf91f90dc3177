"""Settings of the example project: no database, the webhook secret from the environment."""

from __future__ import annotations

import os

# Development defaults; set DJANGO_SECRET_KEY (and DJANGO_DEBUG=0) in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "boltcall_demo.urls"
WSGI_APPLICATION = "boltcall_demo.wsgi.application"
DATABASES: dict[str, object] = {}
INSTALLED_APPS: list[str] = []
USE_TZ = True

MIDDLEWARE = [
    # First, so that nothing parses the body of a guarded path before it is verified.
    "boltcall_webhooks.django.BoltcallWebhookMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

# The secret shown once when the webhook was created. Leaving it unset makes
# the adapter read the BOLTCALL_WEBHOOK_SECRET environment variable itself;
# with neither, every webhook is refused with a 500 (never accepted).
BOLTCALL_WEBHOOK_SECRET = os.environ.get("BOLTCALL_WEBHOOK_SECRET")
# Paths verified by BoltcallWebhookMiddleware (the other views verify themselves).
BOLTCALL_WEBHOOK_PATHS = ["/webhooks/boltcall-mw/"]
