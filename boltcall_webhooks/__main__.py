"""``python -m boltcall_webhooks``: the ``boltcall-webhooks`` command line."""

from __future__ import annotations

from boltcall_webhooks._cli import main

raise SystemExit(main())
