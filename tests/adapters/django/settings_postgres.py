"""The test settings on PostgreSQL: a database of their own on the local server.

``$BOLTCALL_TEST_DJANGO_PGDB`` names it (set here for child processes to share);
the tests' session fixture creates it, migrates it and drops it at the end.
"""

from __future__ import annotations

import os
import uuid

from .settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.setdefault(
            "BOLTCALL_TEST_DJANGO_PGDB", f"bt_django_{uuid.uuid4().hex[:10]}"
        ),
        "USER": os.environ.get("BOLTCALL_TEST_DJANGO_PGUSER", "postgres"),
        "HOST": os.environ.get("BOLTCALL_TEST_DJANGO_PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("BOLTCALL_TEST_DJANGO_PGPORT", "5432"),
    }
}
