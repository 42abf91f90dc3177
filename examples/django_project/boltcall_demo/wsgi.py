"""WSGI entry point: ``gunicorn boltcall_demo.wsgi`` (from examples/django_project)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "boltcall_demo.settings")

application = get_wsgi_application()
