"""A minimal Django project receiving Boltcall webhooks three ways."""
