-- Jobs and their step histories.
-- job_seq orders submissions (the queue and keyset pagination); job_id is the public id.
CREATE TABLE job (
    job_seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL UNIQUE,
    name             TEXT,
    tags             TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings
    spec             TEXT NOT NULL,                   -- the validated request (JSON)
    problem_kind     TEXT NOT NULL,
    optimizer_name   TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    max_steps        INTEGER NOT NULL,
    progress_step    INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    stop_reason      TEXT,
    result           TEXT,                            -- JSON, once finished
    error            TEXT,                            -- JSON, on failure
    continued_from   TEXT,                            -- job_id this job continues
    resume_state     TEXT,                            -- JSON checkpoint the run starts from
    final_state      TEXT,                            -- JSON checkpoint at the end of the run
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);

CREATE INDEX job_status_seq ON job (status, job_seq);

-- One row per recorded iterate x_k. NaN is stored as NULL (SQLite has no NaN);
-- params are little-endian f64 bytes.
CREATE TABLE step (
    job_seq   INTEGER NOT NULL REFERENCES job (job_seq) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    loss      REAL,
    grad_norm REAL,
    lr        REAL,
    momentum  REAL,
    evaluations INTEGER NOT NULL DEFAULT 0,
    epoch     INTEGER,                                 -- model problems: the batch's epoch
    train_loss REAL,                                   -- model problems, every eval_every steps
    train_accuracy REAL,
    val_loss  REAL,
    val_accuracy REAL,
    params    BLOB,
    PRIMARY KEY (job_seq, step)
) WITHOUT ROWID;

-- Server-wide settings, e.g. the key that signs page tokens.
CREATE TABLE setting (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
