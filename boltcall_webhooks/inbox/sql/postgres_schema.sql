-- boltcall-webhooks inbox, PostgreSQL schema version 1.
-- Run by PostgresBackend.migrate() inside one transaction that holds an advisory
-- lock, with {schema} replaced by the quoted schema name (the URL's ?schema=,
-- "boltcall" by default). Times come from the inbox's clock, not the server's.
CREATE TABLE IF NOT EXISTS {schema}.deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- never reused
    key text NOT NULL UNIQUE,                  -- dedupe key
    state text NOT NULL CHECK (state IN ('pending', 'processing', 'done', 'dead')),
    event_type text,                           -- NULL: not an envelope
    body bytea,                                -- NULL once purged (the key stays: a tombstone)
    received_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,               -- pending: when due
    lease_owner text,
    lease_token bigint NOT NULL DEFAULT 0,     -- fencing: bumped by every claim and replay
    lease_expires_at timestamptz,
    last_error text,
    last_traceback text,
    duplicates integer NOT NULL DEFAULT 0,
    finished_at timestamptz,                   -- done or dead: when
    purged boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS deliveries_due
    ON {schema}.deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_leases
    ON {schema}.deliveries (lease_expires_at) WHERE state = 'processing';
CREATE INDEX IF NOT EXISTS deliveries_finished
    ON {schema}.deliveries (finished_at) WHERE state = 'done';
CREATE INDEX IF NOT EXISTS deliveries_state_type
    ON {schema}.deliveries (state, event_type);
CREATE TABLE IF NOT EXISTS {schema}.handler_runs (
    delivery_id bigint NOT NULL REFERENCES {schema}.deliveries (id) ON DELETE CASCADE,
    handler text NOT NULL,
    succeeded_at timestamptz NOT NULL,
    attempt integer NOT NULL,
    PRIMARY KEY (delivery_id, handler)
);
