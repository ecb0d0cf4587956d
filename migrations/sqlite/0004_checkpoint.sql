-- Crash recovery: the latest periodic checkpoint of a running job (stored together with its
-- history up to checkpoint_step) and how often the job was resumed after its process died.
ALTER TABLE job ADD COLUMN checkpoint TEXT;                 -- JSON checkpoint to resume from
ALTER TABLE job ADD COLUMN checkpoint_step INTEGER;         -- its step
ALTER TABLE job ADD COLUMN resume_attempts INTEGER NOT NULL DEFAULT 0;
