"""Tests of the Django adapter (``boltcall_webhooks.django``)."""
