"""ASGI entry point: ``uvicorn boltcall_demo.asgi:application`` (from examples/django_project)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "boltcall_demo.settings")

application = get_asgi_application()
