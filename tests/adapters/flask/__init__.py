"""Tests of the Flask adapter (``boltcall_webhooks.flask``)."""
