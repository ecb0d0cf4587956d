-- Leases: the worker that runs a job and until when its claim holds without a heartbeat
-- (Unix milliseconds). A job whose lease expired goes back to the queue and resumes from its
-- last checkpoint on another worker; a worker that lost its lease can no longer write.
ALTER TABLE job ADD COLUMN lease_owner TEXT;
ALTER TABLE job ADD COLUMN lease_expires_at INTEGER;

CREATE INDEX job_lease ON job (lease_owner) WHERE lease_owner IS NOT NULL;
