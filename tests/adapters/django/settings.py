"""The Django settings of the adapter tests: the inbox app and the admin on a SQLite file.

The adapter needs no database; the inbox app's tests (``test_inbox_*``) do. The
file is ``$BOLTCALL_TEST_DJANGO_SQLITE`` (set here for child processes to share);
``settings_postgres`` runs the same tests on PostgreSQL.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_PACKAGE = __name__.rpartition(".")[0]

SECRET_KEY = "django-tests-only-not-a-webhook-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = f"{_PACKAGE}.urls"
USE_TZ = True
if "BOLTCALL_TEST_DJANGO_SQLITE" not in os.environ:
    # Made once, by the first process (child processes inherit the variable), and
    # removed when that process ends.
    _folder = tempfile.mkdtemp(prefix="boltcall-django-")
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
    os.environ["BOLTCALL_TEST_DJANGO_SQLITE"] = os.path.join(_folder, "db.sqlite3")
DATABASES: dict[str, object] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BOLTCALL_TEST_DJANGO_SQLITE"],
        "OPTIONS": {"timeout": 30},
    }
}
# A second database for Inbox("django://other") (a SQLite file beside the first).
OTHER_DATABASE = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.path.join(
        os.path.dirname(DATABASES["default"]["NAME"]),  # type: ignore[index]
        "other.sqlite3",
    ),
    "OPTIONS": {"timeout": 30},
}
DATABASES["other"] = OTHER_DATABASE
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "boltcall_webhooks.django",
]
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
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
# manage.py boltcall_inbox work reads the router from here when --router is not given.
BOLTCALL_ROUTER = os.environ.get("BOLTCALL_TEST_ROUTER")
# The URL-routed views in urls.py read their secret from here.
BOLTCALL_WEBHOOK_SECRET = "whsec_django_settings_secret_77"
