-- Tenants: every job, sweep and dataset belongs to one. Rows from before tenants, and every
-- row made with auth off, belong to the tenant `default`.
ALTER TABLE job ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE sweep ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE dataset ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';

-- Listings are per tenant, newest first; the quota counts a tenant's queued and running jobs.
CREATE INDEX job_tenant_seq ON job (tenant, job_seq);
CREATE INDEX job_tenant_status ON job (tenant, status);
CREATE INDEX sweep_tenant_seq ON sweep (tenant, sweep_seq);
CREATE INDEX dataset_tenant_seq ON dataset (tenant, dataset_seq);

-- API keys. Only the SHA-256 of a key is stored: the key itself is shown once, at creation.
CREATE TABLE api_key (
    api_key_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id  TEXT NOT NULL UNIQUE,         -- public id, for listing and revoking
    tenant      TEXT NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,         -- SHA-256 of the whole key
    key_prefix  TEXT NOT NULL,                -- the key's first characters, to recognise it
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Idempotency-Key records, per tenant: the request's fingerprint and, once the first request
-- has been answered, its response. A row without a status is a request still in flight.
CREATE TABLE idempotency (
    tenant           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     BLOB NOT NULL,           -- SHA-256 of method, path and body
    status           INTEGER,                 -- NULL while the first request is in flight
    location         TEXT,
    content_type     TEXT,
    body             BLOB,
    created_at       TEXT NOT NULL,
    expires_at       INTEGER NOT NULL,        -- Unix seconds
    PRIMARY KEY (tenant, idempotency_key)
) WITHOUT ROWID;

CREATE INDEX idempotency_expires ON idempotency (expires_at);
