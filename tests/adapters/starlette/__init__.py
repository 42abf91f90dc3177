"""Tests of the Starlette/FastAPI adapter (``boltcall_webhooks.starlette``)."""
