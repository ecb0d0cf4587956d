-- Sweeps: one problem raced by many optimizer configurations, one job each.
CREATE TABLE sweep (
    sweep_seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id   TEXT NOT NULL UNIQUE,
    name       TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    spec       TEXT NOT NULL,               -- the validated request (JSON)
    created_at TEXT NOT NULL
);

-- The sweep a job belongs to (NULL for jobs submitted on their own).
ALTER TABLE job ADD COLUMN sweep_id TEXT REFERENCES sweep (sweep_id);

CREATE INDEX job_sweep ON job (sweep_id, job_seq);
