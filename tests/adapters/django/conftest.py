"""Configure Django from the test settings module, without pytest-django."""

from __future__ import annotations

import os

import django

os.environ["DJANGO_SETTINGS_MODULE"] = f"{__name__.rpartition('.')[0]}.settings"
django.setup()
