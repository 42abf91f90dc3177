"""Settings of the example project: the inbox app on SQLite, the secret from the environment."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Development defaults; set DJANGO_SECRET_KEY (and DJANGO_DEBUG=0) in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "boltcall_demo.urls"
WSGI_APPLICATION = "boltcall_demo.wsgi.application"
USE_TZ = True
# The inbox lives in the project's database: `python manage.py migrate` creates its tables.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BOLTCALL_DEMO_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "boltcall_webhooks.django",  # the inbox: models, admin, manage.py boltcall_inbox
]
# What `manage.py boltcall_inbox work` runs.
BOLTCALL_ROUTER = "boltcall_demo.hooks.router"
STATIC_URL = "static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

MIDDLEWARE = [
    # First, so that nothing parses the body of a guarded path before it is verified.
    "boltcall_webhooks.django.BoltcallWebhookMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# The secret shown once when the webhook was created. Leaving it unset makes
# the adapter read the BOLTCALL_WEBHOOK_SECRET environment variable itself;
# with neither, every webhook is refused with a 500 (never accepted).
BOLTCALL_WEBHOOK_SECRET = os.environ.get("BOLTCALL_WEBHOOK_SECRET")
# Paths verified by BoltcallWebhookMiddleware (the other views verify themselves).
BOLTCALL_WEBHOOK_PATHS = ["/webhooks/boltcall-mw/"]
