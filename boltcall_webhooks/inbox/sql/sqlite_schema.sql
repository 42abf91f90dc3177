-- boltcall-webhooks inbox, SQLite schema version 1.
-- Times are POSIX seconds (REAL, UTC) from the inbox's clock.
CREATE TABLE IF NOT EXISTS boltcall_inbox_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,      -- never reused, even after rows are deleted
    key TEXT NOT NULL UNIQUE,                  -- dedupe key
    state TEXT NOT NULL CHECK (state IN ('pending', 'processing', 'done', 'dead')),
    event_type TEXT,                           -- NULL: not an envelope
    body BLOB,                                 -- NULL once purged (the key stays: a tombstone)
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,                      -- pending: when due
    lease_owner TEXT,
    lease_token INTEGER NOT NULL DEFAULT 0,    -- fencing: bumped by every claim and replay
    lease_expires_at REAL,
    last_error TEXT,
    last_traceback TEXT,
    duplicates INTEGER NOT NULL DEFAULT 0,
    finished_at REAL,                          -- done or dead: when
    purged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS boltcall_inbox_due
    ON boltcall_inbox_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS boltcall_inbox_leases
    ON boltcall_inbox_deliveries (lease_expires_at) WHERE state = 'processing';
CREATE INDEX IF NOT EXISTS boltcall_inbox_finished
    ON boltcall_inbox_deliveries (finished_at) WHERE state = 'done';
CREATE INDEX IF NOT EXISTS boltcall_inbox_state_type
    ON boltcall_inbox_deliveries (state, event_type);
CREATE TABLE IF NOT EXISTS boltcall_inbox_handler_runs (
    delivery_id INTEGER NOT NULL REFERENCES boltcall_inbox_deliveries (id) ON DELETE CASCADE,
    handler TEXT NOT NULL,
    succeeded_at REAL NOT NULL,
    attempt INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, handler)
) WITHOUT ROWID;
