-- Datasets for model problems, and the link from a job to the dataset it trains on.
-- dataset_seq orders uploads (keyset pagination); dataset_id is the public id.
-- The values are two BLOBs of little-endian f64 in row-major order (features n×d, targets
-- n×k): one row read loads a dataset, 8 bytes a value, no per-row overhead or per-row inserts
-- (a child table of rows would cost a B-tree entry per row and n inserts per upload).
CREATE TABLE dataset (
    dataset_seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id    TEXT NOT NULL UNIQUE,
    name          TEXT,
    rows          INTEGER NOT NULL,
    columns       INTEGER NOT NULL,                 -- feature columns + target columns
    feature_names TEXT NOT NULL,                    -- JSON array of strings, d entries
    target_names  TEXT NOT NULL,                    -- JSON array of strings, k entries
    summary       TEXT NOT NULL,                    -- JSON: per-column statistics, class counts
    features      BLOB NOT NULL,                    -- n·d little-endian f64, row-major
    targets       BLOB NOT NULL,                    -- n·k little-endian f64, row-major
    created_at    TEXT NOT NULL
);

-- The stored dataset a model job trains on (NULL for other jobs and inline data). The foreign
-- key makes a submission against a deleted dataset fail atomically; deleting a dataset that
-- only finished jobs used clears their link (their spec still names it).
ALTER TABLE job ADD COLUMN dataset_id TEXT REFERENCES dataset (dataset_id) ON DELETE SET NULL;

CREATE INDEX job_dataset_status ON job (dataset_id, status);
