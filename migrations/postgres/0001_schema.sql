-- The whole schema on PostgreSQL, equal to SQLite's migrations 0001–0006 (migrations/sqlite):
-- the same tables, columns and indexes, in PostgreSQL's types. Integers are BIGINT (read as
-- i64 on both backends), floating point DOUBLE PRECISION, blobs BYTEA; timestamps are RFC 3339
-- text and JSON is text, as on SQLite, so both backends store the same values.

CREATE TABLE setting (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE dataset (
    dataset_seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id    TEXT NOT NULL UNIQUE,
    name          TEXT,
    rows          BIGINT NOT NULL,
    columns       BIGINT NOT NULL,
    feature_names TEXT NOT NULL,
    target_names  TEXT NOT NULL,
    summary       TEXT NOT NULL,
    features      BYTEA NOT NULL,
    targets       BYTEA NOT NULL,
    created_at    TEXT NOT NULL,
    tenant        TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX dataset_tenant_seq ON dataset (tenant, dataset_seq);

CREATE TABLE sweep (
    sweep_seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sweep_id   TEXT NOT NULL UNIQUE,
    name       TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    spec       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    tenant     TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX sweep_tenant_seq ON sweep (tenant, sweep_seq);

CREATE TABLE job (
    job_seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           TEXT NOT NULL UNIQUE,
    name             TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',
    spec             TEXT NOT NULL,
    problem_kind     TEXT NOT NULL,
    optimizer_name   TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    max_steps        BIGINT NOT NULL,
    progress_step    BIGINT NOT NULL DEFAULT 0,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    stop_reason      TEXT,
    result           TEXT,
    error            TEXT,
    continued_from   TEXT,
    resume_state     TEXT,
    final_state      TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    dataset_id       TEXT REFERENCES dataset (dataset_id) ON DELETE SET NULL,
    sweep_id         TEXT REFERENCES sweep (sweep_id),
    checkpoint       TEXT,
    checkpoint_step  BIGINT,
    resume_attempts  BIGINT NOT NULL DEFAULT 0,
    tenant           TEXT NOT NULL DEFAULT 'default',
    lease_owner      TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX job_status_seq ON job (status, job_seq);
CREATE INDEX job_dataset_status ON job (dataset_id, status);
CREATE INDEX job_sweep ON job (sweep_id, job_seq);
CREATE INDEX job_tenant_seq ON job (tenant, job_seq);
CREATE INDEX job_tenant_status ON job (tenant, status);
CREATE INDEX job_lease ON job (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE step (
    job_seq        BIGINT NOT NULL REFERENCES job (job_seq) ON DELETE CASCADE,
    step           BIGINT NOT NULL,
    loss           DOUBLE PRECISION,
    grad_norm      DOUBLE PRECISION,
    lr             DOUBLE PRECISION,
    momentum       DOUBLE PRECISION,
    evaluations    BIGINT NOT NULL DEFAULT 0,
    epoch          BIGINT,
    train_loss     DOUBLE PRECISION,
    train_accuracy DOUBLE PRECISION,
    val_loss       DOUBLE PRECISION,
    val_accuracy   DOUBLE PRECISION,
    params         BYTEA,
    PRIMARY KEY (job_seq, step)
);

CREATE TABLE api_key (
    api_key_seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_key_id  TEXT NOT NULL UNIQUE,
    tenant      TEXT NOT NULL,
    key_hash    BYTEA NOT NULL UNIQUE,
    key_prefix  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE idempotency (
    tenant           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     BYTEA NOT NULL,
    status           BIGINT,
    location         TEXT,
    content_type     TEXT,
    body             BYTEA,
    created_at       TEXT NOT NULL,
    expires_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant, idempotency_key)
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);
