"""The smallest Django settings the adapter tests need (no database)."""

from __future__ import annotations

_PACKAGE = __name__.rpartition(".")[0]

SECRET_KEY = "django-tests-only-not-a-webhook-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = f"{_PACKAGE}.urls"
USE_TZ = True
DATABASES: dict[str, object] = {}
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
# The URL-routed views in urls.py read their secret from here.
BOLTCALL_WEBHOOK_SECRET = "whsec_django_settings_secret_77"
