"""The test settings on PostgreSQL: a database of their own on the tests' server.

The server is ``$BOLTCALL_TEST_POSTGRES_URL`` (default: the local one, as for the
inbox tests); ``$BOLTCALL_TEST_DJANGO_PGDB`` names the database (set here for
child processes to share). The session fixture (``inbox_db.py``) creates it,
migrates it and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import unquote, urlsplit

from .settings import *  # noqa: F403

_SERVER = urlsplit(
    os.environ.get("BOLTCALL_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.setdefault(
            "BOLTCALL_TEST_DJANGO_PGDB", f"bt_django_{uuid.uuid4().hex[:10]}"
        ),
        "USER": unquote(_SERVER.username or "postgres"),
        "PASSWORD": unquote(_SERVER.password or ""),
        "HOST": _SERVER.hostname or "127.0.0.1",
        "PORT": str(_SERVER.port or 5432),
    },
    "other": OTHER_DATABASE,  # noqa: F405 - a SQLite file, as in settings
}
