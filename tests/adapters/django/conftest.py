"""Configure Django from the test settings module, without pytest-django."""

from __future__ import annotations

import os

import django

# settings_postgres runs the same tests on PostgreSQL (DJANGO_SETTINGS_MODULE set by nox).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{__name__.rpartition('.')[0]}.settings")
django.setup()
